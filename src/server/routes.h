/* routes.h - the server's endpoints: one row each {path, methods, handler, metric label}.
 * Internal to src/server/.
 *
 * The row of an endpoint is all there is to it: http.c routes a request by the row's path,
 * answers 405 with the row's methods as the Allow header, calls the row's handler when the
 * body is in, and logs and counts the request under the row's label; the 404 text lists the
 * paths of the rows. h2o's pathconf -> handler is the model. To add an endpoint: a name in
 * enum server_endpoint and its row in routes.c. */
#ifndef SG_SERVER_ROUTES_H
#define SG_SERVER_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

/* The rows of server_routes[], in order. EP_OTHER is the row of every path no other row
 * has: answered 404 when its headers are in. */
enum server_endpoint {
    EP_VALIDATE,
    EP_MUTATE,
    EP_HEALTHZ,
    EP_READYZ,
    EP_METRICS,
    EP_OTHER,
    EP_COUNT
};

struct server;
struct request;

/* Answers request 'r' on connection 'c' once its whole body is in (reply queued through
 * server_reply()). Returns libmicrohttpd's MHD_YES, or MHD_NO to drop the connection. */
typedef enum MHD_Result route_handler(struct server *s, struct MHD_Connection *c,
                                      struct request *r);

typedef struct server_route {
    const char *path;       /* matched exactly (query strings never reach us); NULL: EP_OTHER */
    const char *methods;    /* the methods allowed, as the Allow header of a 405 lists them;
                               the first is the one the 405's message names */
    route_handler *handler; /* NULL for EP_OTHER, which is answered on its headers */
    const char *label;      /* "endpoint" in the metrics and the log lines */
    bool review;            /* takes an AdmissionReview: --client-ca applies, the body must be
                               JSON within the cap, the latency histogram and the review log
                               line */
} server_route;

extern const server_route server_routes[EP_COUNT];

/* Returns the row whose path is 'path', or EP_OTHER. */
enum server_endpoint server_route_find(const char *path);

/* Whether 'method' is one of the methods of 'rt' (exact, case-sensitive, as HTTP's). */
bool server_route_allows(const server_route *rt, const char *method);

/* Writes the paths of the rows, "/a, /b or /c", into 'out' (truncated to 'cap'). */
void server_route_paths(char *out, size_t cap);

#endif
