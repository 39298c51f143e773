/* cmd_test.c - 'streamguard test': policy unit tests written as YAML.
 *
 * A test file (kind: PolicyTest) names policy files, resources (manifest files or inline
 * documents) and cases: for a resource and a policy, the expected result (deny, warn,
 * audit, pass or skip), optionally a substring of the message and the expected patch. Each
 * resource runs exactly as in 'check' (manifests_run): a CREATE, mutations first,
 * validations on the mutated object, lookup() and lookupList() over all resources and
 * clusterState. A case that sets operation, oldResource, userInfo or dryRun is decided again
 * on that request (manifests_run_request). */
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
            "holding a document of kind PolicyTest; the other YAML files there (manifests, Helm\n"
            "values, even invalid YAML) are skipped unread. Default: the current directory.\n"
            "A case may set operation (CREATE, UPDATE, DELETE, CONNECT), oldResource (UPDATE),\n"
            "userInfo {username, groups} and dryRun; a failed case shows want and got.\n"
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
    const policy_set *set; /* for the cases that run their own request */
    policy_lookup lk;
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
    char detail[2048];          /* ok: what came; failed: why, on one line */
    char want[1024], got[2048]; /* a failed comparison: the two sides, one above the other */
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

#define MAX_GROUPS 32

/* The request of a case that names operation, oldResource, userInfo or dryRun. 'old' is a
 * copy of the oldResource (the caller deletes it). */
typedef struct case_request {
    bool custom; /* false: the CREATE every resource got */
    admission_synth rq;
    const char *groups[MAX_GROUPS];
    cJSON *old;
    char what[600]; /* " (UPDATE from r-old, user alice)" for the report */
} case_request;

/* Appends to the report text of 'cr' at '*w', which never passes its end. */
static void what_add(case_request *cr, size_t *w, const char *fmt, const char *arg)
{
    if (*w < sizeof cr->what)
        *w += (size_t)snprintf(cr->what + *w, sizeof cr->what - *w, fmt, arg);
}

/* oldResource: another resource of the same kind, sent as oldObject under the name of 'd'. */
static const char *read_old_resource(suite *s, const ynode *old, const check_doc *d,
                                     case_request *cr, size_t *w, char *why, size_t cap)
{
    const char *ref = scalar(old);
    long o = ref ? find_resource(s, ref) : -1;
    if (cr->rq.operation != ADMISSION_UPDATE) {
        snprintf(why, cap, "line %d: oldResource is for operation UPDATE only", old->line);
        return why;
    }
    if (o < 0) {
        snprintf(why, cap, "line %d: %s resource '%.200s' for oldResource", old->line,
                 o == -2 ? "more than one" : "no", ref ? ref : "(not a string)");
        return why;
    }
    const check_doc *od = &s->m.docs[o];
    if (strcmp(od->api_version, d->api_version) != 0 || strcmp(od->kind, d->kind) != 0) {
        snprintf(why, cap, "line %d: oldResource '%.200s' is a %.100s %.100s, the resource "
                 "a %.100s %.100s (an UPDATE keeps the kind)", old->line, ref, od->api_version,
                 od->kind, d->api_version, d->kind);
        return why;
    }
    /* kube-apiserver never renames an object, so the old one is sent under the resource's
     * name and namespace: the two entries of resources need different names to be told
     * apart. */
    cr->old = cJSON_Duplicate(od->json, 1);
    cJSON *md = cJSON_GetObjectItemCaseSensitive(cr->old, "metadata");
    if (cJSON_IsObject(md)) {
        cJSON_DeleteItemFromObjectCaseSensitive(md, "name");
        cJSON_DeleteItemFromObjectCaseSensitive(md, "namespace");
        cJSON_AddStringToObject(md, "name", d->name);
        if (d->namespace_[0] != '\0')
            cJSON_AddStringToObject(md, "namespace", d->namespace_);
    }
    cr->rq.old_object = cr->old;
    what_add(cr, w, " from %.200s", ref);
    return NULL;
}

/* userInfo: a non-empty username and at most MAX_GROUPS group names. */
static const char *read_user_info(suite *s, const ynode *ui, case_request *cr, size_t *w, char *why,
                                  size_t cap)
{
    static const char *const ui_keys[] = {"username", "groups", NULL};
    if (!known_keys(s, ui, "userInfo", ui_keys)) {
        snprintf(why, cap, "line %d: userInfo takes username and groups", ui->line);
        return why;
    }
    const ynode *un = yaml_get(ui, "username"), *gs = yaml_get(ui, "groups");
    if (un != NULL && (scalar(un) == NULL || un->str[0] == '\0')) {
        snprintf(why, cap, "line %d: userInfo.username must be a non-empty string", un->line);
        return why;
    }
    if (un != NULL)
        cr->rq.username = un->str;
    if (gs != NULL && (gs->kind != YNODE_SEQ || gs->n > MAX_GROUPS)) {
        snprintf(why, cap, "line %d: userInfo.groups must be a list of at most %d strings",
                 gs->line, MAX_GROUPS);
        return why;
    }
    for (size_t i = 0; gs != NULL && i < gs->n; i++) {
        cr->groups[i] = scalar(gs->items[i]);
        if (cr->groups[i] == NULL) {
            snprintf(why, cap, "line %d: userInfo.groups must be a list of strings",
                     gs->items[i]->line);
            return why;
        }
    }
    cr->rq.groups = gs ? cr->groups : NULL;
    cr->rq.n_groups = gs ? gs->n : 0;
    what_add(cr, w, ", user %.200s", cr->rq.username);
    return NULL;
}

/* Reads the request keys of case 'c' on resource 'at' into 'cr'. Returns NULL, or why the
 * case is malformed (in 'why'). */
static const char *read_request(suite *s, const ynode *c, long at, case_request *cr, char *why,
                                size_t cap)
{
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT", NULL};
    const ynode *op = yaml_get(c, "operation"), *old = yaml_get(c, "oldResource");
    const ynode *ui = yaml_get(c, "userInfo"), *dry = yaml_get(c, "dryRun");
    *cr = (case_request){.custom = op || old || ui || dry};
    /* What check sends: kubectl apply --dry-run=server by streamguard-check. */
    cr->rq = (admission_synth){.operation = ADMISSION_CREATE, .username = "streamguard-check",
                               .dry_run = true};
    if (!cr->custom)
        return NULL;
    size_t w = 0, i = 0;
    const char *v = op ? scalar(op) : NULL;
    while (v != NULL && ops[i] != NULL && strcmp(v, ops[i]) != 0)
        i++;
    if (op != NULL && (v == NULL || ops[i] == NULL)) {
        snprintf(why, cap, "line %d: operation must be CREATE, UPDATE, DELETE or CONNECT",
                 op->line);
        return why;
    }
    if (op != NULL)
        cr->rq.operation = (enum admission_op)i;
    what_add(cr, &w, " (%s", admission_op_name(cr->rq.operation));
    if (cr->rq.operation == ADMISSION_UPDATE && old == NULL) {
        snprintf(why, cap, "line %d: an UPDATE needs oldResource (the object before the change)",
                 c->line);
        return why;
    }
    if (old != NULL && read_old_resource(s, old, &s->m.docs[at], cr, &w, why, cap) != NULL)
        return why;
    if (ui != NULL && read_user_info(s, ui, cr, &w, why, cap) != NULL)
        return why;
    if (dry != NULL) {
        v = scalar(dry);
        /* a quoted "true" is a string, not a bool */
        if (v == NULL || dry->quoted || (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)) {
            snprintf(why, cap, "line %d: dryRun must be true or false", dry->line);
            return why;
        }
        cr->rq.dry_run = strcmp(v, "true") == 0;
        what_add(cr, &w, ", dryRun %s", v);
    }
    what_add(cr, &w, "%s", ")");
    return NULL;
}

/* Copies 'text' (lines) into 'out', each line after the first indented to line up under the
 * first in the side-by-side report. */
static void side(char *out, size_t cap, const char *head, const char *text)
{
    size_t w = (size_t)snprintf(out, cap, "%s", head);
    for (const char *p = text; *p && w + 1 < cap; p++) {
        if (*p == '\n' && p[1] == '\0')
            break;
        w += (size_t)snprintf(out + w, cap - w, *p == '\n' ? "\n               " : "%c", *p);
    }
}

/* The scalar keys of a case, once checked: every one but 'msg' is non-NULL. */
typedef struct case_keys {
    const char *res, *pol, *want, *msg;
} case_keys;

/* Names outcome 'o' and checks the keys of case 'c'. Returns false, with 'o->detail' set,
 * when the case is malformed. */
static bool read_case_keys(suite *s, const ynode *c, size_t index, outcome *o, case_keys *k)
{
    static const char *const keys[] = {"name", "resource", "policy", "result", "message", "patch",
                                       "operation", "oldResource", "userInfo", "dryRun", NULL};
    static const char *const results[] = {"deny", "warn", "audit", "pass", "skip", NULL};
    if (!known_keys(s, c, "a case", keys)) {
        snprintf(o->name, sizeof o->name, "case %zu", index + 1);
        snprintf(o->detail, sizeof o->detail, "the case is malformed (line %d)", c ? c->line : 0);
        return false;
    }
    k->res = scalar(yaml_get(c, "resource"));
    k->pol = scalar(yaml_get(c, "policy"));
    k->want = scalar(yaml_get(c, "result"));
    k->msg = scalar(yaml_get(c, "message"));
    const char *name = scalar(yaml_get(c, "name"));
    if (name != NULL)
        snprintf(o->name, sizeof o->name, "%s", name);
    else
        snprintf(o->name, sizeof o->name, "case %zu", index + 1);
    bool valid_result = false;
    for (size_t i = 0; k->want && results[i]; i++)
        valid_result |= strcmp(k->want, results[i]) == 0;
    if (k->res == NULL || k->pol == NULL || !valid_result) {
        snprintf(o->detail, sizeof o->detail, "line %d: a case needs resource, policy and result "
                 "(deny, warn, audit, pass or skip)", c->line);
        return false;
    }
    return true;
}

/* Compares what the resource got ('g') with case 'c': the verdict, then the message, then
 * the patch (as JSON Patches, so key order aside); the first that differs fills 'o'. */
static void compare_case(const suite *s, const ynode *c, const case_keys *k, const got *g,
                         const char *where, outcome *o)
{
    const char *have = verdict(g ? g->flags : 0);
    const char *text = g && g->messages.data ? g->messages.data : "";
    char head[128];
    if (strcmp(have, k->want) != 0) {
        snprintf(o->detail, sizeof o->detail, "%s: the verdict differs", where);
        snprintf(o->want, sizeof o->want, "%s", k->want);
        snprintf(head, sizeof head, "%s%s", have, text[0] ? ": " : "");
        side(o->got, sizeof o->got, head, text);
    } else if (k->msg != NULL && strstr(text, k->msg) == NULL) {
        snprintf(o->detail, sizeof o->detail, "%s: the message does not contain '%.400s'", where,
                 k->msg);
        snprintf(o->want, sizeof o->want, "%s: a message containing '%.900s'", k->want, k->msg);
        snprintf(head, sizeof head, "%s: ", have);
        side(o->got, sizeof o->got, head, text[0] ? text : "(no message)");
    } else if (yaml_get(c, "patch") != NULL) {
        diag_list dl;
        diag_list_init(&dl);
        cJSON *want_patch = yaml_to_json(yaml_get(c, "patch"), s->file, &dl);
        cJSON *empty = cJSON_CreateArray();
        const cJSON *have_patch = g && g->patch ? g->patch : empty;
        if (want_patch == NULL || !jsonpatch_equal(want_patch, have_patch)) {
            char *t = cJSON_PrintUnformatted(have_patch);
            char *u = want_patch ? cJSON_PrintUnformatted(want_patch) : NULL;
            snprintf(o->detail, sizeof o->detail, "%s: the patch differs", where);
            snprintf(o->want, sizeof o->want, "%.1000s", u ? u : "(not a JSON Patch)");
            snprintf(o->got, sizeof o->got, "%.2000s", t ? t : "?");
            free(t);
            free(u);
        }
        cJSON_Delete(want_patch);
        cJSON_Delete(empty);
        diag_list_clear(&dl);
    }
}

static void run_case(suite *s, const ynode *c, size_t index, run *r)
{
    outcome *o = push_outcome(r);
    if (o == NULL)
        return;
    snprintf(o->suite, sizeof o->suite, "%s", s->file);
    case_keys k;
    if (!read_case_keys(s, c, index, o, &k)) {
        r->failed++;
        return;
    }
    long at = find_resource(s, k.res);
    if (at < 0) {
        snprintf(o->detail, sizeof o->detail, "line %d: %s resource '%s'", c->line,
                 at == -1 ? "no" : "more than one", k.res);
        r->failed++;
        return;
    }
    case_request cr;
    const char *bad = read_request(s, c, at, &cr, o->detail, sizeof o->detail);
    suite own = {.file = s->file, .m = s->m}; /* the results of this case's own request */
    const suite *from = s;
    if (bad == NULL && cr.custom) {
        manifest_sink sink = {on_error, on_finding, on_patch, on_document, on_matched, &own};
        manifests_run_request(s->set, &s->m.docs[at], &cr.rq, &s->lk, false, &sink);
        from = &own;
        if (own.errors > 0)
            snprintf(o->detail, sizeof o->detail, "%.200s%.400s, %.150s: the request could not "
                     "be decided (the error is above)", k.res, cr.what, k.pol);
    }
    const got *g = NULL;
    for (size_t i = 0; i < from->n && g == NULL; i++)
        if (from->v[i].doc == (size_t)at && strcmp(from->v[i].policy, k.pol) == 0)
            g = &from->v[i];
    char where[800]; /* "r (UPDATE from r-old), policy" */
    snprintf(where, sizeof where, "%.200s%.400s, %.150s", k.res, cr.what, k.pol);
    if (o->detail[0] == '\0') /* else malformed or undecided: said above */
        compare_case(s, c, &k, g, where, o);
    o->ok = o->detail[0] == '\0';
    if (o->ok)
        snprintf(o->detail, sizeof o->detail, "%s: %s", where, verdict(g ? g->flags : 0));
    else
        r->failed++;
    for (size_t i = 0; i < own.n; i++) {
        buf_clear(&own.v[i].messages);
        cJSON_Delete(own.v[i].patch);
    }
    free(own.v);
    cJSON_Delete(cr.old);
}

/* Whether 'text' may hold a document of kind PolicyTest: "kind" ':' "PolicyTest", with the
 * quotes and blanks YAML and JSON allow between them. A directory holds manifests, Helm values
 * and other YAML beside the tests; only files that pass this are parsed, so their errors (or
 * their size) are not the tests' (the parse then decides). */
static bool mentions_policytest(const char *text, size_t len)
{
    static const char word[] = "PolicyTest";
    if (text == NULL)
        return false;
    const char *end = text + len;
    for (const char *p = text; (p = memmem(p, (size_t)(end - p), word, sizeof word - 1)) != NULL;
         p += sizeof word - 1) {
        const char *q = p;
        while (q > text && strchr("\"' \t", q[-1]) != NULL)
            q--;
        if (q == text || q[-1] != ':')
            continue;
        q--;
        while (q > text && strchr("\"' \t", q[-1]) != NULL)
            q--;
        if (q - text >= 4 && memcmp(q - 4, "kind", 4) == 0)
            return true;
    }
    return false;
}

/* Runs the test file 'path'. Returns 0; 1 when it holds no PolicyTest (and 'explicit' is
 * false: it is skipped, and so is a file that names no kind PolicyTest or is too large to be
 * one, whatever else is wrong with it); -1 on errors. */
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
    bool read = file_read(path, TEST_FILE_MAX, &b, &dl) == 0;
    if (!explicit_ && ((!read && dl.count > 0 && strcmp(dl.items[0].code, "io.too_large") == 0) ||
                       (read && !mentions_policytest(b.data, b.len)))) {
        rc = 1; /* found by a directory scan and not a test: not ours to judge */
        goto out;
    }
    if (read)
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
    s.set = set;
    s.lk = manifests_lookup(&s.m);
    for (size_t i = 0; i < s.m.n; i++)
        if (!s.m.docs[i].context_only)
            manifests_run(set, &s.m.docs[i], &s.lk, false, NULL, &sink);
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
            if (r->v[k].want[0] == '\0') {
                fputs("\"/>\n    </testcase>\n", f);
                continue;
            }
            fputs("\">want: ", f);
            cli_xml_escape(f, r->v[k].want);
            fputs("\ngot:  ", f);
            cli_xml_escape(f, r->v[k].got);
            fputs("</failure>\n    </testcase>\n", f);
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
        if (!r->v[i].ok && r->v[i].want[0] != '\0') /* one above the other, to compare */
            fprintf(f, "         want: %s\n         got:  %s\n", r->v[i].want, r->v[i].got);
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
