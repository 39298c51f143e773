/* log.h - one line per event on stderr: logfmt (default) or JSON.
 *
 * Callers write the event as logfmt pairs: log_info("admission", "uid=%s decision=%s", ...).
 * Values that may hold spaces, quotes or '=' go through log_quote(). In JSON mode the pairs
 * are turned into one object; bare integers and decimals become JSON numbers. Each line is
 * written with one write(2), so lines from different threads never interleave. */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

/* Sets the format, the lowest level written, and the file descriptor (2 by default). Call
 * before starting threads. */
void log_setup(enum log_format fmt, enum log_level min, int fd);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 for anything else. */
int log_parse_level(const char *s, enum log_level *out);

/* Parses "logfmt" or "json". Returns 0, or -1 for anything else. */
int log_parse_format(const char *s, enum log_format *out);

/* Returns true when events at 'lv' are written. */
bool log_enabled(enum log_level lv);

/* Writes one event: "ts=... level=... component=COMPONENT " followed by the formatted
 * pairs. Lines longer than 8 KiB are cut. */
void log_msg(enum log_level lv, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns 's' itself when it is safe as a bare logfmt value, otherwise a quoted and escaped
 * copy written into 'dst' of 'cap' bytes (cut if it does not fit). NULL gives "-". */
const char *log_quote(char *dst, size_t cap, const char *s);

/* Converts one logfmt line (pairs only, no newline) to a JSON object in 'out' of 'cap'
 * bytes. Returns the length written, never more than cap - 1. Exposed for tests. */
size_t log_logfmt_to_json(const char *line, char *out, size_t cap);

#define log_debug(comp, ...) log_msg(LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_msg(LOG_ERROR, comp, __VA_ARGS__)

#endif
