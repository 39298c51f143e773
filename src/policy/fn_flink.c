/* fn_flink.c - flinkPath(s), s.flinkConfValue(), s.javaTrim() and s.javaUpper(): Flink's own
 * reading of paths and option values, for policies (k8s/flinkpath.c does the work).
 *
 * A policy that parses a path or compares an enum differently from Flink can be dodged:
 * "a\..\..\tmp" is /tmp to Flink, "reactıve" is REACTIVE. These put Flink's reading in one
 * place so that every policy gets the same answer. */
#include <string.h>

#include "../k8s/flinkpath.h"
#include "policy_int.h"

static expr_value str_val(const char *s, size_t len)
{
    expr_value v = {.kind = EXPR_STRING, .len = (uint32_t)len};
    v.v.s = s;
    return v;
}

static expr_value oom(const expr_call *c)
{
    return expr_error_new(c->a, "expr.limit", c->span, "out of memory");
}

static expr_value not_string(const expr_call *c, const char *fn, const expr_value *v)
{
    return expr_error_new(c->a, "expr.no_overload", c->span,
                          "no matching overload for '%s' applied to (%s)", fn, expr_type_name(v));
}

/* flinkPath(s): {scheme, authority, path, absolute, error}; see k8s_flink_path. */
expr_value policy_fn_flink_path(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return not_string(c, "flinkPath", &a[0]);
    k8s_flink_path fp;
    expr_map *m = arena_alloc(c->a, sizeof *m + 10 * sizeof(expr_value));
    if (m == NULL || k8s_flink_path_parse(c->a, a[0].v.s, a[0].len, &fp) != 0)
        return oom(c);
    static const char *const keys[] = {"scheme", "authority", "path", "absolute", "error"};
    const char *vals[] = {fp.scheme, fp.authority, fp.path, NULL, fp.error ? fp.error : ""};
    m->n = 5;
    for (size_t i = 0; i < 5; i++) {
        m->kv[2 * i] = str_val(keys[i], strlen(keys[i]));
        if (vals[i] != NULL) {
            m->kv[2 * i + 1] = str_val(vals[i], strlen(vals[i]));
        } else {
            m->kv[2 * i + 1] = (expr_value){.kind = EXPR_BOOL};
            m->kv[2 * i + 1].v.b = fp.absolute;
        }
    }
    expr_value v = {.kind = EXPR_MAP};
    v.v.map = m;
    return v;
}

/* s.javaTrim(): Java's String.trim(), which strips every character <= U+0020. */
expr_value policy_fn_java_trim(const expr_call *c, const expr_value *r, const expr_value *a,
                               size_t n)
{
    (void)a;
    (void)n;
    if (r->kind != EXPR_STRING)
        return not_string(c, "javaTrim", r);
    size_t b;
    size_t len = k8s_java_trim(r->v.s, r->len, &b);
    return str_val(r->v.s + b, len);
}

/* s.flinkConfValue(): the value as Flink 1.x's flink-conf.yaml parser reads it back. */
expr_value policy_fn_flink_conf_value(const expr_call *c, const expr_value *r,
                                      const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    if (r->kind != EXPR_STRING)
        return not_string(c, "flinkConfValue", r);
    size_t b;
    size_t len = k8s_flink_conf_value(r->v.s, r->len, &b);
    return str_val(r->v.s + b, len);
}

/* s.javaUpper(): Java's toUpperCase(Locale.ROOT), exact for comparing with ASCII names. */
expr_value policy_fn_java_upper(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n)
{
    (void)a;
    (void)n;
    if (r->kind != EXPR_STRING)
        return not_string(c, "javaUpper", r);
    size_t len;
    char *u = k8s_java_upper(c->a, r->v.s, r->len, &len);
    return u != NULL ? str_val(u, len) : oom(c);
}
