/* decide.h - the admission decision, and the whole review round trip as bytes in, bytes out.
 *
 * admission_decide() is the one place a verdict is made, for the webhook and the CLI alike:
 * it runs the policy engine and turns its findings into an AdmissionResponse. Denies become
 * allowed: false with a Status, warnings become warnings, audits become auditAnnotations,
 * and mutations one JSON Patch. admission_process() wraps decode, decide and encode for the
 * server. */
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

/* What a decision runs with: the policies (NULL: none, everything is allowed) and whether
 * denies are only warnings (--enforcement warn). */
typedef struct admission_policy {
    const policy_set *set;
    bool warn_only;
    const policy_lookup *lookup; /* related objects for lookup(), lookupList(); NULL: none */
} admission_policy;

/* Decides on 'req' for 'mode' and fills 'resp' (strings allocated from 'a'). Returns 0, or -1
 * when no decision could be made (details in 'dl'); the caller must then not allow.
 * '*outcome', when not NULL, receives the engine's findings. */
int admission_decide(enum admission_mode mode, const admission_request *req,
                     const admission_policy *pol, arena *a, admission_response *resp,
                     policy_outcome *outcome, diag_list *dl);

/* The engine's view of a decoded request. */
void admission_to_policy_request(const admission_request *req, const policy_lookup *lookup,
                                 policy_request *out);

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
    const char *denied_by; /* "[policy] message; ..." of the denies, or NULL */
} admission_result;

/* Decodes 'body' (NUL at body[len]), decides, and encodes the reply into 'out'. Every outcome,
 * malformed input included, ends with a reply body; allocates from 'a'. */
void admission_process(enum admission_mode mode, const char *body, size_t len,
                       const admission_policy *pol, arena *a, admission_result *out);

#endif
