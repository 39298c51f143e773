/* policy_int.h - shared by the files of src/policy/ only. */
#ifndef SG_POLICY_INT_H
#define SG_POLICY_INT_H

#include "policy.h"
#include "yamldoc.h"

#include "../k8s/quantity.h"

#define POLICY_MAX_VARIABLES 64

typedef struct loader {
    arena *a;
    const char *file;
    const diag_source *src; /* the file being loaded: expression errors are offsets into it */
    diag_list *dl;
    int errors;
    expr_decls decls; /* bindings, and the variables declared so far */
    const char *names[PB_COUNT + POLICY_MAX_VARIABLES]; /* decls.vars */
    policy_kind *kinds; /* looked up by the expressions compiled so far (lookups.c) */
    size_t n_kinds, cap_kinds;
} loader;

/* Hands 'j' to arena 'a': it is deleted when the arena is reset or freed. Returns 0, or -1
 * (out of memory) after deleting 'j' at once. NULL is accepted (returns -1). */
int policy_defer_json(arena *a, cJSON *j);

/* Where a scalar's value was written in its file (scalarpos.c): the file's text, where the
 * value's text starts, and how it was written. */
typedef struct scalar_origin {
    const char *text; /* the whole file */
    size_t len;
    size_t start;     /* the first byte of the value's text (after a quote; a block's text) */
    int style;        /* plain, '', "", | or > */
    int indent;       /* a block scalar's indentation */
    const char *value; /* the value libyaml made of it */
} scalar_origin;

/* Fills 'o' for scalar 'n' of the file 's'. */
void policy_scalar_origin(scalar_origin *o, const diag_source *s, const ynode *n);

/* The offset in the file of byte 'off' of the value ('origin' is a scalar_origin; a
 * srcpos.map). An offset at the value's end maps to where its text ends. */
size_t policy_scalar_offset(const void *origin, size_t off);

/* Compiles the expression in scalar 'n' with the loader's declarations; NULL on errors. */
const expr_prog *policy_compile(loader *ld, const ynode *n, const char *what);

/* lookups.c: checks the lookup() and lookupList() calls of 'p' (compiled from the scalar at
 * 'at'): apiVersion and kind must be string literals that can name a kind (diags
 * "policy.lookup"); adds each kind to ld->kinds. */
void policy_check_lookups(loader *ld, const expr_prog *p, const srcpos *at);

/* Why 's' ('len' bytes) cannot be an apiVersion, or a kind; NULL when it can. */
const char *policy_api_version_problem(const char *s, size_t len);
const char *policy_kind_problem(const char *s, size_t len);

/* Sorts kinds by apiVersion, then kind. */
void policy_sort_kinds(policy_kind *k, size_t n);

/* Reads one policy document into 'out'; returns 0, or -1 with diags. */
int policy_parse(loader *ld, const ydoc *doc, policy *out);

/* fn_flink.c: flinkPath(s), s.flinkConfValue(), s.javaTrim(), s.javaUpper(),
 * flinkHaModes(cfg, version) (rows of
 * policy_functions). */
expr_value policy_fn_flink_path(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n);
expr_value policy_fn_java_trim(const expr_call *c, const expr_value *r, const expr_value *a,
                               size_t n);
expr_value policy_fn_flink_conf_value(const expr_call *c, const expr_value *r,
                                      const expr_value *a, size_t n);
expr_value policy_fn_java_upper(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n);
expr_value policy_fn_flink_ha_modes(const expr_call *c, const expr_value *r, const expr_value *a,
                                    size_t n);

/* functions.c: a kubernetes.Quantity value holding 'q', from the call's arena (an error value
 * when out of memory). */
expr_value policy_quantity_value(const expr_call *c, k8s_quantity q);
/* The quantity a kubernetes.Quantity value holds, or NULL when 'v' is not one (borrowed). */
const k8s_quantity *policy_as_quantity(const expr_value *v);

/* fn_sched.c: podRequests(spec), podLimits(spec) and nodesFor(nodes, spec) (rows of
 * policy_functions): what kube-scheduler counts for a pod, and the Nodes it may use. */
expr_value policy_fn_pod_requests(const expr_call *c, const expr_value *r, const expr_value *a,
                                  size_t n);
expr_value policy_fn_pod_limits(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n);
expr_value policy_fn_nodes_for(const expr_call *c, const expr_value *r, const expr_value *a,
                               size_t n);

#endif
