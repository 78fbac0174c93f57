/* The study report page and its SVG files (coordinator/runtime/report_html.c, report_fig.c) on
 * the hand-written store of tests/report_study.c: one mark per done trial, every baseline
 * label, well-formed XML, no network reference, finite numbers, atomic files. */
#include <dirent.h>
#include <unistd.h>

#include "coordinator/runtime/report.h"
#include "coordinator/runtime/report_fig.h"
#include "coordinator/runtime/report_html.h"
#include "coordinator/runtime/store.h"
#include "tests/harness.h"
#include "tests/report_study.h"
#include "tests/xmlcheck.h"

static const char *const figures[] = {"front.svg", "hypervolume.svg", "layers.svg",
                                      "relevance.svg"};

static const char *study_dir(const char *name)
{
    static char dir[1100];

    snprintf(dir, sizeof dir, "%s/%s", harness_tmpdir(), name);
    return dir;
}

static char *read_in(const char *dir, const char *name)
{
    char path[1300];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return harness_slurp(path, NULL);
}

static void well_formed(const char *doc, const char *what)
{
    char err[256];

    if (xmlcheck(doc, err, sizeof err) != 0)
        FAIL("%s is not well-formed XML: %s", what, err);
}

/* Every "http" in doc is the SVG namespace. */
static void no_network(const char *doc)
{
    static const char ns[] = "http://www.w3.org/2000/svg\"";

    for (const char *s = doc; (s = strstr(s, "http")); s += 4)
        if (strncmp(s, ns, sizeof ns - 1) != 0)
            FAIL("a reference that is not the SVG namespace: %.60s", s);
    ASSERT_TRUE(strstr(doc, "<script") == NULL);
    ASSERT_TRUE(strstr(doc, "<link") == NULL);
    ASSERT_TRUE(strstr(doc, "url(") == NULL);
}

/* Every geometric attribute holds only a number (or a list of numbers). */
static void finite_numbers(const char *doc)
{
    static const char *const attrs[] = {" cx=\"", " cy=\"", " r=\"", " x=\"", " y=\"",
                                        " x1=\"", " y1=\"", " x2=\"", " y2=\"", " width=\"",
                                        " height=\"", " points=\""};

    for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++)
        for (const char *s = doc; (s = strstr(s, attrs[a]));) {
            s += strlen(attrs[a]);
            size_t n = strspn(s, "0123456789.-+e ,");
            if (s[n] != '"' || n == 0)
                FAIL("attribute%s holds '%.30s'", attrs[a], s);
        }
}

static int done_rows(const char *label_out[], int *nlabels)
{
    int n, done = 0;
    const report_row_t *rows = report_study_rows(&n);

    *nlabels = 0;
    for (int i = 0; i < n; i++) {
        done += rows[i].state == STORE_DONE;
        if (rows[i].kind == STORE_BASELINE && rows[i].state == STORE_DONE)
            label_out[(*nlabels)++] = rows[i].label;
    }
    return done;
}

TEST(page_has_a_mark_per_done_trial_and_every_baseline_label)
{
    const char *labels[32];
    char path[1300];
    int nlabels, done = done_rows(labels, &nlabels);
    char *html;

    report_study_write(study_dir("s"));
    ASSERT_OK(report_html_write(study_dir("s"), path, sizeof path));
    ASSERT_CONTAINS(path, "/s/report.html");
    html = harness_slurp(path, NULL);
    well_formed(html, "report.html");
    ASSERT_EQ(done, 16);
    ASSERT_EQ(xmlcheck_count(html, "circle", "trial"), done);
    ASSERT_EQ(xmlcheck_count(html, "circle", "baseline"), nlabels);
    ASSERT_EQ(xmlcheck_count(html, "circle", "confirm"), 5);
    ASSERT_EQ(xmlcheck_count(html, "circle", "on-front"), 5);
    for (int i = 0; i < nlabels; i++)
        if (!xmlcheck_has_text(html, "text", "baseline-label", labels[i]))
            FAIL("no text.baseline-label '%s'", labels[i]);
    ASSERT_CONTAINS(html, "a&lt;b&amp;c &quot;q&quot;");
    ASSERT_TRUE(strstr(html, "a<b&c") == NULL);
    /* The trials table: one row per trial; the failure quoted, escaped. */
    ASSERT_EQ(xmlcheck_count(html, "tr", "search") + xmlcheck_count(html, "tr", "baseline") +
                  xmlcheck_count(html, "tr", "confirm"),
              20 + nlabels /* the dominance table's rows */);
    ASSERT_CONTAINS(html, "out of memory &lt;allocating 3 GB&gt; &amp; more");
    /* Hover text of a confirmed point, and its error bars. */
    ASSERT_CONTAINS(html, "<title>trial 1 (search, seed 1)\nsa=48 pa=0 pt=0 layers=111111111111\n"
                          "metric 0.8000, 0.5 % parameters deployed\nconfirmed: 0.8033 ± 0.0153 "
                          "over 3 seeds</title>");
    /* Four lines per confirmed point (trials 1, 10, 11), one in the legend. */
    ASSERT_EQ(xmlcheck_count(html, "line", "errbar"), 3 * 4 + 1);
    no_network(html);
    finite_numbers(html);
    free(html);
}

TEST(each_figure_is_its_own_svg_file)
{
    int nlabels;
    const char *labels[32];
    int done = done_rows(labels, &nlabels);

    report_study_write(study_dir("s"));
    ASSERT_OK(report_html_write(study_dir("s"), NULL, 0));
    for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++) {
        char *svg = read_in(study_dir("s"), figures[i]);
        ASSERT_TRUE(!strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44));
        well_formed(svg, figures[i]);
        no_network(svg);
        finite_numbers(svg);
        ASSERT_CONTAINS(svg, "<style>");   /* a lone file looks as it does in the page */
        if (i == 0)
            ASSERT_EQ(xmlcheck_count(svg, "circle", "trial"), done);
        free(svg);
    }
    {   /* No temporary file is left behind. */
        DIR *d = opendir(study_dir("s"));
        struct dirent *e;
        ASSERT_NOT_NULL(d);
        while ((e = readdir(d)))
            if (strstr(e->d_name, ".tmp"))
                FAIL("left %s", e->d_name);
        closedir(d);
    }
}

TEST(figures_say_what_they_show)
{
    study_view_t v;
    svg_buf_t b;
    bool fitted = false;

    report_study_write(study_dir("s"));
    ASSERT_OK(study_view_load(study_dir("s"), &v));
    /* Costs from 0.05 % to 100 %: log x, and the head-only baseline at 0 % is said to be
     * drawn at the axis minimum. */
    ASSERT_TRUE(report_fig_front_logx(&v));
    svg_buf_init(&b);
    report_fig_front_caption(&v, &b);
    ASSERT_CONTAINS(b.data, "16 done trials (6 search, 5 baseline, 5 confirmation), 2 failed, "
                            "2 pending");
    ASSERT_CONTAINS(b.data, "drawn at the axis minimum");
    svg_buf_free(&b);
    svg_buf_init(&b);
    ASSERT_OK(report_fig_layers(&v, &b));
    /* Layer 0: sa in trials 1, 2, 6 of the five front configurations; pt in trial 5. */
    ASSERT_CONTAINS(b.data, "<title>sa, layer 0: 0.60 of the front (3 of 5 configurations)</title>");
    ASSERT_CONTAINS(b.data, "<title>pt, layer 1: 0.20 of the front (1 of 5 configurations)</title>");
    ASSERT_CONTAINS(b.data, "<title>pt, layer 2: 0.00 of the front (0 of 5 configurations)</title>");
    svg_buf_free(&b);
    svg_buf_init(&b);
    ASSERT_OK(report_fig_relevance(&v, &b, &fitted));
    ASSERT_TRUE(fitted);
    ASSERT_EQ(xmlcheck_count(b.data, "rect", "bar"), 16);
    svg_buf_free(&b);
    svg_buf_init(&b);
    ASSERT_OK(report_fig_hypervolume(&v, &b));
    ASSERT_EQ(xmlcheck_count(b.data, "line", "hv-baseline"), 2);
    ASSERT_EQ(xmlcheck_count(b.data, "polyline", "hv-search"), 2);
    svg_buf_free(&b);
    study_view_free(&v);
}

TEST(few_trials_and_an_empty_study)
{
    char *html;
    store_t *st;

    report_study_write_small(study_dir("few"), 3);
    ASSERT_OK(report_html_write(study_dir("few"), NULL, 0));
    html = read_in(study_dir("few"), "report.html");
    well_formed(html, "report.html");
    ASSERT_EQ(xmlcheck_count(html, "circle", "trial"), 3);
    ASSERT_CONTAINS(html, "No relevance figure");
    ASSERT_CONTAINS(html, "3 done search trials, fewer than the 5 a fit needs");
    free(html);

    ASSERT_OK(store_open(study_dir("empty"), STORE_CREATE, &st));
    store_close(&st);
    ASSERT_OK(report_html_write(study_dir("empty"), NULL, 0));
    html = read_in(study_dir("empty"), "report.html");
    well_formed(html, "report.html");
    ASSERT_EQ(xmlcheck_count(html, "circle", "trial"), 0);
    ASSERT_CONTAINS(html, "no trial is done yet");
    ASSERT_CONTAINS(html, "configuration</th><td>unavailable: the store holds no configuration");
    finite_numbers(html);
    free(html);
}

TEST(non_finite_values_in_the_store_stay_out_of_the_svg)
{
    store_trial_t t = {.id = 1, .config = "sa=8 pa=0 pt=0 layers=111111111111", .cost = INFINITY,
                       .created_at = 1, .has_seed = true, .seed = 1};
    store_result_t r = {.trial_id = 1, .attempt = 1, .status = "ok", .has_objective = true,
                        .objective = 0.5, .total_s = NAN, .received_at = 3, .json = "{}"};
    store_t *st;
    char *html;

    ASSERT_OK(store_open(study_dir("inf"), STORE_CREATE, &st));
    ASSERT_OK(store_begin(st));
    ASSERT_OK(store_meta_set(st, "ref_metric", "nan"));
    ASSERT_OK(store_meta_set(st, "ref_cost", "inf"));
    ASSERT_OK(store_trial_add(st, &t));
    ASSERT_OK(store_trial_dispatch(st, 1, 1, "w", 2));
    ASSERT_OK(store_result(st, &r, STORE_DONE, 1));
    t.id = 2;
    t.cost = 1;
    r.trial_id = 2;
    r.objective = INFINITY;
    ASSERT_OK(store_trial_add(st, &t));
    ASSERT_OK(store_trial_dispatch(st, 2, 1, "w", 2));
    ASSERT_OK(store_result(st, &r, STORE_DONE, 2));
    ASSERT_OK(store_commit(st));
    store_close(&st);
    ASSERT_OK(report_html_write(study_dir("inf"), NULL, 0));
    html = read_in(study_dir("inf"), "report.html");
    well_formed(html, "report.html");
    finite_numbers(html);
    /* The infinite metric is no metric: one mark, for trial 1. */
    ASSERT_EQ(xmlcheck_count(html, "circle", "trial"), 1);
    free(html);
}

TEST(report_write_writes_the_page_too)
{
    char path[1300];

    report_study_write(study_dir("s"));
    ASSERT_OK(report_write(study_dir("s")));
    snprintf(path, sizeof path, "%s/report.html", study_dir("s"));
    ASSERT_EQ(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/front.svg", study_dir("s"));
    ASSERT_EQ(access(path, R_OK), 0);
}
