/* file.h - whole-file reads with a size cap, and atomic writes. */
#ifndef SG_FILE_H
#define SG_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "diag.h"

/* Reads all of 'path' into 'out' (initialised by the caller; its contents are replaced).
 * A file larger than 'cap' bytes is an error. Returns 0, or -1 with a diag
 * ("io.read" or "io.too_large") appended to 'dl'. */
int file_read(const char *path, size_t cap, buf *out, diag_list *dl);

/* Writes 'len' bytes to 'path' with permission 'mode' through a temporary file in the same
 * directory and rename(2), so readers see the old or the new content, never a mix.
 * Returns 0, or -1 with an "io.write" diag. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      diag_list *dl);

#endif
