/* policy_int.h - shared by the files of src/policy/ only. */
#ifndef SG_POLICY_INT_H
#define SG_POLICY_INT_H

#include "policy.h"
#include "yamldoc.h"

#define POLICY_MAX_VARIABLES 64

typedef struct loader {
    arena *a;
    const char *file;
    const diag_source *src; /* the file being loaded: expression errors are offsets into it */
    diag_list *dl;
    int errors;
    expr_decls decls; /* bindings, and the variables declared so far */
    const char *names[PB_COUNT + POLICY_MAX_VARIABLES]; /* decls.vars */
    const expr_type *types[PB_COUNT + POLICY_MAX_VARIABLES]; /* decls.var_types (NULL: dyn) */
    policy_kind *kinds; /* looked up by the expressions compiled so far (lookups.c) */
    size_t n_kinds, cap_kinds;
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

#endif
