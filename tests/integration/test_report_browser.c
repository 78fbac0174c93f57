/* The report page in a real browser: headless Chromium renders report.html of the hand-written
 * study (tests/report_study.c) to a PNG, which must not be blank (its pixels are decoded here
 * with zlib and counted: the palette's blue and vermilion, dark text, many colours), and dumps
 * the DOM after rendering, which must hold one circle.trial per done trial and every baseline
 * label; the browser's log must show no console message (the page has no script, so any is a
 * failure such as a blocked resource). Skipped with a message when Chromium is not installed
 * (`make deps` installs it). AUTOPEFT_REPORT_SCREENSHOT=FILE keeps a copy of the screenshot. */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "coordinator/runtime/report_html.h"
#include "tests/harness.h"
#include "tests/report_study.h"
#include "tests/xmlcheck.h"

#define WIDTH 1200
#define HEIGHT 2400

/* Chromium on PATH (or $AUTOPEFT_CHROMIUM): false when there is none. */
static bool find_chromium(char *buf, size_t len)
{
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *env = getenv("AUTOPEFT_CHROMIUM"), *path = getenv("PATH");

    if (env && access(env, X_OK) == 0) {
        snprintf(buf, len, "%s", env);
        return true;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = path ? path : "/usr/bin:/bin";
        while (*p) {
            size_t n = strcspn(p, ":");
            snprintf(buf, len, "%.*s/%s", (int)n, p, names[i]);
            if (n > 0 && access(buf, X_OK) == 0)
                return true;
            p += n + (p[n] == ':');
        }
    }
    return false;
}

/* Runs the browser with one more argument list (NULL-terminated extra), stdout and stderr to
 * files; the test fails when it does not end with status 0 within 90 s. */
static void run_browser(const char *exe, const char *const *extra, const char *out,
                        const char *err)
{
    char profile[1100], home[1100];
    const char *argv[32];
    int argc = 0, status = 0;
    pid_t pid;

    snprintf(profile, sizeof profile, "--user-data-dir=%s/profile", harness_tmpdir());
    snprintf(home, sizeof home, "%s", harness_tmpdir());
    const char *base[] = {exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                          "--disable-dev-shm-usage", "--hide-scrollbars", profile,
                          "--enable-logging=stderr", "--v=0"};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        argv[argc++] = base[i];
    for (int i = 0; extra[i] && argc < 30; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        setenv("HOME", home, 1);
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(126);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    for (int waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited++) {
        if (waited >= 900) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            FAIL("%s did not finish in 90 s", exe);
        }
        usleep(100 * 1000);
    }
    kill(-pid, SIGKILL);   /* helpers it left behind */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("%s failed (status %d): %s", exe, status, harness_slurp(err, NULL));
}

/* No console message (an error or any other: the page has no script) in a browser log. */
static void no_console(const char *log_path)
{
    char *log = harness_slurp(log_path, NULL);

    if (strstr(log, "Uncaught") || strstr(log, "ERROR:CONSOLE") || strstr(log, ":CONSOLE("))
        FAIL("the browser logged a console message:\n%s", log);
    free(log);
}

/* ---- PNG -------------------------------------------------------------------------------------- */

typedef struct {
    uint32_t width, height;
    int channels;               /* 3 (RGB) or 4 (RGBA), 8 bits each */
    unsigned char *pixels;      /* height x width x channels */
} image_t;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);

    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Undoes the PNG row filters of raw (height rows of 1 + stride bytes) into img->pixels. */
static void unfilter(image_t *img, const unsigned char *raw)
{
    size_t stride = (size_t)img->width * img->channels, bpp = (size_t)img->channels;

    for (uint32_t y = 0; y < img->height; y++) {
        const unsigned char *in = raw + y * (stride + 1) + 1;
        unsigned char *row = img->pixels + y * stride, *up = y ? row - stride : NULL;
        int type = in[-1];
        if (type > 4)
            FAIL("PNG row %u: filter type %d", y, type);
        for (size_t x = 0; x < stride; x++) {
            int a = x >= bpp ? row[x - bpp] : 0, b = up ? up[x] : 0;
            int c = up && x >= bpp ? up[x - bpp] : 0;
            int pred = type == 1 ? a : type == 2 ? b : type == 3 ? (a + b) / 2
                     : type == 4 ? paeth(a, b, c) : 0;
            row[x] = (unsigned char)(in[x] + pred);
        }
    }
}

/* Reads an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes). */
static void png_read(const char *path, image_t *img)
{
    size_t len, at = 8, nidat = 0, rawlen;
    unsigned char *file = (unsigned char *)harness_slurp(path, &len), *idat, *raw;
    uLongf outlen;

    ASSERT_TRUE(len > 33 && !memcmp(file, "\x89PNG\r\n\x1a\n", 8) && !memcmp(file + 12, "IHDR", 4));
    img->width = be32(file + 16);
    img->height = be32(file + 20);
    ASSERT_EQ(file[24], 8);
    ASSERT_TRUE(file[25] == 2 || file[25] == 6);
    ASSERT_EQ(file[28], 0);
    img->channels = file[25] == 6 ? 4 : 3;
    ASSERT_TRUE(img->width > 0 && img->width <= 16384 && img->height > 0 && img->height <= 16384);
    idat = malloc(len);
    ASSERT_NOT_NULL(idat);
    while (at + 12 <= len) {
        uint32_t n = be32(file + at);
        ASSERT_TRUE(n <= len - at - 12);
        if (!memcmp(file + at + 4, "IDAT", 4)) {
            memcpy(idat + nidat, file + at + 8, n);
            nidat += n;
        }
        at += (size_t)n + 12;
    }
    rawlen = (size_t)img->height * ((size_t)img->width * img->channels + 1);
    raw = malloc(rawlen);
    img->pixels = malloc(rawlen);
    ASSERT_TRUE(raw && img->pixels);
    outlen = (uLongf)rawlen;
    if (uncompress(raw, &outlen, idat, (uLong)nidat) != Z_OK || outlen != rawlen)
        FAIL("%s: the image data does not inflate to %zu bytes", path, rawlen);
    unfilter(img, raw);
    free(raw);
    free(idat);
    free(file);
}

typedef struct {
    long blue, vermilion, dark, ink;   /* the palette's colours, text, anything not background */
    int colours;                       /* distinct colours at 4 bits per channel */
} census_t;

static bool near(const unsigned char *p, int r, int g, int b, int tol)
{
    return abs(p[0] - r) + abs(p[1] - g) + abs(p[2] - b) <= tol;
}

static census_t census(const image_t *img)
{
    static unsigned char seen[4096];
    census_t c = {0};

    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < (size_t)img->width * img->height; i++) {
        const unsigned char *p = img->pixels + i * img->channels;
        int q = (p[0] >> 4) << 8 | (p[1] >> 4) << 4 | p[2] >> 4;
        c.colours += !seen[q];
        seen[q] = 1;
        c.blue += near(p, 0x00, 0x72, 0xB2, 60);
        c.vermilion += near(p, 0xD5, 0x5E, 0x00, 60);
        c.dark += p[0] < 100 && p[1] < 100 && p[2] < 100;
        c.ink += !near(p, 255, 255, 255, 12) && !near(p, 0xf5, 0xf6, 0xf8, 12);
    }
    return c;
}

/* A copy of the file at from into to (when to is set). */
static void keep_copy(const char *from, const char *to)
{
    size_t len;
    char *data;
    FILE *f;

    if (!to || !*to)
        return;
    data = harness_slurp(from, &len);
    if (!(f = fopen(to, "wb")) || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        FAIL("%s: %s", to, strerror(errno));
    free(data);
}

/* ---- the test ----------------------------------------------------------------------------------- */

TEST_TIMEOUT(chromium_renders_the_report, 240)
{
    char exe[1100], study[1100], page[1300], url[1400], shot[1300], shot_arg[1400];
    char dom[1300], out[1300], err1[1300], err2[1300], size[64];
    const report_row_t *rows;
    image_t img = {0};
    census_t c;
    char *html;
    int n, done = 0;

    if (!find_chromium(exe, sizeof exe))
        HARNESS_SKIP("chromium is not installed (make deps installs it; or set AUTOPEFT_CHROMIUM)");
    snprintf(study, sizeof study, "%s/study", harness_tmpdir());
    report_study_write(study);
    ASSERT_OK(report_html_write(study, page, sizeof page));
    snprintf(url, sizeof url, "file://%s", page);
    snprintf(shot, sizeof shot, "%s/report.png", harness_tmpdir());
    snprintf(shot_arg, sizeof shot_arg, "--screenshot=%s", shot);
    snprintf(size, sizeof size, "--window-size=%d,%d", WIDTH, HEIGHT);
    snprintf(out, sizeof out, "%s/shot.out", harness_tmpdir());
    snprintf(err1, sizeof err1, "%s/shot.err", harness_tmpdir());
    run_browser(exe, (const char *const[]){shot_arg, size, url, NULL}, out, err1);
    snprintf(dom, sizeof dom, "%s/dom.html", harness_tmpdir());
    snprintf(err2, sizeof err2, "%s/dom.err", harness_tmpdir());
    run_browser(exe, (const char *const[]){"--dump-dom", size, url, NULL}, dom, err2);
    no_console(err1);
    no_console(err2);

    /* The DOM after rendering: every done trial a circle.trial, every baseline its label. */
    html = harness_slurp(dom, NULL);
    rows = report_study_rows(&n);
    for (int i = 0; i < n; i++) {
        done += rows[i].state == STORE_DONE;
        if (rows[i].kind == STORE_BASELINE && rows[i].state == STORE_DONE &&
            !xmlcheck_has_text(html, "text", "baseline-label", rows[i].label))
            FAIL("the rendered DOM has no text.baseline-label '%s'", rows[i].label);
    }
    /* Once inline in the page: the DOM has no separate figure files. */
    ASSERT_EQ(xmlcheck_count(html, "circle", "trial"), done);
    ASSERT_EQ(xmlcheck_count(html, "svg", NULL), 4);
    free(html);

    /* The picture: the window's size, and far from blank. */
    keep_copy(shot, getenv("AUTOPEFT_REPORT_SCREENSHOT"));
    png_read(shot, &img);
    ASSERT_EQ(img.width, WIDTH);
    ASSERT_EQ(img.height, HEIGHT);
    c = census(&img);
    fprintf(stderr, "png: %ld blue, %ld vermilion, %ld dark, %ld ink pixels, %d colours\n",
            c.blue, c.vermilion, c.dark, c.ink, c.colours);
    ASSERT_GT(c.blue, 2000);          /* marks, the front, bars, shaded cells */
    ASSERT_GT(c.vermilion, 100);      /* the baselines' marks */
    ASSERT_GT(c.dark, 5000);          /* text */
    ASSERT_GT(c.ink, (long)WIDTH * HEIGHT / 50);
    ASSERT_GT(c.colours, 64);
    free(img.pixels);
}
