/* http.c - libmicrohttpd transport for the webhook; see http.h.
 *
 * libmicrohttpd calls on_request() several times per request: once when the headers are
 * in (we route and reject early: 404, 405, 415, 413 by Content-Length), once per chunk of
 * body (we append up to the cap and enforce the request deadline), and once at the end
 * (the route's handler answers; routes.c). on_completed() runs when the reply is sent or
 * the connection is gone; it writes the log line, records the metrics and frees the
 * request. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "../admission/decide.h"
#include "../util/arena.h"
#include "../util/buf.h"
#include "../util/log.h"
#include "cluster.h"
#include "conns.h"
#include "http_int.h"
#include "metrics.h"
#include "routes.h"

/* Per-connection memory of libmicrohttpd: request line, headers and the read buffer (the body
 * streams through on_request() in pieces). libmicrohttpd zeroes it for every request (16 KiB
 * cost 25.6k instructions a request, and 16 KiB of cold cache lines written per request on
 * each connection in turn), so it is kept small: 8 KiB takes a request head of about 7.5 KiB
 * (Tomcat's default bound is 8 KiB) in a few lines, and about 64 header lines (each costs
 * about 100 bytes of the pool), while kube-apiserver sends about 8 lines and 400 bytes, or
 * about 1.5 KiB with a bearer token from a webhook kubeconfig. */
#define SERVER_CONNECTION_POOL ((size_t)8 * 1024)

/* A chunked body larger than this many caps is not even read: the connection is closed. */
#define DISCARD_FACTOR 4

/* In a drain, a kept-alive connection whose last answer is this old is closed: its client is
 * not in the middle of sending the next request (one that got its answer just before the
 * drain began sends the next one within microseconds, and gets it answered, with
 * "Connection: close"). Go's server closes idle connections at once; this grace keeps the
 * request a busy client sends right then from being cut. */
#define DRAIN_IDLE_GRACE_MS 1000

/* A corked reply the kernel does not take at once is given this long in all before the
 * connection is shut down (conns.h, conn_reply_flush()). Replies are corked only when their
 * send cannot block (conn_reply_cork()), so this is a bound for the unexpected, kept short:
 * the worker waits in poll() meanwhile, and it serves other connections too. */
#define REPLY_STALL_MS 100

/* The one server of the process, for GnuTLS's certificate callback (which has no user
 * pointer). */
static server *the_server;

/* Each thread keeps the arena of its last request for its next one, reset, with its largest
 * block: no malloc() and free() of four blocks (4 to 32 KiB) for each review, 1.3k
 * instructions, and the same memory every time. One that held more than this is freed, so
 * that a worker does not keep the memory of one large review. */
#define SPARE_ARENA_MAX ((size_t)256 * 1024)

static pthread_key_t spare_key; /* the thread's kept arena; freed when the thread ends */
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static bool spare_ok;

static void spare_free(void *a)
{
    arena_free(a);
}

static void spare_init(void)
{
    spare_ok = pthread_key_create(&spare_key, spare_free) == 0;
}

arena *server_request_arena(size_t len)
{
    pthread_once(&spare_once, spare_init);
    arena *a = spare_ok ? pthread_getspecific(spare_key) : NULL;
    if (a == NULL)
        return arena_new(admission_arena_cap(len));
    pthread_setspecific(spare_key, NULL);
    arena_set_cap(a, admission_arena_cap(len));
    return a;
}

void server_request_arena_done(arena *a)
{
    if (a == NULL)
        return;
    pthread_once(&spare_once, spare_init);
    if (!spare_ok || arena_used(a) > SPARE_ARENA_MAX || pthread_getspecific(spare_key) != NULL) {
        arena_free(a);
        return;
    }
    arena_reset(a);
    if (pthread_setspecific(spare_key, a) != 0)
        arena_free(a);
}

/* Frees the calling thread's kept arena: the thread that stops the daemon ends its requests'
 * lives too, and is not a worker whose end would free it. */
static void spare_drop(void)
{
    if (!spare_ok)
        return;
    arena_free(pthread_getspecific(spare_key));
    pthread_setspecific(spare_key, NULL);
}

/* Seconds from 't0' (CLOCK_MONOTONIC) to now on 'clock': CLOCK_MONOTONIC for what is
 * reported (the log's ms, the metrics), CLOCK_MONOTONIC_COARSE (at most a few ms behind, a
 * tenth of the cost) for the body deadline, checked on every chunk. */
static double seconds_since(const struct timespec *t0, clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The body of a reply, for libmicrohttpd's content reader: 'cls' is the text (it holds the
 * reply's length; libmicrohttpd asks for no byte past it). */
static ssize_t read_reply(void *cls, uint64_t pos, char *out, size_t max)
{
    memcpy(out, (const char *)cls + pos, max);
    return (ssize_t)max;
}

/* libmicrohttpd reads a body through a content reader in blocks of at most this many bytes
 * (a TLS record's payload): its copy of the block is allocated with the response. */
#define REPLY_BLOCK ((size_t)16 * 1024)

enum MHD_Result server_reply(server *s, struct MHD_Connection *c, struct request *r, int status,
                             const char *ctype, char *body, size_t len, bool owned)
{
    /* Not MHD_create_response_from_buffer(): libmicrohttpd 0.9.75 hands the headers of such a
     * reply under 1,400 bytes (headers and body) to the socket "not to be pushed" and corks it
     * (TCP_CORK) for them, then pushes after the body with setsockopt(TCP_NODELAY), and, the
     * socket believed corked from then on, sets TCP_NODELAY again after every later reply: a
     * system call per reply, for a push that has nothing to push (the record is held by our
     * cork until on_completed()), and a cork under which our one sendmsg() would wait for the
     * kernel's 200 ms timer. A reply whose body comes from a content reader has its headers
     * pushed and its body pushed: libmicrohttpd sets TCP_NODELAY once per connection, never
     * TCP_CORK. An empty body has only headers, pushed too. */
    struct MHD_Response *resp =
        len == 0 ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
                 : MHD_create_response_from_callback(len, len < REPLY_BLOCK ? len : REPLY_BLOCK,
                                                     read_reply, body, owned ? free : NULL);
    if (owned && (resp == NULL || len == 0))
        free(body);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    const char *allow = server_routes[r->ep].methods;
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (atomic_load(&s->draining) || r->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    /* Headers and body in one TLS record, one sendmsg(): on_completed() uncorks (conns.h). */
    if (r->corked == NULL && len <= CONN_CORK_MAX) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci != NULL && fd != NULL && conn_reply_cork(ci->tls_session, fd->connect_fd, len))
            r->corked = ci->tls_session;
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    return ok;
}

enum MHD_Result server_reply_error(server *s, struct MHD_Connection *c, struct request *r,
                                   int status, const char *reason, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = 0;
    char *body = admission_status_encode(status, reason, msg, &len);
    if (r->arena == NULL)
        r->arena = arena_new(4096);
    r->reason = r->arena ? arena_strdup(r->arena, msg) : NULL;
    if (body == NULL)
        return MHD_NO;
    return server_reply(s, c, r, status, "application/json", body, len, true);
}

/* True for "application/json", any case, with optional parameters. */
static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (ct == NULL || strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char next = ct[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* The framing headers of a request, as sent (libmicrohttpd looks only at the first of each). */
struct framing {
    unsigned n_length, n_coding;
    const char *length;   /* the first Content-Length */
    bool lengths_differ;  /* a later one is not the same number, or not a number */
    const char *coding;   /* the first Transfer-Encoding */
};

static bool is_digits(const char *v)
{
    if (*v == '\0')
        return false;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9')
            return false;
    }
    return true;
}

/* Two decimal lengths name the same number (leading zeros aside). */
static bool same_length(const char *a, const char *b)
{
    while (a[0] == '0' && a[1] != '\0')
        a++;
    while (b[0] == '0' && b[1] != '\0')
        b++;
    return strcmp(a, b) == 0;
}

static enum MHD_Result scan_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    struct framing *f = cls;
    if (value == NULL)
        value = "";
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->n_length++ == 0)
            f->length = value;
        else if (!is_digits(value) || !is_digits(f->length) || !same_length(value, f->length))
            f->lengths_differ = true;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        if (f->n_coding++ == 0)
            f->coding = value;
    }
    return MHD_YES;
}

/* A body whose length two readers could see differently (request smuggling through a proxy, a
 * body taken for the next request) is refused, and the connection closed after the answer
 * (RFC 9112 6.1 and 6.3): different Content-Length headers, Transfer-Encoding together with
 * Content-Length, several Transfer-Encoding headers, or a coding other than chunked. Returns
 * true when a reply was queued (or queuing failed: '*ret' is MHD_NO). */
static bool check_framing(server *s, struct MHD_Connection *c, struct request *r,
                          enum MHD_Result *ret)
{
    struct framing f = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, scan_framing, &f);
    r->close = true;
    if (f.lengths_differ)
        *ret = server_reply_error(s, c, r, 400, "BadRequest",
                                  "conflicting Content-Length headers ('%.32s' and another)",
                                  f.length);
    else if (f.n_coding > 0 && f.n_length > 0)
        *ret = server_reply_error(s, c, r, 400, "BadRequest",
                                  "both Transfer-Encoding and Content-Length are set; send one");
    else if (f.n_coding > 1)
        *ret = server_reply_error(s, c, r, 400, "BadRequest",
                                  "more than one Transfer-Encoding header");
    else if (f.n_coding == 1 && strcasecmp(f.coding, "chunked") != 0)
        *ret = server_reply_error(s, c, r, 501, "NotImplemented",
                                  "transfer coding '%.32s' is not supported; use chunked or "
                                  "Content-Length", f.coding);
    else
        r->close = false;
    return r->close;
}

/* Runs when the headers are in. Returns true when a reply was queued (or queuing failed,
 * in which case '*ret' is MHD_NO). */
static bool check_headers(server *s, struct MHD_Connection *c, struct request *r,
                          const char *url, enum MHD_Result *ret)
{
    const server_route *rt = &server_routes[r->ep];
    if (rt->path == NULL) {
        char paths[256];
        server_route_paths(paths, sizeof paths);
        *ret = server_reply_error(s, c, r, 404, "NotFound", "no such endpoint: %.100s (use %s)",
                                  url, paths);
        return true;
    }
    if (!server_route_allows(rt, r->method)) {
        *ret = server_reply_error(s, c, r, 405, "MethodNotAllowed",
                                  "method %.16s is not allowed; use %.*s", r->method,
                                  (int)strcspn(rt->methods, ","), rt->methods);
        return true;
    }
    if (!rt->review)
        return false;
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!is_json_type(ct)) {
        *ret = server_reply_error(s, c, r, 415, "UnsupportedMediaType",
                                  "content type '%.64s' is not supported; use application/json",
                                  ct ? ct : "");
        return true;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (n > s->cfg.max_body) {
            *ret = server_reply_error(s, c, r, 413, "RequestEntityTooLarge",
                                      "the body is larger than %zu bytes", s->cfg.max_body);
            return true;
        }
        /* One allocation for the whole body instead of doublings. */
        if (n > 0 && buf_append(&r->body, "", 0) == 0 && n + 1 > r->body.alloc) {
            char *p = realloc(r->body.data, (size_t)n + 1);
            if (p != NULL) {
                r->body.data = p;
                r->body.alloc = (size_t)n + 1;
            }
        }
    }
    return false;
}

/* Takes one chunk of body. Returns MHD_NO to drop a connection that is too slow or sends
 * far more than the cap. */
static enum MHD_Result take_body(server *s, struct request *r, const char *data, size_t *size)
{
    if (seconds_since(&r->start, CLOCK_MONOTONIC_COARSE) > (double)s->cfg.request_timeout_s) {
        r->reason = "request body deadline exceeded";
        return MHD_NO;
    }
    if (!r->too_large && buf_append(&r->body, data, *size) != 0) {
        r->too_large = true;
        r->discarded = r->body.len;
        buf_clear(&r->body);
    }
    if (r->too_large) {
        r->discarded += *size;
        if (r->discarded > DISCARD_FACTOR * s->cfg.max_body) {
            r->reason = "body far over the cap";
            return MHD_NO;
        }
    }
    *size = 0;
    return MHD_YES;
}

/* With --client-ca: the peer presented a certificate that chains to it and is valid now.
 * (libmicrohttpd only asks for one; deciding is ours.) */
static bool client_trusted(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return false;
    gnutls_session_t sess = (gnutls_session_t)ci->tls_session;
    unsigned n = 0, status = 0;
    if (gnutls_certificate_get_peers(sess, &n) == NULL || n == 0)
        return false;
    return gnutls_certificate_verify_peers2(sess, &status) == 0 && status == 0;
}

/* Our record of connection 'c' (its libmicrohttpd socket context), or NULL. */
static conn *connection_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    struct request *r = *con_cls;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        r->ep = server_route_find(url);
        size_t mlen = strnlen(method, sizeof r->method - 1); /* cut as snprintf cut it */
        memcpy(r->method, method, mlen);
        r->method[mlen] = '\0';
        r->decision = -1;
        buf_init(&r->body, s->cfg.max_body);
        *con_cls = r;
        atomic_fetch_add(&s->in_flight, 1);
        metrics_in_flight_add(1);
        conn_request_begin(connection_of(c));
        enum MHD_Result ret = MHD_YES;
        if (check_framing(s, c, r, &ret))
            return ret;
        if (server_routes[r->ep].review && s->cfg.client_ca_pem != NULL && !client_trusted(c))
            return server_reply_error(s, c, r, 401, "Unauthorized",
                                      "a client certificate signed by the --client-ca is "
                                      "required%s", "");
        if (check_headers(s, c, r, url, &ret))
            return ret;
        return MHD_YES;
    }
    if (r->status != 0) { /* answered early; ignore whatever body follows */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size > 0)
        return take_body(s, r, upload_data, upload_size);
    if (r->too_large)
        return server_reply_error(s, c, r, 413, "RequestEntityTooLarge",
                                  "the body is larger than %zu bytes", s->cfg.max_body);
    const server_route *rt = &server_routes[r->ep];
    return rt->handler != NULL ? rt->handler(s, c, r) : MHD_NO; /* EP_OTHER answered above */
}

static void log_request(const struct request *r, enum MHD_RequestTerminationCode toe, double secs)
{
    bool review = server_routes[r->ep].review;
    enum log_level lv = review || r->status >= 400 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK
                            ? LOG_INFO
                            : LOG_DEBUG;
    if (!log_enabled(lv))
        return;
    const char *decision = r->decision >= 0 ? admission_decision_name(r->decision) : "-";
    const char *end = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted";
    /* Every value goes through the field writer, which escapes it: uid, kind, namespace and
     * name come from the request and may hold anything. */
    if (review && r->res.uid != NULL) {
        /* The policies by what they did; "-" when none (or the arena is out). */
        const char *by[ADMISSION_EFFECT_ALLOWED];
        for (int e = 0; e < ADMISSION_EFFECT_ALLOWED; e++)
            by[e] = admission_result_policies(&r->res, (enum admission_effect)e, r->arena);
        log_event(lv, "http", LOG_S("msg", "review"),
                  LOG_S("endpoint", server_routes[r->ep].label), LOG_I("status", r->status),
                  LOG_S("uid", r->res.uid), LOG_S("op", r->res.operation),
                  LOG_S("kind", r->res.kind), LOG_S("ns", r->res.namespace_),
                  LOG_S("name", r->res.name), LOG_S("decision", decision),
                  LOG_B("dry_run", r->res.dry_run), LOG_I("warnings", r->res.n_warnings),
                  LOG_B("patched", r->res.patched), LOG_F("ms", secs * 1e3), LOG_S("end", end),
                  LOG_S("denied_by", by[ADMISSION_EFFECT_DENIED]),
                  LOG_S("would_deny_by", by[ADMISSION_EFFECT_WOULD_DENY]),
                  LOG_S("warned_by", by[ADMISSION_EFFECT_WARNED]),
                  LOG_S("audited_by", by[ADMISSION_EFFECT_AUDITED]),
                  LOG_S("reason", r->res.denied_by ? r->res.denied_by : r->reason),
                  LOG_S("errors", admission_result_errors(&r->res, r->arena)));
    } else
        log_event(lv, "http", LOG_S("msg", "request"),
                  LOG_S("endpoint", server_routes[r->ep].label), LOG_S("method", r->method),
                  LOG_I("status", r->status), LOG_F("ms", secs * 1e3), LOG_S("end", end),
                  LOG_S("reason", r->reason));
}

/* Sends what the cork held (server_reply()). libmicrohttpd takes the reply for sent, so this
 * is the last chance: a reply the client does not take in time gets the connection shut down
 * (no half answer is left behind for the next request to find). Returns 'toe', or an error
 * code when the reply did not leave. */
static enum MHD_RequestTerminationCode flush_reply(struct MHD_Connection *c,
                                                   struct request *r,
                                                   enum MHD_RequestTerminationCode toe)
{
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    unsigned total_ms = ok ? REPLY_STALL_MS : 0; /* a dying one: no wait */
    if (fd != NULL &&
        conn_reply_flush(r->corked, fd->connect_fd, REPLY_STALL_MS, total_ms) == 0)
        return toe;
    if (fd != NULL)
        shutdown(fd->connect_fd, SHUT_RDWR);
    if (ok)
        r->reason = "the client did not read the answer in time; connection closed";
    return ok ? MHD_REQUEST_TERMINATED_WITH_ERROR : toe;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    struct request *r = *con_cls;
    if (r == NULL)
        return;
    if (r->corked != NULL)
        toe = flush_reply(c, r, toe);
    conn_request_end(connection_of(c));
    double secs = seconds_since(&r->start, CLOCK_MONOTONIC);
    log_request(r, toe, secs);
    metrics_request_done(r->ep, r->status, r->decision, secs);
    if (r->decision == ADMISSION_ALLOWED || r->decision == ADMISSION_DENIED)
        metrics_review_done(r->ep, r->res.effect, s->cfg.warn_only);
    metrics_in_flight_add(-1);
    atomic_fetch_sub(&s->in_flight, 1);
    free(r->res.body);
    buf_clear(&r->body);
    policy_set_unref(r->policies);
    policy_stats_unref(r->stats);
    server_request_arena_done(r->arena);
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *tls =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (fd != NULL)
            *socket_context = conns_open(s->conns, fd->connect_fd, tls ? tls->tls_session : NULL);
        metrics_connections_add(1);
    } else {
        conns_close(s->conns, *socket_context);
        *socket_context = NULL;
        metrics_connections_add(-1);
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
        msg[--n] = '\0';
    log_debug("mhd", LOG_S("msg", msg));
}

int server_parse_listen(const char *listen, char *host, size_t host_cap, unsigned *port,
                        bool *ipv6, diag_list *dl)
{
    srcpos at = {.file = "--listen"};
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    if (colon == NULL)
        goto bad;
    bool bracketed = hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']';
    if (bracketed) {
        h++;
        hlen -= 2;
    } else if (memchr(listen, ':', hlen) != NULL) {
        goto bad; /* "::1:8443" is ambiguous: IPv6 addresses go in brackets */
    }
    if (hlen + 1 > host_cap)
        goto bad;
    if (hlen == 0) {
        snprintf(host, host_cap, "0.0.0.0");
    } else {
        memcpy(host, h, hlen);
        host[hlen] = '\0';
    }
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p > 65535)
        goto bad;
    *port = (unsigned)p;
    unsigned char tmp[16];
    if (inet_pton(AF_INET, host, tmp) == 1) {
        *ipv6 = false;
        return 0;
    }
    if (bracketed && inet_pton(AF_INET6, host, tmp) == 1) {
        *ipv6 = true;
        return 0;
    }
bad:
    diag_add(dl, DIAG_ERROR, "usage.listen", &at,
             "'%.100s' is not ADDR:PORT with a numeric IPv4 or [IPv6] address", listen);
    return -1;
}

/* GnuTLS asks, in each handshake, which certificate to present: the current one, of which
 * the connection takes a reference, dropped when it closes (conns_close()), so a reload never
 * frees what a session still points to. A connection conns_open() could not record (out of
 * memory) has nowhere to keep it and is refused. */
static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *pkey)
{
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    server *s = the_server;
    conn *cn = s != NULL ? conns_of_tls_session(session) : NULL;
    if (cn == NULL)
        return -1;
    tls_creds *c = conn_creds(cn);
    if (c == NULL) { /* its first handshake */
        pthread_mutex_lock(&s->lock);
        c = tls_creds_ref(s->creds);
        pthread_mutex_unlock(&s->lock);
        conn_set_creds(cn, c);
    }
    tls_creds_use(c, pcert, pcert_length, pkey);
    return 0;
}

/* The address to bind, from what server_parse_listen() found. */
static void sock_addr(const char *host, unsigned port, bool ipv6, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (ipv6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, host, &a6->sin6_addr);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &a4->sin_addr);
    }
}

/* Starts libmicrohttpd on 'ss' with the options of 's->cfg'. Returns the daemon, or NULL. */
static struct MHD_Daemon *start_daemon(server *s, unsigned port, bool ipv6,
                                       struct sockaddr_storage *ss)
{
    const server_config *cfg = &s->cfg;
    /* No MHD_USE_TURBO. In libmicrohttpd 0.9.75 it changes, among others, two things: a
     * connection starts outside the epoll set, marked ready; and closing one skips the TLS
     * shutdown. A connection whose handshake never finishes then stays marked ready (GnuTLS
     * reads the socket itself, and its EAGAIN does not clear the mark), so a worker polls it
     * without sleeping; and when its idle timeout closes it, its TLS state stays
     * 'handshaking', which makes MHD_connection_handle_idle() stop before the 'closed' case
     * that frees it: the slot, the descriptor (CLOSE-WAIT once the client leaves) and a zero
     * epoll timeout (a spinning worker) stay for good. Without TURBO the close runs
     * gnutls_bye(), which moves the TLS state on, and the connection is freed. TURBO saves one
     * epoll_ctl() and one fcntl() per accepted connection and a shutdown() per closed one,
     * nothing per request (docs/server.md, "No MHD_USE_TURBO").
     * poll(), not epoll: 0.9.75's epoll loop keeps a connection on its ready list until
     * libmicrohttpd's own recv returns EAGAIN, which a TLS handshake (GnuTLS reads the socket
     * itself) never does: a client that sends half a ClientHello kept a worker spinning until
     * the head deadline. poll() asks the kernel each turn (docs/server.md, "poll(), not
     * epoll"). */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_TLS | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    /* A pool of one is no pool: libmicrohttpd wants 0 there, and then runs one thread. */
    unsigned pool = cfg->threads > 1 ? cfg->threads : 0;
    return MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
        MHD_OPTION_HTTPS_CERT_CALLBACK, cert_callback,
        MHD_OPTION_HTTPS_PRIORITIES, SERVER_TLS_PRIORITIES,
        /* the client CA when there is one; else the priorities again, which changes nothing
         * (an option list cannot skip an entry) */
        cfg->client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_HTTPS_PRIORITIES,
        cfg->client_ca_pem ? cfg->client_ca_pem : SERVER_TLS_PRIORITIES,
        MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, SERVER_CONNECTION_POOL,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_END);
}

server *server_start(const server_config *cfg, diag_list *dl)
{
    char host[64];
    unsigned port;
    bool ipv6;
    if (server_parse_listen(cfg->listen, host, sizeof host, &port, &ipv6, dl) != 0)
        return NULL;
    struct sockaddr_storage ss;
    sock_addr(host, port, ipv6, &ss);
    server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->cfg = *cfg;
    s->lookup = cluster_lookup(cfg->cluster);
    s->quiesced_fd = MHD_INVALID_SOCKET;
    pthread_mutex_init(&s->lock, NULL);
    s->policies = cfg->policies; /* before MHD accepts: no request runs without policies */
    s->stats = policy_stats_new(cfg->policies, NULL);
    srcpos at = {.file = "--listen"};
    if ((s->conns = conns_new(cfg->header_timeout_s)) == NULL) {
        diag_add(dl, DIAG_ERROR, "server.start", &at, "cannot start the connection reaper thread");
        goto fail;
    }
    if ((s->creds = tls_creds_new(cfg->cert_pem, cfg->key_pem, dl)) == NULL)
        goto fail;
    the_server = s;
    if ((s->daemon = start_daemon(s, port, ipv6, &ss)) == NULL) {
        diag_add(dl, DIAG_ERROR, "server.start", &at,
                 "cannot serve on %s (address in use, or TLS setup failed; run with "
                 "--log-level debug for libmicrohttpd's reason)", cfg->listen);
        the_server = NULL;
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    return s;
fail:
    policy_set_unref(s->policies);
    policy_stats_unref(s->stats);
    tls_creds_unref(s->creds);
    conns_free(s->conns);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

long server_in_flight(const server *s)
{
    return atomic_load(&s->in_flight);
}

unsigned server_port(const server *s)
{
    return s->port;
}

void server_set_ready(server *s, bool ready)
{
    atomic_store(&s->ready, ready ? 1 : 0);
    metrics_set_ready(ready && !atomic_load(&s->draining));
}

void server_begin_drain(server *s)
{
    atomic_store(&s->draining, 1);
    metrics_set_ready(false);
}

void server_stop_accepting(server *s)
{
    if (s->quiesced_fd != MHD_INVALID_SOCKET)
        return;
    /* The listening socket is ours now, but must stay open until MHD_stop_daemon(): a worker
     * may still be about to use it. */
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    s->quiesced_fd = fd;
    if (fd == MHD_INVALID_SOCKET)
        return;
    /* Connections the kernel has completed wait in the backlog; their clients may already
     * have sent a request. Take them over and hand them to libmicrohttpd, which serves them
     * like the others. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int c = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        conns_expect(s->conns, c);
        if (MHD_add_connection(s->daemon, c, (struct sockaddr *)&peer, len) != MHD_YES)
            conns_unexpect(s->conns, c); /* libmicrohttpd closed it */
    }
    /* Then stop listening without closing the descriptor: the kernel refuses further
     * connections at once (before, they queued in the backlog and were reset at exit). */
    shutdown(fd, SHUT_RDWR);
}

bool server_drain(server *s, unsigned timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        size_t open = conns_close_idle(s->conns, DRAIN_IDLE_GRACE_MS);
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        /* libmicrohttpd counts a connection from before it announces it to us */
        if (open == 0 && (di == NULL || di->num_connections == 0) &&
            atomic_load(&s->in_flight) == 0)
            return true;
        if (seconds_since(&t0, CLOCK_MONOTONIC) * 1e3 >= timeout_ms)
            return false;
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
}


void server_free(server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    spare_drop();
    conns_free(s->conns);
    if (s->quiesced_fd != MHD_INVALID_SOCKET)
        close(s->quiesced_fd);
    policy_set_unref(s->policies);
    policy_stats_unref(s->stats);
    tls_creds_unref(s->creds); /* the connections' references went with them */
    if (the_server == s)
        the_server = NULL;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void server_set_policies(server *s, policy_set *set)
{
    pthread_mutex_lock(&s->lock);
    policy_stats *prev = policy_stats_ref(s->stats);
    pthread_mutex_unlock(&s->lock);
    /* Made before the swap, from the counters being served: a policy that stays keeps
     * counting where it was, one that went is no longer published. */
    policy_stats *stats = policy_stats_new(set, prev);
    policy_stats_unref(prev);
    if (stats == NULL)
        log_warn("policy", LOG_S("msg", "out of memory for the per-policy metrics: the new "
                                        "set is served without them"));
    pthread_mutex_lock(&s->lock);
    policy_set *old = s->policies;
    policy_stats *old_stats = s->stats;
    s->policies = set;
    s->stats = stats;
    pthread_mutex_unlock(&s->lock);
    policy_set_unref(old); /* requests running with it hold their own references */
    policy_stats_unref(old_stats);
}

int server_set_certificate(server *s, const char *cert_pem, const char *key_pem, diag_list *dl)
{
    tls_creds *c = tls_creds_new(cert_pem, key_pem, dl);
    if (c == NULL)
        return -1;
    pthread_mutex_lock(&s->lock);
    tls_creds *old = s->creds;
    s->creds = c;
    pthread_mutex_unlock(&s->lock);
    tls_creds_unref(old); /* connections handshaken with it hold their own references */
    return 0;
}
