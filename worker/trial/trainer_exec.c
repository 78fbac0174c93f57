/* The exec trainer (trainer.h): `autopeft-worker --exec CMD` runs CMD under /bin/sh for each
 * trial, in its own process group.
 *
 *   stdin   the trial as one JSON object (docs/guide.md, "Bring your own trainer"), then EOF
 *   env     AUTOPEFT_TRIAL_ID, AUTOPEFT_ATTEMPT, AUTOPEFT_STUDY, AUTOPEFT_SEED, AUTOPEFT_CONFIG,
 *           AUTOPEFT_SA/PA/PT/LORA (sizes) and AUTOPEFT_SA_LAYERS/... (masks), AUTOPEFT_MODEL_PATH,
 *           AUTOPEFT_TASK, AUTOPEFT_DATA_DIR, AUTOPEFT_TRAIN_FILE, AUTOPEFT_DEV_FILE,
 *           AUTOPEFT_EPOCHS, AUTOPEFT_LEARNING_RATE, AUTOPEFT_BATCH_SIZE, AUTOPEFT_MAX_LENGTH,
 *           AUTOPEFT_PRECISION (fp32, bf16 or fp16),
 *           AUTOPEFT_THREADS (and OMP_NUM_THREADS), AUTOPEFT_SAVE_DIR, AUTOPEFT_WORKER_ID,
 *           AUTOPEFT_BIN (the autopeft program, for `autopeft inputs`)
 *   stdout  the result: the last line that is a JSON object counts (other lines are ignored)
 *   stderr  progress: "PROGRESS {json}" lines set epoch/epochs/step/steps_total/loss/metric/
 *           fraction/message, and one with "epoch" and "objective" adds that evaluated epoch
 *           to the learning curve (the result's history); any other line is forwarded as the
 *           progress message; the last lines are the error text of a failure
 *   exit    0 with a result line: OK (or the status the line says); non-zero: FAILED with the
 *           last stderr lines (retryable when killed by a signal or exit status 75, EX_TEMPFAIL)
 * On CANCEL the group gets SIGTERM, then SIGKILL after the grace period. On a stop the same,
 * and the result is STOPPED: the command's own result line when it printed one before it
 * exited, else the curve it reported. When the command exits, whatever it left running in its
 * process group is killed. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hfconfig.h"
#include "common/mem.h"
#include "worker/trial/trainer.h"
#include "worker/trial/trial_spec_json.h"

#define STDOUT_MAX (1 << 20)     /* a result larger than this is refused */
#define LINE_MAX_BYTES 4096      /* longer stderr lines are cut */
#define TAIL_LINES 20            /* stderr lines kept for a failure's text */
#define MAX_ENV 4096

extern char **environ;

typedef struct {
    trainer_t base;
    char *cmd;
    int grace_ms;
} exec_trainer_t;

/* ---- the trial as JSON and environment ----------------------------------------------------- */

static void jstr(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

/* The configuration's masks as the wire carries them: a '0'/'1' per layer, bottom first, for
 * each active module; off for a module of size 0 (the coordinator sends it no mask). */
typedef struct {
    bool on[SPACE_NMODULES];
    char text[SPACE_NMODULES][SPACE_MAX_LAYERS + 1];
} masks_t;

static void masks_of(const space_config_t *c, masks_t *k)
{
    memset(k, 0, sizeof *k);
    for (int m = 0; m < SPACE_NMODULES; m++) {
        k->on[m] = space_config_active(c, (space_module_t)m);
        for (int l = 0; k->on[m] && l < c->layers; l++)
            k->text[m][l] = space_config_layer(c, (space_module_t)m, l) ? '1' : '0';
    }
}

static json_t *model_json(const trial_spec_t *s)
{
    json_t *m = json_object();

    jstr(m, "path", s->model_dir);
    if (s->model_embedded) {
        json_object_set_new(m, "embedded_default", json_true());
        json_object_set_new(m, "embedded_seed", json_integer((json_int_t)s->model_seed));
    }
    return m;
}

static json_t *task_json(const trial_spec_t *s)
{
    json_t *k = json_object();

    jstr(k, "name", s->task);
    jstr(k, "data_dir", s->data_dir);
    jstr(k, "train_file", s->train_file);
    jstr(k, "dev_file", s->dev_file);
    jstr(k, "format", s->format);
    jstr(k, "text_column", s->text_column);
    jstr(k, "pair_column", s->pair_column);
    jstr(k, "label_column", s->label_column);
    jstr(k, "metric", s->metric);
    if (s->num_labels > 0)
        json_object_set_new(k, "num_labels", json_integer(s->num_labels));
    if (s->task_embedded)
        json_object_set_new(k, "embedded_default", json_true());
    return k;
}

static json_t *recipe_json(const trial_spec_t *s)
{
    json_t *rc = json_object();

    json_object_set_new(rc, "epochs", json_integer(s->epochs));
    json_object_set_new(rc, "learning_rate", json_real(s->learning_rate));
    json_object_set_new(rc, "batch_size", json_integer(s->batch_size));
    json_object_set_new(rc, "max_length", json_integer(s->max_length));
    json_object_set_new(rc, "warmup_ratio", json_real(s->warmup_ratio));
    json_object_set_new(rc, "weight_decay", json_real(s->weight_decay));
    json_object_set_new(rc, "max_grad_norm", json_real(s->max_grad_norm));
    json_object_set_new(rc, "dropout", json_real(s->dropout));
    json_object_set_new(rc, "max_train_examples", json_integer(s->max_train_examples));
    json_object_set_new(rc, "max_eval_examples", json_integer(s->max_eval_examples));
    json_object_set_new(rc, "patience", json_integer(s->patience));
    json_object_set_new(rc, "lora_alpha", json_real(s->lora_alpha));
    json_object_set_new(rc, "prefix_bottleneck", json_integer(s->prefix_bottleneck));
    json_object_set_new(rc, "eval_batch_size", json_integer(s->eval_batch_size));
    json_object_set_new(rc, "full_finetune", json_boolean(s->full_finetune));
    json_object_set_new(rc, "precision", json_string(precision_name(s->precision)));
    return rc;
}

static json_t *peft_json(const trainer_trial_t *t, const masks_t *k)
{
    json_t *pf = json_object();

    for (int m = 0; m < SPACE_NMODULES; m++)
        json_object_set_new(pf, trial_exec_size_keys[m], json_integer(t->spec.config.size[m]));
    for (int m = 0; m < SPACE_NMODULES; m++)
        jstr(pf, trial_exec_mask_keys[m], k->on[m] ? k->text[m] : NULL);
    jstr(pf, "text", t->config_text);
    return pf;
}

static char *spec_json(const trainer_trial_t *t, const masks_t *k, const trainer_env_t *env)
{
    json_t *o = json_object();
    char *text;

    json_object_set_new(o, "trial_id", json_integer((json_int_t)t->trial_id));
    json_object_set_new(o, "attempt", json_integer(t->attempt));
    jstr(o, "study", t->study);
    json_object_set_new(o, "seed", json_integer((json_int_t)t->spec.seed));
    json_object_set_new(o, "data_seed", json_integer((json_int_t)(
                                            t->spec.data_seed ? t->spec.data_seed : t->spec.seed)));
    json_object_set_new(o, "threads", json_integer(env->threads));
    jstr(o, "worker_id", env->worker_id);
    jstr(o, "save_dir", t->spec.save_dir);
    json_object_set_new(o, "model", model_json(&t->spec));
    json_object_set_new(o, "task", task_json(&t->spec));
    json_object_set_new(o, "recipe", recipe_json(&t->spec));
    json_object_set_new(o, "peft", peft_json(t, k));
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

typedef struct {
    char *v[MAX_ENV + 64];
    int n;
} envv_t;

static void env_add(envv_t *e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void env_add(envv_t *e, const char *key, const char *fmt, ...)
{
    char val[8192], *s;
    va_list ap;
    size_t n;

    if (e->n >= (int)(sizeof e->v / sizeof e->v[0]) - 1)
        return;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    n = strlen(key) + strlen(val) + 2;
    s = malloc(n);
    if (!s)
        return;
    snprintf(s, n, "%s=%s", key, val);
    e->v[e->n++] = s;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* The `autopeft` program beside this one (autopeft-worker and autopeft are installed
 * together; `autopeft worker` is the program itself), for a trainer that asks it for the
 * trial's inputs (`autopeft inputs`, docs/training.md); "autopeft" (PATH) when there is none. */
static const char *autopeft_program(void)
{
    static char path[PATH_MAX];
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;

    if (n <= 0)
        return "autopeft";
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash || (size_t)(slash - self) + sizeof "/autopeft" > sizeof path)
        return "autopeft";
    snprintf(path, sizeof path, "%.*s/autopeft", (int)(slash - self), self);
    return access(path, X_OK) == 0 ? path : "autopeft";
}

static void build_env(envv_t *e, const trainer_trial_t *t, const masks_t *k,
                      const trainer_env_t *env)
{
    const trial_spec_t *s = &t->spec;
    const space_config_t *c = &s->config;
    static const char *const skip[] = {"AUTOPEFT_", "OMP_NUM_THREADS=", "OPENBLAS_NUM_THREADS=",
                                       "MKL_NUM_THREADS="};

    e->n = 0;
    for (char **v = environ; *v && e->n < MAX_ENV; v++) {
        bool ours = false;
        for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
            ours |= strncmp(*v, skip[i], strlen(skip[i])) == 0;
        if (!ours)
            e->v[e->n++] = strdup(*v);
    }
    env_add(e, "AUTOPEFT_TRIAL_ID", "%llu", (unsigned long long)t->trial_id);
    env_add(e, "AUTOPEFT_ATTEMPT", "%u", t->attempt);
    env_add(e, "AUTOPEFT_STUDY", "%s", t->study);
    env_add(e, "AUTOPEFT_SEED", "%llu", (unsigned long long)s->seed);
    env_add(e, "AUTOPEFT_DATA_SEED", "%llu",
            (unsigned long long)(s->data_seed ? s->data_seed : s->seed));
    env_add(e, "AUTOPEFT_CONFIG", "%s", or_empty(t->config_text));
    env_add(e, "AUTOPEFT_SA", "%u", c->size[SPACE_SA]);
    env_add(e, "AUTOPEFT_PA", "%u", c->size[SPACE_PA]);
    env_add(e, "AUTOPEFT_PT", "%u", c->size[SPACE_PT]);
    env_add(e, "AUTOPEFT_LORA", "%u", c->size[SPACE_LORA]);
    env_add(e, "AUTOPEFT_HA", "%u", c->size[SPACE_HA]);
    env_add(e, "AUTOPEFT_SA_LAYERS", "%s", k->text[SPACE_SA]);
    env_add(e, "AUTOPEFT_PA_LAYERS", "%s", k->text[SPACE_PA]);
    env_add(e, "AUTOPEFT_PT_LAYERS", "%s", k->text[SPACE_PT]);
    env_add(e, "AUTOPEFT_LORA_LAYERS", "%s", k->text[SPACE_LORA]);
    env_add(e, "AUTOPEFT_HA_LAYERS", "%s", k->text[SPACE_HA]);
    env_add(e, "AUTOPEFT_MODEL_PATH", "%s", or_empty(s->model_dir));
    env_add(e, "AUTOPEFT_TASK", "%s", s->task);
    env_add(e, "AUTOPEFT_DATA_DIR", "%s", or_empty(s->data_dir));
    env_add(e, "AUTOPEFT_TRAIN_FILE", "%s", or_empty(s->train_file));
    env_add(e, "AUTOPEFT_DEV_FILE", "%s", or_empty(s->dev_file));
    env_add(e, "AUTOPEFT_EPOCHS", "%d", s->epochs);
    env_add(e, "AUTOPEFT_LEARNING_RATE", "%g", s->learning_rate);
    env_add(e, "AUTOPEFT_BATCH_SIZE", "%d", s->batch_size);
    env_add(e, "AUTOPEFT_MAX_LENGTH", "%d", s->max_length);
    env_add(e, "AUTOPEFT_PRECISION", "%s", precision_name(s->precision));
    env_add(e, "AUTOPEFT_THREADS", "%d", env->threads);
    env_add(e, "OMP_NUM_THREADS", "%d", env->threads);
    env_add(e, "OPENBLAS_NUM_THREADS", "%d", env->threads);
    env_add(e, "MKL_NUM_THREADS", "%d", env->threads);
    env_add(e, "AUTOPEFT_SAVE_DIR", "%s", or_empty(s->save_dir));
    env_add(e, "AUTOPEFT_WORKER_ID", "%s", or_empty(env->worker_id));
    env_add(e, "AUTOPEFT_BIN", "%s", autopeft_program());
    e->v[e->n] = NULL;
}

static void env_free(envv_t *e)
{
    for (int i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
}

/* ---- the result line ---------------------------------------------------------------------- */

static double jnum(json_t *o, const char *k, bool *has)
{
    json_t *v = json_object_get(o, k);

    *has = json_is_number(v);
    return *has ? json_number_value(v) : 0;
}

static uint64_t jcount(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* The last line of text that is a JSON object (text is cut there, in place), or NULL; *line
 * is that line. */
static json_t *last_object_line(char *text, char **line)
{
    for (char *p = text + strlen(text); p > text;) {
        char *start;
        json_t *o;
        while (p > text && (p[-1] == '\n' || p[-1] == '\r' || p[-1] == ' '))
            *--p = '\0';
        start = p;
        while (start > text && start[-1] != '\n')
            start--;
        if (*start == '{') {
            o = json_loads(start, JSON_REJECT_DUPLICATES, NULL);
            if (json_is_object(o)) {
                *line = start;
                return o;
            }
            json_decref(o);
        }
        p = start;
        if (p > text)
            *--p = '\0';
    }
    return NULL;
}

/* The result's "metrics" object: every finite number, up to TRAINER_MAX_METRICS. */
static void read_metrics(json_t *v, trainer_result_t *out)
{
    const char *key;
    json_t *val;

    if (!json_is_object(v))
        return;
    json_object_foreach(v, key, val) {
        if (out->nmetrics < TRAINER_MAX_METRICS && json_is_number(val) &&
            isfinite(json_number_value(val))) {
            snprintf(out->metrics[out->nmetrics].name, TRAINER_NAME_MAX, "%s", key);
            out->metrics[out->nmetrics++].value = json_number_value(val);
        }
    }
}

/* The result's "params" object; the totals and the percentage it leaves out follow from the
 * rest. has_params when the counts are usable. */
static void read_params(json_t *v, trainer_result_t *out)
{
    bool has;

    if (!json_is_object(v))
        return;
    out->backbone = jcount(v, "backbone");
    out->modules_deployed = jcount(v, "modules_deployed");
    out->modules_trainable = jcount(v, "modules_trainable");
    out->head = jcount(v, "head");
    out->trainable = jcount(v, "trainable");
    out->deployed = jcount(v, "deployed");
    out->percent = jnum(v, "percent", &has);
    if (!has && out->backbone)
        out->percent = 100.0 * (double)out->modules_deployed / (double)out->backbone;
    if (!out->trainable)
        out->trainable = out->modules_trainable + out->head;
    if (!out->deployed)
        out->deployed = out->modules_deployed + out->head;
    out->has_params = out->backbone > 0 && out->trainable > 0 && out->deployed > 0 &&
                      out->percent >= 0 && isfinite(out->percent);
}

/* The counts from the model's own config.json, as the built-in trainer would; false (err_set)
 * when they cannot be counted. */
static bool count_params(const trainer_trial_t *t, trainer_result_t *out)
{
    const char *path = t->spec.model_dir;
    int labels = t->spec.num_labels > 0 ? t->spec.num_labels : 2;
    shape_t sh;

    if (!path) {
        err_set(ERR_INVAL, "the trial names no model path");
        return false;
    }
    return hfconfig_shape(path, labels, &sh) == 0 &&
           trainer_counts(t, sh.hidden, sh.layers, out) == 0;
}

/* A result line o (the text `line`) into *out: FAILED as it says, or OK. */
static void read_result(json_t *o, const char *line, const trainer_trial_t *t,
                        trainer_result_t *out)
{
    json_t *v = json_object_get(o, "status");
    bool has;

    if (json_is_string(v) && strcmp(json_string_value(v), "ok") != 0) {
        json_t *e = json_object_get(o, "error");
        trainer_fail(out, json_is_true(json_object_get(o, "retryable")), "%s",
                     json_is_string(e) ? json_string_value(e) : json_string_value(v));
        return;
    }
    out->objective = jnum(o, "objective", &has);
    if (!has || !isfinite(out->objective)) {
        trainer_fail(out, false, "the result line has no finite \"objective\": %.200s", line);
        return;
    }
    out->status = TRAINER_STATUS_OK;
    v = json_object_get(o, "objective_name");
    if (json_is_string(v))
        snprintf(out->objective_name, sizeof out->objective_name, "%s", json_string_value(v));
    read_metrics(json_object_get(o, "metrics"), out);
    out->best_epoch = (uint32_t)jcount(o, "best_epoch");
    out->epochs_run = (uint32_t)jcount(o, "epochs_run");
    out->total_s = jnum(o, "total_s", &has);
    read_params(json_object_get(o, "params"), out);
    if (!out->has_params && !count_params(t, out))
        trainer_fail(out, false, "the result has no \"params\" and they cannot be counted "
                     "from the model's config.json: %s", err_msg());
}

/* The last stdout line that is a JSON object, into *out. */
static void parse_result(char *out_text, const trainer_trial_t *t, trainer_result_t *out)
{
    char *line = NULL;
    json_t *o = last_object_line(out_text, &line);

    if (!o) {
        trainer_fail(out, false, "the command exited 0 but printed no JSON result line on stdout");
        return;
    }
    read_result(o, line, t, out);
    json_decref(o);
}

/* ---- running the command ------------------------------------------------------------------ */

typedef struct {
    char *line;
    size_t len;
    char tail[TAIL_LINES][512];
    int ntail;
} errbuf_t;

/* The curve so far: out->history, where a PROGRESS line with "epoch" and a finite "objective"
 * adds its epoch when it comes after the last one (a repeated or earlier epoch is ignored).
 * true when it did. */
static bool curve_point(json_t *o, trainer_result_t *out, double t0)
{
    uint32_t epoch = (uint32_t)jcount(o, "epoch");
    trainer_epoch_t *h;
    bool has;
    double obj = jnum(o, "objective", &has), loss;

    if (!has || !isfinite(obj) || epoch < 1 || out->nhistory >= TRAINER_MAX_HISTORY ||
        (out->nhistory > 0 && epoch <= out->history[out->nhistory - 1].epoch))
        return false;
    h = &out->history[out->nhistory++];
    h->epoch = epoch;
    h->objective = obj;
    loss = jnum(o, "train_loss", &has);
    if (!has)
        loss = jnum(o, "loss", &has);
    h->train_loss = has && isfinite(loss) ? (float)loss : 0;
    h->seconds = clock_s() - t0;
    return true;
}

static void stderr_line(errbuf_t *eb, char *line, const trainer_env_t *env,
                        trainer_result_t *out, double t0)
{
    trainer_progress_t p;
    json_t *o;

    memset(&p, 0, sizeof p);
    p.state = TRAINER_STATE_TRAINING;
    if (strncmp(line, "PROGRESS ", 9) == 0 &&
        (o = json_loads(line + 9, 0, NULL)) != NULL) {
        bool has;
        json_t *m = json_object_get(o, "message");
        p.fraction = jnum(o, "fraction", &has);
        p.epoch = (uint32_t)jcount(o, "epoch");
        p.epochs = (uint32_t)jcount(o, "epochs");
        p.step = jcount(o, "step");
        p.steps_total = jcount(o, "steps_total");
        p.loss = (float)jnum(o, "loss", &p.has_loss);
        p.metric = jnum(o, "metric", &p.has_metric);
        p.eta_s = jnum(o, "eta_s", &has);
        if (json_is_string(m))
            p.message = json_string_value(m);
        if (curve_point(o, out, t0)) {
            p.curve = out->history;
            p.ncurve = out->nhistory;
            if (!p.has_metric) {
                p.has_metric = true;
                p.metric = out->history[out->nhistory - 1].objective;
            }
        }
        env->progress(env->ctx, &p);
        json_decref(o);
        return;
    }
    snprintf(eb->tail[eb->ntail % TAIL_LINES], sizeof eb->tail[0], "%s", line);
    eb->ntail++;
    p.message = line;
    p.state = TRAINER_STATE_TRAINING;
    env->progress(env->ctx, &p);
}

static void stderr_data(errbuf_t *eb, const char *buf, size_t n, const trainer_env_t *env,
                        trainer_result_t *out, double t0)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            eb->line[eb->len] = '\0';
            stderr_line(eb, eb->line, env, out, t0);
            eb->len = 0;
        } else if (eb->len < LINE_MAX_BYTES - 1) {
            eb->line[eb->len++] = buf[i];
        }
    }
}

static void tail_text(const errbuf_t *eb, char *out, size_t len)
{
    int first = eb->ntail > TAIL_LINES ? eb->ntail - TAIL_LINES : 0;
    size_t used = 0;

    out[0] = '\0';
    for (int i = first; i < eb->ntail && used + 2 < len; i++) {
        int w = snprintf(out + used, len - used, "%s%s", used ? "\n" : "",
                         eb->tail[i % TAIL_LINES]);
        if (w < 0)
            break;
        used += (size_t)w < len - used ? (size_t)w : len - used - 1;
    }
}

/* write(2) to a pipe whose reader may be gone: EPIPE instead of a SIGPIPE that would kill the
 * whole worker (whatever the program's own SIGPIPE disposition). The signal is blocked on this
 * thread for the call, and a pending one it raised is consumed. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old;
    struct timespec zero = {0, 0};
    ssize_t w;
    int e;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    w = write(fd, buf, len);
    e = errno;
    if (w < 0 && e == EPIPE)
        while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE) {
        }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return w;
}

static void close_fds_from(int lowest)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0) == 0)
        return;
#endif
    for (int fd = lowest; fd < 65536; fd++)
        close(fd);
}

/* One run of the command: its pipes and process group, and what it has said so far. */
typedef struct {
    const exec_trainer_t *x;
    const trainer_env_t *env;
    trainer_result_t *out;         /* its curve so far is out->history */
    double t0;                     /* when the attempt started */
    int in[2], po[2], pe[2];       /* its stdin, stdout and stderr */
    pid_t pid;
    char *spec;                    /* the trial's JSON, written to stdin */
    size_t spec_len, spec_off;
    char *obuf;                    /* stdout, up to STDOUT_MAX bytes */
    size_t olen;
    bool overflow;                 /* it wrote more than that */
    errbuf_t eb;                   /* stderr */
    char eline[LINE_MAX_BYTES];
    bool out_open, err_open, exited, signalled;
    int status;                    /* waitpid's, once exited */
    double term_at, exit_at;       /* when SIGTERM was sent, when it exited */
} child_t;

/* Starts the command in its own process group, its stdin, stdout and stderr on the pipes
 * (already open), with environment envv. */
static int child_start(child_t *c, char *const *envv)
{
    c->pid = fork();
    if (c->pid < 0)
        return err_set(ERR_IO, "fork: %s", strerror(errno));
    if (c->pid == 0) {
        setpgid(0, 0);
        dup2(c->in[0], 0);
        dup2(c->po[1], 1);
        dup2(c->pe[1], 2);
        close_fds_from(3);
        signal(SIGPIPE, SIG_DFL);
        execve("/bin/sh", (char *[]){"sh", "-c", c->x->cmd, NULL}, envv);
        _exit(127);
    }
    setpgid(c->pid, c->pid); /* also here: no race with the first kill */
    close(c->in[0]);
    close(c->po[1]);
    close(c->pe[1]);
    c->in[0] = c->po[1] = c->pe[1] = -1;
    fcntl(c->in[1], F_SETFL, O_NONBLOCK);
    return 0;
}

/* Writes what stdin can take of the JSON; closes stdin once it is all written (or the command
 * does not read it). */
static void feed_stdin(child_t *c)
{
    ssize_t w = write_nosigpipe(c->in[1], c->spec + c->spec_off, c->spec_len - c->spec_off);

    if (w > 0)
        c->spec_off += (size_t)w;
    if (w < 0 && errno != EAGAIN)
        c->spec_off = c->spec_len; /* the command does not read stdin: fine */
    if (c->spec_off >= c->spec_len) {
        close(c->in[1]);
        c->in[1] = -1;
    }
}

/* One round of the pipes: waits up to 100 ms for any of them, then feeds stdin and reads
 * stdout (kept) and stderr (progress and the error's tail). */
static void pump(child_t *c)
{
    struct pollfd fds[3];
    int n = 0, io = -1, oo = -1, eo = -1;
    char buf[8192];

    if (c->in[1] >= 0) {
        fds[n] = (struct pollfd){c->in[1], POLLOUT, 0};
        io = n++;
    }
    if (c->out_open) {
        fds[n] = (struct pollfd){c->po[0], POLLIN, 0};
        oo = n++;
    }
    if (c->err_open) {
        fds[n] = (struct pollfd){c->pe[0], POLLIN, 0};
        eo = n++;
    }
    poll(fds, (nfds_t)n, 100);
    if (io >= 0 && fds[io].revents)
        feed_stdin(c);
    if (oo >= 0 && fds[oo].revents) {
        ssize_t r = read(c->po[0], buf, sizeof buf);
        if (r <= 0) {
            c->out_open = false;
        } else if (c->olen + (size_t)r > STDOUT_MAX) {
            c->overflow = true;
        } else {
            memcpy(c->obuf + c->olen, buf, (size_t)r);
            c->olen += (size_t)r;
        }
    }
    if (eo >= 0 && fds[eo].revents) {
        ssize_t r = read(c->pe[0], buf, sizeof buf);
        if (r <= 0)
            c->err_open = false;
        else
            stderr_data(&c->eb, buf, (size_t)r, c->env, c->out, c->t0);
    }
}

/* Notices the exit, kills what the group leaves holding the pipes, and passes a cancel on
 * (SIGTERM, then SIGKILL after the grace). false when waiting for the pipes is over. */
static bool watch(child_t *c)
{
    double grace_s = c->x->grace_ms / 1000.0;

    if (!c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
        c->exited = true;
        c->exit_at = clock_s();
    }
    /* Leftovers of the group that keep the pipes open after the command exited. */
    if (c->exited && (c->out_open || c->err_open) &&
        clock_s() - c->exit_at > (c->signalled ? grace_s : 1.0)) {
        kill(-c->pid, SIGKILL);
        if (clock_s() - c->exit_at > 3.0 + grace_s)
            return false;
    }
    if (atomic_load(c->env->cancel) && !c->exited) {
        if (!c->signalled) {
            kill(-c->pid, SIGTERM);
            c->signalled = true;
            c->term_at = clock_s();
        } else if ((clock_s() - c->term_at) * 1000 > c->x->grace_ms) {
            kill(-c->pid, SIGKILL);
        }
    }
    return true;
}

/* A stopped command's result: its own result line when it printed one (its objective and
 * counts, the curve as history), else the curve it reported, with the counts from the model's
 * config.json when they can be had. STOPPED either way: a stop is no failure. */
static void conclude_stopped(child_t *c, const trainer_trial_t *t, trainer_result_t *out)
{
    uint32_t epochs = (uint32_t)t->spec.epochs;
    char *line = NULL;
    json_t *o = c->overflow ? NULL : last_object_line(c->obuf, &line);

    if (o) {
        read_result(o, line, t, out);
        json_decref(o);
    }
    if (o && out->status == TRAINER_STATUS_OK) {
        out->status = TRAINER_STATUS_STOPPED;
        if (!out->epochs_run && out->nhistory)
            out->epochs_run = out->history[out->nhistory - 1].epoch;
        if (!out->best_epoch)
            out->best_epoch = out->epochs_run;
        snprintf(out->error, sizeof out->error, "stopped; the command reported its result");
        return;
    }
    /* No usable result line: what the curve says (a failure the line reported included). */
    out->nmetrics = 0;
    out->objective_name[0] = '\0';
    trainer_stop(out, epochs);
    if (!out->has_params)
        count_params(t, out);
}

/* After the command: what its exit, stdout and stderr say, into *out. */
static void conclude(child_t *c, const trainer_trial_t *t, double t0, trainer_result_t *out)
{
    char why[2048];

    kill(-c->pid, SIGKILL); /* nothing of this trial may outlive it */
    c->obuf[c->olen] = '\0';
    if (c->eb.len) {
        c->eb.line[c->eb.len] = '\0';
        stderr_line(&c->eb, c->eb.line, c->env, out, t0);
    }
    out->total_s = clock_s() - t0;
    tail_text(&c->eb, why, sizeof why);
    if (c->signalled && trainer_stopping(c->env)) {
        conclude_stopped(c, t, out);
    } else if (c->signalled) {
        out->status = TRAINER_STATUS_CANCELLED;
        snprintf(out->error, sizeof out->error, "cancelled");
    } else if (WIFSIGNALED(c->status)) {
        trainer_fail(out, true, "the command was killed by signal %d (%s)%s%s",
                     WTERMSIG(c->status), strsignal(WTERMSIG(c->status)), why[0] ? ": " : "",
                     why);
    } else if (WEXITSTATUS(c->status) != 0) {
        trainer_fail(out, WEXITSTATUS(c->status) == 75, "the command exited with status %d%s%s",
                     WEXITSTATUS(c->status), why[0] ? ": " : "", why);
    } else if (c->overflow) {
        trainer_fail(out, false, "the command wrote more than %d bytes to stdout", STDOUT_MAX);
    } else {
        double total = out->total_s;
        parse_result(c->obuf, t, out);
        if (out->total_s <= 0)
            out->total_s = total;
    }
}

static void child_close(child_t *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->in[i] >= 0)
            close(c->in[i]);
        if (c->po[i] >= 0)
            close(c->po[i]);
        if (c->pe[i] >= 0)
            close(c->pe[i]);
    }
    free(c->spec);
    free(c->obuf);
}

static int exec_run(trainer_t *tr, const trainer_trial_t *t, const trainer_env_t *env,
                    trainer_result_t *out)
{
    double t0 = clock_s();
    child_t c = {.x = (const exec_trainer_t *)tr, .env = env, .out = out, .t0 = t0,
                 .in = {-1, -1}, .po = {-1, -1}, .pe = {-1, -1}, .out_open = true,
                 .err_open = true};
    envv_t *ev = mem_alloc(1, sizeof *ev, "environment");
    masks_t masks;
    int rc = 0;

    c.eb.line = c.eline;
    /* The command writes its weights into save_dir as it likes; the folder is made for it, as
     * the built-in trainer makes its own. Another worker may see the shared filesystem where
     * this one cannot: retryable. */
    if (t->spec.save_dir && file_mkdirs(t->spec.save_dir) != 0) {
        trainer_fail(out, true, "save_dir: %s", err_msg());
        goto out;
    }
    masks_of(&t->spec.config, &masks);
    c.spec = spec_json(t, &masks, env);
    if (!c.spec || !ev) {
        rc = err_set(ERR_NOMEM, "building the trial's JSON");
        goto out;
    }
    c.spec_len = strlen(c.spec);
    c.obuf = mem_alloc(STDOUT_MAX + 1, 1, "stdout buffer");
    if (!c.obuf || pipe(c.in) != 0 || pipe(c.po) != 0 || pipe(c.pe) != 0) {
        rc = err_set(ERR_IO, "pipes: %s", strerror(errno));
        goto out;
    }
    build_env(ev, t, &masks, env);
    if ((rc = child_start(&c, ev->v)) != 0)
        goto out;
    while (!c.exited || c.out_open || c.err_open) {
        pump(&c);
        if (!watch(&c))
            break;
    }
    conclude(&c, t, t0, out);
out:
    if (ev) {
        env_free(ev);
        free(ev);
    }
    child_close(&c);
    return rc;
}

static void exec_free(trainer_t *t)
{
    exec_trainer_t *x = (exec_trainer_t *)t;

    free(x->cmd);
    free(x);
}

static const trainer_ops_t exec_ops = {
    .name = "exec",
    .kind = TRAINER_KIND_EXEC,
    .mode = TRAINER_MODE_TRAIN,
    .run = exec_run,
    .free = exec_free,
};

trainer_t *trainer_exec_new(const char *cmd, int grace_ms)
{
    exec_trainer_t *x;

    if (!cmd || !*cmd) {
        err_set(ERR_INVAL, "--exec needs a command");
        return NULL;
    }
    x = mem_alloc(1, sizeof *x, "exec trainer");
    if (!x)
        return NULL;
    x->base.ops = &exec_ops;
    x->cmd = mem_strdup(cmd);
    x->grace_ms = grace_ms > 0 ? grace_ms : 5000;
    if (!x->cmd) {
        free(x);
        return NULL;
    }
    return &x->base;
}
