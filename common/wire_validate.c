/* Structural rules of the protocol's messages (wire_validate, see wire.h).
 *
 * Two layers. The rules of each message (presence, ranges, caps on repeated fields, layer
 * masks) are written out per message below. Before them, one walk over the message by its
 * protobuf-c descriptor applies the rules that hold for every field of a type, so that a field added to
 * the schema is covered without anyone remembering to: every float and double finite, every
 * enum value known and not *_UNSPECIFIED, every string valid UTF-8 within the cap of its class
 * (the class table below; unlisted strings get the text cap). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/utf8.h"
#include "common/wire.h"

enum {
    MAX_ID = AUTOPEFT__CONSTANTS__MAX_ID_BYTES,
    MAX_PATH = AUTOPEFT__CONSTANTS__MAX_PATH_BYTES,
    MAX_TEXT = AUTOPEFT__CONSTANTS__MAX_TEXT_BYTES,
    MAX_LAYERS = AUTOPEFT__CONSTANTS__MAX_LAYERS,
    MAX_METRICS = AUTOPEFT__CONSTANTS__MAX_METRICS,
    MAX_HISTORY = AUTOPEFT__CONSTANTS__MAX_HISTORY,
    MAX_CAPABILITIES = AUTOPEFT__CONSTANTS__MAX_CAPABILITIES,
};

/* The largest field number protobuf allows. */
#define PROTOBUF_MAX_FIELD_NUMBER 536870911u

#define TRY(expr)              \
    do {                       \
        int rc_ = (expr);      \
        if (rc_ != 0)          \
            return rc_;        \
    } while (0)

typedef struct {
    const char *kind; /* "TRIAL": the first word of every message */
} vctx_t;

static int bad(const vctx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const vctx_t *v, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return err_set(ERR_INVAL, "%s: %s", v->kind, text);
}

/* ---- strings ------------------------------------------------------------------------------- */
typedef enum {
    STR_TEXT, /* free text for people: <= MAX_TEXT_BYTES, line breaks and tabs allowed */
    STR_ID,   /* names and ids: <= MAX_ID_BYTES, one line without control characters */
    STR_PATH, /* paths and one-line descriptions: <= MAX_PATH_BYTES, no control characters */
    STR_MASK, /* layer masks: '0' and '1' only, <= MAX_LAYERS */
} str_class_t;

/* Every string field of the schema, by message and field name (a test checks that none is
 * missing). */
static const struct {
    const ProtobufCMessageDescriptor *desc;
    const char *field;
    str_class_t cls;
} str_classes[] = {
    {&autopeft__hello__descriptor, "worker_id", STR_ID},
    {&autopeft__hello__descriptor, "host", STR_ID},
    {&autopeft__hello__descriptor, "software_version", STR_ID},
    {&autopeft__hello__descriptor, "slurm_job_id", STR_ID},
    {&autopeft__welcome__descriptor, "coordinator_id", STR_ID},
    {&autopeft__welcome__descriptor, "study_name", STR_ID},
    {&autopeft__welcome__descriptor, "software_version", STR_ID},
    {&autopeft__trial__descriptor, "study_name", STR_ID},
    {&autopeft__trial_spec__descriptor, "save_dir", STR_PATH},
    {&autopeft__model_spec__descriptor, "path", STR_PATH},
    {&autopeft__task_spec__descriptor, "name", STR_ID},
    {&autopeft__task_spec__descriptor, "data_dir", STR_PATH},
    {&autopeft__task_spec__descriptor, "train_file", STR_PATH},
    {&autopeft__task_spec__descriptor, "dev_file", STR_PATH},
    {&autopeft__task_spec__descriptor, "format", STR_ID},
    {&autopeft__task_spec__descriptor, "text_column", STR_ID},
    {&autopeft__task_spec__descriptor, "pair_column", STR_ID},
    {&autopeft__task_spec__descriptor, "label_column", STR_ID},
    {&autopeft__task_spec__descriptor, "metric", STR_ID},
    {&autopeft__peft_config__descriptor, "serial_layers", STR_MASK},
    {&autopeft__peft_config__descriptor, "parallel_layers", STR_MASK},
    {&autopeft__peft_config__descriptor, "prefix_layers", STR_MASK},
    {&autopeft__peft_config__descriptor, "lora_layers", STR_MASK},
    {&autopeft__peft_config__descriptor, "houlsby_layers", STR_MASK},
    /* "sa=48 pa=0 pt=12 layers=1110...": four masks of MAX_LAYERS fit in a path's cap. */
    {&autopeft__peft_config__descriptor, "text", STR_PATH},
    {&autopeft__progress__descriptor, "message", STR_TEXT},
    {&autopeft__metric__descriptor, "name", STR_ID},
    {&autopeft__result__descriptor, "error", STR_TEXT},
    {&autopeft__result__descriptor, "objective_name", STR_ID},
    {&autopeft__result__descriptor, "worker_id", STR_ID},
    {&autopeft__ack__descriptor, "reason", STR_TEXT},
    {&autopeft__cancel__descriptor, "reason", STR_TEXT},
    {&autopeft__shutdown__descriptor, "reason", STR_TEXT},
    {&autopeft__goodbye__descriptor, "reason", STR_TEXT},
    {&autopeft__error__descriptor, "message", STR_TEXT},
};

int wire__string_class(const ProtobufCMessageDescriptor *desc, const char *field)
{
    for (size_t i = 0; i < sizeof str_classes / sizeof str_classes[0]; i++)
        if (str_classes[i].desc == desc && strcmp(str_classes[i].field, field) == 0)
            return (int)str_classes[i].cls;
    return -1;
}

/* Where the walk is, as a chain up to the message: formatted only when a rule fails. */
typedef struct path {
    const struct path *up;
    const char *name;
    long index; /* element of a repeated field, or -1 */
} path_t;

static size_t path_format(const path_t *p, char *buf, size_t n)
{
    size_t used = 0;
    int w;

    if (!p)
        return 0;
    used = path_format(p->up, buf, n);
    if (used >= n)
        return used;
    if (p->index >= 0)
        w = snprintf(buf + used, n - used, "%s%s[%ld]", used ? "." : "", p->name, p->index);
    else
        w = snprintf(buf + used, n - used, "%s%s", used ? "." : "", p->name);
    return used + (w > 0 ? (size_t)w : 0);
}

static int bad_at(const vctx_t *v, const path_t *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_at(const vctx_t *v, const path_t *p, const char *fmt, ...)
{
    char where[256], text[384];
    va_list ap;

    /* The message itself when the walk is at its top. */
    if (path_format(p, where, sizeof where) == 0)
        snprintf(where, sizeof where, "message");
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return bad(v, "%s %s", where, text);
}

static int check_string(const vctx_t *v, const path_t *p, const char *s, str_class_t cls)
{
    static const size_t caps[] = {[STR_TEXT] = MAX_TEXT, [STR_ID] = MAX_ID,
                                  [STR_PATH] = MAX_PATH, [STR_MASK] = MAX_LAYERS};
    const unsigned char *u = (const unsigned char *)s;
    size_t cap = caps[cls], n = strnlen(s, cap + 1);

    if (n > cap)
        return bad_at(v, p, "is longer than %zu %s", cap, cls == STR_MASK ? "layers" : "bytes");
    for (size_t i = 0; i < n;) {
        size_t k;

        if (cls == STR_MASK) {
            if (u[i] != '0' && u[i] != '1')
                return bad_at(v, p, "has byte 0x%02x at offset %zu; a mask holds only '0' and '1'",
                              u[i], i);
            i++;
        } else if (u[i] < 0x80) {
            if (cls != STR_TEXT && (u[i] < 0x20 || u[i] == 0x7F))
                return bad_at(v, p, "has control character 0x%02x at offset %zu", u[i], i);
            i++;
        } else {
            k = utf8_sequence(u + i, n - i);
            if (k == 0)
                return bad_at(v, p, "is not valid UTF-8 at offset %zu", i);
            i += k;
        }
    }
    return 0;
}

/* ---- the walk over every field ------------------------------------------------------------ */
static int walk(const vctx_t *v, const ProtobufCMessage *m, const path_t *up);

/* protobuf-c keeps fields it does not know (from a newer peer, fine) but also accepts field
 * number 0 written as a long varint and numbers beyond protobuf's 2^29 - 1, which it would then
 * write back in forms that it refuses itself: neither is protobuf. */
static int check_unknown_fields(const vctx_t *v, const ProtobufCMessage *m, const path_t *up)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        uint32_t tag = m->unknown_fields[i].tag;
        if (tag == 0 || tag > PROTOBUF_MAX_FIELD_NUMBER)
            return bad_at(v, up, "carries field number %u, outside protobuf's 1..%u", tag,
                          (unsigned)PROTOBUF_MAX_FIELD_NUMBER);
    }
    return 0;
}

/* Where field f of the message at base keeps its values: *first and *n (0 when the field is
 * absent; a singular field present has 1). */
static int field_values(const vctx_t *v, const char *base, const ProtobufCFieldDescriptor *f,
                        const path_t *up, const void **first, size_t *n)
{
    *first = base + f->offset;
    *n = 1;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        *n = *(const size_t *)(const void *)(base + f->quantifier_offset);
        *first = *(const void *const *)*first;
        if (*n > 0 && !*first) {
            path_t p = {up, f->name, -1};
            return bad_at(v, &p, "has %zu entries and no storage", *n);
        }
    } else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE ||
               f->type == PROTOBUF_C_TYPE_BYTES) {
        if (*(const void *const *)*first == NULL)
            *n = 0;
    } else if (!*(const protobuf_c_boolean *)(const void *)(base + f->quantifier_offset)) {
        *n = 0;
    }
    return 0;
}

/* Value j of field f of a message of type d (values from field_values), at path p. */
static int check_value(const vctx_t *v, const ProtobufCMessageDescriptor *d,
                       const ProtobufCFieldDescriptor *f, const void *first, size_t j,
                       const path_t *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT: {
        float x = ((const float *)first)[j];
        if (!isfinite(x))
            return bad_at(v, p, "is not finite (%g)", (double)x);
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double x = ((const double *)first)[j];
        if (!isfinite(x))
            return bad_at(v, p, "is not finite (%g)", x);
        return 0;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        /* protobuf-c keeps enum numbers it does not know: they stop here. */
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        int x = ((const int *)first)[j];
        if (x == 0 || !protobuf_c_enum_descriptor_get_value(ed, x))
            return bad_at(v, p, "has %s value %d, which is not a valid %s",
                          x == 0 ? "the unspecified" : "unknown", x, ed->short_name);
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = ((const char *const *)first)[j];
        int c = wire__string_class(d, f->name);
        if (!s)
            return bad_at(v, p, "is a NULL string");
        return check_string(v, p, s, c < 0 ? STR_TEXT : (str_class_t)c);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)first)[j];
        if (!sub)
            return bad_at(v, p, "is a NULL message");
        if (sub->descriptor != f->descriptor)
            return bad_at(v, p, "holds a %s, not a %s", sub->descriptor->short_name,
                          ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name);
        return walk(v, sub, p);
    }
    default: /* integers and booleans: any value is well formed */
        return 0;
    }
}

static int walk(const vctx_t *v, const ProtobufCMessage *m, const path_t *up)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    TRY(check_unknown_fields(v, m, up));
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        const void *first;
        size_t n;

        TRY(field_values(v, (const char *)m, f, up, &first, &n));
        for (size_t j = 0; j < n; j++) {
            path_t p = {up, f->name, repeated ? (long)j : -1};
            TRY(check_value(v, d, f, first, j, &p));
        }
    }
    return 0;
}

/* ---- per-message rules --------------------------------------------------------------------- */
static int need(const vctx_t *v, bool present, const char *path)
{
    return present ? 0 : bad(v, "%s missing", path);
}

static int need_str(const vctx_t *v, const char *s, const char *path)
{
    if (!s)
        return bad(v, "%s missing", path);
    if (!*s)
        return bad(v, "%s is empty", path);
    return 0;
}

static int u_range(const vctx_t *v, const char *path, uint64_t x, uint64_t lo, uint64_t hi)
{
    if (x < lo || x > hi)
        return bad(v, "%s is %llu, expected %llu..%llu", path, (unsigned long long)x,
                   (unsigned long long)lo, (unsigned long long)hi);
    return 0;
}

/* lo <= x <= hi (hi_open: x < hi); NaN fails every comparison and so is refused too. */
static int d_range(const vctx_t *v, const char *path, double x, double lo, double hi, bool hi_open)
{
    if (!(x >= lo && (hi_open ? x < hi : x <= hi)))
        return bad(v, "%s is %g, expected [%g, %g%c", path, x, lo, hi, hi_open ? ')' : ']');
    return 0;
}

static int d_positive(const vctx_t *v, const char *path, double x)
{
    if (!(x > 0 && isfinite(x)))
        return bad(v, "%s is %g, expected a finite number > 0", path, x);
    return 0;
}

static int d_nonneg(const vctx_t *v, const char *path, double x)
{
    if (!(x >= 0 && isfinite(x)))
        return bad(v, "%s is %g, expected a finite number >= 0", path, x);
    return 0;
}

/* A (trial id, attempt) pair: both present, both from 1 (0 never names a trial or attempt). */
static int check_ref(const vctx_t *v, const Autopeft__TrialRef *r, const char *name)
{
    if (!r)
        return bad(v, "%s missing", name);
    if (!r->has_trial_id)
        return bad(v, "%s.trial_id missing", name);
    if (!r->has_attempt)
        return bad(v, "%s.attempt missing", name);
    if (r->trial_id == 0)
        return bad(v, "%s.trial_id is 0, expected >= 1", name);
    if (r->attempt == 0)
        return bad(v, "%s.attempt is 0, expected >= 1", name);
    return 0;
}

static int check_hello(const vctx_t *v, const Autopeft__Hello *h)
{
    TRY(need_str(v, h->worker_id, "worker_id"));
    TRY(need_str(v, h->host, "host"));
    TRY(need(v, h->has_pid, "pid"));
    TRY(u_range(v, "pid", h->pid, 1, UINT32_MAX));
    TRY(need(v, h->has_cores, "cores"));
    TRY(u_range(v, "cores", h->cores, 1, UINT32_MAX));
    TRY(need_str(v, h->software_version, "software_version"));
    if (h->n_capabilities > MAX_CAPABILITIES)
        return bad(v, "capabilities has %zu entries, at most %d", h->n_capabilities,
                   MAX_CAPABILITIES);
    for (size_t i = 0; i < h->n_capabilities; i++)
        for (size_t j = 0; j < i; j++)
            if (h->capabilities[i] == h->capabilities[j])
                return bad(v, "capabilities[%zu] repeats capabilities[%zu] (%d)", i, j,
                           (int)h->capabilities[i]);
    if (h->running)
        TRY(check_ref(v, h->running, "running"));
    return 0;
}

static int check_welcome(const vctx_t *v, const Autopeft__Welcome *w)
{
    TRY(need_str(v, w->coordinator_id, "coordinator_id"));
    TRY(need_str(v, w->study_name, "study_name"));
    TRY(need(v, w->has_heartbeat_interval_ms, "heartbeat_interval_ms"));
    TRY(u_range(v, "heartbeat_interval_ms", w->heartbeat_interval_ms,
                AUTOPEFT__CONSTANTS__MIN_HEARTBEAT_INTERVAL_MS,
                AUTOPEFT__CONSTANTS__MAX_HEARTBEAT_INTERVAL_MS));
    TRY(need(v, w->has_heartbeat_liveness, "heartbeat_liveness"));
    TRY(u_range(v, "heartbeat_liveness", w->heartbeat_liveness, 1,
                AUTOPEFT__CONSTANTS__MAX_HEARTBEAT_LIVENESS));
    if (w->has_max_frame_bytes)
        TRY(u_range(v, "max_frame_bytes", w->max_frame_bytes,
                    AUTOPEFT__CONSTANTS__MIN_FRAME_LIMIT_BYTES,
                    AUTOPEFT__CONSTANTS__MAX_FRAME_BYTES));
    TRY(need_str(v, w->software_version, "software_version"));
    return 0;
}

static int check_model(const vctx_t *v, const Autopeft__ModelSpec *m)
{
    bool embedded = m->has_embedded_default && m->embedded_default;

    if (embedded && m->path)
        return bad(v, "spec.model: path and embedded_default are exclusive");
    if (!embedded)
        TRY(need_str(v, m->path, "spec.model.path"));
    if (!embedded && m->has_embedded_seed)
        return bad(v, "spec.model.embedded_seed is set without embedded_default");
    return 0;
}

static int check_task(const vctx_t *v, const Autopeft__TaskSpec *t)
{
    bool embedded = t->has_embedded_default && t->embedded_default;
    bool files = t->data_dir || t->train_file || t->dev_file;

    TRY(need_str(v, t->name, "spec.task.name"));
    if (embedded && files)
        return bad(v, "spec.task: embedded_default excludes data_dir, train_file and dev_file");
    if (!embedded && !t->data_dir && !(t->train_file && t->dev_file))
        return bad(v, "spec.task: data_dir, or train_file and dev_file, missing");
    if (t->has_num_labels)
        TRY(u_range(v, "spec.task.num_labels", t->num_labels, 1, UINT32_MAX));
    return 0;
}

static int check_recipe(const vctx_t *v, const Autopeft__Recipe *r)
{
    TRY(need(v, r->has_epochs, "spec.recipe.epochs"));
    TRY(u_range(v, "spec.recipe.epochs", r->epochs, 1, MAX_HISTORY));
    TRY(need(v, r->has_learning_rate, "spec.recipe.learning_rate"));
    TRY(d_positive(v, "spec.recipe.learning_rate", r->learning_rate));
    TRY(need(v, r->has_batch_size, "spec.recipe.batch_size"));
    TRY(u_range(v, "spec.recipe.batch_size", r->batch_size, 1, UINT32_MAX));
    TRY(need(v, r->has_max_length, "spec.recipe.max_length"));
    TRY(u_range(v, "spec.recipe.max_length", r->max_length, 1, UINT32_MAX));
    if (r->has_warmup_ratio)
        TRY(d_range(v, "spec.recipe.warmup_ratio", r->warmup_ratio, 0, 1, false));
    if (r->has_weight_decay)
        TRY(d_nonneg(v, "spec.recipe.weight_decay", r->weight_decay));
    if (r->has_max_grad_norm)
        TRY(d_nonneg(v, "spec.recipe.max_grad_norm", r->max_grad_norm));
    if (r->has_dropout)
        TRY(d_range(v, "spec.recipe.dropout", r->dropout, 0, 1, true));
    if (r->has_lora_alpha)
        TRY(d_positive(v, "spec.recipe.lora_alpha", r->lora_alpha));
    if (r->has_prefix_bottleneck)
        TRY(u_range(v, "spec.recipe.prefix_bottleneck", r->prefix_bottleneck, 1, UINT32_MAX));
    if (r->has_eval_batch_size)
        TRY(u_range(v, "spec.recipe.eval_batch_size", r->eval_batch_size, 1, UINT32_MAX));
    return 0;
}

/* One module's mask: present (with at least one '1') iff the module's size is non-zero, and as
 * long as the other modules' masks, since all describe the same model. The walk has already
 * checked its characters and its length cap. */
static int check_mask(const vctx_t *v, const char *size_name, bool has_size, uint32_t size,
                      const char *mask_name, const char *mask, size_t *len)
{
    size_t n = mask ? strnlen(mask, MAX_LAYERS + 1) : 0;

    if (!has_size)
        size = 0;
    if (size > 0 && n == 0)
        return bad(v, "spec.peft.%s missing: %s is %u", mask_name, size_name, size);
    if (size == 0 && n > 0)
        return bad(v, "spec.peft.%s must be empty: %s is 0", mask_name, size_name);
    if (n == 0)
        return 0;
    if (!memchr(mask, '1', n))
        return bad(v, "spec.peft.%s inserts %s in no layer", mask_name, size_name);
    if (*len != 0 && n != *len)
        return bad(v, "spec.peft.%s has %zu layers, another mask %zu", mask_name, n, *len);
    *len = n;
    return 0;
}

static int check_peft(const vctx_t *v, const Autopeft__PeftConfig *c)
{
    size_t len = 0;

    TRY(check_mask(v, "serial_adapter", c->has_serial_adapter, c->serial_adapter,
                   "serial_layers", c->serial_layers, &len));
    TRY(check_mask(v, "parallel_adapter", c->has_parallel_adapter, c->parallel_adapter,
                   "parallel_layers", c->parallel_layers, &len));
    TRY(check_mask(v, "prefix_length", c->has_prefix_length, c->prefix_length,
                   "prefix_layers", c->prefix_layers, &len));
    TRY(check_mask(v, "lora_rank", c->has_lora_rank, c->lora_rank, "lora_layers",
                   c->lora_layers, &len));
    TRY(check_mask(v, "houlsby_adapter", c->has_houlsby_adapter, c->houlsby_adapter,
                   "houlsby_layers", c->houlsby_layers, &len));
    return 0;
}

static int check_trial(const vctx_t *v, const Autopeft__Trial *t)
{
    const Autopeft__TrialSpec *s = t->spec;
    bool synthetic;

    TRY(check_ref(v, t->ref, "ref"));
    /* A worker matches a result it still holds to the coordinator's study by this name. */
    TRY(need_str(v, t->study_name, "study_name"));
    TRY(need(v, s != NULL, "spec"));
    TRY(need(v, s->model != NULL, "spec.model"));
    TRY(check_model(v, s->model));
    TRY(need(v, s->task != NULL, "spec.task"));
    TRY(check_task(v, s->task));
    TRY(need(v, s->recipe != NULL, "spec.recipe"));
    TRY(check_recipe(v, s->recipe));
    TRY(need(v, s->peft != NULL, "spec.peft"));
    TRY(check_peft(v, s->peft));
    TRY(need(v, s->has_seed, "spec.seed"));
    TRY(need(v, s->has_mode, "spec.mode"));
    synthetic = s->mode == AUTOPEFT__TRIAL_MODE__TRIAL_MODE_SYNTHETIC;
    if (synthetic) {
        const Autopeft__SyntheticSpec *y = s->synthetic;

        TRY(need(v, y != NULL, "spec.synthetic"));
        TRY(need(v, y->has_hidden, "spec.synthetic.hidden"));
        TRY(u_range(v, "spec.synthetic.hidden", y->hidden, 1, UINT32_MAX));
        TRY(need(v, y->has_layers, "spec.synthetic.layers"));
        TRY(u_range(v, "spec.synthetic.layers", y->layers, 1, MAX_LAYERS));
        if (y->has_noise)
            TRY(d_nonneg(v, "spec.synthetic.noise", y->noise));
    } else if (s->synthetic) {
        return bad(v, "spec.synthetic is set but spec.mode is not TRIAL_MODE_SYNTHETIC");
    }
    return 0;
}

static int check_heartbeat(const vctx_t *v, const Autopeft__Heartbeat *h)
{
    if (h->trial)
        TRY(check_ref(v, h->trial, "trial"));
    if (h->has_progress)
        TRY(d_range(v, "progress", h->progress, 0, 1, false));
    return 0;
}

/* Progress.curve: at most MAX_HISTORY points, each with an epoch >= 1 (strictly increasing) and
 * a finite objective; seconds, when given, >= 0. */
static int check_curve(const vctx_t *v, const Autopeft__Progress *p)
{
    if (p->n_curve > MAX_HISTORY)
        return bad(v, "curve has %zu points, at most %d", p->n_curve, MAX_HISTORY);
    for (size_t i = 0; i < p->n_curve; i++) {
        const Autopeft__EpochRecord *e = p->curve[i];

        if (!e || !e->has_epoch)
            return bad(v, "curve[%zu].epoch missing", i);
        if (e->epoch == 0)
            return bad(v, "curve[%zu].epoch is 0, expected >= 1", i);
        if (i > 0 && e->epoch <= p->curve[i - 1]->epoch)
            return bad(v, "curve[%zu].epoch is %u after %u, expected strictly increasing epochs",
                       i, e->epoch, p->curve[i - 1]->epoch);
        if (!e->has_objective)
            return bad(v, "curve[%zu].objective missing", i);
        if (!isfinite(e->objective))
            return bad(v, "curve[%zu].objective is %g, expected a finite number", i,
                       e->objective);
        if (e->has_seconds && !(e->seconds >= 0))
            return bad(v, "curve[%zu].seconds is %g, expected >= 0", i, e->seconds);
    }
    return 0;
}

static int check_progress(const vctx_t *v, const Autopeft__Progress *p)
{
    TRY(check_ref(v, p->trial, "trial"));
    if (p->has_epochs)
        TRY(u_range(v, "epochs", p->epochs, 1, MAX_HISTORY));
    if (p->has_epoch)
        TRY(u_range(v, "epoch", p->epoch, 1, p->has_epochs ? p->epochs : MAX_HISTORY));
    if (p->has_step && p->has_steps_total)
        TRY(u_range(v, "step", p->step, 0, p->steps_total));
    if (p->has_examples_per_s)
        TRY(d_nonneg(v, "examples_per_s", p->examples_per_s));
    if (p->has_eta_s)
        TRY(d_nonneg(v, "eta_s", p->eta_s));
    return check_curve(v, p);
}

static int check_params(const vctx_t *v, const Autopeft__ParamCounts *c)
{
    TRY(need(v, c->has_trainable, "params.trainable"));
    TRY(need(v, c->has_deployed, "params.deployed"));
    TRY(need(v, c->has_backbone, "params.backbone"));
    TRY(u_range(v, "params.backbone", c->backbone, 1, UINT64_MAX));
    TRY(need(v, c->has_percent, "params.percent"));
    TRY(d_nonneg(v, "params.percent", c->percent));
    if (c->has_modules_trainable)
        TRY(u_range(v, "params.modules_trainable", c->modules_trainable, 0, c->trainable));
    if (c->has_modules_deployed)
        TRY(u_range(v, "params.modules_deployed", c->modules_deployed, 0, c->deployed));
    return 0;
}

static int check_result(const vctx_t *v, const Autopeft__Result *r)
{
    TRY(check_ref(v, r->trial, "trial"));
    TRY(need(v, r->has_status, "status"));
    if (r->status == AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED)
        TRY(need_str(v, r->error, "error (status FAILED)"));
    if (r->status == AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK) {
        TRY(need(v, r->has_objective, "objective (status OK)"));
        TRY(need(v, r->params != NULL, "params (status OK)"));
    }
    if (r->params)
        TRY(check_params(v, r->params));
    if (r->n_metrics > MAX_METRICS)
        return bad(v, "metrics has %zu entries, at most %d", r->n_metrics, MAX_METRICS);
    for (size_t i = 0; i < r->n_metrics; i++) {
        const Autopeft__Metric *m = r->metrics[i];

        if (!m || !m->name || !*m->name)
            return bad(v, "metrics[%zu].name missing", i);
        if (!m->has_value)
            return bad(v, "metrics[%zu].value missing", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->name, r->metrics[j]->name) == 0)
                return bad(v, "metrics[%zu] repeats the name of metrics[%zu]", i, j);
    }
    if (r->has_best_epoch)
        TRY(u_range(v, "best_epoch", r->best_epoch, 1,
                    r->has_epochs_run ? r->epochs_run : MAX_HISTORY));
    if (r->n_history > MAX_HISTORY)
        return bad(v, "history has %zu entries, at most %d", r->n_history, MAX_HISTORY);
    for (size_t i = 0; i < r->n_history; i++) {
        const Autopeft__EpochRecord *e = r->history[i];

        if (!e || !e->has_epoch)
            return bad(v, "history[%zu].epoch missing", i);
        if (e->epoch == 0)
            return bad(v, "history[%zu].epoch is 0, expected >= 1", i);
        if (e->has_seconds && !(e->seconds >= 0))
            return bad(v, "history[%zu].seconds is %g, expected >= 0", i, e->seconds);
    }
    if (r->timings) {
        const Autopeft__Timings *t = r->timings;
        const struct {
            bool has;
            double x;
            const char *name;
        } ts[] = {
            {t->has_load_s, t->load_s, "timings.load_s"},
            {t->has_tokenize_s, t->tokenize_s, "timings.tokenize_s"},
            {t->has_train_s, t->train_s, "timings.train_s"},
            {t->has_eval_s, t->eval_s, "timings.eval_s"},
            {t->has_total_s, t->total_s, "timings.total_s"},
            {t->has_examples_per_s, t->examples_per_s, "timings.examples_per_s"},
        };
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i].has)
                TRY(d_nonneg(v, ts[i].name, ts[i].x));
    }
    return 0;
}

static int check_error(const vctx_t *v, const Autopeft__Error *e)
{
    TRY(need(v, e->has_code, "code"));
    if (e->has_expected_version)
        TRY(u_range(v, "expected_version", e->expected_version, 1, UINT16_MAX));
    return 0;
}

int wire_validate(Autopeft__Kind kind, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = wire_descriptor(kind);
    vctx_t v = {wire_kind_name(kind)};

    if (!desc)
        return err_set(ERR_INVAL, "unknown message kind %d", (int)kind);
    if (!msg)
        return bad(&v, "no message");
    if (msg->descriptor != desc)
        return bad(&v, "message is a %s, expected a %s", msg->descriptor->short_name,
                   desc->short_name);
    /* The walk first: it also checks that every submessage has its schema type, which the
     * rules below rely on when they follow pointers of a message built by hand. */
    TRY(walk(&v, msg, NULL));
    switch (kind) {
    case AUTOPEFT__KIND__KIND_HELLO:
        TRY(check_hello(&v, (const Autopeft__Hello *)msg));
        break;
    case AUTOPEFT__KIND__KIND_WELCOME:
        TRY(check_welcome(&v, (const Autopeft__Welcome *)msg));
        break;
    case AUTOPEFT__KIND__KIND_TRIAL:
        TRY(check_trial(&v, (const Autopeft__Trial *)msg));
        break;
    case AUTOPEFT__KIND__KIND_HEARTBEAT:
        TRY(check_heartbeat(&v, (const Autopeft__Heartbeat *)msg));
        break;
    case AUTOPEFT__KIND__KIND_PROGRESS:
        TRY(check_progress(&v, (const Autopeft__Progress *)msg));
        break;
    case AUTOPEFT__KIND__KIND_RESULT:
        TRY(check_result(&v, (const Autopeft__Result *)msg));
        break;
    case AUTOPEFT__KIND__KIND_ACK:
        TRY(check_ref(&v, ((const Autopeft__Ack *)msg)->trial, "trial"));
        TRY(need(&v, ((const Autopeft__Ack *)msg)->has_status, "status"));
        break;
    case AUTOPEFT__KIND__KIND_CANCEL:
        TRY(check_ref(&v, ((const Autopeft__Cancel *)msg)->trial, "trial"));
        break;
    case AUTOPEFT__KIND__KIND_ERROR:
        TRY(check_error(&v, (const Autopeft__Error *)msg));
        break;
    default: /* SHUTDOWN and GOODBYE: an optional reason, checked by the walk */
        break;
    }
    return 0;
}

/* An ERROR of another protocol version, reduced to fields 1-3 by wire_decode. Its code may be
 * one added after this build (kept: the receiver reports the number); a refused kind this build
 * does not know names nothing here and is dropped. The text follows this version's rules. */
int wire__check_foreign_error(Autopeft__Error *e)
{
    vctx_t v = {"ERROR"};

    TRY(need(&v, e->has_code, "code"));
    if (e->code == 0)
        return bad(&v, "code has the unspecified value 0");
    if (e->has_refused_kind && !wire_descriptor(e->refused_kind)) {
        e->has_refused_kind = 0;
        e->refused_kind = AUTOPEFT__KIND__KIND_UNSPECIFIED;
    }
    if (e->message) {
        path_t p = {NULL, "message", -1};
        TRY(check_string(&v, &p, e->message, STR_TEXT));
    }
    return 0;
}
