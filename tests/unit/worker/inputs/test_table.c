/* Tests of worker/inputs/table.c: TSV as GLUE has it, RFC 4180 CSV, JSON lines, line endings, the
 * byte-order mark, and records flagged (not fatal) when unreadable. */
#include "tests/harness.h"
#include "worker/inputs/table.h"

static table_t *open_mem(const char *text, table_format_t f, bool header)
{
    table_options_t o = {f, header, false};
    table_t *t;

    ASSERT_OK(table_open_memory(text, strlen(text), "mem", &o, &t));
    return t;
}

static const char *field(table_t *t, int col)
{
    const char *s = table_field(t, col, NULL);
    return s ? s : "(null)";
}

TEST(tsv_unquoted_with_bom_and_line_endings)
{
    table_t *t = open_mem("\xef\xbb\xbf" "a\tb\r\n\"x\tq\"\ty\n\n\r1\t\r2\t3", TABLE_TSV, true);
    int col;

    ASSERT_EQ(table_ncolumns(t), 2);
    ASSERT_OK(table_column(t, "a", &col));
    ASSERT_EQ(col, 0);
    ASSERT_ERR(table_column(t, "c", &col), ERR_NOTFOUND);
    ASSERT_CONTAINS(err_msg(), "'a', 'b'");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_EQ(table_nfields(t), 3); /* quotes are characters: the tab inside splits */
    ASSERT_STR_EQ(field(t, 0), "\"x");
    ASSERT_STR_EQ(field(t, 1), "q\"");
    ASSERT_EQ(table_line(t), 2);
    ASSERT_EQ(table_next(t), 1);    /* blank lines skipped; a lone CR ends a line */
    ASSERT_EQ(table_line(t), 5);
    ASSERT_STR_EQ(field(t, 0), "1");
    ASSERT_STR_EQ(field(t, 1), "");
    ASSERT_TRUE(table_field(t, 2, NULL) == NULL);
    ASSERT_EQ(table_next(t), 1);
    ASSERT_EQ(table_line(t), 6);
    ASSERT_STR_EQ(field(t, 1), "3"); /* no final newline */
    ASSERT_EQ(table_next(t), 0);
    table_free(&t);
}

TEST(csv_rfc4180)
{
    table_t *t = open_mem("text,label\n"
                          "\"a, b\",1\n"
                          "\"say \"\"hi\"\"\nthere\",0\n"
                          "plain \"quote\" inside,1\n"
                          "\"bad\"x,1\n"
                          "after,2\n"
                          "\"never closed,1\nmore\n",
                          TABLE_CSV, true);

    ASSERT_EQ(table_next(t), 1);
    ASSERT_STR_EQ(field(t, 0), "a, b");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_STR_EQ(field(t, 0), "say \"hi\"\nthere");
    ASSERT_EQ(table_line(t), 3);
    ASSERT_EQ(table_next(t), 1);
    ASSERT_EQ(table_line(t), 5);
    ASSERT_STR_EQ(field(t, 0), "plain \"quote\" inside");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_NOT_NULL(table_record_error(t));
    ASSERT_CONTAINS(table_record_error(t), "after the closing quote");
    ASSERT_TRUE(table_field(t, 0, NULL) == NULL);
    ASSERT_EQ(table_next(t), 1);
    ASSERT_TRUE(table_record_error(t) == NULL);
    ASSERT_STR_EQ(field(t, 0), "after");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_CONTAINS(table_record_error(t), "opened on line 8 is never closed");
    ASSERT_EQ(table_next(t), 0);
    table_free(&t);
}

TEST(jsonl_fields_by_key)
{
    table_t *t = open_mem("{\"text\":\"héllo\",\"label\":1,\"score\":0.5,\"ok\":true}\n"
                          "[1,2]\n"
                          "{\"text\":\"x\",\"label\":null}\n"
                          "{not json}\n"
                          "{\"text\":\"a\",\"text\":\"b\"}\n",
                          TABLE_JSONL, false);
    int text, label, score, ok;

    ASSERT_OK(table_column(t, "text", &text));
    ASSERT_OK(table_column(t, "label", &label));
    ASSERT_OK(table_column(t, "score", &score));
    ASSERT_OK(table_column(t, "ok", &ok));
    ASSERT_EQ(table_next(t), 1);
    ASSERT_STR_EQ(field(t, text), "héllo");
    ASSERT_STR_EQ(field(t, label), "1");
    ASSERT_STR_EQ(field(t, score), "0.5");
    ASSERT_STR_EQ(field(t, ok), "true");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_STR_EQ(table_record_error(t), "not a JSON object");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_TRUE(table_record_error(t) == NULL);
    ASSERT_TRUE(table_field(t, label, NULL) == NULL);
    ASSERT_EQ(table_next(t), 1);
    ASSERT_CONTAINS(table_record_error(t), "not JSON");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_CONTAINS(table_record_error(t), "duplicate");
    ASSERT_EQ(table_next(t), 0);
    table_free(&t);
}

TEST(unreadable_records_are_flagged)
{
    size_t n = TABLE_MAX_RECORD + 10;
    char *big = malloc(n + 64);
    table_options_t o = {TABLE_TSV, false, false};
    table_t *t;

    memcpy(big, "a\xff\tb\nc\0d\te\n", 11);
    memset(big + 11, 'x', n);
    memcpy(big + 11 + n, "\nlast\t1\n", 8);
    ASSERT_OK(table_open_memory(big, 11 + n + 8, "mem", &o, &t));
    ASSERT_EQ(table_next(t), 1);
    ASSERT_CONTAINS(table_record_error(t), "invalid UTF-8 in field 1");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_CONTAINS(table_record_error(t), "NUL byte");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_CONTAINS(table_record_error(t), "longer than the limit");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_TRUE(table_record_error(t) == NULL);
    ASSERT_STR_EQ(field(t, 0), "last");
    ASSERT_EQ(table_line(t), 4);
    ASSERT_EQ(table_next(t), 0);
    table_free(&t);
    free(big);
}

TEST(header_problems_and_formats)
{
    table_options_t o = {TABLE_CSV, true, false};
    table_format_t f;
    table_t *t;

    ASSERT_ERR(table_open_memory("", 0, "empty.csv", &o, &t), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "empty.csv");
    ASSERT_ERR(table_open_memory("a,a\n", 4, "dup.csv", &o, &t), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "twice");
    ASSERT_ERR(table_open_memory("\"a\n", 3, "q.csv", &o, &t), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "q.csv:1: header");
    ASSERT_ERR(table_open("/nonexistent/x.csv", &o, &t), ERR_IO);
    ASSERT_OK(table_format_for_path("a/b.JSONL", &f));
    ASSERT_EQ(f, TABLE_JSONL);
    ASSERT_OK(table_format_for_path("b.tsv", &f));
    ASSERT_EQ(f, TABLE_TSV);
    ASSERT_ERR(table_format_for_path("b.txt", &f), ERR_INVAL);
    o.format = TABLE_TSV;
    o.header = false;
    ASSERT_OK(table_open_memory("x\n", 2, "nohdr", &o, &t));
    {
        int col;
        ASSERT_ERR(table_column(t, "x", &col), ERR_NOTFOUND);
        ASSERT_CONTAINS(err_msg(), "no header");
    }
    table_free(&t);
}

TEST(csv_record_over_the_cap_still_ends_at_its_line)
{
    /* Past the cap nothing more is stored, but a quote deep inside an unquoted field stays a
     * character: the next line is still the next record. */
    size_t n = TABLE_MAX_RECORD + 100;
    char *big = malloc(n + 64);
    table_options_t o = {TABLE_CSV, false, false};
    table_t *t;

    memset(big, 'x', n);
    big[n - 50] = '"';
    memcpy(big + n, "\nnext,1\n", 8);
    ASSERT_OK(table_open_memory(big, n + 8, "big.csv", &o, &t));
    ASSERT_EQ(table_next(t), 1);
    ASSERT_CONTAINS(table_record_error(t), "longer than the limit");
    ASSERT_EQ(table_next(t), 1);
    ASSERT_TRUE(table_record_error(t) == NULL);
    ASSERT_STR_EQ(table_field(t, 0, NULL), "next");
    ASSERT_EQ(table_line(t), 2);
    ASSERT_EQ(table_next(t), 0);
    table_free(&t);
    free(big);
}
