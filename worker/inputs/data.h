/* Task data: labelled sentences (or sentence pairs) from the GLUE files or from the user's own
 * CSV, TSV or JSON-lines file.
 *
 * GLUE tasks are read from their standard TSV layouts (the files of the GLUE distribution and
 * of ../shared/data/glue): the text and label columns are found by header name (CoLA has no
 * header: label in column 2, sentence in column 4), quotes are ordinary characters (GLUE's
 * readers use csv.QUOTE_NONE), a UTF-8 byte-order mark (MRPC) and a missing final newline (CoLA
 * dev) are fine. Labels map to class indices in the order Hugging Face's glue dataset uses, so
 * a checkpoint's id2label means the same here.
 *
 * A row that cannot be used (wrong number of fields, a missing text or label, a label outside
 * the task's set, an unreadable record) is skipped and reported with file and line (the first
 * DATA_MAX_REPORTED in the log and through data_skip_message, then a count); a file with no
 * usable row is an error. */
#ifndef AUTOPEFT_DATA_H
#define AUTOPEFT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/inputs/metrics.h"
#include "worker/inputs/table.h"

/* Rows in one file: MNLI's 393k and QQP's 364k fit many times over. */
#define DATA_MAX_ROWS (1u << 24)
#define DATA_MAX_REPORTED 10

typedef struct {
    const char *name;          /* "cola", "sst2", ...: lower case, as Hugging Face names them */
    const char *title;         /* "CoLA", "SST-2", ... */
    const char *folder;        /* GLUE folder: "CoLA", "SST-2", ... */
    const char *train_file;    /* "train.tsv" */
    const char *dev_file;      /* "dev.tsv" ("dev_matched.tsv" / "dev_mismatched.tsv": MNLI) */
    bool header;
    const char *text, *pair, *label;   /* header names; pair NULL for one sentence */
    int text_col, label_col, ncols;    /* columns of a header-less file (CoLA) */
    int num_labels;                    /* 1: regression */
    const char *const *label_values;   /* as written in the file, in class-index order */
    const char *const *label_names;
    unsigned metrics;                  /* METRIC_BIT()s GLUE reports for the task */
    metric_t objective;                /* what the search maximises (as AutoPEFT does) */
} data_task_t;

typedef enum { DATA_TRAIN = 0, DATA_DEV } data_split_t;

/* By name: "cola", "CoLA", "SST-2", "sst2", "sts-b", "mnli" (= "mnli-m", "mnli_matched"),
 * "mnli-mm" ("mnli_mismatched"), "qnli", "qqp", "rte", "wnli", "mrpc"; case, '-' and '_'
 * ignored. ERR_NOTFOUND listing the tasks otherwise. */
int data_task_find(const char *name, const data_task_t **out);
/* The i-th task (from 0), NULL past the last. */
const data_task_t *data_task_at(int i);
/* dir/FOLDER/FILE for a split, into buf; ERR_RANGE when it does not fit. */
int data_task_path(const data_task_t *task, const char *dir, data_split_t split, char *buf,
                   size_t len);

typedef struct {
    table_format_t format;
    bool quoted;                 /* TSV: RFC 4180 quoting (off: GLUE style) */
    const char *text;            /* column (or JSON key) of the text */
    const char *pair;            /* of the second text, or NULL */
    const char *label;           /* of the label */
    bool regression;             /* labels are real numbers */
    /* Class labels as written in the file, in index order; NULL to infer them from the file:
     * all non-negative integers -> classes 0..max; otherwise the distinct values sorted
     * (byte order). Load the dev file with the train file's values (data_label_value). */
    const char *const *labels;
    int nlabels;
} data_spec_t;

typedef struct data data_t;

int data_load_task(const data_task_t *task, const char *path, data_t **out);
int data_load_file(const char *path, const data_spec_t *spec, data_t **out);
/* The same over bytes in memory (for tests and fuzzing); label stands for the path. */
int data_load_task_memory(const data_task_t *task, const char *data, size_t size,
                          const char *label, data_t **out);
int data_load_memory(const char *data, size_t size, const char *label, const data_spec_t *spec,
                     data_t **out);
void data_free(data_t **dp);

size_t data_count(const data_t *d);
const char *data_text(const data_t *d, size_t i);
/* NULL for single-sentence data. */
const char *data_pair(const data_t *d, size_t i);
bool data_has_pair(const data_t *d);
/* Class index (classification) or -1; target value (regression) or 0. */
int32_t data_label(const data_t *d, size_t i);
float data_target(const data_t *d, size_t i);
bool data_regression(const data_t *d);
int data_num_labels(const data_t *d);            /* 1 for regression */
const char *data_label_value(const data_t *d, int k);
/* Rows skipped as malformed, and the first DATA_MAX_REPORTED reasons ("file:line: why"). */
size_t data_skipped(const data_t *d);
const char *data_skip_message(const data_t *d, size_t k);
const char *data_path(const data_t *d);

/* For tests: lower the row cap (0 restores DATA_MAX_ROWS). */
void data__set_max_rows(size_t n);

#endif
