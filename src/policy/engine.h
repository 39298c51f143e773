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

/* The request as the engine sees it. Strings are "" when absent; JSON is borrowed. */
typedef struct policy_request {
    const char *group, *version, *kind, *sub_resource, *namespace_, *name;
    unsigned op;                 /* 0 CREATE, 1 UPDATE, 2 DELETE, 3 CONNECT */
    const char *username;
    const cJSON *groups;         /* userInfo.groups, or NULL */
    const cJSON *object, *old_object;
    const cJSON *request;        /* the whole AdmissionRequest, bound as 'request'; or NULL */
    const policy_lookup *lookup; /* NULL: lookup() gives null, lookupList() [] */
} policy_request;

enum engine_mode { ENGINE_VALIDATE, ENGINE_MUTATE };

/* One rule that fired (FAIL, WARN, ERROR) or, for mutations, changed the object. */
typedef struct policy_finding {
    const policy *policy;
    enum rule_result result;
    enum policy_action action;   /* what the finding does: deny, warn or audit */
    const char *message;         /* "[policy] message", arena-owned */
    const char *field;           /* or NULL */
    enum policy_reason reason;   /* the status reason a deny asks for, or NONE */
    srcpos at;                   /* the rule in the policy file */
} policy_finding;

typedef struct policy_outcome {
    policy_finding *findings;
    size_t n_findings;
    bool denied;
    size_t n_matched;            /* policies that matched the request */
    cJSON *mutated;              /* ENGINE_MUTATE: the object after every mutation (malloc-owned:
                                    cJSON_Delete), or NULL when nothing changed */
} policy_outcome;

/* Runs the policies of 's' in 'mode' on 'r'. With 'warn_only' (--enforcement warn) a deny
 * becomes a warning. Returns 0, or -1 when the arena ran out (the caller must not allow). */
int policy_engine_run(const policy_set *s, enum engine_mode mode, const policy_request *r,
                      bool warn_only, arena *a, policy_outcome *out);

/* Applies the mutations of one policy 'p' (which must match 'r') to 'work', the working copy
 * of the object, appending findings to 'out' (whose arrays come from 'a'). For callers that
 * report each policy's patch on its own (streamguard check). Returns 0, or -1 when the arena
 * ran out. */
int policy_engine_mutate_one(const policy *p, const policy_request *r, cJSON *work, arena *a,
                             policy_outcome *out);

/* True when policy 'p' applies to 'r' (resources, operation, namespaces, labels, users). */
bool policy_matches(const policy *p, const policy_request *r);

#endif
