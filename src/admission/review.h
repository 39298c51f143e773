/* review.h - AdmissionReview JSON <-> structs (admission.k8s.io v1 and v1beta1).
 *
 * Pure: bytes in, structs out, and back. The decoder checks the shape kube-apiserver sends
 * and names the first field that is wrong; the encoder answers in the version that was
 * asked. No sockets, no policy: see decide.h for the decision. */
#ifndef SG_ADMISSION_REVIEW_H
#define SG_ADMISSION_REVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "../util/arena.h"
#include "../util/diag.h"

enum admission_version { ADMISSION_V1, ADMISSION_V1BETA1 };

enum admission_op { ADMISSION_CREATE, ADMISSION_UPDATE, ADMISSION_DELETE, ADMISSION_CONNECT };

typedef struct admission_gvk {
    const char *group, *version, *kind; /* "" when absent; group "" is the core group */
} admission_gvk;

typedef struct admission_gvr {
    const char *group, *version, *resource;
} admission_gvr;

/* A decoded request. Strings and cJSON pointers are borrowed from 'doc' and stay valid until
 * admission_request_free(). Absent optional strings are "", absent objects NULL. */
typedef struct admission_request {
    cJSON *doc;       /* the parsed body */
    bool doc_in_arena; /* 'doc' was parsed into the request arena (util/jsonparse.h): it goes
                          with the arena and is never given to cJSON_Delete() */
    enum admission_version version;
    const char *api_version; /* as sent: "admission.k8s.io/v1" or ".../v1beta1" */
    const char *uid;
    admission_gvk kind;         /* request.kind */
    admission_gvr resource;     /* request.resource */
    const char *sub_resource;   /* request.subResource, "status" for status updates */
    admission_gvk request_kind; /* request.requestKind, or 'kind' when absent */
    const char *name;           /* empty for a CREATE with generateName */
    const char *namespace_;     /* empty for cluster-scoped objects */
    enum admission_op operation;
    const char *username;      /* request.userInfo.username */
    const cJSON *request;      /* request as a whole, for policies that read other fields */
    const cJSON *user_info;    /* request.userInfo */
    const cJSON *object;       /* NULL on DELETE (JSON null) */
    const cJSON *old_object;   /* NULL on CREATE */
    const cJSON *options;      /* request.options */
    bool dry_run;
} admission_request;

/* The cap of a request's arena for a body of 'len' bytes: the evaluation's budget
 * (ARENA_REQUEST_BUDGET) and room for the body's parsed tree beside it, which is built in the
 * same arena (a cJSON node is 64 bytes: dense small values such as [0,0,...] cost about 32
 * times their text), so a body the server accepts never fails for its tree alone. */
#define ADMISSION_TREE_FACTOR 40
size_t admission_arena_cap(size_t len);

/* Decodes one AdmissionReview from 'body' of 'len' bytes; body[len] must be '\0' (a buf
 * guarantees that). Returns a request whose struct and parsed tree are allocated from 'a'
 * (util/jsonparse.h, which builds cJSON's tree), or NULL when the body is not
 * JSON ("input.json", also when its tree would pass the arena's cap) or not an AdmissionReview
 * request ("review.schema"), with the reason appended to 'dl'. admission_request_free() may
 * still be called on the result (it deletes only a tree that is not the arena's). */
admission_request *admission_request_decode(arena *a, const char *body, size_t len,
                                            diag_list *dl);

/* admission_request_decode() for a review that is already a tree: 'doc' is taken (deleted
 * at once on failure, else by admission_request_free()). For callers that build the review
 * kube-apiserver would send (streamguard check): the request they decide on is read exactly
 * as the webhook reads it. */
admission_request *admission_request_take(arena *a, cJSON *doc, diag_list *dl);

/* Deletes the parsed tree of 'req' when it is malloc's (admission_request_take()); a tree parsed
 * into the arena (admission_request_decode()) is left to the arena, as the struct is. Call it
 * before the arena is freed or reset. NULL is accepted. */
void admission_request_free(admission_request *req);

/* Returns "CREATE", "UPDATE", "DELETE" or "CONNECT". */
const char *admission_op_name(enum admission_op op);

typedef struct admission_kv {
    const char *key, *value;
} admission_kv;

/* One entry of status.details.causes: what kubectl prints of a 422 Invalid, one line each
 * ("FIELD: MESSAGE"). */
typedef struct admission_cause {
    const char *field;   /* "spec.mode"; NULL when the rule names none */
    const char *message; /* "[policy] message" */
} admission_cause;

/* What the webhook answers. Strings are borrowed. */
typedef struct admission_response {
    bool allowed;
    int status_code;            /* 0 for no status; 403 when denied, 422 when every denial asks
                                   for Invalid (decide.c) */
    const char *status_reason;  /* "Forbidden"; NULL for none */
    const char *status_message; /* NULL for none */
    size_t n_denials;           /* the rules that denied, each in status_message */
    /* status.details, written when n_causes > 0: the kind and name of the object and the
     * causes (reason FieldValueInvalid). kubectl up to 1.2x prints only these for a 422. */
    const char *details_group, *details_kind, *details_name;
    const admission_cause *causes;
    size_t n_causes;
    const char *const *warnings;
    size_t n_warnings;
    const char *patch; /* a JSON Patch document (not yet base64); NULL for none */
    size_t patch_len;
    const admission_kv *audit; /* auditAnnotations */
    size_t n_audit;
} admission_response;

/* Encodes the AdmissionReview answering 'req' (same apiVersion, response.uid = request.uid).
 * Returns a malloc-owned NUL-terminated JSON text and sets '*len', or NULL when out of
 * memory. */
char *admission_response_encode(const admission_request *req, const admission_response *resp,
                                size_t *len);

/* Encodes a Kubernetes Status object ({"kind":"Status",...,"code":CODE}) for an HTTP error
 * reply. Returns a malloc-owned JSON text and sets '*len', or NULL when out of memory. */
char *admission_status_encode(int code, const char *reason, const char *message, size_t *len);

#endif
