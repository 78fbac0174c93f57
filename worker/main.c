/* autopeft-worker: a stateless daemon that fine-tunes the PEFT configurations the coordinator
 * sends it and reports their metric and parameter counts. */
#include "common/blas_startup.h"
#include "worker/cli/worker.h"

int main(int argc, char **argv)
{
    /* Before anything else: this may re-execute the program with a faster OpenBLAS core. */
    blas_startup(argv, 0);
    return worker_main(argc, argv);
}
