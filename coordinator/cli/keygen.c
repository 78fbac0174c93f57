/* `autopeft keygen`: a CURVE key pair for a coordinator or a worker (keys.h). */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/keys.h"
#include "coordinator/cli/commands.h"

static const char usage_text[] =
    "Usage: autopeft keygen NAME [--force]\n"
    "\n"
    "Writes a CURVE key pair: NAME.key (public and secret key, mode 0600: keep it private) and\n"
    "NAME.pub (the public key, to hand to the other side). With CURVE, traffic between the\n"
    "coordinator and its workers is encrypted and only workers whose public keys are in the\n"
    "coordinator's authorized folder are let in:\n"
    "\n"
    "  autopeft keygen keys/coordinator          # on the head node\n"
    "  autopeft keygen keys/worker               # once for all workers, or one per node\n"
    "  mkdir authorized && cp keys/worker.pub authorized/\n"
    "  autopeft-coordinator --study S --config C --curve-key keys/coordinator.key \\\n"
    "      --authorized-keys authorized\n"
    "  autopeft-worker --endpoint-file S/endpoint --curve-key keys/worker.key\n"
    "\n"
    "(The endpoint file carries the coordinator's public key; with --connect, give it with\n"
    "--server-key keys/coordinator.pub.) Send the coordinator SIGHUP to reread the folder.\n"
    "\n"
    "Options:\n"
    "  --force     replace existing files\n"
    "  -h, --help  show this help\n";

int cli_keygen(int argc, char **argv)
{
    const char *name = NULL;
    bool force = false;
    keys_t k;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--force")) {
            force = true;
        } else if (argv[i][0] == '-' || name) {
            fprintf(stderr, "autopeft keygen: unexpected argument '%s'\nTry 'autopeft keygen "
                    "--help'.\n", argv[i]);
            return 2;
        } else {
            name = argv[i];
        }
    }
    if (!name) {
        fputs("autopeft keygen: NAME is required (the files are NAME.key and NAME.pub)\n", stderr);
        return 2;
    }
    if (keys_generate(name, force, &k) != 0) {
        fprintf(stderr, "autopeft keygen: %s\n", err_msg());
        return 1;
    }
    printf("wrote %s.key (secret, mode 0600) and %s.pub\npublic key: %s\n", name, name,
           k.public_z85);
    return 0;
}
