/* The arithmetic a trial trains in ([recipe] precision, `autopeft train --precision`): float32,
 * or bfloat16 / float16 mixed precision for a trainer that has it (an exec trainer under
 * PyTorch's autocast). The built-in trainer trains in float32 only. The names are the same in
 * the configuration, the exec trainer's JSON and environment, and inputs.json. */
#ifndef AUTOPEFT_PRECISION_H
#define AUTOPEFT_PRECISION_H

typedef enum { PRECISION_FP32 = 0, PRECISION_BF16, PRECISION_FP16 } precision_t;
#define PRECISION_COUNT 3

/* "fp32", "bf16", "fp16" ("fp32" for a value out of range). */
const char *precision_name(precision_t p);
/* The precision named by text (case-insensitive): 0, or ERR_PARSE with "expected fp32, bf16 or
 * fp16, got 'TEXT'". */
int precision_parse(const char *text, precision_t *out);

#endif
