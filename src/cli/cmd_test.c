/* cmd_test.c - 'streamguard test': policy unit tests written as YAML.
 *
 * A test file (kind: PolicyTest) names policy files, resources (manifest files or inline
 * documents) and cases: for a resource and a policy, the expected result (deny, warn,
 * audit, pass or skip), optionally a substring of the message and the expected patch. Each
 * resource runs exactly as in 'check' (manifests_run): a CREATE, mutations first,
 * validations on the mutated object, lookup() and lookupList() over all resources and
 * clusterState. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../k8s/jsonpatch.h"
#include "../util/buf.h"
#include "../util/file.h"
#include "../util/vec.h"
#include "check_out.h"
#include "cli.h"
#include "diagprint.h"
#include "manifests.h"

#define TEST_FILE_MAX ((size_t)4 << 20)
#define MAX_TEST_FILES 4096

static void usage(FILE *f)
{
    fprintf(f,
            "usage: streamguard test [-o text|junit] [PATH...]\n"
            "\n"
            "Runs policy tests: YAML files of kind PolicyTest (docs/policy-authoring.md, \"Testing\").\n"
            "PATH is a test file or a directory searched recursively for .yaml and .yml files\n"
            "holding a PolicyTest (other YAML files there are skipped). Default: the current\n"
            "directory.\n"
            "\n"
            "options:\n"
            "  -o, --output FORMAT  text (default) or junit\n"
            "  -h, --help           show this help\n"
            "\n"
            "Exit codes: 0 every case passed, 1 a case failed, 2 a usage error or a test file,\n"
            "policy or resource that cannot be loaded.\n");
}

/* ---- what one resource got from one policy ---- */

enum { GOT_MATCHED = 1, GOT_AUDIT = 2, GOT_WARN = 4, GOT_DENY = 8 };

typedef struct got {
    size_t doc;          /* index into the manifests */
    const char *policy;
    unsigned flags;
    buf messages;        /* every message, one per line */
    cJSON *patch;        /* the policy's patch, or NULL */
} got;

typedef struct suite {
    const char *file;
    manifests m;
    got *v;
    size_t n, cap;
    int errors;
} suite;

static got *got_for(suite *s, const check_doc *d, const char *policy)
{
    size_t doc = (size_t)(d - s->m.docs);
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].doc == doc && strcmp(s->v[i].policy, policy) == 0)
            return &s->v[i];
    if (vec_grow(NULL, s->v, s->n, s->cap, 32) != 0)
        return NULL;
    got *g = &s->v[s->n++];
    *g = (got){.doc = doc, .policy = policy};
    buf_init(&g->messages, (size_t)1 << 20);
    return g;
}

static void on_error(void *ctx, const char *file, int doc, int line, const char *msg)
{
    suite *s = ctx;
    s->errors++;
    if (doc > 0)
        fprintf(stderr, "%s:%d: error: document %d: %s\n", file, line, doc, msg);
    else
        fprintf(stderr, "%s: error: %s\n", file, msg);
}

static void on_finding(void *ctx, const check_doc *d, const policy_finding *f)
{
    got *g = got_for(ctx, d, f->policy->name);
    if (g == NULL)
        return;
    g->flags |= f->action == POLICY_DENY ? GOT_DENY : f->action == POLICY_WARN ? GOT_WARN : GOT_AUDIT;
    buf_puts(&g->messages, f->message);
    buf_append(&g->messages, "\n", 1);
}

static void on_patch(void *ctx, const check_doc *d, const char *policy, const char *patch)
{
    got *g = got_for(ctx, d, policy);
    if (g != NULL && g->patch == NULL)
        g->patch = cJSON_Parse(patch);
}

static void on_document(void *ctx, const check_doc *d, const check_verdict *v)
{
    (void)ctx;
    (void)d;
    (void)v;
}

static void on_matched(void *ctx, const check_doc *d, const policy *p)
{
    got *g = got_for(ctx, d, p->name);
    if (g != NULL)
        g->flags |= GOT_MATCHED;
}

/* ---- reading a test file ---- */

static const char *scalar(const ynode *n)
{
    return n != NULL && n->kind == YNODE_SCALAR ? n->str : NULL;
}

static void file_error(suite *s, const ynode *at, const char *fmt, const char *arg)
{
    s->errors++;
    fprintf(stderr, "%s:%d:%d: error[test.schema]: ", s->file, at ? at->line : 0, at ? at->col : 0);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
}

/* Keys of mapping 'n' must be among 'allowed'. */
static bool known_keys(suite *s, const ynode *n, const char *what, const char *const *allowed)
{
    if (n == NULL || n->kind != YNODE_MAP) {
        file_error(s, n, "%s must be a mapping", what);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->items[2 * i]->str;
        bool found = false;
        for (size_t j = 0; allowed[j] && !found; j++)
            found = strcmp(k, allowed[j]) == 0;
        if (!found) {
            file_error(s, n->items[2 * i], "unknown field '%s'", k);
            ok = false;
        }
    }
    return ok;
}

/* A path relative to the test file's directory ('out' holds it). */
static const char *relative(const suite *s, const char *path, char *out, size_t cap)
{
    if (path[0] == '/') {
        snprintf(out, cap, "%s", path);
        return out;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", s->file);
    snprintf(out, cap, "%s/%s", dirname(dir), path);
    return out;
}

static policy_set *load_policies(suite *s, const ynode *list)
{
    if (list == NULL || list->kind != YNODE_SEQ || list->n == 0) {
        file_error(s, list, "spec.policies must be a non-empty list of %s", "paths");
        return NULL;
    }
    char (*paths)[4096] = calloc(list->n, sizeof *paths);
    const char **ptrs = calloc(list->n, sizeof *ptrs);
    policy_set *set = NULL;
    bool ok = paths && ptrs;
    for (size_t i = 0; ok && i < list->n; i++) {
        const char *p = scalar(list->items[i]);
        if (p == NULL) {
            file_error(s, list->items[i], "a policy path must be a %s", "string");
            ok = false;
        } else {
            ptrs[i] = relative(s, p, paths[i], sizeof paths[i]);
        }
    }
    if (ok) {
        diag_list dl;
        diag_list_init(&dl);
        set = policy_set_load_paths(ptrs, list->n, &dl);
        if (set == NULL) {
            cli_print_diags(&dl, NULL, NULL, stderr);
            s->errors++;
        }
        diag_list_clear(&dl);
    }
    free(paths);
    free(ptrs);
    return set;
}

/* resources and clusterState: paths, or documents written inline. */
static void load_resources(suite *s, const ynode *list, const char *what, bool context_only)
{
    if (list == NULL)
        return;
    if (list->kind != YNODE_SEQ) {
        file_error(s, list, "%s must be a list of paths or inline documents", what);
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        const ynode *it = list->items[i];
        if (it->kind == YNODE_MAP) {
            manifests_add_node(&s->m, s->file, (int)i + 1, it, context_only);
        } else if (scalar(it) != NULL) {
            char path[4096];
            manifests_load_path(&s->m, relative(s, it->str, path, sizeof path), context_only);
        } else {
            file_error(s, it, "an item of %s must be a path or a mapping", what);
        }
    }
}

/* ---- cases ---- */

typedef struct outcome {
    char suite[512], name[256];
    bool ok;
    char detail[1024];
} outcome;

typedef struct run {
    outcome *v;
    size_t n, cap;
    int failed;
} run;

static outcome *push_outcome(run *r)
{
    if (vec_grow(NULL, r->v, r->n, r->cap, 64) != 0)
        return NULL;
    outcome *o = &r->v[r->n++];
    memset(o, 0, sizeof *o);
    return o;
}

/* The resource a case names: "name", "Kind/name" or "Kind/namespace/name". Returns the
 * index, -1 when none matches, -2 when several do. */
static long find_resource(const suite *s, const char *ref)
{
    char kind[256] = "", ns[256] = "", name[512] = "";
    const char *a = strchr(ref, '/'), *b = a ? strchr(a + 1, '/') : NULL;
    if (a == NULL) {
        snprintf(name, sizeof name, "%s", ref);
    } else {
        snprintf(kind, sizeof kind, "%.*s", (int)(a - ref), ref);
        if (b == NULL) {
            snprintf(name, sizeof name, "%s", a + 1);
        } else {
            snprintf(ns, sizeof ns, "%.*s", (int)(b - a - 1), a + 1);
            snprintf(name, sizeof name, "%s", b + 1);
        }
    }
    long found = -1;
    for (size_t i = 0; i < s->m.n; i++) {
        const check_doc *d = &s->m.docs[i];
        if (d->context_only || strcmp(d->name, name) != 0 || (kind[0] && strcmp(d->kind, kind) != 0) ||
            (ns[0] && strcmp(d->namespace_, ns) != 0))
            continue;
        if (found >= 0)
            return -2;
        found = (long)i;
    }
    return found;
}

static const char *verdict(unsigned flags)
{
    return flags & GOT_DENY ? "deny" : flags & GOT_WARN ? "warn" : flags & GOT_AUDIT ? "audit"
           : flags & GOT_MATCHED ? "pass" : "skip";
}

static void run_case(suite *s, const ynode *c, size_t index, run *r)
{
    static const char *const keys[] = {"name", "resource", "policy", "result", "message", "patch", NULL};
    static const char *const results[] = {"deny", "warn", "audit", "pass", "skip", NULL};
    outcome *o = push_outcome(r);
    if (o == NULL)
        return;
    snprintf(o->suite, sizeof o->suite, "%s", s->file);
    if (!known_keys(s, c, "a case", keys)) {
        snprintf(o->name, sizeof o->name, "case %zu", index + 1);
        snprintf(o->detail, sizeof o->detail, "the case is malformed (line %d)", c ? c->line : 0);
        r->failed++;
        return;
    }
    const char *res = scalar(yaml_get(c, "resource")), *pol = scalar(yaml_get(c, "policy"));
    const char *want = scalar(yaml_get(c, "result")), *msg = scalar(yaml_get(c, "message"));
    const char *name = scalar(yaml_get(c, "name"));
    if (name != NULL)
        snprintf(o->name, sizeof o->name, "%s", name);
    else
        snprintf(o->name, sizeof o->name, "case %zu", index + 1);
    bool valid_result = false;
    for (size_t i = 0; want && results[i]; i++)
        valid_result |= strcmp(want, results[i]) == 0;
    if (res == NULL || pol == NULL || !valid_result) {
        snprintf(o->detail, sizeof o->detail, "line %d: a case needs resource, policy and result "
                 "(deny, warn, audit, pass or skip)", c->line);
        r->failed++;
        return;
    }
    long at = find_resource(s, res);
    if (at < 0) {
        snprintf(o->detail, sizeof o->detail, "line %d: %s resource '%s'", c->line,
                 at == -1 ? "no" : "more than one", res);
        r->failed++;
        return;
    }
    const got *g = NULL;
    for (size_t i = 0; i < s->n && g == NULL; i++)
        if (s->v[i].doc == (size_t)at && strcmp(s->v[i].policy, pol) == 0)
            g = &s->v[i];
    const char *have = verdict(g ? g->flags : 0);
    const char *text = g && g->messages.data ? g->messages.data : "";
    if (strcmp(have, want) != 0) {
        snprintf(o->detail, sizeof o->detail, "%s, %s: want %s, got %s%s%.600s", res, pol, want, have,
                 text[0] ? ": " : "", text);
    } else if (msg != NULL && strstr(text, msg) == NULL) {
        snprintf(o->detail, sizeof o->detail, "%s, %s: the message does not contain '%s': %.600s", res,
                 pol, msg, text[0] ? text : "(no message)");
    } else {
        const ynode *pn = yaml_get(c, "patch");
        if (pn != NULL) {
            diag_list dl;
            diag_list_init(&dl);
            cJSON *want_patch = yaml_to_json(pn, s->file, &dl);
            cJSON *empty = cJSON_CreateArray();
            const cJSON *have_patch = g && g->patch ? g->patch : empty;
            if (want_patch == NULL || !jsonpatch_equal(want_patch, have_patch)) {
                char *t = cJSON_PrintUnformatted(have_patch);
                snprintf(o->detail, sizeof o->detail, "%s, %s: the patch differs; got %.800s", res, pol,
                         t ? t : "?");
                free(t);
            }
            cJSON_Delete(want_patch);
            cJSON_Delete(empty);
            diag_list_clear(&dl);
        }
    }
    o->ok = o->detail[0] == '\0';
    if (o->ok)
        snprintf(o->detail, sizeof o->detail, "%s, %s: %s", res, pol, have);
    else
        r->failed++;
}

/* Runs the test file 'path'. Returns 0; 1 when it holds no PolicyTest (and 'explicit' is
 * false: it is skipped); -1 on errors. */
static int run_file(const char *path, bool explicit_, run *r)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    static const char *const spec_keys[] = {"policies", "resources", "clusterState", "cases", NULL};
    suite s = {.file = path};
    manifest_sink sink = {on_error, on_finding, on_patch, on_document, on_matched, &s};
    manifests_init(&s.m, &sink);
    buf b;
    buf_init(&b, TEST_FILE_MAX);
    diag_list dl;
    diag_list_init(&dl);
    ydoc *docs = NULL;
    size_t partial = 0;
    long n = -1;
    int rc = -1;
    policy_set *set = NULL;
    s.file = arena_strdup(s.m.a, path);
    if (file_read(path, TEST_FILE_MAX, &b, &dl) == 0)
        n = yaml_load(s.m.a, s.file, b.data, b.len, &docs, &partial, &dl);
    if (n < 0) {
        cli_print_diags(&dl, NULL, NULL, stderr);
        goto out;
    }
    const ynode *root = NULL;
    for (long i = 0; i < n && root == NULL; i++) {
        const char *k = scalar(yaml_get(docs[i].root, "kind"));
        if (k != NULL && strcmp(k, "PolicyTest") == 0)
            root = docs[i].root;
    }
    if (root == NULL) {
        if (explicit_)
            fprintf(stderr, "%s: error: no document of kind PolicyTest\n", path);
        rc = explicit_ ? -1 : 1;
        goto out;
    }
    const char *api = scalar(yaml_get(root, "apiVersion"));
    const ynode *spec = yaml_get(root, "spec");
    if (!known_keys(&s, root, "a PolicyTest", top) || !known_keys(&s, spec, "spec", spec_keys))
        goto out;
    if (api == NULL || strcmp(api, "streamguard.dev/v1alpha1") != 0) {
        file_error(&s, yaml_get(root, "apiVersion"), "apiVersion must be %s", "streamguard.dev/v1alpha1");
        goto out;
    }
    set = load_policies(&s, yaml_get(spec, "policies"));
    if (set == NULL)
        goto out;
    load_resources(&s, yaml_get(spec, "resources"), "spec.resources", false);
    load_resources(&s, yaml_get(spec, "clusterState"), "spec.clusterState", true);
    const ynode *cases = yaml_get(spec, "cases");
    if (cases == NULL || cases->kind != YNODE_SEQ || cases->n == 0)
        file_error(&s, cases ? cases : spec, "spec.cases must be a non-empty %s", "list");
    if (s.errors > 0)
        goto out;
    policy_lookup lk = manifests_lookup(&s.m);
    for (size_t i = 0; i < s.m.n; i++)
        if (!s.m.docs[i].context_only)
            manifests_run(set, &s.m.docs[i], &lk, false, NULL, &sink);
    for (size_t i = 0; i < cases->n; i++)
        run_case(&s, cases->items[i], i, r);
    rc = s.errors > 0 ? -1 : 0;
out:
    for (size_t i = 0; i < s.n; i++) {
        buf_clear(&s.v[i].messages);
        cJSON_Delete(s.v[i].patch);
    }
    free(s.v);
    manifests_free(&s.m);
    policy_set_unref(set);
    buf_clear(&b);
    diag_list_clear(&dl);
    return rc;
}

/* ---- the report ---- */

static void print_junit(const run *r, FILE *f)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"streamguard test\" "
               "tests=\"%zu\" failures=\"%d\">\n", r->n, r->failed);
    for (size_t i = 0; i < r->n;) {
        size_t j = i, fails = 0;
        for (; j < r->n && strcmp(r->v[j].suite, r->v[i].suite) == 0; j++)
            fails += !r->v[j].ok;
        fputs("  <testsuite name=\"", f);
        cli_xml_escape(f, r->v[i].suite);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\">\n", j - i, fails);
        for (size_t k = i; k < j; k++) {
            fputs("    <testcase classname=\"", f);
            cli_xml_escape(f, r->v[k].suite);
            fputs("\" name=\"", f);
            cli_xml_escape(f, r->v[k].name);
            if (r->v[k].ok) {
                fputs("\"/>\n", f);
                continue;
            }
            fputs("\">\n      <failure message=\"", f);
            cli_xml_escape(f, r->v[k].detail);
            fputs("\"/>\n    </testcase>\n", f);
        }
        fputs("  </testsuite>\n", f);
        i = j;
    }
    fputs("</testsuites>\n", f);
}

static void print_text(const run *r, FILE *f)
{
    for (size_t i = 0; i < r->n; i++) {
        if (i == 0 || strcmp(r->v[i].suite, r->v[i - 1].suite) != 0)
            fprintf(f, "%s\n", r->v[i].suite);
        fprintf(f, "  %s %s (%s)\n", r->v[i].ok ? "ok  " : "FAIL", r->v[i].name, r->v[i].detail);
    }
}

static bool is_yaml(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

int cli_cmd_test(int argc, char **argv)
{
    static const struct option longs[] = {{"output", required_argument, NULL, 'o'},
                                          {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *format = "text";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'o': format = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "junit") != 0) {
        fprintf(stderr, "streamguard test: --output must be text or junit\n\n");
        usage(stderr);
        return 2;
    }
    char *dflt[] = {"."};
    char **paths = optind < argc ? argv + optind : dflt;
    int n_paths = optind < argc ? argc - optind : 1;
    run r = {0};
    int errors = 0, suites = 0;
    for (int i = 0; i < n_paths; i++) {
        diag_list dl;
        diag_list_init(&dl);
        char **files = NULL;
        size_t n = 0;
        struct stat st;
        bool dir = stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode);
        if (file_list(paths[i], is_yaml, MAX_TEST_FILES, &files, &n, &dl) != 0) {
            cli_print_diags(&dl, NULL, NULL, stderr);
            errors++;
        }
        for (size_t k = 0; k < n; k++) {
            int rc = run_file(files[k], !dir, &r);
            errors += rc < 0;
            suites += rc == 0;
        }
        file_list_free(files, n);
        diag_list_clear(&dl);
    }
    if (strcmp(format, "junit") == 0)
        print_junit(&r, stdout);
    else
        print_text(&r, stdout);
    size_t passed = r.n - (size_t)r.failed;
    fprintf(strcmp(format, "junit") == 0 ? stderr : stdout,
            "%d test file%s, %zu case%s: %zu passed, %d failed%s\n", suites, suites == 1 ? "" : "s",
            r.n, r.n == 1 ? "" : "s", passed, r.failed, errors ? " (and test files with errors)" : "");
    free(r.v);
    if (errors > 0 || (suites == 0 && r.n == 0)) {
        if (suites == 0 && errors == 0)
            fprintf(stderr, "streamguard test: no PolicyTest files found\n");
        return 2;
    }
    return r.failed > 0 ? 1 : 0;
}
