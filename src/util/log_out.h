/* log_out.h - where log.c's lines go: the process-wide buffer and its writer (log_out.c).
 * Internal to src/util/; the public calls (log_set_flush_interval, log_flush, log_close) are
 * declared in log.h. */
#ifndef SG_LOG_OUT_H
#define SG_LOG_OUT_H

#include <stdbool.h>
#include <stddef.h>

/* Flushes what is buffered to the old descriptor, then writes to 'fd'. */
void log_out_set_fd(int fd);

/* Appends the whole line 's' of 'len' bytes (at most LOG_LINE_MAX, newline included) after
 * every line appended before it; writes the buffer at once when 'now', when unbuffered, or
 * when it holds LOG_OUT_FLUSH bytes. */
void log_out_append(const char *s, size_t len, bool now);

/* Formats, in the current format, the error line that says 'lines' lines were dropped
 * because the output failed with 'err' (an errno, 0 for a stall). Returns its length. */
size_t log_format_dropped(unsigned long long lines, int err, char *out, size_t cap);

#endif
