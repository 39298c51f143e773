/* client.c - HTTPS requests to the Kubernetes API server with libcurl; see client.h.
 *
 * Every request takes an easy handle from a small pool and gives it back, so connections
 * (and their TLS sessions) are kept alive between calls from any thread; a handle is reset
 * before each use, which keeps its connection but no option of the previous request. A watch
 * runs its handle under a private multi handle, so that it can wake every KUBE_POLL_MS to see
 * '*stop' and its idle timeout while no byte arrives. Every answer is bounded: KUBE_MAX_BODY
 * for a whole answer, KUBE_MAX_LINE for one line of a watch; a write's body KUBE_MAX_REQUEST.
 * GETs and writes share one function (request), so a write has exactly a GET's TLS, token,
 * timeouts and stop flag. */
#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../util/buf.h"
#include "../util/file.h"
#include "../util/log.h"
#include "../util/version.h"
#include "client_int.h"
#include "token.h"

#define KUBE_MAX_BODY ((size_t)64 << 20)       /* a GET or write answer, one LIST page */
#define KUBE_MAX_LINE ((size_t)16 << 20)       /* one watch event */
#define KUBE_MAX_REQUEST ((size_t)3 << 20)    /* a write's body: kube-apiserver's own cap */
#define KUBE_MAX_ERROR_BODY ((size_t)64 << 10) /* the Status of a failed watch */
#define KUBE_MAX_PEM ((size_t)1 << 20)
#define KUBE_POOL_MAX 8
#define KUBE_CONNECT_TIMEOUT_MS 10000L
#define KUBE_DEFAULT_TIMEOUT_MS 30000L
#define KUBE_POLL_MS 200

struct kube_client {
    char *server;
    char *ca_file, *cert_file, *key_file;
    unsigned char *ca_data, *cert_data, *key_data;
    size_t ca_len, cert_len, key_len;
    char user_agent[64];

    kube_token token;
    bool token_ready; /* 'token' was initialised: kube_token_clear() it */

    pthread_mutex_t pool_mu;
    CURL *pool[KUBE_POOL_MAX];
    size_t n_pool;

    kube_disc *disc;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static _Thread_local const atomic_bool *thread_stop; /* kube_thread_stop */

void kube_thread_stop(const atomic_bool *stop)
{
    thread_stop = stop;
}

bool kube_thread_stopped(void)
{
    return thread_stop != NULL && atomic_load(thread_stop);
}

/* curl's progress callback: called often while data flows and about once a second while none
 * does, so a stalled request still sees the thread's stop flag. Non-zero aborts it. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load((const atomic_bool *)arg) ? 1 : 0;
}
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- construction -------------------------------------------------------------------- */

static int dup_blob(const unsigned char *src, size_t len, unsigned char **dst, size_t *dlen)
{
    if (src == NULL)
        return 0;
    *dst = malloc(len + 1);
    if (*dst == NULL)
        return -1;
    memcpy(*dst, src, len);
    (*dst)[len] = '\0';
    *dlen = len;
    return 0;
}

/* A PEM file or blob must at least look like one: a wrong file is reported at start-up, not
 * as a TLS failure on the first request. */
static bool pem_has(const void *data, size_t len, const char *what)
{
    return memmem(data, len, what, strlen(what)) != NULL;
}

static int check_pem(const char *file, const unsigned char *data, size_t len, const char *what,
                     const char *role, diag_list *dl)
{
    srcpos at = {.file = file};
    if (file != NULL) {
        buf b;
        buf_init(&b, KUBE_MAX_PEM);
        int rc = file_read(file, KUBE_MAX_PEM, &b, dl);
        bool ok = rc == 0 && pem_has(b.data, b.len, what);
        buf_clear(&b);
        if (rc != 0)
            return -1;
        if (!ok) {
            diag_add(dl, DIAG_ERROR, "kube.config", &at, "the %s file holds no PEM \"%s\"", role,
                     what);
            return -1;
        }
        return 0;
    }
    if (data != NULL && !pem_has(data, len, what)) {
        diag_add(dl, DIAG_ERROR, "kube.config", NULL, "the %s data holds no PEM \"%s\"", role,
                 what);
        return -1;
    }
    return 0;
}

kube_client *kube_client_new(const kube_config *cfg, diag_list *dl)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        diag_add(dl, DIAG_ERROR, "kube.client", NULL, "libcurl could not start: %s",
                 curl_easy_strerror(global_rc));
        return NULL;
    }
    if (cfg->server == NULL || strncmp(cfg->server, "https://", 8) != 0) {
        diag_add(dl, DIAG_ERROR, "kube.client", NULL, "the API server must be an https:// URL");
        return NULL;
    }
    if (check_pem(cfg->ca_file, cfg->ca_data, cfg->ca_len, "-----BEGIN CERTIFICATE-----",
                  "certificate-authority", dl) != 0 ||
        check_pem(cfg->cert_file, cfg->cert_data, cfg->cert_len, "-----BEGIN CERTIFICATE-----",
                  "client-certificate", dl) != 0 ||
        check_pem(cfg->key_file, cfg->key_data, cfg->key_len, "PRIVATE KEY-----", "client-key",
                  dl) != 0)
        return NULL;
    kube_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        goto oom;
    pthread_mutex_init(&c->pool_mu, NULL);
    snprintf(c->user_agent, sizeof c->user_agent, "streamguard/%s", STREAMGUARD_VERSION);
    c->server = strdup(cfg->server);
    c->disc = kube_disc_new();
    if (c->server == NULL || c->disc == NULL ||
        (cfg->ca_file && (c->ca_file = strdup(cfg->ca_file)) == NULL) ||
        (cfg->cert_file && (c->cert_file = strdup(cfg->cert_file)) == NULL) ||
        (cfg->key_file && (c->key_file = strdup(cfg->key_file)) == NULL) ||
        dup_blob(cfg->ca_data, cfg->ca_len, &c->ca_data, &c->ca_len) != 0 ||
        dup_blob(cfg->cert_data, cfg->cert_len, &c->cert_data, &c->cert_len) != 0 ||
        dup_blob(cfg->key_data, cfg->key_len, &c->key_data, &c->key_len) != 0)
        goto oom;
    c->token_ready = true;
    if (kube_token_init(&c->token, cfg->token, cfg->token_file, dl) != 0) {
        kube_client_free(c);
        return NULL;
    }
    return c;
oom:
    diag_add(dl, DIAG_ERROR, "kube.client", NULL, "out of memory");
    kube_client_free(c);
    return NULL;
}

void kube_client_free(kube_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_pool; i++)
        curl_easy_cleanup(c->pool[i]);
    kube_disc_free(c->disc);
    pthread_mutex_destroy(&c->pool_mu);
    free(c->server);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->ca_data);
    free(c->cert_data);
    free(c->key_data);
    if (c->token_ready)
        kube_token_clear(&c->token);
    free(c);
}

void kube_response_free(kube_response *r)
{
    if (r == NULL)
        return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* ---- requests ------------------------------------------------------------------------ */

static CURL *handle_take(kube_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->n_pool > 0)
        h = c->pool[--c->n_pool];
    pthread_mutex_unlock(&c->pool_mu);
    if (h == NULL)
        return curl_easy_init();
    curl_easy_reset(h); /* keeps the live connection and the TLS session, not the options */
    return h;
}

static void handle_give(kube_client *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_mu);
    if (c->n_pool < KUBE_POOL_MAX) {
        c->pool[c->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (h != NULL)
        curl_easy_cleanup(h);
}

/* A request path: absolute, no control character, space or fragment (callers escape). */
static bool is_request_path(const char *path)
{
    if (path[0] != '/')
        return false;
    for (const char *p = path; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#')
            return false;
    }
    return true;
}

/* What a request collects. */
typedef struct req_ctx {
    CURL *h;
    buf body; /* the whole answer (GET), or the Status of a failed watch */
    bool too_large;
    long http;                   /* learnt at the first byte of the body (watch) */
    double last_data;            /* monotonic time of the last byte received */
    struct line_splitter *lines; /* a watch's body of a 2xx answer */
    bool line_stop;              /* on_line ended the watch */
    bool line_too_long;
} req_ctx;

/* The options every request has; 'hdrs' receives the header list to free after it. */
static int request_setup(kube_client *c, CURL *h, const char *path, long connect_ms,
                         struct curl_slist **hdrs, char *errbuf, char *err, size_t cap)
{
    *hdrs = NULL;
    if (!is_request_path(path)) {
        snprintf(err, cap, "invalid request path");
        return -1;
    }
    size_t n = strlen(c->server) + strlen(path) + 1;
    char *url = malloc(n);
    char *auth = kube_token_header(&c->token, err, cap);
    if (url == NULL || (auth == NULL && err[0] != '\0')) {
        if (err[0] == '\0')
            snprintf(err, cap, "out of memory");
        free(url);
        free(auth);
        return -1;
    }
    snprintf(url, n, "%s%s", c->server, path);
    struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
    if (l && auth)
        l = curl_slist_append(l, auth) ? l : (curl_slist_free_all(l), NULL);
    free(auth);
    if (l == NULL) {
        free(url);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    *hdrs = l;
    curl_easy_setopt(h, CURLOPT_URL, url); /* curl copies it */
    free(url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
    if (thread_stop != NULL) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)thread_stop);
    }
    if (c->ca_data) {
        struct curl_blob b = {.data = c->ca_data, .len = c->ca_len, .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (c->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    }
    /* The CA given is the only one trusted, as kubectl trusts it: libcurl would also trust
     * its built-in CA directory (Debian's: /etc/ssl/certs, every public CA, and any TLS-
     * inspecting proxy's CA installed there), which would accept another server's
     * certificate for the API server's name and hand it the token. */
    if (c->ca_data || c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    if (c->cert_data) {
        struct curl_blob b = {.data = c->cert_data, .len = c->cert_len, .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
    } else if (c->cert_file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
    }
    if (c->key_data) {
        struct curl_blob b = {.data = c->key_data, .len = c->key_len, .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
    } else if (c->key_file) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
    }
    return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    req_ctx *x = arg;
    size_t n = size * nmemb;
    if (buf_append(&x->body, p, n) != 0) {
        x->too_large = true;
        return 0; /* ends the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Text of an HTTP error from its body: a Status object gives "HTTP 404 NotFound: message",
 * any other body "HTTP 502: " and its first 200 bytes (control characters as spaces), no
 * body "HTTP 503". */
static void status_error(long http, const char *body, size_t len, char *out, size_t cap)
{
    cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0) {
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "reason");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        const char *rs = cJSON_IsString(reason) ? reason->valuestring : "";
        const char *ms = cJSON_IsString(msg) ? msg->valuestring : "";
        snprintf(out, cap, "HTTP %ld%s%s: %s", http, rs[0] ? " " : "", rs, ms[0] ? ms : "-");
        cJSON_Delete(j);
        return;
    }
    cJSON_Delete(j);
    if (body == NULL || len == 0) {
        snprintf(out, cap, "HTTP %ld", http);
        return;
    }
    char head[201];
    size_t n = len < 200 ? len : 200;
    for (size_t i = 0; i < n; i++)
        head[i] = (unsigned char)body[i] < 0x20 || body[i] == 0x7f ? ' ' : body[i];
    head[n] = '\0';
    snprintf(out, cap, "HTTP %ld: %s", http, head);
}

/* Fills 'r' from a finished transfer: 'cc' its result, 'x' what it collected. */
static int response_finish(CURLcode cc, const char *errbuf, req_ctx *x, kube_response *r)
{
    r->len = x->body.len;
    r->body = buf_take(&x->body);
    if (x->too_large) {
        r->http = 0;
        r->too_large = true;
        snprintf(r->error, sizeof r->error, "the answer is larger than %zu MiB",
                 KUBE_MAX_BODY >> 20);
        return -1;
    }
    if (cc != CURLE_OK) {
        r->http = 0; /* no complete answer */
        snprintf(r->error, sizeof r->error, "%s",
                 cc == CURLE_ABORTED_BY_CALLBACK ? "stopped"
                 : errbuf[0]                     ? errbuf
                                                 : curl_easy_strerror(cc));
        return -1;
    }
    if (r->http >= 200 && r->http < 300) {
        r->error[0] = '\0';
        return 0;
    }
    status_error(r->http, r->body, r->len, r->error, sizeof r->error);
    return -1;
}

/* What each write method sends: the HTTP method and the Content-Type of its body. */
static const struct {
    const char *method, *content_type;
} write_methods[KUBE_METHOD_COUNT] = {
    [KUBE_POST] = {"POST", "application/json"},
    [KUBE_PUT] = {"PUT", "application/json"},
    [KUBE_PATCH_MERGE] = {"PATCH", "application/merge-patch+json"},
    [KUBE_PATCH_JSON] = {"PATCH", "application/json-patch+json"},
    [KUBE_PATCH_STRATEGIC] = {"PATCH", "application/strategic-merge-patch+json"},
    [KUBE_PATCH_APPLY] = {"PATCH", "application/apply-patch+yaml"},
    [KUBE_DELETE] = {"DELETE", "application/json"},
};

/* True when the query of 'path' has the parameter 'name' with a value. */
static bool has_query_param(const char *path, const char *name)
{
    const char *q = strchr(path, '?');
    size_t n = strlen(name);
    while (q != NULL) {
        q++;
        if (strncmp(q, name, n) == 0 && q[n] == '=' && q[n + 1] != '\0' && q[n + 1] != '&')
            return true;
        q = strchr(q, '&');
    }
    return false;
}

/* One bounded request of any method: 'method' NULL is a GET; 'body' (of 'len' bytes, NULL for
 * none) goes with the Content-Type of 'method'. */
static int request(kube_client *c, const enum kube_method *method, const char *path,
                   const char *body, size_t len, long timeout_ms, kube_response *r)
{
    memset(r, 0, sizeof *r);
    if (timeout_ms <= 0)
        timeout_ms = KUBE_DEFAULT_TIMEOUT_MS;
    CURL *h = handle_take(c);
    if (h == NULL) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs;
    req_ctx x = {.h = h};
    buf_init(&x.body, KUBE_MAX_BODY);
    long connect_ms = timeout_ms < KUBE_CONNECT_TIMEOUT_MS ? timeout_ms : KUBE_CONNECT_TIMEOUT_MS;
    if (request_setup(c, h, path, connect_ms, &hdrs, errbuf, r->error, sizeof r->error) != 0) {
        handle_give(c, h);
        return -1;
    }
    if (method != NULL) {
        char ctype[80];
        snprintf(ctype, sizeof ctype, "Content-Type: %s", write_methods[*method].content_type);
        /* "Expect:" turns off curl's 100-continue wait (up to a second) before a large body. */
        struct curl_slist *l = body ? curl_slist_append(hdrs, ctype) : hdrs;
        l = l ? curl_slist_append(l, "Expect:") : NULL;
        if (l == NULL) {
            curl_slist_free_all(hdrs);
            handle_give(c, h);
            snprintf(r->error, sizeof r->error, "out of memory");
            return -1;
        }
        hdrs = l;
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, write_methods[*method].method);
        if (body != NULL) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body); /* not copied: lives past perform */
        }
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->http);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL); /* the pooled handle keeps no pointer */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
    handle_give(c, h);
    return response_finish(cc, errbuf, &x, r);
}

int kube_get(kube_client *c, const char *path, long timeout_ms, kube_response *r)
{
    return request(c, NULL, path, NULL, 0, timeout_ms, r);
}

int kube_write(kube_client *c, enum kube_method m, const char *path, const char *body,
               size_t len, long timeout_ms, kube_response *r)
{
    memset(r, 0, sizeof *r);
    if ((unsigned)m >= KUBE_METHOD_COUNT) {
        snprintf(r->error, sizeof r->error, "unknown write method %d", (int)m);
        return -1;
    }
    if (body == NULL && m != KUBE_DELETE) {
        snprintf(r->error, sizeof r->error, "a %s needs a body", write_methods[m].method);
        return -1;
    }
    if (body != NULL && len > KUBE_MAX_REQUEST) {
        snprintf(r->error, sizeof r->error,
                 "the request body (%zu bytes) is larger than %zu MiB, which the API server "
                 "refuses",
                 len, KUBE_MAX_REQUEST >> 20);
        return -1;
    }
    /* Server-side apply is refused by the API server without a field manager: say so here,
     * where the caller can see which request it was. */
    if (m == KUBE_PATCH_APPLY && !has_query_param(path, "fieldManager")) {
        snprintf(r->error, sizeof r->error, "an apply patch needs ?fieldManager= in its path");
        return -1;
    }
    return request(c, &m, path, body, body ? len : 0, timeout_ms, r);
}

kube_disc *kube_client_disc(kube_client *c)
{
    return c->disc;
}

/* ---- watches ------------------------------------------------------------------------- */

/* Cuts a byte stream into '\n'-terminated lines. Bytes after the last '\n' wait for more;
 * they are never passed on, so a stream cut mid-object loses that object, never half of it.
 * Empty lines are skipped. */
typedef struct line_splitter {
    buf line; /* the unfinished line; its cap is the longest line accepted */
    int (*on_line)(void *arg, const char *line, size_t len);
    void *arg;
} line_splitter;

static void splitter_init(line_splitter *s, size_t max_line,
                          int (*on_line)(void *, const char *, size_t), void *arg)
{
    buf_init(&s->line, max_line);
    s->on_line = on_line;
    s->arg = arg;
}

static void splitter_clear(line_splitter *s)
{
    buf_clear(&s->line);
}

/* Feeds 'n' bytes. Returns 0 to go on, 1 when on_line asked to stop, -1 when a line is longer
 * than the cap (or memory ran out). Each line is passed NUL-terminated, without its '\n'. */
static int splitter_feed(line_splitter *s, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (buf_append(&s->line, p, take) != 0)
            return -1;
        if (nl == NULL)
            return 0;
        p += take + 1;
        n -= take + 1;
        if (s->line.len == 0)
            continue;
        int rc = s->on_line(s->arg, s->line.data, s->line.len);
        s->line.len = 0;
        s->line.data[0] = '\0';
        if (rc != 0)
            return 1;
    }
    return 0;
}

/* Any byte (a header too) is activity for the idle timeout. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    req_ctx *x = arg;
    x->last_data = now_s();
    return size * nmemb;
}

static size_t on_stream(char *p, size_t size, size_t nmemb, void *arg)
{
    req_ctx *x = arg;
    size_t n = size * nmemb;
    x->last_data = now_s();
    if (x->http == 0)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->http);
    if (x->http < 200 || x->http >= 300) {
        /* The Status of a refused watch: kept up to a cap, the rest dropped. */
        size_t room = x->body.cap - x->body.len;
        buf_append(&x->body, p, n < room ? n : room);
        return n;
    }
    int rc = splitter_feed(x->lines, p, n);
    if (rc == 0)
        return n;
    if (rc > 0)
        x->line_stop = true;
    else
        x->line_too_long = true;
    return 0;
}

/* Runs the watch's transfer until it ends, '*stop' is set or it idles too long. Returns
 * curl's result; '*stopped' and '*idle' tell the two reasons of our own. */
static CURLcode stream_run(CURL *h, req_ctx *x, long idle_ms, const atomic_bool *stop,
                           bool *stopped, bool *idle)
{
    CURLM *m = curl_multi_init();
    if (m == NULL)
        return CURLE_OUT_OF_MEMORY;
    CURLcode cc = CURLE_OK;
    if (curl_multi_add_handle(m, h) != CURLM_OK) {
        curl_multi_cleanup(m);
        return CURLE_OUT_OF_MEMORY;
    }
    x->last_data = now_s();
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK) {
            cc = CURLE_RECV_ERROR;
            break;
        }
        if (running == 0) {
            int left;
            CURLMsg *msg = curl_multi_info_read(m, &left);
            cc = msg && msg->msg == CURLMSG_DONE ? msg->data.result : CURLE_RECV_ERROR;
            break;
        }
        if (stop && atomic_load(stop)) {
            *stopped = true;
            break;
        }
        if ((now_s() - x->last_data) * 1e3 > (double)idle_ms) {
            *idle = true;
            break;
        }
        curl_multi_poll(m, NULL, 0, KUBE_POLL_MS, NULL);
    }
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    return cc;
}

int kube_stream(kube_client *c, const char *path, long idle_timeout_ms,
                int (*on_line)(void *arg, const char *line, size_t len), void *arg,
                const atomic_bool *stop, kube_response *r)
{
    memset(r, 0, sizeof *r);
    if (idle_timeout_ms <= 0)
        idle_timeout_ms = KUBE_DEFAULT_TIMEOUT_MS;
    CURL *h = curl_easy_init(); /* its connection lives and dies with the watch */
    if (h == NULL) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs;
    line_splitter ls;
    splitter_init(&ls, KUBE_MAX_LINE, on_line, arg);
    req_ctx x = {.h = h, .lines = &ls};
    buf_init(&x.body, KUBE_MAX_ERROR_BODY);
    long connect_ms =
        idle_timeout_ms < KUBE_CONNECT_TIMEOUT_MS ? idle_timeout_ms : KUBE_CONNECT_TIMEOUT_MS;
    int rc = -1;
    if (request_setup(c, h, path, connect_ms, &hdrs, errbuf, r->error, sizeof r->error) != 0)
        goto done;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    bool stopped = false, idle = false;
    CURLcode cc = stream_run(h, &x, idle_timeout_ms, stop, &stopped, &idle);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->http);
    curl_slist_free_all(hdrs);
    if (stopped || x.line_stop) {
        rc = 0;
    } else if (x.line_too_long) {
        snprintf(r->error, sizeof r->error, "a line of the stream is longer than %zu MiB",
                 KUBE_MAX_LINE >> 20);
    } else if (idle) {
        snprintf(r->error, sizeof r->error, "nothing received for %ld ms", idle_timeout_ms);
    } else {
        rc = response_finish(cc, errbuf, &x, r);
    }
done:
    buf_clear(&x.body);
    splitter_clear(&ls);
    curl_easy_cleanup(h);
    return rc;
}
