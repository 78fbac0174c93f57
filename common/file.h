/* Files: the read-only mapping the checkpoint, table and vocabulary readers share, and folder
 * creation. Errors name the path. */
#ifndef AUTOPEFT_FILE_H
#define AUTOPEFT_FILE_H

#include <stddef.h>
#include <stdint.h>

/* The longest path file_mkdirs takes. */
#define FILE_PATH_MAX 4096

/* The file at path mapped read-only: *data (NULL for an empty file) and its *size. ERR_IO
 * naming the path when it cannot be opened, is not a regular file or cannot be mapped;
 * ERR_RANGE when it is larger than max_bytes (0: no limit), naming it as `what`. */
int file_map(const char *path, uint64_t max_bytes, const char *what, const void **data,
             size_t *size);
/* Releases file_map's mapping (NULL data: nothing to do). */
void file_unmap(const void *data, size_t size);

/* Creates the folder path and the folders above it that are missing (mode 0755; existing ones
 * are fine). ERR_IO naming the folder that could not be made, ERR_RANGE for a path over
 * FILE_PATH_MAX. */
int file_mkdirs(const char *path);

#endif
