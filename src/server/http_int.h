/* http_int.h - what http.c (the transport) and routes.c (the handlers) share: the server,
 * one request, and the two ways to answer it. Internal to src/server/. */
#ifndef SG_SERVER_HTTP_INT_H
#define SG_SERVER_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include <microhttpd.h>

#include "../admission/decide.h"
#include "../tls/creds.h"
#include "../util/arena.h"
#include "../util/buf.h"
#include "conns.h"
#include "http.h"
#include "policy_stats.h"
#include "routes.h"

struct server {
    struct MHD_Daemon *daemon;
    server_config cfg;
    unsigned port;
    MHD_socket quiesced_fd; /* the listening socket once MHD handed it back, or invalid */
    conns *conns;           /* every open connection's phase: head deadline, drain */
    _Atomic int ready;
    _Atomic int draining;
    _Atomic long in_flight; /* requests from their headers to on_completed(): what the drain
                               waits for (the metrics gauge is process-wide, this is ours) */
    pthread_mutex_t lock;   /* guards the three pointers below */
    policy_set *policies;   /* the current set; each request holds a reference to its own */
    policy_stats *stats;    /* the per-policy counters of that set (NULL: out of memory, not
                               counted); swapped with it, referenced with it */
    tls_creds *creds;       /* the current certificate; each connection holds a reference to
                               the one it was handshaken with */
    policy_lookup lookup;   /* lookup() and lookupList(), from cfg.cluster */
};

/* State of one request, from its headers to its completion. */
struct request {
    enum server_endpoint ep;
    char method[16];
    struct timespec start;
    int status;   /* HTTP status queued; 0 until then */
    int decision; /* enum admission_decision, or -1 */
    bool too_large;
    bool close; /* the framing is in doubt: close the connection after the answer */
    size_t discarded;
    buf body;
    arena *arena;
    policy_set *policies; /* the set this request runs with (a reference) */
    policy_stats *stats;  /* its counters (a reference, or NULL) */
    admission_result res;
    const char *reason; /* why an error status was sent */
    void *corked;       /* the GnuTLS session corked for the reply (conns.h), or NULL */
};

/* The arena for a review of a body of 'len' bytes (cap: admission_arena_cap()): the one the
 * thread's last request gave back (server_request_arena_done()), else a new one. NULL when out
 * of memory. */
arena *server_request_arena(size_t len);

/* Frees 'a' (NULL is accepted) or, reset, keeps it for the thread's next request. */
void server_request_arena_done(arena *a);

/* Queues 'body' (malloc-owned and taken over, or static when 'owned' is false) with 'status'
 * and 'ctype'. A 405 carries the Allow header of the request's row; a reply while draining,
 * or after a framing doubt, carries "Connection: close". Returns MHD_NO when it cannot be
 * queued. */
enum MHD_Result server_reply(server *s, struct MHD_Connection *c, struct request *r, int status,
                             const char *ctype, char *body, size_t len, bool owned);

/* Replies with a Kubernetes Status object: 'status', 'reason' ("NotFound") and the message
 * made from 'fmt', which is also kept as the request's reason for the log line. */
enum MHD_Result server_reply_error(server *s, struct MHD_Connection *c, struct request *r,
                                   int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
