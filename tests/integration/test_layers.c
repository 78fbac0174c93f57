/* `make check-layers` (tests/layers/check.sh) as a program: the tree keeps to its rules, and the
 * check catches each kind of violation, naming the file and what it did, on a small tree
 * written here against the real rules (with objects compiled here, for the calls). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/harness.h"

/* Runs check.sh with ARGS (a shell word list), its output into *out (freed by the caller);
 * returns its exit status. */
static int check(const char *args, char **out)
{
    char script[1024], log[1024], cmd[4096];
    int st;

    harness_src_path("tests/layers/check.sh", script, sizeof script);
    snprintf(log, sizeof log, "%s/check.out", harness_tmpdir());
    snprintf(cmd, sizeof cmd, "bash '%s' %s > '%s' 2>&1", script, args, log);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        FAIL("could not run %s", cmd);
    *out = harness_slurp(log, NULL);
    return WEXITSTATUS(st);
}

/* Writes TEXT to ROOT/PATH, creating its folders. */
static void put(const char *root, const char *path, const char *text)
{
    char full[1024];
    FILE *f;

    mkdir(root, 0755);
    snprintf(full, sizeof full, "%s/%s", root, path);
    for (char *p = full + strlen(root) + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(full, 0755);
        *p = '/';
    }
    f = fopen(full, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

/* Compiles ROOT/SRC into ROOT/obj/SRC.o, as the build would. */
static void compile(const char *root, const char *src)
{
    char cmd[4096], dir[1024];
    const char *slash = strrchr(src, '/');

    snprintf(dir, sizeof dir, "%s/obj/%.*s", root, (int)(slash ? slash - src : 0), src);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cc -c -I'%s' -o '%s/obj/%.*s.o' '%s/%s'", dir, root,
             root, (int)(strlen(src) - 2), src, root, src);
    if (system(cmd) != 0)
        FAIL("could not compile %s", src);
}

/* A small tree with one room of each kind, every file in order. */
static const char *clean_tree(void)
{
    static char root[1024];

    snprintf(root, sizeof root, "%s/tree", harness_tmpdir());
    put(root, "common/err.h", "int err_set(int code);\n");
    put(root, "common/err.c", "#include \"common/err.h\"\nint err_set(int code) { return code; }\n");
    put(root, "worker/engine/kernel.h", "#include \"common/err.h\"\nint kernel_run(int n);\n");
    put(root, "worker/engine/kernel.c",
        "#include \"worker/engine/kernel.h\"\n#include <math.h>\n"
        "int kernel_run(int n) { return n > 0 ? n : err_set(-2); }\n");
    put(root, "worker/trial/runner.c",
        "#include <stdio.h>\n#include \"worker/engine/kernel.h\"\n"
        "int runner_go(void);\nint runner_go(void) { printf(\"x\"); return kernel_run(1); }\n");
    put(root, "coordinator/search/gp.c", "#include \"common/err.h\"\nint gp_fit(void);\n"
        "int gp_fit(void) { return err_set(0); }\n");
    compile(root, "common/err.c");
    compile(root, "worker/engine/kernel.c");
    compile(root, "worker/trial/runner.c");
    compile(root, "coordinator/search/gp.c");
    return root;
}

static const char *rules_arg(void)
{
    static char args[2048], rules[1024];

    harness_src_path("tests/layers/rules", rules, sizeof rules);
    snprintf(args, sizeof args, "--rules '%s'", rules);
    return args;
}

/* The whole tree: about 20 s alone on 2 cores, and over a minute beside the rest of the suite. */
TEST_TIMEOUT(the_tree_keeps_to_its_rules, 240)
{
    char src[1024], bin[1024], obj[1200], args[4096], *out;

    harness_src_path(".", src, sizeof src);
    /* The programs' folder is BUILD/bin; the objects are BUILD/obj. */
    snprintf(obj, sizeof obj, "%s/../obj", harness_bin_path("", bin, sizeof bin));
    snprintf(args, sizeof args, "--src '%s' --obj '%s'", src, obj);
    if (check(args, &out) != 0)
        FAIL("check-layers found violations:\n%s", out);
    ASSERT_CONTAINS(out, "keep to");
    free(out);
}

TEST(a_tree_that_keeps_to_the_rules_passes)
{
    const char *root = clean_tree();
    char args[4096], *out;

    snprintf(args, sizeof args, "--src '%s' --obj '%s/obj' %s", root, root, rules_arg());
    if (check(args, &out) != 0)
        FAIL("a clean tree failed:\n%s", out);
    free(out);
}

TEST(each_kind_of_violation_is_named)
{
    const char *root = clean_tree();
    char args[4096], *out;

    /* A pure room including a library's header and calling I/O; the coordinator including the
     * worker; a header named without its path; a file in no room; two files calling each
     * other round a circle. */
    put(root, "worker/engine/io.c",
        "#include <zmq.h>\n#include <stdio.h>\nint io_say(void);\n"
        "int io_say(void) { return puts(\"hi\"); }\n");
    put(root, "coordinator/search/bad.c", "#include \"worker/engine/kernel.h\"\n#include \"err.h\"\n");
    put(root, "coordinator/stray.c", "int stray;\n");
    put(root, "common/ping.c", "int ping(int n);\nint pong(int n);\n"
        "int ping(int n) { return n ? pong(n - 1) : 0; }\n");
    put(root, "common/pong.c", "int ping(int n);\nint pong(int n);\n"
        "int pong(int n) { return n ? ping(n - 1) : 1; }\n");
    compile(root, "worker/engine/io.c");
    compile(root, "coordinator/search/bad.c");
    compile(root, "coordinator/stray.c");
    compile(root, "common/ping.c");
    compile(root, "common/pong.c");
    snprintf(args, sizeof args, "--src '%s' --obj '%s/obj' %s", root, root, rules_arg());
    ASSERT_EQ(check(args, &out), 1);
    ASSERT_CONTAINS(out, "worker/engine/io.c:1: includes <zmq.h>: worker/engine may not use zeromq");
    ASSERT_CONTAINS(out, "worker/engine/io.c: calls puts: worker/engine is pure");
    ASSERT_CONTAINS(out, "coordinator/search/bad.c:1: includes \"worker/engine/kernel.h\": "
                         "coordinator/search may not use worker/engine");
    ASSERT_CONTAINS(out, "coordinator/search/bad.c:2: includes \"err.h\": name the header by its "
                         "path from the root");
    ASSERT_CONTAINS(out, "coordinator/stray.c: is in no room");
    ASSERT_CONTAINS(out, "circle of objects: common/p");
    ASSERT_CONTAINS(out, "violation(s)");
    /* The clean files stay unmentioned. */
    ASSERT_TRUE(strstr(out, "worker/trial/runner.c") == NULL);
    ASSERT_TRUE(strstr(out, "kernel.c") == NULL);
    free(out);
}
