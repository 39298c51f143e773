/* review.c - AdmissionReview decoding and encoding; see review.h.
 *
 * The decoder is strict about what the decision depends on (apiVersion, kind, uid,
 * operation, the kind of the object, object and oldObject) and names the first wrong field in
 * a "review.schema" diag, so that a client bug is a 400 with a reason, never a request let
 * through. Fields it does not read are ignored, as kube-apiserver adds fields over time. */
#include "review.h"

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/jsonparse.h"
#include "../util/jsonprint.h"
#include "../util/utf8.h"

#define API_V1      "admission.k8s.io/v1"
#define API_V1BETA1 "admission.k8s.io/v1beta1"

static const char *const op_names[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};

const char *admission_op_name(enum admission_op op)
{
    return op_names[op];
}

/* cJSON_GetObjectItemCaseSensitive() (the first member named 'key', or NULL) inline, with the
 * first bytes compared before a strcmp(): a review's decode looks up some twenty keys among
 * up to fifteen members each, and a library call and a strcmp() per member were a tenth of
 * it. */
static const cJSON *member(const cJSON *obj, const char *key)
{
    if (obj == NULL)
        return NULL;
    for (const cJSON *c = obj->child; c != NULL && c->string != NULL; c = c->next) {
        if (c->string[0] == key[0] && strcmp(c->string, key) == 0)
            return c;
    }
    return NULL;
}

/* Reads an optional string member; a wrong type is an error. Returns 0 or -1. */
static int get_string(const cJSON *obj, const char *key, bool required, const char **out,
                      const char *where, diag_list *dl)
{
    const cJSON *it = member(obj, key);
    srcpos at = {.file = "<request>"};
    /* the type bits read in place, as in find_unreadable() */
    if (it == NULL || (it->type & 0xFF) == cJSON_NULL) {
        *out = "";
        if (!required)
            return 0;
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "%s%s is missing", where, key);
        return -1;
    }
    if ((it->type & 0xFF) != cJSON_String) {
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "%s%s must be a string", where, key);
        return -1;
    }
    *out = it->valuestring;
    return 0;
}

/* Reads an optional member that must be an object (or null/absent, giving NULL). */
static int get_object(const cJSON *obj, const char *key, const cJSON **out, const char *where,
                      diag_list *dl)
{
    const cJSON *it = member(obj, key);
    *out = NULL;
    if (it == NULL || (it->type & 0xFF) == cJSON_NULL)
        return 0;
    if ((it->type & 0xFF) != cJSON_Object) {
        srcpos at = {.file = "<request>"};
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "%s%s must be an object or null", where,
                 key);
        return -1;
    }
    *out = it;
    return 0;
}

/* Reads the group/version/kind object 'key' of 'req'; 'where' is its path for messages,
 * "request.<key>." (a literal: formatting it cost more than the rest of the read). */
static int get_gvk(const cJSON *req, const char *key, const char *where, bool required,
                   admission_gvk *out, diag_list *dl)
{
    const cJSON *o;
    out->group = out->version = out->kind = "";
    if (get_object(req, key, &o, "request.", dl) != 0)
        return -1;
    if (o == NULL) {
        if (!required)
            return 0;
        srcpos at = {.file = "<request>"};
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "request.%s is missing", key);
        return -1;
    }
    if (get_string(o, "group", false, &out->group, where, dl) != 0 ||
        get_string(o, "version", true, &out->version, where, dl) != 0 ||
        get_string(o, "kind", true, &out->kind, where, dl) != 0)
        return -1;
    return 0;
}

static int get_gvr(const cJSON *req, admission_gvr *out, diag_list *dl)
{
    const cJSON *o;
    out->group = out->version = out->resource = "";
    if (get_object(req, "resource", &o, "request.", dl) != 0)
        return -1;
    if (o == NULL)
        return 0;
    if (get_string(o, "group", false, &out->group, "request.resource.", dl) != 0 ||
        get_string(o, "version", false, &out->version, "request.resource.", dl) != 0 ||
        get_string(o, "resource", false, &out->resource, "request.resource.", dl) != 0)
        return -1;
    return 0;
}

static int get_operation(const cJSON *req, enum admission_op *out, diag_list *dl)
{
    const char *op;
    if (get_string(req, "operation", true, &op, "request.", dl) != 0)
        return -1;
    for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++) {
        if (strcmp(op, op_names[i]) == 0) {
            *out = (enum admission_op)i;
            return 0;
        }
    }
    srcpos at = {.file = "<request>"};
    diag_add(dl, DIAG_ERROR, "review.schema", &at,
             "request.operation must be CREATE, UPDATE, DELETE or CONNECT, not '%.64s'", op);
    return -1;
}

/* What Go's decoder (kube-apiserver) reads differently from cJSON, so that a review would mean
 * one thing to us and another to kube-apiserver: a key that appears twice in one object
 * (cJSON keeps the first, Go the last) and a number beyond a double's range (cJSON reads 1e999
 * as infinity, which has no JSON form; Go refuses it). A body's parse (util/jsonparse.h) finds
 * both as it goes; a tree that cJSON built (admission_request_take()) gets one walk, whose
 * recursion is bounded by cJSON's nesting limit. Returns the first duplicate key, or
 * INFINITE_NUMBER, or NULL when there is neither. */
static const char INFINITE_NUMBER[] = "";
#define INFINITE_NUMBER_MESSAGE                                                                \
    "a number beyond the range of a double (such as 1e999), which kube-apiserver refuses"
#define DUPLICATE_KEY_MESSAGE "duplicate key '%.64s' in one object"

static const char *find_unreadable(const cJSON *node, arena *a)
{
    /* the type bits read in place: cJSON_Is*() are calls into the library, one per node */
    int type = node->type & 0xFF;
    if (type == cJSON_Number)
        return isfinite(node->valuedouble) ? NULL : INFINITE_NUMBER;
    if (type != cJSON_Object && type != cJSON_Array)
        return NULL;
    size_t n = 0;
    for (const cJSON *c = node->child; c != NULL; c = c->next) {
        const char *dup = find_unreadable(c, a);
        if (dup != NULL)
            return dup;
        n++;
    }
    if (type != cJSON_Object || n < 2)
        return NULL;
    return jsonparse_duplicate_key(node, n, a);
}

/* The object's apiVersion ("v1" in the core group, else "group/version") and kind must be
 * those of request.kind. kube-apiserver always sends them so (it converts the object to the
 * version the webhook asked for); a direct caller could send a FlinkDeployment as anything
 * else, and policies that branch on object.kind would then judge the wrong kind. CONNECT is
 * left out: its object is the connect options (PodExecOptions), not the resource. */
static int check_object_kind(const cJSON *obj, const char *name, const char *where,
                             const admission_gvk *k, diag_list *dl)
{
    srcpos at = {.file = "<request>"};
    const char *api, *kind;
    if (obj == NULL)
        return 0;
    if (get_string(obj, "apiVersion", true, &api, where, dl) != 0 ||
        get_string(obj, "kind", true, &kind, where, dl) != 0)
        return -1;
    size_t gl = strlen(k->group);
    bool api_ok = gl == 0 ? strcmp(api, k->version) == 0
                          : strncmp(api, k->group, gl) == 0 && api[gl] == '/' &&
                                strcmp(api + gl + 1, k->version) == 0;
    if (!api_ok || strcmp(kind, k->kind) != 0) {
        diag_add(dl, DIAG_ERROR, "review.schema", &at,
                 "request.%s is %.64s %.64s, but request.kind is %s%s%.64s %.64s", name, api, kind,
                 k->group, gl ? "/" : "", k->version, k->kind);
        return -1;
    }
    return 0;
}

/* Checks apiVersion and kind of the envelope and sets 'version'. */
static int decode_envelope(const cJSON *doc, admission_request *r, diag_list *dl)
{
    srcpos at = {.file = "<request>"};
    const char *kind;
    if (!cJSON_IsObject(doc)) {
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "the body must be a JSON object");
        return -1;
    }
    if (get_string(doc, "apiVersion", true, &r->api_version, "", dl) != 0 ||
        get_string(doc, "kind", true, &kind, "", dl) != 0)
        return -1;
    if (strcmp(r->api_version, API_V1) == 0) {
        r->version = ADMISSION_V1;
    } else if (strcmp(r->api_version, API_V1BETA1) == 0) {
        r->version = ADMISSION_V1BETA1;
    } else {
        diag_add(dl, DIAG_ERROR, "review.schema", &at,
                 "apiVersion must be %s or %s, not '%.64s'", API_V1, API_V1BETA1,
                 r->api_version);
        return -1;
    }
    if (strcmp(kind, "AdmissionReview") != 0) {
        diag_add(dl, DIAG_ERROR, "review.schema", &at,
                 "kind must be AdmissionReview, not '%.64s'", kind);
        return -1;
    }
    return 0;
}

static int decode_request(const cJSON *req, admission_request *r, diag_list *dl)
{
    srcpos at = {.file = "<request>"};
    if (get_string(req, "uid", true, &r->uid, "request.", dl) != 0)
        return -1;
    if (r->uid[0] == '\0') {
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "request.uid must not be empty");
        return -1;
    }
    if (get_gvk(req, "kind", "request.kind.", true, &r->kind, dl) != 0 ||
        get_gvr(req, &r->resource, dl) != 0 ||
        get_gvk(req, "requestKind", "request.requestKind.", false, &r->request_kind, dl) != 0 ||
        get_string(req, "subResource", false, &r->sub_resource, "request.", dl) != 0 ||
        get_string(req, "name", false, &r->name, "request.", dl) != 0 ||
        get_string(req, "namespace", false, &r->namespace_, "request.", dl) != 0 ||
        get_operation(req, &r->operation, dl) != 0 ||
        get_object(req, "userInfo", &r->user_info, "request.", dl) != 0 ||
        get_object(req, "object", &r->object, "request.", dl) != 0 ||
        get_object(req, "oldObject", &r->old_object, "request.", dl) != 0 ||
        get_object(req, "options", &r->options, "request.", dl) != 0)
        return -1;
    if (r->request_kind.kind[0] == '\0')
        r->request_kind = r->kind;
    r->username = "";
    if (r->user_info != NULL &&
        get_string(r->user_info, "username", false, &r->username, "request.userInfo.", dl) != 0)
        return -1;
    const cJSON *dry = member(req, "dryRun");
    if (dry != NULL && !cJSON_IsNull(dry) && !cJSON_IsBool(dry)) {
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "request.dryRun must be a boolean");
        return -1;
    }
    r->dry_run = cJSON_IsTrue(dry);
    /* A decision about a CREATE or UPDATE without the object would be a guess. */
    if ((r->operation == ADMISSION_CREATE || r->operation == ADMISSION_UPDATE) &&
        r->object == NULL) {
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "request.object is required for %s",
                 admission_op_name(r->operation));
        return -1;
    }
    if (r->operation != ADMISSION_CONNECT &&
        (check_object_kind(r->object, "object", "request.object.", &r->kind, dl) != 0 ||
         check_object_kind(r->old_object, "oldObject", "request.oldObject.", &r->kind, dl) != 0))
        return -1;
    return 0;
}

/* Reads the review 'doc'; 'in_arena': the tree is the arena's, never deleted here, and
 * jsonparse_parse() built it, having checked what find_unreadable() checks. */
static admission_request *take(arena *a, cJSON *doc, bool in_arena, diag_list *dl)
{
    srcpos at = {.file = "<request>"};
    admission_request *r = arena_calloc(a, 1, sizeof *r);
    if (r == NULL) {
        diag_add(dl, DIAG_ERROR, "input.limit", &at, "request arena exhausted");
        if (!in_arena)
            cJSON_Delete(doc);
        return NULL;
    }
    r->doc = doc;
    r->doc_in_arena = in_arena;
    const char *odd = in_arena ? NULL : find_unreadable(doc, a);
    if (odd == INFINITE_NUMBER) {
        diag_add(dl, DIAG_ERROR, "input.json", &at, INFINITE_NUMBER_MESSAGE);
        goto err;
    }
    if (odd != NULL) {
        diag_add(dl, DIAG_ERROR, "input.json", &at, DUPLICATE_KEY_MESSAGE, odd);
        goto err;
    }
    if (decode_envelope(doc, r, dl) != 0)
        goto err;
    if (get_object(doc, "request", &r->request, "", dl) != 0)
        goto err;
    if (r->request == NULL) {
        diag_add(dl, DIAG_ERROR, "review.schema", &at, "request is missing");
        goto err;
    }
    if (decode_request(r->request, r, dl) != 0)
        goto err;
    return r;
err:
    admission_request_free(r);
    return NULL;
}

size_t admission_arena_cap(size_t len)
{
    return ARENA_REQUEST_BUDGET + ADMISSION_TREE_FACTOR * len;
}

admission_request *admission_request_decode(arena *a, const char *body, size_t len,
                                            diag_list *dl)
{
    srcpos at = {.file = "<request>"};
    /* The tree is built in the request arena and goes with it: no free per node. The parse
     * also refuses what cJSON would read differently from Go's decoder (kube-apiserver): bytes
     * that are not UTF-8 (Go replaces them, cJSON keeps them and would echo them into an
     * answer that is then not JSON), a NUL (cJSON would cut a string or key there, while Go
     * keeps it whole), a duplicate key and an infinite number (find_unreadable()). */
    jsonparse_result res;
    switch (jsonparse_parse(a, body, len, &res)) {
    case JSONPARSE_OK:
        break;
    case JSONPARSE_NOMEM:
        diag_add(dl, DIAG_ERROR, "input.limit", &at,
                 "the parsed body needs more than the request's memory (%zu MiB: %zu MiB and "
                 "%d times the body)",
                 admission_arena_cap(len) >> 20, (size_t)ARENA_REQUEST_BUDGET >> 20,
                 ADMISSION_TREE_FACTOR);
        return NULL;
    case JSONPARSE_UTF8:
        diag_add(dl, DIAG_ERROR, "input.json", &at, "invalid UTF-8 at byte %zu", res.offset);
        return NULL;
    case JSONPARSE_NUL:
        diag_add(dl, DIAG_ERROR, "input.json", &at,
                 "a NUL character (a \\u0000 escape or a NUL byte) at byte %zu; refused, as a "
                 "string or key would be cut there",
                 res.offset);
        return NULL;
    case JSONPARSE_SYNTAX:
        if (len == 0)
            diag_add(dl, DIAG_ERROR, "input.json", &at, "the body is empty");
        else
            diag_add(dl, DIAG_ERROR, "input.json", &at, "invalid JSON near byte %zu",
                     res.offset);
        return NULL;
    case JSONPARSE_INFINITE:
        diag_add(dl, DIAG_ERROR, "input.json", &at, INFINITE_NUMBER_MESSAGE);
        return NULL;
    case JSONPARSE_DUPLICATE:
        diag_add(dl, DIAG_ERROR, "input.json", &at, DUPLICATE_KEY_MESSAGE, res.key);
        return NULL;
    }
    return take(a, res.doc, true, dl);
}

admission_request *admission_request_take(arena *a, cJSON *doc, diag_list *dl)
{
    return take(a, doc, false, dl);
}

void admission_request_free(admission_request *req)
{
    if (req == NULL)
        return;
    if (!req->doc_in_arena)
        cJSON_Delete(req->doc);
    req->doc = NULL;
}

/* Replaces each byte of 's' that is not part of valid UTF-8 with U+FFFD. Such bytes are all
 * >= 0x80, never JSON syntax, so this is safe on printed JSON. Returns a new malloc'd text
 * and frees 's', or NULL (and frees 's') when out of memory. */
static char *utf8_repair(char *s, size_t *len)
{
    char *out = malloc(*len * 3 + 1);
    size_t n = 0;
    if (out == NULL) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < *len;) {
        size_t k = utf8_seq_len(s + i, *len - i);
        if (k == 0) {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        } else {
            memcpy(out + n, s + i, k);
            n += k;
            i += k;
        }
    }
    out[n] = '\0';
    free(s);
    *len = n;
    return out;
}

/* Finishes the answer written in 'o' and returns its text. Every answer goes through here,
 * and every answer must be JSON, which is UTF-8: a message that echoes input cut at a byte
 * count (a '%.64s' in the middle of a character) or text a policy built is repaired, not
 * sent. */
static char *finish_answer(jsonprint_out *o, size_t *len)
{
    char *s = jsonprint_finish(o, len);
    if (s != NULL && !utf8_is_valid(s, *len, NULL))
        s = utf8_repair(s, len);
    return s;
}

/* The answers are written as cJSON_PrintUnformatted() prints the trees they were built as
 * before (the same keys in the same order, util/jsonprint.h's strings and numbers), without
 * building one: a tree of the denial's twenty nodes, each string copied into it, cost as much
 * as printing it. A string a tree could not hold (NULL where cJSON_CreateString() fails) fails
 * the answer as it failed the tree. */
#define RAW(o, lit) jsonprint_raw((o), "" lit, sizeof(lit) - 1) /* string literals only */

static bool put_key_string(jsonprint_out *o, const char *key_lit, size_t key_len, const char *v)
{
    if (v == NULL)
        return false;
    jsonprint_raw(o, key_lit, key_len);
    jsonprint_string(o, v);
    return true;
}
#define KEY_STRING(o, lit, v) put_key_string((o), "" lit, sizeof(lit) - 1, (v))

/* status.details as kube-apiserver's own validation writes it (apierrors.NewInvalid), so
 * kubectl prints 'The KIND "NAME" is invalid:' and then one 'FIELD: MESSAGE' per cause. */
static bool put_details(jsonprint_out *o, const admission_response *ar)
{
    KEY_STRING(o, ",\"details\":{\"name\":", ar->details_name ? ar->details_name : "");
    KEY_STRING(o, ",\"group\":", ar->details_group ? ar->details_group : "");
    KEY_STRING(o, ",\"kind\":", ar->details_kind ? ar->details_kind : "");
    RAW(o, ",\"causes\":[");
    for (size_t i = 0; i < ar->n_causes; i++) {
        if (i > 0)
            RAW(o, ",");
        RAW(o, "{\"reason\":\"FieldValueInvalid\"");
        if (!KEY_STRING(o, ",\"message\":", ar->causes[i].message))
            return false;
        if (ar->causes[i].field != NULL)
            KEY_STRING(o, ",\"field\":", ar->causes[i].field);
        RAW(o, "}");
    }
    RAW(o, "]}");
    return true;
}

static bool put_status(jsonprint_out *o, const admission_response *ar)
{
    RAW(o, ",\"status\":{\"code\":");
    jsonprint_int(o, ar->status_code);
    if (!ar->allowed)
        RAW(o, ",\"status\":\"Failure\"");
    if (ar->status_reason)
        KEY_STRING(o, ",\"reason\":", ar->status_reason);
    if (ar->status_message)
        KEY_STRING(o, ",\"message\":", ar->status_message);
    if (ar->n_causes > 0 && !put_details(o, ar))
        return false;
    RAW(o, "}");
    return true;
}

static bool put_patch(jsonprint_out *o, const admission_response *ar)
{
    char *b64 = malloc(base64_encoded_len(ar->patch_len) + 1);
    if (b64 == NULL)
        return false;
    base64_encode(ar->patch, ar->patch_len, b64);
    RAW(o, ",\"patchType\":\"JSONPatch\"");
    KEY_STRING(o, ",\"patch\":", b64);
    free(b64);
    return true;
}

static bool put_extras(jsonprint_out *o, const admission_response *ar)
{
    if (ar->n_warnings > 0) {
        RAW(o, ",\"warnings\":[");
        for (size_t i = 0; i < ar->n_warnings; i++) {
            if (ar->warnings[i] == NULL)
                return false;
            if (i > 0)
                RAW(o, ",");
            jsonprint_string(o, ar->warnings[i]);
        }
        RAW(o, "]");
    }
    if (ar->n_audit > 0) {
        RAW(o, ",\"auditAnnotations\":{");
        for (size_t i = 0; i < ar->n_audit; i++) {
            const char *key = ar->audit[i].key;
            /* A repeated key would reach kube-apiserver as one (the last): decide.c joins a
             * policy's messages under its one key, so a repeat here is refused, not sent. */
            if (key == NULL || ar->audit[i].value == NULL)
                return false;
            for (size_t j = 0; j < i; j++) {
                if (strcmp(ar->audit[j].key, key) == 0)
                    return false;
            }
            if (i > 0)
                RAW(o, ",");
            jsonprint_string(o, key);
            RAW(o, ":");
            jsonprint_string(o, ar->audit[i].value);
        }
        RAW(o, "}");
    }
    return true;
}

char *admission_response_encode(const admission_request *req, const admission_response *ar,
                                size_t *len)
{
    jsonprint_out o = {0};
    if (!KEY_STRING(&o, "{\"apiVersion\":", req->api_version))
        goto err;
    RAW(&o, ",\"kind\":\"AdmissionReview\",\"response\":");
    if (!KEY_STRING(&o, "{\"uid\":", req->uid))
        goto err;
    if (ar->allowed)
        RAW(&o, ",\"allowed\":true");
    else
        RAW(&o, ",\"allowed\":false");
    if (ar->status_code != 0 && !put_status(&o, ar))
        goto err;
    if (ar->patch != NULL && !put_patch(&o, ar))
        goto err;
    if (!put_extras(&o, ar))
        goto err;
    RAW(&o, "}}");
    return finish_answer(&o, len);
err:
    free(o.data);
    return NULL;
}

char *admission_status_encode(int code, const char *reason, const char *message, size_t *len)
{
    jsonprint_out o = {0};
    RAW(&o, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
            "\"status\":\"Failure\"");
    if (!KEY_STRING(&o, ",\"message\":", message) || !KEY_STRING(&o, ",\"reason\":", reason)) {
        free(o.data);
        return NULL;
    }
    RAW(&o, ",\"code\":");
    jsonprint_int(&o, code);
    RAW(&o, "}");
    return finish_answer(&o, len);
}
