/* functions.c - quantity and memory-size functions for policies; see functions.h.
 *
 * A quantity is an opaque value of type kubernetes.Quantity holding an exact k8s_quantity.
 * The three memory parsers differ on purpose (DOMAIN-RULES §4): flinkMemory("1G") is 1 GiB,
 * quantity("1G") is 10^9 bytes, jvmMemory("1G") is 1 GiB; all return quantities of bytes so
 * that they compare with each other and with quantity(). */
#include "functions.h"

#include <string.h>

#include "../k8s/quantity.h"
#include "engine.h"

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

static expr_value err(const expr_call *c, const char *code, const char *what, const char *why)
{
    return expr_error_new(c->a, code, c->span, "%s: %s", what, why);
}

static expr_value make_quantity(const expr_call *c, k8s_quantity q)
{
    k8s_quantity *d = arena_alloc(c->a, sizeof *d);
    expr_opaque *o = arena_alloc(c->a, sizeof *o);
    if (d == NULL || o == NULL)
        return expr_error_new(c->a, "expr.limit", c->span, "out of memory");
    *d = q;
    o->type = &quantity_type;
    o->data = d;
    expr_value v = {.kind = EXPR_OPAQUE};
    v.v.obj = o;
    return v;
}

static const k8s_quantity *as_quantity(const expr_value *v)
{
    return v->kind == EXPR_OPAQUE && v->v.obj->type == &quantity_type ? v->v.obj->data : NULL;
}

static expr_value wrong_type(const expr_call *c, const char *fn, const expr_value *v)
{
    return expr_error_new(c->a, "expr.no_overload", c->span,
                          "no matching overload for '%s' applied to (%s)", fn, expr_type_name(v));
}

static expr_value fn_quantity(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return wrong_type(c, "quantity", &a[0]);
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
        return wrong_type(c, "isQuantity", &a[0]);
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
        return wrong_type(c, name, &a[0]);
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

/* lookup(apiVersion, kind, namespace, name): a related object, or null when it cannot be
 * found or nothing can be looked up (the server has no cache of the cluster yet). Policies
 * treat null as "cannot verify". */
static expr_value fn_lookup(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    const char *s[4];
    for (size_t i = 0; i < n; i++) {
        if (a[i].kind != EXPR_STRING && !(i == 2 && a[i].kind == EXPR_NULL))
            return wrong_type(c, "lookup", &a[i]);
        s[i] = a[i].kind == EXPR_STRING ? arena_strndup(c->a, a[i].v.s, a[i].len) : "";
        if (s[i] == NULL)
            return expr_error_new(c->a, "expr.limit", c->span, "out of memory");
    }
    const policy_lookup *lk = c->ctx;
    const cJSON *found = lk && lk->find ? lk->find(lk->data, s[0], s[1], s[2], s[3]) : NULL;
    return expr_from_json(found);
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
        return wrong_type(c, name, r);
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
        return wrong_type(c, name, &a[0]);
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
    {"quantity", EXPR_GLOBAL, 1, 1, fn_quantity},
    {"isQuantity", EXPR_GLOBAL, 1, 1, fn_is_quantity},
    {"flinkMemory", EXPR_GLOBAL, 1, 1, fn_flink_memory},
    {"flinkResourceMemory", EXPR_GLOBAL, 1, 1, fn_flink_resource_memory},
    {"jvmMemory", EXPR_GLOBAL, 1, 1, fn_jvm_memory},
    {"lookup", EXPR_GLOBAL, 4, 4, fn_lookup},
    {"isInteger", EXPR_MEMBER, 0, 0, fn_is_integer},
    {"sign", EXPR_MEMBER, 0, 0, fn_sign},
    {"asApproximateFloat", EXPR_MEMBER, 0, 0, fn_as_float},
    {"asInteger", EXPR_MEMBER, 0, 0, fn_as_integer},
    {"add", EXPR_MEMBER, 1, 1, fn_add},
    {"sub", EXPR_MEMBER, 1, 1, fn_sub},
    {"compareTo", EXPR_MEMBER, 1, 1, fn_compare_to},
    {"isLessThan", EXPR_MEMBER, 1, 1, fn_is_less},
    {"isGreaterThan", EXPR_MEMBER, 1, 1, fn_is_greater},
};
const size_t policy_n_functions = sizeof policy_functions / sizeof policy_functions[0];
