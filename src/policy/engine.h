/* engine.h - running a policy set on one request: match, variables, validations, mutations.
 *
 * The same code decides for the webhook and for 'streamguard check'. A rule runs in this
 * order: match (resources, operations, namespaces, labels, users), then its expressions.
 * Each ends as PASS, FAIL, WARN, ERROR (could not be evaluated) or SKIP (did not match);
 * an ERROR follows the policy's failurePolicy: Fail denies "could not be evaluated", Ignore
 * warns. Everything is allocated from the caller's arena; the set is only read. */
#ifndef SG_POLICY_ENGINE_H
#define SG_POLICY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "policy.h"

enum rule_result { RULE_PASS, RULE_FAIL, RULE_WARN, RULE_ERROR, RULE_SKIP };

enum engine_mode { ENGINE_VALIDATE, ENGINE_MUTATE };

/* How related objects are found for lookup(apiVersion, kind, namespace, name) and
 * lookupList(apiVersion, kind, namespace): the CLI searches the documents it was given (and,
 * with --kubeconfig, the live cluster); the server asks its watch caches (src/kube/cache.h).
 * Three outcomes, kept apart: found, not found (lookup gives null, lookupList []), and the
 * cluster could not be asked (an evaluation error, which the policy's failurePolicy decides).
 * Objects returned are borrowed until the request ends; arrays and the 'why' text are
 * allocated from 'a'. A NULL 'find' or 'list' is LOOKUP_NOT_FOUND. */
enum policy_lookup_result { LOOKUP_FOUND, LOOKUP_NOT_FOUND, LOOKUP_UNAVAILABLE };

typedef struct policy_lookup {
    enum policy_lookup_result (*find)(void *data, const char *api_version, const char *kind,
                                      const char *namespace_, const char *name, arena *a,
                                      const cJSON **out, const char **why);
    /* 'namespace_' "" : every namespace (or a cluster-scoped kind). */
    enum policy_lookup_result (*list)(void *data, const char *api_version, const char *kind,
                                      const char *namespace_, arena *a, const cJSON ***out,
                                      size_t *n, const char **why);
    void *data;
} policy_lookup;

/* What a caller is told while the engine runs, for reports that go beyond the verdict
 * (streamguard check and test print each policy's patch, and which policies matched; the
 * server counts and times each policy). The verdict itself is in the outcome, the same with
 * an observer as without. Any callback may be NULL. */
typedef struct policy_observer {
    /* Policy 'p' matched the request and is about to run (once per run that it is relevant
     * to: a mutating policy in ENGINE_MUTATE, a validating one in ENGINE_VALIDATE). */
    void (*matched)(void *ctx, const policy *p);
    /* Policy 'p''s mutations turned the object 'before' into 'after' (both borrowed for the
     * call). Returns 0, or -1 (out of memory) to end the run as when the arena runs out. */
    int (*mutated)(void *ctx, const policy *p, const cJSON *before, const cJSON *after);
    void *ctx;
    /* Policy 'p' has run in 'mode' (after its matched() call, from the same loop): 'result'
     * is RULE_ERROR when one of its expressions or patches could not be evaluated, else
     * RULE_FAIL when a validation failed, else RULE_PASS (a mutation passes whether it
     * changed the object or not). 'action' is the strongest (deny, warn, audit) of the failing
     * validations' own actions for RULE_FAIL, else the policy's spec.action; --enforcement
     * warn does not change it (the outcome's would_deny findings say what it softened). */
    void (*evaluated)(void *ctx, const policy *p, enum engine_mode mode, enum rule_result result,
                      enum policy_action action);
} policy_observer;

/* The request as the engine sees it. Strings are "" when absent; JSON is borrowed. */
typedef struct policy_request {
    const char *group, *version, *kind, *sub_resource, *namespace_, *name;
    unsigned op;                 /* 0 CREATE, 1 UPDATE, 2 DELETE, 3 CONNECT */
    const char *username;
    const cJSON *groups;         /* userInfo.groups, or NULL */
    const cJSON *object, *old_object;
    const cJSON *request;        /* the whole AdmissionRequest, bound as 'request'; or NULL */
    const policy_lookup *lookup; /* NULL: lookup() gives null, lookupList() [] */
    const policy_observer *observer; /* NULL: none */
} policy_request;

/* One rule that fired (FAIL, WARN, ERROR) or, for mutations, changed the object. */
typedef struct policy_finding {
    const policy *policy;
    enum rule_result result;
    enum policy_action action;   /* what the finding does: deny, warn or audit */
    const char *message;         /* "[policy] message", arena-owned */
    const char *field;           /* or NULL */
    enum policy_reason reason;   /* the status reason a deny asks for, or NONE */
    srcpos at;                   /* the rule in the policy file */
    bool would_deny;             /* a deny that --enforcement warn made a warning (action is
                                    then POLICY_WARN) */
} policy_finding;

typedef struct policy_outcome {
    policy_finding *findings;
    size_t n_findings;
    bool denied;
    size_t n_matched;            /* policies that matched the request */
    const cJSON *mutated;        /* ENGINE_MUTATE: the object after every mutation, or NULL when
                                    nothing changed; freed with the arena of the run */
    const char *const *mutated_paths; /* the JSON Pointers the mutations patched: 'mutated' is
                                         the request's object changed only there (for
                                         jsonpatch_diff_at()) */
    size_t n_mutated_paths;
} policy_outcome;

/* Runs the policies of 's' in 'mode' on 'r'. With 'warn_only' (--enforcement warn) a deny
 * becomes a warning. Returns 0, or -1 when the arena ran out (the caller must not allow). */
int policy_engine_run(const policy_set *s, enum engine_mode mode, const policy_request *r,
                      bool warn_only, arena *a, policy_outcome *out);

/* True when policy 'p' applies to 'r' (resources, operation, namespaces, labels, users). */
bool policy_matches(const policy *p, const policy_request *r);

#endif
