/* http.h - the HTTPS server: libmicrohttpd with GnuTLS, routes, body cap, drain.
 *
 * Routes (rows of routes.c): POST /validate and /mutate (AdmissionReview), GET /healthz,
 * /readyz, /metrics. The server does only transport: it collects the body up to the cap,
 * hands it to the route's handler (admission_process() for the reviews), and sends the
 * reply. Every request, good or bad, gets one log line and is counted in the metrics. */
#ifndef SG_SERVER_HTTP_H
#define SG_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "../policy/policy.h"
#include "../util/diag.h"

#define SERVER_MAX_BODY ((size_t)3 << 20) /* kube-apiserver's own request limit */

/* GnuTLS priorities: TLS 1.2 and 1.3 only, AEAD ciphers, forward-secret key exchange. */
#define SERVER_TLS_PRIORITIES                                                                  \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"     \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

typedef struct server_config {
    const char *listen;       /* "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT"; port 0 picks one */
    const char *cert_pem;     /* serving chain and key, PEM; borrowed until server_free() */
    const char *key_pem;
    const char *client_ca_pem; /* NULL, or the CA whose client certificates /validate and
                                  /mutate require (--client-ca) */
    unsigned threads;         /* worker threads, each with its own epoll loop */
    unsigned max_connections; /* further connections are refused */
    unsigned idle_timeout_s;  /* a connection with no traffic for this long is closed */
    unsigned header_timeout_s; /* a request head (with the TLS handshake on a new connection)
                                  not complete this long after its first byte is cut off */
    unsigned request_timeout_s; /* a request whose body takes longer is cut off */
    size_t max_body;          /* larger bodies get 413 */
    bool warn_only;           /* --enforcement warn: denies become warnings */
    struct cluster *cluster;  /* lookup()'s answers (borrowed; NULL: lookup finds nothing) */
    policy_set *policies;     /* the first set (a reference the server takes over), in place
                                 before the first connection is accepted */
} server_config;

typedef struct server server;

/* Parses 'listen' into an address; exposed for tests. Returns 0, or -1 with a diag. */
int server_parse_listen(const char *listen, char *host, size_t host_cap, unsigned *port,
                        bool *ipv6, diag_list *dl);

/* Starts serving with 'cfg' (copied; its strings are borrowed; its policy set is taken over,
 * and released on failure). Returns the server, or NULL with diags when the address cannot
 * be bound or TLS cannot be set up. */
server *server_start(const server_config *cfg, diag_list *dl);

/* Replaces the policy set (a reference the server takes over). Requests already running
 * finish with the set they started with. */
void server_set_policies(server *s, policy_set *set);

/* Replaces the serving certificate (PEM, checked by the caller) for the handshakes that
 * follow; connections already established keep theirs. Returns 0, or -1 with diags (the old
 * certificate stays). */
int server_set_certificate(server *s, const char *cert_pem, const char *key_pem, diag_list *dl);

/* Returns the number of requests this server is processing now (headers in, not yet
 * completed): what server_drain() waits for. */
long server_in_flight(const server *s);

/* Returns the port actually bound (useful with port 0). */
unsigned server_port(const server *s);

/* Sets whether /readyz answers 200 (certificates and policies loaded). */
void server_set_ready(server *s, bool ready);

/* Starts draining: /readyz answers 503 and replies carry "Connection: close". */
void server_begin_drain(server *s);

/* Stops accepting new connections: those already in the listen backlog are taken over and
 * served, further ones are refused. Open ones are still served. */
void server_stop_accepting(server *s);

/* The drain, after server_begin_drain() and server_stop_accepting(): waits until every
 * connection has closed or 'timeout_ms' passes. Every request received gets its answer (with
 * "Connection: close", so its connection closes after it); a connection still in its head
 * gets until its head deadline; a kept-alive connection idle for a second is closed. Returns
 * true when none is left. */
bool server_drain(server *s, unsigned timeout_ms);

/* Stops the workers, closes every connection, and frees 's'. NULL is accepted. */
void server_free(server *s);

#endif
