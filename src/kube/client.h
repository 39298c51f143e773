/* client.h - HTTPS requests to the Kubernetes API server (libcurl, OpenSSL backend).
 *
 * A client is shared by every thread: each call takes a curl handle from a small pool (kept
 * alive between calls, so a live GET reuses its TLS session) and returns it. The bearer token
 * is read from its file again whenever the file's inode, size or modification time changes,
 * since bound service-account tokens rotate. Every call has a timeout. */
#ifndef SG_KUBE_CLIENT_H
#define SG_KUBE_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"

typedef struct kube_client kube_client;

/* Copies what it needs of 'cfg'. NULL with an error in 'dl' (e.g. an unreadable CA file). */
kube_client *kube_client_new(const kube_config *cfg, diag_list *dl);
void kube_client_free(kube_client *c);

/* Requests the calling thread makes from now on (GET, LIST pages, discovery, and a wait for
 * another thread's discovery) end soon after '*stop' becomes true (within about a second),
 * failing with "stopped". NULL: none. A watch's thread sets its stop flag, so that stopping a
 * kind (a policy reload, shutdown) never waits out a request to a stalled API server. */
void kube_thread_stop(const atomic_bool *stop);

/* True when the calling thread's stop flag (kube_thread_stop) is set. */
bool kube_thread_stopped(void);

/* One answer. 'http' is the HTTP status, 0 when there was none (connect, TLS, timeout: 'error'
 * says which). For an HTTP error the body is usually a Status object; 'error' then reads
 * "HTTP 404 NotFound: persistentvolumeclaims \"data\" not found" (code, reason, message). */
typedef struct kube_response {
    long http;
    char *body;        /* malloc'd, NUL-terminated; NULL when none */
    size_t len;
    char error[512];   /* "" on a 2xx answer */
    bool too_large;    /* the answer was cut at its bound (client.c: 64 MiB) */
} kube_response;

void kube_response_free(kube_response *r);

/* GET 'path' (starting "/api" or "/apis", query included, already escaped), the whole answer
 * within 'timeout_ms'. Returns 0 on a 2xx answer, -1 otherwise ('r->error' says why; 'r->http'
 * tells a 404 from no answer). */
int kube_get(kube_client *c, const char *path, long timeout_ms, kube_response *r);

/* The writes: the method and the Content-Type of the body that kube-apiserver expects. */
enum kube_method {
    KUBE_POST,            /* create: the object, application/json */
    KUBE_PUT,             /* replace: the whole object; its metadata.resourceVersion makes the
                             write conditional (409 Conflict when the object changed since) */
    KUBE_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
    KUBE_PATCH_JSON,      /* application/json-patch+json (RFC 6902) */
    KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in kinds only) */
    KUBE_PATCH_APPLY,     /* server-side apply, application/apply-patch+yaml (JSON is YAML);
                             the path must carry ?fieldManager=NAME */
    KUBE_DELETE,          /* the body, if any, is DeleteOptions (e.g. preconditions) */
    KUBE_METHOD_COUNT
};

/* One write to 'path' (as for kube_get) with 'body' ('len' bytes, not NUL-terminated; NULL for
 * a DELETE without DeleteOptions), the whole answer within 'timeout_ms', with the same TLS,
 * token and bounds as a GET. A body larger than 3 MiB (kube-apiserver's cap), an apply without
 * a fieldManager, a missing body or an unknown method is refused before any request, with
 * 'r->http' 0. Returns 0 on a 2xx answer ('r->body' the object written, or the Status of a
 * DELETE), -1 otherwise: 'r->http' tells a conflict (409), a missing object (404) or a refusal
 * (403, 422) from no answer (0), and 'r->error' reads as for kube_get. This code never
 * repeats a write, but libcurl sends it once more on a fresh connection when a kept-alive one
 * turns out closed before any byte of the answer came: so make writes conditional (a PUT with
 * the resourceVersion read, a create that a repeat answers 409) or idempotent (a patch that
 * sets values). After no answer a write may or may not have happened, which only the caller
 * (by reading the object again) can tell. */
int kube_write(kube_client *c, enum kube_method m, const char *path, const char *body,
               size_t len, long timeout_ms, kube_response *r);

/* True when 'r' (a failed GET of the object 'name') says that object does not exist: HTTP 404
 * with a Status whose reason is NotFound and whose details name 'name', as the API server
 * answers for a missing object. Any other 404 (a path the server does not route, a kind that
 * is gone, a proxy's page) says nothing about the object: the cluster could not be asked. */
bool kube_not_found(const kube_response *r, const char *name);

/* A streamed GET (a watch): 'on_line' is called for each complete '\n'-terminated line of the
 * body as it arrives (without the '\n'); a non-zero return ends the stream. The call returns
 * when the server ends the body, 'on_line' stops it, '*stop' becomes true (checked at least
 * every 200 ms), nothing arrives for 'idle_timeout_ms', or the connection fails. A partial
 * last line (the stream cut mid-object) is never passed to 'on_line'. Returns 0 when the
 * server ended a 2xx body or 'on_line'/'*stop' ended it, -1 otherwise ('r->error'; for a
 * non-2xx answer r->body holds the Status). */
int kube_stream(kube_client *c, const char *path, long idle_timeout_ms,
                int (*on_line)(void *arg, const char *line, size_t len), void *arg,
                const atomic_bool *stop, kube_response *r);

/* Where a kind lives: "v1" + "PersistentVolumeClaim" -> "/api/v1", "persistentvolumeclaims",
 * namespaced. From the API server's discovery document of the group version, fetched once per
 * group version and kept (a miss fetches it again, so a CRD installed later is found). */
typedef struct kube_resource {
    char api_version[320]; /* "v1", "flink.apache.org/v1beta1": a group (253), "/", a version */
    char kind[64];
    char base[336];        /* "/api/v1" or "/apis/GROUP/VERSION" */
    char plural[64];       /* "persistentvolumeclaims" */
    bool namespaced;
} kube_resource;

/* Returns 0, or -1 with 'error' set ("no kind Foo in flink.apache.org/v1beta1", or the
 * request's error). */
int kube_discover(kube_client *c, const char *api_version, const char *kind, long timeout_ms,
                  kube_resource *out, char error[512]);

/* The path of a collection or object: base + ("/namespaces/NS" when namespaced and 'ns' is not
 * "") + "/" + plural + ("/" + name when 'name' is not NULL), names escaped. Returns the length,
 * or -1 when 'cap' is too small or a name cannot be a Kubernetes name ('/' or '%'...). */
int kube_path(const kube_resource *res, const char *ns, const char *name, char *out, size_t cap);

/* LIST the collection at 'path' (no query) in pages of 'limit' items, following
 * metadata.continue. A page larger than an answer may be is asked again with a tenth of the
 * items (down to one), so large objects (a tenant's claims with big annotations) cannot make
 * a kind impossible to list. 'on_item' receives each item and owns it from then on (cJSON_Delete);
 * a non-zero return stops the list (-1). 'rv' receives the list's resourceVersion, from which
 * a watch starts. Each page has 'timeout_ms'. Returns 0, or -1 with 'r' telling why (an
 * expired continue token is http 410: the caller lists again from the start). */
int kube_list(kube_client *c, const char *path, long limit, long timeout_ms,
              int (*on_item)(void *arg, cJSON *item), void *arg, char *rv, size_t rv_cap,
              kube_response *r);

#endif
