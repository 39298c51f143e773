/* pace - a constant-rate HTTPS load generator for make bench's paced run (wrk2's method).
 *
 *   pace [-t THREADS] [-c CONNS] [-r RATE] [-d SECONDS] -b BODY https://HOST:PORT/PATH
 *
 * CONNS keep-alive TLS connections (default 16) share THREADS threads (default 2, one per CPU of
 * the bench machine, as wrk -t2 in the bench's other runs) and together send RATE requests a
 * second (POST BODY, application/json) for SECONDS. Each connection has an absolute schedule:
 * its request k is due at t0 + (its place + k * CONNS) / RATE, so the arrivals of all of them are
 * spread evenly. A request goes out when it is due, or at once when the answer before it came
 * late; its latency is counted from when it was DUE (coordinated omission corrected, as wrk2
 * does), so a stall of the server shows in every request it delayed. The schedule being absolute,
 * the achieved rate converges on the target whenever the server keeps up.
 *
 * Why not wrk with a Lua pacer: wrk's Lua state is per thread and its callbacks do not say which
 * connection they are about, so an exact per-connection schedule needs one thread a connection,
 * 16 threads on the bench's 2 CPUs, and its timers are whole milliseconds. Those 16 threads cost
 * about as much CPU per request as the server under test and they preempt it; this one costs a
 * fraction, waits to the nanosecond (epoll_pwait2) and leaves the CPUs to the server.
 *
 * Prints one line:
 *   paced: requests N seconds S p50_ms P p99_ms P p999_ms P max_ms P send_p99_ms P non200 N
 *   errors N cpu_us_per_req C
 * (requests: answered; seconds: from the first due time to the end of the schedule or the
 * last answer, whichever is later, so that requests / seconds falls short of RATE when the
 * server does not keep up; send_p99_ms: from when the request was written; errors: requests
 * lost to a failed connection, its scheduled ones included, or never answered within 5 s of
 * the end; cpu_us_per_req: this program's own user + system time per answered request.)
 * Exit status 0, or 1 with a message when it could not run (2: bad usage). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, epoll_pwait2; the Makefile defines it too */
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util/file.h"

enum { RESP_MAX = 1 << 16, DRAIN_S = 5, HANDSHAKE_S = 5, BODY_MAX = 4 << 20 };

enum conn_state { C_WAIT, C_SEND, C_RECV, C_DEAD };

typedef struct {
    int fd;
    SSL *ssl;
    enum conn_state st;
    uint64_t place; /* the index of its next request in the merged schedule of all */
    uint64_t due;   /* ns: when the request being sent (or the next one) is due */
    uint64_t sent;  /* ns: when its first byte was written */
    size_t off;     /* bytes of the request written */
    size_t len;     /* bytes of the answer read */
    char resp[RESP_MAX];
} conn;

typedef struct {
    uint64_t *v;
    size_t n, cap;
} samples;

typedef struct {
    pthread_t tid;
    conn **conns;
    size_t n_conns;
    uint64_t end;  /* ns: no request due at or after this is sent */
    uint64_t last; /* ns: when the last answer came */
    samples lat, sent_lat;
    long non200, errors;
} worker;

/* Set by main() before the workers start; only read after. */
static const char *request; /* the whole HTTP request, head and body */
static size_t request_len;
static uint64_t t0;         /* ns: when the first request is due */
static double rate;         /* requests a second, all connections together */
static int n_conns;
static SSL_CTX *ssl_ctx;
static struct addrinfo *addr;
static char host[256], port[16];

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pace: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int samples_add(samples *s, uint64_t v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint64_t *p = realloc(s->v, cap * sizeof *p);
        if (p == NULL)
            return -1;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

/* When request 'place' of the merged schedule is due: place / rate seconds after t0, computed
 * from the place each time (no sum of rounded intervals drifts past the end). */
static uint64_t due_at(uint64_t place)
{
    return t0 + (uint64_t)llround((double)place * 1e9 / rate);
}

/* The answer in c->resp: 1 when it is whole (*status set, *close when the server closes the
 * connection after it), 0 when more is to come, -1 when it is not an HTTP/1.1 answer with a
 * Content-Length this program can read. */
static int response_complete(const conn *c, int *status, bool *close)
{
    const char *end = memmem(c->resp, c->len, "\r\n\r\n", 4);
    if (end == NULL)
        return c->len < RESP_MAX ? 0 : -1;
    size_t head = (size_t)(end - c->resp) + 4;
    if (c->len < 12 || memcmp(c->resp, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->resp + 9);
    *close = c->resp[7] == '0'; /* HTTP/1.0: closed after the answer unless it says keep-alive;
                                   pace counts it closed either way */
    long clen = -1;
    for (const char *p = c->resp; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *next = eol ? eol + 2 : end;
        if (next - p > 15 && strncasecmp(p, "content-length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
        if (next - p >= 16 && strncasecmp(p, "connection:", 11) == 0)
            for (const char *q = p + 11; q + 5 <= next; q++)
                *close |= strncasecmp(q, "close", 5) == 0;
        p = next;
    }
    if (clen < 0 || head + (size_t)clen > RESP_MAX)
        return -1;
    if (c->len < head + (size_t)clen)
        return 0;
    return c->len == head + (size_t)clen ? 1 : -1; /* nothing was pipelined: no more bytes */
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    SSL_free(c->ssl);
    c->fd = -1;
    c->ssl = NULL;
}

/* A connection that failed: its request in flight and every request its schedule still held
 * (all due before the end) are errors, so that the count of requests does not just fall short
 * unexplained. */
static void conn_fail(worker *w, conn *c)
{
    for (uint64_t p = c->place; due_at(p) < w->end; p += (uint64_t)n_conns)
        w->errors++;
    c->st = C_DEAD;
    conn_close(c);
}

/* Connects 'c' and completes the TLS handshake (blocking), then makes it non-blocking. Returns
 * 0, or -1 with the reason in 'why'. */
static int conn_connect(conn *c, char *why, size_t cap)
{
    c->fd = socket(addr->ai_family, addr->ai_socktype | SOCK_CLOEXEC, addr->ai_protocol);
    /* blocking until the handshake is done, but not for ever: a server that accepts and never
     * answers the ClientHello must not hang the bench */
    struct timeval tv = {.tv_sec = HANDSHAKE_S};
    if (c->fd >= 0) {
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (c->fd < 0 || connect(c->fd, addr->ai_addr, addr->ai_addrlen) != 0) {
        snprintf(why, cap, "connect to %s:%s: %s", host, port, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = SSL_new(ssl_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        snprintf(why, cap, "SSL_new failed");
        return -1;
    }
    SSL_set_tlsext_host_name(c->ssl, host);
    if (SSL_connect(c->ssl) != 1) {
        /* OpenSSL's reason when it has one, else the socket's (a timeout, a reset) */
        unsigned long code = ERR_get_error();
        char err[256];
        if (code != 0)
            ERR_error_string_n(code, err, sizeof err);
        else
            snprintf(err, sizeof err, "%s", errno != 0 ? strerror(errno) : "connection closed");
        snprintf(why, cap, "TLS handshake with %s:%s: %s", host, port, err);
        return -1;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->st = C_WAIT;
    return 0;
}

/* Writes what is left of the request; moves on to reading once it is all out. */
static void conn_send(worker *w, conn *c, int ep)
{
    while (c->off < request_len) {
        int n = SSL_write(c->ssl, request + c->off, (int)(request_len - c->off));
        if (n > 0) {
            c->off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        conn_fail(w, c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->st = C_RECV;
    c->len = 0;
}

static void conn_start(worker *w, conn *c, int ep, uint64_t now)
{
    c->st = C_SEND;
    c->sent = now;
    c->off = 0;
    conn_send(w, c, ep);
}

/* Reads what the server sent; a whole answer is counted and the connection waits for its next
 * due time, on a new connection when the server closed this one after the answer (as wrk
 * does; the handshake delays the requests that fall due meanwhile, and they count it). */
static void conn_read(worker *w, conn *c, int ep)
{
    for (;;) {
        if (c->st == C_DEAD)
            return;
        if (c->len == RESP_MAX) {
            conn_fail(w, c);
            return;
        }
        int n = SSL_read(c->ssl, c->resp + c->len, (int)(RESP_MAX - c->len));
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                conn_fail(w, c); /* closed, or a TLS error */
            return;
        }
        if (c->st != C_RECV) { /* bytes nobody asked for */
            conn_fail(w, c);
            return;
        }
        c->len += (size_t)n;
        int status = 0;
        bool closing = false;
        int r = response_complete(c, &status, &closing);
        if (r < 0) {
            conn_fail(w, c);
            return;
        }
        if (r == 0)
            continue;
        uint64_t t = now_ns();
        if (samples_add(&w->lat, t - c->due) != 0 || samples_add(&w->sent_lat, t - c->sent) != 0)
            die("out of memory");
        w->last = t;
        if (status != 200)
            w->non200++;
        c->st = C_WAIT;
        c->place += (uint64_t)n_conns;
        c->due = due_at(c->place);
        if (closing) {
            char why[1024];
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            conn_close(c);
            if (conn_connect(c, why, sizeof why) != 0) {
                fprintf(stderr, "pace: %s\n", why);
                conn_fail(w, c);
                return;
            }
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        }
        return; /* nothing more comes before the next request (no read to see EAGAIN) */
    }
}

/* Waits for events until 'wake' (ns, CLOCK_MONOTONIC) at the latest: epoll_pwait2() to the
 * nanosecond, or, on a kernel without it (before 5.11), epoll_wait() to the next millisecond. */
static int wait_until(int ep, struct epoll_event *evs, int max, uint64_t wake)
{
    static _Atomic int no_pwait2;
    uint64_t now = now_ns(), left = wake > now ? wake - now : 0;
    if (!no_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u),
                              .tv_nsec = (long)(left % 1000000000u)};
        int n = epoll_pwait2(ep, evs, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = 1;
    }
    return epoll_wait(ep, evs, max, (int)((left + 999999) / 1000000));
}

static void *worker_run(void *arg)
{
    worker *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll: %s", strerror(errno));
    for (size_t i = 0; i < w->n_conns; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w->conns[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, w->conns[i]->fd, &ev);
    }
    uint64_t drain_end = w->end + (uint64_t)DRAIN_S * 1000000000u;
    struct epoll_event evs[64];
    for (;;) {
        uint64_t now = now_ns(), next = UINT64_MAX;
        int busy = 0;
        for (size_t i = 0; i < w->n_conns; i++) {
            conn *c = w->conns[i];
            if (c->st == C_WAIT && c->due < w->end && c->due <= now)
                conn_start(w, c, ep, now);
            if (c->st == C_WAIT && c->due < w->end && c->due < next)
                next = c->due;
            busy |= c->st == C_SEND || c->st == C_RECV;
        }
        if (next == UINT64_MAX && !busy)
            break;
        if (now >= drain_end) { /* answers that never came */
            for (size_t i = 0; i < w->n_conns; i++)
                if (w->conns[i]->st == C_SEND || w->conns[i]->st == C_RECV)
                    conn_fail(w, w->conns[i]);
            break;
        }
        int n = wait_until(ep, evs, 64, next < drain_end ? next : drain_end);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->st == C_SEND)
                conn_send(w, c, ep);
            if (c->st != C_SEND && c->st != C_DEAD)
                conn_read(w, c, ep);
        }
    }
    close(ep);
    return NULL;
}

/* A connected, TLS-handshaken, non-blocking connection to the server. */
static conn *conn_open(void)
{
    conn *c = calloc(1, sizeof *c);
    char why[1024];
    if (c == NULL)
        die("out of memory");
    if (conn_connect(c, why, sizeof why) != 0)
        die("%s", why);
    return c;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile in ms of the sorted 's' (the nearest-rank method: the ceil(n p / 100)-th
 * smallest). */
static double pct_ms(const samples *s, double p)
{
    if (s->n == 0)
        return 0;
    size_t k = (size_t)ceil((double)s->n * p / 100.0);
    return (double)s->v[(k > 0 ? k : 1) - 1] / 1e6;
}

static samples merged(worker *ws, int nt, int sent)
{
    samples all = {0};
    for (int i = 0; i < nt; i++) {
        const samples *s = sent ? &ws[i].sent_lat : &ws[i].lat;
        for (size_t k = 0; k < s->n; k++)
            if (samples_add(&all, s->v[k]) != 0)
                die("out of memory");
    }
    qsort(all.v, all.n, sizeof *all.v, cmp_u64);
    return all;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(void)
{
    fputs("usage: pace [-t THREADS] [-c CONNS] [-r RATE] [-d SECONDS] -b BODY "
          "https://HOST:PORT/PATH\n"
          "  POSTs BODY at RATE requests/s in all (default 1000) over CONNS keep-alive TLS\n"
          "  connections (default 16) on THREADS threads (default 2) for SECONDS (default 10),\n"
          "  and prints the latency percentiles, counted from when each request was due.\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    int nt = 2, nc = 16, opt;
    double secs = 10;
    rate = 1000;
    const char *body_path = NULL;
    while ((opt = getopt(argc, argv, "t:c:r:d:b:h")) != -1) {
        switch (opt) {
        case 't': nt = atoi(optarg); break;
        case 'c': nc = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'b': body_path = optarg; break;
        default: usage();
        }
    }
    if (optind != argc - 1 || body_path == NULL || nt < 1 || nc < 1 || rate <= 0 || secs <= 0)
        usage();
    if (nt > nc)
        nt = nc;
    char path[1024] = "/";
    if (sscanf(argv[optind], "https://%255[^:/]:%15[0-9]%1023s", host, port, path) < 2)
        die("expected https://HOST:PORT/PATH, got %s", argv[optind]);

    buf file;
    diag_list dl;
    diag_list_init(&dl);
    buf_init(&file, BODY_MAX);
    if (file_read(body_path, file.cap, &file, &dl) != 0)
        die("%s: %s", body_path, dl.count > 0 ? dl.items[0].msg : "cannot read");
    diag_list_clear(&dl);
    const char *body = file.data;
    size_t body_len = file.len;
    static const char head_fmt[] = "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
                                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n";
    int head = snprintf(NULL, 0, head_fmt, path, host, port, body_len);
    size_t cap = (size_t)head + 1 + body_len;
    char *req = head > 0 ? malloc(cap) : NULL;
    if (req == NULL)
        die("out of memory");
    snprintf(req, cap, head_fmt, path, host, port, body_len);
    memcpy(req + head, body, body_len);
    request = req;
    request_len = (size_t)head + body_len;
    n_conns = nc;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(host, port, &hints, &addr);
    if (gai != 0)
        die("%s: %s", host, gai_strerror(gai));
    ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (ssl_ctx == NULL)
        die("SSL_CTX_new failed");
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL); /* the bench's own certificate, as wrk */
    SSL_CTX_set_mode(ssl_ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* a record's header and body in one read, not two (as wrk does) */
    SSL_CTX_set_read_ahead(ssl_ctx, 1);

    worker *ws = calloc((size_t)nt, sizeof *ws);
    conn **conns = calloc((size_t)nc, sizeof *conns);
    if (ws == NULL || conns == NULL)
        die("out of memory");
    for (int i = 0; i < nc; i++)
        conns[i] = conn_open();

    /* Connection i's requests are places i, i + nc, i + 2 nc ... of one schedule of 'rate' a
     * second: all arrivals evenly spread. */
    t0 = now_ns() + 1000000;
    uint64_t end = t0 + (uint64_t)llround(secs * 1e9);
    for (int i = 0; i < nc; i++) {
        conns[i]->place = (uint64_t)i;
        conns[i]->due = due_at(conns[i]->place);
    }
    for (int t = 0; t < nt; t++) {
        ws[t].conns = conns + (size_t)nc * t / nt;
        ws[t].n_conns = (size_t)nc * (t + 1) / nt - (size_t)nc * t / nt;
        ws[t].end = end;
    }
    double cpu0 = cpu_s();
    for (int t = 0; t < nt; t++)
        if (pthread_create(&ws[t].tid, NULL, worker_run, &ws[t]) != 0)
            die("pthread_create failed");
    long non200 = 0, errors = 0;
    uint64_t last = end; /* the run lasts until its schedule ends, or its last answer came */
    for (int t = 0; t < nt; t++) {
        pthread_join(ws[t].tid, NULL);
        non200 += ws[t].non200;
        errors += ws[t].errors;
        last = ws[t].last > last ? ws[t].last : last;
    }
    double cpu = cpu_s() - cpu0;

    samples lat = merged(ws, nt, 0), sent = merged(ws, nt, 1);
    printf("paced: requests %zu seconds %.3f p50_ms %.3f p99_ms %.3f p999_ms %.3f max_ms %.3f "
           "send_p99_ms %.3f non200 %ld errors %ld cpu_us_per_req %.1f\n",
           lat.n, (double)(last - t0) / 1e9, pct_ms(&lat, 50), pct_ms(&lat, 99), pct_ms(&lat, 99.9),
           pct_ms(&lat, 100), pct_ms(&sent, 99), non200, errors,
           lat.n ? cpu * 1e6 / (double)lat.n : 0.0);

    for (int i = 0; i < nc; i++) {
        conn_close(conns[i]);
        free(conns[i]);
    }
    for (int t = 0; t < nt; t++) {
        free(ws[t].lat.v);
        free(ws[t].sent_lat.v);
    }
    free(lat.v);
    free(sent.v);
    free(conns);
    free(ws);
    free(req);
    buf_clear(&file);
    SSL_CTX_free(ssl_ctx);
    freeaddrinfo(addr);
    return 0;
}
