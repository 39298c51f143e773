/* conns.c - connection phases, the request-head deadline and the drain; see conns.h. */
#include "conns.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <time.h>

#include <pthread.h>

#include <gnutls/gnutls.h>

#include "../util/log.h"
#include "../util/clock.h"

/* How often the reaper looks: the head deadline is kept to within this. */
#define REAP_PERIOD_MS 100
/* An expected descriptor that libmicrohttpd has not announced by then never will be (its
 * connection failed before it started). */
#define EXPECT_MAX_MS 1000
#define MAX_EXPECTED  1024 /* the listen backlog (MHD_OPTION_LISTEN_BACKLOG_SIZE in http.c) */

enum conn_phase { PHASE_HEAD, PHASE_REQUEST, PHASE_IDLE, PHASE_CLOSING };

struct conn {
    conn *prev, *next; /* the table's list, under its lock */
    int fd;
    _Atomic int phase;        /* enum conn_phase */
    _Atomic int64_t since_ms; /* when the current head or idle phase began */
    tls_creds *creds;         /* a reference to what its handshake presented, or NULL */
};

struct conns {
    pthread_mutex_t lock; /* the list, the expected descriptors, and every shutdown() */
    pthread_cond_t wake;
    pthread_t reaper;
    bool stop;
    conn *head;
    size_t n_open;
    int64_t header_ms;
    int expected_fd[MAX_EXPECTED];
    int64_t expected_at[MAX_EXPECTED];
    unsigned n_expected;
};

/* The phases' times are on the coarse monotonic clock (clock_coarse_ms(): a few ms behind at
 * most, a tenth of the cost of the precise one): two of them are read on every request, and
 * the deadlines they serve are seconds long and checked every REAP_PERIOD_MS. */

/* GnuTLS's read function for every connection: what its default does (recv), plus the one
 * thing libmicrohttpd cannot tell us: that an idle connection has started a new request. The
 * time is stored before the phase, so the reaper never pairs 'head' with the idle start. */
static ssize_t conn_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
    conn *c = ptr;
    ssize_t n = recv(c->fd, data, size, 0);
    if (n > 0 && atomic_load_explicit(&c->phase, memory_order_relaxed) == PHASE_IDLE) {
        int idle = PHASE_IDLE;
        atomic_store(&c->since_ms, clock_coarse_ms());
        atomic_compare_exchange_strong(&c->phase, &idle, PHASE_HEAD);
    }
    return n;
}

/* The pull-timeout function must follow the read pointer, which is now ours. */
static int conn_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
    conn *c = ptr;
    return gnutls_system_recv_timeout((gnutls_transport_ptr_t)(intptr_t)c->fd, ms);
}

/* Moves 'c' from 'from' to closing and shuts its socket down; under t->lock. */
static bool close_if(conn *c, int from, int how)
{
    if (!atomic_compare_exchange_strong(&c->phase, &from, PHASE_CLOSING))
        return false;
    shutdown(c->fd, how);
    return true;
}

static void *reaper_main(void *arg)
{
    conns *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct timespec until = clock_mono_after_ms(REAP_PERIOD_MS);
        pthread_cond_timedwait(&t->wake, &t->lock, &until);
        if (t->stop)
            break;
        int64_t now = clock_coarse_ms();
        unsigned closed = 0;
        for (conn *c = t->head; c != NULL; c = c->next) {
            /* SHUT_RDWR: a client that is this slow gets no TLS goodbye */
            if (atomic_load(&c->phase) == PHASE_HEAD &&
                now - atomic_load(&c->since_ms) > t->header_ms &&
                close_if(c, PHASE_HEAD, SHUT_RDWR))
                closed++;
        }
        if (closed > 0) {
            pthread_mutex_unlock(&t->lock);
            log_info("http", LOG_S("msg", "request head deadline exceeded; connection closed"),
                     LOG_I("connections", closed), LOG_I("header_timeout_s", t->header_ms / 1000));
            pthread_mutex_lock(&t->lock);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

conns *conns_new(unsigned header_timeout_s)
{
    conns *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->header_ms = (int64_t)header_timeout_s * 1000;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->reaper, NULL, reaper_main, t) != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    return t;
}

void conns_free(conns *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->reaper, NULL);
    while (t->head != NULL) { /* none once libmicrohttpd has stopped; kept safe anyway */
        conn *next = t->head->next;
        tls_creds_unref(t->head->creds);
        free(t->head);
        t->head = next;
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Drops 'fd' from the expected descriptors; under t->lock. */
static void unexpect_locked(conns *t, int fd)
{
    for (unsigned i = 0; i < t->n_expected; i++) {
        if (t->expected_fd[i] == fd) {
            t->n_expected--;
            t->expected_fd[i] = t->expected_fd[t->n_expected];
            t->expected_at[i] = t->expected_at[t->n_expected];
            return;
        }
    }
}

conn *conns_open(conns *t, int fd, void *tls_session)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    atomic_init(&c->phase, PHASE_HEAD);
    atomic_init(&c->since_ms, clock_coarse_ms());
    if (tls_session != NULL) {
        gnutls_session_t s = tls_session;
        /* The send side keeps the descriptor libmicrohttpd set; only reads come through us. */
        gnutls_transport_set_ptr2(s, c, (gnutls_transport_ptr_t)(intptr_t)fd);
        gnutls_transport_set_pull_function(s, conn_pull);
        gnutls_transport_set_pull_timeout_function(s, conn_pull_timeout);
    }
    pthread_mutex_lock(&t->lock);
    if (t->n_expected > 0)
        unexpect_locked(t, fd);
    c->next = t->head;
    if (t->head != NULL)
        t->head->prev = c;
    t->head = c;
    t->n_open++;
    pthread_mutex_unlock(&t->lock);
    return c;
}

void conns_close(conns *t, conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    t->n_open--;
    pthread_mutex_unlock(&t->lock);
    tls_creds_unref(c->creds);
    free(c);
}

conn *conns_of_tls_session(void *tls_session)
{
    if (tls_session == NULL)
        return NULL;
    gnutls_transport_ptr_t recv_ptr, send_ptr;
    gnutls_transport_get_ptr2(tls_session, &recv_ptr, &send_ptr);
    /* libmicrohttpd sets both to the descriptor; conns_open() puts its conn on the read side */
    return recv_ptr != send_ptr ? recv_ptr : NULL;
}

tls_creds *conn_creds(const conn *c)
{
    return c->creds;
}

void conn_set_creds(conn *c, tls_creds *creds)
{
    tls_creds_unref(c->creds); /* none: a connection has one handshake */
    c->creds = creds;
}

void conn_request_begin(conn *c)
{
    if (c == NULL)
        return;
    /* from idle too: a pipelined request was already read with the previous one; a
     * connection being closed stays so */
    int from = PHASE_HEAD;
    if (!atomic_compare_exchange_strong(&c->phase, &from, PHASE_REQUEST) && from == PHASE_IDLE)
        atomic_compare_exchange_strong(&c->phase, &from, PHASE_REQUEST);
}

void conn_request_end(conn *c)
{
    if (c == NULL)
        return;
    int req = PHASE_REQUEST;
    atomic_store(&c->since_ms, clock_coarse_ms());
    atomic_compare_exchange_strong(&c->phase, &req, PHASE_IDLE);
}

void conns_expect(conns *t, int fd)
{
    pthread_mutex_lock(&t->lock);
    if (t->n_expected < MAX_EXPECTED) {
        t->expected_fd[t->n_expected] = fd;
        t->expected_at[t->n_expected] = clock_coarse_ms();
        t->n_expected++;
    }
    pthread_mutex_unlock(&t->lock);
}

void conns_unexpect(conns *t, int fd)
{
    pthread_mutex_lock(&t->lock);
    unexpect_locked(t, fd);
    pthread_mutex_unlock(&t->lock);
}

size_t conns_close_idle(conns *t, unsigned grace_ms)
{
    int64_t now = clock_coarse_ms();
    pthread_mutex_lock(&t->lock);
    for (conn *c = t->head; c != NULL; c = c->next) {
        /* SHUT_RD: libmicrohttpd reads the end of the stream and closes the connection
         * cleanly (TLS close_notify, then FIN) */
        if (atomic_load(&c->phase) == PHASE_IDLE && now - atomic_load(&c->since_ms) >= grace_ms)
            close_if(c, PHASE_IDLE, SHUT_RD);
    }
    for (unsigned i = 0; i < t->n_expected;) {
        if (now - t->expected_at[i] > EXPECT_MAX_MS)
            unexpect_locked(t, t->expected_fd[i]);
        else
            i++;
    }
    size_t open = t->n_open + t->n_expected;
    pthread_mutex_unlock(&t->lock);
    return open;
}

/* How many times a flush waited for the client's window (read by the tests). */
static _Atomic unsigned long reply_flush_waits;

/* Whether a send of 'len' bytes (and a TLS record's overhead) on 'fd' is taken by the kernel
 * at once: nothing queued yet, and room in the send buffer (SO_SNDBUF reports twice the
 * payload it holds: the kernel counts its bookkeeping in it). One getsockopt(SO_MEMINFO)
 * gives both: the memory of what is queued (the buffers of every byte not yet sent or not
 * yet acknowledged, so 0 when SIOCOUTQ would say 0) and the buffer's size, which is what the
 * kernel compares when it takes a send; a kernel without it (before Linux 4.6) is asked with
 * ioctl(SIOCOUTQ) and getsockopt(SO_SNDBUF). */
static bool send_cannot_block(int fd, size_t len)
{
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t ml = sizeof mem;
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &ml) == 0 &&
        ml > SK_MEMINFO_WMEM_QUEUED * sizeof mem[0])
        return mem[SK_MEMINFO_WMEM_QUEUED] == 0 && len + 1024 <= mem[SK_MEMINFO_SNDBUF] / 2;
    int queued = 0, sndbuf = 0;
    socklen_t sl = sizeof sndbuf;
    if (ioctl(fd, SIOCOUTQ, &queued) != 0 || queued != 0)
        return false;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) != 0 || sndbuf <= 0)
        return false;
    return len + 1024 <= (size_t)sndbuf / 2;
}

bool conn_reply_cork(void *tls_session, int fd, size_t len)
{
    if (tls_session == NULL || len > CONN_CORK_MAX || !send_cannot_block(fd, len))
        return false;
    gnutls_record_cork(tls_session);
    return true;
}

int conn_reply_flush(void *tls_session, int fd, unsigned stall_ms, unsigned total_ms)
{
    int64_t deadline = -1; /* read from the clock only when the kernel does not take it all */
    for (;;) {
        /* A send GnuTLS could not finish stays in the session; the next uncork resumes it. */
        ssize_t n = gnutls_record_uncork(tls_session, 0);
        if (n >= 0)
            return 0;
        if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
            return -1;
        int64_t now = clock_mono_ms();
        if (deadline < 0)
            deadline = now + total_ms;
        int64_t left = deadline - now;
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        atomic_fetch_add_explicit(&reply_flush_waits, 1, memory_order_relaxed);
        int rc = poll(&p, 1, (int)(left < stall_ms ? left : stall_ms));
        if (rc == 0 || (rc < 0 && errno != EINTR))
            return -1; /* no room for 'stall_ms': the client is not reading */
        /* POLLERR or POLLHUP: the next uncork fails with the socket's error */
    }
}
