/* audit.c - every validation of a set on one existing object; see audit.h. */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "../admission/decide.h"
#include "../admission/synth.h"
#include "../util/vec.h"

const char *const audit_result_names[AUDIT_RESULT_COUNT] = {"pass", "fail", "warn", "error",
                                                            "skip"};

/* The engine's observer: which validating policies matched, in the order they ran. */
typedef struct matched_list {
    const policy **v;
    size_t n, cap;
    arena *a;
    bool oom;
} matched_list;

static void on_matched(void *ctx, const policy *p)
{
    matched_list *m = ctx;
    if (vec_grow(m->a, m->v, m->n, m->cap, 8) != 0) {
        m->oom = true;
        return;
    }
    m->v[m->n++] = p;
}

static bool same_pos(const srcpos *x, const srcpos *y)
{
    return x->file == y->file && x->line == y->line && x->col == y->col;
}

static const char *severity_of(enum policy_action a)
{
    return a == POLICY_DENY ? "high" : a == POLICY_WARN ? "medium" : "low";
}

/* The finding of 'p''s validation 'i', or NULL. */
static const policy_finding *finding_for(const policy_outcome *o, const policy *p, size_t i)
{
    for (size_t k = 0; k < o->n_findings; k++)
        if (o->findings[k].policy == p && same_pos(&o->findings[k].at, &p->validations[i].at))
            return &o->findings[k];
    return NULL;
}

/* An evaluation error of 'p' that the engine said once for several rules (eval.c), or NULL. */
static const policy_finding *policy_error(const policy_outcome *o, const policy *p)
{
    for (size_t k = 0; k < o->n_findings; k++)
        if (o->findings[k].policy == p && o->findings[k].result == RULE_ERROR &&
            o->findings[k].field == NULL)
            return &o->findings[k];
    return NULL;
}

static enum audit_result result_of(const policy_finding *f)
{
    switch (f->result) {
    case RULE_PASS: return AUDIT_PASS;
    case RULE_WARN: return AUDIT_WARN;
    case RULE_ERROR: return AUDIT_ERROR;
    case RULE_SKIP: return AUDIT_SKIP;
    case RULE_FAIL: break;
    }
    return AUDIT_FAIL;
}

/* "[policy] message" without its prefix: the report names the policy in its own field. */
static const char *bare_message(const policy_finding *f)
{
    size_t n = strlen(f->policy->name);
    const char *m = f->message;
    if (m[0] == '[' && strncmp(m + 1, f->policy->name, n) == 0 && m[n + 1] == ']' &&
        m[n + 2] == ' ')
        return m + n + 3;
    return m;
}

static int add_results(const policy *p, const policy_outcome *o, arena *a, audit_outcome *out,
                       size_t *cap)
{
    const policy_finding *perr = policy_error(o, p);
    for (size_t i = 0; i < p->n_validations; i++) {
        const policy_finding *f = finding_for(o, p, i);
        if (vec_grow(a, out->results, out->n, *cap, 16) != 0)
            return -1;
        audit_rule_result *r = &out->results[out->n++];
        *r = (audit_rule_result){.policy = p, .rule = i, .result = AUDIT_PASS,
                                 .message = "validation passed",
                                 .severity = severity_of(p->validations[i].action),
                                 .finding = f};
        if (f == NULL && perr != NULL)
            f = perr; /* not seen to pass: the error that ended its policy's rules */
        if (f != NULL) {
            r->result = result_of(f);
            r->message = bare_message(f);
        }
    }
    return 0;
}

int audit_object(const policy_set *set, const cJSON *object, const policy_lookup *lk, arena *a,
                 audit_outcome *out, diag_list *dl)
{
    memset(out, 0, sizeof *out);
    admission_request *req = admission_request_for_create(object, "streamguard-audit", NULL, a, dl);
    if (req == NULL)
        return -1;
    matched_list m = {.a = a};
    policy_observer obs = {.matched = on_matched, .ctx = &m};
    admission_policy pol = {.set = set, .lookup = lk, .observer = &obs};
    admission_response resp;
    policy_outcome o;
    int rc = admission_decide(ADMISSION_VALIDATE, req, &pol, a, &resp, &o, dl);
    size_t cap = 0;
    for (size_t i = 0; rc == 0 && !m.oom && i < m.n; i++)
        rc = add_results(m.v[i], &o, a, out, &cap);
    if (rc == 0 && m.oom)
        rc = -1;
    if (rc == 0) {
        out->findings = o.findings;
        out->n_findings = o.n_findings;
        out->matched = m.n > 0;
        out->allowed = resp.allowed;
        out->n_denials = resp.n_denials;
        out->n_warnings = resp.n_warnings;
        out->n_audit = resp.n_audit;
    } else if (dl->count == 0) {
        diag_add(dl, DIAG_ERROR, "engine.limit", NULL, "out of memory");
    }
    admission_request_free(req);
    return rc;
}

const char *audit_rule_name(size_t i, char out[32])
{
    snprintf(out, 32, "validations[%zu]", i);
    return out;
}

/* ---- kinds ---- */

static bool kind_listed(const audit_kind *out, size_t n, size_t cap, const char *g, const char *k)
{
    for (size_t i = 0; i < n && i < cap; i++)
        if (strcmp(out[i].group, g) == 0 && strcmp(out[i].kind, k) == 0)
            return true;
    return false;
}

/* Adds the kinds of one resource rule that apply on CREATE to the main resource. */
static void rule_kinds(const policy_resource_rule *r, audit_kind *out, size_t cap, size_t *n,
                       size_t *n_wildcard)
{
    if ((r->ops & 1u) == 0 || r->subresources.n > 0)
        return;
    for (size_t g = 0; g < r->api_groups.n; g++)
        for (size_t k = 0; k < r->kinds.n; k++) {
            const char *grp = r->api_groups.v[g], *kind = r->kinds.v[k];
            if (strcmp(grp, "*") == 0 || strcmp(kind, "*") == 0) {
                (*n_wildcard)++;
                continue;
            }
            if (*n > cap) /* past 'cap' nothing is kept to compare with: count only */
                continue;
            if (kind_listed(out, *n, cap, grp, kind))
                continue;
            if (*n < cap)
                out[*n] = (audit_kind){grp, kind};
            (*n)++;
        }
}

size_t audit_kinds(const policy_set *s, audit_kind *out, size_t cap, size_t *n_wildcard)
{
    size_t np, n = 0;
    const policy *ps = policy_set_items(s, &np);
    *n_wildcard = 0;
    for (size_t i = 0; i < np; i++) {
        if (ps[i].n_validations == 0)
            continue;
        for (size_t r = 0; r < ps[i].match.n_rules; r++)
            rule_kinds(&ps[i].match.rules[r], out, cap, &n, n_wildcard);
    }
    return n;
}

static bool is_group(const char *g)
{
    size_t n = strlen(g);
    if (n == 0 || n > 253)
        return false;
    for (const char *p = g; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
            return false;
    return true;
}

/* The preferred version of 'group' from GET /apis/GROUP (an APIGroup object). */
static int preferred_version(kube_client *c, const char *group, long timeout_ms, char *out,
                             size_t cap, char error[512])
{
    char path[300];
    snprintf(path, sizeof path, "/apis/%s", group);
    kube_response r = {0};
    if (kube_get(c, path, timeout_ms, &r) != 0) {
        bool absent = r.http == 404;
        snprintf(error, 512, "group %.200s: %.300s", group, r.error);
        kube_response_free(&r);
        return absent ? 1 : -1;
    }
    cJSON *doc = r.body ? cJSON_ParseWithLength(r.body, r.len) : NULL;
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(doc, "preferredVersion");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(pv, "version");
    int rc = -1;
    if (cJSON_IsString(v) && strlen(v->valuestring) <= 63 && cap >= 320) {
        snprintf(out, cap, "%.253s/%.63s", group, v->valuestring);
        rc = 0;
    } else {
        snprintf(error, 512, "group %.200s: the API server's answer names no preferred version",
                 group);
    }
    cJSON_Delete(doc);
    kube_response_free(&r);
    return rc;
}

int audit_resolve_kind(kube_client *c, const audit_kind *k, long timeout_ms, kube_resource *out,
                       char error[512])
{
    char av[320] = "v1";
    if (k->group[0] != '\0') {
        if (!is_group(k->group)) {
            snprintf(error, 512, "%.200s is not an API group name", k->group);
            return -1;
        }
        int rc = preferred_version(c, k->group, timeout_ms, av, sizeof av, error);
        if (rc != 0)
            return rc;
    }
    if (kube_discover(c, av, k->kind, timeout_ms, out, error) == 0)
        return 0;
    return strncmp(error, "no kind ", 8) == 0 ? 1 : -1; /* kube_discover's "not served" */
}
