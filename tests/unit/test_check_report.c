/* test_check_report.c - the report of streamguard check (src/cli/check_out.c, check_ci.c) and
 * what check reads (src/cli/manifests.c): where a finding's field is in the manifest (the
 * deepest node of the path that exists), which files --exclude leaves out, which documents are
 * skipped as not Kubernetes objects, and the exit code when a deny and an input error meet.
 * The JUnit and SARIF forms are checked with real parsers by tests/integration/ci_test.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/check_ci.c"
#include "cli/check_out.c"
#include "cli/manifests.c"

/* A FlinkDeployment as a user writes it: flow and block styles, a key holding dots, a list. */
static const char manifest[] =
    "apiVersion: flink.apache.org/v1beta1\n"                 /* 1 */
    "kind: FlinkDeployment\n"                                /* 2 */
    "metadata:\n"                                            /* 3 */
    "  name: web\n"                                          /* 4 */
    "  annotations: {a.b/c: x}\n"                            /* 5 */
    "spec:\n"                                                /* 6 */
    "  flinkConfiguration:\n"                                /* 7 */
    "    high-availability: kubernetes\n"                    /* 8 */
    "    high-availability.storageDir: file:///ha\n"         /* 9 */
    "  taskManager:\n"                                       /* 10 */
    "    resource:\n"                                        /* 11 */
    "      cpu: 1\n"                                         /* 12 */
    "  podTemplate:\n"                                       /* 13 */
    "    spec:\n"                                            /* 14 */
    "      containers:\n"                                    /* 15 */
    "        - name: flink-main-container\n"                 /* 16 */
    "          image: flink:1.20\n"                          /* 17 */
    "        - name: sidecar\n"                              /* 18 */
    "          env: [{name: A, value: b}]\n";                /* 19 */

static const struct {
    const char *field;
    int line, col;
} fields[] = {
    {"spec.taskManager.resource.cpu", 12, 7},
    /* a missing field points at its parent, however deep the rest of the path goes */
    {"spec.taskManager.resource.memory", 11, 5},
    {"spec.taskManager.resources.limits.cpu", 10, 3},
    {"spec.jobManager.resource.cpu", 6, 1},
    /* a key with dots is matched whole, and is preferred to a shorter key */
    {"spec.flinkConfiguration.high-availability.storageDir", 9, 5},
    {"spec.flinkConfiguration.high-availability", 8, 5},
    {"spec.flinkConfiguration['high-availability.storageDir']", 9, 5},
    {"spec.flinkConfiguration[\"high-availability\"]", 8, 5},
    {"metadata.annotations['a.b/c']", 5, 17},
    {"metadata.annotations.a.b/c", 5, 17},
    {"metadata.annotations['a.b/d']", 5, 3},
    /* indexes; one past the end, or on a mapping, stops at the list */
    {"spec.podTemplate.spec.containers[1].env[0].value", 19, 27},
    {"spec.podTemplate.spec.containers[0].image", 17, 11},
    {"spec.podTemplate.spec.containers[1]", 18, 11},
    {"spec.podTemplate.spec.containers[2].image", 15, 7},
    {"spec.podTemplate.spec.containers[x]", 15, 7},
    {"spec.taskManager[0]", 10, 3},
    /* nothing of the path: the document's line */
    {"status.jobStatus", 1, 0},
    {"", 1, 0},
};

static void test_field_position(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    ydoc *docs;
    size_t partial;
    diag_list dl;
    diag_list_init(&dl);
    long n = yaml_load(a, "m.yaml", manifest, sizeof manifest - 1, &docs, &partial, &dl);
    assert_int_equal(n, 1);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int col = -1;
        int line = check_field_pos(docs[0].root, fields[i].field, 1, &col);
        if (line != fields[i].line || col != fields[i].col)
            fail_msg("%s: %d:%d, want %d:%d", fields[i].field, line, col, fields[i].line,
                     fields[i].col);
    }
    diag_list_clear(&dl);
    arena_free(a);
}

static void test_exclude(void **state)
{
    (void)state;
    static const char *const globs[] = {"charts", "values*.yaml", "dev/*", "*.json"};
    static const struct {
        const char *path;
        size_t base;
        bool want;
    } cases[] = {
        {"repo/charts/x/Chart.yaml", 4, true},
        {"repo/apps/charts/templates/a.yaml", 4, true},
        {"repo/values.yaml", 4, true},
        {"repo/apps/values-prod.yaml", 4, true},
        {"repo/dev/a.yaml", 4, true},
        {"./repo/dev/a.yaml", 6, true},
        {"repo/a.json", 4, true},
        {"repo/apps/a.yaml", 4, false},
        {"repo/apps/chartsx/a.yaml", 4, false},
        {"repo/myvalues.yaml", 4, false},
        /* a component of the directory given is not matched: "check charts/" checks it all */
        {"charts/a.yaml", 6, false},
        {"charts/sub/a.yaml", 6, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (manifests_is_excluded(cases[i].path, cases[i].base, globs, 4) != cases[i].want)
            fail_msg("%s: excluded %d, want %d", cases[i].path, !cases[i].want, cases[i].want);
    assert_false(manifests_is_excluded("repo/charts/a.yaml", 4, globs, 0));
    /* a glob as the shell completes a path (leading ./), a directory below the one given by
     * its path, and ** standing for no directory too, as in .gitignore */
    static const char *const paths[] = {"./apps/dev", "overlays/prod", "**" "/x.yaml",
                                        "./**" "/broken.yaml", "./repo/top.yaml"};
    static const struct {
        const char *path;
        size_t base;
        bool want;
    } more[] = {
        {"apps/dev/a.yaml", 0, true},
        {"./apps/dev/a.yaml", 1, true},
        {"repo/apps/dev/sub/a.yaml", 4, true},
        {"repo/overlays/prod/a.yaml", 4, true},
        {"overlays/prod/a.yaml", 8, true},
        {"x.yaml", 0, true},
        {"./x.yaml", 1, true},
        {"repo/a/b/x.yaml", 4, true},
        {"./repo/broken.yaml", 6, true},
        {"broken.yaml", 0, true},
        {"./repo/top.yaml", 6, true},
        {"repo/apps/devx/a.yaml", 4, false},
        {"repo/overlays/production/a.yaml", 4, false},
        {"repo/y.yaml", 4, false},
        /* the directory given itself is still not matched */
        {"apps/dev/a.yaml", 8, false},
        {"overlays/prod/a.yaml", 13, false},
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        if (manifests_is_excluded(more[i].path, more[i].base, paths, 5) != more[i].want)
            fail_msg("%s (below %zu bytes): excluded %d, want %d", more[i].path, more[i].base,
                     !more[i].want, more[i].want);
}

/* ---- documents that are not objects ---- */

typedef struct seen {
    int errors, skipped, docs;
    char last[256];
} seen;

static void on_err(void *ctx, const char *file, int doc, int line, const char *msg)
{
    seen *s = ctx;
    (void)file, (void)doc, (void)line;
    s->errors++;
    snprintf(s->last, sizeof s->last, "%s", msg);
}

static void on_skip(void *ctx, const char *file, int doc, int line, const char *why)
{
    seen *s = ctx;
    (void)file, (void)doc, (void)line;
    s->skipped++;
    snprintf(s->last, sizeof s->last, "%s", why);
}

static const char gitops[] = "replicaCount: 2\n"             /* Helm values */
                             "---\n"
                             "apiVersion: v2\nname: chart\n" /* Chart.yaml */
                             "---\n"
                             "- a\n- list\n"
                             "---\n"
                             "text\n"
                             "---\n"
                             "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1}]\n"
                             "---\n"
                             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";

static void load_gitops(bool strict, bool with_skip, seen *s)
{
    manifest_sink sink = {.error = on_err, .ctx = s};
    manifests m;
    manifests_init(&m, &sink);
    m.strict = strict;
    if (with_skip) {
        m.skipped = on_skip;
        m.skipped_ctx = s;
    }
    manifests_load_text(&m, "g.yaml", gitops, sizeof gitops - 1, false);
    s->docs = (int)m.n;
    manifests_free(&m);
}

static void test_not_objects_skipped(void **state)
{
    (void)state;
    seen s = {0};
    load_gitops(false, true, &s);
    /* values, Chart.yaml, a list, a string; the List's item without a kind is an error */
    assert_int_equal(s.skipped, 4);
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.docs, 1);
    seen strict = {0};
    load_gitops(true, true, &strict);
    assert_int_equal(strict.skipped, 0);
    assert_int_equal(strict.errors, 5);
    seen none = {0}; /* 'test' takes no skips: every one is an error, as before */
    load_gitops(false, false, &none);
    assert_int_equal(none.errors, 5);
    assert_true(manifests_is_kustomization("a/b/kustomization.yaml"));
    assert_true(manifests_is_kustomization("kustomization.yml"));
    assert_true(manifests_is_kustomization("x/Kustomization"));
    assert_false(manifests_is_kustomization("x/my-kustomization.yaml"));
}

/* ---- the exit code ---- */

static int finish_with(bool denied, bool error)
{
    check_report *r = check_report_new(CHECK_JSON);
    check_doc d = {.file = "a.yaml", .index = 1, .line = 1, .api_version = "v1",
                   .kind = "ConfigMap", .namespace_ = "", .name = "a"};
    if (error)
        check_report_error(r, "b.yaml", 1, 3, "invalid YAML");
    check_verdict v = {.matched = true, .allowed = !denied, .n_denials = denied};
    check_report_document(r, &d, &v);
    FILE *f = fopen("/dev/null", "w");
    int rc = check_report_finish(r, f);
    fclose(f);
    return rc;
}

static void test_exit_code(void **state)
{
    (void)state;
    assert_int_equal(finish_with(false, false), 0);
    assert_int_equal(finish_with(true, false), 1);
    assert_int_equal(finish_with(false, true), 2);
    /* a deny is never hidden behind another file's input error */
    assert_int_equal(finish_with(true, true), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_position),
        cmocka_unit_test(test_exclude),
        cmocka_unit_test(test_not_objects_skipped),
        cmocka_unit_test(test_exit_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
