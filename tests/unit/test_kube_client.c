/* test_kube_client.c - the API client: paths and their escaping, Status errors, the watch line
 * splitter, discovery parsing, the token re-read on change, and requests over HTTPS against
 * a small in-process server (libmicrohttpd, a generated CA): headers sent, Status decoding,
 * timeouts, verification, the body cap, LIST pages, watches (lines, stop, idle, errors) and
 * the rate limit of discovery. The real kube-apiserver is the e2e tests' (make e2e). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/api.c"
#include "kube/client.c"
#include "cli/livelookup.c"
#include "tls/certs.h"

static char tmp[64];
static char token_path[128];

/* ---- pure functions ------------------------------------------------------------------ */

static void test_path(void **state)
{
    (void)state;
    kube_resource pvc = {.base = "/api/v1", .plural = "persistentvolumeclaims",
                         .namespaced = true};
    kube_resource node = {.base = "/api/v1", .plural = "nodes", .namespaced = false};
    static const struct {
        bool namespaced;
        const char *ns, *name, *want;
    } cases[] = {
        {true, "team", "data", "/api/v1/namespaces/team/persistentvolumeclaims/data"},
        {true, "team", NULL, "/api/v1/namespaces/team/persistentvolumeclaims"},
        {true, "", NULL, "/api/v1/persistentvolumeclaims"},
        {true, NULL, "x", "/api/v1/persistentvolumeclaims/x"},
        {false, "team", "n1", "/api/v1/nodes/n1"}, /* cluster-scoped: the namespace is unused */
        {true, "a", "system:node:x", "/api/v1/namespaces/a/persistentvolumeclaims/"
                                     "system%3Anode%3Ax"},
        {true, "a", "x?watch=1#f", "/api/v1/namespaces/a/persistentvolumeclaims/"
                                   "x%3Fwatch%3D1%23f"},
        {true, "a", "sp ace\n", "/api/v1/namespaces/a/persistentvolumeclaims/sp%20ace%0A"},
        {true, "a", "...", "/api/v1/namespaces/a/persistentvolumeclaims/..."},
        /* Refused: could change the path, or cannot be a name. */
        {true, "a", "../secrets", NULL},
        {true, "a", "x/y", NULL},
        {true, "a", "%2e%2e", NULL},
        {true, "a", "..", NULL},
        {true, "a", ".", NULL},
        {true, "a", "", NULL},
        {true, "..", "x", NULL},
        {true, "kube-system/secrets", NULL, NULL},
    };
    char out[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const kube_resource *r = cases[i].namespaced ? &pvc : &node;
        int n = kube_path(r, cases[i].ns, cases[i].name, out, sizeof out);
        if (cases[i].want == NULL) {
            if (n != -1)
                fail_msg("case %zu: %s accepted as %s", i, cases[i].name, out);
            continue;
        }
        if (n < 0 || strcmp(out, cases[i].want) != 0 || (size_t)n != strlen(out))
            fail_msg("case %zu: %d %s, want %s", i, n, n < 0 ? "" : out, cases[i].want);
    }
    /* Lengths: 253 bytes is a name, 254 is not; a short buffer is an error, not a cut path. */
    char name[300];
    memset(name, 'a', 253);
    name[253] = '\0';
    assert_true(kube_path(&pvc, "ns", name, out, sizeof out) > 0);
    name[253] = 'a';
    name[254] = '\0';
    assert_int_equal(kube_path(&pvc, "ns", name, out, sizeof out), -1);
    assert_int_equal(kube_path(&pvc, "ns", "data", out, 20), -1);
    int n = kube_path(&pvc, "ns", "d", out, 47); /* exactly the length + NUL */
    assert_int_equal(n, 46);
    assert_int_equal(kube_path(&pvc, "ns", "d", out, 46), -1);
}

static void test_status_error(void **state)
{
    (void)state;
    static const struct {
        long http;
        const char *body, *want;
    } cases[] = {
        {404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
              "\"persistentvolumeclaims \\\"data\\\" not found\",\"reason\":\"NotFound\","
              "\"code\":404}",
         "HTTP 404 NotFound: persistentvolumeclaims \"data\" not found"},
        {403, "{\"kind\":\"Status\",\"message\":\"forbidden: User cannot list\","
              "\"reason\":\"Forbidden\"}",
         "HTTP 403 Forbidden: forbidden: User cannot list"},
        {500, "{\"kind\":\"Status\",\"message\":\"boom\"}", "HTTP 500: boom"},
        {410, "{\"kind\":\"Status\",\"reason\":\"Expired\"}", "HTTP 410 Expired: -"},
        {502, "<html>\r\n<b>Bad Gateway</b></html>", "HTTP 502: <html>  <b>Bad Gateway</b></html>"},
        {400, "{\"kind\":\"Pod\"}", "HTTP 400: {\"kind\":\"Pod\"}"},
        {503, "", "HTTP 503"},
        {503, NULL, "HTTP 503"},
    };
    char out[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *b = cases[i].body;
        status_error(cases[i].http, b, b ? strlen(b) : 0, out, sizeof out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: %s, want %s", i, out, cases[i].want);
    }
    /* A long non-Status body: its first 200 bytes only. */
    char body[1000];
    memset(body, 'x', sizeof body);
    status_error(502, body, sizeof body, out, sizeof out);
    assert_int_equal(strlen(out), strlen("HTTP 502: ") + 200);
}

/* What the splitter passed on, joined with '|'. */
typedef struct lines_seen {
    char text[4096];
    int count, stop_after;
} lines_seen;

static int collect(void *arg, const char *line, size_t len)
{
    lines_seen *s = arg;
    assert_int_equal(strlen(line), len); /* NUL-terminated, no '\n' */
    assert_null(memchr(line, '\n', len));
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof s->text - used, "%s%s", s->count ? "|" : "", line);
    s->count++;
    return s->stop_after && s->count >= s->stop_after;
}

static void test_splitter_chunks(void **state)
{
    (void)state;
    static const char stream[] = "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\",\"x\":1}\n\n"
                                 "{\"type\":\"DELETED\"}\n{\"type\":\"BOOKM";
    static const char want[] = "{\"type\":\"ADDED\"}|{\"type\":\"MODIFIED\",\"x\":1}|"
                               "{\"type\":\"DELETED\"}";
    size_t len = strlen(stream);
    /* Every chunk size from 1 byte (each line split across many chunks) to all at once
     * (several lines in one chunk); the cut last line is never passed on. */
    for (size_t chunk = 1; chunk <= len; chunk++) {
        line_splitter ls;
        lines_seen seen = {.text = ""};
        splitter_init(&ls, 1024, collect, &seen);
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            assert_int_equal(splitter_feed(&ls, stream + off, n), 0);
        }
        if (strcmp(seen.text, want) != 0)
            fail_msg("chunk %zu: %s", chunk, seen.text);
        assert_int_equal(ls.line.len, strlen("{\"type\":\"BOOKM")); /* kept, not delivered */
        splitter_clear(&ls);
    }
}

static void test_splitter_limits(void **state)
{
    (void)state;
    line_splitter ls;
    lines_seen seen = {.text = ""};
    /* A line of exactly the cap passes; one byte more fails, even when it comes in pieces. */
    splitter_init(&ls, 8, collect, &seen);
    assert_int_equal(splitter_feed(&ls, "12345678\n", 9), 0);
    assert_string_equal(seen.text, "12345678");
    assert_int_equal(splitter_feed(&ls, "12345", 5), 0);
    assert_int_equal(splitter_feed(&ls, "6789", 4), -1);
    splitter_clear(&ls);
    /* A callback's non-zero return stops at once: the next line is not passed. */
    lines_seen stop = {.text = "", .stop_after = 1};
    splitter_init(&ls, 64, collect, &stop);
    assert_int_equal(splitter_feed(&ls, "a\nb\nc\n", 6), 1);
    assert_string_equal(stop.text, "a");
    splitter_clear(&ls);
}

static void test_api_version_and_discovery_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } av[] = {
        {"v1", true}, {"apps/v1", true}, {"flink.apache.org/v1beta1", true},
        {"k8ssandra.io/v1alpha1", true}, {"v2", false}, {"", false}, {"/v1", false},
        {"../v1", false}, {"a..b/v1", false}, {"apps/v1/x", false}, {"apps/V1", false},
        {"apps/", false}, {"apps/1", false}, {"Apps/v1", false}, {"a b/v1", false},
        {"apps/v1?x", false}, {".apps/v1", false},
    };
    for (size_t i = 0; i < sizeof av / sizeof av[0]; i++) {
        if (is_api_version(av[i].s) != av[i].ok)
            fail_msg("apiVersion %s: %d", av[i].s, !av[i].ok);
    }
    static const char list[] =
        "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
        "{\"name\":\"pods\",\"namespaced\":true,\"kind\":\"Pod\"},"
        "{\"name\":\"pods/status\",\"namespaced\":true,\"kind\":\"Pod\"},"
        "{\"name\":\"nodes\",\"namespaced\":false,\"kind\":\"Node\"},"
        "{\"name\":\"bad/../x\",\"namespaced\":false,\"kind\":\"Evil\"},"
        "{\"name\":\"Bad Name\",\"namespaced\":false,\"kind\":\"Evil2\"},"
        "{\"name\":\"x\"}]}";
    size_t n;
    char err[256] = "";
    disc_kind *k = disc_parse(list, strlen(list), &n, err, sizeof err);
    assert_non_null(k);
    assert_int_equal(n, 2);
    assert_string_equal(k[0].kind, "Pod");
    assert_string_equal(k[0].plural, "pods");
    assert_true(k[0].namespaced);
    assert_string_equal(k[1].plural, "nodes");
    assert_false(k[1].namespaced);
    free(k);
    assert_null(disc_parse("{\"kind\":\"Status\"}", 17, &n, err, sizeof err));
    assert_string_equal(err, "the discovery answer is not an APIResourceList");
}

/* ---- the token ----------------------------------------------------------------------- */

static void write_token(const char *text)
{
    FILE *f = fopen(token_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *header_now(kube_client *c)
{
    char err[256];
    char *h = kube_token_header(&c->token, err, sizeof err);
    assert_non_null(h);
    return h;
}

static void test_token_reread(void **state)
{
    (void)state;
    write_token("first-token\n");
    kube_config cfg = {.server = "https://127.0.0.1:1", .token = "inline",
                       .token_file = token_path};
    diag_list dl;
    diag_list_init(&dl);
    kube_client *c = kube_client_new(&cfg, &dl);
    assert_non_null(c);
    char *h = header_now(c);
    assert_string_equal(h, "Authorization: Bearer first-token"); /* the file wins, trimmed */
    free(h);

    /* Rewritten in place with the same size: the modification time tells. */
    usleep(20000);
    write_token("other-token\n");
    h = header_now(c);
    assert_string_equal(h, "Authorization: Bearer other-token");
    free(h);

    /* Replaced by rename (a new inode), as kubelet's atomic writer does. */
    char next[160];
    snprintf(next, sizeof next, "%s.new", token_path);
    FILE *f = fopen(next, "w");
    fputs("  third-token-longer \n", f);
    fclose(f);
    assert_int_equal(rename(next, token_path), 0);
    h = header_now(c);
    assert_string_equal(h, "Authorization: Bearer third-token-longer");
    free(h);

    /* Gone or broken for a moment: the previous token goes on being used. */
    unlink(token_path);
    h = header_now(c);
    assert_string_equal(h, "Authorization: Bearer third-token-longer");
    free(h);
    write_token("bad\r\nX-Injected: 1\n");
    h = header_now(c);
    assert_string_equal(h, "Authorization: Bearer third-token-longer");
    free(h);
    assert_true(c->token.bad); /* remembered: not read (nor logged) again for every request */
    h = header_now(c);
    free(h);
    usleep(20000);
    write_token("fourth\n");
    h = header_now(c);
    assert_string_equal(h, "Authorization: Bearer fourth");
    assert_false(c->token.bad);
    free(h);
    write_token("bad\r\nX-Injected: 1\n");
    kube_client_free(c);

    /* At start-up an unusable token file is an error. */
    c = kube_client_new(&cfg, &dl);
    assert_null(c);
    assert_non_null(strstr(dl.items[0].msg, "holds a control character"));
    write_token("  \n");
    assert_null(kube_client_new(&cfg, &dl));
    assert_non_null(strstr(dl.items[1].msg, "is empty"));
    diag_list_clear(&dl);
}

/* ---- requests against an in-process HTTPS server -------------------------------------- */

static struct MHD_Daemon *daemon_;
static int port;
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_auth[256], seen_ua[64], seen_accept[64];
static char seen_method[16], seen_ctype[80], seen_expect[32];
static char seen_body[4096]; /* the last request's body, cut at the size */
static size_t seen_body_len;   /* its whole length */
static int write_hits;         /* requests to /write/ paths */
/* The body of the request being read: libmicrohttpd runs a thread per connection here, and
 * requests on one connection come one after the other. */
static _Thread_local char *req_body;
static _Thread_local size_t req_body_len;
static int discovery_hits;
static atomic_int connections; /* TCP connections the server accepted */

static void on_connection(void *cls, struct MHD_Connection *conn, void **sock_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls, (void)conn, (void)sock_ctx;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&connections, 1);
}

/* A streamed body: 'parts' in turn, then 'fill' bytes of 'x' (no newline), then 'hang_ms'
 * of silence (in slices), then the end (or a cut connection with 'cut'). */
typedef struct stream_body {
    const char *const *parts;
    size_t n_parts, next;
    size_t fill;
    long hang_ms;
    bool cut;
} stream_body;

static ssize_t stream_cb(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    stream_body *s = cls;
    if (s->next < s->n_parts) {
        const char *p = s->parts[s->next++];
        size_t n = strlen(p) < max ? strlen(p) : max;
        memcpy(out, p, n);
        return (ssize_t)n;
    }
    if (s->fill > 0) {
        size_t n = s->fill < max ? s->fill : max;
        memset(out, 'x', n);
        s->fill -= n;
        return (ssize_t)n;
    }
    if (s->hang_ms > 0) {
        usleep(20000);
        s->hang_ms -= 20;
        return 0;
    }
    return s->cut ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result send_stream(struct MHD_Connection *conn, unsigned code, stream_body *s)
{
    stream_body *copy = malloc(sizeof *copy);
    *copy = *s;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_cb, copy, free);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned code, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return rc;
}

static const char not_found[] =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"pods \\\"missing\\\" not found\",\"reason\":\"NotFound\","
    "\"details\":{\"name\":\"missing\",\"kind\":\"pods\"},\"code\":404}";

/* LIST pages of two items, continue tokens that need escaping. */
static enum MHD_Result list_route(struct MHD_Connection *conn)
{
    const char *limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    const char *cont = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "continue");
    if (limit == NULL || strcmp(limit, "2") != 0)
        return send_text(conn, 400, "{\"kind\":\"Status\",\"message\":\"limit\"}");
    if (cont == NULL)
        return send_text(conn, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":"
                                    "\"42\",\"continue\":\"tok one+/=&?\"},\"items\":["
                                    "{\"n\":1},{\"n\":2}]}");
    if (strcmp(cont, "tok one+/=&?") == 0)
        return send_text(conn, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":"
                                    "\"42\",\"continue\":\"t2\"},\"items\":[{\"n\":3},{\"n\":4}]}");
    if (strcmp(cont, "t2") == 0)
        return send_text(conn, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":"
                                    "\"42\"},\"items\":[{\"n\":5}]}");
    return send_text(conn, 410, "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":"
                                "\"The provided continue parameter is too old\",\"code\":410}");
}

static enum MHD_Result route(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **ptr)
{
    (void)cls, (void)version;
    static int started;
    if (*ptr == NULL) {
        /* The first call has the head only: an answer queued now would close the connection
         * (libmicrohttpd cannot keep it alive without having read the request). */
        *ptr = &started;
        free(req_body);
        req_body = NULL;
        req_body_len = 0;
        return MHD_YES;
    }
    if (*size > 0) { /* a piece of the body: kept, answered once all of it is in */
        char *grown = realloc(req_body, req_body_len + *size + 1);
        assert_non_null(grown);
        memcpy(grown + req_body_len, data, *size);
        req_body = grown;
        req_body_len += *size;
        req_body[req_body_len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&seen_mu);
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    const char *ex = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
    snprintf(seen_method, sizeof seen_method, "%s", method);
    snprintf(seen_ctype, sizeof seen_ctype, "%s", ct ? ct : "");
    snprintf(seen_expect, sizeof seen_expect, "%s", ex ? ex : "");
    seen_body_len = req_body_len;
    snprintf(seen_body, sizeof seen_body, "%s", req_body ? req_body : "");
    free(req_body); /* nothing left behind when the connection's thread ends */
    req_body = NULL;
    req_body_len = 0;
    if (strncmp(url, "/write/", 7) == 0)
        write_hits++;
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    const char *acc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
    snprintf(seen_auth, sizeof seen_auth, "%s", a ? a : "");
    snprintf(seen_ua, sizeof seen_ua, "%s", ua ? ua : "");
    snprintf(seen_accept, sizeof seen_accept, "%s", acc ? acc : "");
    if (strcmp(url, "/api/v1") == 0 || strncmp(url, "/apis/", 6) == 0)
        discovery_hits++;
    pthread_mutex_unlock(&seen_mu);

    if (strcmp(url, "/api/v1/namespaces/ns/pods/a") == 0)
        return send_text(conn, 200, "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}");
    if (strcmp(url, "/api/v1/namespaces/ns/pods/missing") == 0)
        return send_text(conn, 404, not_found);
    if (strcmp(url, "/api/v1/namespaces/default/pods/p") == 0)
        return send_text(conn, 200, "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
                                    "\"namespace\":\"default\"}}");
    if (strcmp(url, "/api/v1/namespaces/team/pods") == 0)
        return send_text(conn, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":"
                                    "\"7\"},\"items\":[{\"metadata\":{\"name\":\"a\","
                                    "\"namespace\":\"team\"}},{\"metadata\":{\"name\":"
                                    "\"b\",\"namespace\":\"team\"}}]}");
    if (strcmp(url, "/api/v1/namespaces/ns/pods/unrouted") == 0)
        return send_text(conn, 404, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":"
                                    "\"the server could not find the requested resource\","
                                    "\"reason\":\"NotFound\",\"details\":{},\"code\":404}");
    if (strcmp(url, "/write/echo") == 0)
        return send_text(conn, strcmp(method, "POST") == 0 ? 201 : 200,
                         "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"8\"}}");
    if (strcmp(url, "/write/conflict") == 0)
        return send_text(conn, 409, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":"
                                    "\"Operation cannot be fulfilled on leases.coordination.k8s."
                                    "io \\\"sg\\\": the object has been modified; please apply "
                                    "your changes to the latest version and try again\",\"reason\":"
                                    "\"Conflict\",\"code\":409}");
    if (strcmp(url, "/write/slow") == 0) {
        sleep(2);
        return send_text(conn, 200, "{}");
    }
    if (strcmp(url, "/gateway") == 0)
        return send_text(conn, 502, "<html><body>bad gateway</body></html>");
    if (strcmp(url, "/slow") == 0) {
        sleep(2);
        return send_text(conn, 200, "{}");
    }
    if (strcmp(url, "/api/v1") == 0)
        return send_text(conn, 200, "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\","
                                    "\"resources\":[{\"name\":\"pods\",\"namespaced\":true,"
                                    "\"kind\":\"Pod\"},{\"name\":\"pods/log\",\"namespaced\":"
                                    "true,\"kind\":\"PodLogOptions\"}]}");
    if (strcmp(url, "/apis/x.io/v1") == 0)
        return send_text(conn, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\","
                                    "\"message\":\"the server could not find the requested "
                                    "resource\"}");
    if (strcmp(url, "/apis/slow.io/v1") == 0) {
        usleep(400000);
        return send_text(conn, 200, "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":"
                                    "\"slows\",\"namespaced\":false,\"kind\":\"Slow\"}]}");
    }
    if (strcmp(url, "/apis/stall.io/v1") == 0) {
        sleep(3);
        return send_text(conn, 200, "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":"
                                    "\"stalls\",\"namespaced\":false,\"kind\":\"Stall\"}]}");
    }
    if (strcmp(url, "/api/v1/pods") == 0)
        return list_route(conn);
    if (strcmp(url, "/api/v1/bigpods") == 0) {
        /* Objects so large that more than 5 of them do not fit one answer. */
        const char *limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
        const char *cont = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "continue");
        if (limit != NULL && atol(limit) > 5) {
            stream_body big = {.fill = KUBE_MAX_BODY + 1};
            return send_stream(conn, 200, &big);
        }
        if (cont == NULL)
            return send_text(conn, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":"
                                        "\"9\",\"continue\":\"c2\"},\"items\":[{\"n\":1}]}");
        return send_text(conn, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":"
                                    "\"9\"},\"items\":[{\"n\":2}]}");
    }
    stream_body s = {0};
    if (strcmp(url, "/big") == 0) {
        s.fill = KUBE_MAX_BODY + 1;
        return send_stream(conn, 200, &s);
    }
    static const char *const watch[] = {"{\"type\":\"ADDED\",\"object\":{}}\n{\"type\"",
                                        ":\"MODIFIED\"}\n\n{\"type\":\"DELETED\"}\n",
                                        "{\"type\":\"BOOKMA"};
    s.parts = watch;
    s.n_parts = 3;
    if (strcmp(url, "/watch") == 0)
        return send_stream(conn, 200, &s);
    if (strcmp(url, "/watch-cut") == 0) {
        s.cut = true;
        return send_stream(conn, 200, &s);
    }
    if (strcmp(url, "/watch-hang") == 0) {
        s.n_parts = 1;
        s.hang_ms = 3000;
        return send_stream(conn, 200, &s);
    }
    if (strcmp(url, "/watch-long") == 0) {
        s.n_parts = 1;
        s.fill = KUBE_MAX_LINE + 1;
        return send_stream(conn, 200, &s);
    }
    if (strcmp(url, "/watch-forbidden") == 0)
        return send_text(conn, 403, "{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"message\":"
                                    "\"pods is forbidden: User \\\"x\\\" cannot watch\"}");
    return send_text(conn, 404, "{}");
}

static char *slurp(const char *path)
{
    buf b;
    diag_list dl;
    buf_init(&b, 1 << 20);
    diag_list_init(&dl);
    assert_int_equal(file_read(path, 1 << 20, &b, &dl), 0);
    diag_list_clear(&dl);
    return buf_take(&b);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/sg-kcli-XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(token_path, sizeof token_path, "%s/token", tmp);
    static const char *const hosts[] = {"127.0.0.1"};
    tls_gen_opts o = {.out_dir = tmp, .hosts = hosts, .n_hosts = 1, .days = 1};
    diag_list dl;
    diag_list_init(&dl);
    int rc = tls_certs_generate(&o, NULL, &dl);
    diag_list_clear(&dl);
    if (rc != 0)
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/tls.crt", tmp);
    char *cert = slurp(path);
    snprintf(path, sizeof path, "%s/tls.key", tmp);
    char *key = slurp(path);
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    daemon_ = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                   MHD_USE_TLS,
                               0, NULL, NULL, route, NULL, MHD_OPTION_SOCK_ADDR, &lo,
                               MHD_OPTION_HTTPS_MEM_CERT, cert,
                               MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_NOTIFY_CONNECTION,
                               on_connection, NULL, MHD_OPTION_END);
    free(cert);
    free(key);
    if (daemon_ == NULL)
        return -1;
    port = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* A client of the test server, trusting its CA ('with_ca') or not. */
static kube_client *test_client(bool with_ca)
{
    char server[64], ca[128];
    snprintf(server, sizeof server, "https://127.0.0.1:%d", port);
    snprintf(ca, sizeof ca, "%s/ca.crt", tmp);
    kube_config cfg = {.server = server, .ca_file = with_ca ? ca : NULL,
                       .token_file = token_path};
    diag_list dl;
    diag_list_init(&dl);
    kube_client *c = kube_client_new(&cfg, &dl);
    diag_list_clear(&dl);
    assert_non_null(c);
    return c;
}

static void test_get(void **state)
{
    (void)state;
    write_token("tok-1\n");
    kube_client *c = test_client(true);
    kube_response r;
    assert_int_equal(kube_get(c, "/api/v1/namespaces/ns/pods/a", 5000, &r), 0);
    assert_int_equal(r.http, 200);
    assert_string_equal(r.body, "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}");
    assert_string_equal(r.error, "");
    kube_response_free(&r);
    assert_string_equal(seen_auth, "Bearer tok-1");
    assert_string_equal(seen_ua, "streamguard/" STREAMGUARD_VERSION);
    assert_string_equal(seen_accept, "application/json");

    /* The token file rotated: the next request carries the new token. */
    usleep(20000);
    write_token("tok-2-rotated\n");
    assert_int_equal(kube_get(c, "/api/v1/namespaces/ns/pods/missing", 5000, &r), -1);
    assert_string_equal(seen_auth, "Bearer tok-2-rotated");
    assert_int_equal(r.http, 404);
    assert_string_equal(r.error, "HTTP 404 NotFound: pods \"missing\" not found");
    assert_non_null(strstr(r.body, "\"kind\":\"Status\""));
    kube_response_free(&r);

    assert_int_equal(kube_get(c, "/gateway", 5000, &r), -1);
    assert_int_equal(r.http, 502);
    assert_string_equal(r.error, "HTTP 502: <html><body>bad gateway</body></html>");
    kube_response_free(&r);

    /* The handle goes back to the pool with its connection: the next calls reuse it. */
    int before = atomic_load(&connections);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kube_get(c, "/api/v1/namespaces/ns/pods/a", 5000, &r), 0);
        kube_response_free(&r);
    }
    assert_int_equal(atomic_load(&connections), before);

    /* A path that is not one is refused before any request. */
    assert_int_equal(kube_get(c, "/api/v1/x y", 5000, &r), -1);
    assert_int_equal(r.http, 0);
    kube_response_free(&r);
    kube_client_free(c);
}

/* The write of 'm' to the echo route: what the server saw, as "METHOD ctype body". */
static const char *echo_write(kube_client *c, enum kube_method m, const char *body, size_t len,
                              long *http)
{
    static char out[4300];
    kube_response r;
    int rc = kube_write(c, m, "/write/echo?fieldManager=streamguard", body, len, 5000, &r);
    *http = r.http;
    assert_int_equal(rc, 0);
    assert_string_equal(r.error, "");
    assert_string_equal(r.body, "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"8\"}}");
    kube_response_free(&r);
    pthread_mutex_lock(&seen_mu);
    snprintf(out, sizeof out, "%s %s %s", seen_method, seen_ctype[0] ? seen_ctype : "-",
             seen_body_len ? seen_body : "-");
    assert_string_equal(seen_expect, ""); /* no 100-continue round trip */
    pthread_mutex_unlock(&seen_mu);
    return out;
}

static void test_write(void **state)
{
    (void)state;
    write_token("tok-w\n");
    kube_client *c = test_client(true);
    static const struct {
        enum kube_method m;
        const char *body, *want;
    } cases[] = {
        {KUBE_POST, "{\"a\":1}", "POST application/json {\"a\":1}"},
        {KUBE_PUT, "{\"b\":2}", "PUT application/json {\"b\":2}"},
        {KUBE_PATCH_MERGE, "{\"c\":null}", "PATCH application/merge-patch+json {\"c\":null}"},
        {KUBE_PATCH_JSON, "[{\"op\":\"remove\",\"path\":\"/d\"}]",
         "PATCH application/json-patch+json [{\"op\":\"remove\",\"path\":\"/d\"}]"},
        {KUBE_PATCH_STRATEGIC, "{\"e\":[]}",
         "PATCH application/strategic-merge-patch+json {\"e\":[]}"},
        {KUBE_PATCH_APPLY, "{\"f\":\"g\"}", "PATCH application/apply-patch+yaml {\"f\":\"g\"}"},
        {KUBE_DELETE, "{\"preconditions\":{\"resourceVersion\":\"7\"}}",
         "DELETE application/json {\"preconditions\":{\"resourceVersion\":\"7\"}}"},
        {KUBE_DELETE, NULL, "DELETE - -"},
    };
    long http;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *b = cases[i].body;
        const char *got = echo_write(c, cases[i].m, b, b ? strlen(b) : 0, &http);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: %s, want %s", i, got, cases[i].want);
        assert_int_equal(http, cases[i].m == KUBE_POST ? 201 : 200);
        assert_string_equal(seen_auth, "Bearer tok-w");
        /* The pooled handle that wrote is a plain GET again for the next caller. */
        kube_response r;
        assert_int_equal(kube_get(c, "/api/v1/namespaces/ns/pods/a", 5000, &r), 0);
        kube_response_free(&r);
        assert_string_equal(seen_method, "GET");
        assert_string_equal(seen_ctype, "");
        assert_int_equal(seen_body_len, 0);
    }
    /* 'len' bytes are sent, not up to a NUL; a body of any size up to the cap goes whole. */
    assert_string_equal(echo_write(c, KUBE_PUT, "{\"x\":1}trailing", 7, &http),
                        "PUT application/json {\"x\":1}");
    size_t big_len = (size_t)3 << 20;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'x', big_len);
    big[0] = '"';
    big[big_len - 1] = '"';
    echo_write(c, KUBE_POST, big, big_len, &http);
    assert_int_equal(seen_body_len, big_len);

    /* Refused before any request: a body over the cap, a missing body, an apply without a
     * field manager (the API server would answer 400), a bad path, an unknown method. */
    kube_response r;
    int hits = write_hits;
    static const struct {
        enum kube_method m;
        const char *path;
        bool body;
        size_t len;
        const char *want;
    } refused[] = {
        {KUBE_POST, "/write/echo", true, ((size_t)3 << 20) + 1, "larger than 3 MiB"},
        {KUBE_PUT, "/write/echo", false, 0, "a PUT needs a body"},
        {KUBE_PATCH_MERGE, "/write/echo", false, 0, "a PATCH needs a body"},
        {KUBE_PATCH_APPLY, "/write/echo", true, 2, "fieldManager"},
        {KUBE_PATCH_APPLY, "/write/echo?fieldManager=", true, 2, "fieldManager"},
        {KUBE_PATCH_APPLY, "/write/echo?fieldManagers=x", true, 2, "fieldManager"},
        {KUBE_PATCH_APPLY, "/write/echo?x=fieldManager=y", true, 2, "fieldManager"},
        {KUBE_POST, "/write/echo x", true, 2, "invalid request path"},
        {KUBE_POST, "write/echo", true, 2, "invalid request path"},
        {KUBE_METHOD_COUNT, "/write/echo", true, 2, "unknown write method"},
        {(enum kube_method)-1, "/write/echo", true, 2, "unknown write method"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int rc = kube_write(c, refused[i].m, refused[i].path, refused[i].body ? big : NULL,
                            refused[i].len, 5000, &r);
        if (rc != -1 || r.http != 0 || strstr(r.error, refused[i].want) == NULL)
            fail_msg("refused %zu: rc %d http %ld error %s", i, rc, r.http, r.error);
        kube_response_free(&r);
    }
    assert_int_equal(write_hits, hits);
    free(big);
    /* ... and accepted with the field manager anywhere in the query. */
    assert_int_equal(kube_write(c, KUBE_PATCH_APPLY, "/write/echo?dryRun=All&fieldManager=sg",
                                "{}", 2, 5000, &r), 0);
    kube_response_free(&r);

    /* A conflict: the status and the Status's reason, for the caller to read again. */
    assert_int_equal(kube_write(c, KUBE_PUT, "/write/conflict", "{}", 2, 5000, &r), -1);
    assert_int_equal(r.http, 409);
    assert_non_null(strstr(r.error, "HTTP 409 Conflict: Operation cannot be fulfilled"));
    assert_non_null(strstr(r.body, "\"reason\":\"Conflict\""));
    kube_response_free(&r);

    /* The timeout bounds a write as it bounds a GET; no answer is http 0. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kube_write(c, KUBE_PUT, "/write/slow", "{}", 2, 300, &r), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(r.http, 0);
    assert_true((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 1.5);
    kube_response_free(&r);
    kube_client_free(c);
}

static void test_get_bounds(void **state)
{
    (void)state;
    kube_client *c = test_client(true);
    kube_response r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kube_get(c, "/slow", 300, &r), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(r.http, 0);
    assert_non_null(strstr(r.error, "timed out"));
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 1.9); /* the server answers after 2 s */
    kube_response_free(&r);

    /* Beyond the cap: a clean error, the body not kept. */
    assert_int_equal(kube_get(c, "/big", 30000, &r), -1);
    assert_int_equal(r.http, 0);
    assert_string_equal(r.error, "the answer is larger than 64 MiB");
    kube_response_free(&r);
    kube_client_free(c);

    /* Without the CA the server's certificate does not verify: no answer at all. */
    c = test_client(false);
    assert_int_equal(kube_get(c, "/api/v1/namespaces/ns/pods/a", 5000, &r), -1);
    assert_int_equal(r.http, 0);
    assert_non_null(strstr(r.error, "certificate"));
    kube_response_free(&r);
    kube_client_free(c);
}

/* The CA given inline (certificate-authority-data) verifies as the file does; what cannot be
 * a CA, a certificate or a key is refused when the client is made, not at the first request. */
static void test_client_credentials(void **state)
{
    (void)state;
    char server[64], path[128];
    snprintf(server, sizeof server, "https://127.0.0.1:%d", port);
    snprintf(path, sizeof path, "%s/ca.crt", tmp);
    char *pem = slurp(path);
    kube_config cfg = {.server = server, .ca_data = (unsigned char *)pem, .ca_len = strlen(pem),
                       .token = "inline-token"};
    diag_list dl;
    diag_list_init(&dl);
    kube_client *c = kube_client_new(&cfg, &dl);
    assert_non_null(c);
    kube_response r;
    assert_int_equal(kube_get(c, "/api/v1/namespaces/ns/pods/a", 5000, &r), 0);
    assert_string_equal(seen_auth, "Bearer inline-token");
    kube_response_free(&r);
    kube_client_free(c);

    snprintf(path, sizeof path, "%s/tls.key", tmp);
    static const struct {
        const char *ca_file, *cert_data, *want;
    } bad[] = {
        {"/nonexistent/ca.crt", NULL, "cannot open"},
        {NULL, "-----BEGIN PRIVATE KEY-----", "the client-certificate data holds no PEM"},
        {"KEY", NULL, "the certificate-authority file holds no PEM"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kube_config b = {.server = server};
        b.ca_file = bad[i].ca_file && strcmp(bad[i].ca_file, "KEY") == 0 ? path
                                                                           : (char *)bad[i].ca_file;
        if (bad[i].cert_data) {
            b.cert_data = (unsigned char *)bad[i].cert_data;
            b.cert_len = strlen(bad[i].cert_data);
            b.key_data = (unsigned char *)pem;
            b.key_len = strlen(pem);
        }
        diag_list_clear(&dl);
        assert_null(kube_client_new(&b, &dl));
        if (dl.count == 0 || strstr(dl.items[0].msg, bad[i].want) == NULL)
            fail_msg("case %zu: %s", i, dl.count ? dl.items[0].msg : "no error");
    }
    kube_config plain = {.server = "http://127.0.0.1:1"};
    assert_null(kube_client_new(&plain, &dl));
    diag_list_clear(&dl);
    free(pem);
}

static int count_item(void *arg, cJSON *item)
{
    int *seen = arg;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(item, "n");
    assert_int_equal((int)n->valuedouble, *seen % 100 + 1); /* in order */
    cJSON_Delete(item);                                     /* it is ours */
    (*seen)++;
    return *seen >= 100 + 3 ? 1 : 0; /* 100 + k: stop after k items */
}

static void test_list_pages(void **state)
{
    (void)state;
    kube_client *c = test_client(true);
    kube_response r;
    char rv[32];
    int seen = 0;
    assert_int_equal(kube_list(c, "/api/v1/pods", 2, 5000, count_item, &seen, rv, sizeof rv, &r),
                     0);
    assert_int_equal(seen, 5);
    assert_string_equal(rv, "42");
    kube_response_free(&r);

    /* The reader stops: -1, and no further page is asked. */
    seen = 100;
    assert_int_equal(kube_list(c, "/api/v1/pods", 2, 5000, count_item, &seen, rv, sizeof rv, &r),
                     -1);
    assert_int_equal(seen, 103);
    kube_response_free(&r);

    /* An expired continue token is a 410 the caller sees. */
    seen = 0;
    assert_int_equal(kube_list(c, "/api/v1/pods?x=1&continue=old", 2, 5000, count_item, &seen,
                               rv, sizeof rv, &r), -1);
    assert_int_equal(r.http, 410);
    assert_string_equal(r.error, "HTTP 410 Expired: The provided continue parameter is too old");
    kube_response_free(&r);

    /* Pages too large for an answer are asked again in fewer items (500, 50, 5). */
    seen = 0;
    assert_int_equal(kube_list(c, "/api/v1/bigpods", 500, 5000, count_item, &seen, rv,
                               sizeof rv, &r), 0);
    assert_int_equal(seen, 2);
    assert_string_equal(rv, "9");
    kube_response_free(&r);

    /* No room for the resourceVersion: an error, not a cut version. */
    assert_int_equal(kube_list(c, "/api/v1/pods", 2, 5000, count_item, &seen, rv, 2, &r), -1);
    kube_response_free(&r);
    kube_client_free(c);
}

static void *set_stop(void *arg)
{
    usleep(300000);
    atomic_store((atomic_bool *)arg, true);
    return NULL;
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_stream(void **state)
{
    (void)state;
    kube_client *c = test_client(true);
    kube_response r;
    lines_seen seen = {.text = ""};
    static const char want[] = "{\"type\":\"ADDED\",\"object\":{}}|{\"type\":\"MODIFIED\"}|"
                               "{\"type\":\"DELETED\"}";
    /* The server ends the body after half a line: the whole lines only, and 0. */
    assert_int_equal(kube_stream(c, "/watch", 5000, collect, &seen, NULL, &r), 0);
    assert_string_equal(seen.text, want);
    assert_int_equal(r.http, 200);
    kube_response_free(&r);

    /* The connection is cut mid-object: the same lines, and an error. */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(kube_stream(c, "/watch-cut", 5000, collect, &seen, NULL, &r), -1);
    assert_string_equal(seen.text, want);
    assert_int_equal(r.http, 0);
    kube_response_free(&r);

    /* on_line ends it. */
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(kube_stream(c, "/watch", 5000, collect, &seen, NULL, &r), 0);
    assert_int_equal(seen.count, 2);
    kube_response_free(&r);

    /* '*stop' ends a silent stream within a poll interval. */
    memset(&seen, 0, sizeof seen);
    atomic_bool stop = false;
    pthread_t th;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&th, NULL, set_stop, &stop);
    assert_int_equal(kube_stream(c, "/watch-hang", 10000, collect, &seen, &stop, &r), 0);
    pthread_join(th, NULL);
    assert_true(elapsed(&t0) < 2.0); /* set at 0.3 s; the stream would last 3 s */
    assert_int_equal(seen.count, 1);
    kube_response_free(&r);

    /* Silence beyond the idle timeout: an error. */
    memset(&seen, 0, sizeof seen);
    stop = false;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kube_stream(c, "/watch-hang", 400, collect, &seen, &stop, &r), -1);
    assert_string_equal(r.error, "nothing received for 400 ms");
    assert_true(elapsed(&t0) < 2.5); /* the stream would last 3 s */
    kube_response_free(&r);

    /* A line beyond the cap: an error, memory bounded. */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(kube_stream(c, "/watch-long", 10000, collect, &seen, NULL, &r), -1);
    assert_string_equal(r.error, "a line of the stream is longer than 16 MiB");
    assert_int_equal(seen.count, 1); /* the whole line before it */
    kube_response_free(&r);

    /* A refused watch: the Status in body and error, no line passed. */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(kube_stream(c, "/watch-forbidden", 5000, collect, &seen, NULL, &r), -1);
    assert_int_equal(r.http, 403);
    assert_string_equal(r.error, "HTTP 403 Forbidden: pods is forbidden: User \"x\" cannot watch");
    assert_non_null(strstr(r.body, "\"kind\":\"Status\""));
    assert_int_equal(seen.count, 0);
    kube_response_free(&r);
    kube_client_free(c);
}

static void test_discover(void **state)
{
    (void)state;
    kube_client *c = test_client(true);
    kube_resource res;
    char err[512];
    int hits = discovery_hits;
    assert_int_equal(kube_discover(c, "v1", "Pod", 5000, &res, err), 0);
    assert_string_equal(res.base, "/api/v1");
    assert_string_equal(res.plural, "pods");
    assert_string_equal(res.api_version, "v1");
    assert_string_equal(res.kind, "Pod");
    assert_true(res.namespaced);
    assert_int_equal(discovery_hits, hits + 1);
    /* Cached: no second request. */
    assert_int_equal(kube_discover(c, "v1", "Pod", 5000, &res, err), 0);
    assert_int_equal(discovery_hits, hits + 1);
    /* A kind that is not there: within a second of the last fetch, no request. */
    assert_int_equal(kube_discover(c, "v1", "Node", 5000, &res, err), -1);
    assert_string_equal(err, "no kind Node in v1");
    assert_int_equal(discovery_hits, hits + 1);
    /* A second later it is fetched again (a CRD installed meanwhile would be found). */
    usleep(1100000);
    assert_int_equal(kube_discover(c, "v1", "Node", 5000, &res, err), -1);
    assert_int_equal(discovery_hits, hits + 2);
    /* A group version the server does not serve; rate-limited the same way. */
    assert_int_equal(kube_discover(c, "x.io/v1", "Thing", 5000, &res, err), -1);
    assert_string_equal(err, "discovery of x.io/v1 failed: the API server does not serve x.io/v1");
    assert_int_equal(kube_discover(c, "x.io/v1", "Thing", 5000, &res, err), -1);
    assert_int_equal(discovery_hits, hits + 3);
    /* Not an apiVersion: refused before any request. */
    assert_int_equal(kube_discover(c, "../v1", "Pod", 5000, &res, err), -1);
    assert_int_equal(kube_discover(c, "v1", "Pod/x", 5000, &res, err), -1);
    assert_int_equal(discovery_hits, hits + 3);
    kube_client_free(c);
}

typedef struct disc_call {
    kube_client *c;
    long timeout_ms;
    int rc;
    char err[512];
} disc_call;

static void *discover_slow(void *arg)
{
    disc_call *d = arg;
    kube_resource res;
    d->rc = kube_discover(d->c, "slow.io/v1", "Slow", d->timeout_ms, &res, d->err);
    if (d->rc == 0)
        assert_string_equal(res.plural, "slows");
    return NULL;
}

/* Threads asking for a group version while its first fetch is on its way wait for that
 * answer (one request), rather than answering "no kind" at once; each within its own
 * timeout. */
static void test_discover_concurrent(void **state)
{
    (void)state;
    kube_client *c = test_client(true);
    int hits = discovery_hits;
    disc_call calls[5];
    pthread_t th[5];
    for (int i = 0; i < 5; i++) {
        calls[i] = (disc_call){.c = c, .timeout_ms = i == 4 ? 150 : 5000};
        pthread_create(&th[i], NULL, discover_slow, &calls[i]);
        if (i == 0)
            usleep(50000); /* the first one fetches */
    }
    for (int i = 0; i < 5; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        if (calls[i].rc != 0)
            fail_msg("thread %d: %s", i, calls[i].err);
    }
    assert_int_equal(calls[4].rc, -1);
    assert_string_equal(calls[4].err, "discovery of slow.io/v1: timed out waiting for its answer");
    assert_int_equal(discovery_hits, hits + 1);
    kube_client_free(c);
}

/* ---- check --kubeconfig: the documents, then the cluster (cli/livelookup.c) ----------- */

static enum policy_lookup_result docs_find(void *data, const char *av, const char *kind,
                                           const char *ns, const char *name, arena *a,
                                           const cJSON **out, const char **why)
{
    (void)data, (void)av, (void)kind, (void)ns, (void)name, (void)a, (void)out, (void)why;
    return LOOKUP_NOT_FOUND;
}

/* The documents hold one Pod "a" without a namespace (kubectl's context decides it). */
static enum policy_lookup_result docs_list(void *data, const char *av, const char *kind,
                                           const char *ns, arena *a, const cJSON ***out,
                                           size_t *n, const char **why)
{
    (void)av, (void)kind, (void)ns, (void)why;
    const cJSON **v = arena_alloc(a, sizeof *v);
    v[0] = data;
    *out = v;
    *n = 1;
    return LOOKUP_FOUND;
}

static void test_live_lookup(void **state)
{
    (void)state;
    write_token("tok-1\n");
    kube_client *c = test_client(true);
    cJSON *doc = cJSON_Parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}");
    policy_lookup docs = {.find = docs_find, .list = docs_list, .data = doc};
    live_lookup l = {.docs = &docs, .client = c, .timeout_ms = 5000, .namespace_ = "default"};
    policy_lookup lk = live_lookup_make(&l);
    arena *a = arena_new(1 << 20);
    const cJSON *o = NULL, **v = NULL;
    const char *why = NULL;
    size_t n = 0;
    /* A document without a namespace looks where kubectl would apply it. */
    assert_int_equal(lk.find(lk.data, "v1", "Pod", "", "p", a, &o, &why), LOOKUP_FOUND);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "name")
                            ->valuestring, "p");
    /* The API server saying "no such object" is not found; a 404 of a path it does not route
     * says nothing about the object. */
    assert_int_equal(lk.find(lk.data, "v1", "Pod", "ns", "missing", a, &o, &why),
                     LOOKUP_NOT_FOUND);
    assert_int_equal(lk.find(lk.data, "v1", "Pod", "ns", "unrouted", a, &o, &why),
                     LOOKUP_UNAVAILABLE);
    assert_non_null(strstr(why, "HTTP 404"));
    /* The document "a" (no namespace) wins over the cluster's team/a: listed once. */
    assert_int_equal(lk.list(lk.data, "v1", "Pod", "team", a, &v, &n, &why), LOOKUP_FOUND);
    assert_int_equal(n, 2);
    assert_ptr_equal(v[0], doc);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(v[1], "metadata"), "name")
                            ->valuestring, "b");
    arena_free(a);
    live_lookup_free(&l);
    cJSON_Delete(doc);
    kube_client_free(c);
}

/* A thread's stop flag (kube_thread_stop, set by an informer's thread) ends its GET to a
 * server that stalls, and its wait for another thread's discovery, well before their
 * timeouts: stopping a watched kind never waits out a request in flight. */
typedef struct stop_call {
    kube_client *c;
    atomic_bool stop;
    bool use_stop;
    const char *what; /* "get" or "discover" */
    int rc;
    char err[512];
    double secs;
} stop_call;

static double elapsed(const struct timespec *t0);

static void *stop_caller(void *arg)
{
    stop_call *s = arg;
    if (s->use_stop)
        kube_thread_stop(&s->stop);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (strcmp(s->what, "get") == 0) {
        kube_response r;
        s->rc = kube_get(s->c, "/slow", 10000, &r);
        snprintf(s->err, sizeof s->err, "%s", r.error);
        kube_response_free(&r);
    } else {
        kube_resource res;
        s->rc = kube_discover(s->c, "stall.io/v1", "Stall", 10000, &res, s->err);
    }
    s->secs = elapsed(&t0);
    kube_thread_stop(NULL);
    return NULL;
}

static void test_thread_stop(void **state)
{
    (void)state;
    write_token("tok-1\n");
    kube_client *c = test_client(true);
    stop_call fetch = {.c = c, .what = "discover"};          /* fetches, no stop */
    stop_call waiter = {.c = c, .what = "discover", .use_stop = true};
    stop_call get = {.c = c, .what = "get", .use_stop = true};
    pthread_t th[3];
    pthread_create(&th[0], NULL, stop_caller, &fetch);
    usleep(100000); /* its fetch is on its way: the waiter waits for it */
    pthread_create(&th[1], NULL, stop_caller, &waiter);
    pthread_create(&th[2], NULL, stop_caller, &get);
    usleep(300000);
    atomic_store(&waiter.stop, true);
    atomic_store(&get.stop, true);
    pthread_join(th[1], NULL);
    pthread_join(th[2], NULL);
    assert_int_equal(get.rc, -1);
    assert_string_equal(get.err, "stopped");
    assert_int_equal(waiter.rc, -1);
    assert_string_equal(waiter.err, "discovery of stall.io/v1: stopped");
    if (get.secs > 1.9 || waiter.secs > 1.8) /* the server takes 2 s and 3 s */
        fail_msg("stopped after %.2f s (GET) and %.2f s (discovery wait)", get.secs,
                 waiter.secs);
    pthread_join(th[0], NULL); /* the request without a stop flag runs to its answer */
    assert_int_equal(fetch.rc, 0);
    kube_client_free(c);
}

/* The CA of the kubeconfig (file or data) is the only one trusted: libcurl's built-in CA
 * directory (/etc/ssl/certs here: the public CAs, a TLS-inspecting proxy's) is not also
 * searched, as kubectl does not search it. Seen in curl's own account of the handshake. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)h;
    if (type == CURLINFO_TEXT)
        buf_append(arg, data, size);
    return 0;
}

static void test_only_the_given_ca(void **state)
{
    (void)state;
    write_token("tok-1\n");
    char server[64], path[128];
    snprintf(server, sizeof server, "https://127.0.0.1:%d", port);
    snprintf(path, sizeof path, "%s/ca.crt", tmp);
    char *pem = slurp(path);
    kube_config by_file = {.server = server, .ca_file = path};
    kube_config by_data = {.server = server, .ca_data = (unsigned char *)pem, .ca_len = strlen(pem)};
    const kube_config *cfgs[] = {&by_file, &by_data};
    for (int i = 0; i < 2; i++) {
        diag_list dl;
        diag_list_init(&dl);
        kube_client *c = kube_client_new(cfgs[i], &dl);
        assert_non_null(c);
        CURL *h = curl_easy_init(); /* a new connection: a handshake to watch */
        char errbuf[CURL_ERROR_SIZE] = "", err[256];
        struct curl_slist *hdrs;
        assert_int_equal(request_setup(c, h, "/api/v1/namespaces/ns/pods/a", 5000, &hdrs, errbuf,
                                       err, sizeof err),
                         0);
        buf trace;
        buf_init(&trace, 1 << 20);
        curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
        curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
        curl_easy_setopt(h, CURLOPT_DEBUGDATA, &trace);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        req_ctx x = {.h = h};
        buf_init(&x.body, 1 << 20);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        assert_int_equal(curl_easy_perform(h), CURLE_OK);
        const char *t = trace.data ? trace.data : "";
        if (strstr(t, i == 0 ? "CAfile: " : "imported CA certificate blob") == NULL ||
            strstr(t, "CApath: /") != NULL)
            fail_msg("case %d: curl also searched a CA directory:\n%s", i, t);
        buf_clear(&trace);
        buf_clear(&x.body);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        kube_client_free(c);
        diag_list_clear(&dl);
    }
    free(pem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_status_error),
        cmocka_unit_test(test_splitter_chunks),
        cmocka_unit_test(test_splitter_limits),
        cmocka_unit_test(test_api_version_and_discovery_parse),
        cmocka_unit_test(test_token_reread),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_get_bounds),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_client_credentials),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_discover),
        cmocka_unit_test(test_discover_concurrent),
        cmocka_unit_test(test_live_lookup),
        cmocka_unit_test(test_thread_stop),
        cmocka_unit_test(test_only_the_given_ca),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
