/* functions.c - quantity and memory-size functions for policies; see functions.h.
 *
 * A quantity is an opaque value of type kubernetes.Quantity holding an exact k8s_quantity.
 * The three memory parsers differ on purpose (DOMAIN-RULES §4): flinkMemory("1G") is 1 GiB,
 * quantity("1G") is 10^9 bytes, jvmMemory("1G") is 1 GiB; all return quantities of bytes so
 * that they compare with each other and with quantity(). */
#include "functions.h"

#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"

#include "../k8s/flinkconf.h"
#include "../k8s/quantity.h"
#include "engine.h"
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

/* The arguments of lookup() and lookupList() (3 or 4, 'n') are strings, the third may be
 * null: 0, or -1 with '*err' set. */
static int lookup_arg_types(const expr_call *c, const char *fn, const expr_value *a, size_t n,
                            expr_value *err)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].kind != EXPR_STRING && !(i == 2 && a[i].kind == EXPR_NULL)) {
            *err = wrong_type(c, fn, &a[i]);
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

struct policy_fn_ctx {
    const policy_lookup *lookup; /* NULL: lookup() gives null, lookupList() [] */
    lookup_answer *answers;      /* arena-owned, LOOKUP_MEMO of them; NULL until used */
    size_t n_answers;
    /* Every Flink policy asks flinkConfig() for the same maps of the object, and four of them
     * flinkHaModes() of its answer: each answer is kept (the oldest replaced when full). */
    config_answer configs[CONFIG_MEMO];
    size_t n_configs, next_config;
    ha_modes_answer ha_modes[HA_MODES_MEMO];
    size_t n_ha_modes, next_ha_mode;
    size_t config_hits, ha_modes_hits; /* calls answered from the memo (policy_fn_ctx_hits) */
};

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
        return expr_error_new(c->a, "expr.limit", c->span, "out of memory");
    l->n = (uint32_t)count;
    for (size_t i = 0; i < count; i++)
        l->items[i] = expr_from_json(m->objs[i]);
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = l;
    return v;
}

/* ---- flinkConfig(map): flinkConfiguration as the Flink operator reads it ----
 *
 * From operator 1.13 flinkConfiguration may be nested YAML. The operator flattens it
 * (ConfigObjectNode.asFlatMap): keys joined with '.', a scalar becomes its text, a list its
 * items joined with ';'. Nulls are left out. A key given twice (nested and flat) keeps the
 * later one, as a map put does. The result is a map of strings, sorted by key.
 *
 * Flink itself reads the options back from the file the operator writes, and Flink 1.x's
 * flink-conf.yaml parser reads some entries as other options or as several (a line break, a
 * padded key, a blank value: k8s/flinkconf.h). Such a map is an expr.flink_config error, so
 * that no policy judges options Flink does not run with: a Deny policy with failurePolicy
 * Fail denies it. With a second argument, the FlinkDeployment's spec.job, the job fields the
 * operator writes as options are checked too (no line break that adds options). */

#define FLINK_CONFIG_MAX 10000 /* options; more is an expr.limit error */

typedef struct flat_opt {
    const char *key, *val;
    size_t seq; /* input order, so that the later of two equal keys wins */
} flat_opt;

typedef struct flat {
    arena *a;
    flat_opt *v;
    size_t n;
    bool failed; /* too many options or out of memory */
} flat;

const char *policy_scalar_text(arena *a, const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -9.2e18 && d < 9.2e18 && d == (double)(long long)d)
            return arena_sprintf(a, "%lld", (long long)d);
        char *t = arena_sprintf(a, "%.15g", d);
        return t != NULL && strtod(t, NULL) != d ? arena_sprintf(a, "%.17g", d) : t;
    }
    return NULL;
}

/* The text of a scalar or a list; NULL for null, and on failure. */
static const char *scalar_text(arena *a, const cJSON *v)
{
    if (!cJSON_IsArray(v))
        return policy_scalar_text(a, v);
    buf b;
    buf_init(&b, 1 << 20);
    int rc = buf_append(&b, "", 0);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        bool nested = cJSON_IsArray(e) || cJSON_IsObject(e);
        const char *t = nested ? NULL : scalar_text(a, e);
        char *j = nested ? cJSON_PrintUnformatted(e) : NULL;
        if (rc == 0 && e != v->child)
            rc = buf_append(&b, ";", 1);
        if (rc == 0 && (t != NULL || j != NULL))
            rc = buf_puts(&b, t != NULL ? t : j);
        free(j);
    }
    char *out = rc == 0 ? arena_strndup(a, b.data, b.len) : NULL;
    buf_clear(&b);
    return out;
}

static void flatten(flat *f, const cJSON *obj, const char *prefix, int depth)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, obj) {
        if (f->failed)
            return;
        const char *key = e->string ? e->string : "";
        if (prefix != NULL)
            key = arena_cat(f->a, prefix, ".", key);
        if (cJSON_IsObject(e) && key != NULL && depth < 100) {
            flatten(f, e, key, depth + 1);
            continue;
        }
        if (cJSON_IsNull(e))
            continue;
        const char *val = cJSON_IsObject(e) ? "" : scalar_text(f->a, e);
        if (key == NULL || val == NULL || f->n == FLINK_CONFIG_MAX) {
            f->failed = true;
            return;
        }
        f->v[f->n] = (flat_opt){key, val, f->n};
        f->n++;
    }
}

/* How many options flatten() will make from 'obj' (an upper bound). */
static size_t count_options(const cJSON *obj, int depth)
{
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, obj)
        n += cJSON_IsObject(e) && depth < 100 ? count_options(e, depth + 1) : 1;
    return n;
}

static int opt_cmp(const void *x, const void *y)
{
    const flat_opt *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c != 0 ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static expr_value str_value(const char *s)
{
    expr_value v = {.kind = EXPR_STRING, .len = (uint32_t)strlen(s)};
    v.v.s = s;
    return v;
}

/* Argument 'v' of flinkConfig as JSON: the map itself, the JSON of a map an expression built
 * (deleted with the arena), or NULL for null. Returns 0, or -1 with '*err' set. */
static int json_arg(const expr_call *c, const expr_value *v, const cJSON **out, expr_value *err)
{
    *out = NULL;
    if (v->kind == EXPR_MAP && v->json) {
        *out = v->v.j;
    } else if (v->kind == EXPR_MAP) {
        cJSON *parsed = expr_to_cjson(v);
        if (policy_defer_json(c->a, parsed) != 0) {
            *err = expr_error_new(c->a, "expr.conversion", c->span,
                                  "flinkConfig: the map has no JSON form");
            return -1;
        }
        *out = parsed;
    } else if (v->kind != EXPR_NULL) {
        *err = wrong_type(c, "flinkConfig", v);
        return -1;
    }
    return 0;
}

/* 'obj' flattened into a map sorted by key, or an error: too many options, or an entry that
 * some Flink version reads as another option or as several. */
static expr_value flat_config(const expr_call *c, const cJSON *obj)
{
    static const char *const oom = "flinkConfig: more than 10000 options, or out of memory";
    size_t max = obj != NULL ? count_options(obj, 0) : 0;
    flat f = {.a = c->a, .v = max <= FLINK_CONFIG_MAX ? arena_calloc(c->a, max + 1, sizeof(flat_opt)) : NULL};
    if (f.v == NULL)
        return expr_error_new(c->a, "expr.limit", c->span, "%s", oom);
    if (obj != NULL)
        flatten(&f, obj, NULL, 0);
    expr_map *m = f.failed ? NULL : arena_alloc(c->a, sizeof *m + 2 * (f.n + 1) * sizeof(expr_value));
    if (m == NULL)
        return expr_error_new(c->a, "expr.limit", c->span, "%s", oom);
    qsort(f.v, f.n, sizeof *f.v, opt_cmp);
    m->n = 0;
    for (size_t i = 0; i < f.n; i++) {
        if (i + 1 < f.n && strcmp(f.v[i].key, f.v[i + 1].key) == 0) {
            /* The same option nested and flat ({"a": {"b": x}} beside "a.b": y): which one
             * the operator keeps depends on the order its flattening meets them in (the file
             * order, or kube-apiserver's sorted keys), so two different values are refused. */
            if (strcmp(f.v[i].val, f.v[i + 1].val) != 0)
                return expr_error_new(c->a, "expr.flink_config", c->span,
                                      "flinkConfiguration sets option \"%.60s\" twice (nested and "
                                      "flat) with different values, so the policies cannot tell "
                                      "which one Flink runs with",
                                      f.v[i].key);
            continue; /* the same value again */
        }
        /* An entry that some Flink version reads as another option, or as several, would
         * let a policy judge a configuration Flink does not run: the whole map is refused. */
        const char *why;
        size_t vl = strlen(f.v[i].val);
        bool blank = k8s_flink_conf_is_blank(f.v[i].val, vl);
        /* A blank value is left out, as Flink 1.x does; its key must still be one option. */
        if (k8s_flink_conf_entry_check(c->a, f.v[i].key, strlen(f.v[i].key),
                                       blank ? "x" : f.v[i].val, blank ? 1 : vl, &why) != 0)
            return expr_error_new(c->a, "expr.limit", c->span, "%s", oom);
        if (why != NULL)
            return expr_error_new(c->a, "expr.flink_config", c->span, "%s", why);
        if (blank)
            continue;
        m->kv[2 * m->n] = str_value(f.v[i].key);
        m->kv[2 * m->n + 1] = str_value(f.v[i].val);
        m->n++;
    }
    expr_value v = {.kind = EXPR_MAP};
    v.v.map = m;
    return v;
}

/* The job fields the operator writes into Flink 1.x's flink-conf.yaml as options of its own
 * (FlinkConfigBuilder.applyJobConfig, ApplicationReconciler): a line break in them adds
 * options too. Returns 0 with '*why' NULL or the problem, or -1 when out of memory. */
static int check_job(arena *a, const cJSON *job, const char **why)
{
    static const char *const fields[][2] = {
        {"entryClass", "spec.job.entryClass"},
        {"initialSavepointPath", "spec.job.initialSavepointPath"},
        {"args", "spec.job.args"}};
    *why = NULL;
    for (size_t i = 0; i < 3 && *why == NULL && cJSON_IsObject(job); i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(job, fields[i][0]);
        /* args are written joined with ';' ($internal.application.program-args) */
        const char *text = cJSON_IsString(f) || cJSON_IsArray(f) ? scalar_text(a, f) : "";
        if (text == NULL ||
            k8s_flink_conf_value_check(a, fields[i][1], text, strlen(text), why) != 0)
            return -1;
    }
    return 0;
}

/* The spec's options 'spec' (a map sorted by key) set over the operator's defaults 'd' ('nd',
 * sorted, one per key), as FlinkConfigBuilder.applyFlinkConfiguration sets them: the effective
 * configuration, sorted by key. */
static expr_value merge_defaults(const expr_call *c, const expr_map *spec, const policy_conf_opt *d,
                                 size_t nd)
{
    if (spec->n + nd > FLINK_CONFIG_MAX)
        return expr_error_new(c->a, "expr.limit", c->span,
                              "flinkConfig: more than 10000 options with the operator's defaults");
    expr_map *m = arena_alloc(c->a, sizeof *m + 2 * (spec->n + nd + 1) * sizeof(expr_value));
    if (m == NULL)
        return expr_error_new(c->a, "expr.limit", c->span, "flinkConfig: out of memory");
    size_t i = 0, j = 0;
    m->n = 0;
    while (i < spec->n || j < nd) {
        int cmp = i == spec->n ? 1 : j == nd ? -1 : strcmp(spec->kv[2 * i].v.s, d[j].key);
        if (cmp <= 0) {
            m->kv[2 * m->n] = spec->kv[2 * i];
            m->kv[2 * m->n + 1] = spec->kv[2 * i + 1];
            i++;
            j += cmp == 0; /* the spec's value wins */
        } else {
            m->kv[2 * m->n] = str_value(d[j].key);
            m->kv[2 * m->n + 1] = str_value(d[j].val);
            j++;
        }
        m->n++;
    }
    expr_value v = {.kind = EXPR_MAP};
    v.v.map = m;
    return v;
}

/* metadata.<field> of 'obj', or "". */
static const char *meta_string(const cJSON *obj, const char *field)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, field));
    return s != NULL ? s : "";
}

static bool same_string(const expr_value *x, const expr_value *y)
{
    return x->len == y->len && memcmp(x->v.s, y->v.s, x->len) == 0;
}

/* A string field of 'obj' as a value ("" when it is not a string). */
static expr_value json_string(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, a), b);
    expr_value out = {.kind = EXPR_STRING, .len = 0, .v.s = ""};
    if (cJSON_IsString(v)) {
        out.v.s = v->valuestring;
        out.len = (uint32_t)strlen(v->valuestring);
    }
    return out;
}

/* The answer remembered for flinkConfig(obj, job, cm, res, file) in this run, or NULL.
 * Without a ConfigMap the resource and the file choose nothing and are not compared. */
static const config_answer *config_remembered(const policy_fn_ctx *fc, const cJSON *obj,
                                              const cJSON *job, const cJSON *cm,
                                              const cJSON *res, const expr_value *file)
{
    for (size_t i = 0; i < fc->n_configs; i++) {
        const config_answer *m = &fc->configs[i];
        if (m->obj == obj && m->job == job && m->cm == cm &&
            (cm == NULL || (m->res == res && same_string(&m->file, file))))
            return m;
    }
    return NULL;
}

/* Keeps answer 'v' of flinkConfig(obj, job, cm, res, file) for the run, over the oldest when
 * the memo is full. Running out of memory is not kept: it is no answer about the input. */
static void config_keep(policy_fn_ctx *fc, const cJSON *obj, const cJSON *job, const cJSON *cm,
                        const cJSON *res, const expr_value *file, expr_value v)
{
    if (v.kind == EXPR_ERROR && strcmp(v.v.err->code, "expr.limit") == 0)
        return;
    size_t i = fc->n_configs < CONFIG_MEMO ? fc->n_configs++ : fc->next_config++ % CONFIG_MEMO;
    fc->configs[i] =
        (config_answer){.obj = obj, .job = job, .cm = cm, .res = res, .file = *file, .value = v};
}

/* A remembered answer for the call 'c': a map as it is, an error again with the span of this
 * call (the same code and message). */
static expr_value config_answer_of(const expr_call *c, const config_answer *m)
{
    if (m->value.kind != EXPR_ERROR)
        return m->value;
    return expr_error_new(c->a, m->value.v.err->code, c->span, "%s", m->value.v.err->msg);
}

/* The spec's options alone: flinkConfiguration 'obj' flattened and checked, and the fields of
 * 'job' the operator writes as options checked. */
static expr_value spec_config(const expr_call *c, const cJSON *obj, const cJSON *job)
{
    expr_value v = flat_config(c, obj);
    const char *why = NULL;
    if (v.kind == EXPR_MAP && check_job(c->a, job, &why) != 0)
        return expr_error_new(c->a, "expr.limit", c->span, "flinkConfig: out of memory");
    if (why != NULL)
        return expr_error_new(c->a, "expr.flink_config", c->span, "%s", why);
    return v;
}

/* The spec's options 'spec' set over the defaults that ConfigMap 'cm' gives resource 'res' (its
 * spec.flinkVersion and metadata.namespace; read from the ConfigMap's key 'file'), or the
 * error that they cannot be read. */
static expr_value with_defaults(const expr_call *c, expr_value spec, const cJSON *cm,
                                const cJSON *res, const expr_value *file)
{
    expr_value version_v = json_string(res, "spec", "flinkVersion");
    expr_value ns_v = json_string(res, "metadata", "namespace");
    const expr_value *version = &version_v, *ns = &ns_v;
    policy_conf_opt *d;
    size_t nd;
    const char *why = NULL;
    if (policy_flink_operator_defaults(c->a, cm, file->v.s, file->len, version->v.s, version->len,
                                       ns->v.s, ns->len, &d, &nd, &why) != 0)
        return expr_error_new(c->a, "expr.flink_config", c->span,
                              "the Flink operator's default configuration (ConfigMap "
                              "%.100s/%.100s) cannot be read: %.300s",
                              meta_string(cm, "namespace"), meta_string(cm, "name"), why);
    return nd > 0 ? merge_defaults(c, spec.v.map, d, nd) : spec;
}

/* flinkConfig(flinkConfiguration[, job[, operatorConfigMap, resource[, file]]]). The resource
 * (the FlinkDeployment) gives spec.flinkVersion and metadata.namespace. */
static expr_value fn_flink_config(const expr_call *c, const expr_value *r, const expr_value *a,
                                  size_t n)
{
    (void)r;
    const cJSON *obj, *job = NULL, *cm = NULL, *res = NULL;
    expr_value err;
    if (json_arg(c, &a[0], &obj, &err) != 0 || (n >= 2 && json_arg(c, &a[1], &job, &err) != 0))
        return err;
    if (n >= 3 && a[2].kind != EXPR_NULL && !(a[2].kind == EXPR_MAP && a[2].json))
        return expr_error_new(c->a, "expr.no_overload", c->span,
                              "flinkConfig: the third argument must be the operator's ConfigMap "
                              "as lookup() gives it, or null, not %s",
                              expr_type_name(&a[2]));
    if (n == 3)
        return expr_error_new(c->a, "expr.no_overload", c->span,
                              "flinkConfig: the operator's ConfigMap needs the resource (its "
                              "flinkVersion and namespace) as the fourth argument");
    if (n >= 4 && json_arg(c, &a[3], &res, &err) != 0)
        return err;
    if (n >= 5 && a[4].kind != EXPR_STRING)
        return wrong_type(c, "flinkConfig", &a[4]);
    if (n >= 3 && a[2].kind == EXPR_MAP)
        cm = a[2].v.j;
    static const expr_value none = {.kind = EXPR_STRING, .len = 0, .v.s = ""};
    const expr_value *file = n >= 5 ? &a[4] : &none;
    /* Every Flink policy asks for the same maps of the object: the answers are kept for the
     * run, by the identity of the JSON they read. A map an expression built (not borrowed
     * JSON) is a new one at each call, so it is not kept. */
    policy_fn_ctx *fc = c->ctx;
    bool memo = fc != NULL && !(a[0].kind == EXPR_MAP && !a[0].json) &&
                !(n >= 2 && a[1].kind == EXPR_MAP && !a[1].json) &&
                !(n >= 4 && a[3].kind == EXPR_MAP && !a[3].json);
    const config_answer *m = memo ? config_remembered(fc, obj, job, cm, res, file) : NULL;
    if (m != NULL) {
        fc->config_hits++;
        return config_answer_of(c, m);
    }
    expr_value v;
    m = memo && cm != NULL ? config_remembered(fc, obj, job, NULL, NULL, &none) : NULL;
    if (m != NULL) {
        v = config_answer_of(c, m);
    } else {
        v = spec_config(c, obj, job);
        if (memo)
            config_keep(fc, obj, job, NULL, NULL, &none, v);
    }
    if (cm == NULL)
        return v;
    if (v.kind == EXPR_MAP)
        v = with_defaults(c, v, cm, res, file);
    if (memo) /* an error of the spec too, so that it is one look next time */
        config_keep(fc, obj, job, cm, res, file, v);
    return v;
}

/* flinkHaModes(cfg, version), kept for the run: four policies ask it of the one map that
 * flinkConfig() gave them all. */
static expr_value fn_flink_ha_modes(const expr_call *c, const expr_value *r, const expr_value *a,
                                    size_t n)
{
    policy_fn_ctx *fc = c->ctx;
    if (fc == NULL || a[0].kind != EXPR_MAP || a[0].json || a[1].kind != EXPR_STRING)
        return policy_fn_flink_ha_modes(c, r, a, n); /* an error, or no memo */
    for (size_t i = 0; i < fc->n_ha_modes; i++) {
        const ha_modes_answer *m = &fc->ha_modes[i];
        if (m->cfg == a[0].v.map && same_string(&m->version, &a[1])) {
            fc->ha_modes_hits++;
            return m->value;
        }
    }
    expr_value v = policy_fn_flink_ha_modes(c, r, a, n);
    if (v.kind != EXPR_LIST)
        return v; /* out of memory */
    size_t i = fc->n_ha_modes < HA_MODES_MEMO ? fc->n_ha_modes++
                                               : fc->next_ha_mode++ % HA_MODES_MEMO;
    fc->ha_modes[i] = (ha_modes_answer){.cfg = a[0].v.map, .version = a[1], .value = v};
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
    {"lookupList", EXPR_GLOBAL, 3, 4, fn_lookup_list},
    {"flinkConfig", EXPR_GLOBAL, 1, 5, fn_flink_config},
    {"flinkPath", EXPR_GLOBAL, 1, 1, policy_fn_flink_path},
    {"flinkHaModes", EXPR_GLOBAL, 2, 2, fn_flink_ha_modes},
    {"flinkMergePodTemplates", EXPR_GLOBAL, 3, 3, policy_fn_merge_pod_templates},
    {"containerMounts", EXPR_GLOBAL, 4, 4, policy_fn_container_mounts},
    {"mountFor", EXPR_GLOBAL, 2, 2, policy_fn_mount_for},
    {"podRequests", EXPR_GLOBAL, 1, 1, policy_fn_pod_requests},
    {"podLimits", EXPR_GLOBAL, 1, 1, policy_fn_pod_limits},
    {"podResources", EXPR_GLOBAL, 1, 2, policy_fn_pod_resources},
    {"nodesFor", EXPR_GLOBAL, 2, 2, policy_fn_nodes_for},
    {"flinkConfValue", EXPR_MEMBER, 0, 0, policy_fn_flink_conf_value},
    {"javaTrim", EXPR_MEMBER, 0, 0, policy_fn_java_trim},
    {"javaUpper", EXPR_MEMBER, 0, 0, policy_fn_java_upper},
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

const policy_library policy_lib = {.functions = policy_functions,
                                   .n_functions = sizeof policy_functions / sizeof *policy_functions,
                                   .ctx_init = ctx_init,
                                   .ctx_reset = ctx_reset};
