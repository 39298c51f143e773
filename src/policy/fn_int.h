/* fn_int.h - shared by functions.c and fn_flinkconfig.c only: the per-run state of the policy
 * functions (policy_fn_ctx, opaque everywhere else) and what the two files call of each other. */
#ifndef SG_POLICY_FN_INT_H
#define SG_POLICY_FN_INT_H

#include "functions.h"
#include "policy_int.h"

/* One flinkConfig() answer, kept for the rest of the run. The JSON it read is borrowed from
 * the request (the object, the working copy, a lookup's answer), so its identity stands for
 * its content until ctx_reset says the working copy changes; the file is compared by value. */
#define CONFIG_MEMO 8 /* answers kept per run: the object, oldObject, looked-up ones, each twice */
typedef struct config_answer {
    const cJSON *obj, *job;       /* flinkConfiguration and spec.job (NULL: null) */
    const cJSON *cm;  /* the operator's ConfigMap; NULL: the spec's options alone */
    const cJSON *res; /* with 'cm': the resource, whose version and namespace choose defaults */
    expr_value file;  /* with 'cm': its key read */
    expr_value value; /* a map, or an error given again with the caller's span */
} config_answer;

/* One flinkHaModes() answer: the map by identity (a value is never changed once made, and
 * the run's arena frees nothing before the run ends), the version by value. */
#define HA_MODES_MEMO 4
typedef struct ha_modes_answer {
    const expr_map *cfg;
    expr_value version;
    expr_value value; /* a list */
} ha_modes_answer;


/* The lookups' answers (struct lookup_answer) are functions.c's own. */
struct policy_fn_ctx {
    const policy_lookup *lookup; /* NULL: lookup() gives null, lookupList() [] */
    struct lookup_answer *answers; /* arena-owned, LOOKUP_MEMO of them; NULL until used */
    size_t n_answers;
    /* Every Flink policy asks flinkConfig() for the same maps of the object, and four of them
     * flinkHaModes() of its answer: each answer is kept (the oldest replaced when full). */
    config_answer configs[CONFIG_MEMO];
    size_t n_configs, next_config;
    ha_modes_answer ha_modes[HA_MODES_MEMO];
    size_t n_ha_modes, next_ha_mode;
    size_t config_hits, ha_modes_hits; /* calls answered from the memo (policy_fn_ctx_hits) */
};

/* The error of function 'fn' applied to a value of the wrong type. */
static inline expr_value policy_fn_wrong_type(const expr_call *c, const char *fn,
                                              const expr_value *v)
{
    return expr_error_new(c->a, "expr.no_overload", c->span,
                          "no matching overload for '%s' applied to (%s)", fn, expr_type_name(v));
}

/* fn_flinkconfig.c: flinkConfig(flinkConfiguration[, job[, operatorConfigMap, resource[, file]]])
 * and flinkHaModes(cfg, version) (policy_fn_flink_ha_modes, fn_flink.c), each answer kept in
 * the run's policy_fn_ctx (rows of policy_functions). */
expr_value policy_fn_flink_config(const expr_call *c, const expr_value *r, const expr_value *a,
                                  size_t n);
expr_value policy_fn_flink_ha_modes_kept(const expr_call *c, const expr_value *r,
                                         const expr_value *a, size_t n);

#endif
