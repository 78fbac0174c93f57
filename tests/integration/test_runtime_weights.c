/* [study] keep_weights through real processes: `autopeft run` trains small studies on the
 * embedded task with the built-in trainer, and afterwards STUDY/weights holds a folder in the
 * `autopeft train --save` layout for exactly the front's and the baselines' trials (front), for
 * every done trial (all, here with weights_dir elsewhere and STUDY/weights a link to it), or
 * nothing (none). A kept folder evaluates with `autopeft eval` to the metric the study
 * recorded; `autopeft status` lists the kept trials; a resumed study prunes what was left. */
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/integration/runtime_util.h"

#define BUDGET 6

/* The embedded default's recipe on 200 of its sentences, two baselines. */
static void run_study(const char *name, const char *study_keys, char *study, size_t len)
{
    char conf[1024], out[1024], name_conf[64];
    pid_t p;
    int st;

    snprintf(name_conf, sizeof name_conf, "%s.conf", name);
    rt_path(conf, sizeof conf, name_conf);
    rt_path(study, len, name);
    rt_write(conf,
             "[study]\nname = %s\nbudget = %d\nn_init = 3\n%s"
             "[model]\nembedded = true\n[space]\nprefix_bottleneck = 16\n"
             "[task]\nembedded = true\n"
             "[recipe]\nepochs = 2\nlearning_rate = 0.008\nbatch_size = 32\n"
             "eval_batch_size = 256\nmax_length = 24\nwarmup_ratio = 0.1\nweight_decay = 0\n"
             "dropout = 0\nmax_train_examples = 200\n"
             "[baselines]\nnames = pfeiffer, head-only\n",
             name, BUDGET, study_keys);
    rt_path(out, sizeof out, "run.out");
    p = RT_SPAWN("autopeft", out, "run", conf, "--study", study, "--workers", "2", "--quiet");
    ASSERT_TRUE(rt_wait(p, 80, &st));
    if (st != 0) {
        char cmd[2300];
        snprintf(cmd, sizeof cmd, "cat %s; tail -n 20 %s/*.log", out, study);
        fflush(stdout);
        if (system(cmd) != 0)
            printf("(no output)\n");
    }
    ASSERT_EQ(st, 0);
    ASSERT_EQ(rt_sql_int(study, "SELECT count(*) FROM trials WHERE state = 'done'"), BUDGET + 2);
}

static bool exists(const char *study, long long id, const char *file)
{
    char path[1300];
    struct stat s;

    snprintf(path, sizeof path, "%s/weights/trial-%lld%s%s", study, id, file ? "/" : "",
             file ? file : "");
    return lstat(path, &s) == 0;
}

/* The ids of pareto.csv (the report's front) as flags, by id. */
static void read_front(const char *study, bool *front, int n)
{
    char path[1100];
    char *text, *line;

    snprintf(path, sizeof path, "%s/pareto.csv", study);
    text = harness_slurp(path, NULL);
    memset(front, 0, (size_t)n * sizeof *front);
    line = strchr(text, '\n');   /* past the header */
    while (line && line[1]) {
        long id = strtol(line + 1, NULL, 10);
        ASSERT_TRUE(id >= 1 && id < n);
        front[id] = true;
        line = strchr(line + 1, '\n');
    }
    free(text);
}

/* Every trial: a folder with both files iff want says so, nothing otherwise. */
static int check_folders(const char *study, const bool *want, int n)
{
    int kept = 0;

    for (int id = 1; id < n; id++) {
        if (exists(study, id, NULL) != want[id])
            FAIL("%s: trial %d: %s", study, id, want[id] ? "no folder" : "a folder left");
        if (!want[id])
            continue;
        ASSERT_TRUE(exists(study, id, "peft.safetensors"));
        ASSERT_TRUE(exists(study, id, "trial.json"));
        kept++;
    }
    return kept;
}

TEST_TIMEOUT(front_keeps_the_fronts_and_the_baselines_weights, 150)
{
    char study[1024], out[1024], dir[1200], line[64], obj[64];
    bool want[BUDGET + 3];
    int n = BUDGET + 3, kept, some = 0, planted = 0;
    pid_t p;
    int st;

    run_study("front", "", study, sizeof study);
    read_front(study, want, n);
    for (int id = 1; id < n; id++)
        if (rt_sql_int(study, "SELECT count(*) FROM trials WHERE id = %d AND kind = 'baseline'",
                       id) == 1)
            want[id] = true;
        else if (want[id])
            some = id;
    ASSERT_GT(some, 0);
    kept = check_folders(study, want, n);
    ASSERT_GE(kept, 3);
    /* What status lists. */
    rt_path(out, sizeof out, "status.out");
    p = RT_SPAWN("autopeft", out, "status", study);
    ASSERT_TRUE(rt_wait(p, 10, &st));
    ASSERT_EQ(st, 0);
    snprintf(line, sizeof line, "weights     %d trials in ", kept);
    ASSERT_TRUE(rt_file_contains(out, line));
    /* A kept folder is what autopeft eval reads, and gives the recorded metric. */
    snprintf(dir, sizeof dir, "%s/weights/trial-%d", study, some);
    rt_path(out, sizeof out, "eval.out");
    p = RT_SPAWN("autopeft", out, "eval", "--peft", dir, "--task", "embedded", "--model",
                 "embedded", "--quiet");
    ASSERT_TRUE(rt_wait(p, 30, &st));
    ASSERT_EQ(st, 0);
    ASSERT_TRUE(rt_sql_text(study, obj, sizeof obj, "SELECT printf('%%.4f', objective) FROM "
                            "trials WHERE id = %d", some));
    ASSERT_TRUE(rt_file_contains(out, "\"status\": \"ok\""));
    {
        char *text = harness_slurp(out, NULL), *v = strstr(text, "\"value\": ");
        ASSERT_NOT_NULL(v);
        ASSERT_NEAR(strtod(v + 9, NULL), strtod(obj, NULL), 1e-4);
        free(text);
    }
    /* A folder a crash left behind for a trial off the front: the resumed study removes it,
     * and keeps the rest. */
    for (int id = 1; id < n; id++) {
        char path[1300];
        if (want[id])
            continue;
        planted = id;
        snprintf(path, sizeof path, "%s/weights/trial-%d", study, id);
        ASSERT_EQ(mkdir(path, 0755), 0);
        snprintf(path, sizeof path, "%s/weights/trial-%d/peft.safetensors", study, id);
        rt_write(path, "x");
        snprintf(path, sizeof path, "%s/weights/trial-%d/trial.json", study, id);
        rt_write(path, "{}");
        break;
    }
    ASSERT_GT(planted, 0);
    rt_path(out, sizeof out, "resume.out");
    p = RT_SPAWN("autopeft", out, "run", "--resume", study, "--workers", "1", "--quiet");
    ASSERT_TRUE(rt_wait(p, 30, &st));
    ASSERT_EQ(st, 0);
    ASSERT_EQ(check_folders(study, want, n), kept);
}

TEST_TIMEOUT(all_keeps_every_done_trial_in_weights_dir_and_none_keeps_nothing, 150)
{
    char study[1024], shared[1024], link[1100], got[1100];
    bool want[BUDGET + 3];
    int n = BUDGET + 3;
    ssize_t len;
    struct stat s;

    rt_path(shared, sizeof shared, "shared/kept");
    {
        char keys[1200];
        snprintf(keys, sizeof keys, "keep_weights = all\nweights_dir = %s\n", shared);
        run_study("all", keys, study, sizeof study);
    }
    snprintf(link, sizeof link, "%s/weights", study);
    len = readlink(link, got, sizeof got - 1);
    ASSERT_GT(len, 0);
    got[len] = '\0';
    ASSERT_STR_EQ(got, shared);
    for (int id = 1; id < n; id++)
        want[id] = true;
    ASSERT_EQ(check_folders(study, want, n), BUDGET + 2);

    run_study("none", "keep_weights = none\n", study, sizeof study);
    snprintf(link, sizeof link, "%s/weights", study);
    ASSERT_TRUE(lstat(link, &s) != 0);
}
