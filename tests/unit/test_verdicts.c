/* test_verdicts.c - one verdict path: every resource of every PolicyTest in tests/policies/
 * is decided twice, by 'streamguard check' (manifests_run, which test and check share) and by
 * the webhook as kube-apiserver drives it on kubectl apply (the AdmissionReview of a CREATE,
 * built here, through admission_process() for /mutate, its patch applied, then for /validate
 * on the patched object), with the same policies and the same lookup(). The two must agree on
 * the verdict, on every deny, warning and audit message (in order), and on the object the
 * patches give (check reports one patch per policy, the webhook one for all).
 *
 * The webhook's side reads only the encoded answers, and applies patches with the strict
 * RFC 6902 applier of tests/fuzz/fuzz_util.h, so an answer that kube-apiserver could not use
 * fails here too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission/decide.h"
#include "admission/resource.h"
#include "cli/manifests.h"
#include "k8s/jsonpatch.h"
#include "util/file.h"

#define SG_FUZZ_NO_MAIN
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../fuzz/fuzz_util.h"
#pragma GCC diagnostic pop

#define TESTS_DIR "tests/policies"

/* What one side said about one document: messages by action, one per line, in order. */
typedef struct said {
    bool allowed;
    buf deny, warn, audit;
    cJSON *object; /* the document after the patches */
} said;

static void said_init(said *s, const cJSON *object)
{
    s->allowed = true;
    buf_init(&s->deny, 1u << 20);
    buf_init(&s->warn, 1u << 20);
    buf_init(&s->audit, 1u << 20);
    s->object = cJSON_Duplicate(object, 1);
}

static void said_clear(said *s)
{
    buf_clear(&s->deny);
    buf_clear(&s->warn);
    buf_clear(&s->audit);
    cJSON_Delete(s->object);
}

static void say(buf *b, const char *msg)
{
    buf_puts(b, msg);
    buf_append(b, "\n", 1);
}

/* ---- check's side: the sink of manifests_run ---- */

typedef struct suite {
    const char *file;
    said cli;            /* for the document being run */
    const check_doc *cur;
    int errors;
} suite;

static void on_error(void *ctx, const char *file, int doc, int line, const char *msg)
{
    suite *s = ctx;
    s->errors++;
    fprintf(stderr, "%s:%d: document %d: %s\n", file, line, doc, msg);
}

static void on_finding(void *ctx, const check_doc *d, const policy_finding *f)
{
    suite *s = ctx;
    assert_ptr_equal(d, s->cur);
    say(f->action == POLICY_DENY ? &s->cli.deny : f->action == POLICY_WARN ? &s->cli.warn
                                                                            : &s->cli.audit,
        f->message);
}

static void on_patch(void *ctx, const check_doc *d, const char *policy, const char *patch)
{
    suite *s = ctx;
    cJSON *next;
    const char *err = fuzz_patch_apply(s->cli.object, patch, strlen(patch), &next);
    if (err != NULL)
        fail_msg("%s: %s: the patch of %s does not apply: %s", s->file, d->name, policy, err);
    cJSON_Delete(s->cli.object);
    s->cli.object = next;
}

static void on_document(void *ctx, const check_doc *d, const check_verdict *v)
{
    suite *s = ctx;
    (void)d;
    s->cli.allowed = v->allowed;
}

/* ---- the webhook's side ---- */

static void add_gv(cJSON *to, const char *key, const char *group, const char *version,
                   const char *name_key, const char *name)
{
    cJSON *o = cJSON_AddObjectToObject(to, key);
    cJSON_AddStringToObject(o, "group", group);
    cJSON_AddStringToObject(o, "version", version);
    cJSON_AddStringToObject(o, name_key, name);
}

/* The AdmissionReview kube-apiserver sends on kubectl apply of 'd' with 'object' (as
 * the captured reviews in tests/fixtures/admission show), from the user check plays, into
 * kubectl's default namespace: a namespaced object that names none is sent in "default", in
 * request.namespace and in its metadata. malloc'd. */
static char *review_of(const check_doc *d, const cJSON *object)
{
    char group[256] = "";
    const char *slash = strchr(d->api_version, '/');
    const char *version = slash ? slash + 1 : d->api_version;
    if (slash != NULL)
        snprintf(group, sizeof group, "%.*s", (int)(slash - d->api_version), d->api_version);
    arena *a = arena_new(1u << 16);
    const char *resource = admission_kind_resource(group, d->kind, a, NULL);
    cJSON *root = cJSON_CreateObject(), *r = cJSON_AddObjectToObject(root, "request");
    cJSON_AddStringToObject(root, "kind", "AdmissionReview");
    cJSON_AddStringToObject(root, "apiVersion", "admission.k8s.io/v1");
    cJSON_AddStringToObject(r, "uid", "705ab4f5-6393-11e8-b7cc-42010a800002");
    add_gv(r, "kind", group, version, "kind", d->kind);
    add_gv(r, "resource", group, version, "resource", resource);
    add_gv(r, "requestKind", group, version, "kind", d->kind);
    add_gv(r, "requestResource", group, version, "resource", resource);
    cJSON_AddStringToObject(r, "name", d->name);
    const char *ns;
    cJSON *obj = fuzz_apiserver_object(group, d->kind, d->namespace_, object, &ns);
    cJSON_AddStringToObject(r, "namespace", ns);
    cJSON_AddStringToObject(r, "operation", "CREATE");
    cJSON *user = cJSON_AddObjectToObject(r, "userInfo");
    cJSON_AddStringToObject(user, "username", "streamguard-check");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(user, "groups"),
                         cJSON_CreateString("system:authenticated"));
    cJSON_AddItemToObject(r, "object", obj);
    cJSON_AddNullToObject(r, "oldObject");
    cJSON_AddTrueToObject(r, "dryRun");
    cJSON *opts = cJSON_AddObjectToObject(r, "options");
    cJSON_AddStringToObject(opts, "kind", "CreateOptions");
    cJSON_AddStringToObject(opts, "apiVersion", "meta.k8s.io/v1");
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    arena_free(a);
    assert_non_null(text);
    return text;
}

/* Sends 'd' with the object 'w->object' to the webhook in 'mode'; adds its answer to 'w'. */
static void webhook(enum admission_mode mode, const check_doc *d, const admission_policy *pol,
                    said *w)
{
    char *body = review_of(d, w->object);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    admission_result res;
    admission_process(mode, body, strlen(body), pol, a, &res);
    assert_int_equal(res.http_status, 200);
    cJSON *reply = cJSON_Parse(res.body);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(reply, "response"), *it;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(st, "message");
    w->allowed &= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "allowed"));
    /* the deny messages, which the status joins with "; " */
    if (cJSON_IsString(msg))
        say(&w->deny, msg->valuestring);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(resp, "warnings"))
        say(&w->warn, it->valuestring);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(resp, "auditAnnotations"))
        say(&w->audit, it->valuestring);
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(resp, "patch");
    if (cJSON_IsString(patch)) {
        size_t len;
        char *text = fuzz_base64(patch->valuestring, &len);
        cJSON *next;
        const char *err = text ? fuzz_patch_apply(w->object, text, len, &next) : "not base64";
        if (err != NULL)
            fail_msg("%s: the webhook's patch does not apply: %s", d->name, err);
        cJSON_Delete(w->object);
        w->object = next;
        free(text);
    }
    cJSON_Delete(reply);
    free(res.body);
    arena_free(a);
    free(body);
}

/* The deny messages of 'b' (one a line) as one status message joins them: "; ". The
 * webhook's side holds one status message per phase, check's one message per rule. */
static char *joined(const buf *b)
{
    const char *in = b->data ? b->data : "";
    char *out = malloc(2 * strlen(in) + 1), *o = out;
    assert_non_null(out);
    for (; *in; in++) {
        if (*in != '\n') {
            *o++ = *in;
        } else if (in[1] != '\0') {
            *o++ = ';';
            *o++ = ' ';
        }
    }
    *o = '\0';
    return out;
}

static void compare(const suite *s, const check_doc *d, const said *w)
{
    const char *what[] = {"warnings", "audit annotations"};
    const buf *cli[] = {&s->cli.warn, &s->cli.audit}, *hook[] = {&w->warn, &w->audit};
    if (s->cli.allowed != w->allowed)
        fail_msg("%s: %s/%s: check %s, the webhook %s", s->file, d->kind, d->name,
                 s->cli.allowed ? "allows" : "denies", w->allowed ? "allows" : "denies");
    char *deny = joined(&s->cli.deny), *hd = joined(&w->deny);
    if (strcmp(deny, hd) != 0)
        fail_msg("%s: %s: check denies\n%s\nthe webhook\n%s", s->file, d->name, deny, hd);
    free(deny);
    free(hd);
    for (int i = 0; i < 2; i++) {
        const char *c = cli[i]->data ? cli[i]->data : "", *h = hook[i]->data ? hook[i]->data : "";
        if (strcmp(c, h) != 0)
            fail_msg("%s: %s: check's %s\n%s\nthe webhook's\n%s", s->file, d->name, what[i], c, h);
    }
    if (!jsonpatch_equal(s->cli.object, w->object))
        fail_msg("%s: %s: check's patches and the webhook's give different objects", s->file,
                 d->name);
}

/* ---- reading a PolicyTest (as cmd_test.c does) ---- */

/* 'path' relative to the directory of the test file, into 'out'. */
static const char *relative(const char *file, const char *path, char *out, size_t cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", file);
    snprintf(out, cap, "%s/%s", dirname(dir), path);
    return out;
}

static void load_resources(suite *s, manifests *m, const ynode *list, bool context_only)
{
    for (size_t i = 0; list != NULL && i < list->n; i++) {
        const ynode *it = list->items[i];
        char path[4096];
        if (it->kind == YNODE_MAP)
            manifests_add_node(m, s->file, (int)i + 1, it, context_only);
        else
            manifests_load_path(m, relative(s->file, it->str, path, sizeof path), context_only);
    }
}

/* Returns how many documents of the PolicyTest 'file' were compared. */
static size_t run_file(const char *file)
{
    suite s = {.file = file};
    manifest_sink sink = {on_error, on_finding, on_patch, on_document, NULL, &s};
    manifests m;
    manifests_init(&m, &sink);
    size_t partial, compared = 0;
    diag_list dl;
    diag_list_init(&dl);
    buf b;
    buf_init(&b, 4u << 20);
    assert_int_equal(file_read(file, b.cap, &b, &dl), 0);
    ydoc *docs;
    long n = yaml_load(m.a, file, b.data, b.len, &docs, &partial, &dl);
    assert_true(n >= 1);
    const ynode *spec = yaml_get(docs[0].root, "spec"), *pl = yaml_get(spec, "policies");
    const char **paths = calloc(pl->n, sizeof *paths);
    char (*bufs)[4096] = calloc(pl->n, sizeof *bufs);
    for (size_t i = 0; i < pl->n; i++)
        paths[i] = relative(file, pl->items[i]->str, bufs[i], sizeof bufs[i]);
    policy_set *set = policy_set_load_paths(paths, pl->n, &dl);
    if (set == NULL)
        fail_msg("%s: the policies do not load", file);
    load_resources(&s, &m, yaml_get(spec, "resources"), false);
    load_resources(&s, &m, yaml_get(spec, "clusterState"), true);
    assert_int_equal(s.errors, 0);
    policy_lookup lk = manifests_lookup(&m);
    admission_policy pol = {.set = set, .lookup = &lk};
    for (size_t i = 0; i < m.n; i++) {
        const check_doc *d = &m.docs[i];
        if (d->context_only)
            continue;
        s.cur = d;
        said_init(&s.cli, d->json);
        manifests_run(set, d, &lk, false, NULL, &sink);
        assert_int_equal(s.errors, 0);
        said w;
        said_init(&w, d->json);
        webhook(ADMISSION_MUTATE, d, &pol, &w);
        webhook(ADMISSION_VALIDATE, d, &pol, &w);
        compare(&s, d, &w);
        said_clear(&w);
        said_clear(&s.cli);
        compared++;
    }
    policy_set_unref(set);
    free(paths);
    free(bufs);
    buf_clear(&b);
    diag_list_clear(&dl);
    manifests_free(&m);
    return compared;
}

static bool is_yaml(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

static void test_check_is_the_webhook(void **state)
{
    (void)state;
    char **files = NULL;
    size_t n = 0, docs = 0;
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(file_list(TESTS_DIR, is_yaml, 1024, &files, &n, &dl), 0);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        size_t k = run_file(files[i]);
        if (k == 0)
            fail_msg("%s: no resource compared", files[i]);
        docs += k;
    }
    printf("# %zu resources of %zu PolicyTest files: check and the webhook agree\n", docs, n);
    file_list_free(files, n);
    diag_list_clear(&dl);
}

/* A manifest that names no namespace is applied by kubectl to its context's namespace, and
 * kube-apiserver sends it there: request.namespace and metadata.namespace set, so a policy
 * that matches, excludes or reads the namespace decides on "default"; a cluster-scoped kind
 * stays without one. check used to send "" and decide otherwise. */
static void test_check_namespace_defaulted(void **state)
{
    (void)state;
    assert_int_equal(run_file("tests/fixtures/verdicts/namespace-test.yaml"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_check_is_the_webhook),
                                       cmocka_unit_test(test_check_namespace_defaulted)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
