/* What `autopeft space` and `autopeft baselines` print the same way (output.h). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "common/shape.h"
#include "coordinator/cli/output.h"

json_t *output_u64(uint64_t v)
{
    return json_integer((json_int_t)v);
}

void output_model_text(const shape_t *s, const char *name)
{
    printf("model          %s%shidden %d, layers %d, heads %d, intermediate %d, vocab %d, "
           "positions %d, type vocab %d, labels %d\n",
           name ? name : "", name ? ": " : "", s->hidden, s->layers, s->heads, s->intermediate,
           s->vocab, s->positions, s->type_vocab, s->labels);
}

json_t *output_model_json(const shape_t *s, const char *name)
{
    return json_pack("{s:s?, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o}", "shape", name,
                     "hidden", s->hidden, "layers", s->layers, "heads", s->heads,
                     "intermediate", s->intermediate, "vocab", s->vocab, "positions",
                     s->positions, "type_vocab", s->type_vocab, "labels", s->labels, "backbone",
                     output_u64(shape_backbone_params(s)), "head",
                     output_u64(shape_head_params(s)));
}

int output_json(const char *prog, json_t *doc)
{
    int rc = 0;

    if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0) {
        fprintf(stderr, "%s: could not write the JSON output\n", prog);
        rc = 1;
    } else {
        fputc('\n', stdout);
    }
    json_decref(doc);
    return rc;
}
