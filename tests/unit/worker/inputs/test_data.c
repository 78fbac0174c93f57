/* Tests of worker/inputs/data.c: GLUE layouts on files written here (quirks included), the generic
 * CSV/TSV/JSONL reader, malformed rows reported with file and line, and the shared GLUE files
 * against the row and label counts of ../shared/data/SOURCES.md. */
#include "common/log.h"
#include "tests/harness.h"
#include "worker/inputs/data.h"

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[8][1024];
    static int k;
    char *p = path[k++ % 8];
    FILE *f;

    snprintf(p, 1024, "%s/%s", harness_tmpdir(), name);
    f = fopen(p, "wb");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ_U(fwrite(text, 1, len, f), len);
    fclose(f);
    return p;
}

#define WRITE(name, text) write_file(name, text, sizeof(text) - 1)

static const data_task_t *task(const char *name)
{
    const data_task_t *t;
    ASSERT_OK(data_task_find(name, &t));
    return t;
}

TEST(task_names_and_paths)
{
    const data_task_t *t;
    char buf[256];

    ASSERT_STR_EQ(task("SST-2")->name, "sst2");
    ASSERT_STR_EQ(task("sts_b")->name, "stsb");
    ASSERT_STR_EQ(task("MNLI_mismatched")->dev_file, "dev_mismatched.tsv");
    ASSERT_STR_EQ(task("mnli-m")->dev_file, "dev_matched.tsv");
    ASSERT_EQ(task("cola")->objective, METRIC_MCC);
    ASSERT_EQ(task("stsb")->objective, METRIC_SPEARMAN);
    ASSERT_EQ(task("mrpc")->objective, METRIC_ACCURACY);
    ASSERT_TRUE(task("qqp")->metrics & METRIC_BIT(METRIC_F1));
    ASSERT_ERR(data_task_find("squad", &t), ERR_NOTFOUND);
    ASSERT_CONTAINS(err_msg(), "wnli");
    ASSERT_OK(data_task_path(task("sst2"), "/data/glue", DATA_DEV, buf, sizeof buf));
    ASSERT_STR_EQ(buf, "/data/glue/SST-2/dev.tsv");
    ASSERT_ERR(data_task_path(task("sst2"), "/data/glue", DATA_DEV, buf, 8), ERR_RANGE);
    for (int i = 0; data_task_at(i); i++)
        ASSERT_OK(data_task_find(data_task_at(i)->name, &t));
    ASSERT_EQ(task("mnli")->num_labels, 3);
}

TEST(glue_quirks_and_malformed_rows)
{
    /* SST-2 layout, CRLF endings, blank line, a short row, an unknown label, no final newline. */
    const char *p = WRITE("sst2.tsv", "sentence\tlabel\r\nit 's \"fine\" \t1\r\n\r\nshort row\r\n"
                                      "a third\t2\r\nlast one\t0");
    data_t *d;

    log_set_level(LOG_LEVEL_ERROR);
    ASSERT_OK(data_load_task(task("sst2"), p, &d));
    ASSERT_EQ_U(data_count(d), 2);
    ASSERT_STR_EQ(data_text(d, 0), "it 's \"fine\" ");
    ASSERT_EQ(data_label(d, 0), 1);
    ASSERT_STR_EQ(data_text(d, 1), "last one");
    ASSERT_EQ(data_label(d, 1), 0);
    ASSERT_TRUE(data_pair(d, 0) == NULL);
    ASSERT_EQ_U(data_skipped(d), 2);
    ASSERT_CONTAINS(data_skip_message(d, 0), "sst2.tsv:4: 1 fields, expected 2");
    ASSERT_CONTAINS(data_skip_message(d, 1), "sst2.tsv:5: label '2' is not one of");
    ASSERT_EQ(data_num_labels(d), 2);
    data_free(&d);

    /* CoLA: no header, four columns. */
    p = WRITE("cola.tsv", "gj04\t1\t\tOur friends won't buy this.\nx\t0\t*\tBad sentence him.");
    ASSERT_OK(data_load_task(task("cola"), p, &d));
    ASSERT_EQ_U(data_count(d), 2);
    ASSERT_STR_EQ(data_text(d, 0), "Our friends won't buy this.");
    ASSERT_EQ(data_label(d, 1), 0);
    data_free(&d);

    /* MRPC: BOM on the header, pairs. */
    p = WRITE("mrpc.tsv", "\xef\xbb\xbfQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                          "1\t1\t2\tHe said \"yes\".\tHe agreed.\n");
    ASSERT_OK(data_load_task(task("mrpc"), p, &d));
    ASSERT_EQ_U(data_count(d), 1);
    ASSERT_TRUE(data_has_pair(d));
    ASSERT_STR_EQ(data_pair(d, 0), "He agreed.");
    data_free(&d);

    /* STS-B: regression; a score that is not a number is skipped. */
    p = WRITE("stsb.tsv", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1"
                          "\tsentence2\tscore\n0\tg\tf\ty\t0\tn\tn\tA man.\tA person.\t4.250\n"
                          "1\tg\tf\ty\t1\tn\tn\tA.\tB.\tabc\n");
    ASSERT_OK(data_load_task(task("stsb"), p, &d));
    ASSERT_TRUE(data_regression(d));
    ASSERT_EQ(data_num_labels(d), 1);
    ASSERT_EQ_U(data_count(d), 1);
    ASSERT_TRUE(data_target(d, 0) == 4.25f);
    ASSERT_CONTAINS(data_skip_message(d, 0), "stsb.tsv:3:");
    data_free(&d);

    /* MNLI: string labels in Hugging Face's order. */
    p = WRITE("mnli.tsv", "index\tsentence1\tsentence2\tgold_label\n0\ta\tb\tneutral\n"
                          "1\tc\td\tcontradiction\n");
    ASSERT_OK(data_load_task(task("mnli"), p, &d));
    ASSERT_EQ(data_label(d, 0), 1);
    ASSERT_EQ(data_label(d, 1), 2);
    ASSERT_STR_EQ(data_label_value(d, 0), "entailment");
    data_free(&d);
}

TEST(no_valid_row_and_missing_columns)
{
    const char *p = WRITE("bad.tsv", "sentence\tlabel\nonly one field\n\nx\ty\n");
    data_t *d;

    log_set_level(LOG_LEVEL_ERROR);
    ASSERT_ERR(data_load_task(task("sst2"), p, &d), ERR_PARSE);
    ASSERT_TRUE(d == NULL);
    ASSERT_CONTAINS(err_msg(), "bad.tsv: no valid row; the first problem: ");
    ASSERT_CONTAINS(err_msg(), "bad.tsv:2:");
    p = WRITE("header_only.tsv", "sentence\tlabel\n");
    ASSERT_ERR(data_load_task(task("sst2"), p, &d), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "holds no data");
    p = WRITE("wrong.tsv", "text\tlabel\nhello\t1\n");
    ASSERT_ERR(data_load_task(task("sst2"), p, &d), ERR_NOTFOUND);
    ASSERT_CONTAINS(err_msg(), "SST-2");
    ASSERT_CONTAINS(err_msg(), "'text', 'label'");
    ASSERT_ERR(data_load_task(task("sst2"), "/nonexistent/train.tsv", &d), ERR_IO);
}

TEST(generic_files)
{
    data_spec_t spec = {.format = TABLE_CSV, .text = "review", .label = "stars"};
    const char *values[] = {"neg", "pos"};
    const char *p = WRITE("r.csv", "id,review,stars\n1,\"Good, really\",pos\n"
                                   "2,\"He said \"\"meh\"\"\",neg\n3,broken\n4,ok,pos\n");
    data_t *d;

    log_set_level(LOG_LEVEL_ERROR);
    ASSERT_OK(data_load_file(p, &spec, &d)); /* inferred: distinct values, sorted */
    ASSERT_EQ_U(data_count(d), 3);
    ASSERT_EQ_U(data_skipped(d), 1);
    ASSERT_EQ(data_num_labels(d), 2);
    ASSERT_STR_EQ(data_label_value(d, 0), "neg");
    ASSERT_EQ(data_label(d, 0), 1);
    ASSERT_STR_EQ(data_text(d, 1), "He said \"meh\"");
    data_free(&d);
    spec.labels = values;
    spec.nlabels = 2;
    p = WRITE("dev.csv", "review,stars\na,pos\nb,mixed\n");
    ASSERT_OK(data_load_file(p, &spec, &d));
    ASSERT_EQ_U(data_count(d), 1);
    ASSERT_CONTAINS(data_skip_message(d, 0), "dev.csv:3: stars 'mixed'");
    data_free(&d);

    /* JSONL with integer labels (classes 0..max) and a pair. */
    spec = (data_spec_t){.format = TABLE_JSONL, .text = "q", .pair = "p", .label = "y"};
    p = WRITE("d.jsonl", "{\"q\":\"a\",\"p\":\"b\",\"y\":2}\n{\"q\":\"c\",\"p\":\"d\",\"y\":0}\n"
                         "{\"q\":\"e\",\"y\":1}\nnot json\n");
    ASSERT_OK(data_load_file(p, &spec, &d));
    ASSERT_EQ_U(data_count(d), 2);
    ASSERT_EQ(data_num_labels(d), 3);
    ASSERT_EQ(data_label(d, 0), 2);
    ASSERT_STR_EQ(data_pair(d, 1), "d");
    ASSERT_EQ_U(data_skipped(d), 2);
    ASSERT_CONTAINS(data_skip_message(d, 0), "d.jsonl:3: no p");
    ASSERT_CONTAINS(data_skip_message(d, 1), "d.jsonl:4: not JSON");
    data_free(&d);

    /* Regression from TSV; a single class is refused. */
    spec = (data_spec_t){.format = TABLE_TSV, .text = "t", .label = "v", .regression = true};
    p = WRITE("r.tsv", "t\tv\nx\t-1.5\ny\t1e2\n");
    ASSERT_OK(data_load_file(p, &spec, &d));
    ASSERT_TRUE(data_target(d, 1) == 100.0f);
    data_free(&d);
    spec.regression = false;
    p = WRITE("one.tsv", "t\tv\nx\tA\ny\tA\n");
    ASSERT_ERR(data_load_file(p, &spec, &d), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "at least two classes");
}

TEST(row_cap)
{
    const char *p = WRITE("many.tsv", "sentence\tlabel\na\t0\nb\t1\nc\t0\n");
    data_t *d;

    data__set_max_rows(2);
    ASSERT_ERR(data_load_task(task("sst2"), p, &d), ERR_RANGE);
    ASSERT_CONTAINS(err_msg(), "more than 2 rows");
    data__set_max_rows(0);
    ASSERT_OK(data_load_task(task("sst2"), p, &d));
    data_free(&d);
}

static void check_glue(const char *name, data_split_t split, size_t rows, size_t ones)
{
    char dir[1024], path[1100];
    const data_task_t *t = task(name);
    data_t *d;
    size_t n1 = 0;

    harness_shared_path("data/glue", dir, sizeof dir);
    ASSERT_OK(data_task_path(t, dir, split, path, sizeof path));
    ASSERT_OK(data_load_task(t, path, &d));
    ASSERT_EQ_U(data_count(d), rows);
    ASSERT_EQ_U(data_skipped(d), 0);
    for (size_t i = 0; i < data_count(d); i++) {
        ASSERT_TRUE(data_text(d, i)[0] != '\0');
        if (t->num_labels == 1)
            ASSERT_TRUE(data_target(d, i) >= 0 && data_target(d, i) <= 5);
        else
            n1 += data_label(d, i) == 1;
    }
    if (t->num_labels > 1)
        ASSERT_EQ_U(n1, ones);
    printf("%s %s: %zu rows, %zu of label 1\n", name, split == DATA_TRAIN ? "train" : "dev",
           data_count(d), n1);
    data_free(&d);
}

TEST(shared_glue_files_match_sources)
{
    /* Row and label counts from ../shared/data/SOURCES.md. */
    check_glue("cola", DATA_TRAIN, 8551, 6023);
    check_glue("cola", DATA_DEV, 1043, 721);
    check_glue("sst2", DATA_TRAIN, 67349, 37569);
    check_glue("sst2", DATA_DEV, 872, 444);
    check_glue("mrpc", DATA_TRAIN, 3668, 2474);
    check_glue("mrpc", DATA_DEV, 408, 279);
    check_glue("stsb", DATA_TRAIN, 5749, 0);
    check_glue("stsb", DATA_DEV, 1500, 0);
}

/* Every GLUE task with a header: a file with its columns (plus an extra one) and one row per
 * label value reads back with the class indices in the task's order. */
TEST(every_task_layout)
{
    for (int i = 0; data_task_at(i); i++) {
        const data_task_t *t = data_task_at(i);
        char text[4096], name[64];
        size_t at = 0;
        data_t *d;
        int rows = t->num_labels == 1 ? 3 : t->num_labels;

        if (!t->header)
            continue;
        at += (size_t)snprintf(text + at, sizeof text - at, "index\t%s\t%s%s%s\n", t->label,
                               t->text, t->pair ? "\t" : "", t->pair ? t->pair : "");
        for (int k = 0; k < rows; k++) {
            char value[16];
            const char *v = value;
            if (t->num_labels == 1)
                snprintf(value, sizeof value, "%d.5", k);
            else
                v = t->label_values[k];
            at += (size_t)snprintf(text + at, sizeof text - at, "%d\t%s\tfirst %d%s%s\n", k, v,
                                   k, t->pair ? "\tsecond " : "", t->pair ? "text" : "");
        }
        snprintf(name, sizeof name, "%s.tsv", t->name);
        ASSERT_OK(data_load_task(t, write_file(name, text, at), &d));
        ASSERT_EQ_U(data_count(d), (size_t)rows);
        ASSERT_EQ(data_has_pair(d), t->pair != NULL);
        for (int k = 0; k < rows; k++) {
            char want[32];
            snprintf(want, sizeof want, "first %d", k);
            ASSERT_STR_EQ(data_text(d, (size_t)k), want);
            if (t->num_labels == 1)
                ASSERT_TRUE(data_target(d, (size_t)k) == (float)k + 0.5f);
            else
                ASSERT_EQ(data_label(d, (size_t)k), k);
        }
        data_free(&d);
    }
}
