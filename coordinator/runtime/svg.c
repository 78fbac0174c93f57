/* The report's SVG writer (svg.h). */
#include "coordinator/runtime/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

/* ---- the buffer ------------------------------------------------------------------------------ */

void svg_buf_init(svg_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void svg_buf_free(svg_buf_t *b)
{
    free(b->data);
    svg_buf_init(b);
}

int svg_buf_error(const svg_buf_t *b)
{
    return b->err;
}

/* Room for n more bytes and a NUL; false (the error recorded) when there is none. */
static bool reserve(svg_buf_t *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->err)
        return false;
    if (!mem_add(b->len, n, &need) || !mem_add(need, 1, &need) || need > SVG_MAX_BYTES) {
        b->err = err_set(ERR_RANGE, "SVG document over %zu bytes", SVG_MAX_BYTES);
        return false;
    }
    if (need <= b->cap)
        return true;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    p = mem_realloc(b->data, cap, 1, "SVG document");
    if (!p) {
        b->err = ERR_NOMEM;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

static void put(svg_buf_t *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void svg_puts(svg_buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

void svg_printf(svg_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is not one; U+FFFE and
 * U+FFFF, which XML does not allow, count as not well-formed. */
static int utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    int n;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) ||
        (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
        return 0;   /* overlong, a surrogate, or past U+10FFFF */
    if (c == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF))
        return 0;
    return n;
}

void svg_escape(svg_buf_t *b, const char *text)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");

    while (*s) {
        int n = utf8_len(s);
        switch (n ? *s : 0) {
        case '&': svg_puts(b, "&amp;"); break;
        case '<': svg_puts(b, "&lt;"); break;
        case '>': svg_puts(b, "&gt;"); break;
        case '"': svg_puts(b, "&quot;"); break;
        case '\'': svg_puts(b, "&#39;"); break;
        case 0: svg_puts(b, "\xEF\xBF\xBD"); n = 1; break;
        default:
            if (*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
                svg_puts(b, "\xEF\xBF\xBD");
            else
                put(b, (const char *)s, (size_t)n);
        }
        s += n;
    }
}

void svg_num(svg_buf_t *b, double v, int digits)
{
    if (!isfinite(v))
        v = 0;
    svg_printf(b, "%.*g", digits, v);
}

/* A coordinate in pixels: finite, bounded, two decimals. */
static void coord(svg_buf_t *b, double v)
{
    if (!isfinite(v))
        v = 0;
    v = fmax(-1e6, fmin(1e6, v));
    svg_printf(b, "%.2f", v);
}

/* ` class="cls"` when cls is given. */
static void class_attr(svg_buf_t *b, const char *cls)
{
    if (!cls)
        return;
    svg_puts(b, " class=\"");
    svg_escape(b, cls);
    svg_puts(b, "\"");
}

/* Ends an element opened without its `>`: `/>`, or a <title> child and the closing tag. */
static void end_element(svg_buf_t *b, const char *tag, const char *title)
{
    if (!title) {
        svg_puts(b, "/>\n");
        return;
    }
    svg_puts(b, "><title>");
    svg_escape(b, title);
    svg_printf(b, "</title></%s>\n", tag);
}

/* ---- scales ---------------------------------------------------------------------------------- */

static double fwd(const svg_scale_t *s, double v)
{
    return s->log ? log10(v) : v;
}

int svg_scale_init(svg_scale_t *s, double d0, double d1, double r0, double r1, bool log)
{
    if (!isfinite(d0) || !isfinite(d1) || !isfinite(r0) || !isfinite(r1))
        return err_set(ERR_INVAL, "scale: non-finite bound");
    if (log && (d0 <= 0 || d1 <= 0))
        return err_set(ERR_INVAL, "log scale: bounds %g, %g must be positive", d0, d1);
    if (d0 > d1) {
        double t = d0;
        d0 = d1;
        d1 = t;
    }
    if (d0 == d1) {
        d0 = log ? d0 / sqrt(10) : d0 - 0.5;
        d1 = log ? d1 * sqrt(10) : d1 + 0.5;
    }
    *s = (svg_scale_t){d0, d1, r0, r1, log};
    return 0;
}

double svg_scale_map(const svg_scale_t *s, double v)
{
    double t;

    if (!isfinite(v) || (s->log && v <= 0))
        return s->r0;
    t = (fwd(s, v) - fwd(s, s->d0)) / (fwd(s, s->d1) - fwd(s, s->d0));
    if (!isfinite(t))
        t = 0;
    t = fmax(0, fmin(1, t));
    return s->r0 + t * (s->r1 - s->r0);
}

/* 1, 2 or 5 x 10^k nearest above raw / 1.5 or so: the step of a linear axis. */
static double nice_step(double raw)
{
    double p, f;

    if (!(raw > 0) || !isfinite(raw))
        return 1;
    p = pow(10, floor(log10(raw)));
    f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

void svg_scale_nice(double *lo, double *hi, bool log)
{
    double step;

    if (!isfinite(*lo) || !isfinite(*hi) || *lo > *hi)
        return;
    if (log) {
        if (*lo <= 0)
            return;
        *lo = pow(10, floor(log10(*lo) + 1e-9));
        *hi = pow(10, ceil(log10(*hi) - 1e-9));
        if (*hi <= *lo)
            *hi = *lo * 10;
        return;
    }
    if (*lo == *hi) {
        *lo -= 0.5;
        *hi += 0.5;
    }
    step = nice_step((*hi - *lo) / 5);
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
}

static int log_ticks(const svg_scale_t *s, int target, double *out, int cap)
{
    static const double mult[] = {1, 2, 5};
    int e0 = (int)floor(log10(s->d0) + 1e-9), e1 = (int)ceil(log10(s->d1) - 1e-9);
    int ndec = e1 - e0, every = 1, nm = ndec < 3 ? 3 : 1, n = 0;

    if (target > 0 && ndec > target)
        every = (ndec + target - 1) / target;
    for (int e = e0; e <= e1; e++) {
        if ((e - e0) % every != 0)
            continue;
        for (int m = 0; m < nm && n < cap; m++) {
            double v = mult[m] * pow(10, e);
            if (v >= s->d0 * (1 - 1e-9) && v <= s->d1 * (1 + 1e-9))
                out[n++] = v;
        }
    }
    return n;
}

int svg_ticks(const svg_scale_t *s, int target, double *out, int cap)
{
    double step, first;
    int n = 0;

    if (cap > SVG_MAX_TICKS)
        cap = SVG_MAX_TICKS;
    if (s->log)
        return log_ticks(s, target, out, cap);
    step = nice_step((s->d1 - s->d0) / (target > 0 ? target : 5));
    first = ceil(s->d0 / step - 1e-9) * step;
    for (int k = 0; n < cap; k++) {
        double v = first + k * step;
        if (v > s->d1 + step * 1e-9)
            break;
        out[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    }
    return n;
}

void svg_tick_label(double v, char *buf, size_t len)
{
    double a = fabs(v);

    if (!isfinite(v) || a < 1e-300)
        snprintf(buf, len, "0");
    else if (a >= 1e5 || a < 1e-4)
        snprintf(buf, len, "%.3g", v);
    else
        snprintf(buf, len, "%.6g", v);
}

/* ---- elements -------------------------------------------------------------------------------- */

/* The palette is Okabe and Ito's, which stays distinct for colour-blind readers: blue for the
 * search, vermilion for baselines, bluish green for confirmations, reddish purple for the
 * reference point. */
static const char style[] =
    "text{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;font-size:12px;fill:#222}"
    ".frame{fill:none;stroke:#555;stroke-width:1}"
    ".grid{stroke:#e8e8e8;stroke-width:1}"
    ".tick{stroke:#555;stroke-width:1}"
    ".tick-label{font-size:11px;fill:#444}"
    ".axis-label{font-size:12px}"
    ".fig-title{font-size:13px;font-weight:bold}"
    ".note{font-size:11px;fill:#666}"
    ".trial{fill:#0072B2;fill-opacity:0.45;stroke:#0072B2;stroke-width:0.8}"
    ".trial.on-front{fill-opacity:1;stroke:#00304d}"
    ".trial.baseline{fill:#D55E00;fill-opacity:1;stroke:#5a2700;stroke-width:1.2}"
    ".trial.confirm{fill:#fff;fill-opacity:1;stroke:#009E73;stroke-width:1}"
    ".front{fill:none;stroke:#0072B2;stroke-width:1.6}"
    ".errbar{stroke:#009E73;stroke-width:1.4}"
    ".ref{stroke:#CC79A7;stroke-width:2}"
    ".baseline-label{font-size:11px;fill:#8a3500}"
    ".hv-search{fill:none;stroke:#0072B2;stroke-width:1.8}"
    ".hv-baseline{stroke:#D55E00;stroke-width:1.5;stroke-dasharray:6 3}"
    ".bar{fill:#0072B2}"
    ".cell{stroke:#fff;stroke-width:1}"
    ".cell-label{font-size:10px;fill:#222}"
    ".cell-label.light{fill:#fff}"
    ".legend-text{font-size:11px;fill:#333}"
    ".lg-search{fill:#0072B2;fill-opacity:0.45;stroke:#0072B2}"
    ".lg-front{fill:#0072B2;stroke:#00304d}"
    ".lg-baseline{fill:#D55E00;stroke:#5a2700}"
    ".lg-confirm{fill:#fff;stroke:#009E73}";

const char *svg_style(void)
{
    return style;
}

void svg_open(svg_buf_t *b, int width, int height, const char *title)
{
    svg_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" role=\"img\">\n<title>", width, height, width, height);
    svg_escape(b, title);
    svg_printf(b, "</title>\n<style>%s</style>\n", style);
    svg_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", width,
               height);
}

void svg_close(svg_buf_t *b)
{
    svg_puts(b, "</svg>\n");
}

void svg_line(svg_buf_t *b, double x1, double y1, double x2, double y2, const char *cls)
{
    svg_puts(b, "<line x1=\"");
    coord(b, x1);
    svg_puts(b, "\" y1=\"");
    coord(b, y1);
    svg_puts(b, "\" x2=\"");
    coord(b, x2);
    svg_puts(b, "\" y2=\"");
    coord(b, y2);
    svg_puts(b, "\"");
    class_attr(b, cls);
    svg_puts(b, "/>\n");
}

void svg_rect(svg_buf_t *b, double x, double y, double w, double h, const char *cls,
              const char *fill, const char *title)
{
    svg_puts(b, "<rect x=\"");
    coord(b, x);
    svg_puts(b, "\" y=\"");
    coord(b, y);
    svg_puts(b, "\" width=\"");
    coord(b, fmax(0, w));
    svg_puts(b, "\" height=\"");
    coord(b, fmax(0, h));
    svg_puts(b, "\"");
    class_attr(b, cls);
    if (fill) {
        svg_puts(b, " fill=\"");
        svg_escape(b, fill);
        svg_puts(b, "\"");
    }
    end_element(b, "rect", title);
}

void svg_circle(svg_buf_t *b, double cx, double cy, double r, const char *cls,
                const char *title)
{
    svg_puts(b, "<circle cx=\"");
    coord(b, cx);
    svg_puts(b, "\" cy=\"");
    coord(b, cy);
    svg_puts(b, "\" r=\"");
    coord(b, fmax(0, r));
    svg_puts(b, "\"");
    class_attr(b, cls);
    end_element(b, "circle", title);
}

void svg_text(svg_buf_t *b, double x, double y, const char *anchor, const char *cls,
              const char *text)
{
    svg_puts(b, "<text x=\"");
    coord(b, x);
    svg_puts(b, "\" y=\"");
    coord(b, y);
    svg_printf(b, "\" text-anchor=\"%s\"", anchor ? anchor : "start");
    class_attr(b, cls);
    svg_puts(b, ">");
    svg_escape(b, text);
    svg_puts(b, "</text>\n");
}

void svg_polyline(svg_buf_t *b, const double *xy, int n, const char *cls)
{
    if (n < 1)
        return;
    svg_puts(b, "<polyline points=\"");
    for (int i = 0; i < n; i++) {
        if (i)
            svg_puts(b, " ");
        coord(b, xy[2 * i]);
        svg_puts(b, ",");
        coord(b, xy[2 * i + 1]);
    }
    svg_puts(b, "\"");
    class_attr(b, cls);
    svg_puts(b, "/>\n");
}

/* ---- plots ----------------------------------------------------------------------------------- */

int svg_plot_init(svg_plot_t *p, double left, double top, double width, double height,
                  double x0, double x1, bool xlog, double y0, double y1, bool ylog)
{
    int rc;

    p->left = left;
    p->top = top;
    p->width = width;
    p->height = height;
    svg_scale_nice(&x0, &x1, xlog);
    svg_scale_nice(&y0, &y1, ylog);
    if ((rc = svg_scale_init(&p->x, x0, x1, left, left + width, xlog)) != 0)
        return rc;
    return svg_scale_init(&p->y, y0, y1, top + height, top, ylog);
}

void svg_axes(svg_buf_t *b, const svg_plot_t *p, const char *xlabel, const char *ylabel)
{
    double t[SVG_MAX_TICKS], bottom = p->top + p->height, right = p->left + p->width;
    char label[64];
    int n;

    n = svg_ticks(&p->x, 6, t, SVG_MAX_TICKS);
    for (int i = 0; i < n; i++) {
        double x = svg_scale_map(&p->x, t[i]);
        svg_line(b, x, p->top, x, bottom, "grid");
        svg_line(b, x, bottom, x, bottom + 5, "tick");
        svg_tick_label(t[i], label, sizeof label);
        svg_text(b, x, bottom + 18, "middle", "tick-label", label);
    }
    n = svg_ticks(&p->y, 6, t, SVG_MAX_TICKS);
    for (int i = 0; i < n; i++) {
        double y = svg_scale_map(&p->y, t[i]);
        svg_line(b, p->left, y, right, y, "grid");
        svg_line(b, p->left - 5, y, p->left, y, "tick");
        svg_tick_label(t[i], label, sizeof label);
        svg_text(b, p->left - 8, y + 4, "end", "tick-label", label);
    }
    svg_rect(b, p->left, p->top, p->width, p->height, "frame", NULL, NULL);
    svg_text(b, p->left + p->width / 2, bottom + 36, "middle", "axis-label", xlabel);
    svg_puts(b, "<text transform=\"translate(");
    coord(b, p->left - 48);
    svg_puts(b, ",");
    coord(b, p->top + p->height / 2);
    svg_puts(b, ") rotate(-90)\" text-anchor=\"middle\" class=\"axis-label\">");
    svg_escape(b, ylabel);
    svg_puts(b, "</text>\n");
}
