/* The report's SVG writer (coordinator/runtime/svg.c): escaping, numbers that stay finite,
 * linear and log scales and their ticks, and elements that make well-formed XML. */
#include "coordinator/runtime/svg.h"
#include "tests/harness.h"
#include "tests/xmlcheck.h"

static char *escaped(const char *s)
{
    static char out[512];
    svg_buf_t b;

    svg_buf_init(&b);
    svg_escape(&b, s);
    ASSERT_OK(svg_buf_error(&b));
    snprintf(out, sizeof out, "%s", b.data ? b.data : "");
    svg_buf_free(&b);
    return out;
}

TEST(escape_markup_and_quotes)
{
    ASSERT_STR_EQ(escaped("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
    ASSERT_STR_EQ(escaped("plain text, 0.5 %"), "plain text, 0.5 %");
    ASSERT_STR_EQ(escaped(""), "");
    ASSERT_STR_EQ(escaped(NULL), "");
    /* Already-escaped text is escaped again: the writer never guesses. */
    ASSERT_STR_EQ(escaped("&amp;"), "&amp;amp;");
}

TEST(escape_keeps_utf8_and_replaces_what_xml_forbids)
{
    /* é, ±, and a 4-byte character pass; tab, LF, CR pass. */
    ASSERT_STR_EQ(escaped("caf\xC3\xA9 \xC2\xB1 \xF0\x9F\x99\x82"), "caf\xC3\xA9 \xC2\xB1 \xF0\x9F\x99\x82");
    ASSERT_STR_EQ(escaped("a\tb\nc\rd"), "a\tb\nc\rd");
    /* Control characters, a lone continuation byte, a truncated sequence, an overlong form,
     * a surrogate and U+FFFE become U+FFFD, one per byte that cannot start a character. */
    ASSERT_STR_EQ(escaped("\x01x\x1f"), "\xEF\xBF\xBDx\xEF\xBF\xBD");
    ASSERT_STR_EQ(escaped("\x80"), "\xEF\xBF\xBD");
    ASSERT_STR_EQ(escaped("\xC3("), "\xEF\xBF\xBD(");
    ASSERT_STR_EQ(escaped("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
    ASSERT_STR_EQ(escaped("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    ASSERT_STR_EQ(escaped("\xEF\xBF\xBE"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    ASSERT_STR_EQ(escaped("\xF4\x90\x80\x80"),
                  "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(numbers_stay_finite)
{
    svg_buf_t b;

    svg_buf_init(&b);
    svg_num(&b, NAN, 6);
    svg_puts(&b, " ");
    svg_num(&b, INFINITY, 6);
    svg_puts(&b, " ");
    svg_num(&b, -INFINITY, 6);
    svg_puts(&b, " ");
    svg_num(&b, 1.5, 6);
    svg_puts(&b, " ");
    svg_num(&b, 1.0 / 3, 3);
    ASSERT_STR_EQ(b.data, "0 0 0 1.5 0.333");
    svg_buf_free(&b);

    /* Elements with non-finite coordinates still write numbers. */
    svg_buf_init(&b);
    svg_circle(&b, NAN, INFINITY, -1, "trial", NULL);
    svg_line(&b, 1e300, -1e300, 0, 0, NULL);
    ASSERT_STR_EQ(b.data, "<circle cx=\"0.00\" cy=\"0.00\" r=\"0.00\" class=\"trial\"/>\n"
                          "<line x1=\"1000000.00\" y1=\"-1000000.00\" x2=\"0.00\" y2=\"0.00\"/>\n");
    svg_buf_free(&b);
}

TEST(buffer_grows_and_printf_appends)
{
    svg_buf_t b;

    svg_buf_init(&b);
    for (int i = 0; i < 20000; i++)
        svg_printf(&b, "%05d,", i);
    ASSERT_OK(svg_buf_error(&b));
    ASSERT_EQ(b.len, 20000 * 6);
    ASSERT_EQ(strlen(b.data), b.len);
    ASSERT_TRUE(!strncmp(b.data + 6 * 12345, "12345,", 6));
    svg_buf_free(&b);
    ASSERT_TRUE(b.data == NULL && b.len == 0);
}

TEST(linear_scale_maps_and_clamps)
{
    svg_scale_t s;

    ASSERT_OK(svg_scale_init(&s, 0, 10, 100, 200, false));
    ASSERT_NEAR(svg_scale_map(&s, 0), 100, 1e-12);
    ASSERT_NEAR(svg_scale_map(&s, 2.5), 125, 1e-12);
    ASSERT_NEAR(svg_scale_map(&s, 10), 200, 1e-12);
    ASSERT_NEAR(svg_scale_map(&s, 50), 200, 1e-12);
    ASSERT_NEAR(svg_scale_map(&s, -5), 100, 1e-12);
    ASSERT_NEAR(svg_scale_map(&s, NAN), 100, 0);
    /* A y axis runs downwards; a reversed domain is put in order. */
    ASSERT_OK(svg_scale_init(&s, 1, 0, 300, 100, false));
    ASSERT_NEAR(svg_scale_map(&s, 0.25), 250, 1e-12);
    /* An empty domain is widened to a unit around it. */
    ASSERT_OK(svg_scale_init(&s, 3, 3, 0, 100, false));
    ASSERT_NEAR(svg_scale_map(&s, 3), 50, 1e-12);
    ASSERT_ERR(svg_scale_init(&s, NAN, 1, 0, 1, false), ERR_INVAL);
    ASSERT_ERR(svg_scale_init(&s, 0, INFINITY, 0, 1, false), ERR_INVAL);
}

TEST(log_scale_maps_decades_evenly)
{
    svg_scale_t s;

    ASSERT_OK(svg_scale_init(&s, 1, 1000, 0, 300, true));
    ASSERT_NEAR(svg_scale_map(&s, 10), 100, 1e-9);
    ASSERT_NEAR(svg_scale_map(&s, 100), 200, 1e-9);
    ASSERT_NEAR(svg_scale_map(&s, sqrt(10)), 50, 1e-9);
    /* 0 and negative values (head-only trials cost 0 %) go to the axis minimum. */
    ASSERT_NEAR(svg_scale_map(&s, 0), 0, 0);
    ASSERT_NEAR(svg_scale_map(&s, -1), 0, 0);
    ASSERT_ERR(svg_scale_init(&s, 0, 10, 0, 1, true), ERR_INVAL);
    ASSERT_ERR(svg_scale_init(&s, -1, 10, 0, 1, true), ERR_INVAL);
}

static int ticks(double d0, double d1, bool log, int target, double *t)
{
    svg_scale_t s;

    ASSERT_OK(svg_scale_init(&s, d0, d1, 0, 100, log));
    return svg_ticks(&s, target, t, SVG_MAX_TICKS);
}

TEST(log_ticks)
{
    double t[SVG_MAX_TICKS];
    const double decades[] = {0.01, 0.1, 1, 10, 100};
    const double fine[] = {1, 2, 5, 10, 20, 50, 100};
    const double sparse[] = {1e-3, 1e-1, 1e1, 1e3, 1e5, 1e7, 1e9};
    int n;

    /* Four decades: one tick each. */
    ASSERT_EQ(n = ticks(0.01, 100, true, 6, t), 5);
    for (int i = 0; i < n; i++)
        ASSERT_REL(t[i], decades[i], 1e-12, 0);
    /* Two decades: 1, 2, 5 in each. */
    ASSERT_EQ(n = ticks(1, 100, true, 6, t), 7);
    for (int i = 0; i < n; i++)
        ASSERT_REL(t[i], fine[i], 1e-12, 0);
    /* Twelve decades at about six ticks: every other decade. */
    ASSERT_EQ(n = ticks(1e-3, 1e9, true, 6, t), 7);
    for (int i = 0; i < n; i++)
        ASSERT_REL(t[i], sparse[i], 1e-12, 0);
    /* Inside a decade only what falls in the domain. */
    ASSERT_EQ(n = ticks(3, 30, true, 6, t), 3);
    ASSERT_REL(t[0], 5, 1e-12, 0);
    ASSERT_REL(t[1], 10, 1e-12, 0);
    ASSERT_REL(t[2], 20, 1e-12, 0);
}

TEST(linear_ticks_and_nice_bounds)
{
    double t[SVG_MAX_TICKS], lo = 0.013, hi = 0.97;
    int n;

    ASSERT_EQ(n = ticks(0, 1, false, 5, t), 6);
    for (int i = 0; i < n; i++)
        ASSERT_NEAR(t[i], 0.2 * i, 1e-12);
    ASSERT_EQ(n = ticks(-3, 7, false, 5, t), 5);
    ASSERT_NEAR(t[0], -2, 1e-12);
    ASSERT_NEAR(t[1], 0, 0);   /* exactly 0, not 1e-16 */
    ASSERT_EQ(n = ticks(0.61, 0.93, false, 6, t), 6);
    ASSERT_NEAR(t[0], 0.65, 1e-12);
    ASSERT_NEAR(t[5], 0.9, 1e-12);
    svg_scale_nice(&lo, &hi, false);
    ASSERT_NEAR(lo, 0, 1e-12);
    ASSERT_NEAR(hi, 1, 1e-12);
    lo = 0.03, hi = 450;
    svg_scale_nice(&lo, &hi, true);
    ASSERT_REL(lo, 0.01, 1e-12, 0);
    ASSERT_REL(hi, 1000, 1e-12, 0);
}

TEST(tick_labels)
{
    char buf[32];

    svg_tick_label(0, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "0");
    svg_tick_label(0.1 + 0.2, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "0.3");
    svg_tick_label(2.5, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "2.5");
    svg_tick_label(1e-5, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "1e-05");
    svg_tick_label(1e6, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "1e+06");
    svg_tick_label(NAN, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "0");
}

TEST(a_plot_is_well_formed_xml)
{
    double xy[] = {0, 0, 10, 20, 30, 5};
    char err[256];
    svg_plot_t p;
    svg_buf_t b;

    svg_buf_init(&b);
    svg_open(&b, 400, 300, "a <test> & \"plot\"");
    ASSERT_OK(svg_plot_init(&p, 50, 20, 300, 220, 0.01, 50, true, 0.6, 0.93, false));
    svg_axes(&b, &p, "x & y", "metric <dev>");
    svg_circle(&b, 60, 70, 3, "trial", "trial 1\nsa=48 <x>");
    svg_rect(&b, 1, 2, 3, 4, "cell", "#ff0000", "50% & more");
    svg_text(&b, 5, 5, "middle", "baseline-label", "lora & co");
    svg_polyline(&b, xy, 3, "front");
    svg_close(&b);
    ASSERT_OK(svg_buf_error(&b));
    if (xmlcheck(b.data, err, sizeof err) != 0)
        FAIL("not well-formed: %s\n%s", err, b.data);
    ASSERT_EQ(xmlcheck_count(b.data, "circle", "trial"), 1);
    ASSERT_TRUE(xmlcheck_has_text(b.data, "text", "baseline-label", "lora & co"));
    ASSERT_CONTAINS(b.data, "<title>a &lt;test&gt; &amp; &quot;plot&quot;</title>");
    ASSERT_CONTAINS(b.data, "<polyline points=\"0.00,0.00 10.00,20.00 30.00,5.00\" class=\"front\"/>");
    /* The log axis has its decades as tick labels. */
    ASSERT_TRUE(xmlcheck_has_text(b.data, "text", "tick-label", "0.01"));
    ASSERT_TRUE(xmlcheck_has_text(b.data, "text", "tick-label", "10"));
    svg_buf_free(&b);
}

TEST(the_checker_rejects_what_is_not_well_formed)
{
    const char *bad[] = {"<a><b></a></b>", "<a>", "<a x=1/>", "<a>&nbsp;</a>", "<a>&</a>",
                         "<a x=\"<\"/>", "<a/><b/>", "", "<a><!-- open</a>"};
    char err[256];

    ASSERT_OK(xmlcheck("<?xml version=\"1.0\"?>\n<!DOCTYPE html><a x='1' y=\"&amp;\"><b/>t&#39;"
                       "&#x3c;<!-- c --></a>", err, sizeof err));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (xmlcheck(bad[i], err, sizeof err) == 0)
            FAIL("accepted %s", bad[i]);
}
