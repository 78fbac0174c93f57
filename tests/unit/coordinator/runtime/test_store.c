/* The study store's schema versions (coordinator/runtime/store.c): a version 1 store, as
 * earlier builds wrote it, is read as it is by readers and migrated by a writer, losing
 * nothing; another version is refused by name. A learning curve is read from the counted
 * result, and the curves view shows every one. */
#include <sqlite3.h>
#include <sys/stat.h>

#include "coordinator/runtime/store.h"
#include "tests/harness.h"

/* A version 1 store with two trials (one done), written with version 1's own schema. */
static const char *write_v1(void)
{
    static char dir[1024];
    char path[1100];
    sqlite3 *db;

    snprintf(dir, sizeof dir, "%s/v1", harness_tmpdir());
    ASSERT_EQ(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/study.db", dir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE trials(id INTEGER PRIMARY KEY, config TEXT NOT NULL, state TEXT NOT NULL "
        " CHECK(state IN ('queued','dispatched','done','failed')), attempt INTEGER NOT NULL "
        " DEFAULT 0, worker TEXT, random INTEGER NOT NULL DEFAULT 1, acq_value REAL, created_at "
        " REAL NOT NULL, dispatched_at REAL, finished_at REAL, objective REAL, cost REAL, error "
        " TEXT, result_attempt INTEGER, seq INTEGER);"
        "CREATE TABLE attempts(trial_id INTEGER NOT NULL REFERENCES trials(id), attempt INTEGER "
        " NOT NULL, worker TEXT NOT NULL, dispatched_at REAL NOT NULL, ended_at REAL, outcome "
        " TEXT, PRIMARY KEY(trial_id, attempt));"
        "CREATE TABLE results(trial_id INTEGER NOT NULL REFERENCES trials(id), attempt INTEGER "
        " NOT NULL, status TEXT NOT NULL, objective REAL, objective_name TEXT, percent REAL, "
        " trainable INTEGER, deployed INTEGER, backbone INTEGER, best_epoch INTEGER, epochs_run "
        " INTEGER, total_s REAL, worker TEXT, error TEXT, received_at REAL NOT NULL, json TEXT "
        " NOT NULL, PRIMARY KEY(trial_id, attempt));"
        "INSERT INTO meta VALUES('schema_version', '1');"
        "INSERT INTO trials(id, config, state, attempt, random, created_at, objective, cost, "
        " result_attempt, seq) VALUES(1, 'sa=48 pa=0 pt=0 layers=111111111111', 'done', 1, 1, "
        " 1.0, 0.75, 0.82, 1, 1);"
        "INSERT INTO trials(id, config, state, attempt, random, created_at, cost) VALUES(2, "
        " 'sa=0 pa=12 pt=0 layers=000000111111', 'queued', 0, 0, 2.0, 0.1);",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    return dir;
}

typedef struct {
    store_trial_t t[4];
    char config[4][128];
    int n;
} loaded_t;

static int keep(void *ctx, const store_trial_t *t)
{
    loaded_t *l = ctx;

    l->t[l->n] = *t;
    snprintf(l->config[l->n], sizeof l->config[0], "%s", t->config);
    l->t[l->n].config = l->config[l->n];
    l->t[l->n].label = l->t[l->n].worker = l->t[l->n].error = NULL;
    l->n++;
    return 0;
}

static void check_v1_trials(const loaded_t *l)
{
    ASSERT_EQ(l->n, 2);
    ASSERT_STR_EQ(l->t[0].config, "sa=48 pa=0 pt=0 layers=111111111111");
    ASSERT_TRUE(l->t[0].state == STORE_DONE && l->t[0].has_objective);
    ASSERT_NEAR(l->t[0].objective, 0.75, 0);
    for (int i = 0; i < 2; i++) {
        ASSERT_TRUE(l->t[i].kind == STORE_SEARCH);
        ASSERT_FALSE(l->t[i].has_seed);   /* trained with the study seed */
        ASSERT_EQ_U(l->t[i].origin, 0);
        ASSERT_FALSE(l->t[i].full_finetune);
    }
}

TEST(a_version_1_store_is_read_as_it_is_and_migrated_by_a_writer)
{
    const char *dir = write_v1();
    store_trial_t row = {.id = 3, .config = "sa=0 pa=0 pt=0 layers=000000000000", .cost = 0,
                         .kind = STORE_BASELINE, .label = "head-only", .has_seed = true,
                         .seed = 77};
    loaded_t l = {0};
    store_t *st;
    char *v;

    ASSERT_OK(store_open(dir, STORE_READONLY, &st));
    ASSERT_OK(store_load(st, keep, &l));
    check_v1_trials(&l);
    ASSERT_OK(store_meta_get(st, "schema_version", &v));
    ASSERT_STR_EQ(v, "1");   /* a reader changes nothing */
    free(v);
    store_close(&st);

    ASSERT_OK(store_open(dir, 0, &st));
    ASSERT_OK(store_meta_get(st, "schema_version", &v));
    ASSERT_STR_EQ(v, "2");
    free(v);
    memset(&l, 0, sizeof l);
    ASSERT_OK(store_load(st, keep, &l));
    check_v1_trials(&l);
    ASSERT_OK(store_begin(st));
    ASSERT_OK(store_trial_add(st, &row));
    ASSERT_OK(store_commit(st));
    store_close(&st);

    ASSERT_OK(store_open(dir, STORE_READONLY, &st));
    memset(&l, 0, sizeof l);
    ASSERT_OK(store_load(st, keep, &l));
    ASSERT_EQ(l.n, 3);
    ASSERT_TRUE(l.t[2].kind == STORE_BASELINE && l.t[2].has_seed && l.t[2].seed == 77);
    store_close(&st);
}

TEST(another_schema_version_is_refused_by_name)
{
    const char *dir = write_v1();
    char path[1100];
    sqlite3 *db;
    store_t *st;

    snprintf(path, sizeof path, "%s/study.db", dir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '7' WHERE key = 'schema_version'", NULL,
                           NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ASSERT_ERR(store_open(dir, 0, &st), ERR_VERSION);
    ASSERT_CONTAINS(err_msg(), "schema version 7");
    ASSERT_ERR(store_open(dir, STORE_READONLY, &st), ERR_VERSION);
}

TEST(a_learning_curve_is_read_from_the_counted_result_and_shown_in_a_view)
{
    char dir[1024], path[1100];
    store_trial_t row = {.id = 1, .config = "sa=8 pa=0 pt=0 layers=111111111111", .cost = 0.2,
                         .kind = STORE_SEARCH};
    store_result_t r = {.trial_id = 1, .attempt = 1, .status = "stopped", .has_objective = true,
                        .objective = 0.7, .epochs_run = 3, .received_at = 1.0,
                        .json = "{\"history\":[{\"epoch\":2,\"objective\":0.65},{\"epoch\":1,"
                                "\"objective\":0.6},{\"epoch\":3,\"train_loss\":0.4},"
                                "{\"epoch\":3,\"objective\":0.7}]}"};
    store_point_t pts[4];
    sqlite3 *db;
    sqlite3_stmt *q;
    store_t *st;
    int n;

    snprintf(dir, sizeof dir, "%s/curve", harness_tmpdir());
    ASSERT_EQ(mkdir(dir, 0755), 0);
    ASSERT_OK(store_open(dir, STORE_CREATE, &st));
    ASSERT_OK(store_begin(st));
    ASSERT_OK(store_trial_add(st, &row));
    ASSERT_OK(store_trial_dispatch(st, 1, 1, "w1", 0.5));
    ASSERT_OK(store_curve(st, 1, pts, 4, &n));
    ASSERT_EQ(n, 0);   /* no counted result yet */
    ASSERT_OK(store_result(st, &r, STORE_DONE, 1));
    ASSERT_OK(store_commit(st));
    /* By epoch; a record without an objective is no point of the curve. */
    ASSERT_OK(store_curve(st, 1, pts, 4, &n));
    ASSERT_EQ(n, 3);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(pts[i].epoch, i + 1);
    ASSERT_NEAR(pts[0].objective, 0.6, 0);
    ASSERT_NEAR(pts[2].objective, 0.7, 0);
    ASSERT_ERR(store_curve(st, 1, pts, 2, &n), ERR_RANGE);
    ASSERT_CONTAINS(err_msg(), "more than 2 curve points");
    ASSERT_OK(store_curve(st, 9, pts, 4, &n));
    ASSERT_EQ(n, 0);
    store_close(&st);

    snprintf(path, sizeof path, "%s/study.db", dir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*), sum(objective) FROM curves WHERE "
                                 "trial_id = 1", -1, &q, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int(q, 0), 4);
    ASSERT_NEAR(sqlite3_column_double(q, 1), 1.95, 1e-12);
    sqlite3_finalize(q);
    sqlite3_close(db);
}
