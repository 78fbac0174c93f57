/* A RESULT message at the coordinator's edge (result_msg.h). */
#include "coordinator/runtime/result_msg.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static void set_num(json_t *o, const char *k, protobuf_c_boolean has, double v)
{
    if (has)
        json_object_set_new(o, k, json_real(v));
}

static void set_int(json_t *o, const char *k, protobuf_c_boolean has, uint64_t v)
{
    if (has)
        json_object_set_new(o, k, json_integer((json_int_t)v));
}

char *result_msg_json(const Autopeft__Result *r)
{
    static const char *const st[] = {"?", "ok", "failed", "cancelled", "stopped"};
    json_t *o = json_object(), *a;
    char *text;

    if (!o)
        return NULL;
    json_object_set_new(o, "trial", json_integer((json_int_t)r->trial->trial_id));
    json_object_set_new(o, "attempt", json_integer(r->trial->attempt));
    json_object_set_new(o, "status", json_string(st[(unsigned)r->status <= 4 ? r->status : 0]));
    if (r->error)
        json_object_set_new(o, "error", json_string(r->error));
    if (r->has_retryable)
        json_object_set_new(o, "retryable", json_boolean(r->retryable));
    set_num(o, "objective", r->has_objective, r->objective);
    if (r->objective_name)
        json_object_set_new(o, "objective_name", json_string(r->objective_name));
    if (r->n_metrics) {
        a = json_object();
        for (size_t i = 0; i < r->n_metrics; i++)
            json_object_set_new(a, r->metrics[i]->name, json_real(r->metrics[i]->value));
        json_object_set_new(o, "metrics", a);
    }
    set_int(o, "best_epoch", r->has_best_epoch, r->best_epoch);
    set_int(o, "epochs_run", r->has_epochs_run, r->epochs_run);
    if (r->params) {
        const Autopeft__ParamCounts *p = r->params;
        json_t *q = json_object();
        set_int(q, "trainable", p->has_trainable, p->trainable);
        set_int(q, "deployed", p->has_deployed, p->deployed);
        set_int(q, "modules_trainable", p->has_modules_trainable, p->modules_trainable);
        set_int(q, "modules_deployed", p->has_modules_deployed, p->modules_deployed);
        set_int(q, "head", p->has_head, p->head);
        set_int(q, "backbone", p->has_backbone, p->backbone);
        set_num(q, "percent", p->has_percent, p->percent);
        json_object_set_new(o, "params", q);
    }
    if (r->timings) {
        const Autopeft__Timings *t = r->timings;
        json_t *q = json_object();
        set_num(q, "load_s", t->has_load_s, t->load_s);
        set_num(q, "tokenize_s", t->has_tokenize_s, t->tokenize_s);
        set_num(q, "train_s", t->has_train_s, t->train_s);
        set_num(q, "eval_s", t->has_eval_s, t->eval_s);
        set_num(q, "total_s", t->has_total_s, t->total_s);
        set_num(q, "examples_per_s", t->has_examples_per_s, t->examples_per_s);
        json_object_set_new(o, "timings", q);
    }
    if (r->n_history) {
        a = json_array();
        for (size_t i = 0; i < r->n_history; i++) {
            const Autopeft__EpochRecord *e = r->history[i];
            json_t *q = json_object();
            set_int(q, "epoch", e->has_epoch, e->epoch);
            set_num(q, "objective", e->has_objective, e->objective);
            set_num(q, "train_loss", e->has_train_loss, e->train_loss);
            set_num(q, "seconds", e->has_seconds, e->seconds);
            json_array_append_new(a, q);
        }
        json_object_set_new(o, "history", a);
    }
    if (r->worker_id)
        json_object_set_new(o, "worker", json_string(r->worker_id));
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return text;
}

void result_msg_read(const Autopeft__Result *r, const char *worker_id, const char *json,
                     study_result_t *out)
{
    store_result_t *row = &out->row;

    memset(out, 0, sizeof *out);
    if (r->status == AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK)
        out->status = STUDY_STATUS_OK;
    else if (r->status == AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED)
        out->status = STUDY_STATUS_FAILED;
    else if (r->status == AUTOPEFT__RESULT_STATUS__RESULT_STATUS_STOPPED)
        out->status = STUDY_STATUS_STOPPED;
    else
        out->status = STUDY_STATUS_CANCELLED;
    out->retryable = r->retryable;
    row->trial_id = r->trial->trial_id;
    row->attempt = r->trial->attempt;
    row->objective = r->objective;
    row->has_objective = r->has_objective && isfinite(r->objective);
    row->objective_name = r->objective_name;
    if (r->params) {
        row->percent = r->params->percent;
        row->trainable = r->params->trainable;
        row->deployed = r->params->deployed;
        row->backbone = r->params->backbone;
    }
    row->best_epoch = r->best_epoch;
    row->epochs_run = r->epochs_run;
    row->total_s = r->timings && r->timings->has_total_s ? r->timings->total_s : 0;
    row->worker = worker_id;
    row->error = r->error;
    row->json = json;
}

Autopeft__AckStatus result_msg_ack(study_ack_t ack)
{
    switch (ack) {
    case STUDY_ACK_ACCEPTED:
        return AUTOPEFT__ACK_STATUS__ACK_STATUS_ACCEPTED;
    case STUDY_ACK_DUPLICATE:
        return AUTOPEFT__ACK_STATUS__ACK_STATUS_DUPLICATE;
    case STUDY_ACK_STALE:
        return AUTOPEFT__ACK_STATUS__ACK_STATUS_STALE;
    case STUDY_ACK_UNKNOWN:
        break;
    }
    return AUTOPEFT__ACK_STATUS__ACK_STATUS_UNKNOWN;
}
