/* kube_fake.h - the API calls of the watch cache (kube_api) answered from scripts of API
 * answers, for tests: discovery, LIST pages, watch streams (newline-delimited events, ended
 * by the server or cut), GETs. Once the scripted streams are used up, a stream blocks and
 * delivers the lines a test queues (fake_feed), so a test can drive a running informer thread.
 * Included by tests/unit/test_kube_cache.c only. */
#ifndef SG_TEST_KUBE_FAKE_H
#define SG_TEST_KUBE_FAKE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/cache_int.h"

#define FAKE_MAX 16

typedef struct fake_list {
    const char *pages[4]; /* LIST answers in order; the client follows metadata.continue */
    int fail_after;       /* >0: the page after this many fails with 'http' */
    long http;            /* non-zero: the list fails with this status (0 with error: none) */
    bool no_answer;       /* the list fails with no HTTP answer */
    bool stall;           /* an API server that stalls: no answer for 5 s, unless the thread's
                             stop flag (kube_api.thread_stop) is set first */
} fake_list;

static _Thread_local const atomic_bool *fake_thread_stop_flag;

static void fake_thread_stop(const atomic_bool *stop)
{
    fake_thread_stop_flag = stop;
}

typedef struct fake_stream {
    const char *body; /* watch events, one per line; a last line without '\n' is cut */
    int rc;           /* what kube_stream returns after the body: 0 ended, -1 failed */
    long http;        /* the status when rc is -1 (0: no answer) */
} fake_stream;

typedef struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int discover_fail; /* the first this many discoveries fail */
    int discover_calls;
    fake_list lists[FAKE_MAX];
    int n_lists, list_at;
    fake_stream streams[FAKE_MAX];
    int n_streams, stream_at;
    char stream_path[FAKE_MAX][512];
    char list_path[FAKE_MAX][512];
    char block_path[512]; /* the last blocking stream's */
    char *queue[64]; /* lines fed to the blocking stream */
    int q_in, q_out;
    int delivered; /* lines the blocking stream has handed to the informer */
    long get_http; /* the answer to a GET: 200 with get_body, else an error */
    const char *get_body;
    const char *get_404_body; /* a 404's body; NULL: the Status naming the object asked */
    int get_calls;
    void (*get_hook)(struct fake *f); /* runs inside a GET, before it answers */
    char *owned[256];                 /* strings made by fake_str, freed by fake_free */
    int n_owned;
} fake;

static char *fake_str(fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *fake_str(fake *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    f->owned[f->n_owned++] = s;
    return s;
}

static void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->get_http = 404;
}

static void fake_free(fake *f)
{
    for (int i = 0; i < f->n_owned; i++)
        free(f->owned[i]);
    for (int i = f->q_out; i < f->q_in; i++)
        free(f->queue[i]);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
}

/* The recorded discovery document of 'api_version', or NULL. */
static cJSON *fake_discovery_doc(const char *api_version)
{
    const char *file = strcmp(api_version, "v1") == 0 ? "tests/fixtures/kube/discovery-api-v1.json"
                       : strcmp(api_version, "flink.apache.org/v1beta1") == 0
                           ? "tests/fixtures/kube/discovery-flink-v1beta1.json"
                           : NULL;
    FILE *fp = file != NULL ? fopen(file, "r") : NULL;
    if (fp == NULL)
        return NULL;
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    return cJSON_Parse(text);
}

/* Discovery as the client does it, from the recorded APIResourceLists. */
static int fake_discover(void *arg, const char *api_version, const char *kind, long timeout_ms,
                         kube_resource *out, char error[512])
{
    fake *f = arg;
    (void)timeout_ms;
    pthread_mutex_lock(&f->mu);
    bool fail = f->discover_calls++ < f->discover_fail;
    pthread_mutex_unlock(&f->mu);
    cJSON *doc = fail ? NULL : fake_discovery_doc(api_version);
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "resources"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(r, "kind");
        if (!cJSON_IsString(name) || !cJSON_IsString(k) || strchr(name->valuestring, '/') ||
            strcmp(k->valuestring, kind) != 0)
            continue;
        memset(out, 0, sizeof *out);
        snprintf(out->api_version, sizeof out->api_version, "%s", api_version);
        snprintf(out->kind, sizeof out->kind, "%s", kind);
        snprintf(out->base, sizeof out->base, "%s%s", strchr(api_version, '/') ? "/apis/" : "/api/",
                 api_version);
        snprintf(out->plural, sizeof out->plural, "%s", name->valuestring);
        out->namespaced = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "namespaced"));
        cJSON_Delete(doc);
        return 0;
    }
    cJSON_Delete(doc);
    snprintf(error, 512, "no kind %.60s in %.120s", kind, api_version);
    return -1;
}

static int fake_path(const kube_resource *res, const char *ns, const char *name, char *out,
                     size_t cap)
{
    if (name != NULL && (strchr(name, '/') != NULL || strchr(name, '%') != NULL))
        return -1;
    bool in_ns = res->namespaced && ns[0] != '\0';
    int n = snprintf(out, cap, "%s%s%s/%s%s%s", res->base, in_ns ? "/namespaces/" : "",
                     in_ns ? ns : "", res->plural, name ? "/" : "", name ? name : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int fake_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    fake *f = arg;
    (void)timeout_ms;
    pthread_mutex_lock(&f->mu);
    f->get_calls++;
    pthread_mutex_unlock(&f->mu);
    if (f->get_hook != NULL)
        f->get_hook(f);
    memset(r, 0, sizeof *r);
    r->http = f->get_http;
    if (f->get_http == 200) {
        r->body = strdup(f->get_body);
        r->len = strlen(r->body);
        return 0;
    }
    if (f->get_http == 404) {
        const char *slash = strrchr(path, '/');
        if (f->get_404_body != NULL)
            r->body = strdup(f->get_404_body);
        else if (asprintf(&r->body,
                          "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                          "\"status\":\"Failure\",\"reason\":\"NotFound\",\"details\":"
                          "{\"name\":\"%s\"},\"code\":404}",
                          slash ? slash + 1 : path) < 0)
            r->body = NULL;
        r->len = r->body ? strlen(r->body) : 0;
    }
    if (f->get_http == 0)
        snprintf(r->error, sizeof r->error, "connect to 127.0.0.1:6443: Connection refused");
    else
        snprintf(r->error, sizeof r->error, "HTTP %ld: scripted", f->get_http);
    return -1;
}

static int fake_list_call(void *arg, const char *path, long limit, long timeout_ms,
                          int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv,
                          size_t rv_cap, kube_response *r)
{
    fake *f = arg;
    (void)limit;
    (void)timeout_ms;
    memset(r, 0, sizeof *r);
    pthread_mutex_lock(&f->mu);
    int at = f->list_at < f->n_lists ? f->list_at++ : f->n_lists - 1;
    if (at >= 0)
        snprintf(f->list_path[at], sizeof f->list_path[at], "%s", path);
    pthread_mutex_unlock(&f->mu);
    if (at < 0) {
        snprintf(r->error, sizeof r->error, "no list scripted");
        return -1;
    }
    const fake_list *l = &f->lists[at];
    if (l->stall) {
        for (int i = 0; i < 500; i++) {
            if (fake_thread_stop_flag != NULL && atomic_load(fake_thread_stop_flag)) {
                snprintf(r->error, sizeof r->error, "stopped");
                return -1;
            }
            usleep(10000);
        }
        snprintf(r->error, sizeof r->error, "operation timed out");
        return -1;
    }
    if (l->no_answer || (l->http != 0 && l->fail_after == 0)) {
        r->http = l->http;
        snprintf(r->error, sizeof r->error, "HTTP %ld: scripted list failure", l->http);
        return -1;
    }
    for (int p = 0; p < 4 && l->pages[p] != NULL; p++) {
        if (l->fail_after > 0 && p == l->fail_after) {
            r->http = l->http; /* e.g. 410: the continue token expired */
            snprintf(r->error, sizeof r->error, "HTTP %ld: continue expired", l->http);
            return -1;
        }
        cJSON *page = cJSON_Parse(l->pages[p]);
        cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
        while (cJSON_GetArraySize(items) > 0) {
            cJSON *it = cJSON_DetachItemFromArray(items, 0);
            if (on_item(item_arg, it) != 0) {
                cJSON_Delete(page);
                snprintf(r->error, sizeof r->error, "stopped");
                return -1;
            }
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(page, "metadata");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "resourceVersion");
        if (cJSON_IsString(v))
            snprintf(rv, rv_cap, "%s", v->valuestring);
        cJSON_Delete(page);
    }
    r->http = 200;
    return 0;
}

/* Hands each complete line of 'body' to 'on_line' (a cut last line never). 1: on_line ended
 * the stream. */
static int fake_lines(const char *body, int (*on_line)(void *a, const char *line, size_t len),
                      void *arg)
{
    for (const char *p = body, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        if (on_line(arg, p, (size_t)(nl - p)) != 0)
            return 1;
    }
    return 0;
}

static int fake_stream_call(void *arg, const char *path, long idle_timeout_ms,
                            int (*on_line)(void *a, const char *line, size_t len), void *line_arg,
                            const atomic_bool *stop, kube_response *r)
{
    fake *f = arg;
    (void)idle_timeout_ms;
    memset(r, 0, sizeof *r);
    pthread_mutex_lock(&f->mu);
    int at = f->stream_at < f->n_streams ? f->stream_at++ : -1;
    if (at >= 0)
        snprintf(f->stream_path[at], sizeof f->stream_path[at], "%s", path);
    else
        snprintf(f->block_path, sizeof f->block_path, "%s", path);
    pthread_mutex_unlock(&f->mu);
    if (at >= 0) {
        const fake_stream *s = &f->streams[at];
        r->http = 200;
        if (fake_lines(s->body, on_line, line_arg))
            return 0;
        if (s->rc != 0) {
            r->http = s->http;
            snprintf(r->error, sizeof r->error, "the stream was cut");
        }
        return s->rc;
    }
    /* Scripts used up: block, delivering queued lines, until stopped. */
    r->http = 200;
    pthread_mutex_lock(&f->mu);
    while (!atomic_load(stop)) {
        if (f->q_out < f->q_in) {
            char *line = f->queue[f->q_out++];
            pthread_mutex_unlock(&f->mu);
            int end = on_line(line_arg, line, strlen(line));
            free(line);
            pthread_mutex_lock(&f->mu);
            f->delivered++;
            pthread_cond_broadcast(&f->cv);
            if (end) {
                pthread_mutex_unlock(&f->mu);
                return 0;
            }
            continue;
        }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 20 * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&f->cv, &f->mu, &t);
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

/* Queues one event line for the blocking stream and waits until the informer applied it. */
static void fake_feed(fake *f, const char *line)
{
    pthread_mutex_lock(&f->mu);
    f->queue[f->q_in++] = strdup(line);
    int want = f->q_in;
    pthread_cond_broadcast(&f->cv);
    while (f->delivered < want)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static kube_api fake_api(fake *f)
{
    return (kube_api){.arg = f,
                      .discover = fake_discover,
                      .path = fake_path,
                      .get = fake_get,
                      .list = fake_list_call,
                      .stream = fake_stream_call,
                      .thread_stop = fake_thread_stop};
}

#endif
