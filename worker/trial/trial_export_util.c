/* What the export writers share (trial_int.h): the saved weights' tensors looked up and
 * checked, the tensor lists the writers fill, layer lists. A file of its own, so that the
 * writers (trial_export.c, trial_export_hf.c) call into it and not into each other. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "worker/trial/trial_int.h"

const float *trial__export_tensor(const trial__export_t *x, const char *name, int rows, int cols)
{
    const safetensors_tensor_t *t = safetensors_find(x->st, name);
    const float *data;
    bool ok;

    if (!t) {
        err_set(ERR_INVAL, "%s: tensor '%s' is missing (the configuration in trial.json has it)",
                x->st_path, name);
        return NULL;
    }
    ok = t->dtype == SAFETENSORS_F32 &&
         (cols ? t->ndim == 2 && t->shape[0] == (uint64_t)rows && t->shape[1] == (uint64_t)cols
               : t->ndim == 1 && t->shape[0] == (uint64_t)rows);
    if (!ok) {
        if (cols)
            err_set(ERR_INVAL, "%s: tensor '%s': expected F32 [%d, %d] (the configuration in "
                    "trial.json)", x->st_path, name, rows, cols);
        else
            err_set(ERR_INVAL, "%s: tensor '%s': expected F32 [%d] (the configuration in "
                    "trial.json)", x->st_path, name, rows);
        return NULL;
    }
    if (safetensors_view_f32(x->st, t, &data) != 0)
        return NULL;
    return data;
}

int trial__export_bottleneck(const trial__export_t *x, int layer, const char *what, int r,
                             trial__bottleneck_t *out)
{
    char name[TRIAL__TENSOR_NAME];
    int d = x->hidden;

#define GET(field, part, rows, cols)                                                           \
    (snprintf(name, sizeof name, "peft.layer.%d.%s.%s", layer, what, part),                     \
     (out->field = trial__export_tensor(x, name, rows, cols)) != NULL)
    if (!GET(down_w, "down.weight", r, d) || !GET(down_b, "down.bias", r, 0) ||
        !GET(up_w, "up.weight", d, r) || !GET(up_b, "up.bias", d, 0))
        return err_code();
#undef GET
    return 0;
}

int trial__tensors_add(trial__tensors_t *t, const char *name, int ndim, uint64_t rows,
                       uint64_t cols, const float *data)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        void *a = realloc(t->name, cap * sizeof *t->name);
        if (a)
            t->name = a;
        void *b = a ? realloc(t->shape, cap * sizeof *t->shape) : NULL;
        if (b)
            t->shape = b;
        void *c = b ? realloc(t->ndim, cap * sizeof *t->ndim) : NULL;
        if (c)
            t->ndim = c;
        void *d = c ? realloc(t->data, cap * sizeof *t->data) : NULL;
        if (!d)
            return err_set(ERR_NOMEM, "out of memory for the tensor list");
        t->data = d;
        t->cap = cap;
    }
    if ((size_t)snprintf(t->name[t->n], TRIAL__TENSOR_NAME, "%s", name) >= TRIAL__TENSOR_NAME)
        return err_set(ERR_RANGE, "tensor name '%.64s...' too long", name);
    t->shape[t->n][0] = rows;
    t->shape[t->n][1] = cols;
    t->ndim[t->n] = ndim;
    t->data[t->n] = data;
    t->n++;
    return 0;
}

int trial__tensors_write(const trial__tensors_t *t, const char *path, const char *const *meta)
{
    safetensors_entry_t *e = mem_alloc(t->n ? t->n : 1, sizeof *e, "tensor list");
    int rc;

    if (!e)
        return ERR_NOMEM;
    for (size_t i = 0; i < t->n; i++)
        e[i] = (safetensors_entry_t){t->name[i], SAFETENSORS_F32, t->ndim[i], t->shape[i],
                                     t->data[i]};
    rc = safetensors_write(path, e, t->n, meta);
    free(e);
    return rc;
}

void trial__tensors_free(trial__tensors_t *t)
{
    free(t->name);
    free(t->shape);
    free(t->ndim);
    free(t->data);
    memset(t, 0, sizeof *t);
}

json_t *trial__export_layers(const space_config_t *c, space_module_t m, bool on)
{
    json_t *a = json_array();

    for (int l = 0; a && l < c->layers; l++)
        if (space_config_layer(c, m, l) == on && json_array_append_new(a, json_integer(l)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

double trial__export_lora_alpha(const trial__export_t *x)
{
    return x->saved.lora_alpha > 0 ? x->saved.lora_alpha : (double)x->saved.config.size[SPACE_LORA];
}
