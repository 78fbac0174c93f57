/* A small SVG writer for the study report (report_html.h): a growable text buffer, XML/HTML
 * escaping, the few elements the figures use, and axes with linear or log scales.
 *
 * Every number written goes through svg_num, which writes a non-finite value as 0 so that the
 * document stays valid whatever the data; coordinates are rounded to 0.01 px. Errors are
 * sticky: once an allocation fails (or a size passes SVG_MAX_BYTES) every later call is a
 * no-op and svg_buf_error returns ERR_NOMEM, so a figure is written without checking each
 * call. The elements take a CSS class (NULL: none); the look is in the stylesheet of
 * svg_style, which each figure carries so that a lone .svg file looks as it does in the page. */
#ifndef AUTOPEFT_SVG_H
#define AUTOPEFT_SVG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* A document larger than this is refused (ERR_RANGE): a report stays a file one can open. */
#define SVG_MAX_BYTES ((size_t)1 << 30)
#define SVG_MAX_TICKS 32

typedef struct {
    char *data;       /* NUL-terminated text ("" before the first append) */
    size_t len, cap;
    int err;          /* 0, or the first error (ERR_NOMEM, ERR_RANGE) */
} svg_buf_t;

void svg_buf_init(svg_buf_t *b);
void svg_buf_free(svg_buf_t *b);
int svg_buf_error(const svg_buf_t *b);
/* Raw text, not escaped. */
void svg_puts(svg_buf_t *b, const char *s);
void svg_printf(svg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text escaped for XML and HTML, in content and in quoted attributes: & < > " ' become
 * entities; control characters other than tab, LF and CR (not allowed in XML 1.0) become
 * U+FFFD; bytes that are not well-formed UTF-8 become U+FFFD as well. */
void svg_escape(svg_buf_t *b, const char *s);
/* A number: %.*g with `digits` significant digits, 0 when not finite. */
void svg_num(svg_buf_t *b, double v, int digits);

/* ---- scales -------------------------------------------------------------------------------- */

/* Maps the domain [d0, d1] onto the range [r0, r1] (pixels; r1 < r0 for a y axis), linearly or
 * by log10 (then the domain must be positive). */
typedef struct {
    double d0, d1, r0, r1;
    bool log;
} svg_scale_t;

/* ERR_INVAL for a non-finite bound, or a non-positive one on a log scale. An empty domain
 * (d0 == d1) is widened to a unit around it (a decade on a log scale). */
int svg_scale_init(svg_scale_t *s, double d0, double d1, double r0, double r1, bool log);
/* The pixel of v: finite always (non-finite or non-positive-on-log values go to r0; values
 * outside the domain are clamped to a range edge). */
double svg_scale_map(const svg_scale_t *s, double v);
/* Widens [*lo, *hi] to round tick values (linear) or whole decades (log). */
void svg_scale_nice(double *lo, double *hi, bool log);
/* Tick values inside the domain, ascending: linear steps of 1, 2 or 5 x 10^k, about `target`
 * of them; on a log scale each decade, with 2 and 5 when the domain spans fewer than three
 * decades. Returns how many were written (at most cap). */
int svg_ticks(const svg_scale_t *s, int target, double *out, int cap);
/* A short label for a tick value ("0.001", "2.5", "1e+06"). */
void svg_tick_label(double v, char *buf, size_t len);

/* ---- elements ------------------------------------------------------------------------------ */

/* <svg> with the namespace, the size in pixels and a viewBox, then a <title> and the figure
 * stylesheet. */
void svg_open(svg_buf_t *b, int width, int height, const char *title);
void svg_close(svg_buf_t *b);
/* The stylesheet shared by every figure (also used by the page). */
const char *svg_style(void);

void svg_line(svg_buf_t *b, double x1, double y1, double x2, double y2, const char *cls);
/* A rectangle; title (may be NULL) becomes its <title> child, shown on hover. */
void svg_rect(svg_buf_t *b, double x, double y, double w, double h, const char *cls,
              const char *fill, const char *title);
void svg_circle(svg_buf_t *b, double cx, double cy, double r, const char *cls,
                const char *title);
/* anchor: "start", "middle" or "end"; the text is escaped. */
void svg_text(svg_buf_t *b, double x, double y, const char *anchor, const char *cls,
              const char *text);
/* An open path through n points (x, y interleaved). */
void svg_polyline(svg_buf_t *b, const double *xy, int n, const char *cls);

/* A plot's frame: the inner rectangle (pixels) and its two scales. */
typedef struct {
    double left, top, width, height;
    svg_scale_t x, y;
} svg_plot_t;

/* The frame of a plot at (left, top, width, height) over the domains (made nice first). */
int svg_plot_init(svg_plot_t *p, double left, double top, double width, double height,
                  double x0, double x1, bool xlog, double y0, double y1, bool ylog);
/* Grid lines, the frame, ticks with labels on both axes and the two axis titles. */
void svg_axes(svg_buf_t *b, const svg_plot_t *p, const char *xlabel, const char *ylabel);

#endif
