/* Files: read-only mappings and folder creation (file.h). */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"

int file_map(const char *path, uint64_t max_bytes, const char *what, const void **data,
                 size_t *size)
{
    struct stat st;
    void *map = NULL;
    int fd, rc = 0;

    *data = NULL;
    *size = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = err_set(ERR_IO, "%s: not a readable regular file", path);
        goto out;
    }
    if (max_bytes && (uint64_t)st.st_size > max_bytes) {
        rc = err_set(ERR_RANGE, "%s: %lld bytes, over the limit of %llu for a %s", path,
                     (long long)st.st_size, (unsigned long long)max_bytes, what);
        goto out;
    }
    if (st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            rc = err_set(ERR_IO, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size,
                         strerror(errno));
            goto out;
        }
        *data = map;
        *size = (size_t)st.st_size;
    }
out:
    close(fd);
    return rc;
}

void file_unmap(const void *data, size_t size)
{
    if (data)
        munmap((void *)data, size);
}

int file_mkdirs(const char *path)
{
    char buf[FILE_PATH_MAX];
    size_t n = strlen(path);

    if (n >= sizeof buf)
        return err_set(ERR_RANGE, "%.64s...: path too long", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return err_set(ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return err_set(ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
    return 0;
}
