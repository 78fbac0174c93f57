/* Replays a fuzz target's saved inputs inside the test suite (see tests/fuzz/fuzz.h). */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

/* Saved inputs are small: a larger file is a mistake in the corpus. */
#define FUZZ_MAX_INPUT (4 << 20)

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void fuzz_replay(const char *name, int (*fn)(const uint8_t *data, size_t size))
{
    char rel[256], dir[1024], path[2048];
    char *names[4096];
    size_t nnames = 0;
    struct dirent *de;
    DIR *d;

    snprintf(rel, sizeof rel, "tests/fuzz/corpus/%s", name);
    harness_src_path(rel, dir, sizeof dir);
    d = opendir(dir);
    if (!d)
        FAIL("fuzz corpus %s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL && nnames < 4096) {
        if (de->d_name[0] == '.')
            continue;
        names[nnames] = strdup(de->d_name);
        ASSERT_NOT_NULL(names[nnames]);
        nnames++;
    }
    closedir(d);
    if (nnames == 0)
        FAIL("fuzz corpus %s holds no input", dir);
    qsort(names, nnames, sizeof names[0], cmp_names);
    for (size_t i = 0; i < nnames; i++) {
        struct stat st;
        uint8_t *buf;
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            FAIL("fuzz corpus: %s is not a regular file", path);
        if (st.st_size > FUZZ_MAX_INPUT)
            FAIL("fuzz corpus: %s is larger than %d bytes", path, FUZZ_MAX_INPUT);
        /* An exactly sized heap buffer, so that reading past the input is caught by ASan. */
        buf = malloc(st.st_size ? (size_t)st.st_size : 1);
        ASSERT_NOT_NULL(buf);
        f = fopen(path, "rb");
        ASSERT_NOT_NULL(f);
        if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
            FAIL("fuzz corpus: cannot read %s", path);
        fclose(f);
        fn(buf, (size_t)st.st_size);
        free(buf);
        free(names[i]);
    }
    printf("replayed %zu inputs from %s\n", nnames, dir);
}
