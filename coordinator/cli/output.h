/* What `autopeft space` and `autopeft baselines` print the same way: the model they were given
 * (flags_model), as a line of text and as a JSON object, and a JSON document on stdout. */
#ifndef AUTOPEFT_COORDINATOR_CLI_OUTPUT_H
#define AUTOPEFT_COORDINATOR_CLI_OUTPUT_H

#include <jansson.h>
#include <stdint.h>

#include "common/shape.h"

/* A parameter count as a JSON integer; counts stay below 2^62 (space_config_count). */
json_t *output_u64(uint64_t v);

/* Prints "model          NAME: hidden H, layers L, ..." to stdout (no "NAME: " when name is
 * NULL, a shape not named). */
void output_model_text(const shape_t *s, const char *name);

/* The model as {"shape", "hidden", ..., "labels", "backbone", "head"}, "shape" null when name
 * is NULL; NULL when out of memory. */
json_t *output_model_json(const shape_t *s, const char *name);

/* Writes doc, indented, and a newline to stdout and frees it. 0, or 1 (reported as "PROG: could
 * not write the JSON output") when doc is NULL (it could not be built) or was not written. */
int output_json(const char *prog, json_t *doc);

#endif
