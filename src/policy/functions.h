/* functions.h - the functions streamguard adds to CEL for policies: Kubernetes quantities
 * (quantity, isQuantity and the methods of kubernetes.Quantity), flinkMemory,
 * flinkResourceMemory, jvmMemory, flinkConfig, lookup, lookupList, and Flink's reading of
 * strings (flinkPath, flinkConfValue, javaTrim, javaUpper: fn_flink.c). Pass them to
 * expr_compile() in expr_decls.fns. */
#ifndef SG_POLICY_FUNCTIONS_H
#define SG_POLICY_FUNCTIONS_H

#include "../expr/expr.h"

#include "engine.h"

/* One answer of the policy_lookup, kept for the rest of the run. */
#define POLICY_LOOKUP_MEMO 64 /* answers kept per run; more are asked each time */
typedef struct policy_lookup_answer {
    const char *fn;          /* "lookup" or "lookupList" (the literal: compared by address) */
    const char *const *args; /* its arguments, 4 or 3 (none holds a NUL) */
    enum policy_lookup_result result;
    const cJSON *obj;   /* lookup() */
    const cJSON **objs; /* lookupList() */
    size_t n;
    const char *why;
} policy_lookup_answer;

/* What the evaluations of a request share (expr_env.fn_ctx): the lookup and its answers so
 * far, a memo of the last flinkConfig() result, which every Flink policy asks for on the same
 * map, and the indexes of the large maps looked up in (expr_env.index). Whoever changes the
 * object (a mutation) calls policy_fn_ctx_changed(). Lookups are remembered for the run, so
 * that every rule of a request sees one answer for one object, however often it is asked,
 * and a cluster that cannot be asked costs one timeout, not one per call. */
typedef struct policy_fn_ctx {
    const policy_lookup *lookup;  /* NULL: lookup() gives null, lookupList() [] */
    policy_lookup_answer *answers; /* arena-owned, POLICY_LOOKUP_MEMO of them; NULL until used */
    size_t n_answers;
    const cJSON *flink_config_of;     /* the JSON map the memo is for, or NULL */
    const cJSON *flink_config_job_of; /* and the job spec it was given, or NULL */
    expr_value flink_config;
    expr_index *index;            /* NULL: each evaluation indexes on its own */
} policy_fn_ctx;

/* Forgets what 'fc' remembers about the JSON of the request: call before changing it. */
static inline void policy_fn_ctx_changed(policy_fn_ctx *fc)
{
    fc->flink_config_of = NULL;
    expr_index_clear(fc->index);
}

extern const expr_fn_def policy_functions[];
extern const size_t policy_n_functions;

#endif
