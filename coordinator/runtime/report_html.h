/* The study report as one self-contained web page (docs/report.md): report.html holds the
 * figures of report_fig.h as inline SVG, its stylesheet, a table of facts (model, task,
 * recipe, space, budget, trials by state and kind, times, failures, version) and every trial;
 * no script, no network reference, so it opens from a laptop after scp. Each figure is also
 * written on its own for papers: front.svg, hypervolume.svg, layers.svg, relevance.svg. Every
 * file is written to a temporary name and renamed, as report.h's outputs are. */
#ifndef AUTOPEFT_REPORT_HTML_H
#define AUTOPEFT_REPORT_HTML_H

#include <stddef.h>

#include "coordinator/runtime/study_view.h"
#include "coordinator/runtime/svg.h"

/* Reads the study in dir and writes report.html and the four .svg files into it; path_out
 * (may be NULL) receives the path of report.html (len bytes). */
int report_html_write(const char *dir, char *path_out, size_t len);

/* The page of a study view into b; generated is the time shown as the page's date (epoch
 * seconds). Returns svg_buf_error(b). */
int report_html_page(const study_view_t *v, double generated, svg_buf_t *b);

#endif
