/* cmd_check.c - 'streamguard check': the dry run of the webhook over manifest files.
 *
 * Every document becomes what kube-apiserver would send: an AdmissionRequest for a CREATE.
 * Mutations run first and validations see the mutated object, as in a cluster. The same
 * engine decides as in the webhook. All documents are loaded before any is checked, so that
 * lookup() finds related objects among them (and in --cluster-state). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../k8s/jsonpatch.h"
#include "../policy/engine.h"
#include "../policy/yamldoc.h"
#include "../util/buf.h"
#include "../util/file.h"
#include "check_out.h"
#include "cli.h"
#include "diagprint.h"

#define INPUT_MAX  ((size_t)64 << 20) /* a file; each document is capped at YAML_MAX_DOCUMENT */
#define MAX_INPUTS 4096

static void usage(FILE *f)
{
    fprintf(f,
            "usage: streamguard check [-p DIR] [-o text|json|junit|sarif] [--cluster-state DIR]\n"
            "                         [--enforcement deny|warn] PATH...\n"
            "\n"
            "Checks Kubernetes manifests against the policies, as the webhook would on kubectl\n"
            "apply (each document is a CREATE; mutations run first, validations see their result).\n"
            "PATH is a file, a directory (searched recursively for .yaml, .yml and .json) or - for\n"
            "standard input. Multi-document YAML and kind: List are expanded.\n"
            "\n"
            "options:\n"
            "  -p, --policies DIR       policy files (default policies/)\n"
            "  -o, --output FORMAT      text (default), json, junit or sarif\n"
            "      --cluster-state DIR  more manifests, for lookup() only (not checked)\n"
            "      --enforcement MODE   deny (default) or warn: denies become warnings\n"
            "  -h, --help               show this help\n"
            "\n"
            "Exit codes: 0 nothing denied, 1 something denied, 2 a usage, policy or input error.\n");
}

/* ---- inputs ---- */

typedef struct inputs {
    check_doc *docs;
    size_t n, cap;
    check_report *rep;
    arena *a;
} inputs;

static void input_error(inputs *in, const char *file, int doc, int line, const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    check_report_error(in->rep, file, doc, line, msg);
}

static check_doc *push_doc(inputs *in)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 64;
        check_doc *d = realloc(in->docs, cap * sizeof *d);
        if (d == NULL)
            return NULL;
        in->docs = d;
        in->cap = cap;
    }
    check_doc *d = &in->docs[in->n++];
    memset(d, 0, sizeof *d);
    return d;
}

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Adds one object (a document, or an item of a List). */
static void add_object(inputs *in, const char *file, int index, const ynode *node, cJSON *json,
                       bool context_only)
{
    int line = node ? node->line : 0;
    if (!cJSON_IsObject(json)) {
        input_error(in, file, index, line, "the document is not a mapping%s", "");
        cJSON_Delete(json);
        return;
    }
    const char *api = str_at(json, "apiVersion"), *kind = str_at(json, "kind");
    if (api[0] == '\0' || kind[0] == '\0') {
        input_error(in, file, index, line, "the document has no %s",
                    api[0] == '\0' ? "apiVersion" : "kind");
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
                       cJSON_Duplicate(it, 1), context_only);
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

static void load_text(inputs *in, const char *file, const char *text, size_t len, bool context_only)
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
        diag_list conv;
        diag_list_init(&conv);
        cJSON *j = yaml_to_json(r, file, &conv);
        if (j == NULL)
            input_error(in, file, (int)i + 1, conv.count ? conv.items[0].at.line : docs[i].line, "%s",
                        conv.count ? conv.items[0].msg : "cannot convert the document");
        else
            add_object(in, file, (int)i + 1, r, j, context_only);
        diag_list_clear(&conv);
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

static void load_file(inputs *in, const char *path, bool context_only)
{
    buf b;
    diag_list dl;
    diag_list_init(&dl);
    buf_init(&b, INPUT_MAX);
    const char *file = arena_strdup(in->a, path);
    if (file_read(path, INPUT_MAX, &b, &dl) != 0)
        input_error(in, file, 0, 0, "%s", dl.count ? dl.items[0].msg : "cannot read");
    else
        load_text(in, file, b.data, b.len, context_only);
    buf_clear(&b);
    diag_list_clear(&dl);
}

static void load_path(inputs *in, const char *path, bool context_only)
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
        load_text(in, "<stdin>", b.data ? b.data : "", b.len, context_only);
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
        load_file(in, files[i], context_only);
    file_list_free(files, n);
    diag_list_clear(&dl);
}

/* ---- lookup among the documents ---- */

/* A manifest often leaves its namespace to kubectl's context, so an empty namespace on either
 * side matches any. */
static const cJSON *find_doc(void *data, const char *api, const char *kind, const char *ns,
                             const char *name)
{
    const inputs *in = data;
    for (size_t i = 0; i < in->n; i++) {
        const check_doc *d = &in->docs[i];
        if (strcmp(d->api_version, api) == 0 && strcmp(d->kind, kind) == 0 &&
            (ns[0] == '\0' || d->namespace_[0] == '\0' || strcmp(d->namespace_, ns) == 0) &&
            strcmp(d->name, name) == 0)
            return d->json;
    }
    return NULL;
}

/* ---- checking one document ---- */

/* The AdmissionRequest kube-apiserver would send for creating 'd'. */
static cJSON *synth_request(const check_doc *d, const char *group, const char *version)
{
    cJSON *r = cJSON_CreateObject(), *k = cJSON_AddObjectToObject(r, "kind");
    cJSON *u = cJSON_AddObjectToObject(r, "userInfo");
    if (k == NULL || u == NULL) {
        cJSON_Delete(r);
        return NULL;
    }
    cJSON_AddStringToObject(r, "uid", "streamguard-check");
    cJSON_AddStringToObject(k, "group", group);
    cJSON_AddStringToObject(k, "version", version);
    cJSON_AddStringToObject(k, "kind", d->kind);
    cJSON_AddStringToObject(r, "name", d->name);
    cJSON_AddStringToObject(r, "namespace", d->namespace_);
    cJSON_AddStringToObject(r, "operation", "CREATE");
    cJSON_AddStringToObject(u, "username", "streamguard-check");
    cJSON_AddBoolToObject(r, "dryRun", true);
    return r;
}

static void check_doc_run(const policy_set *set, check_doc *d, const policy_lookup *lk,
                          bool warn_only, check_report *rep)
{
    char group[256] = "", version[128];
    const char *slash = strchr(d->api_version, '/');
    if (slash != NULL)
        snprintf(group, sizeof group, "%.*s", (int)(slash - d->api_version), d->api_version);
    snprintf(version, sizeof version, "%s", slash ? slash + 1 : d->api_version);
    cJSON *req = synth_request(d, group, version);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    if (req == NULL || a == NULL) {
        check_report_error(rep, d->file, d->index, d->line, "out of memory");
        cJSON_Delete(req);
        arena_free(a);
        return;
    }
    policy_request r = {.group = group, .version = version, .kind = d->kind, .sub_resource = "",
                        .namespace_ = d->namespace_, .name = d->name, .op = 0,
                        .username = "streamguard-check", .object = d->json, .request = req,
                        .lookup = lk};
    /* Mutations, policy by policy, each reported with its own patch. */
    size_t n;
    const policy *ps = policy_set_items(set, &n);
    policy_outcome o = {0};
    cJSON *work = cJSON_Duplicate(d->json, 1);
    size_t matched = 0;
    for (size_t i = 0; work && i < n; i++) {
        if (ps[i].n_mutations == 0 || !policy_matches(&ps[i], &r))
            continue;
        matched++;
        cJSON *before = cJSON_Duplicate(work, 1);
        if (before == NULL || policy_engine_mutate_one(&ps[i], &r, work, a, &o) != 0) {
            cJSON_Delete(before);
            break;
        }
        bool oom;
        char *patch = jsonpatch_diff(before, work, &oom);
        if (patch != NULL)
            check_report_patch(rep, d, ps[i].name, patch);
        free(patch);
        cJSON_Delete(before);
    }
    /* Validations on the mutated object. */
    r.object = work ? work : d->json;
    policy_outcome v;
    if (policy_engine_run(set, ENGINE_VALIDATE, &r, warn_only, a, &v) != 0) {
        check_report_error(rep, d->file, d->index, d->line, "out of memory");
    } else {
        for (size_t i = 0; i < o.n_findings; i++) {
            if (warn_only && o.findings[i].action == POLICY_DENY)
                o.findings[i].action = POLICY_WARN;
            check_report_finding(rep, d, &o.findings[i]);
        }
        for (size_t i = 0; i < v.n_findings; i++)
            check_report_finding(rep, d, &v.findings[i]);
        check_report_document(rep, d, matched + v.n_matched > 0);
    }
    cJSON_Delete(work);
    cJSON_Delete(req);
    arena_free(a);
}

int cli_cmd_check(int argc, char **argv)
{
    static const struct option longs[] = {
        {"policies", required_argument, NULL, 'p'}, {"output", required_argument, NULL, 'o'},
        {"cluster-state", required_argument, NULL, 'c'}, {"enforcement", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *policies = "policies/", *format = "text", *cluster = NULL;
    bool warn_only = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'p': policies = optarg; break;
        case 'o': format = optarg; break;
        case 'c': cluster = optarg; break;
        case 'e':
            if (strcmp(optarg, "warn") != 0 && strcmp(optarg, "deny") != 0) {
                fprintf(stderr, "streamguard check: --enforcement must be deny or warn\n");
                return 2;
            }
            warn_only = strcmp(optarg, "warn") == 0;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    enum check_format fmt;
    if (check_parse_format(format, &fmt) != 0 || optind >= argc) {
        fprintf(stderr, "streamguard check: %s\n\n",
                optind >= argc ? "give at least one PATH (or - for standard input)"
                               : "--output must be text, json, junit or sarif");
        usage(stderr);
        return 2;
    }
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load_dir(policies, &dl);
    if (set == NULL) {
        cli_print_diags(&dl, NULL, NULL, stderr);
        fprintf(stderr, "streamguard check: the policies in %s have errors (streamguard lint %s)\n",
                policies, policies);
        diag_list_clear(&dl);
        return 2;
    }
    check_report *rep = check_report_new(fmt);
    inputs in = {.rep = rep, .a = arena_new((size_t)1 << 30)};
    for (int i = optind; i < argc; i++)
        load_path(&in, argv[i], false);
    if (cluster != NULL)
        load_path(&in, cluster, true);
    policy_lookup lk = {.find = find_doc, .data = &in};
    for (size_t i = 0; i < in.n; i++)
        if (!in.docs[i].context_only)
            check_doc_run(set, &in.docs[i], &lk, warn_only, rep);
    int rc = check_report_finish(rep, stdout);
    for (size_t i = 0; i < in.n; i++)
        cJSON_Delete(in.docs[i].json);
    free(in.docs);
    arena_free(in.a);
    policy_set_unref(set);
    diag_list_clear(&dl);
    return rc;
}
