/* test_log.c - the log's output (util/log_out.c): buffered lines, whole and in order, written
 * on size, on the interval, at once for warn and error, at exit; slow and gone readers.
 * (How a line is formatted is tested in test_util.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/* The printf family as log.c (libcore.a) calls it, counted while 'count_stdio' is set: a
 * definition in the program comes before libc's. */
static _Atomic int stdio_calls;
static _Atomic bool count_stdio;

int snprintf(char *restrict s, size_t n, const char *restrict fmt, ...)
{
    if (count_stdio)
        stdio_calls++;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(s, n, fmt, ap);
    va_end(ap);
    return r;
}

/* A review's line is built without stdio (issue 16: the line's cost): escapes of every kind
 * (controls, DEL, bytes that are not UTF-8, Unicode line breaks) in both formats, and its
 * 'ms' at an exact half, where printf's rounding to even decides. */
static void test_log_line_without_stdio(void **state)
{
    (void)state;
    const double ms[] = {0.0625, 0.1875, 0.365, 12.0005, 999999.999};
    char out[1024], want[64];
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        for (int fmt = 0; fmt < 2; fmt++) {
            const log_field f[] = {LOG_S("msg", "review"), LOG_I("status", 200),
                                   LOG_S("ns", "a\x01b\x7f c\xff\xc2\x85\xe2\x80\xa8\"\\"),
                                   LOG_B("dry_run", false), LOG_F("ms", ms[i]),
                                   LOG_S("reason", "[p] spec.x: \t\u00e9 \xc3\xa9")};
            count_stdio = true;
            log_format_line((enum log_format)fmt, "2026-11-27T22:15:43.601Z", LOG_INFO, "http",
                            f, sizeof f / sizeof f[0], out, sizeof out);
            count_stdio = false;
            snprintf(want, sizeof want, "ms%s%.3f", fmt ? "\":" : "=", ms[i]);
            if (strstr(out, want) == NULL)
                fail_msg("%s: no %s", out, want);
        }
    }
    assert_int_equal(stdio_calls, 0);
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A pipe whose write end is the log's; 'size' > 0 shrinks it (a slow reader fills it soon). */
static void log_to_pipe(int p[2], int size, bool nonblock, unsigned flush_ms)
{
    assert_int_equal(pipe(p), 0);
    if (size > 0)
        assert_true(fcntl(p[1], F_SETPIPE_SZ, size) > 0);
    if (nonblock)
        assert_int_equal(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK), 0);
    log_setup(LOG_FORMAT_LOGFMT, LOG_INFO, p[1]);
    assert_int_equal(log_set_flush_interval(flush_ms), 0);
}

static void log_back_to_stderr(int p[2])
{
    log_close();
    log_setup(LOG_FORMAT_LOGFMT, LOG_INFO, 2);
    close(p[1]);
    close(p[0]);
}

/* What is in the pipe now, without waiting; 0 when nothing. */
static size_t read_now(int fd, char *out, size_t cap)
{
    size_t n = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (n + 1 < cap && poll(&pfd, 1, 0) == 1) {
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    return n;
}

static void test_log_unbuffered_as_before(void **state)
{
    (void)state;
    int p[2];
    char text[4096];
    log_to_pipe(p, 0, false, 0); /* --log-flush-interval 0 */
    log_info("t", LOG_S("msg", "one"));
    size_t n = read_now(p[0], text, sizeof text);
    assert_true(n > 0);
    assert_non_null(strstr(text, "level=info component=t msg=one\n"));
    log_info("t", LOG_S("msg", "two"));
    read_now(p[0], text, sizeof text);
    assert_non_null(strstr(text, "msg=two\n"));
    log_back_to_stderr(p);
}

static void test_log_flush_on_interval(void **state)
{
    (void)state;
    int p[2];
    char text[4096];
    log_to_pipe(p, 0, false, 300);
    long long t0 = now_ms();
    log_info("t", LOG_S("msg", "later"));
    assert_int_equal(read_now(p[0], text, sizeof text), 0); /* buffered */
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 3000), 1);
    long long waited = now_ms() - t0;
    read_now(p[0], text, sizeof text);
    assert_non_null(strstr(text, "msg=later\n"));
    if (waited < 200 || waited > 2000)
        fail_msg("the line came after %lld ms, want about 300", waited);
    log_back_to_stderr(p);
}

static void test_log_flush_on_size(void **state)
{
    (void)state;
    int p[2];
    static char text[128 * 1024];
    char pad[200];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    log_to_pipe(p, 0, false, 10000);
    size_t logged = 0;
    int i = 0;
    while (logged < 30 * 1024) { /* below 32 KiB: nothing written */
        log_info("t", LOG_I("seq", i++), LOG_S("pad", pad));
        logged += 250;
    }
    assert_int_equal(read_now(p[0], text, sizeof text), 0);
    for (int k = 0; k < 20; k++) /* past 32 KiB: written by the thread that logs */
        log_info("t", LOG_I("seq", i++), LOG_S("pad", pad));
    size_t n = read_now(p[0], text, sizeof text);
    assert_true(n >= 32 * 1024);
    assert_int_equal(text[n - 1], '\n');
    assert_non_null(strstr(text, "seq=0 pad=xx"));
    log_back_to_stderr(p);
}

static void test_log_warn_error_at_once(void **state)
{
    (void)state;
    int p[2];
    char text[4096];
    log_to_pipe(p, 0, false, 10000);
    log_info("t", LOG_S("msg", "first"));
    log_warn("t", LOG_S("msg", "second"));
    read_now(p[0], text, sizeof text);
    char *a = strstr(text, "msg=first\n"), *b = strstr(text, "level=warn component=t msg=second\n");
    assert_true(a != NULL && b != NULL && a < b);
    log_info("t", LOG_S("msg", "third"));
    log_error("t", LOG_S("msg", "fourth"));
    read_now(p[0], text, sizeof text);
    a = strstr(text, "msg=third\n");
    b = strstr(text, "level=error component=t msg=fourth\n");
    assert_true(a != NULL && b != NULL && a < b);
    log_back_to_stderr(p);
}

/* A child buffers a line with a long interval and leaves by 'how': exit(), return from a
 * function that calls log_close() (serve's paths), each must write it. */
static void test_log_flush_on_exit(void **state)
{
    (void)state;
    for (int how = 0; how < 2; how++) {
        int p[2];
        char text[4096];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            log_setup(LOG_FORMAT_JSON, LOG_INFO, p[1]);
            if (log_set_flush_interval(60000) != 0)
                _exit(3);
            log_info("t", LOG_S("msg", "last words"), LOG_I("how", how));
            if (how == 1) {
                log_close();
                _exit(0); /* no atexit: log_close() alone must have written it */
            }
            exit(0);
        }
        close(p[1]);
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        read_now(p[0], text, sizeof text);
        close(p[0]);
        char want[64];
        snprintf(want, sizeof want, "\"msg\":\"last words\",\"how\":%d}\n", how);
        if (strstr(text, want) == NULL)
            fail_msg("exit path %d: the buffered line was lost: '%s'", how, text);
    }
}

/* Reads the pipe to its end, 'chunk' bytes at a time, sleeping 'delay_us' between reads. */
typedef struct reader {
    int fd;
    size_t chunk;
    unsigned delay_us;
    char *text;
    size_t n, cap;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    for (;;) {
        if (r->n + r->chunk + 1 > r->cap) {
            r->cap = r->cap * 2 + r->chunk + 1;
            r->text = realloc(r->text, r->cap);
        }
        ssize_t got = read(r->fd, r->text + r->n, r->chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        r->n += (size_t)got;
        if (r->delay_us)
            usleep(r->delay_us);
    }
    r->text[r->n] = '\0';
    return NULL;
}

#define WRITERS 4
static pthread_mutex_t seq_mu = PTHREAD_MUTEX_INITIALIZER;
static long seq_next;
static int lines_each;

/* Each line takes the next number under a lock and is logged under it: the numbers must come
 * out in order whoever logged them. Every 97th is a warn (written at once, mid-batch). */
static void *writer_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < lines_each; i++) {
        pthread_mutex_lock(&seq_mu);
        long s = seq_next++;
        if (s % 97 == 0)
            log_warn("t", LOG_I("seq", s), LOG_S("pad", "a value with spaces, quoted"));
        else
            log_info("t", LOG_I("seq", s), LOG_S("pad", "a value with spaces, quoted"));
        pthread_mutex_unlock(&seq_mu);
    }
    return NULL;
}

/* Every line whole and the numbers 0..total-1 in order. */
static void check_lines(const char *text, long total)
{
    long want = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            fail_msg("line %ld has no end: '%.80s'", want, p);
        long s = -1;
        char lvl[8] = "";
        int used = 0;
        if (sscanf(p, "ts=%*s level=%7s component=t seq=%ld pad=\"a value with spaces, "
                      "quoted\"%n", lvl, &s, &used) != 2 || p + used != nl)
            fail_msg("line %ld is not whole: '%.*s'", want, (int)(nl - p), p);
        if (s != want)
            fail_msg("line %ld came as number %ld", want, s);
        want++;
        p = nl + 1;
    }
    if (want != total)
        fail_msg("%ld lines of %ld", want, total);
}

static void run_writers(int pipe_size, bool nonblock, unsigned flush_ms, size_t chunk,
                        unsigned delay_us, int each)
{
    int p[2];
    log_to_pipe(p, pipe_size, nonblock, flush_ms);
    reader r = {.fd = p[0], .chunk = chunk, .delay_us = delay_us};
    pthread_t rt, wt[WRITERS];
    assert_int_equal(pthread_create(&rt, NULL, reader_main, &r), 0);
    seq_next = 0;
    lines_each = each;
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&wt[i], NULL, writer_main, NULL), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(wt[i], NULL);
    log_close();
    log_setup(LOG_FORMAT_LOGFMT, LOG_INFO, 2);
    close(p[1]);
    pthread_join(rt, NULL);
    close(p[0]);
    check_lines(r.text, (long)WRITERS * each);
    free(r.text);
}

static void test_log_threads_whole_and_ordered(void **state)
{
    (void)state;
    run_writers(0, false, 5, 65536, 0, 5000);  /* interval and size flushes */
    run_writers(0, false, 0, 65536, 0, 2000);  /* unbuffered */
}

/* A reader slower than the writers, on a one-page pipe: they wait, nothing is lost. */
static void test_log_slow_reader(void **state)
{
    (void)state;
    run_writers(4096, false, 10, 512, 200, 1500);
    /* the same on a non-blocking descriptor: EAGAIN waits in poll(), partial writes resume */
    run_writers(4096, true, 10, 512, 200, 1500);
    run_writers(4096, true, 0, 512, 200, 500);
}

/* A reader that is gone (EPIPE) or stuck (a non-blocking pipe full for a second): the
 * writers go on, and the next write that works says how many lines were lost. */
static void test_log_reader_gone_or_stuck(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    log_to_pipe(p, 0, false, 0);
    close(p[0]);
    long long t0 = now_ms();
    for (int i = 0; i < 100; i++)
        log_error("t", LOG_I("seq", i));
    assert_true(now_ms() - t0 < 1000);
    log_close();
    log_setup(LOG_FORMAT_LOGFMT, LOG_INFO, 2);
    close(p[1]);

    log_to_pipe(p, 4096, true, 10000);
    static char text[65536];
    char pad[600];
    memset(pad, 'y', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    long long t1 = now_ms();
    for (int i = 0; i < 20; i++) /* 12 KiB into 4 KiB nobody reads: 1 s, then dropped */
        log_warn("t", LOG_I("seq", i), LOG_S("pad", pad));
    long long stalled = now_ms() - t1;
    if (stalled < 900 || stalled > 5000) /* one wait for the stuck reader, not one a line */
        fail_msg("the writers waited %lld ms for a stuck reader", stalled);
    read_now(p[0], text, sizeof text);
    log_warn("t", LOG_S("msg", "after"));
    size_t n = read_now(p[0], text, sizeof text);
    char *rep = strstr(text, "level=error component=log msg=\"log output stalled; lines dropped\" "
                             "dropped_lines=");
    if (rep == NULL || strstr(rep, "level=warn component=t msg=after\n") == NULL)
        fail_msg("no report of the lines dropped before the next line: '%s'", text);
    rep -= strlen("ts=2026-01-01T00:00:00.000Z ");
    assert_true(rep >= text && strncmp(rep, "ts=", 3) == 0);
    assert_true(rep == text || rep[-1] == '\n'); /* the report starts a line of its own */
    assert_int_equal(text[n - 1], '\n');
    log_back_to_stderr(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_line_without_stdio),
        cmocka_unit_test(test_log_unbuffered_as_before),
        cmocka_unit_test(test_log_flush_on_interval),
        cmocka_unit_test(test_log_flush_on_size),
        cmocka_unit_test(test_log_warn_error_at_once),
        cmocka_unit_test(test_log_flush_on_exit),
        cmocka_unit_test(test_log_threads_whole_and_ordered),
        cmocka_unit_test(test_log_slow_reader),
        cmocka_unit_test(test_log_reader_gone_or_stuck),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
