/* test_policy.c - the policy layer: YAML documents with positions (yamldoc.c) and the policy
 * loader (load.c, set.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/engine.h"
#include "policy/functions.h"
#include "policy/policy.h"
#include "policy/policy_int.h"
#include "policy/yamldoc.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/keyindex.h"

/* Loads one document and returns its JSON form as compact text (malloc'd), or "!code". */
static char *to_json_text(const char *yaml)
{
    arena *a = arena_new(1 << 24);
    diag_list dl;
    diag_list_init(&dl);
    ydoc *docs;
    size_t partial;
    long n = yaml_load(a, "t.yaml", yaml, strlen(yaml), &docs, &partial, &dl);
    char *out = NULL;
    if (n < 1) {
        if (asprintf(&out, "!%s", dl.count ? dl.items[0].code : "none") < 0)
            out = NULL;
    } else {
        cJSON *j = yaml_to_json(docs[0].root, "t.yaml", &dl);
        if (j == NULL) {
            if (asprintf(&out, "!%s", dl.count ? dl.items[0].code : "?") < 0)
                out = NULL;
        } else {
            out = cJSON_PrintUnformatted(j);
        }
        cJSON_Delete(j);
    }
    diag_list_clear(&dl);
    arena_free(a);
    return out;
}

/* Plain scalars resolve as Kubernetes' decoder (go-yaml v2, YAML 1.1) resolves them. */
static const struct { const char *yaml, *json; } scalars[] = {
    {"a: 1", "{\"a\":1}"},                 {"a: -12", "{\"a\":-12}"},
    {"a: 0x1F", "{\"a\":31}"},             {"a: 010", "{\"a\":8}"},
    {"a: 0b101", "{\"a\":5}"},             {"a: 1_000", "{\"a\":1000}"},
    {"a: 1.5", "{\"a\":1.5}"},             {"a: 1e3", "{\"a\":1000}"},
    {"a: .5", "{\"a\":0.5}"},              {"a: 4.0", "{\"a\":4}"},
    {"a: '1'", "{\"a\":\"1\"}"},           {"a: \"1.5\"", "{\"a\":\"1.5\"}"},
    {"a: true", "{\"a\":true}"},           {"a: False", "{\"a\":false}"},
    {"a: yes", "{\"a\":true}"},            {"a: off", "{\"a\":false}"},
    {"a: 'yes'", "{\"a\":\"yes\"}"},       {"a: ~", "{\"a\":null}"},
    {"a:", "{\"a\":null}"},                {"a: null", "{\"a\":null}"},
    {"a: 2048m", "{\"a\":\"2048m\"}"},     {"a: 1Gi", "{\"a\":\"1Gi\"}"},
    {"a: 500m", "{\"a\":\"500m\"}"},       {"a: 0.25", "{\"a\":0.25}"},
    {"a: .inf", "{\"a\":\".inf\"}"},       {"a: 1.2.3", "{\"a\":\"1.2.3\"}"},
    {"a: file:///flink-data/ha", "{\"a\":\"file:///flink-data/ha\"}"},
    {"a: |\n  line1\n  line2\n", "{\"a\":\"line1\\nline2\\n\"}"},
    {"a: >-\n  folded\n  text\n", "{\"a\":\"folded text\"}"},
    {"a: [1, two, {b: c}]", "{\"a\":[1,\"two\",{\"b\":\"c\"}]}"},
    {"base: &b {x: 1}\nuse: *b", "{\"base\":{\"x\":1},\"use\":{\"x\":1}}"},
    {"- a\n- b", "[\"a\",\"b\"]"},
    {"plain", "\"plain\""},
    {"a: \"\\\\0 and \\\\u0000\"", "{\"a\":\"\\\\0 and \\\\u0000\"}"}, /* escaped backslashes, no NUL */
    {"a: '\\0'", "{\"a\":\"\\\\0\"}"}, /* single quotes do not escape */
    {"'<<': {x: 1}", "{\"<<\":{\"x\":1}}"}, /* quoted: a key like any other, for go-yaml too */
    {"a: !!str 123\nb: !!map {c: !!seq [true]}", "{\"a\":\"123\",\"b\":{\"c\":[true]}}"},
};

static void test_scalar_resolution(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        char *got = to_json_text(scalars[i].yaml);
        if (got == NULL || strcmp(got, scalars[i].json) != 0)
            fail_msg("case %zu: %s => %s, want %s", i, scalars[i].yaml, got ? got : "(null)",
                     scalars[i].json);
        free(got);
    }
}

/* Bad and hostile YAML: a diag with a code, never a crash. */
static const struct { const char *yaml, *want; } bad[] = {
    {"a: [1, 2", "!input.yaml"},
    {"a: b: c", "!input.yaml"},
    {"a:\n\t- tab", "!input.yaml"},
    {"a: *nope", "!input.yaml"},
    {"a: 1\na: 2", "!input.yaml"},
    {"? [1, 2]\n: x", "!input.yaml"},
    {"a: 'unterminated", "!input.yaml"},
    {"a: &x [*x]", "!input.limit"},
    /* a NUL would cut the string for every reader after libyaml (C strings) */
    {"a: \"\\0/tmp/cp\"", "!input.yaml"},
    {"a: \"file:///data/x\\x00/../../tmp/ha\"", "!input.yaml"},
    {"{\"a\": \"\\u0000/tmp/cp\"}", "!input.yaml"}, /* JSON input */
    {"\"k\\0ey\": 1", "!input.yaml"},                  /* in a key */
    {"a: [\"ok\", \"x\\0\"]", "!input.yaml"},
    /* a merge key: kubectl (go-yaml) merges the mapping in, so the object is another one */
    {"cfg:\n  <<: {ha.type: kubernetes, ha.dir: /tmp/ha}", "!input.yaml"},
    {"base: &b {x: 1}\ncfg:\n  y: 2\n  <<: [*b]", "!input.yaml"},
    /* tags kubectl reads otherwise: base64-decoded, octal, a set */
    {"dir: !!binary ZmlsZTovLy90bXAvaGE=", "!input.yaml"},
    {"n: !!int 010", "!input.yaml"},
    {"s: !!set {a, b}", "!input.yaml"},
    {"s: !custom x", "!input.yaml"},
};

static void test_bad_yaml(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *got = to_json_text(bad[i].yaml);
        if (got == NULL || strcmp(got, bad[i].want) != 0)
            fail_msg("case %zu: %s => %s, want %s", i, bad[i].yaml, got ? got : "(null)", bad[i].want);
        free(got);
    }
}

static void test_deep_nesting_and_alias_bombs(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 5000; i++)
        buf_puts(&b, "[");
    for (int i = 0; i < 5000; i++)
        buf_puts(&b, "]");
    char *got = to_json_text(b.data);
    assert_string_equal(got, "!input.limit");
    free(got);
    buf_clear(&b);
    /* "Billion laughs": nine levels of ten aliases each would be 10^9 nodes. */
    buf_puts(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++)
        buf_printf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                   i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    got = to_json_text(b.data);
    assert_string_equal(got, "!input.limit");
    free(got);
    buf_clear(&b);
}

/* Converts the first document of 'yaml'; returns its first diag as "LINE: message" (malloc'd),
 * or NULL when it converts. */
static char *first_error(const char *yaml, size_t len)
{
    arena *a = arena_new(1 << 28);
    diag_list dl;
    diag_list_init(&dl);
    ydoc *docs;
    size_t partial;
    char *out = NULL;
    cJSON *j = NULL;
    if (yaml_load(a, "t.yaml", yaml, len, &docs, &partial, &dl) < 1 ||
        (j = yaml_to_json(docs[0].root, "t.yaml", &dl)) == NULL) {
        if (asprintf(&out, "%d: %s", dl.count ? dl.items[0].at.line : 0,
                     dl.count ? dl.items[0].msg : "?") < 0)
            out = NULL;
    }
    cJSON_Delete(j);
    diag_list_clear(&dl);
    arena_free(a);
    return out;
}

/* Aliases of a long scalar: within the node cap, but 10^5 copies of 29 KB (a 30 KB manifest
 * that check expanded to 7 GB in 37 s). And a mapping with many keys: the duplicate-key check
 * compared each key with every one before it (200,000 keys took about a minute). */
static void test_alias_text_and_many_keys(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 16 << 20);
    buf_puts(&b, "data:\n  a0: &a0 [\"");
    for (int i = 0; i < 29000; i++)
        buf_puts(&b, "x");
    buf_puts(&b, "\"]\n");
    for (int i = 1; i < 6; i++)
        buf_printf(&b, "  a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                   i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    char *got = first_error(b.data, b.len);
    assert_non_null(got);
    assert_non_null(strstr(got, "more than 3 MiB of text (aliases)"));
    free(got);
    buf_clear(&b);
    /* The same text without aliases is within the cap: it is the document's own size. */
    buf_init(&b, 16 << 20);
    for (int i = 0; i < 100; i++) {
        buf_printf(&b, "k%d: \"", i);
        for (int j = 0; j < 29000; j++)
            buf_puts(&b, "x");
        buf_puts(&b, "\"\n");
    }
    assert_null(first_error(b.data, b.len));
    buf_clear(&b);

    enum { N = 200000 };
    buf_init(&b, 16 << 20);
    for (int i = 0; i < N; i++)
        buf_printf(&b, "k%d: %d\n", i, i);
    uint64_t before = lookup_steps;
    assert_null(first_error(b.data, b.len));
    uint64_t work = lookup_steps - before; /* key comparisons: n log n, not n^2 (2*10^10) */
    if (work > 40u * N)
        fail_msg("%d keys: %llu key comparisons, want at most %d", N, (unsigned long long)work,
                 40 * N);
    /* Repetitions: the first one in document order is named, on its line. */
    buf_printf(&b, "k7: again\nk5: again\nk7: thrice\n");
    got = first_error(b.data, b.len);
    assert_string_equal(got, "200001: key 'k7' is given twice");
    free(got);
    buf_clear(&b);
}

/* Positions: documents start where they start; nodes keep line and column. */
static void test_positions_and_documents(void **state)
{
    (void)state;
    const char *text = "# comment\n"
                       "apiVersion: v1\n"
                       "kind: ConfigMap\n"
                       "---\n"
                       "kind: FlinkDeployment\n"
                       "spec:\n"
                       "  job:\n"
                       "    upgradeMode: last-state\n"
                       "---\n"
                       "---\n"
                       "- x\n";
    arena *a = arena_new(1 << 20);
    diag_list dl;
    diag_list_init(&dl);
    ydoc *docs;
    size_t partial;
    assert_int_equal(yaml_load(a, "m.yaml", text, strlen(text), &docs, &partial, &dl), 4);
    assert_int_equal(docs[0].line, 2);
    assert_int_equal(docs[1].line, 4);
    /* An empty document: libyaml gives an empty plain scalar, which is JSON null. */
    assert_int_equal(docs[2].root->kind, YNODE_SCALAR);
    assert_string_equal(docs[2].root->str, "");
    cJSON *null_doc = yaml_to_json(docs[2].root, "m.yaml", &dl);
    assert_true(cJSON_IsNull(null_doc));
    cJSON_Delete(null_doc);
    assert_int_equal(docs[3].root->kind, YNODE_SEQ);
    const ynode *mode = yaml_get(yaml_get(yaml_get(docs[1].root, "spec"), "job"), "upgradeMode");
    assert_non_null(mode);
    assert_string_equal(mode->str, "last-state");
    assert_int_equal(mode->line, 8);
    assert_int_equal(mode->col, 18);
    assert_null(yaml_get(docs[1].root, "nope"));
    arena_free(a);
    diag_list_clear(&dl);
    /* An error in the third document still returns the first two. */
    const char *broken = "a: 1\n---\nb: 2\n---\nc: [\n";
    a = arena_new(1 << 20);
    assert_int_equal(yaml_load(a, "m.yaml", broken, strlen(broken), &docs, &partial, &dl), -1);
    assert_int_equal(partial, 2);
    assert_string_equal(dl.items[0].code, "input.yaml");
    assert_int_equal(dl.items[0].at.line, 6);
    arena_free(a);
    diag_list_clear(&dl);
}

static bool is_yaml(const char *name)
{
    size_t len = strlen(name);
    return len > 5 && strcmp(name + len - 5, ".yaml") == 0;
}

/* Every real upstream manifest loads and converts. */
static int load_tree(const char *dir)
{
    diag_list dl;
    diag_list_init(&dl);
    char **files = NULL;
    size_t nf = 0;
    assert_int_equal(file_list(dir, is_yaml, 10000, &files, &nf, &dl), 0);
    for (size_t f = 0; f < nf; f++) {
        const char *path = files[f];
        buf b;
        buf_init(&b, 8 << 20);
        assert_int_equal(file_read(path, 8 << 20, &b, &dl), 0);
        arena *a = arena_new(1 << 24);
        ydoc *docs;
        size_t partial;
        long n = yaml_load(a, path, b.data, b.len, &docs, &partial, &dl);
        if (n < 1)
            fail_msg("%s: %s", path, dl.count ? dl.items[0].msg : "no documents");
        for (long i = 0; i < n; i++) {
            cJSON *j = yaml_to_json(docs[i].root, path, &dl);
            if (j == NULL)
                fail_msg("%s document %ld: %s", path, i + 1, dl.count ? dl.items[0].msg : "?");
            cJSON_Delete(j);
        }
        arena_free(a);
        buf_clear(&b);
    }
    file_list_free(files, nf);
    diag_list_clear(&dl);
    return (int)nf;
}

static void test_upstream_manifests(void **state)
{
    (void)state;
    int n = load_tree("tests/fixtures/upstream");
    assert_true(n >= 100);
}


#define LINT "tests/fixtures/policy/lint/"

/* Every problem of a broken policy file, by code and position. */
static const struct {
    const char *file;
    const char *want[16]; /* "line:col code" */
} lint_cases[] = {
    {"bad-schema.yaml",
     {"1:13 policy.schema", "16:3 policy.schema", "6:11 policy.schema", "7:18 policy.schema",
      "12:9 policy.schema", "10:16 policy.schema", "11:30 policy.schema", "10:9 policy.schema",
      "15:15 policy.schema"}},
    {"bad-expressions.yaml",
     {"10:19 expr.undeclared", "12:23 expr.syntax", "14:42 expr.undeclared", "16:38 expr.syntax",
      "17:48 expr.regex", "20:31 policy.schema", "21:11 policy.schema", "22:11 policy.schema"}},
    {"broken.yaml", {"4:5 input.yaml"}},
    /* what the inferred types show can only fail: a non-bool validation or when, an
     * impossible comparison or operation, a param spec.params does not declare */
    {"bad-types.yaml",
     {"19:20 expr.type", "20:19 expr.type", "21:43 expr.field", "22:19 expr.type",
      "23:19 expr.type", "24:33 expr.field", "25:49 expr.type", "26:41 expr.type",
      "27:50 expr.type", "28:20 expr.type", "31:13 expr.type"}},
    {"multiline.yaml",
     {"12:11 expr.undeclared", "15:11 expr.undeclared", "17:9 expr.undeclared", "20:15 expr.undeclared"}},
    /* lookup()'s apiVersion and kind: not literals, or literals that cannot be one */
    {"bad-lookups.yaml",
     {"14:32 policy.lookup", "16:30 policy.lookup", "17:47 policy.lookup", "20:18 policy.lookup",
      "23:27 policy.lookup", "22:24 policy.lookup", "27:40 policy.lookup", "28:87 policy.lookup"}},
    /* a block scalar after UTF-8 text: its column, not the one of an earlier line */
    {"utf8-block.yaml", {"8:11 policy.schema"}},
    /* folded over lines, blocks, escapes, UTF-8 before the error (columns count bytes) */
    {"positions.yaml",
     {"13:9 expr.undeclared", "16:9 expr.undeclared", "21:9 expr.undeclared",
      "22:40 expr.undeclared", "23:45 expr.undeclared", "24:37 expr.undeclared",
      "26:9 expr.undeclared", "27:39 expr.undeclared", "28:45 expr.undeclared",
      "29:27 expr.undeclared", "33:9 expr.undeclared", "34:38 expr.undeclared",
      "37:9 expr.undeclared"}},
};

/* Loads 'path' and compares its diags, in order, with 'want' ("line:col code"). */
static void expect_lint(const char *path, const char *const *want_list)
{
    diag_list dl;
    diag_list_init(&dl);
    assert_null(policy_set_load_dir(path, &dl));
    size_t want = 0;
    while (want < 16 && want_list[want])
        want++;
    for (size_t k = 0; k < want || k < dl.count; k++) {
        char got[128] = "(none)";
        int line, col;
        if (k < dl.count) {
            srcpos_line_col(&dl.items[k].at, &line, &col);
            snprintf(got, sizeof got, "%d:%d %s", line, col, dl.items[k].code);
        }
        if (k >= want || strcmp(got, want_list[k]) != 0)
            fail_msg("%s diag %zu: got %s (%s), want %s", path, k, got,
                     k < dl.count ? dl.items[k].msg : "", k < want ? want_list[k] : "(none)");
    }
    diag_list_clear(&dl);
}

static void test_lint_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof lint_cases / sizeof lint_cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, LINT "%s", lint_cases[i].file);
        expect_lint(path, lint_cases[i].want);
    }
}

/* The same positions when every line ends in CRLF, or in a lone CR (which libyaml, and so
 * every line:col it gives, reads as a line break): a \r\n inside a folded or block scalar
 * is one line break, and so is a \r. */
static void lint_positions_ending(const char *eol)
{
    size_t last = sizeof lint_cases / sizeof lint_cases[0] - 1;
    assert_string_equal(lint_cases[last].file, "positions.yaml");
    diag_list dl;
    diag_list_init(&dl);
    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(file_read(LINT "positions.yaml", 1 << 20, &b, &dl), 0);
    char path[] = "/tmp/sg-crlf-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i < b.len; i++)
        fputs(b.data[i] == '\n' ? eol : (char[]){b.data[i], '\0'}, f);
    fclose(f);
    expect_lint(path, lint_cases[last].want);
    unlink(path);
    buf_clear(&b);
    diag_list_clear(&dl);
}

static void test_lint_positions_crlf(void **state)
{
    (void)state;
    lint_positions_ending("\r\n");
}

static void test_lint_positions_cr(void **state)
{
    (void)state;
    lint_positions_ending("\r");
}

static void test_duplicate_names(void **state)
{
    (void)state;
    const char *paths[] = {LINT "good.yaml", LINT "duplicate.yaml"};
    diag_list dl;
    diag_list_init(&dl);
    assert_null(policy_set_load_paths(paths, 2, &dl));
    bool dup = false;
    for (size_t i = 0; i < dl.count; i++)
        dup |= strcmp(dl.items[i].code, "policy.duplicate") == 0 &&
               strstr(dl.items[i].msg, "example-reactive-requires-standalone") != NULL;
    assert_true(dup);
    diag_list_clear(&dl);
}

/* The valid policy loads into what it says. */
static void test_good_policy(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir(LINT "good.yaml", &dl);
    if (s == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "?");
    size_t n;
    const policy *p = policy_set_items(s, &n);
    assert_int_equal(n, 1);
    assert_string_equal(p->name, "example-reactive-requires-standalone");
    assert_non_null(strstr(p->description, "standalone application clusters"));
    assert_int_equal(p->action, POLICY_DENY);
    assert_int_equal(p->failure, POLICY_FAIL);
    assert_int_equal(p->match.n_rules, 1);
    assert_string_equal(p->match.rules[0].api_groups.v[0], "flink.apache.org");
    assert_int_equal(p->match.rules[0].ops, 0x3u); /* CREATE | UPDATE */
    assert_int_equal(p->match.ns_exclude.n, 1);
    assert_true(p->match.objects.set);
    assert_int_equal(p->match.objects.n, 2);
    assert_int_equal(p->match.objects.reqs[1].op, LABEL_NOT_IN);
    assert_int_equal(p->match.excluded_users.n, 1);
    assert_int_equal(cJSON_GetObjectItem(p->params, "maxTaskManagers")->valueint, 8);
    assert_int_equal(p->n_vars, 2);
    assert_int_equal(p->n_validations, 2);
    assert_string_equal(p->validations[0].field, "spec.mode");
    assert_int_equal(p->validations[0].reason, POLICY_REASON_INVALID);
    assert_non_null(p->validations[1].message_expr);
    assert_int_equal(p->n_mutations, 1);
    assert_int_equal(p->mutations[0].n_ops, 2);
    assert_non_null(p->mutations[0].ops[0].value);
    assert_non_null(p->mutations[0].ops[1].value_expr);
    policy_set *r = policy_set_ref(s);
    policy_set_unref(s);
    policy_set_unref(r);
    diag_list_clear(&dl);
}

/* A directory with no policy files is an empty set; a missing path is an error. */
static void test_empty_and_missing(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir("tests/fixtures/admission", &dl);
    assert_non_null(s);
    size_t n;
    policy_set_items(s, &n);
    assert_int_equal(n, 0);
    policy_set_unref(s);
    assert_null(policy_set_load_dir("tests/fixtures/no-such-dir", &dl));
    assert_string_equal(dl.items[0].code, "io.read");
    diag_list_clear(&dl);
}


/* ---- the engine ---- */

static policy_set *engine_set;

static enum policy_lookup_result find_settings(void *data, const char *api, const char *kind,
                                               const char *ns, const char *name, arena *a,
                                               const cJSON **out, const char **why)
{
    (void)api;
    (void)a;
    (void)why;
    static cJSON *cm;
    if (cm == NULL)
        cm = cJSON_Parse("{\"kind\":\"ConfigMap\",\"data\":{}}");
    *out = cm;
    return data && strcmp(kind, "ConfigMap") == 0 && strcmp(ns, "team-a") == 0 &&
                   strcmp(name, "settings") == 0 ? LOOKUP_FOUND : LOOKUP_NOT_FOUND;
}

/* Each case: the request, then the expected findings as "result action policy", and whether
 * the request is denied. */
static const struct {
    const char *object;
    const char *ns, *user, *sub;
    unsigned op;
    bool warn_only, with_lookup;
    bool denied;
    const char *want[6];
} engine_cases[] = {
    {"{\"spec\":{\"replicas\":3},\"metadata\":{\"labels\":{\"team\":\"a\"}}}", "team-a", "bob", "", 0,
     false, false, false, {NULL}},
    {"{\"spec\":{\"replicas\":9},\"metadata\":{\"labels\":{\"team\":\"a\"}}}", "team-a", "bob", "", 0,
     false, false, true, {"fail deny deny-big-replicas"}},
    {"{\"spec\":{\"replicas\":9},\"metadata\":{\"labels\":{\"team\":\"a\"}}}", "kube-system", "bob", "", 0,
     false, false, false, {NULL}},
    {"{\"spec\":{\"replicas\":9},\"metadata\":{\"labels\":{\"team\":\"a\"}}}", "team-a", "admin", "", 0,
     false, false, false, {NULL}},
    {"{\"spec\":{\"replicas\":9},\"metadata\":{\"labels\":{\"team\":\"a\"}}}", "team-a", "bob", "", 2,
     false, false, false, {NULL}}, /* DELETE is not matched */
    {"{\"spec\":{\"replicas\":9},\"metadata\":{\"labels\":{\"team\":\"a\"}}}", "team-a", "bob", "", 0,
     true, false, false, {"fail warn deny-big-replicas"}}, /* --enforcement warn */
    {"{\"spec\":{},\"metadata\":{}}", "team-a", "bob", "", 0, false, false, false,
     {"warn warn warn-no-team"}},
    {"{\"spec\":{},\"metadata\":{\"labels\":{\"tier\":\"test\"}}}", "team-a", "bob", "", 0, false,
     false, false, {NULL}},
    {"{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"nginx\"}]}}},\"metadata\":{\"labels\":{\"team\":\"a\"}}}",
     "team-a", "bob", "", 0, false, false, false, {"fail audit audit-images"}},
    {"{\"spec\":{},\"metadata\":{\"labels\":{\"team\":\"a\",\"broken\":\"yes\"}}}", "team-a", "bob", "", 0,
     false, false, true, {"error deny broken-fail", "error deny broken-fail", "error warn broken-ignore"}},
    {"{\"spec\":{\"replicas\":1},\"metadata\":{\"labels\":{\"team\":\"a\"}}}", "team-a", "bob", "status", 1,
     false, false, true, {"fail deny status-only"}},
    {"{\"spec\":{},\"metadata\":{\"namespace\":\"team-a\",\"labels\":{\"team\":\"a\",\"config\":\"check\"}}}",
     "team-a", "bob", "", 0, false, false, true, {"fail deny needs-config"}}, /* lookup gives null */
    {"{\"spec\":{},\"metadata\":{\"namespace\":\"team-a\",\"labels\":{\"team\":\"a\",\"config\":\"check\"}}}",
     "team-a", "bob", "", 0, false, true, false, {NULL}},
    /* a validation with its own action: one policy denies one thing and warns about another */
    {"{\"spec\":{},\"metadata\":{\"labels\":{\"team\":\"a\",\"mixed\":\"yes\"}}}", "team-a", "bob", "", 0,
     false, false, true, {"fail deny mixed-actions", "warn warn mixed-actions"}},
    {"{\"spec\":{\"replicas\":1},\"metadata\":{\"labels\":{\"team\":\"a\",\"mixed\":\"yes\"}}}", "team-a",
     "bob", "", 0, false, false, false, {"warn warn mixed-actions"}},
};

static const char *const result_names[] = {"pass", "fail", "warn", "error", "skip"};
static const char *const action_names[] = {"deny", "warn", "audit"};

static void make_request(policy_request *r, const cJSON *obj, const char *ns, const char *user,
                         const char *sub, unsigned op, const policy_lookup *lk)
{
    *r = (policy_request){.group = "apps", .version = "v1", .kind = "Deployment",
                          .sub_resource = sub, .namespace_ = ns, .name = "web", .op = op,
                          .username = user, .object = op == 2 ? NULL : obj,
                          .old_object = op == 0 ? NULL : obj, .lookup = lk};
}

static void test_engine_validate(void **state)
{
    (void)state;
    static cJSON masters = {.type = cJSON_Array};
    (void)masters;
    for (size_t i = 0; i < sizeof engine_cases / sizeof engine_cases[0]; i++) {
        cJSON *obj = cJSON_Parse(engine_cases[i].object);
        policy_lookup lk = {.find = find_settings, .data = (void *)1};
        policy_request r;
        make_request(&r, obj, engine_cases[i].ns, engine_cases[i].user, engine_cases[i].sub,
                     engine_cases[i].op, engine_cases[i].with_lookup ? &lk : NULL);
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        policy_outcome o;
        assert_int_equal(policy_engine_run(engine_set, ENGINE_VALIDATE, &r, engine_cases[i].warn_only, a, &o), 0);
        size_t want = 0;
        while (want < 6 && engine_cases[i].want[want])
            want++;
        for (size_t k = 0; k < want || k < o.n_findings; k++) {
            char got[200] = "(none)";
            if (k < o.n_findings)
                snprintf(got, sizeof got, "%s %s %s", result_names[o.findings[k].result],
                         action_names[o.findings[k].action], o.findings[k].policy->name);
            if (k >= want || strcmp(got, engine_cases[i].want[k]) != 0)
                fail_msg("case %zu finding %zu: got %s (%s), want %s", i, k, got,
                         k < o.n_findings ? o.findings[k].message : "",
                         k < want ? engine_cases[i].want[k] : "(none)");
        }
        if (o.denied != engine_cases[i].denied)
            fail_msg("case %zu: denied %d", i, o.denied);
        arena_free(a);
        cJSON_Delete(obj);
    }
}

/* Messages: [policy] field: text, from messageExpression with variables and params. */
static void test_engine_messages(void **state)
{
    (void)state;
    cJSON *obj = cJSON_Parse("{\"spec\":{\"replicas\":9},\"metadata\":{\"labels\":{\"team\":\"a\",\"broken\":\"yes\"}}}");
    policy_request r;
    make_request(&r, obj, "team-a", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(engine_set, ENGINE_VALIDATE, &r, false, a, &o), 0);
    assert_true(o.n_findings >= 3);
    assert_string_equal(o.findings[0].message, "[deny-big-replicas] spec.replicas: replicas 9 exceed 5");
    assert_int_equal(o.findings[0].reason, POLICY_REASON_INVALID);
    /* an evaluation error names the rule, where it is, and the expression */
    assert_string_equal(o.findings[1].message,
                        "[broken-fail] validations[0] (tests/fixtures/policy/engine/policies.yaml:56) "
                        "could not be evaluated: no such key: missing in "
                        "`object.spec.missing.field == 1`");
    /* the same error from the next rule is not said again; another one is */
    assert_string_equal(o.findings[2].message,
                        "[broken-fail] validations[2] (tests/fixtures/policy/engine/policies.yaml:59) "
                        "could not be evaluated: no such key: other in "
                        "`object.spec.other == 1`");
    assert_int_equal(o.findings[0].at.line, 18);
    arena_free(a);
    cJSON_Delete(obj);
}

/* Every binding reads what the engine bound under its name: the loader's declaration index
 * of a name (enum policy_binding) and the engine's binding order are one fact. Each value
 * below is distinct, so a binding answered from another slot shows in its message. */
static void test_engine_bindings(void **state)
{
    (void)state;
    static const char *const want[PB_COUNT] = {
        [PB_OBJECT] = "object", [PB_OLD_OBJECT] = "oldObject", [PB_REQUEST] = "request",
        [PB_PARAMS] = "params", [PB_ELEMENT] = "null", [PB_ELEMENT_INDEX] = "null"};
    char path[] = "/tmp/sg-bindings-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: b}\n"
               "spec:\n  match: {resources: [{kinds: [Deployment], operations: [UPDATE]}]}\n"
               "  params: {v: params}\n  validations:\n");
    for (size_t b = 0; b < PB_COUNT; b++)
        fprintf(f, "    - expression: 'false'\n      messageExpression: \"%s == null ? 'null' : "
                   "%s.v\"\n", policy_bindings[b], policy_bindings[b]);
    fclose(f);
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir(path, &dl);
    unlink(path);
    if (s == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "not loaded");
    cJSON *obj = cJSON_Parse("{\"v\":\"object\"}"), *old = cJSON_Parse("{\"v\":\"oldObject\"}");
    cJSON *req = cJSON_Parse("{\"v\":\"request\"}");
    policy_request r;
    make_request(&r, obj, "ns", "bob", "", 1, NULL);
    r.old_object = old;
    r.request = req;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
    assert_int_equal(o.n_findings, PB_COUNT);
    for (size_t b = 0; b < PB_COUNT; b++) {
        char msg[64];
        snprintf(msg, sizeof msg, "[b] %s", want[b]);
        if (strcmp(o.findings[b].message, msg) != 0)
            fail_msg("%s: got %s, want %s", policy_bindings[b], o.findings[b].message, msg);
    }
    arena_free(a);
    cJSON_Delete(obj);
    cJSON_Delete(old);
    cJSON_Delete(req);
    policy_set_unref(s);
    diag_list_clear(&dl);
}

/* A rule's expressions and the variables it pulls in share one step budget, and so do the
 * elements of a forEach (Kubernetes charges one budget per policy evaluation): three scans of
 * 75,000 steps exceed the 200,000 of one rule, where each expression had its own before. */
static void test_engine_rule_budget(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir("tests/fixtures/policy/budget", &dl);
    if (s == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "not loaded");
    cJSON *obj = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(obj, "items");
    for (int i = 0; i < 25000; i++)
        cJSON_AddItemToArray(items, cJSON_CreateNumber(i % 7));
    policy_request r;
    make_request(&r, obj, "team-a", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
    /* one-scan and cached pass; three-scans is an error of the budget, so the request is denied */
    assert_int_equal(o.n_findings, 1);
    assert_int_equal(o.findings[0].result, RULE_ERROR);
    assert_non_null(strstr(o.findings[0].message, "exceeded 200000 steps"));
    assert_true(o.denied);
    assert_int_equal(policy_engine_run(s, ENGINE_MUTATE, &r, false, a, &o), 0);
    /* elements 0 and 1 are patched; the third runs out of the rule's budget in its when */
    assert_non_null(o.mutated);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(o.mutated, "done0"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(o.mutated, "done1"));
    assert_null(cJSON_GetObjectItemCaseSensitive(o.mutated, "done2"));
    assert_int_equal(o.n_findings, 1);
    assert_int_equal(o.findings[0].result, RULE_ERROR);
    assert_non_null(strstr(o.findings[0].message, "exceeded 200000 steps"));
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
    diag_list_clear(&dl);
}

/* The policies of tests/fixtures/policy/budget-edge run on object.items = [0, ..., n-1]:
 * the names of the policies with a finding, in order, and in '*done' how many of the forEach
 * elements of 'mut' were patched (mutate only; NULL for validate). */
static void budget_edge_run(const policy_set *s, int n, enum engine_mode mode, char *names,
                            size_t cap, int *done)
{
    cJSON *obj = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(obj, "items");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(items, cJSON_CreateNumber(i));
    policy_request r;
    make_request(&r, obj, "ns", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, mode, &r, false, a, &o), 0);
    names[0] = '\0';
    for (size_t i = 0; i < o.n_findings; i++) {
        if (strstr(o.findings[i].message, "exceeded 200000 steps") == NULL)
            fail_msg("n=%d: %s", n, o.findings[i].message);
        snprintf(names + strlen(names), cap - strlen(names), "%s%s", names[0] ? "," : "",
                 o.findings[i].policy->name);
    }
    if (done != NULL) {
        *done = 0;
        for (int k = 0; k < 4; k++) {
            char key[16];
            snprintf(key, sizeof key, "done%d", k);
            *done += o.mutated && cJSON_GetObjectItemCaseSensitive(o.mutated, key) != NULL;
        }
    }
    arena_free(a);
    cJSON_Delete(obj);
}

/* Each rule's budget runs out at exactly the object size it did before the step count ran
 * down and variables were read in place (measured on ace892d): one item less passes. A step
 * more or less on any path that counts them (a variable's evaluation inside a rule's, a
 * variable read again from the memo, a constant or a shared variable charged, a forEach's
 * elements) moves one of these edges; the per-item costs are 3 to 12 steps. */
static void test_engine_budget_edge(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir("tests/fixtures/policy/budget-edge", &dl);
    if (s == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "not loaded");
    static const struct {
        int n;
        const char *validate; /* the policies over budget, in order */
    } v[] = {
        {16526, ""},                        {16527, "chain"},
        {22220, "chain"},                   {22221, "chain,novars"},
        {33331, "chain,novars"},            {33332, "chain,shared-b,novars"},
        {33333, "chain,shared-a,shared-b,novars"},
    };
    char names[128];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        budget_edge_run(s, v[i].n, ENGINE_VALIDATE, names, sizeof names, NULL);
        if (strcmp(names, v[i].validate) != 0)
            fail_msg("validate n=%d: over budget [%s], want [%s]", v[i].n, names, v[i].validate);
    }
    /* mut: four elements share the rule's budget, and each element's when evaluates the
     * variable anew (a fresh context per element: a scan each) */
    static const struct {
        int n, done;
        const char *findings; /* at 33,330 the second element runs out in its patch's path,
                                 which is not the first element's error: two findings */
    } m[] = {{16663, 4, ""},    {16664, 3, "mut"}, {22219, 3, "mut"},
             {22220, 2, "mut"}, {33329, 2, "mut"}, {33330, 1, "mut,mut"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int done;
        budget_edge_run(s, m[i].n, ENGINE_MUTATE, names, sizeof names, &done);
        if (done != m[i].done || strcmp(names, m[i].findings) != 0)
            fail_msg("mutate n=%d: %d elements patched [%s], want %d [%s]", m[i].n, done, names,
                     m[i].done, m[i].findings);
    }
    policy_set_unref(s);
    diag_list_clear(&dl);
}

/* The step count exact to the step, where test_engine_budget_edge's edges leave a slack of up
 * to an item's cost: a rule begins with size([0, ..., 0]) >= 0 && (a folded literal of 'pad'
 * entries: 'pad' steps more or less), and at an object size where it passes without the
 * literal, the longest literal that still fits is 'pad' (measured on ace892d, before the step
 * count ran down and variables were read in place). One entry more runs out. */
static policy_set *load_yaml_set(const char *yaml);

#define BUDGET_EXACT_HEAD(name)                                                                \
    "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: " name "}\n"         \
    "spec:\n  match: {resources: [{kinds: [Deployment]}]}\n"

static const struct {
    const char *what;
    const char *yaml; /* '@' is where the literal goes */
    int n, pad;
} budget_exact[] = {
    /* a variable another policy evaluated first: charged its steps */
    {"a shared variable",
     BUDGET_EXACT_HEAD("sa") "  variables: [{name: a, expression: 'object.items.all(x, x >= 0)'}]\n"
     "  validations: [{expression: 'variables.a'}]\n---\n"
     BUDGET_EXACT_HEAD("sb") "  variables: [{name: a, expression: 'object.items.all(x, x >= 0)'}]\n"
     "  validations: [{expression: '@ object.items.all(x, x >= 0) && variables.a'}]\n",
     33331, 1},
    /* variables in a chain, read again inside a comprehension (the memo) and through cel.bind,
     * and a constant read by a constant (charged both) */
    {"chained variables and constants",
     BUDGET_EXACT_HEAD("ch") "  params: {items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}\n  variables:\n"
     "    - {name: heavy, expression: 'params.items.all(x, params.items.all(y, x + y >= 0))'}\n"
     "    - {name: fromConst, expression: 'variables.heavy && size(params.items) > 0'}\n"
     "    - {name: a, expression: 'object.items.all(x, x >= 0)'}\n"
     "    - {name: b, expression: 'variables.a && object.items.all(x, variables.a && x >= 0)'}\n"
     "    - {name: c, expression: 'cel.bind(z, variables.b, z && "
     "object.items.exists(x, x < 0) == false)'}\n"
     "  validations: [{expression: '@ variables.c && variables.fromConst'}]\n",
     18130, 5},
};

/* Whether budget_exact[i] passes with a literal of 'pad' entries. */
static bool budget_exact_fits(size_t i, int pad)
{
    char lit[1024] = "size([";
    for (int k = 0; k < pad; k++)
        strcat(lit, k ? ",0" : "0");
    strcat(lit, "]) >= 0 &&");
    const char *y = budget_exact[i].yaml, *at = strchr(y, '@');
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%.*s%s%s", (int)(at - y), y, lit, at + 1);
    policy_set *s = load_yaml_set(yaml);
    cJSON *obj = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(obj, "items");
    for (int k = 0; k < budget_exact[i].n; k++)
        cJSON_AddItemToArray(items, cJSON_CreateNumber(k));
    policy_request r;
    make_request(&r, obj, "ns", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
    for (size_t k = 0; k < o.n_findings; k++)
        if (strstr(o.findings[k].message, "exceeded 200000 steps") == NULL)
            fail_msg("%s: %s", budget_exact[i].what, o.findings[k].message);
    bool fits = o.n_findings == 0;
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
    return fits;
}

static void test_engine_budget_exact(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof budget_exact / sizeof budget_exact[0]; i++) {
        int pad = budget_exact[i].pad;
        if (!budget_exact_fits(i, pad) || budget_exact_fits(i, pad + 1))
            fail_msg("%s: %d items and a literal of %d fit, %d do not: got %s, %s",
                     budget_exact[i].what, budget_exact[i].n, pad, pad + 1,
                     budget_exact_fits(i, pad) ? "fits" : "over",
                     budget_exact_fits(i, pad + 1) ? "fits" : "over");
    }
}

/* Variables that read only params, literals and other such variables, and call no lookup(),
 * are computed once when the set loads, with the params a PolicyParams set, and answered from
 * there; each review is charged their steps as if it had evaluated them, so a rule runs out of
 * budget where it did (tests/fixtures/policy/constvars). */
static const policy_variable *find_var(const policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_vars; i++)
        if (strcmp(p->vars[i].name, name) == 0)
            return &p->vars[i];
    fail_msg("no variable %s", name);
    return NULL;
}

static void test_constant_variables(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir("tests/fixtures/policy/constvars", &dl);
    if (s == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "not loaded");
    size_t n = 0;
    const policy *items = policy_set_items(s, &n), *p = NULL, *b = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i].name, "constvars") == 0)
            p = &items[i];
        else if (strcmp(items[i].name, "constvars-budget") == 0)
            b = &items[i];
    }
    assert_non_null(p);
    assert_non_null(b);
    static const struct { const char *name; bool constant; } want[] = {
        {"limit2", true}, {"heavy", true}, {"fromConst", true}, {"seen", false},
        {"viaLookup", false}, {"fromObj", false}, {"failing", false}, {"local", true}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (find_var(p, want[i].name)->constant != want[i].constant)
            fail_msg("variable %s: constant %d", want[i].name, !want[i].constant);
    /* computed with the PolicyParams' limit, 7 (the policy's own is 3) */
    assert_int_equal(find_var(p, "limit2")->value.kind, EXPR_INT);
    assert_int_equal(find_var(p, "limit2")->value.v.i, 14);
    assert_true(find_var(p, "heavy")->steps > 100000);
    assert_true(find_var(p, "fromConst")->deps != 0);

    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "kind", "Deployment");
    policy_request r;
    make_request(&r, obj, "team-a", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
    /* constvars: the values pass; the division by zero fails on the review as it always did.
     * constvars-budget: its rule is over budget (its own scan and the constant's). */
    size_t errors = 0;
    for (size_t i = 0; i < o.n_findings; i++) {
        const policy_finding *f = &o.findings[i];
        assert_int_equal(f->result, RULE_ERROR);
        errors++;
        if (f->policy == p)
            assert_non_null(strstr(f->message, "division by zero"));
        else
            assert_non_null(strstr(f->message, "exceeded 200000 steps"));
    }
    assert_int_equal(errors, 2);
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
    diag_list_clear(&dl);
}

static char *mutate_once(const char *object, policy_outcome *o, arena *a)
{
    cJSON *obj = cJSON_Parse(object);
    policy_request r;
    make_request(&r, obj, "team-a", "bob", "", 0, NULL);
    assert_int_equal(policy_engine_run(engine_set, ENGINE_MUTATE, &r, false, a, o), 0);
    char *out = o->mutated ? cJSON_PrintUnformatted(o->mutated) : NULL;
    cJSON_Delete(obj);
    return out;
}

/* Mutations apply in order, later ones see earlier changes, and a second pass changes nothing. */
static void test_engine_mutate(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    char *once = mutate_once("{\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":0}}", &o, a);
    assert_string_equal(once, "{\"metadata\":{\"name\":\"web\",\"labels\":{\"managed-by\":\"streamguard\"}},"
                              "\"spec\":{\"replicas\":0,\"paused\":true}}");
    assert_int_equal(o.n_findings, 0);
    char *twice = mutate_once(once, &o, a);
    assert_null(twice); /* idempotent: nothing left to change */
    free(once);
    /* A patch that cannot apply is an error (here failurePolicy Ignore: a warning), never
     * silently skipped. */
    char *bad = mutate_once("{\"metadata\":{\"labels\":{\"broken\":\"yes\",\"managed-by\":\"x\"}},\"spec\":{}}", &o, a);
    assert_null(bad);
    assert_int_equal(o.n_findings, 1);
    assert_int_equal(o.findings[0].result, RULE_ERROR);
    assert_int_equal(o.findings[0].action, POLICY_WARN);
    assert_non_null(strstr(o.findings[0].message, "could not apply replace /spec/nothing/here"));
    /* forEach: each element at its own index; elements that already comply are left alone */
    char *each = mutate_once("{\"metadata\":{\"labels\":{\"foreach\":\"yes\",\"managed-by\":\"x\"}},"
                             "\"spec\":{\"paused\":false,\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\"},"
                             "{\"name\":\"b\",\"imagePullPolicy\":\"Always\"},{\"name\":\"c\"}]}}}}", &o, a);
    assert_non_null(each);
    assert_non_null(strstr(each, "[{\"name\":\"a\",\"imagePullPolicy\":\"IfNotPresent\"},"
                                 "{\"name\":\"b\",\"imagePullPolicy\":\"Always\"},"
                                 "{\"name\":\"c\",\"imagePullPolicy\":\"IfNotPresent\"}]"));
    assert_null(mutate_once(each, &o, a));
    free(each);
    /* a rule's second operation sees its first */
    char *chain = mutate_once("{\"metadata\":{\"labels\":{\"chain\":\"yes\",\"managed-by\":\"x\"}},"
                              "\"spec\":{\"paused\":false}}", &o, a);
    assert_non_null(chain);
    assert_non_null(strstr(chain, "\"first\":1,\"second\":2"));
    free(chain);
    /* a rule's variables after one of its operations replaced what they read: evaluated
     * again on the patched object (they pointed into the freed map: a use after free) */
    char *vars = mutate_once("{\"metadata\":{\"labels\":{\"varpatch\":\"yes\",\"managed-by\":\"x\"}},"
                             "\"spec\":{\"paused\":false,\"template\":{\"s\":\"a\"}}}", &o, a);
    assert_int_equal(o.n_findings, 0);
    assert_non_null(vars);
    assert_non_null(strstr(vars, "\"template\":{\"s\":\"ab\"},\"first\":1,\"seen\":\"ab\""));
    free(vars);
    /* forEach over a non-list, and a computed path that is not a JSON Pointer: errors */
    assert_null(mutate_once("{\"metadata\":{\"name\":\"w\",\"labels\":{\"foreach\":\"broken\",\"managed-by\":\"x\"}},"
                            "\"spec\":{\"paused\":false}}", &o, a));
    assert_int_equal(o.n_findings, 3);
    assert_non_null(strstr(o.findings[0].message, "forEach gives string, not a list"));
    assert_non_null(strstr(o.findings[1].message, "pathExpression: not a JSON Pointer"));
    assert_non_null(strstr(o.findings[2].message, "pathExpression: the path holds a NUL"));
    arena_free(a);
}

/* A mapping of 10,000 keys (sharing a 200-byte prefix) is checked for a key given twice in
 * O(1) comparisons a key, not O(keys) (50 million before); the duplicate is still found,
 * wherever it is, and a mapping without one converts whole. Counted, not timed. */
static void test_yaml_large_mapping(void **state)
{
    (void)state;
    enum { N = 10000 };
    buf b;
    buf_init(&b, (size_t)16 << 20);
    char line[300], prefix[201];
    memset(prefix, 'k', 200);
    prefix[200] = '\0';
    for (int i = 0; i < N; i++) {
        snprintf(line, sizeof line, "%s%d: v\n", prefix, i);
        buf_puts(&b, line);
    }
    uint64_t before = lookup_steps;
    char *ok = to_json_text(b.data);
    uint64_t work = lookup_steps - before;
    assert_non_null(ok);
    assert_true(ok[0] == '{' && strlen(ok) > (size_t)N * 200);
    free(ok);
    if (work > 40u * N)
        fail_msg("%d keys: %llu key comparisons, want at most %d", N, (unsigned long long)work,
                 40 * N);
    for (int at = 0; at < 3; at++) { /* the last key again; the first; one in the middle */
        int k = at == 0 ? N - 1 : at == 1 ? 0 : N / 2;
        snprintf(line, sizeof line, "%s%d: again\n", prefix, k);
        size_t len = b.len;
        buf_puts(&b, line);
        char *dup = to_json_text(b.data);
        assert_string_equal(dup, "!input.yaml");
        free(dup);
        b.len = len;
        b.data[len] = '\0';
    }
    buf_clear(&b);
}

/* A mutation that adds to a large map that an earlier expression looked up in (and so
 * indexed): the next mutation's expressions see the new key. */
static void test_engine_mutate_large_map(void **state)
{
    (void)state;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "{\"metadata\":{\"name\":\"web\",\"labels\":{");
    char item[64];
    for (int i = 0; i < 40; i++) {
        snprintf(item, sizeof item, "%s\"l%d\":\"v\"", i ? "," : "", i);
        buf_puts(&b, item);
    }
    buf_puts(&b, "}},\"spec\":{\"replicas\":0}}");
    policy_outcome o;
    char *out = mutate_once(b.data, &o, a);
    assert_int_equal(o.n_findings, 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"l39\":\"v\",\"managed-by\":\"streamguard\"}"));
    assert_non_null(strstr(out, "\"spec\":{\"replicas\":0,\"paused\":true}"));
    free(out);
    buf_clear(&b);
    arena_free(a);
}

/* A resource rule's own objectSelector: it narrows that rule's kinds only, and the policy's
 * objectSelector still applies to all of them. */
static void test_engine_rule_selector(void **state)
{
    (void)state;
    static const struct { const char *kind, *labels; bool want; } cases[] = {
        {"Deployment", "{\"perkind\":\"yes\"}", true},
        {"Deployment", "{\"perkind\":\"yes\",\"exempt\":\"\"}", false},
        {"StatefulSet", "{\"perkind\":\"yes\",\"exempt\":\"\"}", true},
        {"StatefulSet", "{\"exempt\":\"\"}", false}, /* the policy's own selector */
        {"DaemonSet", "{\"perkind\":\"yes\"}", false},
    };
    size_t n;
    const policy *items = policy_set_items(engine_set, &n);
    const policy *p = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].name, "per-kind-exemption") == 0)
            p = &items[i];
    assert_non_null(p);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[200];
        snprintf(json, sizeof json, "{\"metadata\":{\"labels\":%s}}", cases[i].labels);
        cJSON *obj = cJSON_Parse(json);
        policy_request r;
        make_request(&r, obj, "team-a", "bob", "", 0, NULL);
        r.kind = cases[i].kind;
        if (policy_matches(p, &r) != cases[i].want)
            fail_msg("case %zu: %s %s matches %d", i, cases[i].kind, cases[i].labels,
                     !cases[i].want);
        cJSON_Delete(obj);
    }
}

static int load_engine_set(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    engine_set = policy_set_load_dir("tests/fixtures/policy/engine", &dl);
    if (engine_set == NULL) {
        diag_list_print(&dl, stderr);
        return -1;
    }
    diag_list_clear(&dl);
    return 0;
}

/* ---- lookups ---- */

/* The kinds a set looks up: from every place an expression lives, sorted, each once; a kind
 * in a string that is no lookup() argument is none. */
/* "apiVersion kind", and " ns/name" for one object of it. */
static const char *kind_str(const policy_kind *k)
{
    static char got[600];
    snprintf(got, sizeof got, "%s %s%s%s%s%s", k->api_version, k->kind, k->name ? " " : "",
             k->name ? k->ns : "", k->name ? "/" : "", k->name ? k->name : "");
    return got;
}

/* Scopes: tests/fixtures/policy/lookup-scopes/policies.yaml says why each kind is what it is;
 * a PolicyParams that moves a policy's ConfigMap moves its scope. */
static void test_lookup_scopes(void **state)
{
    (void)state;
    static const char *const base[] = {
        "v1 ConfigMap ops/extra", "v1 ConfigMap ops/operator-config", "v1 Endpoints",
        "v1 Namespace /team",     "v1 Node",                          "v1 PersistentVolumeClaim",
        "v1 Secret ops/tls",      "v1 Service"};
    static const char *const moved = "v1 ConfigMap flink-operator/flink-operator-config";
    const char *dir = "tests/fixtures/policy/lookup-scopes/policies.yaml";
    const char *params = "tests/fixtures/policy/lookup-scopes/params.yaml";
    for (int with = 0; with < 2; with++) {
        diag_list dl;
        diag_list_init(&dl);
        policy_set *s = policy_set_load(&dir, 1, with ? &params : NULL, with ? 1 : 0, &dl);
        if (s == NULL)
            fail_msg("%s", dl.count ? dl.items[0].msg : "?");
        policy_kind k[16];
        size_t n = policy_set_lookup_kinds(s, k, 16);
        assert_int_equal(n, sizeof base / sizeof base[0] + (size_t)with);
        /* with the params: the moved ConfigMap first, then the same as without */
        for (size_t i = 0; i < n; i++)
            assert_string_equal(kind_str(&k[i]), with && i == 0 ? moved : base[i - (size_t)with]);
        policy_set_unref(s);
        diag_list_clear(&dl);
    }
}

static void test_lookup_kinds(void **state)
{
    (void)state;
    static const char *const want[] = {
        "flink.apache.org/v1beta1 FlinkDeployment /f", "storage.k8s.io/v1 StorageClass",
        "v1 ConfigMap /m", "v1 Namespace /default", "v1 Node", "v1 PersistentVolumeClaim",
        "v1 Secret /s"};
    const size_t n_want = sizeof want / sizeof want[0];
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir("tests/fixtures/policy/lookups.yaml", &dl);
    if (s == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "?");
    policy_kind k[16];
    assert_int_equal(policy_set_lookup_kinds(s, k, 16), n_want);
    for (size_t i = 0; i < n_want; i++)
        assert_string_equal(kind_str(&k[i]), want[i]);
    /* fewer than there are: the first 'cap', and the count of all */
    policy_kind two[2];
    assert_int_equal(policy_set_lookup_kinds(s, two, 2), n_want);
    assert_string_equal(two[1].kind, "StorageClass");
    assert_int_equal(policy_set_lookup_kinds(s, NULL, 0), n_want);
    policy_set_unref(s);
    /* a set that looks nothing up */
    s = policy_set_load_dir(LINT "good.yaml", &dl);
    assert_non_null(s);
    assert_int_equal(policy_set_lookup_kinds(s, k, 16), 0);
    policy_set_unref(s);
    diag_list_clear(&dl);
}

/* A policy_lookup that answers by name: "found" (and namespace "a" for lists) is found,
 * "down" could not be asked, anything else is not found. Counts its calls. */
static int lookup_calls;

static enum policy_lookup_result stub_find(void *data, const char *api, const char *kind,
                                           const char *ns, const char *name, arena *a,
                                           const cJSON **out, const char **why)
{
    (void)api;
    (void)kind;
    (void)ns;
    lookup_calls++;
    if (strcmp(name, "down") == 0) {
        *why = arena_strdup(a, "connection refused");
        return LOOKUP_UNAVAILABLE;
    }
    if (strcmp(name, "found") != 0)
        return LOOKUP_NOT_FOUND;
    *out = data;
    return LOOKUP_FOUND;
}

static enum policy_lookup_result stub_list(void *data, const char *api, const char *kind,
                                           const char *ns, arena *a, const cJSON ***out,
                                           size_t *n, const char **why)
{
    (void)api;
    (void)kind;
    lookup_calls++;
    if (strcmp(ns, "down") == 0) {
        *why = "watch of v1 Node not synced";
        return LOOKUP_UNAVAILABLE;
    }
    if (strcmp(ns, "a") != 0)
        return LOOKUP_NOT_FOUND;
    const cJSON **objs = arena_calloc(a, 2, sizeof *objs);
    objs[0] = objs[1] = data;
    *out = objs;
    *n = 2;
    return LOOKUP_FOUND;
}

/* The functions' per-run state lives behind policy_lib: flinkConfig() remembers its answer
 * for a map until ctx_reset says the JSON changed, and a fresh ctx_init remembers nothing. */
static void test_library_ctx(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 24);
    diag_list dl;
    diag_list_init(&dl);
    static const char *const vars[] = {"object"};
    expr_decls decls = {.vars = vars, .n_vars = 1, .fns = policy_lib.functions,
                        .n_fns = policy_lib.n_functions};
    const char *src = "size(flinkConfig(object))";
    expr_prog *p = expr_compile(a, src, strlen(src), &decls, NULL, &dl);
    assert_non_null(p);
    cJSON *conf = cJSON_Parse("{\"a\":\"1\"}");
    expr_binding b = {"object", expr_from_json(conf)};
    expr_env env = {.vars = &b, .n_vars = 1, .fn_ctx = policy_lib.ctx_init(a, NULL)};
    assert_non_null(env.fn_ctx);
    expr_value v = expr_eval(p, &env, a);
    assert_true(v.kind == EXPR_INT && v.v.i == 1);
    /* the same map, changed in place (an option added; nothing the memo points to freed):
     * the memo still answers until it is told */
    cJSON_AddStringToObject(conf, "b", "2");
    v = expr_eval(p, &env, a);
    assert_true(v.kind == EXPR_INT && v.v.i == 1);
    policy_lib.ctx_reset(env.fn_ctx);
    v = expr_eval(p, &env, a);
    assert_true(v.kind == EXPR_INT && v.v.i == 2);
    /* a new run starts empty */
    cJSON_AddStringToObject(conf, "c", "3");
    env.fn_ctx = policy_lib.ctx_init(a, NULL);
    v = expr_eval(p, &env, a);
    assert_true(v.kind == EXPR_INT && v.v.i == 3);
    policy_lib.ctx_reset(NULL); /* accepted */
    cJSON_Delete(conf);
    diag_list_clear(&dl);
    arena_free(a);
}

/* containerMounts() is linear in the pod: a pod of many volumes, mounts and env entries (a
 * subPathExpr naming the last entry) costs lookups in proportion, not mounts x volumes or
 * variables x env entries, and finds the right volume and value for each mount. */
static void test_container_mounts_linear(void **state)
{
    (void)state;
    enum { N = 4000 };
    arena *a = arena_new(1 << 26);
    diag_list dl;
    diag_list_init(&dl);
    cJSON *pod = cJSON_CreateObject(), *cs = cJSON_AddArrayToObject(pod, "containers");
    cJSON *vols = cJSON_AddArrayToObject(pod, "volumes"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cs, c);
    cJSON_AddStringToObject(c, "name", "main");
    cJSON *mounts = cJSON_AddArrayToObject(c, "volumeMounts");
    cJSON *env = cJSON_AddArrayToObject(c, "env");
    char name[32], sub[64];
    for (int i = 0; i < N; i++) {
        cJSON *v = cJSON_CreateObject(), *m = cJSON_CreateObject(), *e = cJSON_CreateObject();
        snprintf(name, sizeof name, "v%d", N - 1 - i); /* volumes in the reverse order */
        cJSON_AddStringToObject(v, "name", name);
        snprintf(name, sizeof name, "claim%d", N - 1 - i);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(v, "persistentVolumeClaim"), "claimName",
                                name);
        cJSON_AddItemToArray(vols, v);
        snprintf(name, sizeof name, "v%d", i);
        cJSON_AddStringToObject(m, "name", name);
        cJSON_AddStringToObject(m, "mountPath", "/m");
        snprintf(sub, sizeof sub, "$(E%d)/$(E%d)", N - 1, i);
        cJSON_AddStringToObject(m, "subPathExpr", sub);
        cJSON_AddItemToArray(mounts, m);
        snprintf(name, sizeof name, "E%d", i);
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddStringToObject(e, "value", name + 1);
        cJSON_AddItemToArray(env, e);
    }
    static const char *const vars[] = {"object"};
    expr_decls decls = {.vars = vars, .n_vars = 1, .fns = policy_lib.functions,
                        .n_fns = policy_lib.n_functions};
    const char *src = "containerMounts(object, 'main', {}, {})";
    expr_prog *p = expr_compile(a, src, strlen(src), &decls, NULL, &dl);
    assert_non_null(p);
    expr_binding b = {"object", expr_from_json(pod)};
    expr_env envv = {.vars = &b, .n_vars = 1, .fn_ctx = policy_lib.ctx_init(a, NULL)};
    uint64_t before = lookup_steps;
    expr_value v = expr_eval(p, &envv, a);
    uint64_t steps = lookup_steps - before;
    assert_int_equal(v.kind, EXPR_LIST);
    assert_int_equal(v.v.list->n, N);
    for (int i = 0; i < N; i += N - 1) { /* the first and the last row */
        const expr_map *row = v.v.list->items[i].v.map;
        char want[64];
        snprintf(want, sizeof want, "claim%d", i);
        const expr_value *claim = NULL, *subv = NULL;
        for (uint32_t k = 0; k < row->n; k++) {
            const expr_value *key = &row->kv[2 * k];
            if (key->len == 9 && memcmp(key->v.s, "claimName", 9) == 0)
                claim = &row->kv[2 * k + 1];
            if (key->len == 7 && memcmp(key->v.s, "subPath", 7) == 0)
                subv = &row->kv[2 * k + 1];
        }
        assert_non_null(claim);
        assert_non_null(subv);
        assert_int_equal(claim->len, strlen(want));
        assert_memory_equal(claim->v.s, want, claim->len);
        snprintf(want, sizeof want, "%d/%d", N - 1, i);
        assert_int_equal(subv->len, strlen(want));
        assert_memory_equal(subv->v.s, want, subv->len);
    }
    /* a scan per mount would be N * N / 2 = 8,000,000 */
    assert_true(steps < 40u * N);
    cJSON_Delete(pod);
    diag_list_clear(&dl);
    arena_free(a);
}

/* The engine tells the functions' state when it patches the object: each rule below asks
 * flinkConfig() of the same map (the working copy's) after the one before added an option
 * to it, and must see the option. Options are added, never replaced, so that what a stale
 * memo points to stays valid. */
static void test_engine_resets_library_ctx(void **state)
{
    (void)state;
    char path[] = "/tmp/sg-memo-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: m}\n"
               "spec:\n  match: {resources: [{kinds: [Deployment]}]}\n  mutations:\n");
    for (int k = 1; k <= 3; k++)
        fprintf(f, "    - when: size(flinkConfig(object.spec.flinkConfiguration)) == %d\n"
                   "      patch: [{op: add, path: /spec/flinkConfiguration/k%d, value: x}]\n",
                k, k);
    fclose(f);
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir(path, &dl);
    unlink(path);
    if (s == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "not loaded");
    cJSON *obj = cJSON_Parse("{\"spec\":{\"flinkConfiguration\":{\"k0\":\"x\"}}}");
    policy_request r;
    make_request(&r, obj, "ns", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_MUTATE, &r, false, a, &o), 0);
    assert_non_null(o.mutated);
    char *got = cJSON_PrintUnformatted(o.mutated);
    assert_string_equal(got, "{\"spec\":{\"flinkConfiguration\":{\"k0\":\"x\",\"k1\":\"x\","
                             "\"k2\":\"x\",\"k3\":\"x\"}}}");
    free(got);
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
    diag_list_clear(&dl);
}

/* The documents the memo tests read, bound to variables of the same names. */
static const char *const memo_vars[] = {"object", "other", "cm", "cm2", "bad", "v16", "nsb"};
static const char *const memo_docs[] = {
    "{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"flinkVersion\":\"v1_20\","
    "\"flinkConfiguration\":{\"high-availability\":\"zookeeper\","
    "\"high-availability.type\":\"kubernetes\"},\"job\":{\"jarURI\":\"local:///a.jar\"}}}",
    "{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"flinkVersion\":\"v1_20\","
    "\"flinkConfiguration\":{\"high-availability\":\"zookeeper\"},"
    "\"job\":{\"jarURI\":\"local:///a.jar\",\"entryClass\":\"A\\nk: injected\"}}}",
    "{\"metadata\":{\"namespace\":\"ops\",\"name\":\"c1\"},\"data\":{\"flink-conf.yaml\":"
    "\"k: base\\nkubernetes.operator.default-configuration.namespace.b.n: ns-b\\n"
    "kubernetes.operator.default-configuration.flink-version.v1_16.k: v16\\n\","
    "\"config.yaml\":\"k: from-config-yaml\\n\"}}",
    "{\"metadata\":{\"namespace\":\"ops\",\"name\":\"c2\"},\"data\":{\"flink-conf.yaml\":"
    "\"k: other-configmap\\n\"}}",
    "{\"spec\":{\"flinkConfiguration\":{\"a\":\"x\\ny: z\"}}}",
    "{\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"flinkVersion\":\"v1_16\"}}",
    "{\"metadata\":{\"namespace\":\"b\"},\"spec\":{\"flinkVersion\":\"v1_20\"}}",
};

/* 'src' evaluated with the memo documents and the functions' state 'fc' (NULL: none, so
 * nothing is remembered), as JSON or "!code: message" (malloc'd). */
static char *memo_eval(arena *a, policy_fn_ctx *fc, cJSON *const *docs, const char *src)
{
    enum { N = sizeof memo_vars / sizeof memo_vars[0] };
    diag_list dl;
    diag_list_init(&dl);
    expr_decls decls = {.vars = memo_vars, .n_vars = N, .fns = policy_lib.functions,
                        .n_fns = policy_lib.n_functions};
    expr_prog *p = expr_compile(a, src, strlen(src), &decls, NULL, &dl);
    if (p == NULL)
        fail_msg("%s: %s", src, dl.count ? dl.items[0].msg : "?");
    expr_binding b[N];
    for (size_t i = 0; i < N; i++)
        b[i] = (expr_binding){memo_vars[i], expr_from_json(docs[i])};
    expr_env env = {.vars = b, .n_vars = N, .fn_ctx = fc};
    expr_value v = expr_eval(p, &env, a);
    char *out = NULL;
    if (v.kind == EXPR_ERROR) {
        if (asprintf(&out, "!%s: %s", v.v.err->code, v.v.err->msg) < 0)
            out = NULL;
    } else {
        out = expr_to_json(&v, false);
    }
    assert_non_null(out);
    diag_list_clear(&dl);
    return out;
}

/* flinkConfig() and flinkHaModes() keep their answers for the run: the same call again is
 * answered from the memo with the same value (or the same error), and a call that differs in
 * any input (the flinkConfiguration or job node, the ConfigMap, the file, the resource's
 * version or namespace, flinkHaModes' map or version) is not, and gets its own answer, the
 * one a run without a memo gives. A map an expression built is never remembered. */
static void test_flink_memo(void **state)
{
    (void)state;
#define CFG(fc, rest) "flinkConfig(" fc ".spec.flinkConfiguration, " fc ".spec.job" rest ")"
    static const struct {
        const char *fn, *base, *changed;
        bool kept; /* the base is remembered (false: a built map) */
    } cases[] = {
        {"flinkConfig", CFG("object", ", cm, object, ''"), CFG("other", ", cm, object, ''"), true},
        {"flinkConfig", CFG("object", ", cm, object, ''"),
         "flinkConfig(object.spec.flinkConfiguration, other.spec.job, cm, object, '')", true},
        {"flinkConfig", CFG("object", ", cm, object, ''"), CFG("object", ", cm2, object, ''"),
         true},
        {"flinkConfig", CFG("object", ", cm, object, ''"),
         CFG("object", ", cm, object, 'config.yaml'"), true},
        {"flinkConfig", CFG("object", ", cm, object, ''"), CFG("object", ", cm, v16, ''"), true},
        {"flinkConfig", CFG("object", ", cm, object, ''"), CFG("object", ", cm, nsb, ''"), true},
        {"flinkConfig", CFG("object", ""), CFG("object", ", cm, object, ''"), true},
        {"flinkConfig", CFG("object", ", null, object, ''"), CFG("object", ", cm, object, ''"),
         true},
        {"flinkConfig", "flinkConfig({'k': 'a'})", "flinkConfig({'k': 'b'})", false},
        {"flinkConfig", "flinkConfig(bad.spec.flinkConfiguration)", CFG("object", ""), true},
        {"flinkHaModes", "flinkHaModes(" CFG("object", ", cm, object, ''") ", 'v1_20')",
         "flinkHaModes(" CFG("object", ", cm, object, ''") ", 'v1_16')", true},
        {"flinkHaModes", "flinkHaModes(" CFG("object", ", cm, object, ''") ", 'v1_20')",
         "flinkHaModes(flinkConfig(other.spec.flinkConfiguration, object.spec.job, cm, object, "
         "''), 'v1_20')",
         true},
    };
#undef CFG
    enum { N = sizeof memo_vars / sizeof memo_vars[0] };
    cJSON *docs[N];
    for (size_t i = 0; i < N; i++)
        assert_non_null(docs[i] = cJSON_Parse(memo_docs[i]));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arena *a = arena_new(1 << 24);
        policy_fn_ctx *fc = policy_lib.ctx_init(a, NULL);
        const char *fn = cases[i].fn;
        char *want_base = memo_eval(a, NULL, docs, cases[i].base);
        char *want_changed = memo_eval(a, NULL, docs, cases[i].changed);
        if (strcmp(want_base, want_changed) == 0)
            fail_msg("case %zu: the inputs do not tell the answers apart: %s", i, want_base);
        size_t kept = cases[i].kept;
        for (int round = 0; round < 2; round++) {
            char *got = memo_eval(a, fc, docs, cases[i].base);
            if (strcmp(got, want_base) != 0 || policy_fn_ctx_hits(fc, fn) != kept * round)
                fail_msg("case %zu round %d: %s gives %s (%zu hits), want %s (%zu)", i, round,
                         cases[i].base, got, policy_fn_ctx_hits(fc, fn), want_base,
                         kept * round);
            free(got);
        }
        for (int round = 0; round < 2; round++) {
            char *got = memo_eval(a, fc, docs, cases[i].changed);
            size_t hits = kept * (1 + (size_t)round);
            if (strcmp(got, want_changed) != 0 || policy_fn_ctx_hits(fc, fn) != hits)
                fail_msg("case %zu round %d: %s gives %s (%zu hits), want %s (%zu)", i, round,
                         cases[i].changed, got, policy_fn_ctx_hits(fc, fn), want_changed, hits);
            free(got);
        }
        /* after ctx_reset (the JSON may change), nothing is answered from before */
        policy_lib.ctx_reset(fc);
        char *got = memo_eval(a, fc, docs, cases[i].base);
        assert_string_equal(got, want_base);
        assert_int_equal(policy_fn_ctx_hits(fc, fn), 2 * kept);
        free(got);
        free(want_base);
        free(want_changed);
        arena_free(a);
    }
    assert_int_equal(policy_fn_ctx_hits(NULL, "flinkConfig"), 0);
    for (size_t i = 0; i < N; i++)
        cJSON_Delete(docs[i]);
}

/* Loads the policies in 'yaml' (documents of one file) as a set; fails the test if it cannot. */
static policy_set *load_yaml_set(const char *yaml)
{
    char path[] = "/tmp/sg-share-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(yaml, f);
    fclose(f);
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir(path, &dl);
    unlink(path);
    if (s == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "not loaded");
    diag_list_clear(&dl);
    return s;
}

#define SHARE_POLICY(name, params, var, rule)                                                  \
    "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: " name "}\n"         \
    "spec:\n  match: {resources: [{kinds: [Deployment]}]}\n  params: " params "\n"             \
    "  variables:\n    - {name: x, expression: \"" var "\"}\n" rule "---\n"
#define SHARE_CHECK "  validations: [{expression: 'variables.x != null'}]\n"

#define CLASS_POLICY(name, match, rule)                                                        \
    "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: " name "}\n"         \
    "spec:\n  match: " match "\n" rule "---\n"
#define CLASS_DENY "  validations: [{expression: 'false', message: no}]\n"
#define CLASS_MUTATE "  mutations: [{patch: [{op: add, path: /x, value: 1}]}]\n"
#define CLASS_DEPLOY "{resources: [{kinds: [Deployment]}]}"

/* Policies whose matches are written alike share a match class, which the engine decides once
 * per request; any difference makes a class of its own. A class whose first policy does not
 * run (only mutations, under validation) is still decided for the next. */
static void test_match_classes(void **state)
{
    (void)state;
    policy_set *s = load_yaml_set(
        CLASS_POLICY("a", CLASS_DEPLOY, CLASS_MUTATE)
        CLASS_POLICY("b", CLASS_DEPLOY, CLASS_DENY)
        CLASS_POLICY("c", "{resources: [{kinds: [Deployment, StatefulSet]}]}", CLASS_DENY)
        CLASS_POLICY("d", "{resources: [{kinds: [Deployment]}], objectSelector: {matchLabels: "
                          "{team: a}}}", CLASS_DENY)
        CLASS_POLICY("e", "{resources: [{kinds: [Deployment, StatefulSet]}]}", CLASS_DENY)
        CLASS_POLICY("f", "{resources: [{kinds: [Deployment]}], namespaces: {exclude: [x]}}",
                     CLASS_DENY)
        CLASS_POLICY("g", "{resources: [{kinds: [Deployment]}], objectSelector: {matchLabels: "
                          "{team: b}}}", CLASS_DENY)
        CLASS_POLICY("h", "{resources: [{kinds: [StatefulSet]}]}", CLASS_DENY)
        CLASS_POLICY("i", "{resources: [{kinds: [Deployment], operations: [UPDATE]}]}",
                     CLASS_DENY)
        CLASS_POLICY("j", CLASS_DEPLOY, CLASS_DENY));
    size_t n;
    const policy *p = policy_set_items(s, &n);
    static const size_t want[] = {0, 0, 1, 2, 1, 3, 4, 5, 6, 0};
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        if (p[i].match_class != want[i])
            fail_msg("policy %s: class %zu, want %zu", p[i].name, p[i].match_class, want[i]);
    assert_int_equal(policy_set_match_classes(s), 7);
    cJSON *obj = cJSON_Parse("{\"metadata\":{\"labels\":{\"team\":\"a\"}}}");
    policy_request r;
    make_request(&r, obj, "x", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
    char got[64] = "";
    for (size_t i = 0; i < o.n_findings; i++)
        strcat(got, o.findings[i].policy->name);
    assert_string_equal(got, "bcdej"); /* not f (namespace x), g (team b), h, i (CREATE) */
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
}

/* Validations of one request share an evaluation context, pointed at each policy in turn: a
 * policy sees its own params and variables (evaluated afresh, not the last policy's of the
 * same name and position), none when it has none, and its own step budget. */
static void test_validation_context_per_policy(void **state)
{
    (void)state;
    policy_set *s = load_yaml_set(
        CLASS_POLICY("a", CLASS_DEPLOY, "  params: {v: 1}\n"
                     "  variables: [{name: x, expression: 'params.v + 0'}]\n"
                     "  validations: [{expression: 'variables.x != 1', message: a}]\n")
        CLASS_POLICY("b", CLASS_DEPLOY, "  params: {v: 2}\n"
                     "  variables: [{name: x, expression: 'params.v + object.n'}]\n"
                     "  validations: [{expression: 'variables.x != 2', message: b}]\n")
        CLASS_POLICY("c", CLASS_DEPLOY, "  validations: [{expression: 'params == null', "
                     "message: c}, {expression: 'size(object.items.map(i, i)) == 0', message: "
                     "c2}]\n")
        CLASS_POLICY("d", CLASS_DEPLOY, "  params: {v: 4}\n"
                     "  variables: [{name: y, expression: 'params.v'}, {name: x, "
                     "expression: 'variables.y + object.n'}]\n"
                     "  validations: [{expression: 'variables.x != 4', message: d}]\n"));
    char items[64] = "[0";
    for (int i = 1; i < 9; i++)
        strcat(items, ",0");
    char obj_json[128];
    snprintf(obj_json, sizeof obj_json, "{\"n\":0,\"items\":%s]}", items);
    cJSON *obj = cJSON_Parse(obj_json);
    policy_request r;
    make_request(&r, obj, "x", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
    char got[256] = "";
    for (size_t i = 0; i < o.n_findings; i++) {
        strcat(got, o.findings[i].message);
        strcat(got, ";");
    }
    assert_string_equal(got, "[a] a;[b] b;[c] c2;[d] d;");
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
}

/* Variables of different policies share one value per run when their texts are the same, they
 * name no variable or forEach element, and the params they name are the same. */
static void test_share_groups(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        bool shared;
    } cases[] = {
        {SHARE_POLICY("a", "{n: {ns: x, other: 1}}", "object.spec.replicas", SHARE_CHECK)
         SHARE_POLICY("b", "{}", "object.spec.replicas", SHARE_CHECK), true},
        {SHARE_POLICY("a", "{n: {ns: x, other: 1}}", "lookup('v1', 'ConfigMap', params.n.ns, 'c')",
                      SHARE_CHECK)
         SHARE_POLICY("b", "{n: {ns: x, other: 2}}", "lookup('v1', 'ConfigMap', params.n.ns, 'c')",
                      SHARE_CHECK), true},
        {SHARE_POLICY("a", "{n: {ns: x}}", "lookup('v1', 'ConfigMap', params.n.ns, 'c')",
                      SHARE_CHECK)
         SHARE_POLICY("b", "{n: {ns: y}}", "lookup('v1', 'ConfigMap', params.n.ns, 'c')",
                      SHARE_CHECK), false},
        /* a method of a params field reads the field */
        {SHARE_POLICY("a", "{n: {a: 1}}", "params.n.size() + object.spec.replicas", SHARE_CHECK)
         SHARE_POLICY("b", "{n: {a: 1, b: 2}}", "params.n.size() + object.spec.replicas",
                      SHARE_CHECK), false},
        /* params read whole */
        {SHARE_POLICY("a", "{n: 1, m: 1}", "params[?'n'].orValue(0)", SHARE_CHECK)
         SHARE_POLICY("b", "{n: 1, m: 2}", "params[?'n'].orValue(0)", SHARE_CHECK), false},
        {SHARE_POLICY("a", "{n: 1, m: 1}", "params.?n.orValue(0)", SHARE_CHECK)
         SHARE_POLICY("b", "{n: 1, m: 2}", "params.?n.orValue(0)", SHARE_CHECK), false},
        {SHARE_POLICY("a", "{n: 1}", "object.spec.replicas", "    - {name: y, expression: "
                      "'variables.x + 1'}\n" SHARE_CHECK)
         SHARE_POLICY("b", "{n: 1}", "object.spec.replicas", "    - {name: y, expression: "
                      "'variables.x + 1'}\n" SHARE_CHECK), true},
        {SHARE_POLICY("a", "{}", "object.spec.replicas + 1", SHARE_CHECK)
         SHARE_POLICY("b", "{}", "object.spec.replicas  + 1", SHARE_CHECK), false},
        /* what it reads is read from the program: words in a string are not code */
        {SHARE_POLICY("a", "{}", "'variables and element: ' + string(object.spec.replicas)",
                      SHARE_CHECK)
         SHARE_POLICY("b", "{}", "'variables and element: ' + string(object.spec.replicas)",
                      SHARE_CHECK), true},
        /* params.n bound whole: all of n compared */
        {SHARE_POLICY("a", "{n: {ns: x, other: 1}}", "cel.bind(m, params.n, m.ns)", SHARE_CHECK)
         SHARE_POLICY("b", "{n: {ns: x, other: 2}}", "cel.bind(m, params.n, m.ns)", SHARE_CHECK),
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        policy_set *s = load_yaml_set(cases[i].yaml);
        size_t n;
        const policy *p = policy_set_items(s, &n);
        assert_int_equal(n, 2);
        bool shared = p[0].vars[0].shared != 0 && p[0].vars[0].shared == p[1].vars[0].shared;
        if (shared != cases[i].shared)
            fail_msg("case %zu: x shared %d, want %d", i, shared, cases[i].shared);
        /* y reads a variable: never shared, whatever x is */
        for (size_t k = 0; k < n; k++)
            if (p[k].n_vars > 1)
                assert_int_equal(p[k].vars[1].shared, 0);
        assert_int_equal(policy_set_shared_count(s), cases[i].shared ? 1 : 0);
        policy_set_unref(s);
    }
}

/* An integral number option is written as "%lld" writes it (policy_scalar_text formats it by
 * hand, without stdio); other numbers as before. */
static void test_scalar_text_numbers(void **state)
{
    (void)state;
    static const double values[] = {0.0, -0.0, 1, -1, 9, 10, -10, 99, 100, 12345, -987654321,
                                    4294967296.0, 9007199254740992.0, -9007199254740993.0,
                                    9.1e18, -9.1e18, 9.2e18, 1e19, 0.5, -2.25, 1e-7, 3.0e300};
    arena *a = arena_new(1 << 20);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        double d = values[i];
        char want[64];
        if (d > -9.2e18 && d < 9.2e18 && d == (double)(long long)d)
            snprintf(want, sizeof want, "%lld", (long long)d);
        else {
            snprintf(want, sizeof want, "%.15g", d);
            if (strtod(want, NULL) != d)
                snprintf(want, sizeof want, "%.17g", d);
        }
        cJSON *n = cJSON_CreateNumber(d);
        const char *got = policy_scalar_text(a, n);
        if (got == NULL || strcmp(got, want) != 0)
            fail_msg("%.17g: got %s, want %s", d, got ? got : "NULL", want);
        cJSON_Delete(n);
    }
    arena_free(a);
}

/* The shipped Flink policies that read the effective configuration read it through one
 * shared variable, so the arguments of flinkConfig() (a lookup() of the operator's ConfigMap
 * among them) are evaluated once per run, not once per policy: a policy that wrote the call
 * inside another variable (flink-reactive-requires-standalone's reactive, image-pinned's
 * flinkImage) evaluated them again on every review. Likewise the list of the places containers
 * are declared, which image-pinned and no-inline-credentials both walk. */
static void test_share_shipped_flink_cfg(void **state)
{
    (void)state;
    static const char *const names[] = {
        "flink-ha-required", "flink-ha-storagedir-required", "flink-rest-api-exposure",
        "flink-reactive-requires-standalone", "image-pinned", "flink-last-state-requires-ha",
        "flink-parallelism-fits-slots", "node-sizing-limits",
    };
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir("policies", &dl);
    assert_non_null(s);
    size_t n;
    const policy *items = policy_set_items(s, &n);
    size_t group = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const policy *p = NULL;
        for (size_t k = 0; k < n && p == NULL; k++)
            if (strcmp(items[k].name, names[i]) == 0)
                p = &items[k];
        if (p == NULL)
            fail_msg("no policy %s", names[i]);
        /* node-sizing-limits reads it behind its kind test, as flinkCfg */
        const char *var = strcmp(names[i], "node-sizing-limits") == 0 ? "flinkCfg" : "cfg";
        size_t sh = find_var(p, var)->shared;
        if (sh == 0 || (group != 0 && sh != group))
            fail_msg("%s: %s in share group %zu, want %zu", names[i], var, sh, group);
        group = sh;
    }
    /* and every variable of a shipped validating policy (those run together on /validate)
     * that reads the object's effective configuration over the operator's ConfigMap is that
     * one value: one written otherwise (node-sizing-limits' behind a kind test, once) would
     * evaluate the call's arguments again on every review */
    for (size_t k = 0; k < n; k++) {
        for (size_t v = 0; items[k].n_validations > 0 && v < items[k].n_vars; v++) {
            const char *src = expr_source(items[k].vars[v].prog);
            if (src == NULL || strstr(src, "flinkConfig(object.spec") == NULL ||
                strstr(src, "params.operatorConfigMap") == NULL)
                continue;
            if (items[k].vars[v].shared != group)
                fail_msg("%s: variable %s calls flinkConfig() in share group %zu, not %zu",
                         items[k].name, items[k].vars[v].name, items[k].vars[v].shared, group);
        }
    }
    /* the places containers are declared, which image-pinned and no-inline-credentials both
     * walk (image-pinned once built its own list of the Flink pod templates) */
    const policy *img = NULL, *cred = NULL;
    for (size_t k = 0; k < n; k++) {
        if (strcmp(items[k].name, "image-pinned") == 0)
            img = &items[k];
        if (strcmp(items[k].name, "no-inline-credentials") == 0)
            cred = &items[k];
    }
    assert_non_null(img);
    assert_non_null(cred);
    assert_int_not_equal(find_var(img, "holders")->shared, 0);
    assert_int_equal(find_var(img, "holders")->shared, find_var(cred, "holders")->shared);
    policy_set_unref(s);
    diag_list_clear(&dl);
}

/* A shared value costs each policy that takes it the steps it would have spent evaluating
 * it: a rule that exceeds its budget with the variable's cost exceeds it with the shared value
 * too, and one that does not, does not. */
static void test_share_budget(void **state)
{
    (void)state;
    policy_set *s = load_yaml_set(
        SHARE_POLICY("a", "{}", "object.items.filter(i, i >= 0).size()", SHARE_CHECK)
        SHARE_POLICY("b", "{}", "object.items.filter(i, i >= 0).size()",
                     "  validations: [{expression: 'object.items.all(i, i >= 0) && "
                     "variables.x > 0'}]\n")
        SHARE_POLICY("c", "{}", "object.items.filter(i, i >= 0).size()",
                     "  validations: [{expression: 'variables.x > 0'}]\n"));
    size_t n;
    const policy *p = policy_set_items(s, &n);
    assert_true(p[0].vars[0].shared != 0 && p[2].vars[0].shared == p[0].vars[0].shared);
    /* 35,000 items: the filter is ~140,000 steps and the all() ~105,000, so b's rule is over
     * 200,000, a's and c's under it */
    cJSON *obj = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(obj, "items");
    for (int i = 0; i < 35000; i++)
        cJSON_AddItemToArray(items, cJSON_CreateNumber(i));
    policy_request r;
    make_request(&r, obj, "ns", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
    assert_int_equal(o.n_findings, 1);
    assert_string_equal(o.findings[0].policy->name, "b");
    assert_int_equal(o.findings[0].result, RULE_ERROR);
    assert_non_null(strstr(o.findings[0].message, "exceeded 200000 steps"));
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
}

/* The arena a validation run uses with 'copies' policies selecting on labels that declare no
 * variable, on 'obj' (op 0 CREATE, 2 DELETE: the labels are then oldObject's). */
static size_t fixed_cost_run(int copies, const char *obj_json, unsigned op, size_t *n_matched)
{
    char yaml[16384] = "";
    for (int i = 0; i < copies; i++) {
        char one[512];
        snprintf(one, sizeof one,
                 "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p%d}\n"
                 "spec:\n  match:\n    resources: [{kinds: [Deployment], operations: [CREATE, "
                 "DELETE], objectSelector: {matchExpressions: [{key: canary, operator: "
                 "DoesNotExist}]}}]\n    objectSelector: {matchLabels: {app: web}}\n"
                 "  validations: [{expression: 'request == null || object == null || "
                 "object.metadata.name == \"web\"'}]\n---\n", i);
        strcat(yaml, one);
    }
    policy_set *s = load_yaml_set(yaml);
    cJSON *obj = cJSON_Parse(obj_json);
    policy_request r;
    make_request(&r, obj, "ns", "bob", "", op, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
    assert_int_equal(o.n_findings, 0);
    *n_matched = o.n_matched;
    size_t used = arena_used(a);
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
    return used;
}

/* What a policy costs before its expressions is paid once per request where it can be: the
 * labels the selectors read are looked up once, the request's bindings made once, and a policy
 * without variables allocates no state for them (each policy allocated two arrays, and
 * converted the same object, oldObject and request again). The selectors still read the
 * object's labels, or oldObject's on DELETE, for every policy and rule. */
static void test_engine_fixed_cost_per_request(void **state)
{
    (void)state;
    static const char labelled[] = "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"}}}";
    static const char canary[] =
        "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\",\"canary\":\"1\"}}}";
    static const char other[] = "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"db\"}}}";
    size_t m1, m20;
    size_t one = fixed_cost_run(1, labelled, 0, &m1);
    size_t twenty = fixed_cost_run(20, labelled, 0, &m20);
    assert_int_equal(m1, 1);
    assert_int_equal(m20, 20);
    if (twenty != one)
        fail_msg("20 policies without variables used %zu arena bytes, 1 used %zu: a policy "
                 "costs the run memory of its own", twenty, one);
    fixed_cost_run(20, labelled, 2, &m20);
    assert_int_equal(m20, 20);
    fixed_cost_run(20, canary, 0, &m20);
    assert_int_equal(m20, 0);
    fixed_cost_run(20, canary, 2, &m20);
    assert_int_equal(m20, 0);
    fixed_cost_run(20, other, 2, &m20);
    assert_int_equal(m20, 0);
    fixed_cost_run(3, "{\"metadata\":{\"name\":\"web\"}}", 0, &m20);
    assert_int_equal(m20, 0);
}

/* A patch forgets the shared values: a later policy's variable sees the patched object. */
static void test_share_after_patch(void **state)
{
    (void)state;
    policy_set *s = load_yaml_set(
        SHARE_POLICY("a", "{}", "size(object.metadata.?labels.orValue({}))",
                     "  mutations:\n    - when: variables.x == 0\n"
                     "      patch: [{op: add, path: /metadata/labels, value: {k: v}}]\n")
        SHARE_POLICY("b", "{}", "size(object.metadata.?labels.orValue({}))",
                     "  mutations:\n    - when: variables.x == 1\n"
                     "      patch: [{op: add, path: /metadata/annotations,"
                     " value: {seen: '1'}}]\n"));
    size_t n;
    const policy *p = policy_set_items(s, &n);
    assert_true(p[0].vars[0].shared != 0 && p[1].vars[0].shared == p[0].vars[0].shared);
    cJSON *obj = cJSON_Parse("{\"metadata\":{}}");
    policy_request r;
    make_request(&r, obj, "ns", "bob", "", 0, NULL);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(s, ENGINE_MUTATE, &r, false, a, &o), 0);
    assert_non_null(o.mutated);
    char *got = cJSON_PrintUnformatted(o.mutated);
    assert_string_equal(got, "{\"metadata\":{\"labels\":{\"k\":\"v\"},\"annotations\":{\"seen\":"
                             "\"1\"}}}");
    free(got);
    arena_free(a);
    cJSON_Delete(obj);
    policy_set_unref(s);
}

/* Evaluates 'src' with 'lk' and returns its value as JSON (malloc'd), or "!code: message". */
static char *eval_with_lookup(const char *src, const policy_lookup *lk)
{
    arena *a = arena_new(1 << 24);
    diag_list dl;
    diag_list_init(&dl);
    static const char *const vars[] = {"object"};
    expr_decls decls = {.vars = vars, .n_vars = 1, .fns = policy_lib.functions,
                        .n_fns = policy_lib.n_functions};
    expr_prog *p = expr_compile(a, src, strlen(src), &decls, NULL, &dl);
    if (p == NULL)
        fail_msg("%s: %s", src, dl.count ? dl.items[0].msg : "?");
    expr_binding b = {"object", expr_from_json(NULL)};
    expr_env env = {.vars = &b, .n_vars = 1, .fn_ctx = policy_lib.ctx_init(a, lk)};
    expr_value v = expr_eval(p, &env, a);
    char *out = NULL;
    if (v.kind == EXPR_ERROR) {
        if (asprintf(&out, "!%s: %s", v.v.err->code, v.v.err->msg) < 0)
            out = NULL;
    } else {
        out = expr_to_json(&v, false);
    }
    diag_list_clear(&dl);
    arena_free(a);
    return out;
}

/* lookup(): the object, null, or an evaluation error when the cluster could not be asked;
 * lookupList(): the objects, [], or the same error. */
static void test_lookup_outcomes(void **state)
{
    (void)state;
    cJSON *pvc = cJSON_Parse("{\"kind\":\"PersistentVolumeClaim\","
                             "\"spec\":{\"accessModes\":[\"ReadWriteMany\"]}}");
    policy_lookup lk = {.find = stub_find, .list = stub_list, .data = pvc};
    policy_lookup none = {.data = pvc};
    static const struct {
        const char *src, *want;
        int calls; /* of the stub */
        bool unset; /* with a policy_lookup whose find and list are NULL */
    } cases[] = {
        {"lookup('v1', 'PersistentVolumeClaim', 'ns', 'found').spec.accessModes",
         "[\"ReadWriteMany\"]", 1, false},
        {"lookup('v1', 'PersistentVolumeClaim', 'ns', 'missing')", "null", 1, false},
        {"lookup('v1', 'PersistentVolumeClaim', 'ns', 'down')",
         "!expr.lookup: lookup(v1, PersistentVolumeClaim, ns, down): the cluster could not be "
         "asked: connection refused", 1, false},
        /* an error is not a null: '== null' does not hide it */
        {"lookup('v1', 'PersistentVolumeClaim', '', 'down') == null",
         "!expr.lookup: lookup(v1, PersistentVolumeClaim, '', down): the cluster could not be "
         "asked: connection refused", 1, false},
        {"lookup('v1', 'PersistentVolumeClaim', null, 'found') != null", "true", 1, false},
        /* no name holds a NUL: nothing is asked, nothing found */
        {"lookup('v1', 'PersistentVolumeClaim', 'ns', 'found\\x00')", "null", 0, false},
        {"lookup('v1', 'PersistentVolumeClaim', 'ns', 1)",
         "!expr.no_overload: no matching overload for 'lookup' applied to (int)", 0, false},
        {"lookupList('v1', 'PersistentVolumeClaim', 'a').map(p, p.kind)",
         "[\"PersistentVolumeClaim\",\"PersistentVolumeClaim\"]", 1, false},
        {"lookupList('v1', 'PersistentVolumeClaim', 'b')", "[]", 1, false},
        {"lookupList('v1', 'Node', 'down').size()",
         "!expr.lookup: lookupList(v1, Node, down): the cluster could not be asked: watch of v1 "
         "Node not synced", 1, false},
        {"lookupList('v1', 'Node', null)", "[]", 1, false},
        /* a fallback answers for a cluster that could not be asked, and only then */
        {"lookupList('v1', 'Node', 'down', null)", "null", 1, false},
        {"lookupList('v1', 'Node', 'down', [])", "[]", 1, false},
        {"lookupList('v1', 'Node', 'b', null)", "[]", 1, false},
        {"lookupList('v1', 'PersistentVolumeClaim', 'a', null).size()", "2", 1, false},
        {"lookupList('v1', 'Node', ['a'])",
         "!expr.no_overload: no matching overload for 'lookupList' applied to (list)", 0, false},
        /* one answer per object and run: asked once, however often a rule asks */
        {"[lookup('v1', 'PersistentVolumeClaim', 'ns', 'found'), lookup('v1', "
         "'PersistentVolumeClaim', 'ns', 'found'), lookup('v1', 'PersistentVolumeClaim', 'ns', "
         "'missing'), lookup('v1', 'PersistentVolumeClaim', 'ns2', 'found')].size()", "4", 3,
         false},
        {"[1, 2, 3].all(i, lookupList('v1', 'Node', 'a').size() == 2)", "true", 1, false},
        /* a repeated call is answered from the memo before its arguments are copied: by
         * value, null and '' the same namespace, a shorter name or one with a NUL another */
        {"[lookup('v1', 'PersistentVolumeClaim', null, 'found'), lookup('v1', "
         "'PersistentVolumeClaim', '', 'found')].map(x, x == null)", "[false,false]", 1, false},
        {"[lookup('v1', 'PersistentVolumeClaim', 'ns', 'found'), lookup('v1', "
         "'PersistentVolumeClaim', 'ns', 'foun'), lookup('v1', 'PersistentVolumeClaim', 'ns', "
         "'found\\x00'), lookup('v1', 'PersistentVolumeClaim', 'n', 'found')].map(x, x == null)",
         "[false,true,true,false]", 3, false},
        {"[lookup('v1', 'PersistentVolumeClaim', 'ns', 'down') == null, lookup('v1', "
         "'PersistentVolumeClaim', 'ns', 'down') == null].exists(x, x)",
         "!expr.lookup: lookup(v1, PersistentVolumeClaim, ns, down): the cluster could not be "
         "asked: connection refused", 1, false},
        {"[1, 2, 3].exists(i, lookup('v1', 'PersistentVolumeClaim', 'ns', 'down') == null)",
         "!expr.lookup: lookup(v1, PersistentVolumeClaim, ns, down): the cluster could not be "
         "asked: connection refused", 1, false},
        /* nothing to look in: null and [] */
        {"lookup('v1', 'PersistentVolumeClaim', 'ns', 'found')", "null", 0, true},
        {"lookupList('v1', 'PersistentVolumeClaim', 'a')", "[]", 0, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lookup_calls = 0;
        char *got = eval_with_lookup(cases[i].src, cases[i].unset ? &none : &lk);
        if (got == NULL || strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].src, got ? got : "(null)", cases[i].want);
        if (lookup_calls != cases[i].calls)
            fail_msg("%s: %d calls, want %d", cases[i].src, lookup_calls, cases[i].calls);
        free(got);
    }
    /* no policy_lookup at all (the context without one) */
    char *got = eval_with_lookup(
        "[lookup('v1', 'Pod', 'a', 'found'), lookupList('v1', 'Pod', 'a')]", NULL);
    assert_string_equal(got, "[null,[]]");
    free(got);
    cJSON_Delete(pvc);
}

static enum policy_lookup_result stub_down(void *data, const char *api, const char *kind,
                                           const char *ns, const char *name, arena *a,
                                           const cJSON **out, const char **why)
{
    (void)name;
    return stub_find(data, api, kind, ns, "down", a, out, why);
}

/* A lookup the cluster could not answer is an evaluation error, so the policy's failurePolicy
 * decides (needs-config: Fail, so denied), not the policy's reading of null. */
static void test_engine_lookup_unavailable(void **state)
{
    (void)state;
    cJSON *obj = cJSON_Parse("{\"spec\":{},\"metadata\":{\"namespace\":\"team-a\",\"labels\":"
                             "{\"team\":\"a\",\"config\":\"check\"}}}");
    policy_lookup lk = {.find = stub_down, .data = obj};
    policy_request r;
    make_request(&r, obj, "team-a", "bob", "", 0, &lk);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    policy_outcome o;
    assert_int_equal(policy_engine_run(engine_set, ENGINE_VALIDATE, &r, false, a, &o), 0);
    assert_int_equal(o.n_findings, 1);
    assert_int_equal(o.findings[0].result, RULE_ERROR);
    assert_true(o.denied);
    assert_non_null(strstr(o.findings[0].message, "the cluster could not be asked"));
    arena_free(a);
    cJSON_Delete(obj);
}

/* flink-ha-storage-rwx asks for the claim in the object's namespace, else the request's (a
 * client may leave it to the URL), and only for the mount a directory is on. */
static char asked_ns[64];
static int asked_n;

static enum policy_lookup_result record_find(void *data, const char *api, const char *kind,
                                             const char *ns, const char *name, arena *a,
                                             const cJSON **out, const char **why)
{
    (void)data;
    (void)a;
    (void)out;
    (void)why;
    assert_string_equal(api, "v1");
    if (strcmp(kind, "ConfigMap") == 0) { /* the Flink operator's defaults, where params say */
        assert_string_equal(ns, "default");
        assert_string_equal(name, "flink-operator-config");
        return LOOKUP_NOT_FOUND;
    }
    asked_n++;
    snprintf(asked_ns, sizeof asked_ns, "%s", ns);
    assert_string_equal(kind, "PersistentVolumeClaim");
    assert_string_equal(name, "data");
    return LOOKUP_NOT_FOUND;
}

static void test_rwx_policy_claim_namespace(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir("policies/flink-ha-storage-rwx.yaml", &dl);
    assert_non_null(s);
    static const struct {
        const char *meta, *request, *want_ns;
    } cases[] = {
        {"{\"name\":\"f\",\"namespace\":\"team-a\"}", "{\"namespace\":\"team-b\"}", "team-a"},
        {"{\"name\":\"f\"}", "{\"namespace\":\"team-b\"}", "team-b"},
        {"{\"name\":\"f\"}", NULL, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char obj_text[1024];
        /* two claims mounted; the HA directory is on 'data' only */
        snprintf(obj_text, sizeof obj_text,
                 "{\"apiVersion\":\"flink.apache.org/v1beta1\",\"kind\":\"FlinkDeployment\","
                 "\"metadata\":%s,\"spec\":{\"flinkConfiguration\":{\"high-availability.type\":"
                 "\"kubernetes\",\"high-availability.storageDir\":\"file:///d/ha\"},"
                 "\"podTemplate\":{\"spec\":{\"containers\":[{\"name\":\"flink-main-container\","
                 "\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/d\"},{\"name\":\"w\","
                 "\"mountPath\":\"/other\"}]}],\"volumes\":[{\"name\":\"v\","
                 "\"persistentVolumeClaim\":{\"claimName\":\"data\"}},{\"name\":\"w\","
                 "\"persistentVolumeClaim\":{\"claimName\":\"unrelated\"}}]}}}}",
                 cases[i].meta);
        cJSON *obj = cJSON_Parse(obj_text);
        cJSON *req = cases[i].request ? cJSON_Parse(cases[i].request) : NULL;
        policy_lookup lk = {.find = record_find};
        policy_request r = {.group = "flink.apache.org", .version = "v1beta1",
                            .kind = "FlinkDeployment", .sub_resource = "", .namespace_ = "",
                            .name = "f", .username = "u", .object = obj, .request = req,
                            .lookup = &lk};
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        policy_outcome o;
        asked_n = 0;
        asked_ns[0] = '\0';
        assert_int_equal(policy_engine_run(s, ENGINE_VALIDATE, &r, false, a, &o), 0);
        assert_int_equal(asked_n, 1);
        assert_string_equal(asked_ns, cases[i].want_ns);
        assert_int_equal(o.n_findings, 1);
        assert_int_equal(o.findings[0].result, RULE_WARN);
        assert_int_equal(o.findings[0].action, POLICY_WARN);
        assert_non_null(strstr(o.findings[0].message, "data: not found"));
        arena_free(a);
        cJSON_Delete(obj);
        cJSON_Delete(req);
    }
    policy_set_unref(s);
    diag_list_clear(&dl);
}

static int free_engine_set(void **state)
{
    (void)state;
    policy_set_unref(engine_set);
    return 0;
}

/* cJSON's allocator, counting how often one node is freed (and freeing it only once). */
static const void *tracked;
static int tracked_frees;

static void counting_free(void *p)
{
    if (p != NULL && p == tracked && tracked_frees++ > 0)
        return;
    free(p);
}

/* policy_defer_json() hands a tree to a request arena; when the arena is full the tree is
 * deleted at once, exactly once (arena_defer() runs the cleanup itself on failure). */
static void test_defer_json_full_arena(void **state)
{
    (void)state;
    cJSON_InitHooks(&(cJSON_Hooks){.malloc_fn = malloc, .free_fn = counting_free});
    arena *a = arena_new(4096);
    assert_non_null(a);
    cJSON *ok = cJSON_CreateNumber(1);
    tracked = ok;
    tracked_frees = 0;
    assert_int_equal(policy_defer_json(a, ok), 0);
    assert_int_equal(tracked_frees, 0); /* kept until the arena goes */
    while (arena_alloc(a, 16) != NULL)
        ;
    cJSON *late = cJSON_CreateNumber(2);
    tracked = late;
    tracked_frees = 0;
    assert_int_equal(policy_defer_json(a, late), -1);
    assert_int_equal(tracked_frees, 1);
    assert_int_equal(policy_defer_json(a, NULL), -1);
    tracked = ok;
    tracked_frees = 0;
    arena_free(a);
    assert_int_equal(tracked_frees, 1);
    tracked = NULL;
    cJSON_InitHooks(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_resolution),
        cmocka_unit_test(test_defer_json_full_arena),
        cmocka_unit_test(test_bad_yaml),
        cmocka_unit_test(test_yaml_large_mapping),
        cmocka_unit_test(test_deep_nesting_and_alias_bombs),
        cmocka_unit_test(test_alias_text_and_many_keys),
        cmocka_unit_test(test_positions_and_documents),
        cmocka_unit_test(test_upstream_manifests),
        cmocka_unit_test(test_lint_fixtures),
        cmocka_unit_test(test_lint_positions_crlf),
        cmocka_unit_test(test_lint_positions_cr),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_good_policy),
        cmocka_unit_test(test_empty_and_missing),
        cmocka_unit_test(test_lookup_kinds),
        cmocka_unit_test(test_lookup_scopes),
        cmocka_unit_test(test_lookup_outcomes),
        cmocka_unit_test(test_rwx_policy_claim_namespace),
        cmocka_unit_test_setup_teardown(test_engine_lookup_unavailable, load_engine_set,
                                        free_engine_set),
        cmocka_unit_test_setup_teardown(test_engine_validate, load_engine_set, free_engine_set),
        cmocka_unit_test_setup_teardown(test_engine_messages, load_engine_set, free_engine_set),
        cmocka_unit_test(test_engine_bindings),
        cmocka_unit_test(test_library_ctx),
        cmocka_unit_test(test_container_mounts_linear),
        cmocka_unit_test(test_engine_resets_library_ctx),
        cmocka_unit_test(test_flink_memo),
        cmocka_unit_test(test_share_groups),
        cmocka_unit_test(test_match_classes),
        cmocka_unit_test(test_validation_context_per_policy),
        cmocka_unit_test(test_share_budget),
        cmocka_unit_test(test_share_shipped_flink_cfg),
        cmocka_unit_test(test_scalar_text_numbers),
        cmocka_unit_test(test_share_after_patch),
        cmocka_unit_test(test_engine_fixed_cost_per_request),
        cmocka_unit_test_setup_teardown(test_engine_mutate, load_engine_set, free_engine_set),
        cmocka_unit_test(test_engine_rule_budget),
        cmocka_unit_test(test_engine_budget_edge),
        cmocka_unit_test(test_engine_budget_exact),
        cmocka_unit_test(test_constant_variables),
        cmocka_unit_test_setup_teardown(test_engine_mutate_large_map, load_engine_set,
                                        free_engine_set),
        cmocka_unit_test_setup_teardown(test_engine_rule_selector, load_engine_set,
                                        free_engine_set),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
