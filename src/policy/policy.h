/* policy.h - policies: the loaded form of a policy file, and the set the server shares.
 *
 * A policy file is a YAML document shaped like Kubernetes' ValidatingAdmissionPolicy
 * (DESIGN.md, docs/policy-authoring.md). Loading checks every field and compiles every
 * expression, reporting each problem with file:line:col; a set with errors is not used.
 * A loaded set is immutable, shared by all threads, and reference-counted. */
#ifndef SG_POLICY_H
#define SG_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "../expr/expr.h"
#include "../util/arena.h"
#include "../util/diag.h"

#define POLICY_API_VERSION "streamguard.dev/v1alpha1"
#define POLICY_MAX_FILE    ((size_t)1 << 20)

enum policy_action { POLICY_DENY, POLICY_WARN, POLICY_AUDIT };
enum policy_failure { POLICY_FAIL, POLICY_IGNORE };

/* The status reason a denying validation asks for (its 'reason', as in
 * ValidatingAdmissionPolicy); POLICY_REASON_NONE when it names none. The loader parses the
 * names below into this; admission/decide.c maps each to its HTTP code in one table. */
enum policy_reason {
    POLICY_REASON_NONE,
    POLICY_REASON_UNAUTHORIZED,
    POLICY_REASON_FORBIDDEN,
    POLICY_REASON_INVALID,
    POLICY_REASON_REQUEST_ENTITY_TOO_LARGE,
    POLICY_REASON_COUNT
};

/* The Kubernetes spelling of each reason ("Forbidden"), indexed by the enum: "" for
 * POLICY_REASON_NONE, and a NULL after the last, so that the list from index 1 is the
 * NULL-terminated list of names a policy file may give. */
extern const char *const policy_reason_names[POLICY_REASON_COUNT + 1];

/* Operations as a bit mask: 1 << admission_op (CREATE, UPDATE, DELETE, CONNECT). A rule
 * that names none covers CREATE and UPDATE, the operations that carry a new object: on
 * DELETE 'object' is null, and a policy must ask for DELETE to be run there. */
#define POLICY_OPS_ALL     0xFu
#define POLICY_OPS_DEFAULT 0x3u

typedef struct policy_strs {
    const char **v;
    size_t n;
} policy_strs;

enum label_op { LABEL_IN, LABEL_NOT_IN, LABEL_EXISTS, LABEL_DOES_NOT_EXIST };

typedef struct policy_label_req {
    const char *key;
    enum label_op op;
    policy_strs values;
} policy_label_req;

typedef struct policy_selector {
    bool set;               /* false: matches everything */
    policy_label_req *reqs; /* matchLabels become LABEL_IN with one value */
    size_t n;
} policy_selector;

typedef struct policy_resource_rule {
    policy_strs api_groups; /* "" is the core group, "*" any */
    policy_strs kinds;      /* "*" any */
    policy_strs subresources; /* "status"...; empty: the main resource only */
    unsigned ops;           /* mask */
    /* Labels an object of this rule's kinds must have, on top of spec.match.objectSelector:
     * an exemption that belongs to some kinds only (the Flink operator's canary label). */
    policy_selector objects;
} policy_resource_rule;

/* What a policy matches. A field added here (or to policy_resource_rule, policy_selector)
 * must also be compared by match_equal() in set.c: policies whose matches it finds equal share
 * one match decision per request (policy.match_class). */
typedef struct policy_match {
    policy_resource_rule *rules;
    size_t n_rules;
    policy_strs ns_include, ns_exclude;
    policy_selector objects;
    policy_strs excluded_users, excluded_groups;
} policy_match;

typedef struct policy_variable {
    const char *name;
    const expr_prog *prog;
    /* A variable that reads only params, literals and other constant variables and calls no
     * lookup(): its value, computed once when the set is loaded (constvars.c), the steps that
     * took (charged to the rule that first uses it, as its evaluation would be), and the
     * constant variables it reads (bit i: variable i). */
    bool constant;
    uint32_t steps;
    uint64_t deps;
    expr_value value;
    /* 1 + the index of the value it shares, per run, with the variables of other policies
     * that compute the same (share.c); 0: its own. */
    size_t shared;
} policy_variable;

typedef struct policy_validation {
    const expr_prog *expr;
    const char *message;          /* NULL: use the expression text */
    const expr_prog *message_expr; /* NULL when none */
    const char *field;             /* NULL when none */
    enum policy_reason reason;
    enum policy_action action;     /* the policy's unless the validation sets its own */
    srcpos at;
} policy_validation;

enum patch_op { PATCH_ADD, PATCH_REPLACE, PATCH_REMOVE };

typedef struct policy_patch {
    enum patch_op op;
    const char *path;         /* a JSON Pointer, or NULL when path_expr computes it */
    const expr_prog *path_expr;
    const cJSON *value;       /* a fixed value (owned by the set), or NULL */
    const expr_prog *value_expr;
} policy_patch;

typedef struct policy_mutation {
    const expr_prog *for_each; /* NULL, or a list: the rule runs once per element */
    const expr_prog *when;     /* NULL: always */
    policy_patch *ops;
    size_t n_ops;
    srcpos at;
} policy_mutation;

typedef struct policy {
    const char *name, *description;
    srcpos at; /* file and line of the document */
    enum policy_action action;
    enum policy_failure failure;
    policy_match match;
    /* Policies whose matches are written alike share a class (0, 1, ... in the order of their
     * first policies in the set): the engine decides each class once per request. */
    size_t match_class;
    const cJSON *params; /* owned by the set; NULL when none */
    policy_variable *vars;
    size_t n_vars;
    policy_validation *validations;
    size_t n_validations;
    policy_mutation *mutations;
    size_t n_mutations;
} policy;

typedef struct policy_set policy_set;

/* Loads every .yaml and .yml file under 'dir' (recursively, sorted by path) into a new set.
 * Reports every problem to 'dl'; returns the set, or NULL when there were errors. A
 * directory without policies gives an empty set. */
policy_set *policy_set_load_dir(const char *dir, diag_list *dl);

/* Loads the given files (or directories) into one set. Same returns. */
policy_set *policy_set_load_paths(const char *const *paths, size_t n, diag_list *dl);

/* What a load reads and checks beyond the policy files. */
typedef struct policy_load_opts {
    /* Field paths of object and oldObject against the schemas of the kinds a policy matches
     * (every served version of the vendored CRDs, and 'crd_files'): a field none of them has
     * is an "expr.field" error. Only lint: a cluster may run newer CRDs than the vendored. */
    bool check_fields;
    const char *const *crd_files; /* more CRDs, for kinds of the user's own (lint --crd) */
    size_t n_crd_files;
    /* PolicyParams documents (files or directories that hold nothing else), merged into the
     * params of the policies they name after those found among the paths (params.c,
     * docs/policy-authoring.md "Params without forking a policy"). A PolicyParams that names
     * no loaded policy, a param the policy does not declare or a value of another type is an
     * error ("policy.params"). */
    const char *const *params;
    size_t n_params;
} policy_load_opts;

/* policy_set_load_paths with 'o' (NULL: as policy_set_load_paths). */
policy_set *policy_set_load_opts(const char *const *paths, size_t n, const policy_load_opts *o,
                                 diag_list *dl);

/* policy_set_load_opts with only the PolicyParams of 'params' (NULL for none). */
policy_set *policy_set_load(const char *const *paths, size_t n, const char *const *params,
                            size_t n_params, diag_list *dl);

/* Takes another reference to 's' (thread-safe). */
policy_set *policy_set_ref(policy_set *s);

/* Drops a reference; the last one frees the set. NULL is accepted. */
void policy_set_unref(policy_set *s);

/* The policies of 's', in load order. */
const policy *policy_set_items(const policy_set *s, size_t *n);

/* A kind that policies look up: lookup(apiVersion, kind, ...) and lookupList(apiVersion,
 * kind, ...) name it with string literals (a set that names one otherwise does not load). */
typedef struct policy_kind {
    const char *api_version; /* "v1", "storage.k8s.io/v1" */
    const char *kind;        /* "PersistentVolumeClaim" */
    /* NULL: the whole kind. Otherwise the one object every lookup() of the kind names, with
     * constants of the loaded set (literals, params.* paths): its namespace ("" for none) and
     * name. A kind looked up under several constant names has one entry per name. */
    const char *ns, *name;
} policy_kind;

/* What the policies of 's' look up, sorted by apiVersion, kind, namespace and name, each
 * once: a whole kind (name NULL), or the objects of a kind that every lookup() names by
 * constants (policy_kind). What the server watches, and what its RBAC must let it get, list
 * and watch. Copies up to 'cap' into 'out' (the strings are owned by the set) and returns how
 * many there are in all. */
size_t policy_set_lookup_kinds(const policy_set *s, policy_kind *out, size_t cap);

/* flinkConfig() keeps the Flink operator's default configuration resolved from a ConfigMap
 * across reviews (flinkdefaults.c), keyed by the ConfigMap's uid and resourceVersion. Drops
 * what was kept for the ConfigMap 'ns'/'name' (NULL 'ns': everything): the watch caches call
 * it when one changes or goes, and the server at exit. Thread-safe. */
void policy_flink_defaults_forget(const char *ns, const char *name);

/* The bindings of a policy expression, in the one order the loader declares them (an
 * expression's declaration index for a binding is its enum value), the engine binds them and
 * resolve_decl answers them; the policy's variables come after PB_COUNT. */
enum policy_binding {
    PB_OBJECT,
    PB_OLD_OBJECT,
    PB_REQUEST,
    PB_PARAMS,
    PB_ELEMENT,       /* a forEach element; null outside forEach */
    PB_ELEMENT_INDEX, /* its index; null outside forEach */
    PB_COUNT
};

/* The name of each binding ("object", "oldObject", ...), indexed by enum policy_binding. */
extern const char *const policy_bindings[PB_COUNT];

#endif
