/* The study store on SQLite (store.h). Statements are prepared once and reused: the store is
 * written from the coordinator's event loop, where a commit per turn carries many changes. */
#include "coordinator/runtime/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"

enum {
    Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_META_GET, Q_META_SET, Q_ADD, Q_DISPATCH, Q_ATT_INSERT,
    Q_REATTACH, Q_ATT_REOPEN, Q_REQUEUE, Q_ATT_END, Q_FAIL, Q_RESULT, Q_RES_TRIAL, Q_RES_EXISTS, Q_LOAD, Q_CURVE, NQ
};

static const char *const sql[NQ] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [Q_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [Q_ADD] = "INSERT INTO trials(id, config, state, attempt, random, acq_value, cost, created_at, "
              "kind, label, seed, origin, full_finetune) "
              "VALUES(?1, ?2, 'queued', 0, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_DISPATCH] = "UPDATE trials SET state = 'dispatched', attempt = ?2, worker = ?3, "
                   "dispatched_at = ?4 WHERE id = ?1",
    [Q_ATT_INSERT] = "INSERT INTO attempts(trial_id, attempt, worker, dispatched_at) "
                     "VALUES(?1, ?2, ?3, ?4)",
    [Q_REATTACH] = "UPDATE trials SET state = 'dispatched', worker = ?3 "
                   "WHERE id = ?1 AND attempt = ?2",
    [Q_ATT_REOPEN] = "UPDATE attempts SET ended_at = NULL, outcome = NULL, worker = ?3 "
                     "WHERE trial_id = ?1 AND attempt = ?2",
    [Q_REQUEUE] = "UPDATE trials SET state = 'queued', worker = NULL WHERE id = ?1",
    [Q_ATT_END] = "UPDATE attempts SET ended_at = ?3, outcome = ?4 "
                  "WHERE trial_id = ?1 AND attempt = ?2 AND outcome IS NULL",
    [Q_FAIL] = "UPDATE trials SET state = 'failed', error = ?2, finished_at = ?3, seq = ?4, "
               "worker = NULL WHERE id = ?1",
    [Q_RESULT] = "INSERT INTO results(trial_id, attempt, status, objective, objective_name, "
                 "percent, trainable, deployed, backbone, best_epoch, epochs_run, total_s, "
                 "worker, error, received_at, json) "
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [Q_RES_TRIAL] = "UPDATE trials SET state = ?2, objective = ?3, error = ?4, "
                    "result_attempt = ?5, seq = ?6, finished_at = ?7, "
                    "worker = CASE WHEN ?2 = 'queued' THEN NULL ELSE worker END WHERE id = ?1",
    [Q_RES_EXISTS] = "SELECT 1 FROM results WHERE trial_id = ?1 AND attempt = ?2",
    [Q_LOAD] = "SELECT t.id, t.config, t.state, t.attempt, t.worker, t.random, t.acq_value, "
               "t.created_at, t.dispatched_at, t.finished_at, t.objective, t.cost, t.error, "
               "t.result_attempt, t.seq, t.kind, t.label, t.seed, t.origin, t.full_finetune, "
               "r.epochs_run, r.status = 'stopped' FROM trials t LEFT JOIN results r ON "
               "r.trial_id = t.id AND r.attempt = t.result_attempt ORDER BY t.id",
    [Q_CURVE] = "SELECT json_extract(e.value, '$.epoch'), json_extract(e.value, '$.objective') "
                "FROM trials t JOIN results r ON r.trial_id = t.id AND "
                "r.attempt = t.result_attempt, json_each(r.json, '$.history') e WHERE t.id = ?1 "
                "AND json_extract(e.value, '$.objective') IS NOT NULL ORDER BY 1",
};

/* A version 1 store read without migrating it (read-only): its trials are all search trials
 * trained with the study seed. */
static const char load_v1[] =
    "SELECT t.id, t.config, t.state, t.attempt, t.worker, t.random, t.acq_value, t.created_at, "
    "t.dispatched_at, t.finished_at, t.objective, t.cost, t.error, t.result_attempt, t.seq, "
    "'search', NULL, NULL, NULL, 0, r.epochs_run, 0 FROM trials t LEFT JOIN results r ON "
    "r.trial_id = t.id AND r.attempt = t.result_attempt ORDER BY t.id";

/* Version 1 -> 2: the kind of each trial, a baseline's name, the training seed (NULL: the
 * study seed, as every version 1 trial was trained), a confirmation's origin and full
 * fine-tuning. */
static const char migrate_v1[] =
    "ALTER TABLE trials ADD COLUMN kind TEXT NOT NULL DEFAULT 'search' "
    " CHECK(kind IN ('search','baseline','confirm'));"
    "ALTER TABLE trials ADD COLUMN label TEXT;"
    "ALTER TABLE trials ADD COLUMN seed INTEGER;"
    "ALTER TABLE trials ADD COLUMN origin INTEGER;"
    "ALTER TABLE trials ADD COLUMN full_finetune INTEGER NOT NULL DEFAULT 0;"
    "UPDATE meta SET value = '2' WHERE key = 'schema_version';";

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS trials("
    " id INTEGER PRIMARY KEY,"
    " config TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN ('queued','dispatched','done','failed')),"
    " attempt INTEGER NOT NULL DEFAULT 0,"
    " worker TEXT,"
    " random INTEGER NOT NULL DEFAULT 1,"
    " acq_value REAL,"
    " created_at REAL NOT NULL,"
    " dispatched_at REAL,"
    " finished_at REAL,"
    " objective REAL,"
    " cost REAL,"
    " error TEXT,"
    " result_attempt INTEGER,"
    " seq INTEGER,"
    " kind TEXT NOT NULL DEFAULT 'search' CHECK(kind IN ('search','baseline','confirm')),"
    " label TEXT,"
    " seed INTEGER,"
    " origin INTEGER,"
    " full_finetune INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS attempts("
    " trial_id INTEGER NOT NULL REFERENCES trials(id),"
    " attempt INTEGER NOT NULL,"
    " worker TEXT NOT NULL,"
    " dispatched_at REAL NOT NULL,"
    " ended_at REAL,"
    " outcome TEXT,"
    " PRIMARY KEY(trial_id, attempt));"
    "CREATE TABLE IF NOT EXISTS results("
    " trial_id INTEGER NOT NULL REFERENCES trials(id),"
    " attempt INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " objective REAL,"
    " objective_name TEXT,"
    " percent REAL,"
    " trainable INTEGER, deployed INTEGER, backbone INTEGER,"
    " best_epoch INTEGER, epochs_run INTEGER, total_s REAL,"
    " worker TEXT, error TEXT,"
    " received_at REAL NOT NULL,"
    " json TEXT NOT NULL,"
    " PRIMARY KEY(trial_id, attempt));"
    /* Every result's learning curve, from the history in its JSON (docs/outputs.md). */
    "CREATE VIEW IF NOT EXISTS curves AS SELECT r.trial_id, r.attempt, "
    " json_extract(e.value, '$.epoch') AS epoch, json_extract(e.value, '$.objective') AS objective,"
    " json_extract(e.value, '$.train_loss') AS train_loss,"
    " json_extract(e.value, '$.seconds') AS seconds"
    " FROM results r, json_each(r.json, '$.history') e;";

struct store {
    sqlite3 *db;
    sqlite3_stmt *q[NQ];
    bool in_txn, readonly;
    char path[4200];
};

double store_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *const state_names[] = {"queued", "dispatched", "done", "failed"};

const char *store_state_name(store_state_t st)
{
    return (unsigned)st <= STORE_FAILED ? state_names[st] : "?";
}

int store_state_parse(const char *text, store_state_t *out)
{
    for (int i = 0; i <= STORE_FAILED; i++)
        if (text && strcmp(text, state_names[i]) == 0) {
            *out = (store_state_t)i;
            return 0;
        }
    return err_set(ERR_PARSE, "unknown trial state '%s'", text ? text : "(null)");
}

static const char *const kind_names[] = {"search", "baseline", "confirm"};

const char *store_kind_name(store_kind_t k)
{
    return (unsigned)k <= STORE_CONFIRM ? kind_names[k] : "?";
}

int store_kind_parse(const char *text, store_kind_t *out)
{
    for (int i = 0; i <= STORE_CONFIRM; i++)
        if (text && strcmp(text, kind_names[i]) == 0) {
            *out = (store_kind_t)i;
            return 0;
        }
    return err_set(ERR_PARSE, "unknown trial kind '%s'", text ? text : "(null)");
}

static int db_err(store_t *s, const char *what)
{
    return err_set(ERR_IO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec(store_t *s, const char *text)
{
    char *msg = NULL;
    int rc;

    if (sqlite3_exec(s->db, text, NULL, NULL, &msg) != SQLITE_OK) {
        rc = err_set(ERR_IO, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* Runs a prepared statement that returns no rows; the statement is reset for reuse. */
static int step_done(store_t *s, int q)
{
    int rc = sqlite3_step(s->q[q]);

    sqlite3_reset(s->q[q]);
    sqlite3_clear_bindings(s->q[q]);
    if (rc != SQLITE_DONE)
        return db_err(s, sql[q]);
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* The schema version in meta (0 when the store has none: not a study store). */
static int schema_version(store_t *s, int *version)
{
    sqlite3_stmt *st;
    int rc;

    *version = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
                           NULL) != SQLITE_OK)
        return db_err(s, "reading the schema version (is this a study store?)");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = atoi((const char *)sqlite3_column_text(st, 0));
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_err(s, "reading the schema version");
    sqlite3_finalize(st);
    if (rc == 0 && *version == 0)
        rc = err_set(ERR_PARSE, "%s: no schema version in meta (is this a study store?)", s->path);
    return rc;
}

/* A writable store: WAL, the tables when absent, a version 1 store migrated; one transaction. */
static int init_schema(store_t *s)
{
    int rc, version;

    if ((rc = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                      "PRAGMA foreign_keys=ON;")) != 0 ||
        (rc = exec(s, "BEGIN IMMEDIATE")) != 0)
        return rc;
    if ((rc = exec(s, schema)) == 0 &&
        (rc = exec(s, "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '2')")) == 0 &&
        (rc = schema_version(s, &version)) == 0 && version == 1)
        rc = exec(s, migrate_v1);
    if (rc != 0) {
        exec(s, "ROLLBACK");
        return rc;
    }
    return exec(s, "COMMIT");
}

static int prepare(store_t *s, int version)
{
    for (int i = 0; i < NQ; i++) {
        const char *text = sql[i];
        if (version == 1 && i == Q_LOAD)
            text = load_v1;
        else if (version == 1 && i == Q_ADD)
            continue;   /* read-only: never added to */
        if (sqlite3_prepare_v2(s->db, text, -1, &s->q[i], NULL) != SQLITE_OK)
            return db_err(s, "preparing statements (is this a study store?)");
    }
    return 0;
}

int store_open(const char *dir, unsigned flags, store_t **out)
{
    bool create = flags & STORE_CREATE, readonly = flags & STORE_READONLY;
    store_t *s;
    int rc = 0, open_flags, version = 0;

    *out = NULL;
    if (create && mkdir(dir, 0755) != 0 && errno != EEXIST)
        return err_set(ERR_IO, "%s: cannot create the study folder: %s", dir, strerror(errno));
    s = mem_alloc(1, sizeof *s, "store");
    if (!s)
        return ERR_NOMEM;
    s->readonly = readonly;
    if ((size_t)snprintf(s->path, sizeof s->path, "%s/%s", dir, STORE_FILE) >= sizeof s->path) {
        rc = err_set(ERR_RANGE, "%s: study folder path too long", dir);
        goto out;
    }
    open_flags = readonly ? SQLITE_OPEN_READONLY
                          : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(s->path, &s->db, open_flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = err_set(readonly || !create ? ERR_NOTFOUND : ERR_IO, "%s: %s", s->path,
                     s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if ((!readonly && (rc = init_schema(s)) != 0) || (rc = schema_version(s, &version)) != 0)
        goto out;
    if (version != STORE_SCHEMA_VERSION && !(readonly && version == 1)) {
        rc = err_set(ERR_VERSION, "%s: schema version %d, this build reads versions 1 and %d",
                     s->path, version, STORE_SCHEMA_VERSION);
        goto out;
    }
    rc = prepare(s, version);
out:
    if (rc != 0)
        store_close(&s);
    *out = s;
    return rc;
}

int store_open_raw_readonly(const char *dir, sqlite3 **db)
{
    char path[4200];

    *db = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, STORE_FILE) >= sizeof path)
        return err_set(ERR_RANGE, "%s: study folder path too long", dir);
    if (access(path, R_OK) != 0)
        return err_set(ERR_NOTFOUND, "%s: no study store here (%s)", dir, strerror(errno));
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        int rc = err_set(ERR_IO, "%s: %s", path, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(*db, 5000);
    return 0;
}

void store_close(store_t **sp)
{
    store_t *s = *sp;

    if (!s)
        return;
    if (s->in_txn)
        store_rollback(s);
    for (int i = 0; i < NQ; i++)
        sqlite3_finalize(s->q[i]);
    sqlite3_close(s->db);
    free(s);
    *sp = NULL;
}

int store_begin(store_t *s)
{
    int rc;

    if (s->in_txn)
        return 0;
    rc = step_done(s, Q_BEGIN);
    if (rc == 0)
        s->in_txn = true;
    return rc;
}

int store_commit(store_t *s)
{
    int rc;

    if (!s->in_txn)
        return 0;
    rc = step_done(s, Q_COMMIT);
    if (rc == 0)
        s->in_txn = false;
    return rc;
}

int store_rollback(store_t *s)
{
    if (!s->in_txn)
        return 0;
    s->in_txn = false;
    return step_done(s, Q_ROLLBACK);
}

bool store_in_txn(const store_t *s)
{
    return s->in_txn;
}

int store_meta_get(store_t *s, const char *key, char **value)
{
    sqlite3_stmt *st = s->q[Q_META_GET];
    int rc;

    bind_text(st, 1, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *value = mem_strdup((const char *)sqlite3_column_text(st, 0));
        rc = *value ? 0 : ERR_NOMEM;
    } else if (rc == SQLITE_DONE) {
        rc = err_set(ERR_NOTFOUND, "%s: no '%s' in meta", s->path, key);
    } else {
        rc = db_err(s, "reading meta");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int store_meta_set(store_t *s, const char *key, const char *value)
{
    bind_text(s->q[Q_META_SET], 1, key);
    bind_text(s->q[Q_META_SET], 2, value);
    return step_done(s, Q_META_SET);
}

int store_trial_add(store_t *s, const store_trial_t *t)
{
    sqlite3_stmt *st = s->q[Q_ADD];

    sqlite3_bind_int64(st, 1, (sqlite3_int64)t->id);
    bind_text(st, 2, t->config);
    sqlite3_bind_int(st, 3, t->random);
    sqlite3_bind_double(st, 4, t->acq_value);
    sqlite3_bind_double(st, 5, t->cost);
    sqlite3_bind_double(st, 6, t->created_at);
    bind_text(st, 7, store_kind_name(t->kind));
    bind_text(st, 8, t->label);
    if (t->has_seed)
        sqlite3_bind_int64(st, 9, (sqlite3_int64)t->seed);
    if (t->origin)
        sqlite3_bind_int64(st, 10, (sqlite3_int64)t->origin);
    sqlite3_bind_int(st, 11, t->full_finetune);
    return step_done(s, Q_ADD);
}

int store_trial_dispatch(store_t *s, uint64_t id, uint32_t attempt, const char *worker,
                         double now)
{
    sqlite3_stmt *st = s->q[Q_DISPATCH];
    int rc;

    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    sqlite3_bind_int64(st, 2, attempt);
    bind_text(st, 3, worker);
    sqlite3_bind_double(st, 4, now);
    if ((rc = step_done(s, Q_DISPATCH)) != 0)
        return rc;
    st = s->q[Q_ATT_INSERT];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    sqlite3_bind_int64(st, 2, attempt);
    bind_text(st, 3, worker);
    sqlite3_bind_double(st, 4, now);
    return step_done(s, Q_ATT_INSERT);
}

int store_trial_reattach(store_t *s, uint64_t id, uint32_t attempt, const char *worker)
{
    int rc;

    for (int q = Q_REATTACH; q <= Q_ATT_REOPEN; q++) {
        sqlite3_bind_int64(s->q[q], 1, (sqlite3_int64)id);
        sqlite3_bind_int64(s->q[q], 2, attempt);
        bind_text(s->q[q], 3, worker);
        if ((rc = step_done(s, q)) != 0)
            return rc;
    }
    return 0;
}

int store_attempt_end(store_t *s, uint64_t id, uint32_t attempt, const char *outcome, double now)
{
    sqlite3_stmt *st = s->q[Q_ATT_END];

    if (attempt == 0)
        return 0;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    sqlite3_bind_int64(st, 2, attempt);
    sqlite3_bind_double(st, 3, now);
    bind_text(st, 4, outcome);
    return step_done(s, Q_ATT_END);
}

int store_trial_requeue(store_t *s, uint64_t id, uint32_t attempt, const char *outcome,
                        double now)
{
    int rc = store_attempt_end(s, id, attempt, outcome, now);

    if (rc != 0)
        return rc;
    sqlite3_bind_int64(s->q[Q_REQUEUE], 1, (sqlite3_int64)id);
    return step_done(s, Q_REQUEUE);
}

int store_trial_fail(store_t *s, uint64_t id, uint32_t attempt, const char *outcome,
                     const char *error, int64_t seq, double now)
{
    sqlite3_stmt *st = s->q[Q_FAIL];
    int rc = store_attempt_end(s, id, attempt, outcome, now);

    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    bind_text(st, 2, error);
    sqlite3_bind_double(st, 3, now);
    sqlite3_bind_int64(st, 4, seq);
    return step_done(s, Q_FAIL);
}

int store_result(store_t *s, const store_result_t *r, store_state_t new_state, int64_t seq)
{
    sqlite3_stmt *st = s->q[Q_RESULT];
    const char *outcome = r->status;
    int rc;

    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->trial_id);
    sqlite3_bind_int64(st, 2, r->attempt);
    bind_text(st, 3, r->status);
    if (r->has_objective)
        sqlite3_bind_double(st, 4, r->objective);
    bind_text(st, 5, r->objective_name);
    if (r->has_objective) {
        sqlite3_bind_double(st, 6, r->percent);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)r->trainable);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)r->deployed);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)r->backbone);
        sqlite3_bind_int64(st, 10, r->best_epoch);
        sqlite3_bind_int64(st, 11, r->epochs_run);
    }
    sqlite3_bind_double(st, 12, r->total_s);
    bind_text(st, 13, r->worker);
    bind_text(st, 14, r->error);
    sqlite3_bind_double(st, 15, r->received_at);
    bind_text(st, 16, r->json ? r->json : "{}");
    if ((rc = step_done(s, Q_RESULT)) != 0)
        return rc;
    if ((rc = store_attempt_end(s, r->trial_id, r->attempt, outcome, r->received_at)) != 0)
        return rc;
    st = s->q[Q_RES_TRIAL];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->trial_id);
    bind_text(st, 2, store_state_name(new_state));
    if (new_state == STORE_DONE && r->has_objective)
        sqlite3_bind_double(st, 3, r->objective);
    bind_text(st, 4, new_state == STORE_DONE ? NULL : r->error);
    if (new_state != STORE_QUEUED) {
        sqlite3_bind_int64(st, 5, r->attempt);
        sqlite3_bind_int64(st, 6, seq);
        sqlite3_bind_double(st, 7, r->received_at);
    }
    return step_done(s, Q_RES_TRIAL);
}

int store_result_exists(store_t *s, uint64_t trial_id, uint32_t attempt, bool *exists)
{
    sqlite3_stmt *st = s->q[Q_RES_EXISTS];
    int rc;

    sqlite3_bind_int64(st, 1, (sqlite3_int64)trial_id);
    sqlite3_bind_int64(st, 2, attempt);
    rc = sqlite3_step(st);
    *exists = rc == SQLITE_ROW;
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : db_err(s, "reading results");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int store_curve(store_t *s, uint64_t trial_id, store_point_t *out, int cap, int *n)
{
    sqlite3_stmt *st = s->q[Q_CURVE];
    int step, rc = 0;

    *n = 0;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)trial_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            rc = err_set(ERR_RANGE, "%s: trial %llu has more than %d curve points", s->path,
                         (unsigned long long)trial_id, cap);
            break;
        }
        out[*n].epoch = sqlite3_column_int(st, 0);
        out[(*n)++].objective = sqlite3_column_double(st, 1);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_err(s, "reading a learning curve");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static double col_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_double(st, i);
}

int store_load(store_t *s, int (*cb)(void *ctx, const store_trial_t *t), void *ctx)
{
    sqlite3_stmt *st = s->q[Q_LOAD];
    int rc = 0, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        store_trial_t t;
        memset(&t, 0, sizeof t);
        t.id = (uint64_t)sqlite3_column_int64(st, 0);
        t.config = (const char *)sqlite3_column_text(st, 1);
        if ((rc = store_state_parse((const char *)sqlite3_column_text(st, 2), &t.state)) != 0)
            break;
        t.attempt = (uint32_t)sqlite3_column_int64(st, 3);
        t.worker = (const char *)sqlite3_column_text(st, 4);
        t.random = sqlite3_column_int(st, 5) != 0;
        t.acq_value = col_double(st, 6);
        t.created_at = col_double(st, 7);
        t.dispatched_at = col_double(st, 8);
        t.finished_at = col_double(st, 9);
        t.has_objective = sqlite3_column_type(st, 10) != SQLITE_NULL;
        t.objective = col_double(st, 10);
        t.cost = col_double(st, 11);
        t.error = (const char *)sqlite3_column_text(st, 12);
        t.result_attempt = (uint32_t)sqlite3_column_int64(st, 13);
        t.seq = sqlite3_column_int64(st, 14);
        if ((rc = store_kind_parse((const char *)sqlite3_column_text(st, 15), &t.kind)) != 0)
            break;
        t.label = (const char *)sqlite3_column_text(st, 16);
        t.has_seed = sqlite3_column_type(st, 17) != SQLITE_NULL;
        t.seed = (uint64_t)sqlite3_column_int64(st, 17);
        t.origin = (uint64_t)sqlite3_column_int64(st, 18);
        t.full_finetune = sqlite3_column_int(st, 19) != 0;
        t.epochs_run = (uint32_t)sqlite3_column_int64(st, 20);
        t.stopped = sqlite3_column_int(st, 21) != 0;
        if (!t.config) {
            rc = err_set(ERR_PARSE, "%s: trial %llu has no configuration", s->path,
                         (unsigned long long)t.id);
            break;
        }
        if ((rc = cb(ctx, &t)) != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_err(s, "reading trials");
    sqlite3_reset(st);
    return rc;
}
