/* functions.c - quantity and memory-size functions for policies; see functions.h.
 *
 * A quantity is an opaque value of type kubernetes.Quantity holding an exact k8s_quantity.
 * The three memory parsers differ on purpose (DOMAIN-RULES §4): flinkMemory("1G") is 1 GiB,
 * quantity("1G") is 10^9 bytes, jvmMemory("1G") is 1 GiB; all return quantities of bytes so
 * that they compare with each other and with quantity(). Also lookup() and lookupList(), the
 * run's state (policy_fn_ctx) and the table of every policy function; flinkConfig() is in
 * fn_flinkconfig.c. */
#include "functions.h"

#include <string.h>

#include "../k8s/quantity.h"
#include "engine.h"
#include "fn_int.h"
#include "policy_int.h"

static bool q_equal(const expr_opaque *a, const expr_opaque *b)
{
    return k8s_quantity_cmp(a->data, b->data) == 0;
}

static const char *q_to_string(const expr_opaque *o, arena *a)
{
    char buf[80];
    k8s_quantity_format(o->data, buf, sizeof buf);
    return arena_strdup(a, buf);
}

static const expr_opaque_type quantity_type = {"kubernetes.Quantity", q_equal, q_to_string};

__attribute__((cold)) static expr_value err(const expr_call *c, const char *code,
                                            const char *what, const char *why)
{
    return expr_error_new(c->a, code, c->span, "%s: %s", what, why);
}

/* A quantity value and what it holds, in one allocation (arena_alloc aligns for the
 * __int128 inside): pods and their comparisons make several per resource of a review. */
typedef struct quantity_box {
    expr_opaque o;
    k8s_quantity q;
} quantity_box;

static expr_value make_quantity(const expr_call *c, k8s_quantity q)
{
    quantity_box *b = arena_alloc(c->a, sizeof *b);
    if (b == NULL)
        return policy_oom(c);
    b->q = q;
    b->o.type = &quantity_type;
    b->o.data = &b->q;
    expr_value v = {.kind = EXPR_OPAQUE};
    v.v.obj = &b->o;
    return v;
}

expr_value policy_quantity_value(const expr_call *c, k8s_quantity q)
{
    return make_quantity(c, q);
}

static const k8s_quantity *as_quantity(const expr_value *v)
{
    return v->kind == EXPR_OPAQUE && v->v.obj->type == &quantity_type ? v->v.obj->data : NULL;
}

const k8s_quantity *policy_as_quantity(const expr_value *v)
{
    return as_quantity(v);
}

static expr_value fn_quantity(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return policy_fn_wrong_type(c, "quantity", &a[0]);
    k8s_quantity q;
    const char *why;
    if (k8s_quantity_parse(a[0].v.s, a[0].len, &q, &why) != 0)
        return err(c, "expr.quantity", "invalid quantity", why);
    return make_quantity(c, q);
}

static expr_value fn_is_quantity(const expr_call *c, const expr_value *r, const expr_value *a,
                                 size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return policy_fn_wrong_type(c, "isQuantity", &a[0]);
    k8s_quantity q;
    const char *why;
    expr_value v = {.kind = EXPR_BOOL};
    v.v.b = k8s_quantity_parse(a[0].v.s, a[0].len, &q, &why) == 0;
    return v;
}

/* flinkMemory, flinkResourceMemory, jvmMemory: a string to a quantity of bytes. */
static expr_value memory(const expr_call *c, const expr_value *a, char which)
{
    const char *name = which == 'f' ? "flinkMemory" : which == 'r' ? "flinkResourceMemory" : "jvmMemory";
    if (a[0].kind != EXPR_STRING)
        return policy_fn_wrong_type(c, name, &a[0]);
    const char *why;
    int64_t bytes;
    k8s_quantity q;
    int rc;
    if (which == 'r') {
        rc = k8s_flink_resource_memory_parse(a[0].v.s, a[0].len, &q, &why);
    } else {
        rc = which == 'f' ? k8s_flink_memory_parse(a[0].v.s, a[0].len, &bytes, &why)
                          : k8s_jvm_memory_parse(a[0].v.s, a[0].len, &bytes, &why);
        q = k8s_quantity_from_int(bytes);
    }
    if (rc != 0)
        return expr_error_new(c->a, "expr.quantity", c->span, "%s('%.*s'): %s", name,
                              (int)(a[0].len > 64 ? 64 : a[0].len), a[0].v.s, why);
    return make_quantity(c, q);
}

static expr_value fn_flink_memory(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    return memory(c, a, 'f');
}

static expr_value fn_flink_resource_memory(const expr_call *c, const expr_value *r,
                                           const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    return memory(c, a, 'r');
}

static expr_value fn_jvm_memory(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    return memory(c, a, 'j');
}

/* The arguments of lookup() and lookupList() (3 or 4, 'n') are strings, the third may be
 * null: 0, or -1 with '*err' set. */
static int lookup_arg_types(const expr_call *c, const char *fn, const expr_value *a, size_t n,
                            expr_value *err)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].kind != EXPR_STRING && !(i == 2 && a[i].kind == EXPR_NULL)) {
            *err = policy_fn_wrong_type(c, fn, &a[i]);
            return -1;
        }
    }
    return 0;
}

/* lookup(apiVersion, kind, namespace, name) and lookupList(apiVersion, kind, namespace): the
 * arguments as C strings in 's' (a null namespace is ""). Returns 0; 1 when one holds a NUL,
 * which no Kubernetes name or kind does (so nothing can be found); or -1 with '*err' set. */
static int lookup_args(const expr_call *c, const char *fn, const expr_value *a, size_t n,
                       const char **s, expr_value *err)
{
    int rc = 0;
    if (lookup_arg_types(c, fn, a, n, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        s[i] = a[i].kind == EXPR_STRING ? arena_strndup(c->a, a[i].v.s, a[i].len) : "";
        if (s[i] == NULL) {
            *err = expr_error_new(c->a, "expr.limit", c->span, "out of memory");
            return -1;
        }
        if (a[i].kind == EXPR_STRING && strlen(s[i]) != a[i].len)
            rc = 1;
    }
    return rc;
}

/* The cluster could not be asked: an evaluation error, so that the policy's failurePolicy
 * decides (Fail denies), never a null that a policy would read as "not found". */
static expr_value unavailable(const expr_call *c, const char *fn, const char *const *s, size_t n,
                              const char *why)
{
    return expr_error_new(c->a, "expr.lookup", c->span,
                          "%s(%.100s, %.100s, %.100s%s%.100s): the cluster could not be asked: "
                          "%.300s",
                          fn, s[0], s[1], s[2][0] ? s[2] : "''", n == 4 ? ", " : "",
                          n == 4 ? s[3] : "", why != NULL && why[0] ? why : "no reason given");
}

/* One answer of the policy_lookup, kept for the rest of the run. */
#define LOOKUP_MEMO 64 /* answers kept per run; more are asked each time */
typedef struct lookup_answer {
    const char *fn;          /* "lookup" or "lookupList" (the literal: compared by address) */
    const char *const *args; /* its arguments, 4 or 3 (none holds a NUL) */
    enum policy_lookup_result result;
    const cJSON *obj;   /* lookup() */
    const cJSON **objs; /* lookupList() */
    size_t n;
    const char *why;
} lookup_answer;

static policy_fn_ctx *ctx_init(arena *a, const policy_lookup *lookup)
{
    policy_fn_ctx *fc = arena_calloc(a, 1, sizeof *fc);
    if (fc != NULL)
        fc->lookup = lookup;
    return fc;
}

/* The JSON may change: every answer that read it is forgotten, and so are the answers about
 * flinkConfig()'s maps (their strings point into that JSON). */
static void ctx_reset(policy_fn_ctx *fc)
{
    if (fc != NULL) {
        fc->n_configs = fc->next_config = 0;
        fc->n_ha_modes = fc->next_ha_mode = 0;
    }
}

size_t policy_fn_ctx_hits(const policy_fn_ctx *fc, const char *fn)
{
    if (fc == NULL || fn == NULL)
        return 0;
    if (strcmp(fn, "flinkConfig") == 0)
        return fc->config_hits;
    if (strcmp(fn, "flinkHaModes") == 0)
        return fc->ha_modes_hits;
    return 0;
}

/* The names the memo knows its entries by (by address). */
static const char fn_name_lookup[] = "lookup", fn_name_lookup_list[] = "lookupList";

/* The answer remembered for fn('s'...) in this run ('n' arguments), or NULL. The arguments
 * are compared one by one: building a key of them (arena_sprintf) cost more than the rest of
 * a remembered lookup() together, and a policy may ask once per directory it checks. */
static lookup_answer *remembered(policy_fn_ctx *fc, const char *fn, const char *const *s,
                                        size_t n)
{
    for (size_t i = 0; i < fc->n_answers; i++) {
        const lookup_answer *m = &fc->answers[i];
        size_t k = 0;
        if (m->fn != fn)
            continue;
        while (k < n && strcmp(m->args[k], s[k]) == 0)
            k++;
        if (k == n)
            return &fc->answers[i];
    }
    return NULL;
}

/* The answer remembered for fn(a...) when each argument is a string (the third may be
 * null) equal to the one remembered, or NULL: asked before the arguments are copied, as most
 * calls repeat one a policy before made (each Flink policy asks for the operator's ConfigMap). */
static lookup_answer *remembered_values(policy_fn_ctx *fc, const char *fn, const expr_value *a,
                                        size_t n)
{
    for (size_t i = 0; i < fc->n_answers; i++) {
        const lookup_answer *m = &fc->answers[i];
        size_t k = 0;
        if (m->fn != fn)
            continue;
        for (; k < n; k++) {
            const char *got = m->args[k];
            if (a[k].kind == EXPR_NULL && k == 2 && got[0] == '\0')
                continue;
            if (a[k].kind != EXPR_STRING || strlen(got) != a[k].len ||
                memcmp(got, a[k].v.s, a[k].len) != 0)
                break;
        }
        if (k == n)
            return &fc->answers[i];
    }
    return NULL;
}

/* A slot to remember the answer for fn('s'...) in, or NULL when none is left. The arguments
 * are kept as they are: 's' is the call's own copy, in the arena, for the rest of the run. */
static lookup_answer *remember(policy_fn_ctx *fc, arena *a, const char *fn,
                                      const char **s, size_t n)
{
    if (fc->n_answers == LOOKUP_MEMO)
        return NULL;
    if (fc->answers == NULL &&
        (fc->answers = arena_calloc(a, LOOKUP_MEMO, sizeof *fc->answers)) == NULL)
        return NULL;
    const char **args = arena_alloc(a, n * sizeof *args);
    if (args == NULL)
        return NULL;
    memcpy(args, s, n * sizeof *args);
    lookup_answer *m = &fc->answers[fc->n_answers++];
    memset(m, 0, sizeof *m);
    m->fn = fn;
    m->args = args;
    return m;
}

/* Keeps the answer 'got' to fn(s) in the run's memo when there is room; returns where it is
 * (the memo's slot, or 'got' itself). */
static lookup_answer *keep(policy_fn_ctx *fc, arena *a, const char *fn, const char **s,
                           size_t n, lookup_answer *got)
{
    lookup_answer *slot = remember(fc, a, fn, s, n);
    if (slot == NULL)
        return got;
    got->fn = slot->fn;
    got->args = slot->args;
    *slot = *got;
    return slot;
}

/* lookup(apiVersion, kind, namespace, name): the object; null when there is none (or nothing
 * to look in: no policy_lookup); an expr.lookup error when the cluster could not be asked. */
static expr_value fn_lookup(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    const char *s[4];
    expr_value e;
    policy_fn_ctx *fc = c->ctx;
    const policy_lookup *lk = fc ? fc->lookup : NULL;
    if (lk == NULL || lk->find == NULL) /* nothing to look in: null, the arguments not copied */
        return lookup_arg_types(c, "lookup", a, n, &e) != 0 ? e : expr_from_json(NULL);
    lookup_answer *m = n == 4 ? remembered_values(fc, fn_name_lookup, a, 4) : NULL, got = {0};
    if (m != NULL) { /* its arguments were checked when it was remembered */
        memcpy(s, m->args, sizeof s);
    } else {
        int rc = lookup_args(c, "lookup", a, n, s, &e);
        if (rc < 0)
            return e;
        if (rc > 0)
            return expr_from_json(NULL);
        m = remembered(fc, fn_name_lookup, s, 4);
    }
    if (m == NULL) {
        got.result = lk->find(lk->data, s[0], s[1], s[2], s[3], c->a, &got.obj, &got.why);
        m = keep(fc, c->a, fn_name_lookup, s, 4, &got);
    }
    switch (m->result) {
    case LOOKUP_FOUND: return expr_from_json(m->obj);
    case LOOKUP_NOT_FOUND: return expr_from_json(NULL);
    default: return unavailable(c, "lookup", s, 4, m->why);
    }
}

/* lookupList(apiVersion, kind, namespace[, fallback]): the objects of that kind in that
 * namespace ('' or null: every namespace, or a cluster-scoped kind) as a list, [] when there
 * are none; when the cluster could not be asked, 'fallback' if given, else an expr.lookup
 * error. */
static expr_value fn_lookup_list(const expr_call *c, const expr_value *r, const expr_value *a,
                                 size_t n)
{
    (void)r;
    const char *s[3];
    expr_value e;
    /* A fourth argument is what to answer when the cluster could not be asked, for a policy
     * that has a sound answer without the cluster (node-sizing-limits: params.node). */
    bool has_fallback = n == 4;
    int rc = lookup_args(c, "lookupList", a, 3, s, &e);
    if (rc < 0)
        return e;
    policy_fn_ctx *fc = c->ctx;
    const policy_lookup *lk = fc ? fc->lookup : NULL;
    lookup_answer got = {.result = LOOKUP_NOT_FOUND}, *m = &got;
    if (rc == 0 && lk != NULL && lk->list != NULL) {
        if ((m = remembered(fc, fn_name_lookup_list, s, 3)) == NULL) {
            got.result = lk->list(lk->data, s[0], s[1], s[2], c->a, &got.objs, &got.n, &got.why);
            m = keep(fc, c->a, fn_name_lookup_list, s, 3, &got);
        }
    }
    if (m->result == LOOKUP_UNAVAILABLE)
        return has_fallback ? a[3] : unavailable(c, "lookupList", s, 3, m->why);
    size_t count = m->result == LOOKUP_FOUND ? m->n : 0;
    if (count > EXPR_MAX_ELEMENTS)
        return expr_error_new(c->a, "expr.limit", c->span,
                              "lookupList(%.100s, %.100s, ...): %zu objects, more than %d", s[0],
                              s[1], count, EXPR_MAX_ELEMENTS);
    expr_list *l = arena_alloc(c->a, sizeof *l + (count + 1) * sizeof(expr_value));
    if (l == NULL)
        return policy_oom(c);
    l->n = (uint32_t)count;
    for (size_t i = 0; i < count; i++)
        l->items[i] = expr_from_json(m->objs[i]);
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = l;
    return v;
}

/* The methods of a quantity; each wrapper below names its operation once. */
enum q_method { Q_IS_INTEGER, Q_SIGN, Q_AS_FLOAT, Q_AS_INTEGER, Q_ADD, Q_SUB, Q_COMPARE_TO,
                Q_IS_LESS, Q_IS_GREATER };

static const char *const q_method_names[] = {"isInteger", "sign", "asApproximateFloat",
                                             "asInteger", "add", "sub", "compareTo",
                                             "isLessThan", "isGreaterThan"};

static expr_value unary_method(const expr_call *c, const k8s_quantity *q, enum q_method m)
{
    expr_value v = {.kind = EXPR_BOOL};
    switch (m) {
    case Q_IS_INTEGER: v.v.b = k8s_quantity_is_integer(q); return v;
    case Q_SIGN:
        v.kind = EXPR_INT;
        v.v.i = q->nano > 0 ? 1 : q->nano < 0 ? -1 : 0;
        return v;
    case Q_AS_FLOAT:
        v.kind = EXPR_DOUBLE;
        v.v.d = k8s_quantity_to_double(q);
        return v;
    default: /* Q_AS_INTEGER */
        v.kind = EXPR_INT;
        if (k8s_quantity_to_int(q, &v.v.i) != 0)
            return expr_error_new(c->a, "expr.range", c->span,
                                  "asInteger(): the quantity is not an integer within int64");
        return v;
    }
}

static expr_value method(const expr_call *c, const expr_value *r, const expr_value *a,
                         enum q_method m)
{
    const char *name = q_method_names[m];
    const k8s_quantity *q = as_quantity(r);
    if (q == NULL)
        return policy_fn_wrong_type(c, name, r);
    if (m <= Q_AS_INTEGER)
        return unary_method(c, q, m);
    k8s_quantity other;
    const k8s_quantity *o = as_quantity(&a[0]);
    bool arith = m == Q_ADD || m == Q_SUB;
    if (o == NULL && arith && a[0].kind == EXPR_INT) {
        other = k8s_quantity_from_int(a[0].v.i);
        o = &other;
    }
    if (o == NULL)
        return policy_fn_wrong_type(c, name, &a[0]);
    if (arith) {
        k8s_quantity out;
        if (k8s_quantity_add(q, o, m == Q_SUB, &out) != 0)
            return expr_error_new(c->a, "expr.overflow", c->span, "quantity out of range");
        return make_quantity(c, out);
    }
    int cmp = k8s_quantity_cmp(q, o);
    expr_value v = {.kind = EXPR_BOOL};
    if (m == Q_COMPARE_TO) {
        v.kind = EXPR_INT;
        v.v.i = cmp;
        return v;
    }
    v.v.b = m == Q_IS_LESS ? cmp < 0 : cmp > 0;
    return v;
}

#define METHOD(fname, op)                                                                      \
    static expr_value fname(const expr_call *c, const expr_value *r, const expr_value *a,      \
                            size_t n)                                                          \
    {                                                                                          \
        (void)n;                                                                               \
        return method(c, r, a, op);                                                            \
    }
METHOD(fn_is_integer, Q_IS_INTEGER)
METHOD(fn_sign, Q_SIGN)
METHOD(fn_as_float, Q_AS_FLOAT)
METHOD(fn_as_integer, Q_AS_INTEGER)
METHOD(fn_add, Q_ADD)
METHOD(fn_sub, Q_SUB)
METHOD(fn_compare_to, Q_COMPARE_TO)
METHOD(fn_is_less, Q_IS_LESS)
METHOD(fn_is_greater, Q_IS_GREATER)

const expr_fn_def policy_functions[] = {
    {"quantity", EXPR_GLOBAL, 1, 1, fn_quantity, false},
    {"isQuantity", EXPR_GLOBAL, 1, 1, fn_is_quantity, false},
    {"flinkMemory", EXPR_GLOBAL, 1, 1, fn_flink_memory, false},
    {"flinkResourceMemory", EXPR_GLOBAL, 1, 1, fn_flink_resource_memory, false},
    {"jvmMemory", EXPR_GLOBAL, 1, 1, fn_jvm_memory, false},
    {"lookup", EXPR_GLOBAL, 4, 4, fn_lookup, true},
    {"lookupList", EXPR_GLOBAL, 3, 4, fn_lookup_list, true},
    {"flinkConfig", EXPR_GLOBAL, 1, 5, policy_fn_flink_config, false},
    {"flinkPath", EXPR_GLOBAL, 1, 1, policy_fn_flink_path, false},
    {"flinkHaModes", EXPR_GLOBAL, 2, 2, policy_fn_flink_ha_modes_kept, false},
    {"flinkMergePodTemplates", EXPR_GLOBAL, 3, 3, policy_fn_merge_pod_templates, false},
    {"containerMounts", EXPR_GLOBAL, 4, 4, policy_fn_container_mounts, false},
    {"mountFor", EXPR_GLOBAL, 2, 2, policy_fn_mount_for, false},
    {"podRequests", EXPR_GLOBAL, 1, 1, policy_fn_pod_requests, false},
    {"podLimits", EXPR_GLOBAL, 1, 1, policy_fn_pod_limits, false},
    {"podResources", EXPR_GLOBAL, 1, 2, policy_fn_pod_resources, false},
    {"fitsIn", EXPR_GLOBAL, 2, 2, policy_fn_fits_in, false},
    {"nodesFor", EXPR_GLOBAL, 2, 2, policy_fn_nodes_for, false},
    {"flinkConfValue", EXPR_MEMBER, 0, 0, policy_fn_flink_conf_value, false},
    {"javaTrim", EXPR_MEMBER, 0, 0, policy_fn_java_trim, false},
    {"javaUpper", EXPR_MEMBER, 0, 0, policy_fn_java_upper, false},
    {"isInteger", EXPR_MEMBER, 0, 0, fn_is_integer, false},
    {"sign", EXPR_MEMBER, 0, 0, fn_sign, false},
    {"asApproximateFloat", EXPR_MEMBER, 0, 0, fn_as_float, false},
    {"asInteger", EXPR_MEMBER, 0, 0, fn_as_integer, false},
    {"add", EXPR_MEMBER, 1, 1, fn_add, false},
    {"sub", EXPR_MEMBER, 1, 1, fn_sub, false},
    {"compareTo", EXPR_MEMBER, 1, 1, fn_compare_to, false},
    {"isLessThan", EXPR_MEMBER, 1, 1, fn_is_less, false},
    {"isGreaterThan", EXPR_MEMBER, 1, 1, fn_is_greater, false},
};
const size_t policy_n_functions = sizeof policy_functions / sizeof policy_functions[0];

const policy_library policy_lib = {.functions = policy_functions,
                                   .n_functions = sizeof policy_functions / sizeof *policy_functions,
                                   .ctx_init = ctx_init,
                                   .ctx_reset = ctx_reset};
