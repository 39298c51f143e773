/* fuzz_kube.c - libFuzzer target for what streamguard reads from the Kubernetes API and from
 * kubeconfig files: the inputs a broken API server, or whoever writes the kubeconfig, controls.
 * The first byte chooses the mode ('0', '1', '2': its value modulo 3), the rest is the input:
 *
 * A  a kubeconfig, read by kube_config_load() from a memfd (/proc/self/fd/N). A refusal comes
 *    with a diagnostic and leaves nothing filled; a configuration that loads has an https://
 *    server, exactly the one the current context's cluster names (scheme lowercased, trailing
 *    '/' dropped), and that cluster does not ask for insecure-skip-tls-verify.
 * B  a watch stream body, fed line by line (as client.c splits it) to an informer whose
 *    discovery and LIST are answered from the recorded tests/fixtures/kube/pvc-list-page1.json;
 *    the informer is stepped a bounded number of times. After each line that is a well-formed
 *    ADDED or MODIFIED event, the store holds exactly the event's object minus
 *    metadata.managedFields and the last-applied annotation (plus kind and apiVersion when
 *    absent), and the change was announced under its key. At the end every stored object has a
 *    string name and is found under its own key, and the count agrees with the lookups.
 * C  one JSON value, copied by kube_obj_compact() without and with a pool: the copy equals the
 *    stripped input (same oracle, member order included), or the input is refused, which it
 *    must be exactly when it is not an object with a string metadata.name (and a string
 *    metadata.namespace when there is one).
 * Leaks and sanitizer reports are findings in every mode. tests/unit/test_fuzz_corpus.c replays
 * the seeds and corpus through sg_fuzz_kube() in make test. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kube/cache_int.h"
#include "kube/config.h"
#include "policy/yamldoc.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/file.h"
#include "util/log.h"

int sg_fuzz_kube(const uint8_t *data, size_t size);

#define KUBE "fuzz_kube"
#define KUBE_LIST_PAGE "tests/fixtures/kube/pvc-list-page1.json"
#define KUBE_STEPS 6
#define KUBE_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* __attribute__((format)) as fuzz_util.h's fuzz_fail, kept here so this target stands alone. */
__attribute__((format(printf, 1, 2))) static int kube_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, KUBE ": invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* ---- the oracle: what the cache must keep of an object ---------------------------------- */

/* Puts the member 'key': 'value' first in 'obj' (cJSON's lists: child->prev is the last). */
static int kube_prepend(cJSON *obj, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);
    char *k = strdup(key);
    if (v == NULL || k == NULL) {
        cJSON_Delete(v);
        free(k);
        return -1;
    }
    v->string = k;
    v->next = obj->child;
    v->prev = obj->child != NULL ? obj->child->prev : v;
    if (obj->child != NULL)
        obj->child->prev = v;
    obj->child = v;
    return 0;
}

/* 'src' as the cache must store it: without metadata.managedFields and the last-applied
 * annotation; with kind and apiVersion put first when absent. NULL when it must be refused. */
static cJSON *kube_expect(const cJSON *src, const char *api_version, const char *kind)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(src, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    if (!cJSON_IsObject(src) || !cJSON_IsObject(meta) || !cJSON_IsString(name) ||
        (ns != NULL && !cJSON_IsString(ns)))
        return NULL;
    cJSON *want = cJSON_Duplicate(src, 1);
    if (want == NULL)
        return NULL;
    /* Every member of those names: JSON with a key twice is still JSON, and the copy keeps
     * none of them (readers find the first). */
    for (cJSON *m = want->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "metadata") != 0 || !cJSON_IsObject(m))
            continue;
        while (cJSON_GetObjectItemCaseSensitive(m, "managedFields") != NULL)
            cJSON_DeleteItemFromObjectCaseSensitive(m, "managedFields");
        for (cJSON *a = m->child; a != NULL; a = a->next) {
            if (strcmp(a->string, "annotations") != 0 || !cJSON_IsObject(a))
                continue;
            while (cJSON_GetObjectItemCaseSensitive(a, KUBE_LAST_APPLIED) != NULL)
                cJSON_DeleteItemFromObjectCaseSensitive(a, KUBE_LAST_APPLIED);
        }
    }
    /* prepended as object.c does: kind first, then apiVersion before it */
    if ((kind != NULL && cJSON_GetObjectItemCaseSensitive(want, "kind") == NULL &&
         kube_prepend(want, "kind", kind) != 0) ||
        (api_version != NULL && cJSON_GetObjectItemCaseSensitive(want, "apiVersion") == NULL &&
         kube_prepend(want, "apiVersion", api_version) != 0)) {
        cJSON_Delete(want);
        return NULL;
    }
    return want;
}

/* Whether 'got' is 'want' with the same members in the same order: the printed forms are
 * equal, and so are the trees (cJSON_Compare), unless 'want' has a key twice, which
 * cJSON_Compare cannot match even against a copy of itself (it finds the first member of a
 * name; against the same pointer it answers true at once). */
static bool kube_same(const cJSON *want, const cJSON *got)
{
    if (!cJSON_Compare(want, got, 1)) {
        cJSON *copy = cJSON_Duplicate(want, 1);
        bool dup_keys = copy != NULL && !cJSON_Compare(want, copy, 1);
        cJSON_Delete(copy);
        if (!dup_keys)
            return false;
    }
    char *a = cJSON_PrintUnformatted(want), *b = cJSON_PrintUnformatted(got);
    bool same = a != NULL && b != NULL && strcmp(a, b) == 0;
    free(a);
    free(b);
    return same;
}

/* ---- mode C: one object ------------------------------------------------------------------ */

static int kube_mode_compact(const char *text, size_t len)
{
    cJSON *src = cJSON_ParseWithLength(text, len);
    if (src == NULL)
        return 0;
    cJSON *want = kube_expect(src, "v1", "PersistentVolumeClaim");
    kube_pool *pool = kube_pool_new();
    int rc = pool == NULL ? kube_fail("out of memory") : 0;
    for (int shared = 0; rc == 0 && shared < 2; shared++) {
        kube_obj *o = kube_obj_compact(shared ? pool : NULL, src, "v1", "PersistentVolumeClaim");
        if ((o == NULL) != (want == NULL))
            rc = kube_fail("kube_obj_compact %s an object the oracle %s (pool: %d)",
                           o ? "kept" : "refused", want ? "keeps" : "refuses", shared);
        else if (o != NULL && !kube_same(want, kube_obj_json(o)))
            rc = kube_fail("the compact copy differs from the stripped object (pool: %d)", shared);
        else if (o != NULL) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(want, "metadata");
            const cJSON *ns = cJSON_GetObjectItemCaseSensitive(m, "namespace");
            if (strcmp(o->name, cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring) != 0 ||
                strcmp(o->ns, ns ? ns->valuestring : "") != 0 ||
                o->hash != kube_key_hash(o->ns, o->name))
                rc = kube_fail("the compact copy's key is not its metadata's");
        }
        kube_obj_unref(o);
    }
    kube_pool_sweep(pool, true);
    if (rc == 0 && pool != NULL && kube_pool_count(pool) != 0)
        rc = kube_fail("%zu shared lists left after the last object went", kube_pool_count(pool));
    kube_pool_unref(pool);
    cJSON_Delete(want);
    cJSON_Delete(src);
    return rc;
}

/* ---- mode B: a watch stream -------------------------------------------------------------- */

typedef struct kube_script {
    const char *body; /* the watch body; delivered by the first WATCH only */
    size_t len;
    int watches;
    kube_informer *inf;
    kube_kind_stats *stats;
    char *changed_ns, *changed_name; /* the last key announced (malloc'd), or NULL */
    int rc; /* -1 once an invariant broke */
} kube_script;

static char *kube_page; /* the recorded LIST page, read once */

static int script_discover(void *arg, const char *api_version, const char *kind, long timeout_ms,
                           kube_resource *out, char error[512])
{
    (void)arg;
    (void)timeout_ms;
    (void)error;
    memset(out, 0, sizeof *out);
    snprintf(out->api_version, sizeof out->api_version, "%s", api_version);
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    snprintf(out->base, sizeof out->base, "/api/v1");
    snprintf(out->plural, sizeof out->plural, "persistentvolumeclaims");
    out->namespaced = true;
    return 0;
}

static int script_path(const kube_resource *res, const char *ns, const char *name, char *out,
                       size_t cap)
{
    int n = snprintf(out, cap, "%s%s%s/%s%s%s", res->base, ns[0] ? "/namespaces/" : "", ns,
                     res->plural, name ? "/" : "", name ? name : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int script_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    (void)arg;
    (void)path;
    (void)timeout_ms;
    memset(r, 0, sizeof *r);
    r->http = 404;
    snprintf(r->error, sizeof r->error, "HTTP 404: not scripted");
    return -1;
}

/* The recorded page's items, one by one, as kube_list hands them over (each owned by
 * on_item), and its resourceVersion. */
static int script_list(void *arg, const char *path, long limit, long timeout_ms,
                       int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv,
                       size_t rv_cap, kube_response *r)
{
    (void)arg;
    (void)path;
    (void)limit;
    (void)timeout_ms;
    memset(r, 0, sizeof *r);
    cJSON *page = cJSON_Parse(kube_page);
    cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
    const cJSON *prv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(page, "metadata"), "resourceVersion");
    int rc = cJSON_IsArray(items) && cJSON_IsString(prv) ? 0 : -1;
    if (rc == 0)
        snprintf(rv, rv_cap, "%s", prv->valuestring);
    while (rc == 0 && cJSON_GetArraySize(items) > 0)
        rc = on_item(item_arg, cJSON_DetachItemFromArray(items, 0)) == 0 ? 0 : 1;
    if (rc != 0)
        snprintf(r->error, sizeof r->error, "the recorded page did not list");
    cJSON_Delete(page);
    return rc;
}

/* After a line: when it is a well-formed ADDED or MODIFIED event (strict JSON), the store
 * holds its object as the oracle keeps it, and the change was announced under its key. */
static void check_event(kube_script *s, const char *line, size_t len)
{
    const char *end = NULL;
    cJSON *ev = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    bool strict = ev != NULL && end == line + len;
    cJSON *want = NULL;
    if (strict && cJSON_IsString(type) && cJSON_IsObject(obj) &&
        (strcmp(type->valuestring, "ADDED") == 0 || strcmp(type->valuestring, "MODIFIED") == 0))
        want = kube_expect(obj, "v1", "PersistentVolumeClaim");
    if (want != NULL) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(want, "metadata");
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(m, "namespace");
        const char *nss = ns ? ns->valuestring : "";
        const char *name = cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring;
        kube_obj *o = kube_store_get(kube_informer_store(s->inf), nss, name);
        if (o == NULL)
            s->rc = kube_fail("an %s event's object is not in the store", type->valuestring);
        else if (!kube_same(want, kube_obj_json(o)))
            s->rc = kube_fail("the stored object differs from the event's, stripped");
        else if (s->changed_ns == NULL || s->changed_name == NULL ||
                 strcmp(s->changed_ns, nss) != 0 || strcmp(s->changed_name, name) != 0)
            s->rc = kube_fail("the change was not announced under the object's key");
        kube_obj_unref(o);
    }
    cJSON_Delete(want);
    cJSON_Delete(ev);
}

/* The body split into lines as client.c's splitter does (empty lines skipped, a last line
 * without '\n' is a cut stream), each line in its own exact-size buffer. */
static int script_stream(void *arg, const char *path, long idle_timeout_ms,
                         int (*on_line)(void *a, const char *line, size_t len), void *line_arg,
                         const atomic_bool *stop, kube_response *r)
{
    kube_script *s = arg;
    (void)path;
    (void)idle_timeout_ms;
    (void)stop;
    memset(r, 0, sizeof *r);
    if (s->watches++ > 0)
        return 0; /* the server ends the next watches at once */
    const char *p = s->body, *end = s->body + s->len;
    while (p < end && s->rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            snprintf(r->error, sizeof r->error, "the stream was cut");
            return -1;
        }
        size_t n = (size_t)(nl - p);
        const char *line = p;
        p = nl + 1;
        if (n == 0)
            continue;
        char *copy = malloc(n + 1);
        if (copy == NULL)
            return -1;
        memcpy(copy, line, n);
        copy[n] = '\0';
        free(s->changed_ns);
        free(s->changed_name);
        s->changed_ns = s->changed_name = NULL;
        int stop_rc = on_line(line_arg, copy, n);
        check_event(s, copy, n);
        free(copy);
        if (stop_rc != 0)
            return 0;
    }
    return 0;
}

static void script_changed(void *arg, const kube_kind_stats *kind, const char *ns,
                           const char *name)
{
    kube_script *s = arg;
    (void)kind;
    free(s->changed_ns);
    free(s->changed_name);
    s->changed_ns = ns != NULL ? strdup(ns) : NULL;
    s->changed_name = name != NULL ? strdup(name) : NULL;
}

/* Every stored object has a string name and is found under its key; the count agrees. */
static int check_store(kube_store *st)
{
    kube_obj **all = NULL;
    size_t n = 0;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    if (a == NULL || kube_store_snapshot(st, "", a, &all, &n) != 0) {
        arena_free(a);
        return kube_fail("out of memory");
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(kube_obj_json(all[i]), "metadata");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(m, "namespace");
        if (!cJSON_IsString(name) || strcmp(name->valuestring, all[i]->name) != 0 ||
            strcmp(cJSON_IsString(ns) ? ns->valuestring : "", all[i]->ns) != 0) {
            rc = kube_fail("a stored object whose key is not its metadata's");
            break;
        }
        kube_obj *o = kube_store_get(st, all[i]->ns, all[i]->name);
        if (o != all[i])
            rc = kube_fail("the stored object %s/%s is not found under its key", all[i]->ns,
                           all[i]->name);
        kube_obj_unref(o);
        if (rc == 0 && i > 0 && strcmp(all[i - 1]->ns, all[i]->ns) == 0 &&
            strcmp(all[i - 1]->name, all[i]->name) == 0)
            rc = kube_fail("the key %s/%s is stored twice", all[i]->ns, all[i]->name);
    }
    if (rc == 0 && kube_store_count(st) != n)
        rc = kube_fail("the store counts %zu objects, %zu are found", kube_store_count(st), n);
    arena_free(a); /* the array and its references */
    return rc;
}

static int kube_mode_watch(const char *body, size_t len)
{
    if (kube_page == NULL) {
        buf b;
        diag_list dl;
        diag_list_init(&dl);
        buf_init(&b, 1 << 20);
        if (file_read(KUBE_LIST_PAGE, 1 << 20, &b, &dl) == 0 && b.data != NULL)
            kube_page = strndup(b.data, b.len);
        buf_clear(&b);
        diag_list_clear(&dl);
        if (kube_page == NULL)
            return kube_fail("cannot read %s (run from the repository root)", KUBE_LIST_PAGE);
    }
    static kube_kind_stats stats = {.kind = {.api_version = "v1", .kind = "PersistentVolumeClaim"},
                                    .label = "v1/PersistentVolumeClaim"};
    kube_script s = {.body = body, .len = len, .stats = &stats};
    kube_api api = {.arg = &s,
                    .discover = script_discover,
                    .path = script_path,
                    .get = script_get,
                    .list = script_list,
                    .stream = script_stream};
    kube_cache_opts o = {.request_timeout_ms = 1000, .watch_timeout_s = 300,
                         .backoff_min_ms = 500, .backoff_max_ms = 30000};
    s.inf = kube_informer_new(&api, &o, &stats, script_changed, &s);
    if (s.inf == NULL)
        return kube_fail("out of memory");
    for (int i = 0; i < KUBE_STEPS && s.rc == 0; i++)
        kube_informer_step(s.inf);
    int rc = s.rc;
    if (rc == 0 && !kube_informer_synced(s.inf))
        rc = kube_fail("the informer never listed the recorded page");
    if (rc == 0)
        rc = check_store(kube_informer_store(s.inf));
    kube_informer_free(s.inf);
    free(s.changed_ns);
    free(s.changed_name);
    return rc;
}

/* ---- mode A: a kubeconfig ---------------------------------------------------------------- */

/* The entry named 'name' of the list 'key' of 'root' (JSON form), its 'inner' mapping. */
static const cJSON *kc_entry(const cJSON *root, const char *key, const char *inner,
                             const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, key))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return cJSON_GetObjectItemCaseSensitive(e, inner);
    }
    return NULL;
}

/* A configuration that loaded, against the file read independently as JSON. */
static int check_loaded(const kube_config *c, const char *text, size_t len)
{
    if (c->server == NULL || strncmp(c->server, "https://", 8) != 0 || c->server[8] == '\0' ||
        c->source == NULL)
        return kube_fail("a kubeconfig loaded without an https:// server: %s",
                         c->server ? c->server : "(none)");
    if ((c->cert_file || c->cert_data) != (c->key_file || c->key_data) ||
        (c->ca_file && c->ca_data) || (c->token && c->token[0] == '\0'))
        return kube_fail("a kubeconfig loaded with a half-given certificate or credential");
    arena *a = arena_new((size_t)64 << 20);
    diag_list dl;
    diag_list_init(&dl);
    ydoc *docs = NULL;
    size_t partial = 0;
    cJSON *root = NULL;
    if (a != NULL && yaml_load(a, "kubeconfig", text, len, &docs, &partial, &dl) == 1)
        root = yaml_to_json(docs[0].root, "kubeconfig", &dl);
    int rc = 0;
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "current-context");
    const cJSON *ctx = cJSON_IsString(cur) ? kc_entry(root, "contexts", "context",
                                                     cur->valuestring)
                                           : NULL;
    const cJSON *cname = cJSON_GetObjectItemCaseSensitive(ctx, "cluster");
    const cJSON *cl = cJSON_IsString(cname) ? kc_entry(root, "clusters", "cluster",
                                                      cname->valuestring)
                                            : NULL;
    const cJSON *server = cJSON_GetObjectItemCaseSensitive(cl, "server");
    const cJSON *insecure = cJSON_GetObjectItemCaseSensitive(cl, "insecure-skip-tls-verify");
    if (root == NULL) {
        rc = kube_fail("a kubeconfig that is not one YAML document loaded");
    } else if (cl == NULL || !cJSON_IsString(server)) {
        /* a context or cluster named by a number, say: the oracle cannot follow it */
    } else if (cJSON_IsTrue(insecure) || cJSON_IsString(insecure)) {
        rc = kube_fail("a cluster with insecure-skip-tls-verify: %s loaded",
                       cJSON_IsTrue(insecure) ? "true" : insecure->valuestring);
    } else {
        const char *s = server->valuestring;
        size_t n = strlen(s);
        while (n > 8 && s[n - 1] == '/')
            n--;
        if (strncasecmp(s, "https://", 8) != 0 || strlen(c->server) != n ||
            strncmp(c->server + 8, s + 8, n - 8) != 0)
            rc = kube_fail("the kubeconfig's server %s loaded as %s", s, c->server);
    }
    cJSON_Delete(root);
    diag_list_clear(&dl);
    arena_free(a);
    return rc;
}

static int kube_mode_config(const char *text, size_t len)
{
    int fd = memfd_create("kubeconfig", MFD_CLOEXEC);
    if (fd < 0)
        return kube_fail("memfd_create failed");
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0) {
            close(fd);
            return kube_fail("cannot write the kubeconfig to a memfd");
        }
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    kube_config c;
    diag_list dl;
    diag_list_init(&dl);
    int rc = 0, got = kube_config_load(path, NULL, &c, &dl);
    bool err = false;
    for (size_t i = 0; i < dl.count; i++)
        err |= dl.items[i].level == DIAG_ERROR;
    if (got == -1 && (!err || c.server != NULL || c.source != NULL))
        rc = kube_fail("a refused kubeconfig without an error diagnostic, or half filled");
    else if (got == 0 && err)
        rc = kube_fail("a kubeconfig loaded with an error diagnostic");
    else if (got == 0)
        rc = check_loaded(&c, text, len);
    else if (got != -1)
        rc = kube_fail("kube_config_load returned %d", got);
    if (got == 0)
        kube_config_free(&c);
    diag_list_clear(&dl);
    close(fd);
    return rc;
}

/* Returns 0, or -1 when an invariant broke (the reason on stderr). */
int sg_fuzz_kube(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static bool quiet;
    if (!quiet) { /* the informer's logs are not findings */
        log_setup(LOG_FORMAT_LOGFMT, LOG_ERROR, 2);
        quiet = true;
    }
    char *text = malloc(size); /* the rest, NUL-terminated: kube_page and strings need it */
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    int rc;
    switch (data[0] % 3) {
    case 0: rc = kube_mode_config(text, size - 1); break;
    case 1: rc = kube_mode_watch(text, size - 1); break;
    default: rc = kube_mode_compact(text, size - 1); break;
    }
    free(text);
    return rc;
}

/* Frees what the target keeps between inputs (the replay test calls it for a clean exit). */
__attribute__((unused)) static void fuzz_kube_free(void)
{
    free(kube_page);
    kube_page = NULL;
}

#ifndef SG_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sg_fuzz_kube(data, size) != 0)
        abort(); /* an invariant broke: libFuzzer saves the input as a crash */
    return 0;
}
#endif
