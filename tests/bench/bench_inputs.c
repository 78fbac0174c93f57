/* Benchmark of the input path: reading SST-2 train, tokenising all of it (max length 128) and
 * reading bert-mini-mlm's checkpoint, against the Python reference doing the same work in the
 * same run (tests/reference/tokenizer_reference.py; numpy for the checkpoint).
 *
 *   autopeft-bench inputs [SHARED_DIR]      (default ../shared, or $AUTOPEFT_SHARED) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/bench/bench.h"
#include "worker/inputs/data.h"
#include "worker/inputs/safetensors.h"
#include "worker/inputs/tokenizer.h"

#define REPEATS 3

static double run_python(const char *cmd)
{
    double t0 = bench_now();
    int rc = system(cmd);
    return rc == 0 ? bench_now() - t0 : -1;
}

BENCH(inputs, "tokenizer, GLUE reading and safetensors loading vs the Python reference")
{
    const char *shared = argc > 1 ? argv[1] : getenv("AUTOPEFT_SHARED");
    char vocab_path[1024], sst2[1024], model[1024], tmp[] = "/tmp/autopeft-bench-XXXXXX";
    char cmd[4096];
    double t_load = 1e30, t_tok = 1e30, t_st = 1e30, py_tok, py_st;
    size_t tokens = 0, n;
    vocab_t *vocab = NULL;
    tokenizer_t *tok = NULL;
    data_t *d = NULL;
    const data_task_t *task;
    FILE *f;
    int fd;

    if (!shared || !*shared)
        shared = "../shared";
    snprintf(vocab_path, sizeof vocab_path, "%s/data/vocab/bert-base-uncased-vocab.txt", shared);
    snprintf(sst2, sizeof sst2, "%s/data/glue/SST-2/train.tsv", shared);
    snprintf(model, sizeof model, "%s/models/bert-mini-mlm/model.safetensors", shared);
    if (access(vocab_path, R_OK) || access(sst2, R_OK) || access(model, R_OK)) {
        fprintf(stderr, "bench inputs: needs %s (shared data); give its folder as argument\n",
                shared);
        return 1;
    }
    if (data_task_find("sst2", &task) || vocab_load(vocab_path, &vocab) ||
        tokenizer_new(vocab, NULL, &tok))
        return 1;
    for (int r = 0; r < REPEATS; r++) {
        double t0 = bench_now();
        data_free(&d);
        if (data_load_task(task, sst2, &d) != 0)
            return 1;
        if (bench_now() - t0 < t_load)
            t_load = bench_now() - t0;
        t0 = bench_now();
        tokens = 0;
        for (size_t i = 0; i < data_count(d); i++) {
            tokenizer_encoding_t e;
            const char *s = data_text(d, i);
            if (tokenizer_encode(tok, s, strlen(s), NULL, 0, 128, &e) != 0)
                return 1;
            tokens += (size_t)e.len;
        }
        if (bench_now() - t0 < t_tok)
            t_tok = bench_now() - t0;
    }
    for (int r = 0; r < REPEATS; r++) {
        double t0 = bench_now(), sum = 0;
        safetensors_t *s;
        float *buf;

        if (safetensors_open(model, &s) != 0)
            return 1;
        for (size_t i = 0; i < safetensors_count(s); i++) {
            const safetensors_tensor_t *t = safetensors_at(s, i);
            buf = malloc(t->numel * sizeof *buf);
            if (!buf || safetensors_read_f32(s, t, buf, t->numel) != 0)
                return 1;
            sum += buf[t->numel - 1];
            free(buf);
        }
        safetensors_free(&s);
        if (bench_now() - t0 < t_st)
            t_st = bench_now() - t0;
        (void)sum;
    }
    /* The same sentences for the Python reference, one a line. */
    fd = mkstemp(tmp);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        return 1;
    n = data_count(d);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", data_text(d, i));
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/tokenizer_reference.py --ids %s "
             "%s --max-length 128 > /dev/null", vocab_path, tmp);
    py_tok = run_python(cmd);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import json,struct,numpy as np\n"
             "b=open('%s','rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n])\n"
             "s=sum(float(np.frombuffer(b,np.float32,int(np.prod(v['shape'])),"
             "8+n+v['data_offsets'][0]).copy()[-1]) for k,v in h.items() if k!='__metadata__')\"",
             model);
    py_st = run_python(cmd);
    unlink(tmp);
    printf("%-40s %12s %12s\n", "work (best of 3 for C)", "C", "Python");
    printf("%-40s %10.1f ms %12s\n", "read SST-2 train (67,349 rows)", t_load * 1e3, "-");
    printf("%-40s %10.1f ms %9.1f ms\n", "tokenise SST-2 train, max length 128", t_tok * 1e3,
           py_tok * 1e3);
    printf("%-40s %12.0f %12.0f\n", "  sentences/s", (double)n / t_tok, (double)n / py_tok);
    printf("%-40s %12.0f %12s\n", "  tokens/s", (double)tokens / t_tok, "-");
    printf("%-40s %10.1f ms %9.1f ms\n", "read bert-mini-mlm (51 MB) to float32", t_st * 1e3,
           py_st * 1e3);
    printf("(Python includes interpreter start-up, about 0.1 s.)\n");
    printf("BENCH inputs tokenize_sent_per_s=%.0f tokenize_c_over_python=%.1f "
           "glue_read_ms=%.1f safetensors_read_ms=%.1f\n", (double)n / t_tok, py_tok / t_tok,
           t_load * 1e3, t_st * 1e3);
    data_free(&d);
    tokenizer_free(&tok);
    vocab_free(&vocab);
    return 0;
}
