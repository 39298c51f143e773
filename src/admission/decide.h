/* decide.h - the admission decision, and the whole review round trip as bytes in, bytes out.
 *
 * admission_decide() is the one place a verdict is made, for the webhook and the CLI alike:
 * it runs the policy engine and turns its findings into an AdmissionResponse. Denies become
 * allowed: false with a Status, warnings become warnings, audits become auditAnnotations,
 * and mutations one JSON Patch. admission_process() wraps decode, decide and encode for the
 * server; admission_decide_chain() runs both webhooks in kube-apiserver's order for the CLI,
 * which builds the request kube-apiserver would send (admission_request_take). --enforcement
 * warn (warn_only) is applied by the engine, for both. */
#ifndef SG_ADMISSION_DECIDE_H
#define SG_ADMISSION_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "../policy/engine.h"
#include "review.h"

enum admission_mode { ADMISSION_VALIDATE, ADMISSION_MUTATE };

enum admission_decision {
    ADMISSION_ALLOWED, /* a review answered allowed: true */
    ADMISSION_DENIED,  /* a review answered allowed: false */
    ADMISSION_INVALID, /* the body was not a well-formed AdmissionReview: HTTP 400 */
    ADMISSION_FAILED,  /* we could not answer (out of memory): HTTP 500 */
    ADMISSION_DECISION_COUNT /* not a decision: how many there are (metrics size by it) */
};

/* Returns "allowed", "denied", "invalid" or "error". */
const char *admission_decision_name(enum admission_decision d);

/* Reads --enforcement: "deny" or "warn" (then every deny becomes a warning). Returns 0 with
 * '*warn_only' set, or -1 for anything else. */
int admission_parse_enforcement(const char *s, bool *warn_only);

/* The HTTP status code of a denial for reason 'r' (403 for POLICY_REASON_NONE). */
int admission_reason_code(enum policy_reason r);

/* What a decision runs with: the policies (NULL: none, everything is allowed) and whether
 * denies are only warnings (--enforcement warn). */
typedef struct admission_policy {
    const policy_set *set;
    bool warn_only;
    const policy_lookup *lookup; /* related objects for lookup(), lookupList(); NULL: none */
    const policy_observer *observer; /* told of matches and each policy's patch; NULL: none */
} admission_policy;

/* Decides on 'req' for 'mode' and fills 'resp' (strings allocated from 'a'). Returns 0, or -1
 * when no decision could be made (details in 'dl'); the caller must then not allow.
 * '*outcome', when not NULL, receives the engine's findings. */
int admission_decide(enum admission_mode mode, const admission_request *req,
                     const admission_policy *pol, arena *a, admission_response *resp,
                     policy_outcome *outcome, diag_list *dl);

/* Both webhooks on 'req', in the order kube-apiserver calls them on kubectl apply: the
 * mutating one, then the validating one on the object as mutated (in the struct and in
 * request.object). What streamguard check and test decide with, so that a document gets the
 * verdict a cluster with both webhooks would give. 'resp' is the one answer: allowed unless
 * either denied, the warnings and audit annotations of both, the status over every denial
 * (mutation's first), and the patch of the mutations. '*outcome' (when not NULL) holds the
 * findings of both, mutation's first, and the mutated object. Returns as admission_decide().
 * Unlike kube-apiserver, a denial by a mutation does not stop the validations: a check
 * reports every problem at once. */
int admission_decide_chain(const admission_request *req, const admission_policy *pol, arena *a,
                           admission_response *resp, policy_outcome *outcome, diag_list *dl);

/* The engine's view of a decoded request, decided with 'pol' (its lookup and observer). */
void admission_to_policy_request(const admission_request *req, const admission_policy *pol,
                                 policy_request *out);

/* What the answer to a review did, one per review: the first of these that applies. A
 * review that was denied may also have warned; one that would have been denied (warn mode)
 * carries those warnings and perhaps others. The label "decision" of
 * streamguard_reviews_total. */
enum admission_effect {
    ADMISSION_EFFECT_DENIED,     /* allowed: false */
    ADMISSION_EFFECT_WOULD_DENY, /* allowed, but a deny was made a warning (--enforcement warn) */
    ADMISSION_EFFECT_WARNED,     /* allowed with warnings (Warn rules, failurePolicy: Ignore) */
    ADMISSION_EFFECT_AUDITED,    /* allowed with audit annotations only */
    ADMISSION_EFFECT_ALLOWED,    /* allowed, nothing said */
    ADMISSION_EFFECT_COUNT
};

/* Returns "denied", "would_deny", "warned", "audited" or "allowed". */
const char *admission_effect_name(enum admission_effect e);

/* The outcome of one review, for the reply, the log line and the metrics. */
typedef struct admission_result {
    int http_status; /* 200, 400 or 500 */
    char *body;      /* malloc-owned JSON reply (a review, or a Status on error): free() it */
    size_t body_len;
    enum admission_decision decision;
    /* Arena-owned copies for logging; "-" when unknown. */
    const char *uid, *operation, *kind, *namespace_, *name, *reason;
    bool dry_run, patched;
    size_t n_warnings;
    /* "[policy] message; ..." of the denies, or with --enforcement warn of the denies made
     * warnings (what would have denied); NULL when there are none. */
    const char *denied_by;
    enum admission_effect effect; /* for a review answered 200 */
    /* The engine's findings, borrowed from 'a' (their policies from the set decided with):
     * what admission_result_policies() names. */
    const policy_finding *findings;
    size_t n_findings;
} admission_result;

/* The names of the policies whose findings in 'res' did 'effect' (ADMISSION_EFFECT_DENIED:
 * denied, _WOULD_DENY: denies made warnings, _WARNED: other warnings, _AUDITED: audit
 * annotations), comma-separated, each once, in the order the policies ran; NULL when there
 * are none (or 'a' ran out). Allocated from 'a'. For the review log line. */
const char *admission_result_policies(const admission_result *res, enum admission_effect effect,
                                      arena *a);

/* The messages of the findings in 'res' that are evaluation errors ("[policy] validations[2]
 * (file:line) could not be evaluated: ..."), whatever the failurePolicy made of them, joined
 * with "; "; NULL when there are none (or 'a' ran out). For the review log line: an error
 * of a failurePolicy Ignore policy is only a warning in the answer. */
const char *admission_result_errors(const admission_result *res, arena *a);

/* Decodes 'body' (NUL at body[len]), decides, and encodes the reply into 'out'. Every outcome,
 * malformed input included, ends with a reply body; allocates from 'a'. */
void admission_process(enum admission_mode mode, const char *body, size_t len,
                       const admission_policy *pol, arena *a, admission_result *out);

#endif
