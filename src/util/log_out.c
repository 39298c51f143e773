/* log_out.c - the log's output: lines buffered and written in batches; see log.h.
 *
 * One write(2) per line into a pipe (a container's stderr) cost most of a review's logging:
 * the reader is woken for every line. As nginx's access_log buffer=/flush= does, lines are
 * appended to a process-wide buffer under a mutex and written with one write(2) when it holds
 * LOG_OUT_FLUSH bytes, when the flusher thread's interval expires, when a warn or error line
 * is appended, and on log_flush()/log_close() (also run at exit).
 *
 * Two buffers: a flush swaps them under 'mu' and writes the full one holding only 'wmu', so
 * request threads keep appending while a write is slow. 'wmu' makes the flushes one at a time
 * and in the order of their swaps, so lines leave in the order they were appended, whole.
 * When the active buffer cannot take a line (a slow reader), the appending thread waits for
 * the write in progress and writes it itself: memory stays bounded and nothing is dropped.
 * A descriptor that is non-blocking and stays full for LOG_OUT_STALL_MS, or that fails (EPIPE:
 * the reader is gone), loses what was being written; the count is reported in an error line
 * by the next write that succeeds, never retried in a loop. */
#include "log.h"
#include "log_out.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_OUT_FLUSH (32 * 1024) /* written at once from here (nginx's buffer=32k) */
#define LOG_OUT_CAP (64 * 1024)   /* per buffer; above LOG_OUT_FLUSH + a line (8 KiB) */
#define LOG_OUT_STALL_MS 1000     /* a non-blocking descriptor full this long: drop */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;  /* bufs[active], used, the flusher */
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER; /* the descriptor, the drop count */
static pthread_cond_t wake;                             /* the flusher: stop or interval */
static char bufs[2][LOG_OUT_CAP];
static int active;
static size_t used;
static unsigned interval_ms; /* 0: each line written as it is appended */
static bool flusher_on, stopping;
static pthread_t flusher;
static int out_fd = 2;
static unsigned long long dropped; /* lines lost since the last report; under wmu */
static int dropped_err;
static bool cut;     /* the last write stopped inside a line */
static bool stalled; /* no room for LOG_OUT_STALL_MS: no more waits until a write works */

/* Writes all of 'p'; on a failure or a stall drops the rest and counts its lines when
 * 'count'. Returns true when everything was written. Called with wmu held. */
static bool write_all(const char *p, size_t n, bool count)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(out_fd, p + off, n - off);
        if (w > 0) {
            off += (size_t)w;
            stalled = false; /* the reader reads again */
            continue;
        }
        int err = w < 0 ? errno : EIO;
        if (err == EINTR)
            continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            struct pollfd pfd = {.fd = out_fd, .events = POLLOUT};
            /* a reader stuck once costs one wait, not one per flush, until it reads */
            if (poll(&pfd, 1, stalled ? 0 : LOG_OUT_STALL_MS) > 0)
                continue; /* room, or an error the next write() returns */
            stalled = true;
            err = 0;
        }
        if (count) {
            for (size_t i = off; i < n; i++)
                dropped += p[i] == '\n';
            dropped_err = err;
        }
        cut = cut || (off > 0 && p[off - 1] != '\n');
        return false;
    }
    if (n > 0)
        cut = p[n - 1] != '\n';
    stalled = false;
    return true;
}

/* The line that reports the lines lost, before the next ones. Called with wmu held. */
static void report_dropped(void)
{
    char note[512];
    size_t n = 0;
    if (cut)
        note[n++] = '\n'; /* ends the line cut in the middle, so the next ones stay whole */
    n += log_format_dropped(dropped, dropped_err, note + n, sizeof note - n);
    if (write_all(note, n, false))
        dropped = 0;
}

/* Swaps the buffers and writes the full one. Called with wmu held. */
static void flush_held(void)
{
    pthread_mutex_lock(&mu);
    int b = active;
    size_t n = used;
    active ^= 1;
    used = 0;
    pthread_mutex_unlock(&mu);
    if (n == 0)
        return;
    if (dropped > 0)
        report_dropped();
    write_all(bufs[b], n, true);
}

void log_flush(void)
{
    pthread_mutex_lock(&wmu);
    flush_held();
    pthread_mutex_unlock(&wmu);
}

void log_out_append(const char *s, size_t len, bool now)
{
    for (;;) {
        pthread_mutex_lock(&mu);
        if (used + len <= LOG_OUT_CAP) {
            memcpy(bufs[active] + used, s, len);
            used += len;
            bool sync = now || interval_ms == 0;
            bool big = used >= LOG_OUT_FLUSH;
            pthread_mutex_unlock(&mu);
            if (sync) {
                log_flush();
            } else if (big && pthread_mutex_trylock(&wmu) == 0) {
                /* busy: the write in progress is followed by the interval's, or by the
                 * thread that finds the buffer full */
                flush_held();
                pthread_mutex_unlock(&wmu);
            }
            return;
        }
        pthread_mutex_unlock(&mu);
        log_flush(); /* full: wait for the write in progress and write this one */
    }
}

void log_out_set_fd(int fd)
{
    pthread_mutex_lock(&wmu);
    flush_held();
    out_fd = fd;
    dropped = 0;
    cut = stalled = false;
    pthread_mutex_unlock(&wmu);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += interval_ms / 1000;
        until.tv_nsec += (long)(interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!stopping && pthread_cond_timedwait(&wake, &mu, &until) != ETIMEDOUT)
            ;
        if (stopping || used == 0)
            continue;
        pthread_mutex_unlock(&mu);
        log_flush();
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

void log_close(void)
{
    pthread_mutex_lock(&mu);
    bool join = flusher_on;
    stopping = true;
    interval_ms = 0;
    if (join)
        pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
    if (join)
        pthread_join(flusher, NULL);
    pthread_mutex_lock(&mu);
    flusher_on = false;
    stopping = false;
    pthread_mutex_unlock(&mu);
    log_flush();
}

static void at_exit(void)
{
    log_close();
}

int log_set_flush_interval(unsigned ms)
{
    static bool registered;
    log_close(); /* the old flusher, and what it buffered */
    if (ms == 0)
        return 0;
    if (!registered) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&wake, &ca);
        pthread_condattr_destroy(&ca);
        atexit(at_exit); /* exit() and a return from main() write what is buffered */
        registered = true;
    }
    pthread_mutex_lock(&mu);
    interval_ms = ms;
    flusher_on = pthread_create(&flusher, NULL, flusher_main, NULL) == 0;
    if (!flusher_on)
        interval_ms = 0;
    pthread_mutex_unlock(&mu);
    return flusher_on ? 0 : -1;
}
