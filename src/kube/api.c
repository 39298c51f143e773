/* api.c - the API's conventions above client.c's transport: discovery of where a kind lives,
 * escaped object paths, paged LISTs.
 *
 * Names that go into a path come from objects under review (a claim's name in a
 * FlinkDeployment), so they are checked as Kubernetes checks names and escaped: a name can
 * never change which path is asked. Discovery answers are kept per group version; a kind
 * that is not there fetches the document again (a CRD installed later), at most once per
 * KUBE_DISCOVERY_INTERVAL per group version so that a policy naming a kind the cluster does
 * not serve cannot turn each review into a discovery request. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/buf.h"
#include "client_int.h"

#define KUBE_DISCOVERY_INTERVAL 1.0 /* seconds between two fetches of one group version */
#define KUBE_DISCOVERY_MAX_GV 256   /* group versions kept; the oldest goes first */
#define KUBE_NAME_MAX 253
#define KUBE_URL_MAX ((size_t)64 << 10)

/* One kind of a group version, as its discovery document lists it. */
typedef struct disc_kind {
    char kind[64];
    char plural[64];
    bool namespaced;
} disc_kind;

typedef struct disc_entry {
    char gv[320];
    disc_kind *kinds; /* NULL until a fetch succeeded */
    size_t n;
    double attempt;  /* monotonic time of the last fetch, 0 for never */
    bool fetching;   /* a thread is fetching it: the others wait for its answer */
    char error[256]; /* why the last fetch failed, "" when it did not */
} disc_entry;

struct kube_disc {
    pthread_mutex_t mu;
    pthread_cond_t done; /* broadcast when a fetch ends (CLOCK_MONOTONIC) */
    disc_entry e[KUBE_DISCOVERY_MAX_GV];
    size_t n;
};

kube_disc *kube_disc_new(void)
{
    kube_disc *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->done, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&d->mu, NULL);
    return d;
}

void kube_disc_free(kube_disc *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->e[i].kinds);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->done);
    free(d);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool all_in(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr(set, s[i]) == NULL)
            return false;
    }
    return true;
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"

/* A DNS subdomain: labels of [a-z0-9-], not empty, joined by single dots. */
static bool is_dns_subdomain(const char *s, size_t n)
{
    if (n == 0 || n > KUBE_NAME_MAX || !all_in(s, n, LOWER_DIGITS "-."))
        return false;
    if (s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 1; i < n; i++) {
        if (s[i] == '.' && s[i - 1] == '.')
            return false;
    }
    return true;
}

/* "v1" (the core group) or "GROUP/VERSION": text that becomes a path, so checked strictly. */
static bool is_api_version(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof((kube_resource *)0)->api_version)
        return false;
    const char *slash = strchr(s, '/');
    const char *v = slash ? slash + 1 : s;
    size_t vn = strlen(v);
    if (vn == 0 || v[0] != 'v' || !all_in(v, vn, LOWER_DIGITS))
        return false;
    if (slash == NULL)
        return strcmp(s, "v1") == 0;
    return is_dns_subdomain(s, (size_t)(slash - s));
}

static bool is_kind(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < sizeof((kube_resource *)0)->kind &&
           all_in(s, n, LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
}

/* The kinds of an APIResourceList (subresources such as "pods/status" left out). Returns the
 * malloc'd array and its length, or NULL with the reason in 'err'. */
static disc_kind *disc_parse(const char *body, size_t len, size_t *n, char *err, size_t cap)
{
    cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "resources");
    disc_kind *k = NULL;
    *n = 0;
    if (!cJSON_IsArray(res)) {
        snprintf(err, cap, "the discovery answer is not an APIResourceList");
        goto done;
    }
    k = calloc((size_t)cJSON_GetArraySize(res) + 1, sizeof *k);
    if (k == NULL) {
        snprintf(err, cap, "out of memory");
        goto done;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, res) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(r, "kind");
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(r, "namespaced");
        if (!cJSON_IsString(name) || !cJSON_IsString(kind) || !is_kind(kind->valuestring))
            continue;
        size_t nl = strlen(name->valuestring);
        /* The plural goes into paths: a DNS label, as Kubernetes requires of it. */
        if (nl == 0 || nl >= sizeof k->plural || !all_in(name->valuestring, nl, LOWER_DIGITS "-"))
            continue;
        snprintf(k[*n].kind, sizeof k[*n].kind, "%s", kind->valuestring);
        snprintf(k[*n].plural, sizeof k[*n].plural, "%s", name->valuestring);
        k[*n].namespaced = cJSON_IsTrue(ns);
        (*n)++;
    }
done:
    cJSON_Delete(j);
    return k;
}

/* The entry of 'gv', added (or taking the place of the oldest) when missing. Called with the
 * mutex held. */
static disc_entry *disc_entry_get(kube_disc *d, const char *gv)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->e[i].gv, gv) == 0)
            return &d->e[i];
    }
    disc_entry *e = NULL;
    if (d->n < KUBE_DISCOVERY_MAX_GV) {
        e = &d->e[d->n++];
    } else {
        for (size_t i = 0; i < d->n; i++) {
            if (!d->e[i].fetching && (e == NULL || d->e[i].attempt < e->attempt))
                e = &d->e[i];
        }
        if (e == NULL)
            return NULL; /* every entry is being fetched: the caller gives up */
        free(e->kinds);
    }
    memset(e, 0, sizeof *e);
    snprintf(e->gv, sizeof e->gv, "%s", gv);
    return e;
}

static bool disc_find(const disc_entry *e, const char *kind, kube_resource *out)
{
    for (size_t i = 0; e->kinds && i < e->n; i++) {
        if (strcmp(e->kinds[i].kind, kind) != 0)
            continue;
        snprintf(out->api_version, sizeof out->api_version, "%s", e->gv);
        snprintf(out->kind, sizeof out->kind, "%s", kind);
        snprintf(out->base, sizeof out->base, "%s%s", strchr(e->gv, '/') ? "/apis/" : "/api/",
                 e->gv);
        snprintf(out->plural, sizeof out->plural, "%s", e->kinds[i].plural);
        out->namespaced = e->kinds[i].namespaced;
        return true;
    }
    return false;
}

/* Looks 'kind' up in the cache. Returns 0 when found, 1 when a fetch is due (marked as
 * started now: the caller fetches), -1 when not found and fetched too recently, or when the
 * fetch of another thread did not end before 'deadline' ('error' says which). */
static int disc_lookup(kube_disc *d, const char *gv, const char *kind, double deadline,
                       kube_resource *out, char error[512])
{
    pthread_mutex_lock(&d->mu);
    int rc = -1;
    for (;;) {
        disc_entry *e = disc_entry_get(d, gv);
        double now = mono_s();
        if (e == NULL) {
            snprintf(error, 512, "discovery of %s: too many group versions at once", gv);
        } else if (disc_find(e, kind, out)) {
            rc = 0;
        } else if (e->fetching) {
            /* Another thread asks the server right now: its answer, not a second request,
             * and not "no kind" while the first answer is on its way. */
            if (now < deadline && !kube_thread_stopped()) {
                /* In slices, so that a stopped thread does not wait out the deadline. */
                double until = deadline < now + 0.2 ? deadline : now + 0.2;
                struct timespec ts = {.tv_sec = (time_t)until,
                                      .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};
                pthread_cond_timedwait(&d->done, &d->mu, &ts);
                continue;
            }
            snprintf(error, 512, "discovery of %s: %s", gv,
                     kube_thread_stopped() ? "stopped" : "timed out waiting for its answer");
        } else if (e->attempt > 0 && now - e->attempt < KUBE_DISCOVERY_INTERVAL) {
            if (e->error[0])
                snprintf(error, 512, "discovery of %s failed: %s", gv, e->error);
            else
                snprintf(error, 512, "no kind %s in %s", kind, gv);
        } else {
            e->attempt = now;
            e->fetching = true;
            rc = 1;
        }
        break;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int kube_discover(kube_client *c, const char *api_version, const char *kind, long timeout_ms,
                  kube_resource *out, char error[512])
{
    error[0] = '\0';
    memset(out, 0, sizeof *out);
    if (!is_api_version(api_version) || !is_kind(kind)) {
        snprintf(error, 512, "\"%.128s\" \"%.64s\" is not an apiVersion and a kind", api_version,
                 kind);
        return -1;
    }
    kube_disc *d = kube_client_disc(c);
    double deadline = mono_s() + (double)(timeout_ms > 0 ? timeout_ms : 30000) / 1e3;
    int rc = disc_lookup(d, api_version, kind, deadline, out, error);
    if (rc <= 0)
        return rc;
    char path[336], why[256] = "";
    snprintf(path, sizeof path, "%s%s", strchr(api_version, '/') ? "/apis/" : "/api/", api_version);
    kube_response r;
    size_t n = 0;
    disc_kind *kinds = NULL;
    if (kube_get(c, path, timeout_ms, &r) == 0)
        kinds = disc_parse(r.body, r.len, &n, why, sizeof why);
    else if (r.http == 404)
        snprintf(why, sizeof why, "the API server does not serve %s", api_version);
    else
        snprintf(why, sizeof why, "%.255s", r.error);
    kube_response_free(&r);
    pthread_mutex_lock(&d->mu);
    disc_entry *e = disc_entry_get(d, api_version); /* again: it may have been replaced */
    if (e != NULL) {
        e->fetching = false;
        e->attempt = mono_s();
        snprintf(e->error, sizeof e->error, "%.255s", kinds ? "" : why);
        if (kinds) {
            free(e->kinds);
            e->kinds = kinds;
            e->n = n;
            kinds = NULL;
        }
    }
    free(kinds);
    if (e != NULL && disc_find(e, kind, out))
        rc = 0;
    else if (why[0] == '\0')
        snprintf(error, 512, "no kind %s in %s", kind, api_version);
    else
        snprintf(error, 512, "discovery of %.170s failed: %.300s", api_version, why);
    pthread_cond_broadcast(&d->done);
    pthread_mutex_unlock(&d->mu);
    return rc == 0 ? 0 : -1;
}

bool kube_not_found(const kube_response *r, const char *name)
{
    if (r->http != 404 || r->body == NULL || name == NULL)
        return false;
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "reason");
    const cJSON *dn =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "details"), "name");
    bool yes = cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0 &&
               cJSON_IsString(reason) && strcmp(reason->valuestring, "NotFound") == 0 &&
               cJSON_IsString(dn) && strcmp(dn->valuestring, name) == 0;
    cJSON_Delete(j);
    return yes;
}

/* ---- paths --------------------------------------------------------------------------- */

/* What Kubernetes accepts in the name of any kind (path segment names): not empty, at most
 * 253 bytes, no '/' or '%', not "." or "..". */
static bool is_path_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= KUBE_NAME_MAX && strpbrk(s, "/%") == NULL && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

/* Appends 's' to 'b' with every byte other than [A-Za-z0-9-._~] percent-encoded. */
static int put_escaped(buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        bool plain = all_in((const char *)p, 1, LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ-._~");
        if (buf_append(b, plain ? (const char *)p : e, plain ? 1 : 3) != 0)
            return -1;
    }
    return 0;
}

int kube_path(const kube_resource *res, const char *ns, const char *name, char *out, size_t cap)
{
    bool with_ns = res->namespaced && ns != NULL && ns[0] != '\0';
    if ((with_ns && !is_path_name(ns)) || (name != NULL && !is_path_name(name)))
        return -1;
    buf b;
    buf_init(&b, cap > 0 ? cap - 1 : 0);
    int rc = buf_puts(&b, res->base);
    if (with_ns)
        rc = rc ? rc : buf_puts(&b, "/namespaces/");
    if (with_ns)
        rc = rc ? rc : put_escaped(&b, ns);
    rc = rc ? rc : buf_puts(&b, "/");
    rc = rc ? rc : buf_puts(&b, res->plural);
    if (name != NULL)
        rc = rc ? rc : buf_puts(&b, "/");
    if (name != NULL)
        rc = rc ? rc : put_escaped(&b, name);
    long len = rc == 0 ? (long)b.len : -1;
    if (rc == 0)
        memcpy(out, b.data, b.len + 1);
    buf_clear(&b);
    return (int)len;
}

/* ---- lists --------------------------------------------------------------------------- */

/* One page: hands its items to 'on_item' and returns its continue token (malloc'd, NULL on
 * the last page). 0, 1 when on_item stopped, -1 on a malformed page ('r->error'). */
static int list_page(kube_response *r, int (*on_item)(void *arg, cJSON *item), void *arg, char *rv,
                     size_t rv_cap, char **cont)
{
    *cont = NULL;
    cJSON *doc = cJSON_ParseWithLength(r->body ? r->body : "", r->len);
    cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(md, "continue");
    int rc = -1;
    if (!cJSON_IsObject(doc) || !(cJSON_IsArray(items) || cJSON_IsNull(items) || !items)) {
        snprintf(r->error, sizeof r->error, "the answer is not a list");
        goto done;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= rv_cap) {
        snprintf(r->error, sizeof r->error, "the list has no usable metadata.resourceVersion");
        goto done;
    }
    snprintf(rv, rv_cap, "%s", v->valuestring);
    if (cJSON_IsString(ct) && ct->valuestring[0] != '\0' &&
        (*cont = strdup(ct->valuestring)) == NULL) {
        snprintf(r->error, sizeof r->error, "out of memory");
        goto done;
    }
    rc = 0;
    while (items && items->child) {
        cJSON *it = cJSON_DetachItemViaPointer(items, items->child);
        if (on_item(arg, it) != 0) {
            snprintf(r->error, sizeof r->error, "the list was stopped by its reader");
            rc = 1;
            break;
        }
    }
done:
    if (rc != 0) {
        free(*cont);
        *cont = NULL;
    }
    cJSON_Delete(doc);
    return rc;
}

int kube_list(kube_client *c, const char *path, long limit, long timeout_ms,
              int (*on_item)(void *arg, cJSON *item), void *arg, char *rv, size_t rv_cap,
              kube_response *r)
{
    memset(r, 0, sizeof *r);
    if (rv_cap > 0)
        rv[0] = '\0';
    char *cont = NULL;
    buf url;
    buf_init(&url, KUBE_URL_MAX);
    int rc = -1;
    for (;;) {
        url.len = 0;
        const char *sep = strchr(path, '?') ? "&" : "?";
        int brc = buf_puts(&url, path);
        if (limit > 0)
            brc = brc ? brc : buf_printf(&url, "%slimit=%ld", sep, limit);
        if (limit > 0)
            sep = "&";
        if (cont)
            brc = brc ? brc : buf_printf(&url, "%scontinue=", sep);
        if (cont)
            brc = brc ? brc : put_escaped(&url, cont);
        if (brc != 0) {
            snprintf(r->error, sizeof r->error, "the continue token is too long");
            break;
        }
        if (kube_get(c, url.data, timeout_ms, r) != 0) {
            /* Too many large objects for one answer: the same page in fewer items. */
            if (!r->too_large || limit <= 1)
                break;
            limit = limit > 10 ? limit / 10 : 1;
            kube_response_free(r);
            continue;
        }
        char *next = NULL;
        int prc = list_page(r, on_item, arg, rv, rv_cap, &next);
        kube_response_free(r);
        if (prc != 0)
            break;
        if (next && cont && strcmp(next, cont) == 0) {
            snprintf(r->error, sizeof r->error, "the API server repeated its continue token");
            free(next);
            break;
        }
        free(cont);
        cont = next;
        if (cont == NULL) {
            rc = 0;
            break;
        }
    }
    free(cont);
    buf_clear(&url);
    return rc;
}
