/* The study store: one SQLite database, <study>/study.db, written only by the coordinator.
 *
 * Durability: WAL journal with synchronous=FULL, so a committed transaction survives a crash of
 * the process or the machine. The coordinator commits every suggestion before its TRIAL is sent
 * and every accepted result before its ACK, in one transaction per turn of its event loop (group
 * commit: the results of many workers share one fsync). Readers (`autopeft status`, `report`,
 * `sqlite3`) never block the writer in WAL mode.
 *
 * Schema (version 1; docs/operations.md shows queries):
 *   meta(key, value)          schema_version, study_name, config (the INI text), created_at,
 *                             starts (how many coordinator processes ran the study)
 *   trials(id, config, state, attempt, worker, random, acq_value, created_at, dispatched_at,
 *          finished_at, objective, cost, error, result_attempt, seq, kind, label, seed, origin,
 *          full_finetune)
 *        state: queued | dispatched | done | failed; attempt: the latest dispatch (0: none yet);
 *        cost: the exact deployed parameter % (the second objective); seq: the order in which
 *        the trial's result was counted (the history order a restarted search replays);
 *        kind: search (suggested) | baseline (a hand-designed configuration of [baselines],
 *        label its name) | confirm (a re-training of trial `origin` with another seed);
 *        seed: the trial's training seed (NULL in trials of version 1: the study seed);
 *        full_finetune: every weight trains (the full-finetune baseline)
 *   attempts(trial_id, attempt, worker, dispatched_at, ended_at, outcome)
 *        one row per dispatch; outcome: ok, failed, cancelled, lost (worker expired or left),
 *        refused, superseded, requeued (coordinator stopped), or NULL while running
 *   results(trial_id, attempt, status, objective, objective_name, percent, trainable, deployed,
 *           backbone, best_epoch, epochs_run, total_s, worker, error, received_at, json)
 *        every accepted RESULT (json: the whole message); (trial_id, attempt) is unique, which is
 *        how a duplicate is recognised
 * Times are seconds since the Unix epoch. Version 1 stores (no kind, label, seed, origin,
 * full_finetune) are migrated when opened for writing and read as they are otherwise. */
#ifndef AUTOPEFT_STORE_H
#define AUTOPEFT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 2
#define STORE_FILE "study.db"

typedef enum {
    STORE_QUEUED = 0,
    STORE_DISPATCHED,
    STORE_DONE,
    STORE_FAILED
} store_state_t;

typedef enum {
    STORE_SEARCH = 0,           /* suggested by the search */
    STORE_BASELINE,             /* a hand-designed configuration ([baselines]) */
    STORE_CONFIRM               /* a re-training of another trial with a new seed */
} store_kind_t;

typedef struct {
    uint64_t id;
    const char *config;         /* canonical text form */
    store_state_t state;
    uint32_t attempt;
    const char *worker;         /* NULL when none */
    bool random;
    double acq_value;
    double created_at, dispatched_at, finished_at;  /* 0: not yet */
    bool has_objective;
    double objective, cost;
    const char *error;          /* NULL when none */
    uint32_t result_attempt;    /* 0: no result counted */
    int64_t seq;                /* 0: no result counted */
    store_kind_t kind;
    const char *label;          /* a baseline's name; NULL otherwise */
    bool has_seed;              /* false: the study seed (trials of schema version 1) */
    uint64_t seed;              /* training seed */
    uint64_t origin;            /* confirm: the trial re-trained; 0 otherwise */
    bool full_finetune;
    uint32_t epochs_run;        /* of the counted result (loaded only; 0 when none) */
    bool stopped;               /* that result is STOPPED (loaded only) */
} store_trial_t;

typedef struct {
    uint64_t trial_id;
    uint32_t attempt;
    const char *status;         /* "ok", "failed", "cancelled" */
    bool has_objective;
    double objective;
    const char *objective_name;
    double percent;
    uint64_t trainable, deployed, backbone;
    uint32_t best_epoch, epochs_run;
    double total_s;
    const char *worker;
    const char *error;
    double received_at;
    const char *json;
} store_result_t;

typedef struct store store_t;

/* How store_open opens the store: flags, or-ed. */
enum {
    STORE_CREATE = 1 << 0,    /* make the folder and the schema when absent */
    STORE_READONLY = 1 << 1,  /* never write (readers such as status and report) */
};

/* Opens <dir>/study.db as the STORE_* flags say (0: an existing store, read and written).
 * ERR_VERSION for a store of another schema version. */
int store_open(const char *dir, unsigned flags, store_t **out);
void store_close(store_t **sp);

/* Transactions: begin is idempotent (a no-op inside one); commit makes everything durable. */
int store_begin(store_t *s);
int store_commit(store_t *s);
int store_rollback(store_t *s);
bool store_in_txn(const store_t *s);

/* *value malloc'd; ERR_NOTFOUND when absent. */
int store_meta_get(store_t *s, const char *key, char **value);
int store_meta_set(store_t *s, const char *key, const char *value);

/* A new trial, queued with attempt 0: t's id, config, random, acq_value, cost, created_at,
 * kind, label, seed, origin and full_finetune are written (its other fields are ignored). */
int store_trial_add(store_t *s, const store_trial_t *t);
/* A dispatch: the trial dispatched with `attempt` to worker, and an attempts row. */
int store_trial_dispatch(store_t *s, uint64_t id, uint32_t attempt, const char *worker,
                         double now);
/* A re-attached attempt (the worker's HELLO named it): dispatched to worker, attempt unchanged. */
int store_trial_reattach(store_t *s, uint64_t id, uint32_t attempt, const char *worker);
/* The attempt ended without a counted result (outcome as above): the trial queued again. */
int store_trial_requeue(store_t *s, uint64_t id, uint32_t attempt, const char *outcome,
                        double now);
/* Ends the attempts row of a dispatch (if still open) with the outcome. */
int store_attempt_end(store_t *s, uint64_t id, uint32_t attempt, const char *outcome, double now);
/* The trial given up: state failed with the reason; the attempt (if any) ended with outcome. */
int store_trial_fail(store_t *s, uint64_t id, uint32_t attempt, const char *outcome,
                     const char *error, int64_t seq, double now);
/* An accepted result: the results row, the attempt's outcome and the trial's new state (done
 * with objective and seq; failed with error and seq; queued for a retry). */
int store_result(store_t *s, const store_result_t *r, store_state_t new_state, int64_t seq);
/* The result row of (trial, attempt) exists. */
int store_result_exists(store_t *s, uint64_t trial_id, uint32_t attempt, bool *exists);

/* Calls cb for every trial in id order; a non-zero return stops and is returned. */
int store_load(store_t *s, int (*cb)(void *ctx, const store_trial_t *t), void *ctx);

/* A point of a learning curve: the dev objective after an epoch. */
typedef struct {
    int epoch;
    double objective;
} store_point_t;

/* The learning curve of a trial's counted result (its history), by epoch: *n points into out,
 * none when the trial has no counted result or its result no history. ERR_RANGE past cap. */
int store_curve(store_t *s, uint64_t trial_id, store_point_t *out, int cap, int *n);

const char *store_state_name(store_state_t st);
const char *store_kind_name(store_kind_t k);   /* "search", "baseline", "confirm" */
int store_kind_parse(const char *text, store_kind_t *out);
int store_state_parse(const char *text, store_state_t *out);

/* A raw read-only SQLite connection to <dir>/study.db, for readers that query it themselves
 * (report.c, study_view.c): ERR_NOTFOUND "no study store here" when there is none. The caller
 * closes it with sqlite3_close. */
struct sqlite3;
int store_open_raw_readonly(const char *dir, struct sqlite3 **db);

/* Seconds since the epoch, with sub-second resolution. */
double store_now(void);

#endif
