#include "worker/inputs/table.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/file.h"
#include "common/mem.h"
#include "common/utf8.h"

struct table {
    char label[1024];
    const char *data;
    size_t size, pos;
    bool mapped;
    table_options_t opt;
    char sep;
    bool quoted;
    size_t line;          /* line number at pos */
    size_t rec_line;      /* line where the current record begins */
    char err[300];        /* why the current record is unreadable ("" when fine) */
    char *buf;            /* the current record's fields, each NUL-terminated */
    size_t len, cap;
    size_t *field;        /* offsets of the fields in buf */
    int nfields;
    char **names;         /* header names, or JSONL keys asked for */
    int nnames;
    json_t *obj;          /* JSONL: the current record */
    char **tmp;           /* JSONL: text of non-string values, freed at the next record */
    int ntmp;
};

static const char *const format_names[] = {"tsv", "csv", "jsonl"};

const char *table_format_name(table_format_t f)
{
    return (int)f >= 0 && f <= TABLE_JSONL ? format_names[f] : NULL;
}

int table_format_for_path(const char *path, table_format_t *out)
{
    const char *dot = strrchr(path, '.');

    if (dot && strcasecmp(dot, ".tsv") == 0)
        *out = TABLE_TSV;
    else if (dot && strcasecmp(dot, ".csv") == 0)
        *out = TABLE_CSV;
    else if (dot && (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".json") == 0))
        *out = TABLE_JSONL;
    else
        return err_set(ERR_INVAL, "%s: cannot tell the format from the name (expected .tsv, "
                       ".csv, .jsonl or .json)", path);
    return 0;
}

static void record_error(table_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void record_error(table_t *t, const char *fmt, ...)
{
    va_list ap;

    if (t->err[0])
        return; /* the first reason is the useful one */
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
}

static int buf_put(table_t *t, char c)
{
    if (t->len == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        char *p = mem_realloc(t->buf, cap, 1, "record buffer");
        if (!p)
            return ERR_NOMEM;
        t->buf = p;
        t->cap = cap;
    }
    t->buf[t->len++] = c;
    return 0;
}

static int field_start(table_t *t)
{
    if (t->nfields == TABLE_MAX_FIELDS) {
        record_error(t, "more than %d fields", TABLE_MAX_FIELDS);
        return 0;
    }
    if (!t->field) {
        t->field = mem_alloc(TABLE_MAX_FIELDS, sizeof *t->field, "record fields");
        if (!t->field)
            return ERR_NOMEM;
    }
    t->field[t->nfields++] = t->len;
    return 0;
}

static bool at_eol(const table_t *t, size_t i)
{
    return i < t->size && (t->data[i] == '\n' || t->data[i] == '\r');
}

/* Consumes the line end at pos (one of \n, \r\n, \r). */
static void eat_eol(table_t *t)
{
    if (t->data[t->pos] == '\r' && t->pos + 1 < t->size && t->data[t->pos + 1] == '\n')
        t->pos++;
    t->pos++;
    t->line++;
}

/* One line into buf: split on sep (delimited) or whole (JSONL). */
static int read_plain(table_t *t)
{
    size_t start = t->pos, end = start;
    int rc;

    while (end < t->size && t->data[end] != '\n' && t->data[end] != '\r')
        end++;
    t->pos = end;
    if (end - start > TABLE_MAX_RECORD) {
        record_error(t, "record of %zu bytes, longer than the limit of %u", end - start,
                     TABLE_MAX_RECORD);
        return 0;
    }
    if ((rc = field_start(t)) != 0)
        return rc;
    for (size_t i = start; i < end; i++) {
        char c = t->data[i];

        if (c == t->sep && t->opt.format != TABLE_JSONL) {
            if ((rc = buf_put(t, '\0')) != 0 || (rc = field_start(t)) != 0)
                return rc;
        } else if ((rc = buf_put(t, c)) != 0) {
            return rc;
        }
    }
    return buf_put(t, '\0');
}

/* Stores c unless the record is already past the cap (then only the parsing goes on). */
static int put(table_t *t, char c, size_t bytes)
{
    return bytes > TABLE_MAX_RECORD ? 0 : buf_put(t, c);
}

/* One RFC 4180 record: quoted fields may span lines. Parsing state does not depend on what is
 * stored, so a record over the cap still ends where it should. */
static int read_quoted(table_t *t)
{
    bool in_quotes = false, was_quoted = false;
    size_t opened = 0, bytes = 0, field_chars = 0;
    int rc;

    if ((rc = field_start(t)) != 0)
        return rc;
    while (t->pos < t->size) {
        char c = t->data[t->pos];

        if (++bytes == TABLE_MAX_RECORD + 1)
            record_error(t, "record longer than the limit of %u bytes", TABLE_MAX_RECORD);
        if (in_quotes) {
            if (c == '"' && t->pos + 1 < t->size && t->data[t->pos + 1] == '"') {
                t->pos += 2;
                if ((rc = put(t, '"', bytes)) != 0)
                    return rc;
                continue;
            }
            t->pos++;
            if (c == '"') {
                in_quotes = false;
                if (t->pos < t->size && t->data[t->pos] != t->sep && !at_eol(t, t->pos))
                    record_error(t, "text after the closing quote of field %d", t->nfields);
                continue;
            }
            if (c == '\n' || (c == '\r' && !(t->pos < t->size && t->data[t->pos] == '\n')))
                t->line++;
            if ((rc = put(t, c, bytes)) != 0)
                return rc;
            continue;
        }
        if (c == '\n' || c == '\r')
            break;
        t->pos++;
        if (c == t->sep) {
            was_quoted = false;
            field_chars = 0;
            if (bytes <= TABLE_MAX_RECORD &&
                ((rc = buf_put(t, '\0')) != 0 || (rc = field_start(t)) != 0))
                return rc;
        } else if (c == '"' && field_chars == 0 && !was_quoted) {
            in_quotes = was_quoted = true;
            opened = t->line;
        } else {
            field_chars++;
            if ((rc = put(t, c, bytes)) != 0)
                return rc;
        }
    }
    if (in_quotes)
        record_error(t, "quoted field opened on line %zu is never closed", opened);
    return buf_put(t, '\0');
}

static void free_tmp(table_t *t)
{
    for (int i = 0; i < t->ntmp; i++)
        free(t->tmp[i]);
    t->ntmp = 0;
}

int table_next(table_t *t)
{
    int rc;

    t->err[0] = '\0';
    t->len = 0;
    t->nfields = 0;
    json_decref(t->obj);
    t->obj = NULL;
    free_tmp(t);
    while (t->pos < t->size && at_eol(t, t->pos))
        eat_eol(t);
    if (t->pos >= t->size)
        return 0;
    t->rec_line = t->line;
    rc = t->quoted ? read_quoted(t) : read_plain(t);
    if (rc != 0)
        return rc;
    if (t->pos < t->size)
        eat_eol(t);
    if (t->err[0])
        return 1;
    for (int f = 0; f < t->nfields && !t->err[0]; f++) {
        const char *s = t->buf + t->field[f];
        size_t n = strlen(s), bad;
        size_t end = f + 1 < t->nfields ? t->field[f + 1] - 1 : t->len - 1;

        if (n != end - t->field[f])
            record_error(t, "NUL byte in field %d", f + 1);
        else if (!utf8_valid(s, n, &bad))
            record_error(t, "invalid UTF-8 in field %d at byte %zu", f + 1, bad + 1);
    }
    if (!t->err[0] && t->opt.format == TABLE_JSONL) {
        json_error_t jerr;

        t->obj = json_loadb(t->buf, t->len - 1, JSON_REJECT_DUPLICATES, &jerr);
        if (!t->obj)
            record_error(t, "not JSON: column %d: %s", jerr.column, jerr.text);
        else if (!json_is_object(t->obj))
            record_error(t, "not a JSON object");
    }
    return 1;
}

size_t table_line(const table_t *t)
{
    return t->rec_line;
}

const char *table_record_error(const table_t *t)
{
    return t->err[0] ? t->err : NULL;
}

int table_nfields(const table_t *t)
{
    return t->opt.format == TABLE_JSONL ? 0 : t->nfields;
}

static const char *json_text(table_t *t, json_t *v, size_t *len)
{
    char num[64];
    char **grown;

    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    if (json_is_integer(v))
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(num, sizeof num, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    grown = mem_realloc(t->tmp, (size_t)t->ntmp + 1, sizeof *t->tmp, "field text");
    if (!grown)
        return NULL;
    t->tmp = grown;
    if (!(t->tmp[t->ntmp] = mem_strdup(num)))
        return NULL;
    *len = strlen(num);
    return t->tmp[t->ntmp++];
}

const char *table_field(table_t *t, int col, size_t *len)
{
    size_t dummy;

    if (!len)
        len = &dummy;
    *len = 0;
    if (t->err[0] || col < 0)
        return NULL;
    if (t->opt.format == TABLE_JSONL) {
        if (!t->obj || col >= t->nnames)
            return NULL;
        return json_text(t, json_object_get(t->obj, t->names[col]), len);
    }
    if (col >= t->nfields)
        return NULL;
    *len = strlen(t->buf + t->field[col]);
    return t->buf + t->field[col];
}

int table_ncolumns(const table_t *t)
{
    return t->opt.format == TABLE_JSONL ? 0 : t->nnames;
}

int table_column(table_t *t, const char *name, int *index)
{
    char list[600];
    size_t at = 0;
    char **grown;

    for (int i = 0; i < t->nnames; i++) {
        if (strcmp(t->names[i], name) == 0) {
            *index = i;
            return 0;
        }
    }
    if (t->opt.format == TABLE_JSONL) {
        grown = mem_realloc(t->names, (size_t)t->nnames + 1, sizeof *t->names, "column names");
        if (!grown)
            return ERR_NOMEM;
        t->names = grown;
        if (!(t->names[t->nnames] = mem_strdup(name)))
            return ERR_NOMEM;
        *index = t->nnames++;
        return 0;
    }
    if (!t->opt.header)
        return err_set(ERR_NOTFOUND, "%s: no header line, so no column is named '%s'", t->label,
                       name);
    list[0] = '\0';
    for (int i = 0; i < t->nnames && at < sizeof list - 8; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s'%s'", i ? ", " : "",
                               t->names[i]);
    return err_set(ERR_NOTFOUND, "%s: no column '%s' (the header has %s)", t->label, name, list);
}

static int read_header(table_t *t)
{
    int rc = table_next(t);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return err_set(ERR_PARSE, "%s: empty file (no header line)", t->label);
    if (t->err[0])
        return err_set(ERR_PARSE, "%s:%zu: header: %s", t->label, t->rec_line, t->err);
    t->names = mem_alloc((size_t)t->nfields, sizeof *t->names, "column names");
    if (!t->names)
        return ERR_NOMEM;
    for (int i = 0; i < t->nfields; i++) {
        for (int j = 0; j < i; j++)
            if (strcmp(t->names[j], t->buf + t->field[i]) == 0)
                return err_set(ERR_PARSE, "%s:%zu: header names column '%s' twice", t->label,
                               t->rec_line, t->names[j]);
        if (!(t->names[i] = mem_strdup(t->buf + t->field[i])))
            return ERR_NOMEM;
        t->nnames = i + 1;
    }
    return 0;
}

static int start(table_t *t, const table_options_t *o)
{
    t->opt = *o;
    t->sep = o->format == TABLE_CSV ? ',' : '\t';
    t->quoted = o->format == TABLE_CSV || (o->format == TABLE_TSV && o->quoted);
    t->line = 1;
    if (t->size >= 3 && memcmp(t->data, "\xef\xbb\xbf", 3) == 0)
        t->pos = 3;
    if (o->header && o->format != TABLE_JSONL)
        return read_header(t);
    return 0;
}

int table_open_memory(const char *data, size_t size, const char *label,
                      const table_options_t *o, table_t **out)
{
    table_t *t;
    int rc;

    *out = NULL;
    t = mem_alloc(1, sizeof *t, "table reader");
    if (!t)
        return ERR_NOMEM;
    snprintf(t->label, sizeof t->label, "%s", label ? label : "(memory)");
    t->data = data ? data : "";
    t->size = data ? size : 0;
    if ((rc = start(t, o)) != 0) {
        table_free(&t);
        return rc;
    }
    *out = t;
    return 0;
}

int table_open(const char *path, const table_options_t *o, table_t **out)
{
    table_t *t;
    const void *map;
    size_t size;
    int rc;

    *out = NULL;
    if ((rc = file_map(path, 0, "table", &map, &size)) != 0)
        return rc;
    t = mem_alloc(1, sizeof *t, "table reader");
    if (!t) {
        file_unmap(map, size);
        return ERR_NOMEM;
    }
    snprintf(t->label, sizeof t->label, "%s", path);
    t->data = map ? map : "";
    t->size = size;
    t->mapped = map != NULL;
    if ((rc = start(t, o)) != 0) {
        table_free(&t);
        return rc;
    }
    *out = t;
    return 0;
}

void table_free(table_t **tp)
{
    table_t *t;

    if (!tp || !*tp)
        return;
    t = *tp;
    if (t->mapped)
        file_unmap(t->data, t->size);
    free(t->buf);
    free(t->field);
    for (int i = 0; i < t->nnames; i++)
        free(t->names[i]);
    free(t->names);
    json_decref(t->obj);
    free_tmp(t);
    free(t->tmp);
    free(t);
    *tp = NULL;
}

const char *table_label(const table_t *t)
{
    return t->label;
}
