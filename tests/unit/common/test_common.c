/* Tests of the small common modules: err, mem, parse, log. */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/parse.h"
#include "tests/harness.h"

TEST(err_messages_and_prefix)
{
    err_clear();
    ASSERT_EQ(err_code(), ERR_OK);
    ASSERT_STR_EQ(err_msg(), "success");
    ASSERT_EQ(err_set(ERR_PARSE, "line %d: expected '%s'", 3, "="), ERR_PARSE);
    ASSERT_STR_EQ(err_msg(), "line 3: expected '='");
    ASSERT_EQ(err_prefix(ERR_PARSE, "reading %s: ", "a.conf"), ERR_PARSE);
    ASSERT_STR_EQ(err_msg(), "reading a.conf: line 3: expected '='");
    ASSERT_STR_EQ(err_name(ERR_NOMEM), "ERR_NOMEM");
    ASSERT_STR_EQ(err_name(-999), "ERR_?");
    ASSERT_STR_EQ(err_str(7), "unknown error");
    for (int c = 0; c > -ERR__COUNT; c--)
        ASSERT_TRUE(strcmp(err_name(c), "ERR_?") != 0);
}

TEST(err_long_message_is_marked_cut)
{
    char big[3000];

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    err_set(ERR_INVAL, "%s", big);
    ASSERT_EQ(strlen(err_msg()), 1023);
    ASSERT_STR_EQ(err_msg() + 1020, "...");
}

TEST(mem_overflow_is_refused)
{
    size_t out;

    ASSERT_FALSE(mem_mul(SIZE_MAX / 2 + 1, 2, &out));
    ASSERT_TRUE(mem_mul(1000, 1000, &out));
    ASSERT_EQ_U(out, 1000000);
    ASSERT_FALSE(mem_add(SIZE_MAX, 1, &out));
    ASSERT_TRUE(mem_alloc(SIZE_MAX / 4, 8, "test buffer") == NULL);
    ASSERT_EQ(err_code(), ERR_NOMEM);
    ASSERT_CONTAINS(err_msg(), "test buffer");
}

TEST(mem_alloc_is_zeroed_and_aligned)
{
    float *a = mem_alloc_aligned(1000, sizeof(float), "floats");
    int *b = mem_alloc(10, sizeof(int), "ints");
    char *s = mem_strndup("abcdef", 3);

    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    ASSERT_EQ((uintptr_t)a % MEM_ALIGN, 0);
    for (int i = 0; i < 1000; i++)
        ASSERT_TRUE(a[i] == 0.0f);
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(b[i], 0);
    ASSERT_STR_EQ(s, "abc");
    mem_freep(&a);
    ASSERT_TRUE(a == NULL);
    free(b);
    free(s);
}

TEST(file_map_maps_or_says_why_not)
{
    char path[1100], dir[1100];
    const void *data;
    size_t size;
    FILE *f;

    snprintf(path, sizeof path, "%s/file", harness_tmpdir());
    f = fopen(path, "wb");
    ASSERT_NOT_NULL(f);
    fputs("abc\ndef\n", f);
    ASSERT_EQ(fclose(f), 0);
    ASSERT_OK(file_map(path, 0, "test file", &data, &size));
    ASSERT_EQ_U(size, 8);
    ASSERT_TRUE(memcmp(data, "abc\ndef\n", 8) == 0);
    file_unmap(data, size);
    ASSERT_OK(file_map(path, 8, "test file", &data, &size));
    file_unmap(data, size);
    /* over the cap, a folder, nothing there: each named */
    ASSERT_ERR(file_map(path, 7, "test file", &data, &size), ERR_RANGE);
    ASSERT_CONTAINS(err_msg(), "8 bytes, over the limit of 7 for a test file");
    ASSERT_TRUE(data == NULL && size == 0);
    snprintf(dir, sizeof dir, "%s", harness_tmpdir());
    ASSERT_ERR(file_map(dir, 0, "test file", &data, &size), ERR_IO);
    ASSERT_CONTAINS(err_msg(), "not a readable regular file");
    ASSERT_CONTAINS(err_msg(), dir);
    snprintf(dir, sizeof dir, "%s/absent", harness_tmpdir());
    ASSERT_ERR(file_map(dir, 0, "test file", &data, &size), ERR_IO);
    ASSERT_CONTAINS(err_msg(), "absent: cannot open");
    /* an empty file maps to nothing */
    f = fopen(path, "wb");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fclose(f), 0);
    ASSERT_OK(file_map(path, 0, "test file", &data, &size));
    ASSERT_TRUE(data == NULL && size == 0);
    file_unmap(data, size);
}

TEST(parse_numbers_strictly)
{
    int i;
    double d;
    uint64_t u;

    ASSERT_OK(parse_int("768", 1, 65536, "--hidden", &i));
    ASSERT_EQ(i, 768);
    ASSERT_ERR(parse_int("768x", 1, 65536, "--hidden", &i), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "--hidden");
    ASSERT_CONTAINS(err_msg(), "768x");
    ASSERT_ERR(parse_int("", 1, 10, "n", &i), ERR_PARSE);
    ASSERT_ERR(parse_int(" 5", 1, 10, "n", &i), ERR_PARSE);
    ASSERT_ERR(parse_int("0", 1, 10, "n", &i), ERR_RANGE);
    ASSERT_ERR(parse_int("99999999999999999999", 1, 10, "n", &i), ERR_RANGE);
    ASSERT_OK(parse_u64("18446744073709551615", UINT64_MAX, "seed", &u));
    ASSERT_EQ_U(u, UINT64_MAX);
    ASSERT_ERR(parse_u64("-1", UINT64_MAX, "seed", &u), ERR_PARSE);
    ASSERT_OK(parse_double("1e-4", 0, 1, "lr", &d));
    ASSERT_NEAR(d, 1e-4, 0);
    ASSERT_ERR(parse_double("nan", 0, 1, "lr", &d), ERR_PARSE);
    ASSERT_ERR(parse_double("2", 0, 1, "lr", &d), ERR_RANGE);
}

static char *read_fd(int fd)
{
    static char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

TEST(log_text_and_json_lines)
{
    char path[600];
    int fd;
    json_t *obj;
    json_error_t jerr;
    log_level_t lvl;

    snprintf(path, sizeof path, "%s/log", harness_tmpdir());
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(fd >= 0);
    unsetenv("AUTOPEFT_LOG_LEVEL");
    unsetenv("AUTOPEFT_LOG_FORMAT");
    log_init("test-prog", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    log_set_fd(fd);
    log_debug("hidden %d", 1);
    log_warn("shown %d", 2);
    ASSERT_CONTAINS(read_fd(fd), "test-prog[");
    ASSERT_CONTAINS(read_fd(fd), "WARN  shown 2\n");
    ASSERT_TRUE(strstr(read_fd(fd), "hidden") == NULL);

    ASSERT_OK(ftruncate(fd, 0));
    lseek(fd, 0, SEEK_SET);
    log_set_format(LOG_FORMAT_JSON);
    log_error("bad \"quote\" and \xff byte");
    obj = json_loads(read_fd(fd), 0, &jerr);
    ASSERT_NOT_NULL(obj);
    ASSERT_STR_EQ(json_string_value(json_object_get(obj, "level")), "error");
    ASSERT_STR_EQ(json_string_value(json_object_get(obj, "prog")), "test-prog");
    ASSERT_STR_EQ(json_string_value(json_object_get(obj, "msg")), "bad \"quote\" and ? byte");
    ASSERT_EQ(json_integer_value(json_object_get(obj, "pid")), getpid());
    json_decref(obj);

    ASSERT_OK(log_parse_level("WARNING", &lvl));
    ASSERT_EQ(lvl, LOG_LEVEL_WARN);
    ASSERT_ERR(log_parse_level("loud", &lvl), ERR_INVAL);
    ASSERT_CONTAINS(err_msg(), "loud");
    close(fd);
}

TEST(log_level_from_environment)
{
    setenv("AUTOPEFT_LOG_LEVEL", "error", 1);
    log_init("x", LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
    ASSERT_EQ(log_get_level(), LOG_LEVEL_ERROR);
    ASSERT_FALSE(log_enabled(LOG_LEVEL_WARN));
    ASSERT_TRUE(log_enabled(LOG_LEVEL_ERROR));
}

TEST(mem_grow_doubles_from_first_and_keeps_the_elements)
{
    int *a = NULL, cap = 0;

    for (int n = 0; n < 100; n++) {
        ASSERT_OK(mem_grow(&a, &cap, n, sizeof *a, 4, "test array"));
        ASSERT_GT(cap, n);
        a[n] = n * n;
    }
    ASSERT_EQ(cap, 128);   /* 4, 8, ..., 128 */
    for (int n = 0; n < 100; n++)
        ASSERT_EQ(a[n], n * n);
    ASSERT_OK(mem_grow(&a, &cap, 5, sizeof *a, 4, "test array"));   /* room already */
    ASSERT_EQ(cap, 128);
    cap = INT_MAX / 2 + 1;
    ASSERT_ERR(mem_grow(&a, &cap, cap, sizeof *a, 4, "test array"), ERR_NOMEM);
    ASSERT_CONTAINS(err_msg(), "test array");
    ASSERT_EQ(cap, INT_MAX / 2 + 1);
    free(a);
}
