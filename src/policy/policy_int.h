/* policy_int.h - shared by the files of src/policy/ only. */
#ifndef SG_POLICY_INT_H
#define SG_POLICY_INT_H

#include "policy.h"
#include "yamldoc.h"

#include "../k8s/quantity.h"

#define POLICY_MAX_VARIABLES 64

typedef struct loader {
    arena *a;   /* the set's: what the policies keep */
    arena *tmp; /* what only loading reads (the YAML documents), freed once the set is loaded */
    const char *file;
    const diag_source *src; /* the file being loaded: expression errors are offsets into it */
    diag_list *dl;
    int errors;
    expr_decls decls; /* bindings, and the variables declared so far */
    const char *names[PB_COUNT + POLICY_MAX_VARIABLES]; /* decls.vars */
    const expr_type *types[PB_COUNT + POLICY_MAX_VARIABLES]; /* decls.var_types (NULL: dyn) */
    policy_kind *kinds; /* looked up by the expressions compiled so far (lookups.c) */
    size_t n_kinds, cap_kinds;
    struct policy_lookup_site *sites; /* each lookup() and lookupList() call (lookups.c) */
    size_t n_sites, cap_sites;
    size_t cur_policy; /* the index in the set of the policy being parsed */
    bool check_fields;  /* lint: object's fields against the schemas below */
    const struct policy_schema_row *schemas; /* builtin and --crd rows */
    size_t n_schemas;
    const expr_type **schema_types; /* of each row, read when a policy first matches its kind */
} loader;

/* The type lint gives object and oldObject in policy 'p': the union of the schemas of the
 * kinds its rules match (all versions), or NULL (dyn) when one of them has no schema. */
const expr_type *policy_object_type(loader *ld, const policy *p);

/* expr_decls.fn_type under lint ('ctx': the loader): what lookup(apiVersion, kind, namespace,
 * name) and lookupList(apiVersion, kind, namespace) answer when apiVersion and kind are
 * literals: an object of that group, version and kind, a list of them; dyn for a kind or
 * version without a schema, and for any other function. */
const expr_type *policy_lookup_type(void *ctx, const char *fn, uint32_t nargs,
                                    const char *const *lits);

/* Hands 'j' to arena 'a': it is deleted when the arena is reset or freed. Returns 0, or -1
 * (out of memory) after deleting 'j' at once. NULL is accepted (returns -1). */
int policy_defer_json(arena *a, cJSON *j);

/* One option of a Flink configuration. */
typedef struct policy_conf_opt {
    const char *key, *val;
} policy_conf_opt;

/* The Flink operator's default configuration held by its ConfigMap 'cm' (flinkdefaults.c), as
 * the operator resolves it for a resource of spec.flinkVersion 'version' ('vlen' bytes; 0: none)
 * in namespace 'ns' ('nslen'; 0: none). The file is 'file' ('flen' bytes): "flink-conf.yaml"
 * (read as Flink's legacy parser reads it), "config.yaml" (YAML, nested keys joined with '.'),
 * or "" for the one Flink 1.19/1.20 read in a conf directory that has both: flink-conf.yaml,
 * else config.yaml. Then the options under kubernetes.operator.default-configuration.
 * namespace.<ns>., ...flink-version.vX_Y+. (each known version up to the resource's, older
 * first) and ...flink-version.<version>. are set over them. Returns 0 with '*out' ('*n'
 * options, sorted by key, one per key, from 'a'; none when the ConfigMap holds no such file),
 * or -1 with '*why' (another file name, invalid YAML, too many options, out of memory). */
int policy_flink_operator_defaults(arena *a, const cJSON *cm, const char *file, size_t flen,
                                   const char *version, size_t vlen, const char *ns,
                                   size_t nslen, policy_conf_opt **out, size_t *n,
                                   const char **why);

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

/* policy_compile, and an error ("expr.type") when the expression cannot yield a bool. */
const expr_prog *policy_compile_bool(loader *ld, const ynode *n, const char *what);

/* lookups.c: checks the lookup() and lookupList() calls of 'p' (compiled from the scalar at
 * 'at'): apiVersion and kind must be string literals that can name a kind (diags
 * "policy.lookup"); adds each kind to ld->kinds. */
void policy_check_lookups(loader *ld, const expr_prog *p, const srcpos *at);

/* An argument of a lookup() call as written: a string literal ('lit', 'len'), a path of plain
 * fields from a binding ('npath' names, params.operatorConfigMap.name), or neither. */
typedef struct policy_lookup_arg {
    const char *lit;
    uint32_t len;
    uint32_t npath;
    const char *path[EXPR_CALL_SITE_PATH];
} policy_lookup_arg;

/* One call of lookup() or lookupList() of the policy 'policy' (an index into the set). */
typedef struct policy_lookup_site {
    const char *api_version, *kind;
    size_t policy;
    bool named; /* lookup() with a namespace and a name; lookupList() is not */
    policy_lookup_arg ns, name;
} policy_lookup_site;

/* lookups.c: after the PolicyParams are applied, replaces ld->kinds by what the server
 * watches: for a kind whose every lookup() names its namespace and name with constants of
 * the loaded policy (string literals, or params.* paths whose value in the policy's params
 * is a string), one entry per (namespace, name); otherwise one entry for the whole kind.
 * Sorted (policy_sort_kinds). */
void policy_scope_lookups(loader *ld, const policy *items, size_t n);

/* For the extension functions (functions.c, fn_*.c): a string value of 's' ('len' bytes,
 * borrowed), and the error of an allocation that failed. */
static inline expr_value policy_str_val(const char *s, size_t len)
{
    expr_value v = {.kind = EXPR_STRING, .len = (uint32_t)len};
    v.v.s = s;
    return v;
}

static inline expr_value policy_oom(const expr_call *c)
{
    return expr_error_new(c->a, "expr.limit", c->span, "out of memory");
}

/* Computes once, into 'a', the variables of 'items' that read only params, literals and other
 * such variables and call no lookup() (policy_variable.constant; constvars.c). Called when the
 * params are final. */
void policy_fold_constants(policy *items, size_t n, arena *a);
/* share.c: gives each variable of 'items' ('n' policies) that computes what a variable of
 * another of them computes (the same text, no per-policy binding but params, the same params
 * read) the same policy_variable.shared, 1 + the index of their value; 0 to the others.
 * Returns how many values there are. */
size_t policy_share_variables(policy *items, size_t n);

/* The bytes the loaded set 's' holds in its arena: what it costs the server while it is the
 * set in use (docs/server.md, "Memory"). */
size_t policy_set_bytes(const policy_set *s);

/* How many values variables of several policies of 's' share (policy_share_variables). */
size_t policy_set_shared_count(const policy_set *s);

/* How many match classes the policies of 's' fall in (policy.match_class is below it). */
size_t policy_set_match_classes(const policy_set *s);

/* Why 's' ('len' bytes) cannot be an apiVersion, or a kind; NULL when it can. */
const char *policy_api_version_problem(const char *s, size_t len);
const char *policy_kind_problem(const char *s, size_t len);

/* Sorts kinds by apiVersion, then kind, the whole kind first, then namespace and name. */
void policy_sort_kinds(policy_kind *k, size_t n);

/* A PolicyParams document (params.c): spec.params set on the policy spec.policy names. */
typedef struct policy_params {
    const char *file;
    int line;
    const char *name;    /* metadata.name */
    const ynode *policy; /* spec.policy, a scalar */
    const ynode *params; /* spec.params, a mapping */
} policy_params;

/* Reads a document of kind PolicyParams; returns 0, or -1 with diags ("policy.params"). */
int policy_params_parse(loader *ld, const ydoc *doc, policy_params *out);

/* Merges each PolicyParams into the params of the policy it names, in order, after checking
 * that the policy is among 'items', declares params, and declares each key given with a
 * value of the same type (errors "policy.params" at the key or value). */
void policy_params_apply(loader *ld, policy *items, size_t n, const policy_params *pps,
                         size_t n_pps);

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

/* fn_podtemplate.c: flinkMergePodTemplates(base, override, mergeByName), the Flink operator's
 * merge of a role's pod template over spec.podTemplate (a row of policy_functions). */
expr_value policy_fn_merge_pod_templates(const expr_call *c, const expr_value *r,
                                         const expr_value *a, size_t n);

/* fn_mounts.c: containerMounts(pod, container, podEnv, sharedFieldRefs), the mount table of a
 * container, and mountFor(mounts, path), the mount a path lies on (rows of policy_functions). */
expr_value policy_fn_container_mounts(const expr_call *c, const expr_value *r,
                                      const expr_value *a, size_t n);
expr_value policy_fn_mount_for(const expr_call *c, const expr_value *r, const expr_value *a,
                               size_t n);

/* functions.c: a kubernetes.Quantity value holding 'q', from the call's arena (an error value
 * when out of memory). */
expr_value policy_quantity_value(const expr_call *c, k8s_quantity q);
/* The quantity a kubernetes.Quantity value holds, or NULL when 'v' is not one (borrowed). */
const k8s_quantity *policy_as_quantity(const expr_value *v);

/* fn_sched.c: podRequests(spec), podLimits(spec), podResources(spec), fitsIn(resources,
 * capacity) and nodesFor(nodes, spec)
 * (rows of policy_functions): what kube-scheduler counts for a pod, whether it fits, and the
 * Nodes it may use. */
expr_value policy_fn_pod_requests(const expr_call *c, const expr_value *r, const expr_value *a,
                                  size_t n);
expr_value policy_fn_pod_limits(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n);
expr_value policy_fn_pod_resources(const expr_call *c, const expr_value *r, const expr_value *a,
                                   size_t n);
expr_value policy_fn_fits_in(const expr_call *c, const expr_value *r, const expr_value *a,
                             size_t n);
expr_value policy_fn_nodes_for(const expr_call *c, const expr_value *r, const expr_value *a,
                               size_t n);

/* fn_flinkconfig.c: the text of a YAML/JSON scalar as an option value: a string as it is, a bool
 * "true"/"false", a whole number without a fraction, any other number in the fewest digits
 * that read back the same; NULL for anything else (null, a list, a map) and out of memory. */
const char *policy_scalar_text(arena *a, const cJSON *v);

#endif
