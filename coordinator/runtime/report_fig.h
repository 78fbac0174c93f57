/* The report's figures (docs/report.md), each an SVG document appended to a buffer from a
 * study view (study_view.h). The HTML page (report_html.h) inlines the same documents, and
 * writes each to its own .svg file.
 *
 *   front       every done trial at (parameter % deployed, dev metric): one circle.trial each
 *               (with a <title>: id, configuration, metric, cost), the search's Pareto front as
 *               a step line, baselines as distinct marks labelled with their names
 *               (text.baseline-label), confirmed points with error bars of +- one seed standard
 *               deviation, and the reference point; log x when the positive costs span more
 *               than two decades (a cost of 0 is then drawn at the axis minimum)
 *   hypervolume the search front's hypervolume after each counted search trial, against the
 *               trial number and against cumulative worker time, with the baselines' own
 *               hypervolume as a horizontal line
 *   layers      for each module and layer, the fraction of front configurations that insert
 *               the module there (shaded cells, the fraction as their title)
 *   relevance   1 / lengthscale of each dimension of the encoding under the search's MAP GP
 *               fit, normalised to a largest of 1; a message instead when it cannot be fitted
 * Each returns svg_buf_error(b). */
#ifndef AUTOPEFT_REPORT_FIG_H
#define AUTOPEFT_REPORT_FIG_H

#include <stdbool.h>
#include <stddef.h>

#include "coordinator/runtime/study_view.h"
#include "coordinator/runtime/svg.h"

int report_fig_front(const study_view_t *v, svg_buf_t *b);
int report_fig_hypervolume(const study_view_t *v, svg_buf_t *b);
int report_fig_layers(const study_view_t *v, svg_buf_t *b);
/* *fitted (may be NULL): whether the relevance could be computed (else the figure is a
 * message saying why). */
int report_fig_relevance(const study_view_t *v, svg_buf_t *b, bool *fitted);

/* The front figure's caption: counts of done, failed and pending trials, and how the axes are
 * drawn (log x, costs of 0). Escaped for HTML/XML. */
void report_fig_front_caption(const study_view_t *v, svg_buf_t *b);

/* The x axis of the front figure is logarithmic: the positive costs span more than two decades. */
bool report_fig_front_logx(const study_view_t *v);

#endif
