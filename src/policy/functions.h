/* functions.h - the functions streamguard adds to CEL for policies: Kubernetes quantities
 * (quantity, isQuantity and the methods of kubernetes.Quantity), flinkMemory,
 * flinkResourceMemory, jvmMemory, flinkConfig, lookup, lookupList, and Flink's reading of
 * strings (flinkPath, flinkConfValue, javaTrim, javaUpper: fn_flink.c), the operator's merge of
 * pod templates (flinkMergePodTemplates: fn_podtemplate.c), the mounts of a container
 * (containerMounts, mountFor: fn_mounts.c). Pass them to
 * expr_compile() in expr_decls.fns. */
#ifndef SG_POLICY_FUNCTIONS_H
#define SG_POLICY_FUNCTIONS_H

#include "../expr/expr.h"

#include "engine.h"

/* What the functions keep for one run of the engine (a request, or a document of check): the
 * lookup and its answers so far, the answers of flinkConfig(), which every Flink policy asks
 * for on the same maps, and those of flinkHaModes() on them. Opaque: only functions.c and
 * fn_flinkconfig.c read it (fn_int.h). */
typedef struct policy_fn_ctx policy_fn_ctx;

/* How many calls of function 'fn' ("flinkConfig" or "flinkHaModes") 'ctx' answered from what
 * it kept in this run; 0 for another name or a NULL 'ctx'. For tests and profiling. */
size_t policy_fn_ctx_hits(const policy_fn_ctx *ctx, const char *fn);

/* The functions policies add, with their per-run state, as cel-go's cel.Library bundles a
 * library's declarations with its runtime state. Whoever evaluates policy expressions gets the
 * state from ctx_init, passes it as expr_env.fn_ctx, and calls ctx_reset before it changes
 * the JSON the expressions read (a mutation's patch); it never touches the state otherwise. */
typedef struct policy_library {
    const expr_fn_def *functions; /* for expr_decls.fns */
    size_t n_functions;
    /* A fresh state from arena 'a' (it lives as long as the arena). 'lookup' answers lookup()
     * and lookupList() (NULL: they give null and []); it is borrowed for the run. Lookups are
     * remembered for the run, so that every rule sees one answer for one object however often
     * it asks, and a cluster that cannot be asked costs one timeout, not one per call.
     * Returns NULL when out of memory. */
    policy_fn_ctx *(*ctx_init)(arena *a, const policy_lookup *lookup);
    /* Forgets what 'ctx' remembers about the JSON being evaluated (not the lookups: they are
     * about the cluster). NULL is accepted. */
    void (*ctx_reset)(policy_fn_ctx *ctx);
} policy_library;

extern const policy_library policy_lib;

/* The table of policy_lib.functions, for static initialisers of expr_decls. */
extern const expr_fn_def policy_functions[];
extern const size_t policy_n_functions;

#endif
