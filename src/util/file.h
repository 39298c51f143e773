/* file.h - whole-file reads with a size cap, and atomic writes. */
#ifndef SG_FILE_H
#define SG_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "diag.h"

/* Reads all of 'path' into 'out' (initialised by the caller; its contents are replaced).
 * A file larger than 'cap' bytes is an error. Returns 0, or -1 with a diag
 * ("io.read" or "io.too_large") appended to 'dl'. */
int file_read(const char *path, size_t cap, buf *out, diag_list *dl);

/* Lists the files under 'path': 'path' itself when it is a file, else every file below the
 * directory (recursively, at most 32 levels) whose name 'want' accepts, skipping entries that
 * start with a dot (a ConfigMap mount's ..data among them), sorted by path within each
 * directory. Appends malloc'd paths to '*files' (a malloc'd array of '*n'; free both with
 * file_list_free), at most 'max' in all. Returns 0, or -1 with an "io.read" diag for a path
 * that does not exist or a directory that cannot be read (the others are still listed). */
int file_list(const char *path, bool (*want)(const char *name), size_t max, char ***files,
              size_t *n, diag_list *dl);

/* Frees what file_list returned. */
void file_list_free(char **files, size_t n);

/* Writes 'len' bytes to 'path' with permission 'mode' through a temporary file in the same
 * directory and rename(2), so readers see the old or the new content, never a mix.
 * Returns 0, or -1 with an "io.write" diag. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      diag_list *dl);

#endif
