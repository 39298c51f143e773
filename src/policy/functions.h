/* functions.h - the functions streamguard adds to CEL for policies: Kubernetes quantities
 * (quantity, isQuantity and the methods of kubernetes.Quantity), flinkMemory,
 * flinkResourceMemory, jvmMemory, flinkConfig, lookup, and Flink's reading of strings
 * (flinkPath, flinkConfValue, javaTrim, javaUpper: fn_flink.c). Pass them to expr_compile() in
 * expr_decls.fns. */
#ifndef SG_POLICY_FUNCTIONS_H
#define SG_POLICY_FUNCTIONS_H

#include "../expr/expr.h"

#include "engine.h"

/* What the functions get per request (expr_env.fn_ctx): the lookup, and a memo of the last
 * flinkConfig() result, which every Flink policy asks for on the same map. Whoever changes
 * the object (a mutation) clears the memo. */
typedef struct policy_fn_ctx {
    const policy_lookup *lookup;  /* NULL: lookup() gives null */
    const cJSON *flink_config_of;     /* the JSON map the memo is for, or NULL */
    const cJSON *flink_config_job_of; /* and the job spec it was given, or NULL */
    expr_value flink_config;
} policy_fn_ctx;

extern const expr_fn_def policy_functions[];
extern const size_t policy_n_functions;

#endif
