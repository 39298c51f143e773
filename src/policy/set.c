/* set.c - a set of policies loaded from files; immutable, shared, reference-counted. */
#include "policy_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/file.h"
#include "../util/vec.h"
#include "functions.h"
#include "schema.h"

#define MAX_POLICIES 1024
#define MAX_FILES    4096
#define MAX_PARAMS   1024 /* PolicyParams documents */

struct policy_set {
    arena *a;
    _Atomic long refs;
    policy *items;
    size_t n;
    policy_kind *kinds; /* looked up, sorted, unique */
    size_t n_kinds;
    size_t n_shared; /* values shared by variables of several policies (share.c) */
    size_t n_match_classes; /* policy.match_class is below it */
};

const char *const policy_reason_names[POLICY_REASON_COUNT + 1] = {
    [POLICY_REASON_NONE] = "",
    [POLICY_REASON_UNAUTHORIZED] = "Unauthorized",
    [POLICY_REASON_FORBIDDEN] = "Forbidden",
    [POLICY_REASON_INVALID] = "Invalid",
    [POLICY_REASON_REQUEST_ENTITY_TOO_LARGE] = "RequestEntityTooLarge",
    [POLICY_REASON_COUNT] = NULL,
};

static bool is_policy_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* The PolicyParams documents read so far, applied once every policy is loaded. */
typedef struct params_list {
    policy_params *v;
    size_t n, cap;
} params_list;

/* The policies read so far, in the loader's arena: the set keeps a copy of exactly as many
 * (policy_set_load_opts), not room for MAX_POLICIES and MAX_PARAMS up front (286 KiB). */
typedef struct items_list {
    policy *v;
    size_t n, cap;
} items_list;

static void load_file(policy_set *s, loader *ld, const char *path, items_list *il,
                      params_list *pl, bool params_only)
{
    buf b;
    buf_init(&b, POLICY_MAX_FILE);
    ld->file = arena_strdup(s->a, path);
    if (file_read(path, POLICY_MAX_FILE, &b, ld->dl) != 0) {
        ld->errors++;
        return;
    }
    ydoc *docs;
    size_t partial;
    long n = yaml_load(ld->tmp, ld->file, b.data, b.len, &docs, &partial, ld->dl);
    diag_source *src = diag_source_new(b.data, b.len); /* NULL: errors without a column */
    ld->src = src;
    if (n < 0) {
        ld->errors++;
        n = 0;
    }
    for (long i = 0; i < n; i++) {
        const ynode *r = docs[i].root;
        if (r->kind == YNODE_SCALAR && r->str[0] == '\0')
            continue; /* an empty document */
        const ynode *k = yaml_get(r, "kind");
        if (k != NULL && k->kind == YNODE_SCALAR && strcmp(k->str, "PolicyParams") == 0) {
            if (pl->n == MAX_PARAMS) {
                srcpos at = {.file = ld->file, .line = docs[i].line};
                diag_add(ld->dl, DIAG_ERROR, "policy.limit", &at, "more than %d PolicyParams",
                         MAX_PARAMS);
                ld->errors++;
                break;
            }
            if (vec_grow(ld->tmp, pl->v, pl->n, pl->cap, 8) != 0) {
                srcpos at = {.file = ld->file, .line = docs[i].line};
                diag_add(ld->dl, DIAG_ERROR, "policy.limit", &at, "out of memory");
                ld->errors++;
                break;
            }
            if (policy_params_parse(ld, &docs[i], &pl->v[pl->n]) == 0)
                pl->n++;
            continue;
        }
        if (params_only) {
            srcpos at = {.file = ld->file, .line = docs[i].line};
            diag_add(ld->dl, DIAG_ERROR, "policy.params", &at,
                     "a params file holds only documents of kind PolicyParams");
            ld->errors++;
            continue;
        }
        if (il->n == MAX_POLICIES) {
            srcpos at = {.file = ld->file, .line = docs[i].line};
            diag_add(ld->dl, DIAG_ERROR, "policy.limit", &at, "more than %d policies", MAX_POLICIES);
            ld->errors++;
            break;
        }
        if (vec_grow(ld->tmp, il->v, il->n, il->cap, 32) != 0) {
            srcpos at = {.file = ld->file, .line = docs[i].line};
            diag_add(ld->dl, DIAG_ERROR, "policy.limit", &at, "out of memory");
            ld->errors++;
            break;
        }
        policy *p = &il->v[il->n];
        ld->cur_policy = il->n;
        if (policy_parse(ld, &docs[i], p) == 0)
            il->n++;
    }
    ld->src = NULL;
    diag_source_unref(src); /* the diags that point into it hold their own references */
    buf_clear(&b);
}

static bool strs_equal(const policy_strs *x, const policy_strs *y)
{
    if (x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->v[i], y->v[i]) != 0)
            return false;
    return true;
}

static bool selector_equal(const policy_selector *x, const policy_selector *y)
{
    if (x->set != y->set || x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++) {
        const policy_label_req *a = &x->reqs[i], *b = &y->reqs[i];
        if (a->op != b->op || strcmp(a->key, b->key) != 0 || !strs_equal(&a->values, &b->values))
            return false;
    }
    return true;
}

/* Whether 'x' and 'y' match the same requests because they are written alike (in the same
 * order: two spellings of one match are two classes, which costs a second decision only). */
static bool match_equal(const policy_match *x, const policy_match *y)
{
    if (x->n_rules != y->n_rules)
        return false;
    for (size_t i = 0; i < x->n_rules; i++) {
        const policy_resource_rule *a = &x->rules[i], *b = &y->rules[i];
        if (a->ops != b->ops || !strs_equal(&a->api_groups, &b->api_groups) ||
            !strs_equal(&a->kinds, &b->kinds) || !strs_equal(&a->subresources, &b->subresources) ||
            !selector_equal(&a->objects, &b->objects))
            return false;
    }
    return strs_equal(&x->ns_include, &y->ns_include) &&
           strs_equal(&x->ns_exclude, &y->ns_exclude) && selector_equal(&x->objects, &y->objects) &&
           strs_equal(&x->excluded_users, &y->excluded_users) &&
           strs_equal(&x->excluded_groups, &y->excluded_groups);
}

/* Sets each policy's match_class; returns how many classes there are. The shipped policies
 * have few matches among them (most Flink policies: FlinkDeployment without the operator's
 * canary label), and deciding one (kinds, groups, the label selectors) for each policy cost
 * ~3,600 instructions a request. */
static size_t match_classes(policy *ps, size_t n)
{
    size_t classes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < i && !match_equal(&ps[k].match, &ps[i].match))
            k++;
        ps[i].match_class = k < i ? ps[k].match_class : classes++;
    }
    return classes;
}

static void check_duplicates(const policy_set *s, loader *ld)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcmp(s->items[i].name, s->items[k].name) == 0) {
                diag_add(ld->dl, DIAG_ERROR, "policy.duplicate", &s->items[i].at,
                         "policy '%s' is also defined at %s:%d", s->items[i].name,
                         s->items[k].at.file, s->items[k].at.line);
                ld->errors++;
            }
        }
    }
}

/* The builtin schemas and those of 'o->crd_files' into the loader (lint). */
static void load_schemas(loader *ld, const policy_load_opts *o)
{
    policy_schema_row *rows = NULL;
    size_t n = 0;
    if (o->n_crd_files > 0) { /* else the builtin table is used in place */
        for (size_t i = 0; i < policy_n_builtin_schemas; i++) {
            policy_schema_row *grown = arena_alloc(ld->a, (n + 1) * sizeof *grown);
            if (grown == NULL)
                break;
            if (n > 0)
                memcpy(grown, rows, n * sizeof *grown);
            grown[n++] = policy_builtin_schemas[i];
            rows = grown;
        }
        for (size_t i = 0; i < o->n_crd_files; i++) {
            buf b;
            buf_init(&b, POLICY_MAX_CRD_FILE);
            if (file_read(o->crd_files[i], POLICY_MAX_CRD_FILE, &b, ld->dl) != 0 ||
                policy_crd_rows(ld->a, arena_strdup(ld->a, o->crd_files[i]), b.data ? b.data : "",
                                b.len, &rows, &n, ld->dl) != 0)
                ld->errors++;
            buf_clear(&b);
        }
        ld->schemas = rows;
        ld->n_schemas = n;
    } else {
        ld->schemas = policy_builtin_schemas;
        ld->n_schemas = policy_n_builtin_schemas;
    }
    ld->schema_types = arena_calloc(ld->a, ld->n_schemas ? ld->n_schemas : 1,
                                    sizeof *ld->schema_types);
    ld->check_fields = ld->schema_types != NULL;
    if (ld->check_fields) { /* lookup('v1', 'Node', ...) is a Node, under lint as object is */
        ld->decls.fn_type = policy_lookup_type;
        ld->decls.fn_type_ctx = ld;
    }
}

policy_set *policy_set_load_paths(const char *const *paths, size_t n_paths, diag_list *dl)
{
    return policy_set_load_opts(paths, n_paths, NULL, dl);
}

policy_set *policy_set_load(const char *const *paths, size_t n_paths, const char *const *params,
                            size_t n_params, diag_list *dl)
{
    policy_load_opts o = {.params = params, .n_params = n_params};
    return policy_set_load_opts(paths, n_paths, &o, dl);
}

policy_set *policy_set_load_opts(const char *const *paths, size_t n_paths,
                                 const policy_load_opts *o, diag_list *dl)
{
    policy_set *s = calloc(1, sizeof *s);
    params_list pl = {0};
    items_list il = {0};
    arena *tmp = NULL;
    if (s == NULL || (s->a = arena_new((size_t)256 << 20)) == NULL ||
        (tmp = arena_new((size_t)256 << 20)) == NULL) {
        diag_add(dl, DIAG_ERROR, "policy.limit", NULL, "out of memory");
        if (s)
            arena_free(s->a);
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    loader ld = {.a = s->a, .tmp = tmp, .dl = dl};
    for (size_t i = 0; i < PB_COUNT; i++)
        ld.names[i] = policy_bindings[i];
    ld.decls = (expr_decls){.vars = ld.names, .var_types = ld.types, .n_vars = PB_COUNT,
                            .check_types = true,
                            .fns = policy_lib.functions, .n_fns = policy_lib.n_functions};
    size_t before = dl->errors, nf = 0;
    if (o != NULL && o->check_fields)
        load_schemas(&ld, o);
    char **files = NULL;
    for (size_t i = 0; i < n_paths; i++)
        file_list(paths[i], is_policy_file, MAX_FILES, &files, &nf, dl);
    for (size_t i = 0; i < nf; i++)
        load_file(s, &ld, files[i], &il, &pl, false);
    file_list_free(files, nf);
    /* the --params files after the policies' directories: they set the last word */
    files = NULL;
    nf = 0;
    for (size_t i = 0; o != NULL && i < o->n_params; i++)
        file_list(o->params[i], is_policy_file, MAX_FILES, &files, &nf, dl);
    for (size_t i = 0; i < nf; i++)
        load_file(s, &ld, files[i], &il, &pl, true);
    file_list_free(files, nf);
    s->n = il.n;
    s->items = arena_alloc(s->a, (il.n ? il.n : 1) * sizeof *s->items);
    if (s->items == NULL) {
        diag_add(dl, DIAG_ERROR, "policy.limit", NULL, "out of memory");
        ld.errors++;
        s->n = 0;
    } else if (il.n > 0) {
        memcpy(s->items, il.v, il.n * sizeof *s->items);
    }
    check_duplicates(s, &ld);
    policy_params_apply(&ld, s->items, s->n, pl.v, pl.n);
    arena_free(tmp); /* the YAML documents: what the policies keep was copied out (load.c) */
    ld.tmp = NULL;
    if (ld.errors > 0 || dl->errors > before) {
        policy_set_unref(s);
        return NULL;
    }
    policy_scope_lookups(&ld, s->items, s->n);
    policy_fold_constants(s->items, s->n, s->a);
    s->n_shared = policy_share_variables(s->items, s->n);
    s->n_match_classes = match_classes(s->items, s->n);
    s->kinds = ld.kinds;
    s->n_kinds = ld.n_kinds;
    return s;
}

policy_set *policy_set_load_dir(const char *dir, diag_list *dl)
{
    return policy_set_load_paths(&dir, 1, dl);
}

policy_set *policy_set_ref(policy_set *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void policy_set_unref(policy_set *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    arena_free(s->a);
    free(s);
}

size_t policy_set_bytes(const policy_set *s)
{
    return arena_used(s->a);
}

size_t policy_set_shared_count(const policy_set *s)
{
    return s->n_shared;
}

size_t policy_set_match_classes(const policy_set *s)
{
    return s->n_match_classes;
}

const policy *policy_set_items(const policy_set *s, size_t *n)
{
    *n = s->n;
    return s->items;
}

size_t policy_set_lookup_kinds(const policy_set *s, policy_kind *out, size_t cap)
{
    for (size_t i = 0; i < s->n_kinds && i < cap; i++)
        out[i] = s->kinds[i];
    return s->n_kinds;
}
