/* The coordinator's registered workers (docs/protocol.md 8.1): found by ZeroMQ routing id and by
 * Hello.worker_id through two hash indices, kept in an idle FIFO (oldest idle first) for the
 * dispatcher. Loop thread only. */
#ifndef AUTOPEFT_REGISTRY_H
#define AUTOPEFT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coordinator/runtime/study.h"

#define REGISTRY_RID_MAX 256
#define REGISTRY_ID_MAX 257

typedef struct reg_worker {
    char id[REGISTRY_ID_MAX];          /* Hello.worker_id */
    uint8_t rid[REGISTRY_RID_MAX];     /* current ZeroMQ routing id */
    size_t rid_len;
    uint64_t expiry_ms;                /* loop time after which it is dead */
    uint64_t last_sent_ms;             /* last frame sent to it (heartbeats when silent) */
    uint64_t last_error_ms;            /* last ERROR sent to it (one per interval) */
    uint32_t errors_suppressed;
    bool fits;                         /* can run this study's trials */
    uint32_t cores;
    study_trial_t *trial;              /* the attempt dispatched to it, or NULL */
    bool in_idle;
    struct reg_worker *idle_prev, *idle_next;
    struct reg_worker *rid_next, *id_next;  /* hash chains */
} reg_worker_t;

typedef struct registry registry_t;

registry_t *registry_new(void);
/* Frees every worker record. */
void registry_free(registry_t **rp);

reg_worker_t *registry_by_rid(registry_t *r, const uint8_t *rid, size_t len);
reg_worker_t *registry_by_id(registry_t *r, const char *id);
/* A new worker with this id and routing id; NULL on allocation failure. */
reg_worker_t *registry_add(registry_t *r, const char *id, const uint8_t *rid, size_t len);
/* The worker now speaks from another routing id. */
void registry_set_rid(registry_t *r, reg_worker_t *w, const uint8_t *rid, size_t len);
/* Removes and frees w. */
void registry_remove(registry_t *r, reg_worker_t *w);
size_t registry_count(const registry_t *r);

/* Idle FIFO. */
void registry_idle_push(registry_t *r, reg_worker_t *w);
void registry_idle_remove(registry_t *r, reg_worker_t *w);
reg_worker_t *registry_idle_pop(registry_t *r);
size_t registry_idle_count(const registry_t *r);

/* Calls fn for each worker; fn may remove the worker it is given. */
void registry_each(registry_t *r, void (*fn)(void *ctx, reg_worker_t *w), void *ctx);

#endif
