/* The kept weights (coordinator/runtime/weights.c) on a real store and real folders: the
 * folders left after pruning are the front's and the baselines' (against a brute-force front),
 * every done trial's with keep_weights = all; failed trials lose theirs; only autopeft's files
 * are removed and links are not followed; weights_dir elsewhere is linked from the study, and
 * a STUDY/weights that is something else is refused. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rng.h"
#include "coordinator/runtime/store.h"
#include "coordinator/runtime/study.h"
#include "coordinator/runtime/weights.h"
#include "coordinator/search/baselines.h"
#include "tests/harness.h"

#define NSEARCH 8

static void setup(config_t *c, store_t **st, study_t **s, config_keep_t keep)
{
    char dir[1024];
    int added;

    config_defaults(c);
    c->budget = NSEARCH + 2;
    c->n_init = 1;
    c->keep_weights = keep;
    ASSERT_OK(baseline_builtin("pfeiffer", c->shape.hidden, c->shape.layers, &c->baselines[0]));
    c->nbaselines = 1;
    snprintf(dir, sizeof dir, "%s/study", harness_tmpdir());
    ASSERT_OK(store_open(dir, STORE_CREATE, st));
    ASSERT_OK(study_new(c, *st, NULL, NULL, s));
    ASSERT_OK(store_begin(*st));
    ASSERT_OK(study_add_baselines(*s, &added));
    ASSERT_OK(store_commit(*st));
    ASSERT_EQ(added, 1);
}

static const char *study_dir(void)
{
    static char dir[1024];

    snprintf(dir, sizeof dir, "%s/study", harness_tmpdir());
    return dir;
}

static study_trial_t *add(study_t *s, store_t *st, uint64_t seed)
{
    space_config_t cfg;
    study_trial_t *t;
    rng_t r;

    rng_seed(&r, seed);
    do
        space_sample(study_space(s), &r, &cfg);
    while (study_has_config(s, &cfg));
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_add(s, &cfg, true, 0, &t));
    ASSERT_OK(store_commit(st));
    return t;
}

/* Takes the queue's head (t) and dispatches it. */
static void dispatch(study_t *s, store_t *st, study_trial_t *t)
{
    static int worker;

    ASSERT_TRUE(study_pop(s) == t);
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_dispatch(s, t, (study_worker_t){&worker, "w"}, 0));
    ASSERT_OK(store_commit(st));
}

static void result(study_t *s, store_t *st, study_trial_t *t, study_status_t status,
                   double objective)
{
    study_result_t r;
    study_verdict_t v;

    memset(&r, 0, sizeof r);
    r.row.trial_id = t->id;
    r.row.attempt = t->attempt;
    r.row.worker = "w";
    r.row.json = "{}";
    r.status = status;
    if (status == STUDY_STATUS_OK) {
        r.row.objective = objective;
        r.row.trainable = r.row.deployed = r.row.backbone = 1;
    } else {
        r.row.error = "boom";
    }
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_result(s, &r, &v));
    ASSERT_OK(store_commit(st));
    ASSERT_EQ(v.ack, STUDY_ACK_ACCEPTED);
}

static void trial_path(const weights_t *w, uint64_t id, const char *file, char *buf, size_t len)
{
    snprintf(buf, len, "%s/trial-%llu%s%s", weights_root(w), (unsigned long long)id,
             file ? "/" : "", file ? file : "");
}

static void write_file(const char *path)
{
    FILE *f = fopen(path, "w");

    ASSERT_NOT_NULL(f);
    fputs("x", f);
    fclose(f);
}

/* The folder a worker's trainer leaves: peft.safetensors and trial.json. */
static void write_saved(const weights_t *w, const study_trial_t *t)
{
    char dir[WEIGHTS_PATH_MAX], path[WEIGHTS_PATH_MAX + 32];

    ASSERT_TRUE(weights_trial_dir(w, t, dir, sizeof dir));
    ASSERT_EQ(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/peft.safetensors", dir);
    write_file(path);
    snprintf(path, sizeof path, "%s/trial.json", dir);
    write_file(path);
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static bool has_folder(const weights_t *w, uint64_t id)
{
    char path[WEIGHTS_PATH_MAX];

    trial_path(w, id, NULL, path, sizeof path);
    return exists(path);
}

/* The front by its definition: a done search trial that no other one beats on both metric and
 * cost (>= and <=, one strictly). */
typedef struct {
    study_trial_t *t[64];
    int n;
} trials_t;

static void collect(void *ctx, study_trial_t *t)
{
    trials_t *a = ctx;

    a->t[a->n++] = t;
}

static bool on_front(const trials_t *a, const study_trial_t *t)
{
    if (t->kind != STORE_SEARCH || t->state != STORE_DONE)
        return false;
    for (int i = 0; i < a->n; i++) {
        const study_trial_t *o = a->t[i];
        if (o == t || o->kind != STORE_SEARCH || o->state != STORE_DONE)
            continue;
        if (o->objective >= t->objective && o->cost <= t->cost &&
            (o->objective > t->objective || o->cost < t->cost))
            return false;
    }
    return true;
}

/* Every closed trial has a folder iff it should keep one; open ones keep theirs. */
static void check_kept(weights_t *w, study_t *s, config_keep_t keep, int *nkept)
{
    trials_t a = {0};

    study_each(s, collect, &a);
    *nkept = 0;
    for (int i = 0; i < a.n; i++) {
        study_trial_t *t = a.t[i];
        bool want = t->state == STORE_QUEUED || t->state == STORE_DISPATCHED ||
                    (t->state == STORE_DONE &&
                     (keep == CONFIG_KEEP_ALL || t->kind == STORE_BASELINE || on_front(&a, t)));
        if (has_folder(w, t->id) != want)
            FAIL("trial %llu (kind %d, state %d, objective %g, cost %g): folder %s",
                 (unsigned long long)t->id, (int)t->kind, (int)t->state, t->objective,
                 t->cost, want ? "removed" : "kept");
        *nkept += want && t->state == STORE_DONE;
    }
}

TEST(front_keeps_the_front_and_the_baselines)
{
    config_t c;
    store_t *st;
    study_t *s;
    weights_t *w;
    study_trial_t *base, *t[NSEARCH + 1], *open;
    char root[PATH_MAX + 16];
    uint64_t ids[32];
    int nkept, n, removed;

    setup(&c, &st, &s, CONFIG_KEEP_FRONT);
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    ASSERT_NOT_NULL(w);
    ASSERT_TRUE(weights_root(w)[0] == '/');
    snprintf(root, sizeof root, "%s/weights", study_dir());
    ASSERT_TRUE(exists(root));
    base = study_trial(s, 1);
    ASSERT_EQ(base->kind, STORE_BASELINE);
    dispatch(s, st, base);
    write_saved(w, base);
    result(s, st, base, STUDY_STATUS_OK, 0.6);
    for (int i = 0; i < NSEARCH; i++)
        t[i] = add(s, st, 10 + (uint64_t)i);
    for (int i = 0; i < NSEARCH; i++) {
        dispatch(s, st, t[i]);
        write_saved(w, t[i]);
        /* Distinct metrics, so that equal points (of which the front keeps one) do not arise;
         * trial 4 fails. */
        result(s, st, t[i], i == 3 ? STUDY_STATUS_FAILED : STUDY_STATUS_OK,
               0.5 + 0.37 * (double)((i * 5) % NSEARCH) / NSEARCH);
    }
    /* One still running keeps its folder whatever happens. */
    open = add(s, st, 99);
    dispatch(s, st, open);
    write_saved(w, open);
    removed = weights_prune(w, s);
    ASSERT_GT(removed, 0);
    check_kept(w, s, CONFIG_KEEP_FRONT, &nkept);
    ASSERT_FALSE(has_folder(w, t[3]->id));
    ASSERT_TRUE(has_folder(w, base->id));
    ASSERT_TRUE(has_folder(w, open->id));
    ASSERT_EQ(removed + nkept, NSEARCH + 1);
    /* Nothing changed: nothing more to do. */
    ASSERT_EQ(weights_prune(w, s), 0);
    /* The best metric yet: it joins the front, and pushes out what it dominates. */
    result(s, st, open, STUDY_STATUS_OK, 0.99);
    ASSERT_GE(weights_prune(w, s), 0);
    check_kept(w, s, CONFIG_KEEP_FRONT, &nkept);
    ASSERT_TRUE(has_folder(w, open->id));
    /* What `autopeft status` lists: the kept folders, by id. */
    ASSERT_OK(weights_list(study_dir(), ids, 32, &n));
    ASSERT_EQ(n, nkept);
    for (int i = 0; i < n; i++) {
        ASSERT_TRUE(has_folder(w, ids[i]));
        if (i > 0)
            ASSERT_GT(ids[i], ids[i - 1]);
    }
    ASSERT_OK(weights_list(study_dir(), ids, 1, &n));
    ASSERT_EQ(n, nkept);
    ASSERT_EQ_U(ids[0], base->id);
    /* Reopened (a restart): the same root, and a new prune finds nothing left to remove. */
    weights_free(&w);
    ASSERT_TRUE(w == NULL);
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    ASSERT_EQ(weights_prune(w, s), 0);
    check_kept(w, s, CONFIG_KEEP_FRONT, &nkept);
    weights_free(&w);
    study_free(&s);
    store_close(&st);
}

TEST(all_keeps_every_done_trial_and_confirmations_keep_none_under_front)
{
    config_t c;
    store_t *st;
    study_t *s;
    weights_t *w;
    study_trial_t *t[4], *k;
    study_extra_t e;
    char dir[WEIGHTS_PATH_MAX];
    int nkept;

    setup(&c, &st, &s, CONFIG_KEEP_ALL);
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    dispatch(s, st, study_trial(s, 1));
    write_saved(w, study_trial(s, 1));
    result(s, st, study_trial(s, 1), STUDY_STATUS_OK, 0.6);
    for (int i = 0; i < 4; i++)
        t[i] = add(s, st, 20 + (uint64_t)i);
    for (int i = 0; i < 4; i++) {
        dispatch(s, st, t[i]);
        write_saved(w, t[i]);
        result(s, st, t[i], i == 1 ? STUDY_STATUS_FAILED : STUDY_STATUS_OK, 0.5 + 0.1 * i);
    }
    ASSERT_EQ(weights_prune(w, s), 1);
    check_kept(w, s, CONFIG_KEEP_ALL, &nkept);
    ASSERT_FALSE(has_folder(w, t[1]->id));
    ASSERT_TRUE(has_folder(w, t[0]->id) && has_folder(w, t[2]->id) && has_folder(w, t[3]->id));
    /* A confirmation keeps its weights with all; under front it is never on the front, so
     * it is sent no save_dir. */
    memset(&e, 0, sizeof e);
    e.kind = STORE_CONFIRM;
    e.config = t[3]->config;
    e.origin = t[3]->id;
    ASSERT_OK(store_begin(st));
    ASSERT_OK(study_add_extra(s, &e, &k));
    ASSERT_OK(store_commit(st));
    ASSERT_TRUE(weights_trial_dir(w, k, dir, sizeof dir));
    weights_free(&w);
    c.keep_weights = CONFIG_KEEP_FRONT;
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    ASSERT_FALSE(weights_trial_dir(w, k, dir, sizeof dir));
    ASSERT_STR_EQ(dir, "");
    ASSERT_TRUE(weights_trial_dir(w, t[0], dir, sizeof dir));
    ASSERT_CONTAINS(dir, "/weights/trial-");
    weights_free(&w);
    /* none, or fast mode: nothing is made and no trial gets a folder. */
    c.keep_weights = CONFIG_KEEP_NONE;
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    ASSERT_TRUE(w == NULL);
    ASSERT_FALSE(weights_trial_dir(w, t[0], dir, sizeof dir));
    ASSERT_EQ(weights_prune(w, s), 0);
    c.keep_weights = CONFIG_KEEP_ALL;
    c.mode = CONFIG_MODE_SYNTHETIC;
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    ASSERT_TRUE(w == NULL);
    study_free(&s);
    store_close(&st);
}

TEST(removal_deletes_only_autopeft_files_and_follows_no_link)
{
    config_t c;
    store_t *st;
    study_t *s;
    weights_t *w;
    study_trial_t *a, *b;
    char path[WEIGHTS_PATH_MAX + 64], outside[1024], target[1100];
    const char *log;

    setup(&c, &st, &s, CONFIG_KEEP_FRONT);
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    a = add(s, st, 1);
    b = add(s, st, 2);
    /* a's folder has a file of someone else's beside autopeft's. */
    dispatch(s, st, study_trial(s, 1));
    result(s, st, study_trial(s, 1), STUDY_STATUS_OK, 0.5);
    dispatch(s, st, a);
    write_saved(w, a);
    trial_path(w, a->id, "notes.txt", path, sizeof path);
    write_file(path);
    result(s, st, a, STUDY_STATUS_FAILED, 0);
    /* b's "folder" is a link to a folder outside that holds a peft.safetensors. */
    snprintf(outside, sizeof outside, "%s/outside", harness_tmpdir());
    ASSERT_EQ(mkdir(outside, 0755), 0);
    snprintf(target, sizeof target, "%s/peft.safetensors", outside);
    write_file(target);
    dispatch(s, st, b);
    trial_path(w, b->id, NULL, path, sizeof path);
    ASSERT_EQ(symlink(outside, path), 0);
    result(s, st, b, STUDY_STATUS_FAILED, 0);
    harness_log_begin();
    ASSERT_EQ(weights_prune(w, s), 0);
    log = harness_log_end();
    ASSERT_CONTAINS(log, "holds files autopeft did not write");
    ASSERT_CONTAINS(log, "not a folder autopeft made");
    trial_path(w, a->id, "notes.txt", path, sizeof path);
    ASSERT_TRUE(exists(path));
    trial_path(w, a->id, "peft.safetensors", path, sizeof path);
    ASSERT_FALSE(exists(path));
    trial_path(w, a->id, "trial.json", path, sizeof path);
    ASSERT_FALSE(exists(path));
    ASSERT_TRUE(exists(target));
    /* Warned once: the next prune leaves them be. */
    harness_log_begin();
    ASSERT_EQ(weights_prune(w, s), 0);
    log = harness_log_end();
    ASSERT_TRUE(strstr(log, "autopeft") == NULL);
    weights_free(&w);
    study_free(&s);
    store_close(&st);
}

TEST(weights_dir_elsewhere_is_linked_from_the_study)
{
    config_t c;
    weights_t *w;
    char link[1100], want[PATH_MAX + 32], got[PATH_MAX], cwd[PATH_MAX];
    ssize_t n;

    config_defaults(&c);
    ASSERT_EQ(mkdir(study_dir(), 0755), 0);
    snprintf(link, sizeof link, "%s/weights", study_dir());
    /* Relative: to the current folder (config.c has already put the configuration's folder in
     * front), made absolute but not resolved. */
    ASSERT_EQ(chdir(harness_tmpdir()), 0);
    ASSERT_NOT_NULL(getcwd(cwd, sizeof cwd));
    snprintf(c.weights_dir, sizeof c.weights_dir, "shared/kept/");
    snprintf(want, sizeof want, "%s/shared/kept", cwd);
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    ASSERT_STR_EQ(weights_root(w), want);
    n = readlink(link, got, sizeof got - 1);
    ASSERT_GT(n, 0);
    got[n] = '\0';
    ASSERT_STR_EQ(got, want);
    weights_free(&w);
    /* Again (a resumed study): the link is there already. */
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    weights_free(&w);
    /* A link to somewhere else is refused, naming both. */
    ASSERT_EQ(unlink(link), 0);
    ASSERT_EQ(symlink("/tmp", link), 0);
    ASSERT_ERR(weights_open(&c, study_dir(), &w), ERR_STATE);
    ASSERT_CONTAINS(err_msg(), "is a link to /tmp, not to [study] weights_dir");
    ASSERT_CONTAINS(err_msg(), want);
    /* So is a folder of its own. */
    ASSERT_EQ(unlink(link), 0);
    ASSERT_EQ(mkdir(link, 0755), 0);
    ASSERT_ERR(weights_open(&c, study_dir(), &w), ERR_STATE);
    ASSERT_CONTAINS(err_msg(), "exists and is not [study] weights_dir");
    ASSERT_TRUE(w == NULL);
    /* weights_dir naming STUDY/weights itself is fine. */
    snprintf(c.weights_dir, sizeof c.weights_dir, "%s", link);
    ASSERT_OK(weights_open(&c, study_dir(), &w));
    weights_free(&w);
    /* The default with a file in the way. */
    ASSERT_EQ(rmdir(link), 0);
    write_file(link);
    c.weights_dir[0] = '\0';
    ASSERT_ERR(weights_open(&c, study_dir(), &w), ERR_STATE);
    ASSERT_CONTAINS(err_msg(), "exists and is not a folder");
}
