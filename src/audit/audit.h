/* audit.h - the audit of objects that already exist: every validation of a policy set run
 * against one object, one result per (policy, rule).
 *
 * Shared by the server's background audit (src/server/auditor.c, results written as
 * PolicyReports) and 'streamguard audit' (src/cli/cmd_audit.c, results printed as check
 * prints them). An object is decided as kube-apiserver would send it for a CREATE
 * (admission_request_for_create, what 'check' builds for a manifest), by the validating
 * webhook's own decision (admission_decide, ADMISSION_VALIDATE): mutations do not run, since
 * an object in the cluster was mutated when it was admitted. UPDATE-only policies compare an
 * object with its previous version, and an object at rest has no previous version: they do
 * not match, as they would not on a CREATE. */
#ifndef SG_AUDIT_AUDIT_H
#define SG_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "../kube/client.h"
#include "../policy/engine.h"

/* The result of one rule on one object, as PolicyReports spell it. */
enum audit_result {
    AUDIT_PASS,
    AUDIT_FAIL,
    AUDIT_WARN,
    AUDIT_ERROR,
    AUDIT_SKIP,
    AUDIT_RESULT_COUNT /* not a result: how many there are */
};

/* "pass", "fail", "warn", "error", "skip", indexed by enum audit_result. */
extern const char *const audit_result_names[AUDIT_RESULT_COUNT];

/* One validation of one matching policy on the object. */
typedef struct audit_rule_result {
    const policy *policy;          /* borrowed from the set */
    size_t rule;                   /* the index of the validation in policy->validations */
    enum audit_result result;
    const char *message;           /* without the "[policy] " prefix; arena-owned */
    const char *severity;          /* "high" (Deny), "medium" (Warn), "low" (Audit) */
    const policy_finding *finding; /* the engine's finding (fail, warn, error), or NULL */
} audit_rule_result;

/* What the audit of one object found. */
typedef struct audit_outcome {
    audit_rule_result *results;    /* by policy (load order), then rule; from the arena */
    size_t n;
    const policy_finding *findings; /* the engine's, for check's report */
    size_t n_findings;
    bool matched;                  /* some validating policy applied to it */
    bool allowed;                  /* the verdict a CREATE of it would get now */
    size_t n_denials, n_warnings, n_audit;
} audit_outcome;

/* Runs every validation of 'set' on 'object' (a complete object with apiVersion, kind and
 * metadata; borrowed), looking related objects up through 'lk' (NULL: none). Everything is
 * allocated from 'a'. A rule's result is the engine's finding for it (fail, warn, error); a
 * rule of a matching policy without a finding passed, unless its policy has an evaluation
 * error that the engine reports once for every rule it broke (one variable several rules
 * read): such a rule is an error too, never a pass that was not seen. Returns 0, or -1 with
 * the reason in 'dl' (out of memory, an object the decoder refuses). */
int audit_object(const policy_set *set, const cJSON *object, const policy_lookup *lk, arena *a,
                 audit_outcome *out, diag_list *dl);

/* The name of rule 'i' of a policy as reports give it: "validations[i]", the path of the
 * rule in the policy file. Returns 'out'. */
const char *audit_rule_name(size_t i, char out[32]);

/* A kind that validating policies match on CREATE, as they name it (group and kind, no
 * version). Strings are owned by the set. */
typedef struct audit_kind {
    const char *group; /* "" for the core group */
    const char *kind;
} audit_kind;

/* The kinds the validations of 's' apply to, each once, in the order the policies name them:
 * what the audit lists or watches. Wildcards ("*" groups or kinds) cannot be listed and are
 * counted in '*n_wildcard' instead. Copies up to 'cap' into 'out' and returns how many there
 * are in all. */
size_t audit_kinds(const policy_set *s, audit_kind *out, size_t cap, size_t *n_wildcard);

/* Where kind 'k' lives in the cluster behind 'c': the group's preferred version (GET
 * /apis/GROUP; "v1" for the core group), then discovery (kube_discover). Returns 0; 1 when the
 * cluster does not serve it (the group is unknown, or its preferred version has no such
 * kind: no object of it can exist); -1 when the cluster could not be asked ('error' says
 * why in both cases). */
int audit_resolve_kind(kube_client *c, const audit_kind *k, long timeout_ms, kube_resource *out,
                       char error[512]);

#endif
