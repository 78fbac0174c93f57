/* Records of delimited text and JSON-lines files, the layer under task data (data.h).
 *
 *   TSV    fields split on tabs, one record a line; no quoting by default (GLUE's files are read
 *          with csv.QUOTE_NONE: a quote is just a character), RFC 4180 quoting on request.
 *   CSV    RFC 4180: comma-separated; a field that begins with '"' is quoted, may hold commas,
 *          line breaks and "" for one quote; a '"' inside an unquoted field is literal.
 *   JSONL  one JSON object a line; fields are looked up by key.
 * Lines end with "\n", "\r\n" or "\r" (Python's universal newlines); blank lines are skipped; a
 * UTF-8 byte-order mark at the start of the file is dropped. A record that cannot be read (bad
 * quoting, invalid UTF-8, a NUL byte, longer than TABLE_MAX_RECORD, not a JSON object) is still
 * returned, flagged with the reason, so the caller can report it with its line and go on. */
#ifndef AUTOPEFT_TABLE_H
#define AUTOPEFT_TABLE_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes in one record: sentences are short; a megabyte is a broken file. */
#define TABLE_MAX_RECORD (1u << 20)
#define TABLE_MAX_FIELDS 4096

typedef enum { TABLE_TSV = 0, TABLE_CSV, TABLE_JSONL } table_format_t;

typedef struct {
    table_format_t format;
    bool header;    /* TSV/CSV: the first record names the columns */
    bool quoted;    /* TSV only: RFC 4180 quoting with tabs (CSV is always quoted) */
} table_options_t;

typedef struct table table_t;

/* ERR_IO when the file cannot be read; ERR_PARSE when the header record is unreadable. */
int table_open(const char *path, const table_options_t *o, table_t **out);
/* The same over bytes in memory (borrowed). */
int table_open_memory(const char *data, size_t size, const char *label,
                      const table_options_t *o, table_t **out);
void table_free(table_t **tp);

const char *table_label(const table_t *t);
/* "tsv", "csv", "jsonl"; and the format for a file name's extension (.tsv .csv .jsonl .json),
 * ERR_INVAL naming them otherwise. */
const char *table_format_name(table_format_t f);
int table_format_for_path(const char *path, table_format_t *out);

/* The index of a named column: from the header (TSV/CSV) or a key to look up (JSONL).
 * ERR_NOTFOUND listing the header's names when absent. */
int table_column(table_t *t, const char *name, int *index);
/* Columns named by the header (0 without one). */
int table_ncolumns(const table_t *t);

/* Reads the next record: 1 when there is one, 0 at the end. */
int table_next(table_t *t);
/* The line where the current record begins (1-based). */
size_t table_line(const table_t *t);
/* Why the current record is unreadable, or NULL when it is fine. */
const char *table_record_error(const table_t *t);
/* Fields in the current record (TSV/CSV). */
int table_nfields(const table_t *t);
/* Field col of the current record, NUL-terminated, valid until the next table_next; NULL when
 * the record has no such field (or, in JSONL, the key is absent or null). JSON numbers and
 * booleans come as their JSON text; arrays and objects are NULL. */
const char *table_field(table_t *t, int col, size_t *len);

#endif
