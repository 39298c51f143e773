/* log.h - one line per event on stderr: logfmt (default) or JSON.
 *
 * An event is a list of typed fields, and the only way to write one:
 *     log_info("http", LOG_S("msg", "review"), LOG_S("ns", ns), LOG_I("status", 200),
 *              LOG_B("dry_run", dry), LOG_F("ms", secs * 1e3));
 * Every string value is escaped by the writer, so text from a request (a namespace holding
 * "\n", a quote or an '=') can never start a second line or a second pair. In logfmt a value
 * is bare only when it is plain printable ASCII without space, '"', '=' or '\'; otherwise it is
 * quoted with \", \\, \n, \r, \t, \uXXXX (other controls, C1 controls such as NEL, U+2028 and
 * U+2029) and \xNN (bytes that are not UTF-8).
 * In JSON strings stay strings (a namespace "123" too), integers and decimals are numbers and
 * booleans are booleans; bytes that are not UTF-8 become U+FFFD, so every line parses.
 * Lines are appended whole to one process-wide buffer under a mutex, so lines from different
 * threads never interleave and leave in the order they were logged; a line longer than 8 KiB
 * is cut inside a value, which is still closed. Unbuffered (the default) each line is written
 * at once; with log_set_flush_interval() the buffer is written with one write(2) when it holds
 * 32 KiB, every interval, at once for a warn or error line, and at log_flush(), log_close()
 * and exit (log_out.c; docs/server.md, "Logging"). */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

enum log_type { LOG_T_STR, LOG_T_INT, LOG_T_DBL, LOG_T_BOOL };

/* One key=value pair. Keys are identifiers written in the program, never input: the macros
 * below take string literals only (a variable does not compile) and count their length. */
typedef struct log_field {
    const char *key;
    enum log_type type;
    unsigned key_len;
    union {
        const char *s; /* NULL is written as "-" */
        long long i;
        double d;
        bool b;
    } v;
} log_field;

#define LOG_KEY_(k)  .key = (k), .key_len = sizeof("" k "") - 1
#define LOG_S(k, x) ((log_field){LOG_KEY_(k), .type = LOG_T_STR, .v.s = (x)})
#define LOG_I(k, x) ((log_field){LOG_KEY_(k), .type = LOG_T_INT, .v.i = (long long)(x)})
#define LOG_F(k, x) ((log_field){LOG_KEY_(k), .type = LOG_T_DBL, .v.d = (double)(x)})
#define LOG_B(k, x) ((log_field){LOG_KEY_(k), .type = LOG_T_BOOL, .v.b = (x)})

/* Sets the format, the lowest level written, and the file descriptor (2 by default). Call
 * before starting threads. */
void log_setup(enum log_format fmt, enum log_level min, int fd);

/* Buffers lines and writes them at least every 'ms' milliseconds from a thread of its own
 * (started here; stopped by log_close()), and at exit; 0 writes each line as it is logged,
 * as before this call. Call from the thread whose signal mask the flusher should inherit.
 * Returns 0, or -1 when the thread could not start (then lines are written unbuffered). */
int log_set_flush_interval(unsigned ms);

/* Writes what is buffered now, after the write in progress if any. Safe from any thread. */
void log_flush(void);

/* Stops the flusher, writes what is buffered and leaves the log unbuffered: the last call
 * before exiting (also run by exit()). Safe to call more than once. */
void log_close(void);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 for anything else. */
int log_parse_level(const char *s, enum log_level *out);

/* Parses "logfmt" or "json". Returns 0, or -1 for anything else. */
int log_parse_format(const char *s, enum log_format *out);

/* Returns true when events at 'lv' are written. */
bool log_enabled(enum log_level lv);

/* Writes one event: ts, level and component, then the 'n' fields in order. */
void log_fields(enum log_level lv, const char *component, const log_field *f, size_t n);

/* Formats the event into 'out' of 'cap' bytes (newline included, NUL-terminated) in 'fmt';
 * 'ts' is the timestamp text. Returns the length. Exposed for tests. */
size_t log_format_line(enum log_format fmt, const char *ts, enum log_level lv,
                       const char *component, const log_field *f, size_t n, char *out, size_t cap);

#define LOG_FIELDS_(...) (const log_field[]){__VA_ARGS__}
#define log_event(lv, comp, ...)                                                                   \
    log_fields(lv, comp, LOG_FIELDS_(__VA_ARGS__),                                                 \
               sizeof(LOG_FIELDS_(__VA_ARGS__)) / sizeof(log_field))
#define log_debug(comp, ...) log_event(LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_event(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_event(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_event(LOG_ERROR, comp, __VA_ARGS__)

#endif
