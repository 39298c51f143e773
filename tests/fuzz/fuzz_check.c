/* fuzz_check.c - libFuzzer target for 'streamguard check': the input bytes are one manifest
 * file (YAML or JSON, any number of documents) read and run the way cli_cmd_check() does it
 * (manifests_load_text, lookup among the documents, manifests_run on each, the JSON and text
 * reports), with the shipped policies loaded once.
 *
 * Not only crashes: the results are checked.
 * - The JSON report is valid JSON whose summary counts what the run reported, and the exit
 *   code follows from it (2 with errors, else 1 with a deny, else 0).
 * - Every patch check reports applies strictly (RFC 6902, as kube-apiserver applies it) to the
 *   document after the patches before it.
 * - One verdict path: each checked document, sent as the CREATE kube-apiserver would send
 *   (same lookup), through the webhook's /mutate and then, with the patch applied, /validate,
 *   is denied exactly when check denies it, with the same warnings (when allowed), and the
 *   webhook's patch gives the object check's patches give.
 * tests/unit/test_fuzz_corpus.c replays the seeds and corpus through sg_fuzz_check() in
 * make test. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission/decide.h"
#include "cli/check_out.h"
#include "cli/manifests.h"
#include "k8s/jsonpatch.h"

#include "fuzz_util.h"

int sg_fuzz_check(const uint8_t *data, size_t size);

#define CHECK "fuzz_check"

/* Documents compared with the webhook, and documents the webhook refused as invalid (not
 * compared), over the process: the replay checks that the seeds are compared, so that a
 * stricter decoder cannot silently turn the comparison off. */
static size_t fuzz_check_compared, fuzz_check_refused;

typedef struct check_state {
    check_report *json, *text;
    int errors, documents, findings, denies;
    const check_doc *cur; /* the document being run */
    bool cur_denied;
    cJSON *cur_warnings;  /* the messages of its warnings */
    cJSON *cur_patched;   /* 'cur' after the patches check reported for it so far */
    int rc;               /* -1 once an invariant broke */
} check_state;

static void on_error(void *ctx, const char *file, int doc, int line, const char *msg)
{
    check_state *st = ctx;
    st->errors++;
    check_report_error(st->json, file, doc, line, msg);
    check_report_error(st->text, file, doc, line, msg);
}

static void on_finding(void *ctx, const check_doc *d, const policy_finding *f)
{
    check_state *st = ctx;
    st->findings++;
    if (f->action == POLICY_DENY) {
        st->denies++;
        st->cur_denied = true;
    }
    if (f->action == POLICY_WARN && st->cur_warnings != NULL)
        cJSON_AddItemToArray(st->cur_warnings, cJSON_CreateString(f->message));
    if (d != st->cur || f->message == NULL || f->message[0] != '[')
        st->rc = fuzz_fail(CHECK, "a finding for another document or without a [policy] message");
    check_report_finding(st->json, d, f);
    check_report_finding(st->text, d, f);
}

static void on_patch(void *ctx, const check_doc *d, const char *policy, const char *patch)
{
    check_state *st = ctx;
    cJSON *next = NULL;
    const char *err = st->cur_patched == NULL ? "no document"
                                              : fuzz_patch_apply(st->cur_patched, patch,
                                                                 strlen(patch), &next);
    if (err != NULL) {
        st->rc = fuzz_fail(CHECK, "the patch of %s does not apply: %s: %s", policy, err, patch);
    } else {
        cJSON_Delete(st->cur_patched);
        st->cur_patched = next;
    }
    check_report_patch(st->json, d, policy, patch);
    check_report_patch(st->text, d, policy, patch);
}

static void on_document(void *ctx, const check_doc *d, const check_verdict *v)
{
    check_state *st = ctx;
    st->documents++;
    if (v->allowed == st->cur_denied)
        st->rc = fuzz_fail(CHECK, "document %d: the verdict and the denials disagree", d->index);
    check_report_document(st->json, d, v);
    check_report_document(st->text, d, v);
}

/* The AdmissionReview kube-apiserver would send for creating 'd' with 'object', in kubectl's
 * default namespace when a namespaced 'd' names none (request.namespace and the object's
 * metadata.namespace); malloc'd. */
static char *synth_review(const check_doc *d, const cJSON *object)
{
    const char *slash = strchr(d->api_version, '/');
    size_t glen = slash ? (size_t)(slash - d->api_version) : 0;
    char *group = strndup(d->api_version, glen);
    cJSON *root = cJSON_CreateObject(), *req = cJSON_AddObjectToObject(root, "request");
    cJSON *kind = cJSON_AddObjectToObject(req, "kind");
    cJSON *res = cJSON_AddObjectToObject(req, "resource");
    cJSON *user = cJSON_AddObjectToObject(req, "userInfo");
    char *plural = malloc(strlen(d->kind) + 2), *text = NULL;
    if (group != NULL && kind != NULL && res != NULL && user != NULL && plural != NULL) {
        size_t i = 0;
        for (; d->kind[i]; i++) /* what the CRDs of the shipped kinds name their plural */
            plural[i] = (char)tolower((unsigned char)d->kind[i]);
        memcpy(plural + i, "s", 2);
        cJSON_AddStringToObject(root, "apiVersion", "admission.k8s.io/v1");
        cJSON_AddStringToObject(root, "kind", "AdmissionReview");
        cJSON_AddStringToObject(req, "uid", "streamguard-check");
        cJSON_AddStringToObject(kind, "group", group);
        cJSON_AddStringToObject(kind, "version", slash ? slash + 1 : d->api_version);
        cJSON_AddStringToObject(kind, "kind", d->kind);
        cJSON_AddStringToObject(res, "group", group);
        cJSON_AddStringToObject(res, "version", slash ? slash + 1 : d->api_version);
        cJSON_AddStringToObject(res, "resource", plural);
        cJSON_AddStringToObject(req, "name", d->name);
        const char *ns;
        cJSON *obj = fuzz_apiserver_object(group, d->kind, d->namespace_, object, &ns);
        cJSON_AddStringToObject(req, "namespace", ns);
        cJSON_AddStringToObject(req, "operation", "CREATE");
        cJSON_AddStringToObject(user, "username", "streamguard-check");
        cJSON_AddItemToObject(req, "object", obj);
        cJSON_AddBoolToObject(req, "dryRun", true);
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(root);
    free(plural);
    free(group);
    return text;
}

/* What the webhook answered. */
typedef struct webhook_answer {
    int status; /* HTTP */
    bool denied;
    char *patch; /* an allowed answer's decoded patch (malloc'd), or NULL */
    size_t plen;
} webhook_answer;

/* Sends 'object' as 'd' to the webhook in 'mode' and appends the answer's warnings to
 * 'warnings'. */
static void webhook(enum admission_mode mode, const check_doc *d, const cJSON *object,
                    const policy_lookup *lk, webhook_answer *ans, cJSON *warnings)
{
    char *body = synth_review(d, object);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    memset(ans, 0, sizeof *ans);
    if (body != NULL && a != NULL) {
        admission_policy pol = {.set = fuzz_policies(), .lookup = lk};
        admission_result r;
        admission_process(mode, body, strlen(body), &pol, a, &r);
        ans->status = r.http_status;
        ans->denied = r.decision != ADMISSION_ALLOWED;
        cJSON *reply = r.body ? cJSON_Parse(r.body) : NULL;
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(reply, "response");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(resp, "patch"), *w;
        if (ans->status == 200 && !ans->denied && cJSON_IsString(p))
            ans->patch = fuzz_base64(p->valuestring, &ans->plen);
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(resp, "warnings"))
        {
            cJSON_AddItemToArray(warnings, cJSON_Duplicate(w, 1));
        }
        cJSON_Delete(reply);
        free(r.body);
    }
    arena_free(a);
    free(body);
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp((*(cJSON *const *)a)->valuestring, (*(cJSON *const *)b)->valuestring);
}

/* True when two arrays of strings hold the same strings, in any order. */
static bool same_strings(const cJSON *x, const cJSON *y)
{
    int n = cJSON_GetArraySize(x);
    if (n != cJSON_GetArraySize(y))
        return false;
    if (n == 0)
        return true;
    cJSON **v[2] = {calloc((size_t)n, sizeof(cJSON *)), calloc((size_t)n, sizeof(cJSON *))};
    bool same = v[0] != NULL && v[1] != NULL;
    for (int k = 0; same && k < 2; k++) {
        int i = 0;
        cJSON *it;
        cJSON_ArrayForEach(it, (k == 0 ? x : y))
        {
            v[k][i++] = it;
        }
        qsort(v[k], (size_t)n, sizeof(cJSON *), cmp_json_str);
    }
    for (int i = 0; same && i < n; i++)
        same = strcmp(v[0][i]->valuestring, v[1][i]->valuestring) == 0;
    free(v[0]);
    free(v[1]);
    return same;
}

/* One verdict path: 'd' through /mutate, then /validate on the patched object, as in a cluster,
 * must be denied exactly when check denied it, warn what check warned, and end as check's
 * patches left it. */
static int same_as_webhook(check_state *st, const check_doc *d, const policy_lookup *lk)
{
    webhook_answer m, v = {.status = 200};
    cJSON *warnings = cJSON_CreateArray();
    webhook(ADMISSION_MUTATE, d, d->json, lk, &m, warnings);
    if (m.status == 400 || warnings == NULL) {
        fuzz_check_refused++;
        cJSON_Delete(warnings);
        free(m.patch);
        return 0; /* not a request kube-apiserver would send: nothing to compare */
    }
    fuzz_check_compared++;
    cJSON *mutated = NULL;
    const char *err = m.patch ? fuzz_patch_apply(d->json, m.patch, m.plen, &mutated) : NULL;
    if (err == NULL && mutated == NULL)
        mutated = cJSON_Duplicate(d->json, 1);
    int rc = 0;
    if (m.status != 200 || err != NULL || mutated == NULL) {
        rc = fuzz_fail(CHECK, "/mutate answered HTTP %d on document %d (%s)", m.status,
                       d->index, err ? err : "no patch error");
    } else if (!m.denied && st->cur_patched != NULL &&
               !jsonpatch_equal(mutated, st->cur_patched)) {
        rc = fuzz_fail(CHECK, "document %d: the webhook's patch %s and check's patches give "
                              "different objects", d->index, m.patch ? m.patch : "(none)");
    } else if (!m.denied) {
        webhook(ADMISSION_VALIDATE, d, mutated, lk, &v, warnings);
        free(v.patch);
        if (v.status != 200)
            rc = fuzz_fail(CHECK, "/validate answered HTTP %d on document %d", v.status,
                           d->index);
    }
    bool denied = m.denied || v.denied;
    if (rc == 0 && denied != st->cur_denied)
        rc = fuzz_fail(CHECK, "document %d: check says %s, the webhook says %s", d->index,
                       st->cur_denied ? "denied" : "allowed", denied ? "denied" : "allowed");
    if (rc == 0 && !denied && !same_strings(warnings, st->cur_warnings)) {
        char *w = cJSON_PrintUnformatted(warnings), *c = cJSON_PrintUnformatted(st->cur_warnings);
        rc = fuzz_fail(CHECK, "document %d: check warns %s, the webhook %s", d->index,
                       c ? c : "?", w ? w : "?");
        free(w);
        free(c);
    }
    cJSON_Delete(warnings);
    cJSON_Delete(mutated);
    free(m.patch);
    return rc;
}

/* The JSON report agrees with what the run reported, and the exit code with both. */
static int check_report_json(const check_state *st, const char *out, int code)
{
    cJSON *root = cJSON_Parse(out);
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
    static const char *const keys[] = {"documents", "errors", "denied"};
    const int want[] = {st->documents, st->errors, st->denies};
    int rc = 0;
    if (!cJSON_IsObject(sum) ||
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "results")) != st->findings)
        rc = fuzz_fail(CHECK, "the JSON report has no summary or not every result: %s", out);
    for (size_t i = 0; rc == 0 && i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(sum, keys[i]);
        if (!cJSON_IsNumber(v) || v->valueint != want[i])
            rc = fuzz_fail(CHECK, "summary.%s is not %d: %s", keys[i], want[i], out);
    }
    if (rc == 0 && code != (st->denies > 0 ? 1 : st->errors > 0 ? 2 : 0))
        rc = fuzz_fail(CHECK, "exit code %d with %d errors and %d denies", code, st->errors,
                       st->denies);
    cJSON_Delete(root);
    return rc;
}

/* Prints 'rep' into a malloc'd string; returns check's exit code, or -1. */
static int finish(check_report *rep, char **out)
{
    size_t len;
    FILE *f = open_memstream(out, &len);
    if (f == NULL) {
        *out = NULL;
        return -1;
    }
    int code = check_report_finish(rep, f);
    fclose(f);
    return code;
}

/* Returns 0, or -1 when the run broke an invariant (the reason on stderr). */
int sg_fuzz_check(const uint8_t *data, size_t size)
{
    const policy_set *set = fuzz_policies();
    if (set == NULL)
        return -1;
    check_state st = {.json = check_report_new(CHECK_JSON), .text = check_report_new(CHECK_TEXT)};
    manifest_sink sink = {on_error, on_finding, on_patch, on_document, NULL, &st};
    manifests in;
    manifests_init(&in, &sink);
    if (st.json == NULL || st.text == NULL || in.a == NULL) {
        st.rc = fuzz_fail(CHECK, "out of memory");
        in.n = 0; /* nothing loaded: only the reports to finish and free */
    } else {
        manifests_load_text(&in, "fuzz.yaml", (const char *)data, size, false);
    }
    policy_lookup lk = manifests_lookup(&in);
    for (size_t i = 0; i < in.n; i++) {
        st.cur = &in.docs[i];
        st.cur_denied = false;
        st.cur_patched = cJSON_Duplicate(in.docs[i].json, 1);
        st.cur_warnings = cJSON_CreateArray();
        manifests_run(set, &in.docs[i], &lk, false, NULL, &sink);
        if (st.rc == 0)
            st.rc = same_as_webhook(&st, &in.docs[i], &lk);
        cJSON_Delete(st.cur_patched);
        cJSON_Delete(st.cur_warnings);
        st.cur_patched = st.cur_warnings = NULL;
    }
    char *json = NULL, *text = NULL;
    int code = st.json ? finish(st.json, &json) : -1;
    int tcode = st.text ? finish(st.text, &text) : -1;
    if (st.rc == 0 && (json == NULL || text == NULL || code != tcode))
        st.rc = fuzz_fail(CHECK, "the text and JSON reports end with different exit codes");
    if (st.rc == 0)
        st.rc = check_report_json(&st, json, code);
    free(json);
    free(text);
    manifests_free(&in);
    return st.rc;
}

#ifndef SG_FUZZ_NO_MAIN
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fuzz_policies() == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sg_fuzz_check(data, size) != 0)
        abort(); /* an invariant broke: libFuzzer saves the input as a crash */
    return 0;
}
#endif
