/* fn_sched.c - podRequests(spec), podLimits(spec), podResources(spec), fitsIn(resources,
 * capacity) and nodesFor(nodes, spec): what kube-scheduler counts for a pod, whether it fits
 * a node's resources and which Nodes it may put the pod on, for policies that ask whether a
 * pod fits a node (node-sizing-limits).
 *
 * A pod asks for the sum of its containers plus its restartable (sidecar) init containers, or
 * for its largest ordinary init container together with the sidecars started before it,
 * whichever is more, plus its overhead (k8s.io/component-helpers resource.PodRequests). A
 * Node is a candidate when it is Ready, schedulable (or the pod tolerates that), carries every
 * label of the pod's nodeSelector, matches one of the required node affinity terms and has no
 * NoSchedule/NoExecute taint the pod does not tolerate (the scheduler's NodeUnschedulable,
 * NodeAffinity and TaintToleration filters). Written in C because the same in CEL needs a fold
 * CEL does not have, and the operators' rules would be unreadable as expressions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../k8s/quantity.h"
#include "policy_int.h"

/* ---- reading values that are JSON or built by an expression ---- */

/* The elements of a list (none when the value is not one). */
typedef struct each {
    expr_iter it;
    bool list;
} each;

static void each_init(each *it, const expr_value *l)
{
    it->list = l->kind == EXPR_LIST;
    if (it->list)
        expr_iter_init(&it->it, l);
}

static bool each_next(each *it, expr_value *out)
{
    return it->list && expr_iter_next(&it->it, NULL, out);
}

/* Whether the 'len' bytes of 'key' are the first of 's' (a NUL-terminated JSON key when 'nul':
 * then also its end). A byte loop: the keys read here are a few bytes long, shorter than the
 * call into memcmp()/strncmp() and its dispatch; it stops at the first difference, so it never
 * reads past a shorter key's NUL. */
static inline bool key_is(const char *s, const char *key, size_t len, bool nul)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != key[i])
            return false;
    return !nul || s[len] == '\0';
}

/* m[key] ('len' bytes, no NUL) when 'm' is a map holding it; a null value otherwise. The first
 * 16 members are scanned here, first byte and length first, as expr_map_get() scans them (the
 * first of two equal keys wins): a pod reads a dozen keys of small maps (containers, resources,
 * podResources()' answers), and a call per key cost more than the compare. A larger map, which
 * has an index, goes to expr_map_get(). */
static expr_value get_n(const expr_call *c, const expr_value *m, const char *key, size_t len)
{
    enum { SCAN_MAX = 16 };
    expr_value v = {.kind = EXPR_NULL};
    if (m->kind != EXPR_MAP)
        return v;
    if (m->json) {
        const cJSON *j = m->v.j->child;
        for (int i = 0; j != NULL && i < SCAN_MAX; j = j->next, i++)
            if (key_is(j->string, key, len, true))
                return expr_from_json(j);
        if (j == NULL)
            return v;
    } else if (m->v.map->n <= SCAN_MAX) {
        const expr_map *map = m->v.map;
        for (uint32_t i = 0; i < map->n; i++) {
            const expr_value *k = &map->kv[2 * i];
            if (k->kind == EXPR_STRING && k->len == len && key_is(k->v.s, key, len, false))
                return map->kv[2 * i + 1];
        }
        return v;
    }
    if (!expr_map_get(c, m, key, len, &v))
        v.kind = EXPR_NULL;
    return v;
}

/* get_n() of a C string (a literal's length is known when compiling). */
#define get(c, m, key) get_n((c), (m), (key), strlen(key))

static bool str_is(const expr_value *v, const char *s)
{
    size_t n = strlen(s);
    return v->kind == EXPR_STRING && v->len == n && memcmp(v->v.s, s, n) == 0;
}

static bool str_eq(const expr_value *a, const expr_value *b)
{
    return a->kind == EXPR_STRING && b->kind == EXPR_STRING && a->len == b->len &&
           memcmp(a->v.s, b->v.s, a->len) == 0;
}

static expr_value cstr(const char *s)
{
    expr_value v = {.kind = EXPR_STRING, .len = (uint32_t)strlen(s)};
    v.v.s = s;
    return v;
}

/* ---- podRequests(spec), podLimits(spec) ---- */

enum { RES_CPU, RES_MEMORY, RES_COUNT };
static const char *const res_names[RES_COUNT] = {"cpu", "memory"};
static const size_t res_lens[RES_COUNT] = {3, 6};

typedef struct res {
    k8s_quantity q[RES_COUNT];
} res;

/* One quantity of a resources map: a string, a number as YAML gives `cpu: 2`, or a
 * kubernetes.Quantity value. Sets
 * '*why' and returns -1 when it is neither or does not parse. */
static int parse_q(const expr_value *v, k8s_quantity *out, const char **why)
{
    char buf[64];
    const k8s_quantity *q = policy_as_quantity(v);
    if (q != NULL) {
        *out = *q; /* a quantity an expression computed (flinkMemory(), quantity()) */
        return 0;
    }
    const char *s = v->v.s;
    size_t len = v->len;
    if (v->kind == EXPR_INT || v->kind == EXPR_DOUBLE) {
        int n = v->kind == EXPR_INT ? snprintf(buf, sizeof buf, "%lld", (long long)v->v.i)
                                    : snprintf(buf, sizeof buf, "%.17g", v->v.d);
        s = buf;
        len = (size_t)n;
    } else if (v->kind != EXPR_STRING) {
        *why = "a quantity is a string or a number";
        return -1;
    }
    return k8s_quantity_parse(s, len, out, why);
}

/* The requests (or limits) of one container: 'which' is "requests" or "limits". A request
 * not given is its limit, as the API server defaults it. */
static int container_res(const expr_call *c, const expr_value *ctr, bool limits, res *out,
                         expr_value *e)
{
    expr_value r = get(c, ctr, "resources");
    expr_value want = get(c, &r, limits ? "limits" : "requests");
    expr_value lim = get(c, &r, "limits");
    for (int k = 0; k < RES_COUNT; k++) {
        expr_value v = get_n(c, &want, res_names[k], res_lens[k]);
        if (v.kind == EXPR_NULL && !limits)
            v = get_n(c, &lim, res_names[k], res_lens[k]);
        out->q[k] = k8s_quantity_from_int(0);
        const char *why;
        if (v.kind != EXPR_NULL && parse_q(&v, &out->q[k], &why) != 0) {
            expr_value name = get(c, ctr, "name");
            *e = expr_error_new(c->a, "expr.quantity", c->span,
                                "container %.*s: resources.%s.%s: %s",
                                name.kind == EXPR_STRING ? (int)(name.len > 63 ? 63 : name.len) : 1,
                                name.kind == EXPR_STRING ? name.v.s : "?",
                                limits ? "limits" : "requests", res_names[k], why);
            return -1;
        }
    }
    return 0;
}

static int res_add(res *to, const res *x)
{
    for (int k = 0; k < RES_COUNT; k++)
        if (k8s_quantity_add(&to->q[k], &x->q[k], false, &to->q[k]) != 0)
            return -1;
    return 0;
}

static void res_max(res *to, const res *x)
{
    for (int k = 0; k < RES_COUNT; k++)
        if (k8s_quantity_cmp(&x->q[k], &to->q[k]) > 0)
            to->q[k] = x->q[k];
}

enum { POD_OWN_MAX = 64 }; /* containers a controller puts into a pod: podResources() */

static uint32_t count(const expr_value *l);

/* Whether a container of the list 'own' has the name of 'ctr'. */
static bool named_in(const expr_call *c, const expr_value *own, const expr_value *ctr)
{
    expr_value name = get(c, ctr, "name"), o;
    if (name.kind != EXPR_STRING)
        return false;
    each it;
    each_init(&it, own);
    while (each_next(&it, &o)) {
        expr_value n = get(c, &o, "name");
        if (str_eq(&n, &name))
            return true;
    }
    return false;
}

/* Both the requests and the limits of one container, each quantity parsed once; -1 when one
 * does not parse (container_res() then says which). */
static int container_both(const expr_call *c, const expr_value *ctr, res out[2])
{
    expr_value r = get(c, ctr, "resources");
    expr_value req = get(c, &r, "requests"), lim = get(c, &r, "limits");
    for (int k = 0; k < RES_COUNT; k++) {
        expr_value v = get_n(c, &req, res_names[k], res_lens[k]), l = get_n(c, &lim, res_names[k], res_lens[k]);
        const char *why;
        out[1].q[k] = k8s_quantity_from_int(0);
        if (l.kind != EXPR_NULL && parse_q(&l, &out[1].q[k], &why) != 0)
            return -1;
        out[0].q[k] = out[1].q[k]; /* a request not given is its limit */
        if (v.kind != EXPR_NULL && parse_q(&v, &out[0].q[k], &why) != 0)
            return -1;
    }
    return 0;
}

/* A running total of one side (requests or limits) as resource.PodRequests adds it up. */
typedef struct tally {
    res sum, sidecars, init_max;
} tally;

static int tally_container(tally *t, const res *one)
{
    return res_add(&t->sum, one);
}

static int tally_init(tally *t, res one, bool sidecar)
{
    if (sidecar) {
        /* A sidecar runs beside the containers and beside every init container after it. */
        if (res_add(&t->sum, &one) != 0 || res_add(&t->sidecars, &one) != 0)
            return -1;
        res_max(&t->init_max, &t->sidecars);
        return 0;
    }
    if (res_add(&one, &t->sidecars) != 0)
        return -1;
    res_max(&t->init_max, &one);
    return 0;
}

enum { SIDE_REQUESTS = 1, SIDE_LIMITS = 2, SIDE_BOTH = 3 };

/* One container's resources for the sides of 'sides' into one[0] (requests) and one[1]
 * (limits). Returns 0, or -1 with the error value in '*e' (with SIDE_BOTH, -1 only). */
static int container_sides(const expr_call *c, const expr_value *ctr, int sides, res one[2],
                           expr_value *e)
{
    if (sides == SIDE_BOTH)
        return container_both(c, ctr, one);
    return container_res(c, ctr, sides == SIDE_LIMITS, &one[sides == SIDE_LIMITS], e);
}

/* The pod's total as k8s.io/component-helpers resource.PodRequests / PodLimits count it, for
 * the sides of 'sides', into out[0] (requests) and out[1] (limits): the containers of 'own' (a
 * list, or a null value), then those of spec.containers whose name no container of 'own' has.
 * Returns 0, or -1 with the error value in '*e' (with SIDE_BOTH, -1 only: see pod_totals()). */
static int pod_sides(const expr_call *c, const expr_value *spec, const expr_value *own,
                     int sides, res out[2], expr_value *e)
{
    tally t[2];
    memset(t, 0, sizeof t);
    res one[2];
    expr_value ctr, list = get(c, spec, "containers");
    const expr_value *lists[2] = {own, &list};
    for (int l = 0; l < 2; l++) {
        each it;
        each_init(&it, lists[l]);
        while (each_next(&it, &ctr)) {
            if (l == 1 && own->kind == EXPR_LIST && named_in(c, own, &ctr))
                continue; /* the controller's container of that name stands in its place */
            if (container_sides(c, &ctr, sides, one, e) != 0)
                return -1;
            for (int k = 0; k < 2; k++)
                if ((sides & (1 << k)) && tally_container(&t[k], &one[k]) != 0)
                    goto overflow;
        }
    }
    list = get(c, spec, "initContainers");
    each it;
    each_init(&it, &list);
    while (each_next(&it, &ctr)) {
        if (container_sides(c, &ctr, sides, one, e) != 0)
            return -1;
        expr_value policy = get(c, &ctr, "restartPolicy");
        for (int k = 0; k < 2; k++)
            if ((sides & (1 << k)) && tally_init(&t[k], one[k], str_is(&policy, "Always")) != 0)
                goto overflow;
    }
    for (int k = 0; k < 2; k++) {
        res_max(&t[k].sum, &t[k].init_max);
        out[k] = t[k].sum;
    }
    if (sides & SIDE_REQUESTS) {
        expr_value oh = get(c, spec, "overhead");
        res o = {{{0}}};
        for (int k = 0; k < RES_COUNT; k++) {
            expr_value v = get_n(c, &oh, res_names[k], res_lens[k]);
            const char *why;
            if (v.kind != EXPR_NULL && parse_q(&v, &o.q[k], &why) != 0) {
                *e = expr_error_new(c->a, "expr.quantity", c->span, "overhead.%s: %s",
                                    res_names[k], why);
                return -1;
            }
        }
        if (res_add(&out[0], &o) != 0)
            goto overflow;
    }
    return 0;
overflow:
    *e = expr_error_new(c->a, "expr.overflow", c->span, "quantity out of range");
    return -1;
}

/* Requests and limits in one walk. When that fails, the requests and then the limits are
 * counted apart, so that the error is the one podRequests() and then podLimits() would give. */
static int pod_totals(const expr_call *c, const expr_value *spec, const expr_value *own,
                      res out[2], expr_value *e)
{
    if (pod_sides(c, spec, own, SIDE_BOTH, out, e) == 0)
        return 0;
    if (pod_sides(c, spec, own, SIDE_REQUESTS, out, e) != 0)
        return -1;
    if (pod_sides(c, spec, own, SIDE_LIMITS, out, e) != 0)
        return -1;
    /* cannot happen: each side alone was counted */
    *e = expr_error_new(c->a, "expr.quantity", c->span, "podResources: a quantity does not parse");
    return -1;
}

/* A map of 'n' entries, the keys 'keys' (of lengths 'lens'), the values to be filled in; NULL when
 * out of memory. */
static expr_map *new_map(const expr_call *c, const char *const *keys, const size_t *lens,
                         uint32_t n)
{
    expr_map *m = arena_alloc(c->a, sizeof *m + 2 * n * sizeof(expr_value));
    if (m == NULL)
        return NULL;
    m->n = n;
    for (uint32_t k = 0; k < n; k++) {
        m->kv[2 * k] = (expr_value){.kind = EXPR_STRING, .len = (uint32_t)lens[k]};
        m->kv[2 * k].v.s = keys[k];
    }
    return m;
}

/* {'cpu': Quantity, 'memory': Quantity} of 'r'. */
static expr_value res_value(const expr_call *c, const res *r)
{
    expr_map *m = new_map(c, res_names, res_lens, RES_COUNT);
    if (m == NULL)
        return policy_oom(c);
    for (int k = 0; k < RES_COUNT; k++) {
        m->kv[2 * k + 1] = policy_quantity_value(c, r->q[k]);
        if (m->kv[2 * k + 1].kind == EXPR_ERROR)
            return m->kv[2 * k + 1];
    }
    expr_value v = {.kind = EXPR_MAP};
    v.v.map = m;
    return v;
}

static expr_value not_a_spec(const expr_call *c, const char *fn, const expr_value *spec)
{
    return expr_error_new(c->a, "expr.no_overload", c->span,
                          "no matching overload for '%s' applied to (%s)", fn,
                          expr_type_name(spec));
}

static expr_value pod_one(const expr_call *c, const expr_value *spec, bool limits)
{
    if (spec->kind != EXPR_MAP)
        return not_a_spec(c, limits ? "podLimits" : "podRequests", spec);
    res r[2];
    expr_value e, none = {.kind = EXPR_NULL};
    if (pod_sides(c, spec, &none, limits ? SIDE_LIMITS : SIDE_REQUESTS, r, &e) != 0)
        return e;
    return res_value(c, &r[limits]);
}

expr_value policy_fn_pod_requests(const expr_call *c, const expr_value *r, const expr_value *a,
                                  size_t n)
{
    (void)r;
    (void)n;
    return pod_one(c, &a[0], false);
}

expr_value policy_fn_pod_limits(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n)
{
    (void)r;
    (void)n;
    return pod_one(c, &a[0], true);
}

/* podResources(spec[, containers]): {'requests': podRequests(spec), 'limits': podLimits(spec)}
 * in one call, for a policy that needs both (the requests are counted first, so a bad quantity
 * gives the error podRequests() would give before the one podLimits() would). 'containers' are
 * those a controller puts into the pod it makes from the template 'spec': they come first and
 * replace the template's containers of the same names. */
expr_value policy_fn_pod_resources(const expr_call *c, const expr_value *r, const expr_value *a,
                                   size_t n)
{
    static const char *const keys[] = {"requests", "limits"};
    static const size_t key_lens[] = {8, 6};
    (void)r;
    expr_value none = {.kind = EXPR_NULL};
    const expr_value *own = n > 1 ? &a[1] : &none;
    if (a[0].kind != EXPR_MAP || (n > 1 && a[1].kind != EXPR_LIST))
        return n > 1 ? expr_error_new(c->a, "expr.no_overload", c->span,
                                      "no matching overload for 'podResources' applied to (%s, %s)",
                                      expr_type_name(&a[0]), expr_type_name(&a[1]))
                     : not_a_spec(c, "podResources", &a[0]);
    /* Each template container is looked for among 'own': a few, as a controller adds, keep
     * that linear in the template. */
    if (n > 1 && count(&a[1]) > POD_OWN_MAX)
        return expr_error_new(c->a, "expr.limit", c->span,
                              "podResources: more than %d containers of the controller",
                              POD_OWN_MAX);
    /* A template's list that is not one: what an operator reading it into a PodSpec rejects. */
    static const char *const lists[] = {"containers", "initContainers"};
    for (int k = 0; k < 2 && n > 1; k++) {
        expr_value l = get(c, &a[0], lists[k]);
        if (l.kind != EXPR_LIST && l.kind != EXPR_MAP && l.kind != EXPR_NULL)
            return expr_error_new(c->a, "expr.no_overload", c->span,
                                  "podResources: %s of the pod template is a %s, not a list",
                                  lists[k], expr_type_name(&l));
    }
    res t[2];
    expr_value e;
    if (pod_totals(c, &a[0], own, t, &e) != 0)
        return e;
    expr_map *m = new_map(c, keys, key_lens, 2);
    if (m == NULL)
        return policy_oom(c);
    for (int k = 0; k < 2; k++) {
        m->kv[2 * k + 1] = res_value(c, &t[k]);
        if (m->kv[2 * k + 1].kind == EXPR_ERROR)
            return m->kv[2 * k + 1];
    }
    expr_value v = {.kind = EXPR_MAP};
    v.v.map = m;
    return v;
}

/* fitsIn(resources, capacity): whether the cpu and the memory of 'resources' are each at most
 * those of 'capacity' (kube-scheduler's NodeResourcesFit for the two resources a policy sizes).
 * Both are maps such as podResources() answers or {'cpu': quantity('16'), 'memory': ...}; a
 * resource a map does not name is 0, a value is parsed as a container's (parse_q()). */
expr_value policy_fn_fits_in(const expr_call *c, const expr_value *r, const expr_value *a,
                             size_t n)
{
    static const char *const args[2] = {"resources", "capacity"};
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_MAP || a[1].kind != EXPR_MAP)
        return expr_error_new(c->a, "expr.no_overload", c->span,
                              "no matching overload for 'fitsIn' applied to (%s, %s)",
                              expr_type_name(&a[0]), expr_type_name(&a[1]));
    bool fits = true;
    for (int k = 0; k < RES_COUNT; k++) {
        k8s_quantity q[2];
        for (int i = 0; i < 2; i++) {
            expr_value v = get_n(c, &a[i], res_names[k], res_lens[k]);
            const char *why;
            q[i] = k8s_quantity_from_int(0);
            if (v.kind != EXPR_NULL && parse_q(&v, &q[i], &why) != 0)
                return expr_error_new(c->a, "expr.quantity", c->span, "fitsIn: %s.%s: %s",
                                      args[i], res_names[k], why);
        }
        /* every value is read, so that a bad one is an error whatever the others say */
        fits = fits && k8s_quantity_cmp(&q[0], &q[1]) <= 0;
    }
    expr_value v = {.kind = EXPR_BOOL};
    v.v.b = fits;
    return v;
}

/* ---- nodesFor(nodes, spec) ---- */

/* An integer label or value for Gt/Lt, as strconv.ParseInt(s, 10, 64) reads it. */
static bool parse_int(const expr_value *v, long long *out)
{
    char buf[32];
    if (v->kind != EXPR_STRING || v->len == 0 || v->len >= sizeof buf)
        return false;
    memcpy(buf, v->v.s, v->len);
    buf[v->len] = '\0';
    char *end;
    errno = 0;
    *out = strtoll(buf, &end, 10);
    /* strtoll also skips leading spaces, which ParseInt does not */
    return *end == '\0' && errno == 0 && buf[0] != ' ' && buf[0] != '\t' && buf[0] != '\n' &&
           !(buf[0] == '+' && v->len == 1);
}

static bool in_values(const expr_value *values, const expr_value *s)
{
    each it;
    expr_value x;
    each_init(&it, values);
    while (each_next(&it, &x))
        if (str_eq(&x, s))
            return true;
    return false;
}

static uint32_t count(const expr_value *l)
{
    each it;
    expr_value x;
    uint32_t n = 0;
    each_init(&it, l);
    while (each_next(&it, &x))
        n++;
    return n;
}

/* One NodeSelectorRequirement against a value ('have' false when the node lacks the key).
 * A requirement Kubernetes would reject (an unknown operator, In without values, Gt with
 * other than one integer) matches nothing, as the scheduler's lazy selector treats it. */
static bool requirement_matches(const expr_call *c, const expr_value *req, bool have,
                                const expr_value *val)
{
    expr_value op = get(c, req, "operator"), values = get(c, req, "values");
    uint32_t nv = count(&values);
    if (str_is(&op, "In"))
        return nv > 0 && have && in_values(&values, val);
    if (str_is(&op, "NotIn"))
        return nv > 0 && (!have || !in_values(&values, val));
    if (str_is(&op, "Exists"))
        return nv == 0 && have;
    if (str_is(&op, "DoesNotExist"))
        return nv == 0 && !have;
    if (str_is(&op, "Gt") || str_is(&op, "Lt")) {
        each it;
        expr_value want;
        long long lv, wv;
        each_init(&it, &values);
        if (nv != 1 || !each_next(&it, &want) || !parse_int(&want, &wv) || !have ||
            !parse_int(val, &lv))
            return false;
        return str_is(&op, "Gt") ? lv > wv : lv < wv;
    }
    return false;
}

/* A NodeSelectorTerm: all its matchExpressions (on labels) and matchFields (metadata.name
 * only); a term with neither matches nothing. */
static bool term_matches(const expr_call *c, const expr_value *term, const expr_value *node)
{
    expr_value meta = get(c, node, "metadata");
    expr_value labels = get(c, &meta, "labels"), name = get(c, &meta, "name");
    expr_value exprs = get(c, term, "matchExpressions"), fields = get(c, term, "matchFields");
    if (count(&exprs) == 0 && count(&fields) == 0)
        return false;
    each it;
    expr_value req;
    each_init(&it, &exprs);
    while (each_next(&it, &req)) {
        expr_value key = get(c, &req, "key"), val = {.kind = EXPR_NULL};
        bool have = key.kind == EXPR_STRING && labels.kind == EXPR_MAP &&
                    expr_map_get(c, &labels, key.v.s, key.len, &val) && val.kind == EXPR_STRING;
        if (!requirement_matches(c, &req, have, &val))
            return false;
    }
    each_init(&it, &fields);
    while (each_next(&it, &req)) {
        expr_value key = get(c, &req, "key");
        if (!str_is(&key, "metadata.name") ||
            !requirement_matches(c, &req, name.kind == EXPR_STRING, &name))
            return false;
    }
    return true;
}

/* Toleration.ToleratesTaint of k8s.io/api/core/v1. */
static bool tolerates(const expr_call *c, const expr_value *tols, const expr_value *key,
                      const expr_value *value, const expr_value *effect)
{
    each it;
    expr_value t;
    each_init(&it, tols);
    while (each_next(&it, &t)) {
        expr_value te = get(c, &t, "effect"), tk = get(c, &t, "key");
        expr_value op = get(c, &t, "operator"), tv = get(c, &t, "value");
        if (te.kind == EXPR_STRING && te.len > 0 && !str_eq(&te, effect))
            continue;
        if (tk.kind == EXPR_STRING && tk.len > 0 && !str_eq(&tk, key))
            continue;
        if (str_is(&op, "Exists"))
            return true;
        if (op.kind == EXPR_NULL || str_is(&op, "") || str_is(&op, "Equal")) {
            expr_value empty = {.kind = EXPR_STRING, .len = 0};
            empty.v.s = "";
            const expr_value *want = tv.kind == EXPR_STRING ? &tv : &empty;
            const expr_value *have = value->kind == EXPR_STRING ? value : &empty;
            if (str_eq(want, have))
                return true;
        }
    }
    return false;
}

static bool is_ready(const expr_call *c, const expr_value *node)
{
    expr_value status = get(c, node, "status");
    expr_value conds = get(c, &status, "conditions"), cond;
    each it;
    each_init(&it, &conds);
    while (each_next(&it, &cond)) {
        expr_value type = get(c, &cond, "type"), st = get(c, &cond, "status");
        if (str_is(&type, "Ready"))
            return str_is(&st, "True");
    }
    return false;
}

static bool node_selected(const expr_call *c, const expr_value *node, const expr_value *spec)
{
    expr_value meta = get(c, node, "metadata");
    expr_value labels = get(c, &meta, "labels");
    expr_value sel = get(c, spec, "nodeSelector");
    if (sel.kind == EXPR_MAP) {
        /* every label of the selector, with its value (a JSON map, or one an expression built) */
        uint32_t n = sel.json ? (uint32_t)cJSON_GetArraySize(sel.v.j) : sel.v.map->n;
        const cJSON *j = sel.json ? sel.v.j->child : NULL;
        for (uint32_t i = 0; i < n; i++) {
            expr_value key = sel.json ? cstr(j->string) : sel.v.map->kv[2 * i];
            expr_value want = sel.json ? expr_from_json(j) : sel.v.map->kv[2 * i + 1];
            expr_value have;
            if (sel.json)
                j = j->next;
            if (key.kind != EXPR_STRING || labels.kind != EXPR_MAP ||
                !expr_map_get(c, &labels, key.v.s, key.len, &have) || !str_eq(&have, &want))
                return false;
        }
    }
    expr_value aff = get(c, spec, "affinity");
    aff = get(c, &aff, "nodeAffinity");
    aff = get(c, &aff, "requiredDuringSchedulingIgnoredDuringExecution");
    if (aff.kind == EXPR_MAP) {
        expr_value terms = get(c, &aff, "nodeSelectorTerms"), term;
        each it;
        bool any = false;
        each_init(&it, &terms);
        while (!any && each_next(&it, &term))
            any = term_matches(c, &term, node);
        if (!any)
            return false;
    }
    return true;
}

/* Whether the pod may be scheduled on 'node' at all, resources aside. */
static bool node_allows(const expr_call *c, const expr_value *node, const expr_value *spec)
{
    expr_value tols = get(c, spec, "tolerations");
    expr_value nspec = get(c, node, "spec");
    expr_value unsched = get(c, &nspec, "unschedulable");
    expr_value k = cstr("node.kubernetes.io/unschedulable"), nv = cstr(""), ns = cstr("NoSchedule");
    if (!is_ready(c, node))
        return false;
    if (unsched.kind == EXPR_BOOL && unsched.v.b && !tolerates(c, &tols, &k, &nv, &ns))
        return false;
    if (!node_selected(c, node, spec))
        return false;
    expr_value taints = get(c, &nspec, "taints"), taint;
    each it;
    each_init(&it, &taints);
    while (each_next(&it, &taint)) {
        expr_value key = get(c, &taint, "key"), val = get(c, &taint, "value");
        expr_value eff = get(c, &taint, "effect");
        if (!str_is(&eff, "NoSchedule") && !str_is(&eff, "NoExecute"))
            continue; /* PreferNoSchedule only steers the scoring */
        if (!tolerates(c, &tols, &key, &val, &eff))
            return false;
    }
    return true;
}

expr_value policy_fn_nodes_for(const expr_call *c, const expr_value *r, const expr_value *a,
                               size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_LIST || a[1].kind != EXPR_MAP)
        return expr_error_new(c->a, "expr.no_overload", c->span,
                              "no matching overload for 'nodesFor' applied to (%s, %s)",
                              expr_type_name(&a[0]), expr_type_name(&a[1]));
    uint32_t total = count(&a[0]);
    expr_list *l = arena_alloc(c->a, sizeof *l + (total + 1) * sizeof(expr_value));
    if (l == NULL)
        return policy_oom(c);
    l->n = 0;
    each it;
    expr_value node;
    each_init(&it, &a[0]);
    while (each_next(&it, &node))
        if (node.kind == EXPR_MAP && node_allows(c, &node, &a[1]))
            l->items[l->n++] = node;
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = l;
    return v;
}
