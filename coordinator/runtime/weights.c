/* The trained weights a study keeps (weights.h). */
#include "coordinator/runtime/weights.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/parse.h"
#include "coordinator/search/pareto.h"

/* What autopeft writes into a trial's folder (worker/trial/trial_save.c): the only files
 * pruning deletes. */
static const char *const saved_files[] = {"peft.safetensors", "trial.json"};

struct weights {
    config_keep_t keep;
    char root[WEIGHTS_ROOT_MAX + 1];
    /* By trial id - 1: true once the trial's folder is gone or was left with a warning, so that
     * it is not looked at again (a trial that left the front never comes back to it). */
    bool *settled;
    size_t nsettled;
};

/* path made absolute against the current folder, without resolving links (the workers see
 * the path, not what it resolves to here). */
static int absolute(const char *path, char *out, size_t len)
{
    char cwd[WEIGHTS_ROOT_MAX];
    int n;

    if (path[0] == '/') {
        n = snprintf(out, len, "%s", path);
    } else {
        if (!getcwd(cwd, sizeof cwd))
            return err_set(ERR_IO, "%s: cannot make it absolute: %s", path, strerror(errno));
        n = snprintf(out, len, "%s/%s", cwd, strncmp(path, "./", 2) == 0 ? path + 2 : path);
    }
    if (n < 0 || (size_t)n >= len)
        return err_set(ERR_RANGE, "%.64s...: the weights folder's path is longer than %zu bytes",
                       path, len - 1);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

/* a and b are the same folder (following links). */
static bool same_folder(const char *a, const char *b)
{
    struct stat x, y;

    return stat(a, &x) == 0 && stat(b, &y) == 0 && S_ISDIR(x.st_mode) &&
           x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* ROOT made, and STUDY/weights (link) a link to it unless it already is ROOT or leads there. */
static int make_root(const weights_t *w, const char *link, bool elsewhere)
{
    struct stat st;
    char target[WEIGHTS_PATH_MAX];
    ssize_t n;
    int rc;

    if ((rc = file_mkdirs(w->root)) != 0)
        return err_prefix(rc, "[study] weights_dir: ");
    if (stat(w->root, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(ERR_STATE, "%s exists and is not a folder: the study keeps its trials' "
                       "weights there ([study] keep_weights)", w->root);
    if (!elsewhere)
        return 0;
    if (lstat(link, &st) != 0) {
        if (errno != ENOENT)
            return err_set(ERR_IO, "%s: %s", link, strerror(errno));
        if (symlink(w->root, link) != 0)
            return err_set(ERR_IO, "%s: cannot make it a link to [study] weights_dir %s: %s",
                           link, w->root, strerror(errno));
        log_info("%s: a link to the weights folder %s", link, w->root);
        return 0;
    }
    if (same_folder(link, w->root))
        return 0;
    if (S_ISLNK(st.st_mode) && (n = readlink(link, target, sizeof target - 1)) >= 0) {
        target[n] = '\0';
        return err_set(ERR_STATE, "%s is a link to %s, not to [study] weights_dir %s: remove "
                       "the link (the coordinator makes it again) or set weights_dir to where "
                       "it leads", link, target, w->root);
    }
    return err_set(ERR_STATE, "%s exists and is not [study] weights_dir %s (nor a link to it): "
                   "move it away, or leave weights_dir out to keep the weights there", link,
                   w->root);
}

int weights_open(const config_t *cfg, const char *study_dir, weights_t **out)
{
    char link[WEIGHTS_PATH_MAX];
    bool elsewhere = cfg->weights_dir[0] != '\0';
    weights_t *w;
    int rc;

    *out = NULL;
    if (cfg->mode != CONFIG_MODE_TRAIN || cfg->keep_weights == CONFIG_KEEP_NONE)
        return 0;
    if ((size_t)snprintf(link, sizeof link, "%s/" WEIGHTS_DIR_NAME, study_dir) >= sizeof link)
        return err_set(ERR_RANGE, "%.64s...: path too long", study_dir);
    if (!(w = mem_alloc(1, sizeof *w, "kept weights")))
        return ERR_NOMEM;
    w->keep = cfg->keep_weights;
    if ((rc = absolute(elsewhere ? cfg->weights_dir : link, w->root, sizeof w->root)) != 0 ||
        (rc = make_root(w, link, elsewhere)) != 0) {
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void weights_free(weights_t **wp)
{
    if (!*wp)
        return;
    free((*wp)->settled);
    free(*wp);
    *wp = NULL;
}

const char *weights_root(const weights_t *w)
{
    return w->root;
}

bool weights_trial_dir(const weights_t *w, const study_trial_t *t, char *buf, size_t len)
{
    int n;

    if (len)
        buf[0] = '\0';
    /* A confirm trial is never on the front: under front its weights would be pruned at once. */
    if (!w || (w->keep == CONFIG_KEEP_FRONT && t->kind == STORE_CONFIRM))
        return false;
    n = snprintf(buf, len, "%s/" WEIGHTS_TRIAL_PREFIX "%llu", w->root,
                 (unsigned long long)t->id);
    if (n < 0 || (size_t)n >= len) {
        if (len)
            buf[0] = '\0';
        return false;
    }
    return true;
}

/* ---- pruning ------------------------------------------------------------------------------ */

typedef struct {
    weights_t *w;
    int root_fd;
    bool *front;           /* by trial id - 1: a search trial on the front */
    size_t ntrials;
    double *xy;            /* the done search trials as (metric, -cost), both maximised */
    uint64_t *ids;
    int n;
    int removed;
} prune_t;

static void count_trial(void *ctx, study_trial_t *t)
{
    prune_t *p = ctx;

    if (t->id > p->ntrials)
        p->ntrials = t->id;
}

static void collect_point(void *ctx, study_trial_t *t)
{
    prune_t *p = ctx;

    if (t->kind != STORE_SEARCH || t->state != STORE_DONE || !t->has_objective)
        return;
    p->xy[2 * p->n] = t->objective;
    p->xy[2 * p->n + 1] = -t->cost;
    p->ids[p->n++] = t->id;
}

/* p->front from the done search trials, as the report finds it (study_view.c: pareto_front
 * over them in id order, the first of equal points kept). */
static int find_front(prune_t *p, study_t *s)
{
    bool *keep;

    p->front = mem_alloc(p->ntrials + 1, sizeof *p->front, "front flags");
    p->xy = mem_alloc(p->ntrials + 1, 2 * sizeof *p->xy, "front points");
    p->ids = mem_alloc(p->ntrials + 1, sizeof *p->ids, "front ids");
    keep = mem_alloc(p->ntrials + 1, sizeof *keep, "front");
    if (!p->front || !p->xy || !p->ids || !keep) {
        free(keep);
        return ERR_NOMEM;
    }
    study_each(s, collect_point, p);
    if (p->n > 0 && pareto_front(p->xy, p->n, keep) < 0) {
        free(keep);
        return ERR_NOMEM;
    }
    for (int i = 0; i < p->n; i++)
        if (keep[i])
            p->front[p->ids[i] - 1] = true;
    free(keep);
    return 0;
}

static bool kept(const prune_t *p, const study_trial_t *t)
{
    if (t->state != STORE_DONE)
        return false;   /* failed */
    switch (p->w->keep) {
    case CONFIG_KEEP_ALL: return true;
    case CONFIG_KEEP_FRONT:
        return t->kind == STORE_BASELINE || (t->kind == STORE_SEARCH && p->front[t->id - 1]);
    default: return false;
    }
}

/* Removes ROOT/trial-N: autopeft's files in it, then the folder, never following a link; what
 * cannot be removed is left with a warning. */
static void remove_trial(prune_t *p, const study_trial_t *t)
{
    uint64_t id = t->id;
    char name[48];
    int fd;
    bool any = false;

    snprintf(name, sizeof name, WEIGHTS_TRIAL_PREFIX "%llu", (unsigned long long)id);
    fd = openat(p->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        log_warn("%s/%s: not removed: %s", p->w->root, name,
                 errno == ELOOP || errno == ENOTDIR ? "not a folder autopeft made (a link or "
                                                      "a file)" : strerror(errno));
        return;
    }
    for (size_t i = 0; i < sizeof saved_files / sizeof saved_files[0]; i++) {
        if (unlinkat(fd, saved_files[i], 0) == 0)
            any = true;
        else if (errno != ENOENT)
            log_warn("%s/%s/%s: cannot remove: %s", p->w->root, name, saved_files[i],
                     strerror(errno));
    }
    close(fd);
    if (unlinkat(p->root_fd, name, AT_REMOVEDIR) != 0) {
        log_warn("%s/%s: left in place: %s", p->w->root, name,
                 errno == ENOTEMPTY || errno == EEXIST ? "it holds files autopeft did not write"
                                                       : strerror(errno));
        return;
    }
    log_info("trial %llu: weights removed (%s)%s", (unsigned long long)id,
             t->state == STORE_FAILED       ? "failed"
             : t->kind == STORE_CONFIRM      ? "a confirmation"
             : t->kind == STORE_SEARCH       ? "not on the front"
                                             : "not kept",
             any ? "" : "; the folder was empty");
    p->removed++;
}

static void prune_trial(void *ctx, study_trial_t *t)
{
    prune_t *p = ctx;
    size_t i = t->id - 1;

    if (p->w->settled[i] || (t->state != STORE_DONE && t->state != STORE_FAILED) || kept(p, t))
        return;
    remove_trial(p, t);
    p->w->settled[i] = true;
}

/* w->settled with room for n trials, the new ones false. */
static int grow_settled(weights_t *w, size_t n)
{
    bool *more;

    if (n <= w->nsettled)
        return 0;
    if (!(more = mem_realloc(w->settled, n, sizeof *more, "settled trials")))
        return ERR_NOMEM;
    memset(more + w->nsettled, 0, (n - w->nsettled) * sizeof *more);
    w->settled = more;
    w->nsettled = n;
    return 0;
}

int weights_prune(weights_t *w, study_t *s)
{
    prune_t p = {.w = w, .root_fd = -1};
    int rc;

    if (!w)
        return 0;
    study_each(s, count_trial, &p);
    if ((rc = grow_settled(w, p.ntrials)) != 0 ||
        (w->keep == CONFIG_KEEP_FRONT && (rc = find_front(&p, s)) != 0))
        goto out;
    p.root_fd = open(w->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p.root_fd < 0) {
        log_warn("%s: cannot prune the kept weights: %s", w->root, strerror(errno));
        goto out;
    }
    study_each(s, prune_trial, &p);
    rc = p.removed;
out:
    if (p.root_fd >= 0)
        close(p.root_fd);
    free(p.front);
    free(p.xy);
    free(p.ids);
    return rc;
}

/* ---- listing ------------------------------------------------------------------------------ */

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int weights_list(const char *study_dir, uint64_t *ids, int cap, int *n)
{
    char path[WEIGHTS_PATH_MAX], file[WEIGHTS_PATH_MAX + 320];
    uint64_t *all = NULL;
    struct dirent *e;
    DIR *d;
    int found = 0, room = 0, rc = 0;

    *n = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/" WEIGHTS_DIR_NAME, study_dir) >= sizeof path)
        return err_set(ERR_RANGE, "%.64s...: path too long", study_dir);
    if (!(d = opendir(path)))
        return errno == ENOENT || errno == ENOTDIR ? 0 : err_set(ERR_IO, "%s: %s", path,
                                                                 strerror(errno));
    while ((e = readdir(d)) != NULL) {
        const char *num = e->d_name + strlen(WEIGHTS_TRIAL_PREFIX);
        uint64_t id;
        struct stat st;

        if (strncmp(e->d_name, WEIGHTS_TRIAL_PREFIX, strlen(WEIGHTS_TRIAL_PREFIX)) != 0 ||
            !num[0] || strspn(num, "0123456789") != strlen(num) ||
            parse_u64(num, UINT64_MAX, "trial", &id) != 0)
            continue;
        snprintf(file, sizeof file, "%s/%s/%s", path, e->d_name, saved_files[0]);
        if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if ((rc = mem_grow(&all, &room, found, sizeof *all, 64, "kept trials")) != 0)
            break;
        all[found++] = id;
    }
    closedir(d);
    if (rc == 0) {
        err_clear();
        if (found > 0)
            qsort(all, (size_t)found, sizeof *all, cmp_id);
        if (cap > 0 && found > 0)
            memcpy(ids, all, (size_t)(found < cap ? found : cap) * sizeof *ids);
        *n = found;
    }
    free(all);
    return rc;
}
