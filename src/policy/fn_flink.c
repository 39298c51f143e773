/* fn_flink.c - flinkPath(s), s.flinkConfValue(), s.javaTrim(), s.javaUpper() and
 * flinkHaModes(cfg, version): Flink's own reading of paths, option values and the HA mode, for
 * policies (k8s/flinkpath.c does the work).
 *
 * A policy that parses a path or compares an enum differently from Flink can be dodged:
 * "a\..\..\tmp" is /tmp to Flink, "reactıve" is REACTIVE. These put Flink's reading in one
 * place so that every policy gets the same answer. */
#include <string.h>

#include "../k8s/flinkpath.h"
#include "policy_int.h"

__attribute__((cold)) static expr_value not_string(const expr_call *c, const char *fn,
                                                 const expr_value *v)
{
    return expr_error_new(c->a, "expr.no_overload", c->span,
                          "no matching overload for '%s' applied to (%s)", fn, expr_type_name(v));
}

/* A key of flinkPath()'s map, its length counted once by the compiler. */
#define PATH_KEY(text) {.kind = EXPR_STRING, .len = sizeof text - 1, .v.s = text}

/* flinkPath(s): {scheme, authority, path, absolute, error}; see k8s_flink_path. A policy calls
 * it once per directory option on every review, so the keys are constants, not measured. */
expr_value policy_fn_flink_path(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n)
{
    (void)r;
    (void)n;
    static const expr_value keys[] = {PATH_KEY("scheme"), PATH_KEY("authority"), PATH_KEY("path"),
                                      PATH_KEY("absolute"), PATH_KEY("error")};
    if (a[0].kind != EXPR_STRING)
        return not_string(c, "flinkPath", &a[0]);
    k8s_flink_path fp;
    expr_map *m = arena_alloc(c->a, sizeof *m + 10 * sizeof(expr_value));
    if (m == NULL || k8s_flink_path_parse(c->a, a[0].v.s, a[0].len, &fp) != 0)
        return policy_oom(c);
    const char *err = fp.error ? fp.error : "";
    expr_value absolute = {.kind = EXPR_BOOL};
    absolute.v.b = fp.absolute;
    const expr_value vals[] = {policy_str_val(fp.scheme, strlen(fp.scheme)),
                               policy_str_val(fp.authority, strlen(fp.authority)),
                               policy_str_val(fp.path, strlen(fp.path)), absolute,
                               policy_str_val(err, strlen(err))};
    m->n = 5;
    for (size_t i = 0; i < 5; i++) {
        m->kv[2 * i] = keys[i];
        m->kv[2 * i + 1] = vals[i];
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
    return policy_str_val(r->v.s + b, len);
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
    return policy_str_val(r->v.s + b, len);
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
    return u != NULL ? policy_str_val(u, len) : policy_oom(c);
}

/* Code points of UTF-8 text. */
static size_t code_points(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* flinkHaModes(cfg, flinkVersion): the high-availability modes that turn HA on, one for each
 * Flink version that may run, as that version resolves them. The keys in each version's order
 * (ConfigOption.withDeprecatedKeys), a key whose value Flink 1.x reads as blank skipped:
 * Flink 1.17+ reads high-availability.type, then recovery.mode, then high-availability; Flink
 * 1.16 and older know no high-availability.type and read high-availability, then
 * recovery.mode. Without a flinkVersion both may run. A mode is off when
 * HighAvailabilityMode.fromConfig makes it NONE: "standalone" by equalsIgnoreCase (character
 * by character, so "ſtandalone" matches but the ligature "ﬆandalone" does not: ten
 * characters), or NONE by toUpperCase(), which maps "ı" to I. Values are read as
 * flinkConfValue() reads them. Returns a list of strings, empty when HA is off for every
 * version. */
expr_value policy_fn_flink_ha_modes(const expr_call *c, const expr_value *r, const expr_value *a,
                                    size_t n)
{
    (void)r;
    (void)n;
    static const char *const order_new[] = {"high-availability.type", "recovery.mode",
                                            "high-availability", NULL};
    static const char *const order_old[] = {"high-availability", "recovery.mode", NULL};
    static const char *const old_versions[] = {"v1_13", "v1_14", "v1_15", "v1_16"};
    if (a[0].kind != EXPR_MAP || a[0].json)
        return expr_error_new(c->a, "expr.no_overload", c->span,
                              "flinkHaModes: the first argument must be flinkConfig()'s map, not "
                              "%s", expr_type_name(&a[0]));
    if (a[1].kind != EXPR_STRING)
        return not_string(c, "flinkHaModes", &a[1]);
    bool old = false;
    for (size_t i = 0; i < sizeof old_versions / sizeof old_versions[0]; i++)
        old = old || (a[1].len == 5 && memcmp(a[1].v.s, old_versions[i], 5) == 0);
    const char *const *orders[2] = {a[1].len == 0 || !old ? order_new : NULL,
                                    a[1].len == 0 || old ? order_old : NULL};
    expr_list *out = arena_alloc(c->a, sizeof *out + 2 * sizeof(expr_value));
    if (out == NULL)
        return policy_oom(c);
    out->n = 0;
    for (size_t o = 0; o < 2; o++) {
        for (const char *const *k = orders[o]; k != NULL && *k != NULL; k++) {
            expr_value v;
            if (!expr_map_get(c, &a[0], *k, strlen(*k), &v) || v.kind != EXPR_STRING)
                continue;
            size_t b, len = k8s_flink_conf_value(v.v.s, v.len, &b);
            if (len == 0)
                continue;
            const char *m = v.v.s + b;
            size_t ul;
            char *u = k8s_java_upper(c->a, m, len, &ul);
            if (u == NULL)
                return policy_oom(c);
            bool none = (ul == 4 && memcmp(u, "NONE", 4) == 0) ||
                        (ul == 10 && memcmp(u, "STANDALONE", 10) == 0 && code_points(m, len) == 10);
            if (!none)
                out->items[out->n++] = policy_str_val(m, len);
            break; /* this version's first key with a value decides */
        }
    }
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = out;
    return v;
}
