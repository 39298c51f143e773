/* test_admission_golden.c - the captured AdmissionReviews answered with the shipped policies,
 * compared byte for byte with the answers recorded next to them.
 *
 * For every tests/fixtures/admission/NAME.request.json (a body a real kube-apiserver sent):
 * NAME.response.json is the reply body of /validate, and NAME.mutate.response.json the reply
 * body of /mutate when that is more than a bare allow (a mutation policy matched and patched,
 * warned or denied). Without that file the /mutate reply must be exactly the bare allow, so a
 * mutation that starts to apply is noticed too. Each file is the body followed by one '\n'.
 * Both go through admission_process(), as the server calls it, with the policies of policies/
 * and no cluster (lookup() finds nothing, as under `serve --no-cluster`).
 *
 * Run from the repository root (make unit does). With --update it writes the answer files
 * instead of comparing (make golden); review `git diff tests/fixtures/admission/` before
 * committing them. A mismatch prints both answers pretty-printed, with the JSON Patch
 * decoded from its base64, as a unified diff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admission/decide.h"
#include "policy/policy.h"
#include "util/buf.h"
#include "util/file.h"

#define FIXTURES   "tests/fixtures/admission/"
#define POLICIES   "policies/"
#define REGENERATE "make golden"
#define MAX_BODY   ((size_t)4 << 20)

static bool update;          /* --update: write the answers instead of comparing */
static const char *out_dir;  /* where a mismatch's answers go for the diff */

static bool is_request(const char *name)
{
    size_t n = strlen(name), s = strlen(".request.json");
    return n > s && strcmp(name + n - s, ".request.json") == 0;
}

/* 'path' with ".request.json" replaced by 'suffix', in 'out'. */
static void sibling(const char *path, const char *suffix, char *out, size_t cap)
{
    size_t stem = strlen(path) - strlen(".request.json");
    snprintf(out, cap, "%.*s%s", (int)stem, path, suffix);
}

/* The answer of 'mode' to 'body' as the file holds it (body + '\n'), malloc'd; NULL when the
 * reply is not a 200 (a captured review must decode and be decided). */
static char *answer(const policy_set *set, enum admission_mode mode, const buf *body,
                    size_t *len)
{
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    assert_non_null(a);
    admission_policy pol = {.set = set};
    admission_result res;
    admission_process(mode, body->data, body->len, &pol, a, &res);
    char *out = NULL;
    if (res.http_status == 200 && res.body != NULL) {
        out = malloc(res.body_len + 2);
        assert_non_null(out);
        memcpy(out, res.body, res.body_len);
        out[res.body_len] = '\n';
        out[res.body_len + 1] = '\0';
        *len = res.body_len + 1;
    } else {
        print_error("%s reply is HTTP %d: %s\n",
                    mode == ADMISSION_VALIDATE ? "/validate" : "/mutate", res.http_status,
                    res.body ? res.body : "(no body)");
    }
    free(res.body);
    arena_free(a);
    return out;
}

/* The bare allow /mutate gives when no mutation applies: the request's uid, allowed, nothing
 * else. */
static char *bare_allow(const buf *body, size_t *len)
{
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    assert_non_null(a);
    diag_list dl;
    diag_list_init(&dl);
    admission_request *req = admission_request_decode(a, body->data, body->len, &dl);
    assert_non_null(req);
    admission_response resp = {.allowed = true};
    size_t n;
    char *enc = admission_response_encode(req, &resp, &n);
    assert_non_null(enc);
    char *out = malloc(n + 2);
    assert_non_null(out);
    memcpy(out, enc, n);
    memcpy(out + n, "\n", 2);
    *len = n + 1;
    free(enc);
    admission_request_free(req);
    diag_list_clear(&dl);
    arena_free(a);
    return out;
}

/* A readable form of an answer for the diff: indented, with response.patch decoded. */
static char *pretty(const char *text)
{
    cJSON *doc = cJSON_Parse(text);
    if (doc == NULL)
        return strdup(text);
    cJSON *resp = cJSON_GetObjectItemCaseSensitive(doc, "response");
    cJSON *patch = cJSON_GetObjectItemCaseSensitive(resp, "patch");
    if (cJSON_IsString(patch)) {
        size_t n = strlen(patch->valuestring);
        unsigned char *raw = malloc(3 * n / 4 + 1);
        long m = raw ? base64_decode(patch->valuestring, n, raw) : -1;
        cJSON *ops = m >= 0 ? cJSON_ParseWithLength((const char *)raw, (size_t)m) : NULL;
        if (ops != NULL)
            cJSON_AddItemToObject(resp, "patch (decoded)", ops);
        free(raw);
    }
    char *s = cJSON_Print(doc);
    cJSON_Delete(doc);
    return s;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    if (*text != '\0' && text[strlen(text) - 1] != '\n')
        fputc('\n', f);
    assert_int_equal(fclose(f), 0);
}

/* Prints where 'got' leaves 'want' and the diff of their readable forms. */
static void show_diff(const char *name, const char *want, size_t want_len, const char *got,
                      size_t got_len)
{
    size_t i = 0;
    while (i < want_len && i < got_len && want[i] == got[i])
        i++;
    print_error("%s: the answer differs from the recorded one at byte %zu\n", name, i);
    char wp[4096], gp[4096], cmd[9000];
    snprintf(wp, sizeof wp, "%s/%s.want", out_dir, name);
    snprintf(gp, sizeof gp, "%s/%s.got", out_dir, name);
    char *w = pretty(want), *g = pretty(got);
    assert_true(w != NULL && g != NULL);
    write_text(wp, w);
    write_text(gp, g);
    free(w);
    free(g);
    snprintf(cmd, sizeof cmd, "diff -u '%s' '%s' >&2", wp, gp);
    if (system(cmd) == 0) /* same readable form: the bytes differ in spacing or escapes */
        print_error("(the difference is in the bytes, not in the JSON)\n");
}

/* Compares (or with --update writes) the file 'path' against the answer 'got'. A missing
 * file is a mismatch. Returns true when they agree. */
static bool check_file(const char *path, const char *got, size_t got_len)
{
    if (update) {
        write_text(path, got);
        return true;
    }
    buf want;
    buf_init(&want, MAX_BODY);
    diag_list dl;
    diag_list_init(&dl);
    bool found = file_read(path, MAX_BODY, &want, &dl) == 0;
    bool ok = found && want.len == got_len && memcmp(want.data, got, got_len) == 0;
    if (!found)
        print_error("%s is missing\n", path);
    if (!ok) {
        const char *slash = strrchr(path, '/');
        show_diff(slash ? slash + 1 : path, want.data ? want.data : "", want.len, got, got_len);
    }
    buf_clear(&want);
    diag_list_clear(&dl);
    return ok;
}

/* One captured request: its /validate answer, and its /mutate answer or the bare allow. */
static bool check_request(const policy_set *set, const char *path)
{
    buf body;
    buf_init(&body, MAX_BODY);
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(file_read(path, MAX_BODY, &body, &dl), 0);
    char resp_path[4096], mut_path[4096];
    sibling(path, ".response.json", resp_path, sizeof resp_path);
    sibling(path, ".mutate.response.json", mut_path, sizeof mut_path);
    size_t vlen = 0, mlen = 0, blen = 0;
    char *v = answer(set, ADMISSION_VALIDATE, &body, &vlen);
    char *m = answer(set, ADMISSION_MUTATE, &body, &mlen);
    char *bare = bare_allow(&body, &blen);
    bool ok = v != NULL && m != NULL && check_file(resp_path, v, vlen);
    bool mutates = m != NULL && (mlen != blen || memcmp(m, bare, blen) != 0);
    struct stat st;
    if (ok && update && !mutates)
        remove(mut_path); /* a mutation that no longer applies */
    else if (ok && (mutates || stat(mut_path, &st) == 0))
        ok = check_file(mut_path, m, mlen);
    if (!ok)
        print_error("%s: wrong answer\n", path);
    free(v);
    free(m);
    free(bare);
    buf_clear(&body);
    diag_list_clear(&dl);
    return ok;
}

static void test_golden_reviews(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load_dir(POLICIES, &dl);
    if (set == NULL)
        fail_msg("the shipped policies do not load (%zu problems)", (size_t)dl.count);
    size_t n_policies;
    policy_set_items(set, &n_policies);
    assert_true(n_policies > 0);
    char **files = NULL;
    size_t n = 0, failed = 0;
    assert_int_equal(file_list(FIXTURES, is_request, 1000, &files, &n, &dl), 0);
    assert_true(n > 0); /* the captured reviews are there: an empty list tests nothing */
    for (size_t i = 0; i < n; i++)
        failed += !check_request(set, files[i]);
    file_list_free(files, n);
    policy_set_unref(set);
    diag_list_clear(&dl);
    if (update)
        print_message("wrote the answers to %zu captured reviews in " FIXTURES "\n", n);
    if (failed > 0)
        fail_msg("%zu of %zu captured reviews got another answer than the one recorded. If the "
                 "change is intended, review the diff above, run `" REGENERATE "` (the test with "
                 "--update) and commit " FIXTURES, failed, n);
}

int main(int argc, char **argv)
{
    update = argc > 1 && strcmp(argv[1], "--update") == 0;
    if (argc > 1 && !update) {
        fprintf(stderr, "usage: %s [--update]   (run from the repository root)\n", argv[0]);
        return 2;
    }
    /* The answers of a mismatch go beside the binary: build/tests/test_admission_golden.out/. */
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s.out", argv[0]);
    mkdir(dir, 0755);
    out_dir = dir;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_reviews),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
