/* manifests.c - Kubernetes manifests read for checking, and one document run through the
 * policies as kube-apiserver would send it; see manifests.h. Shared by 'check' and 'test'. */
#include "manifests.h"

#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../admission/decide.h"
#include "../admission/synth.h"
#include "../k8s/jsonpatch.h"
#include "../util/buf.h"
#include "../util/file.h"
#include "../util/vec.h"

#define INPUT_MAX  ((size_t)64 << 20) /* a file; each document is capped at YAML_MAX_DOCUMENT */
#define MAX_INPUTS 4096

/* ---- inputs ---- */

static void input_error(manifests *in, const char *file, int doc, int line, const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    in->sink->error(in->sink->ctx, file, doc, line, msg);
}

static check_doc *push_doc(manifests *in)
{
    if (vec_grow(NULL, in->docs, in->n, in->cap, 64) != 0)
        return NULL;
    check_doc *d = &in->docs[in->n++];
    memset(d, 0, sizeof *d);
    return d;
}

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* A document that is not a Kubernetes object: a GitOps repository also holds Helm values,
 * flink-conf.yaml, Chart.yaml (apiVersion, no kind). Skipped and counted when the sink takes
 * them and --strict is off; otherwise an input error, as is an item of a List that is not an
 * object (the List itself is one). */
static void not_object(manifests *in, const char *file, int index, int line, bool top,
                       const char *why)
{
    if (top && !in->strict && in->skipped != NULL)
        in->skipped(in->skipped_ctx, file, index, line, why);
    else
        input_error(in, file, index, line, "%s", why);
}

/* Adds one object (a document, or an item of a List when not 'top'). */
static void add_object(manifests *in, const char *file, int index, const ynode *node, cJSON *json,
                       bool context_only, bool top)
{
    int line = node ? node->line : 0;
    if (!cJSON_IsObject(json)) {
        not_object(in, file, index, line, top, "the document is not a mapping");
        cJSON_Delete(json);
        return;
    }
    const char *api = str_at(json, "apiVersion"), *kind = str_at(json, "kind");
    if (api[0] == '\0' || kind[0] == '\0') {
        not_object(in, file, index, line, top,
                   api[0] == '\0' ? "the document has no apiVersion" : "the document has no kind");
        cJSON_Delete(json);
        return;
    }
    const cJSON *list_items = cJSON_GetObjectItemCaseSensitive(json, "items");
    size_t klen = strlen(kind);
    if (strcmp(kind, "List") == 0 && !cJSON_IsArray(list_items)) {
        input_error(in, file, index, line, "a List needs an items array%s", "");
        cJSON_Delete(json);
        return;
    }
    if (klen >= 4 && strcmp(kind + klen - 4, "List") == 0 && cJSON_IsArray(list_items)) {
        const ynode *items = yaml_get(node, "items");
        size_t i = 0;
        for (cJSON *it = cJSON_GetObjectItemCaseSensitive(json, "items")->child; it; it = it->next, i++)
            add_object(in, file, index, items && i < items->n ? items->items[i] : node,
                       cJSON_Duplicate(it, 1), context_only, false);
        cJSON_Delete(json);
        return;
    }
    check_doc *d = push_doc(in);
    if (d == NULL) {
        cJSON_Delete(json);
        return;
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(json, "metadata");
    *d = (check_doc){.file = file, .index = index, .line = line, .root = node, .json = json,
                     .api_version = api, .kind = kind, .namespace_ = str_at(md, "namespace"),
                     .name = str_at(md, "name"), .context_only = context_only};
}

void manifests_load_text(manifests *in, const char *file, const char *text, size_t len, bool context_only)
{
    ydoc *docs;
    size_t partial;
    diag_list dl;
    diag_list_init(&dl);
    long n = yaml_load(in->a, file, text, len, &docs, &partial, &dl);
    for (size_t i = 0; i < (n < 0 ? partial : (size_t)n); i++) {
        const ynode *r = docs[i].root;
        if (r->kind == YNODE_SCALAR && r->str[0] == '\0' && !r->quoted)
            continue; /* an empty document */
        if (docs[i].size > YAML_MAX_DOCUMENT) {
            input_error(in, file, (int)i + 1, docs[i].line, "the document is larger than %s (kube-apiserver's limit)",
                        "3 MiB");
            continue;
        }
        manifests_add_node(in, file, (int)i + 1, r, context_only);
    }
    if (n < 0)
        input_error(in, file, (int)partial + 1, dl.count ? dl.items[0].at.line : 0, "%s",
                    dl.count ? dl.items[0].msg : "invalid YAML");
    diag_list_clear(&dl);
}

static bool is_manifest(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

bool manifests_is_kustomization(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    return strcmp(name, "kustomization.yaml") == 0 || strcmp(name, "kustomization.yml") == 0 ||
           strcmp(name, "Kustomization") == 0;
}

/* Whether 'glob' matches 's' or one of its directories ('s' cut before a '/') longer than
 * 'keep' bytes: "apps/dev" leaves out the files below apps/dev/, but a directory named on the
 * command line (the first 'keep' bytes) is never matched itself. */
static bool match_path(const char *glob, const char *s, size_t keep)
{
    if (fnmatch(glob, s, 0) == 0)
        return true;
    char dir[PATH_MAX];
    for (const char *c = strchr(s, '/'); c != NULL; c = strchr(c + 1, '/')) {
        size_t n = (size_t)(c - s);
        if (n <= keep || n >= sizeof dir)
            continue;
        memcpy(dir, s, n);
        dir[n] = '\0';
        if (fnmatch(glob, dir, 0) == 0)
            return true;
    }
    return false;
}

/* 'glob' matches the file at 'path' (its part below the directory given is 'rel', and
 * 'keep' bytes of 'path' are that directory), by its path, a directory of it, or one name. */
static bool glob_matches(const char *glob, const char *path, size_t keep, const char *rel)
{
    if (match_path(glob, path, keep) || match_path(glob, rel, 0))
        return true;
    /* Each component below the directory given on its own: "charts" leaves out every file
     * under a charts/ directory */
    for (const char *c = rel; *c;) {
        const char *end = strchr(c, '/');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        char comp[256];
        if (len > 0 && len < sizeof comp) {
            memcpy(comp, c, len);
            comp[len] = '\0';
            if (fnmatch(glob, comp, 0) == 0)
                return true;
        }
        c += len + (end != NULL);
    }
    return false;
}

bool manifests_is_excluded(const char *path, size_t base, const char *const *globs, size_t n)
{
    size_t plen = strlen(path);
    const char *rel = path + (base <= plen ? base : plen);
    while (*rel == '/')
        rel++;
    size_t keep = base <= plen ? base : plen;
    while (path[0] == '.' && path[1] == '/') {
        path += 2;
        keep = keep >= 2 ? keep - 2 : 0;
    }
    for (size_t g = 0; g < n; g++) {
        /* a path as the shell completes it ("./apps/dev") names the same files as "apps/dev" */
        const char *glob = globs[g];
        while (glob[0] == '.' && glob[1] == '/')
            glob += 2;
        if (glob_matches(glob, path, keep, rel))
            return true;
        /* "**" is "*" to fnmatch, which lets '*' match '/' too; "**" then "/" may also stand
         * for no directory at all, as in .gitignore: "**" "/x.yaml" is x.yaml at the top too */
        if (strncmp(glob, "**/", 3) == 0 && glob_matches(glob + 3, path, keep, rel))
            return true;
    }
    return false;
}

static void load_file(manifests *in, const char *path, bool context_only)
{
    if (manifests_is_kustomization(path) && in->skipped != NULL) {
        /* kustomize's own input (its apiVersion and kind are kustomize's, not the API's) */
        in->skipped(in->skipped_ctx, arena_strdup(in->a, path), 0, 1, "a kustomization file");
        return;
    }
    buf b;
    diag_list dl;
    diag_list_init(&dl);
    buf_init(&b, INPUT_MAX);
    const char *file = arena_strdup(in->a, path);
    if (file_read(path, INPUT_MAX, &b, &dl) != 0)
        input_error(in, file, 0, 0, "%s", dl.count ? dl.items[0].msg : "cannot read");
    else
        manifests_load_text(in, file, b.data, b.len, context_only);
    buf_clear(&b);
    diag_list_clear(&dl);
}

void manifests_load_path(manifests *in, const char *path, bool context_only)
{
    if (strcmp(path, "-") == 0) {
        buf b;
        buf_init(&b, INPUT_MAX);
        char chunk[65536];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
            if (buf_append(&b, chunk, got) != 0) {
                input_error(in, "<stdin>", 0, 0, "standard input is larger than %s", "64 MiB");
                buf_clear(&b);
                return;
            }
        }
        manifests_load_text(in, "<stdin>", b.data ? b.data : "", b.len, context_only);
        buf_clear(&b);
        return;
    }
    diag_list dl;
    diag_list_init(&dl);
    char **files = NULL;
    size_t n = 0;
    if (file_list(path, is_manifest, MAX_INPUTS, &files, &n, &dl) != 0)
        for (size_t i = 0; i < dl.count; i++)
            input_error(in, dl.items[i].at.file, 0, 0, "%s", dl.items[i].msg);
    for (size_t i = 0; i < n; i++)
        if (strcmp(files[i], path) == 0 ||
            !manifests_is_excluded(files[i], strlen(path), in->exclude, in->n_exclude))
            load_file(in, files[i], context_only);
    file_list_free(files, n);
    diag_list_clear(&dl);
}

/* ---- lookup among the documents ---- */

/* A manifest often leaves its namespace to kubectl's context, so an empty namespace on either
 * side matches any. */
static bool doc_matches(const check_doc *d, const char *api, const char *kind, const char *ns)
{
    return strcmp(d->api_version, api) == 0 && strcmp(d->kind, kind) == 0 &&
           (ns[0] == '\0' || d->namespace_[0] == '\0' || strcmp(d->namespace_, ns) == 0);
}

/* The documents given win over --cluster-state (clusterState in a test), as they would once
 * applied; among either, the first one loaded. */
static enum policy_lookup_result find_doc(void *data, const char *api, const char *kind,
                                          const char *ns, const char *name, arena *a,
                                          const cJSON **out, const char **why)
{
    (void)a;
    (void)why;
    const manifests *in = data;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < in->n; i++) {
            const check_doc *d = &in->docs[i];
            if (d->context_only == (pass == 1) && doc_matches(d, api, kind, ns) &&
                strcmp(d->name, name) == 0) {
                *out = d->json;
                return LOOKUP_FOUND;
            }
        }
    }
    return LOOKUP_NOT_FOUND;
}

typedef struct listed {
    const check_doc *d;
    const char *ns; /* the namespace it is listed in */
    size_t index;   /* load order */
} listed;

/* By namespace, then name; for the same namespace/name the one that wins first. */
static int listed_cmp(const void *x, const void *y)
{
    const listed *a = x, *b = y;
    int c = strcmp(a->ns, b->ns);
    if (c == 0)
        c = strcmp(a->d->name, b->d->name);
    if (c == 0)
        c = (int)a->d->context_only - (int)b->d->context_only;
    return c != 0 ? c : (a->index > b->index) - (a->index < b->index);
}

/* lookupList over the documents, sorted by namespace then name, one object per
 * namespace/name (the one lookup() would find). Listing one namespace, a document without a
 * namespace is in it (kubectl's context); listing all, it is in "". */
static enum policy_lookup_result list_docs(void *data, const char *api, const char *kind,
                                           const char *ns, arena *a, const cJSON ***out,
                                           size_t *n, const char **why)
{
    const manifests *in = data;
    size_t count = 0;
    for (size_t i = 0; i < in->n; i++)
        count += doc_matches(&in->docs[i], api, kind, ns);
    *out = NULL;
    *n = 0;
    if (count == 0)
        return LOOKUP_NOT_FOUND;
    listed *l = arena_calloc(a, count, sizeof *l);
    const cJSON **objs = arena_calloc(a, count, sizeof *objs);
    if (l == NULL || objs == NULL) {
        *why = "out of memory";
        return LOOKUP_UNAVAILABLE;
    }
    size_t k = 0;
    for (size_t i = 0; i < in->n; i++) {
        const check_doc *d = &in->docs[i];
        if (doc_matches(d, api, kind, ns))
            l[k++] = (listed){d, ns[0] ? ns : d->namespace_, i};
    }
    qsort(l, count, sizeof *l, listed_cmp);
    for (size_t i = 0; i < count; i++)
        if (i == 0 || strcmp(l[i].ns, l[i - 1].ns) != 0 ||
            strcmp(l[i].d->name, l[i - 1].d->name) != 0)
            objs[(*n)++] = l[i].d->json;
    *out = objs;
    return LOOKUP_FOUND;
}

/* ---- checking one document ---- */

/* The observer of a check: which policies matched, and each one's patch as a JSON Patch. */
typedef struct run_ctx {
    const check_doc *d;
    const manifest_sink *sink;
} run_ctx;

static void on_matched(void *ctx, const policy *p)
{
    run_ctx *rc = ctx;
    if (rc->sink->matched != NULL)
        rc->sink->matched(rc->sink->ctx, rc->d, p);
}

static int on_mutated(void *ctx, const policy *p, const cJSON *before, const cJSON *after)
{
    run_ctx *rc = ctx;
    bool oom;
    char *patch = jsonpatch_diff(before, after, &oom);
    if (patch != NULL)
        rc->sink->patch(rc->sink->ctx, rc->d, p->name, patch);
    free(patch);
    return oom ? -1 : 0;
}

void manifests_run(const policy_set *set, const check_doc *d, const policy_lookup *lk,
                   bool warn_only, const char *context_ns, const manifest_sink *sink)
{
    admission_synth create = {.operation = ADMISSION_CREATE, .username = "streamguard-check",
                              .dry_run = true, .context_ns = context_ns};
    manifests_run_request(set, d, &create, lk, warn_only, sink);
}

void manifests_run_request(const policy_set *set, const check_doc *d, const admission_synth *rq,
                           const policy_lookup *lk, bool warn_only, const manifest_sink *sink)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    diag_list dl;
    diag_list_init(&dl);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    admission_request *req = a ? admission_request_synth(d->json, rq, a, &dl) : NULL;
    run_ctx ctx = {d, sink};
    policy_observer obs = {.matched = on_matched, .mutated = on_mutated, .ctx = &ctx};
    admission_policy pol = {.set = set, .warn_only = warn_only, .lookup = lk, .observer = &obs};
    admission_response resp;
    policy_outcome o;
    if (req == NULL || admission_decide_chain(req, &pol, a, &resp, &o, &dl) != 0) {
        sink->error(sink->ctx, d->file, d->index, d->line,
                    dl.count ? dl.items[0].msg : "out of memory");
    } else {
        for (size_t i = 0; i < o.n_findings; i++)
            sink->finding(sink->ctx, d, &o.findings[i]);
        check_verdict v = {.matched = o.n_matched > 0, .allowed = resp.allowed,
                           .n_denials = resp.n_denials, .n_warnings = resp.n_warnings,
                           .n_audit = resp.n_audit};
        clock_gettime(CLOCK_MONOTONIC, &t1);
        v.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        sink->document(sink->ctx, d, &v);
    }
    admission_request_free(req);
    arena_free(a);
    diag_list_clear(&dl);
}

void manifests_init(manifests *m, const manifest_sink *sink)
{
    memset(m, 0, sizeof *m);
    m->sink = sink;
    m->a = arena_new((size_t)1 << 30);
}

void manifests_add_node(manifests *m, const char *file, int index, const ynode *node,
                        bool context_only)
{
    diag_list conv;
    diag_list_init(&conv);
    cJSON *j = yaml_to_json(node, file, &conv);
    if (j == NULL)
        input_error(m, file, index, conv.count ? conv.items[0].at.line : node->line, "%s",
                    conv.count ? conv.items[0].msg : "cannot convert the document");
    else
        add_object(m, file, index, node, j, context_only, true);
    diag_list_clear(&conv);
}

policy_lookup manifests_lookup(manifests *m)
{
    return (policy_lookup){.find = find_doc, .list = list_docs, .data = m};
}

void manifests_free(manifests *m)
{
    for (size_t i = 0; i < m->n; i++)
        cJSON_Delete(m->docs[i].json);
    free(m->docs);
    arena_free(m->a);
    memset(m, 0, sizeof *m);
}
