/* fuzz_review.c - libFuzzer target for the webhook's round trip: the input bytes are a request
 * body given to admission_process() for /validate and for /mutate, with the shipped policies
 * (loaded once).
 *
 * Not only crashes: every answer is checked against what kube-apiserver needs from it.
 * - There is always a reply, it is valid JSON, and its HTTP status agrees with the decision:
 *   200 for a review (allowed or denied), 400 or 500 for a Status naming the same code.
 * - A 200 is an AdmissionReview in the apiVersion asked, whose response.uid is the request's
 *   uid; a denial carries a status code and a message.
 * - A patch comes only from /mutate and only on an allowed answer; it is padded standard
 *   base64 of a JSON Patch that applies strictly (RFC 6902, as kube-apiserver applies it) to
 *   request.object and gives exactly the object the engine produced.
 * - The same bytes give the same reply twice.
 * - The body's one-pass parse (util/jsonparse.c) answers what the old path (cJSON plus its
 *   checks) answers, in an arena of the server's cap, and the printer of the answers writes
 *   cJSON's bytes for the tree cJSON reads (fuzz_json.h).
 * tests/unit/test_fuzz_corpus.c replays the seeds and corpus through sg_fuzz_review() in
 * make test, so what the fuzzer found stays fixed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admission/decide.h"
#include "k8s/jsonpatch.h"

#include "fuzz_json.h"
#include "fuzz_util.h"

int sg_fuzz_review(const uint8_t *data, size_t size);

#define REVIEW "fuzz_review"

/* The patch of an allowed 200: decodes it, applies it to request.object and compares the
 * result with the object the engine mutated (decided again on a fresh decode). */
static int check_patch(enum admission_mode mode, const char *body, size_t len,
                       const cJSON *response)
{
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(response, "patch");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(response, "patchType");
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list dl;
    diag_list_init(&dl);
    admission_request *req = a ? admission_request_decode(a, body, len, &dl) : NULL;
    admission_policy pol = {.set = fuzz_policies()};
    admission_response resp;
    policy_outcome out = {0};
    int rc = -1;
    if (req == NULL || admission_decide(mode, req, &pol, a, &resp, &out, &dl) != 0) {
        rc = fuzz_fail(REVIEW, "a 200 whose request does not decode or decide again");
        goto done;
    }
    if (patch == NULL) {
        rc = out.mutated == NULL || jsonpatch_equal(out.mutated, req->object)
                 ? 0
                 : fuzz_fail(REVIEW, "the object was mutated but no patch was sent");
        goto done;
    }
    size_t plen;
    char *text = cJSON_IsString(patch) ? fuzz_base64(patch->valuestring, &plen) : NULL;
    if (mode != ADMISSION_MUTATE || !cJSON_IsString(type) ||
        strcmp(type->valuestring, "JSONPatch") != 0 || text == NULL) {
        free(text);
        rc = fuzz_fail(REVIEW, "a patch from /validate, without patchType JSONPatch, or not "
                               "in padded standard base64");
        goto done;
    }
    cJSON *applied;
    const char *err = fuzz_patch_apply(req->object, text, plen, &applied);
    if (err != NULL)
        rc = fuzz_fail(REVIEW, "the patch does not apply: %s: %s", err, text);
    else if (out.mutated == NULL || !jsonpatch_equal(applied, out.mutated))
        rc = fuzz_fail(REVIEW, "the patch does not give the mutated object: %s", text);
    else
        rc = 0;
    cJSON_Delete(applied);
    free(text);
done:
    admission_request_free(req);
    arena_free(a);
    diag_list_clear(&dl);
    return rc;
}

/* A 200: an AdmissionReview answering the request that 'body' holds. */
static int check_review(enum admission_mode mode, const char *body, size_t len,
                        const admission_result *r, const cJSON *reply)
{
    cJSON *in = cJSON_ParseWithLength(body, len);
    const cJSON *request = cJSON_GetObjectItemCaseSensitive(in, "request");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(request, "uid");
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(in, "apiVersion");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(reply, "response");
    const cJSON *ruid = cJSON_GetObjectItemCaseSensitive(resp, "uid");
    const cJSON *rapi = cJSON_GetObjectItemCaseSensitive(reply, "apiVersion");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(reply, "kind");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(resp, "allowed");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(resp, "status");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(status, "message");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
    int rc = 0;
    if (!cJSON_IsString(uid) || !cJSON_IsString(ruid) ||
        strcmp(uid->valuestring, ruid->valuestring) != 0)
        rc = fuzz_fail(REVIEW, "a 200 whose response.uid is not the request's uid");
    else if (!cJSON_IsString(api) || !cJSON_IsString(rapi) ||
             strcmp(api->valuestring, rapi->valuestring) != 0 || !cJSON_IsString(kind) ||
             strcmp(kind->valuestring, "AdmissionReview") != 0)
        rc = fuzz_fail(REVIEW, "a 200 that is not an AdmissionReview in the version asked");
    else if (!cJSON_IsBool(allowed) ||
             cJSON_IsTrue(allowed) != (r->decision == ADMISSION_ALLOWED))
        rc = fuzz_fail(REVIEW, "response.allowed disagrees with the decision %s",
                       admission_decision_name(r->decision));
    else if (!cJSON_IsTrue(allowed) &&
             (!cJSON_IsNumber(code) || code->valueint < 400 || !cJSON_IsString(msg) ||
              msg->valuestring[0] == '\0'))
        rc = fuzz_fail(REVIEW, "a denial without a status code and message");
    else if (cJSON_IsTrue(allowed)) /* kube-apiserver ignores the patch of a denial */
        rc = check_patch(mode, body, len, resp);
    cJSON_Delete(in);
    return rc;
}

/* One answer: produced, JSON, and consistent with its status and decision. */
static int check_answer(enum admission_mode mode, const char *body, size_t len,
                        const admission_result *r)
{
    if (r->body == NULL || r->body_len != strlen(r->body))
        return fuzz_fail(REVIEW, "no reply body, or one with a NUL byte");
    const char *end = NULL;
    cJSON *reply = cJSON_ParseWithLengthOpts(r->body, r->body_len + 1, &end, 1);
    int rc = 0;
    bool review = r->decision == ADMISSION_ALLOWED || r->decision == ADMISSION_DENIED;
    int want = review ? 200 : r->decision == ADMISSION_INVALID ? 400 : 500;
    if (!cJSON_IsObject(reply)) {
        rc = fuzz_fail(REVIEW, "the reply is not a JSON object: %s", r->body);
    } else if (r->http_status != want) {
        rc = fuzz_fail(REVIEW, "HTTP %d for the decision %s", r->http_status,
                       admission_decision_name(r->decision));
    } else if (review) {
        rc = check_review(mode, body, len, r, reply);
    } else {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(reply, "kind");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(reply, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(reply, "message");
        if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "Status") != 0 ||
            !cJSON_IsNumber(code) || code->valueint != r->http_status ||
            !cJSON_IsString(msg) || msg->valuestring[0] == '\0')
            rc = fuzz_fail(REVIEW, "an HTTP %d whose body is not a Status with that code and "
                                   "a message: %s", r->http_status, r->body);
    }
    cJSON_Delete(reply);
    return rc;
}

/* Runs 'mode' twice on the same bytes: the replies must be byte for byte the same. */
static int one_mode(enum admission_mode mode, const char *body, size_t len)
{
    admission_policy pol = {.set = fuzz_policies()};
    admission_result r[2];
    for (int i = 0; i < 2; i++) {
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        if (a == NULL)
            return fuzz_fail(REVIEW, "out of memory");
        admission_process(mode, body, len, &pol, a, &r[i]);
        arena_free(a); /* the result's strings go with it; the body is malloc'd */
    }
    int rc = check_answer(mode, body, len, &r[0]);
    if (rc == 0 && (r[0].http_status != r[1].http_status || r[1].body == NULL ||
                    r[0].body_len != r[1].body_len ||
                    memcmp(r[0].body, r[1].body, r[0].body_len) != 0))
        rc = fuzz_fail(REVIEW, "the same request answered differently: %s / %s", r[0].body,
                       r[1].body ? r[1].body : "(none)");
    free(r[0].body);
    free(r[1].body);
    return rc;
}

/* The body's parse against the old path, in an arena of the cap the server gives the body (a
 * body it takes never fails for its tree alone), and the print of cJSON's tree of it. */
static int check_parse(const char *body, size_t len)
{
    arena *a = arena_new(admission_arena_cap(len));
    if (a == NULL)
        return fuzz_fail(REVIEW, "out of memory");
    jref_result r;
    const char *why = jref_differ(body, len, a, &r);
    int rc = 0;
    if (why != NULL)
        rc = fuzz_fail(REVIEW, "%s: reference %d, parser %d at byte %zu", why, (int)r.want,
                       (int)r.got, r.res.offset);
    else if (r.ref != NULL && !jref_same_print(r.ref))
        rc = fuzz_fail(REVIEW, "jsonprint_tree() and cJSON_PrintUnformatted() differ");
    cJSON_Delete(r.ref);
    arena_free(a);
    return rc;
}

/* Returns 0, or -1 when an answer broke an invariant (the reason on stderr). */
int sg_fuzz_review(const uint8_t *data, size_t size)
{
    if (fuzz_policies() == NULL)
        return -1;
    char *body = malloc(size + 1); /* admission_process() needs body[len] == '\0' */
    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    int rc = check_parse(body, size);
    if (rc == 0)
        rc = one_mode(ADMISSION_VALIDATE, body, size);
    if (rc == 0)
        rc = one_mode(ADMISSION_MUTATE, body, size);
    free(body);
    return rc;
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
    if (sg_fuzz_review(data, size) != 0)
        abort(); /* an invariant broke: libFuzzer saves the input as a crash */
    return 0;
}
#endif
