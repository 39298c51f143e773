/* fn_flinkconfig.c - flinkConfig() and the run's memo of flinkConfig() and flinkHaModes()
 * answers; see functions.h and fn_int.h. Split out of functions.c unchanged. */
#include "fn_int.h"

#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/num.h"

#include "../k8s/flinkconf.h"

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

/* What "%lld" prints for 'n', written by hand: an integral option (numberOfTaskSlots: 2) is in
 * nearly every configuration, and vfprintf cost ~700 instructions of flinkConfig()'s ~5,000. */
static const char *int_text(arena *a, long long n)
{
    char buf[NUM_LL_MAX];
    const char *t = num_ll_text(buf, n);
    return arena_strndup(a, t, (size_t)(buf + NUM_LL_MAX - t));
}

const char *policy_scalar_text(arena *a, const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -9.2e18 && d < 9.2e18 && d == (double)(long long)d)
            return int_text(a, (long long)d);
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

/* Sorts 'n' options by opt_cmp (a total order: no two have the same 'seq'). A configuration
 * has a dozen options or so, for which insertion costs a third of qsort()'s set-up and calls;
 * more go to qsort(), so that a large map is not sorted in quadratic time. */
static void sort_options(flat_opt *v, size_t n)
{
    if (n > 16) {
        qsort(v, n, sizeof *v, opt_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        flat_opt x = v[i];
        size_t k = i;
        for (; k > 0 && opt_cmp(&v[k - 1], &x) > 0; k--)
            v[k] = v[k - 1];
        v[k] = x;
    }
}

/* The string 's' of 'len' bytes (its NUL after them) as a value. */
static expr_value str_value(const char *s, size_t len)
{
    expr_value v = {.kind = EXPR_STRING, .len = (uint32_t)len};
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
        *err = policy_fn_wrong_type(c, "flinkConfig", v);
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
    sort_options(f.v, f.n);
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
        size_t kl = strlen(f.v[i].key), vl = strlen(f.v[i].val);
        bool blank = k8s_flink_conf_is_blank(f.v[i].val, vl);
        /* A blank value is left out, as Flink 1.x does; its key must still be one option. */
        if (k8s_flink_conf_entry_check(c->a, f.v[i].key, kl, blank ? "x" : f.v[i].val,
                                       blank ? 1 : vl, &why) != 0)
            return expr_error_new(c->a, "expr.limit", c->span, "%s", oom);
        if (why != NULL)
            return expr_error_new(c->a, "expr.flink_config", c->span, "%s", why);
        if (blank)
            continue;
        m->kv[2 * m->n] = str_value(f.v[i].key, kl);
        m->kv[2 * m->n + 1] = str_value(f.v[i].val, vl);
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
    /* The first member of each name, as cJSON_GetObjectItemCaseSensitive() finds it, in one
     * walk of the job instead of three (the names differ in their first bytes). */
    const cJSON *found[3] = {NULL, NULL, NULL};
    for (const cJSON *e = cJSON_IsObject(job) ? job->child : NULL; e && e->string; e = e->next)
        for (size_t i = 0; i < 3; i++)
            if (found[i] == NULL && e->string[0] == fields[i][0][0] &&
                strcmp(e->string, fields[i][0]) == 0)
                found[i] = e;
    for (size_t i = 0; i < 3 && *why == NULL && cJSON_IsObject(job); i++) {
        const cJSON *f = found[i];
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
            m->kv[2 * m->n] = str_value(d[j].key, strlen(d[j].key));
            m->kv[2 * m->n + 1] = str_value(d[j].val, strlen(d[j].val));
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
expr_value policy_fn_flink_config(const expr_call *c, const expr_value *r, const expr_value *a,
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
        return policy_fn_wrong_type(c, "flinkConfig", &a[4]);
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
expr_value policy_fn_flink_ha_modes_kept(const expr_call *c, const expr_value *r,
                                         const expr_value *a, size_t n)
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
