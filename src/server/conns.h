/* conns.h - what each connection of the server is doing: the request-head deadline and the
 * drain. Internal to src/server/ (http.c drives it from libmicrohttpd's callbacks).
 *
 * A connection is in one of three phases:
 *   head     from the accept (TLS handshake included, as nginx's client_header_timeout) or
 *            from the first byte after the previous answer, until its headers are in;
 *   request  from on_request()'s first call until on_completed();
 *   idle     after an answer on a kept-alive connection, until its next byte.
 * libmicrohttpd 0.9.75 tells us neither about the handshake nor about the first byte of the
 * next request, so conns_open() puts our own read function under the connection's GnuTLS
 * session: every byte the server reads passes through it.
 *
 * A reaper thread closes (shutdown(2); libmicrohttpd then sees the hang-up and frees the
 * connection in its own thread) every connection that has been in 'head' longer than the
 * header timeout. The lock that guards the table is also taken by conns_close(), which
 * libmicrohttpd calls before it closes the descriptor, so a descriptor is never shut down after
 * it was closed and reused. */
#ifndef SG_SERVER_CONNS_H
#define SG_SERVER_CONNS_H

#include <stdbool.h>
#include <stddef.h>

#include "../tls/creds.h"

typedef struct conns conns;
typedef struct conn conn;

/* Starts the table and its reaper thread. Returns NULL when out of memory or threads. */
conns *conns_new(unsigned header_timeout_s);

/* Stops the reaper and frees the table (after libmicrohttpd has stopped: no connection left). */
void conns_free(conns *t);

/* A connection was accepted (MHD_CONNECTION_NOTIFY_STARTED): its head phase starts now.
 * 'tls_session' is its gnutls_session_t, whose reads are routed through the table. Returns
 * the connection (for libmicrohttpd's socket context), or NULL when out of memory (the
 * connection is then served without a head deadline). */
conn *conns_open(conns *t, int fd, void *tls_session);

/* The connection is gone (MHD_CONNECTION_NOTIFY_CLOSED, before its descriptor is closed and
 * before its GnuTLS session is freed): its reference to its credentials is dropped. Safe:
 * GnuTLS reads what the certificate callback gave only during a handshake, never frees it. */
void conns_close(conns *t, conn *c);

/* The connection whose GnuTLS session is 'tls_session', or NULL when conns_open() could not
 * record it. (Ours are the sessions whose read pointer conns_open() replaced.) */
conn *conns_of_tls_session(void *tls_session);

/* The credentials 'c' presented in its handshake, or NULL before it. */
tls_creds *conn_creds(const conn *c);

/* Gives 'c' the reference 'creds', which it keeps until it closes. From GnuTLS's certificate
 * callback, which runs in the connection's own thread, as conns_close() does. */
void conn_set_creds(conn *c, tls_creds *creds);

/* The headers of a request are in (on_request()'s first call). NULL is accepted. */
void conn_request_begin(conn *c);

/* The request is over (on_completed()): idle until the next byte. NULL is accepted. */
void conn_request_end(conn *c);

/* A descriptor accepted by us and handed to libmicrohttpd (MHD_add_connection()) that it has
 * not announced yet: counted as open until conns_open() sees it, conns_unexpect() drops it, or
 * a second passes. */
void conns_expect(conns *t, int fd);
void conns_unexpect(conns *t, int fd);

/* For the drain: closes every connection idle for at least 'grace_ms' (the client, having had
 * its last answer that long ago, is not in the middle of sending the next request) and returns
 * how many connections are still open, expected ones included. */
size_t conns_close_idle(conns *t, unsigned grace_ms);

/* One TLS record and one sendmsg() per reply. libmicrohttpd 0.9.75 hands the headers and the
 * body of a reply to GnuTLS in two gnutls_record_send() calls, which make two records and two
 * sendmsg(). conn_reply_cork() corks the session when the reply is queued (GnuTLS then only
 * copies what it is given) and conn_reply_flush() uncorks it when libmicrohttpd says the reply
 * is out (on_completed(), before its close path sends the TLS goodbye): the headers and the
 * body leave as one record (several past 16 KiB), in one sendmsg() when the socket takes it.
 * A reply is corked only when its send cannot block: at most CONN_CORK_MAX bytes, nothing
 * queued on the socket and room for it in the socket's send buffer (one getsockopt()), so the
 * one sendmsg() is taken by the kernel whatever the client's window. Otherwise libmicrohttpd's
 * own non-blocking send serves it (two records), and a client that does not read parks only
 * its own connection, never the worker thread that serves others. */
#define CONN_CORK_MAX ((size_t)16 * 1024)

/* Corks the GnuTLS session 'tls_session' for a reply of 'len' bytes on descriptor 'fd' when
 * its send cannot block (above; NULL session: no TLS, nothing done). Returns whether it did; a
 * corked session must be given to conn_reply_flush() before the connection closes. */
bool conn_reply_cork(void *tls_session, int fd, size_t len);

/* Uncorks 'tls_session' and sends what was held, on descriptor 'fd'. The socket must not be
 * corked (TCP_CORK) meanwhile, or the kernel would hold the record for its 200 ms timer:
 * server_reply() gives libmicrohttpd no reply it corks the socket for. The sockets are
 * non-blocking: should the kernel not take it all (the cork checks make that rare), it waits
 * with poll() (never a retry loop; GNUTLS_RECORD_WAIT would spin), at most 'stall_ms' without
 * progress and 'total_ms' in all, 0 to not wait at all. Returns 0 when everything left, -1
 * when the client did not take it in time or the connection failed; the caller then shuts
 * the connection down (the client gets no answer rather than a part of one; kube-apiserver
 * applies the failurePolicy). */
int conn_reply_flush(void *tls_session, int fd, unsigned stall_ms, unsigned total_ms);

#endif
