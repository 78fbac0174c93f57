/* Suggestions of a study, computed off the event loop.
 *
 * The search strategy (strategy.h: initial design, then GP + NEHVI) can take seconds per
 * suggestion while a GP fits; the coordinator must keep answering workers meanwhile. So a
 * request runs on the libuv thread pool (uv_queue_work), one at a time, and its answer comes back
 * on the loop thread through a callback. Outcomes reported while a request runs are buffered on
 * the loop thread and handed to the strategy, in order, at the start of the next request: the
 * strategy is only ever touched by one thread at a time, and sees the history in the order the
 * coordinator counted it (so a restarted study, which replays that order, continues the same
 * search).
 *
 * One request may ask for several configurations (n idle workers); each is suggested with the
 * running trials and the earlier ones of the batch as pending points (asynchronous batch BO).
 *
 * surrogate = random (or a build without the search module) suggests uniformly random valid
 * configurations, never one already in the study: that isolates the runtime in benchmarks. */
#ifndef AUTOPEFT_SUGGEST_H
#define AUTOPEFT_SUGGEST_H

#include <stdbool.h>
#include <uv.h>

#include "common/space.h"
#include "coordinator/runtime/config.h"
#include "coordinator/search/strategy.h"

#define SUGGEST_MAX_BATCH 1024

typedef struct {
    space_config_t config;
    bool random;        /* from the initial design or random mode */
    double acq_value;   /* acquisition value (0 for random ones) */
} suggest_item_t;

/* On the loop thread: n items (n may be fewer than asked when the space is used up, rc then
 * ERR_NOTFOUND with err text in `error`), or rc < 0 and error. seconds: time spent. */
typedef void (*suggest_done_fn)(void *ctx, const suggest_item_t *items, int n, int rc,
                                const char *error, double seconds);

typedef struct suggest suggest_t;

int suggest_new(const config_t *cfg, uv_loop_t *loop, suggest_t **out);
/* Must not be busy (wait for the callback first). */
void suggest_free(suggest_t **sp);

/* Whether this build and configuration run Bayesian optimisation (else: random). */
bool suggest_is_bo(const suggest_t *s);
bool suggest_busy(const suggest_t *s);
/* The model of the last Bayesian step with fidelity_gp (strategy_snap), for the loop thread's
 * stopping decisions; NULL before the first. */
strategy_snap_t *suggest_snap(suggest_t *s);

/* A counted outcome (loop thread; any time). ok: metric observed, after the fraction
 * `fidelity` of the recipe's epochs (1: the whole recipe; below 1 only with fidelity = asha and
 * fidelity_gp, strategy_observe_at); else a failure. */
int suggest_observe(suggest_t *s, const space_config_t *c, bool ok, double metric,
                    double fidelity);

/* Asks for n (1..SUGGEST_MAX_BATCH) configurations given the pending ones (copied). ERR_STATE
 * when a request is already running. */
int suggest_request(suggest_t *s, int n, const space_config_t *pending, int npending,
                    suggest_done_fn done, void *ctx);

/* A configuration already in the study (loop thread, before any request): never suggested. */
int suggest_note(suggest_t *s, const space_config_t *c);

/* Random mode only (suggest_is_bo false): n suggestions at once on the calling thread, which
 * costs microseconds, so the dispatcher needs no thread-pool round trip (and no extra commit) to
 * refill its queue. Returns how many were written (fewer when the space is used up), or < 0. */
int suggest_random_now(suggest_t *s, int n, suggest_item_t *out);

#endif
