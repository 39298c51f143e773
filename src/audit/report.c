/* report.c - audit results as PolicyReports; see report.h. */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "../util/vec.h"

/* The results of one namespace, in the order they were added. */
typedef struct ns_report {
    char *ns;
    cJSON *results; /* an array */
    long summary[AUDIT_RESULT_COUNT];
} ns_report;

typedef struct policy_count {
    char *policy;
    long n[AUDIT_RESULT_COUNT];
} policy_count;

struct report_set {
    ns_report *v;
    size_t n, cap;
    size_t last; /* the namespace added to last: objects come namespace by namespace */
    policy_count *pc;
    size_t n_pc, cap_pc;
    const char **names; /* report_set_namespaces */
};

report_set *report_set_new(void)
{
    return calloc(1, sizeof(report_set));
}

void report_set_free(report_set *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].ns);
        cJSON_Delete(r->v[i].results);
    }
    for (size_t i = 0; i < r->n_pc; i++)
        free(r->pc[i].policy);
    free(r->v);
    free(r->pc);
    free(r->names);
    free(r);
}

static ns_report *ns_get(report_set *r, const char *ns)
{
    if (r->last < r->n && strcmp(r->v[r->last].ns, ns) == 0)
        return &r->v[r->last];
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].ns, ns) == 0)
            return &r->v[r->last = i];
    if (vec_grow(NULL, r->v, r->n, r->cap, 16) != 0)
        return NULL;
    ns_report *nr = &r->v[r->n];
    memset(nr, 0, sizeof *nr);
    nr->ns = strdup(ns);
    nr->results = cJSON_CreateArray();
    if (nr->ns == NULL || nr->results == NULL) {
        free(nr->ns);
        cJSON_Delete(nr->results);
        return NULL;
    }
    r->last = r->n++;
    return nr;
}

static policy_count *count_get(report_set *r, const char *policy)
{
    for (size_t i = 0; i < r->n_pc; i++)
        if (strcmp(r->pc[i].policy, policy) == 0)
            return &r->pc[i];
    if (vec_grow(NULL, r->pc, r->n_pc, r->cap_pc, 16) != 0)
        return NULL;
    policy_count *c = &r->pc[r->n_pc];
    memset(c, 0, sizeof *c);
    c->policy = strdup(policy);
    if (c->policy == NULL)
        return NULL;
    r->n_pc++;
    return c;
}

static const char *meta(const cJSON *o, const char *k)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"), k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The object as a result's resources[] entry (an ObjectReference). */
static cJSON *resource_ref(const cJSON *object)
{
    cJSON *ref = cJSON_CreateObject();
    bool ok = ref && cJSON_AddStringToObject(ref, "apiVersion", str(object, "apiVersion")) &&
              cJSON_AddStringToObject(ref, "kind", str(object, "kind")) &&
              cJSON_AddStringToObject(ref, "name", meta(object, "name"));
    if (ok && meta(object, "namespace")[0] != '\0')
        ok = cJSON_AddStringToObject(ref, "namespace", meta(object, "namespace")) != NULL;
    if (ok && meta(object, "uid")[0] != '\0')
        ok = cJSON_AddStringToObject(ref, "uid", meta(object, "uid")) != NULL;
    if (!ok) {
        cJSON_Delete(ref);
        return NULL;
    }
    return ref;
}

/* One result; 'severity' NULL: none (the field is optional). */
static cJSON *result_json(const cJSON *object, const char *policy, const char *rule,
                          enum audit_result result, const char *message, const char *severity,
                          long long now_s)
{
    cJSON *res = cJSON_CreateObject(), *refs = NULL, *ts = NULL;
    bool ok = res && cJSON_AddStringToObject(res, "policy", policy) &&
              cJSON_AddStringToObject(res, "rule", rule) &&
              cJSON_AddStringToObject(res, "result", audit_result_names[result]) &&
              cJSON_AddStringToObject(res, "message", message) &&
              (severity == NULL || cJSON_AddStringToObject(res, "severity", severity)) &&
              cJSON_AddStringToObject(res, "source", REPORT_SOURCE) &&
              cJSON_AddBoolToObject(res, "scored", true) &&
              (refs = cJSON_AddArrayToObject(res, "resources")) != NULL &&
              cJSON_AddItemToArray(refs, resource_ref(object)) &&
              (ts = cJSON_AddObjectToObject(res, "timestamp")) != NULL &&
              cJSON_AddNumberToObject(ts, "seconds", (double)now_s) &&
              cJSON_AddNumberToObject(ts, "nanos", 0);
    if (!ok) {
        cJSON_Delete(res);
        return NULL;
    }
    return res;
}

/* Appends one result to 'nr' and counts it. */
static int add_one(report_set *r, ns_report *nr, const cJSON *object, const char *policy,
                   const char *rule, enum audit_result result, const char *message,
                   const char *severity, long long now_s)
{
    policy_count *pc = count_get(r, policy);
    cJSON *res = pc ? result_json(object, policy, rule, result, message, severity, now_s) : NULL;
    if (res == NULL || !cJSON_AddItemToArray(nr->results, res)) {
        cJSON_Delete(res);
        return -1;
    }
    nr->summary[result]++;
    pc->n[result]++;
    return 0;
}

int report_set_add(report_set *r, const cJSON *object, const audit_outcome *o, long long now_s)
{
    if (o->n == 0)
        return 0;
    ns_report *nr = ns_get(r, meta(object, "namespace"));
    if (nr == NULL)
        return -1;
    for (size_t i = 0; i < o->n; i++) {
        const audit_rule_result *rr = &o->results[i];
        char rule[32];
        if (add_one(r, nr, object, rr->policy->name, audit_rule_name(rr->rule, rule), rr->result,
                    rr->message, rr->severity, now_s) != 0)
            return -1;
    }
    return 0;
}

int report_set_add_error(report_set *r, const cJSON *object, const char *reason, long long now_s)
{
    char msg[512];
    snprintf(msg, sizeof msg, "the object could not be audited: %.400s", reason);
    ns_report *nr = ns_get(r, meta(object, "namespace"));
    if (nr == NULL)
        return -1;
    return add_one(r, nr, object, REPORT_ERROR_POLICY, REPORT_ERROR_RULE, AUDIT_ERROR, msg, NULL,
                   now_s);
}

static int ns_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

const char *const *report_set_namespaces(report_set *r, size_t *n)
{
    free(r->names);
    r->names = calloc(r->n ? r->n : 1, sizeof *r->names);
    *n = 0;
    if (r->names == NULL)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (cJSON_GetArraySize(r->v[i].results) > 0)
            r->names[(*n)++] = r->v[i].ns;
    qsort(r->names, *n, sizeof *r->names, ns_cmp);
    return r->names;
}

long report_set_count(const report_set *r, const char *policy, enum audit_result result)
{
    for (size_t i = 0; i < r->n_pc; i++)
        if (strcmp(r->pc[i].policy, policy) == 0)
            return r->pc[i].n[result];
    return 0;
}

/* ---- building one report ---- */

/* True when results 'a' and 'b' are equal in everything but their timestamps. */
static bool same_but_time(const cJSON *a, const cJSON *b)
{
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
        return false;
    for (const cJSON *m = a->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "timestamp") == 0)
            continue;
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, m->string);
        if (o == NULL || !cJSON_Compare(m, o, true))
            return false;
    }
    return true;
}

/* Gives 'res' the timestamp of its equal in 'have' (results of the report as it is), if any;
 * '*hint' is where the last one was found: results keep their order from round to round. */
static void keep_timestamp(cJSON *res, const cJSON *have, int *hint)
{
    int n = cJSON_GetArraySize(have);
    for (int k = 0; k < n; k++) {
        int i = (*hint + k) % n;
        const cJSON *old = cJSON_GetArrayItem(have, i);
        if (!cJSON_IsObject(old) || !same_but_time(res, old))
            continue;
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(old, "timestamp");
        cJSON *copy = ts ? cJSON_Duplicate(ts, true) : NULL;
        if (copy != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(res, "timestamp", copy);
        *hint = i + 1;
        return;
    }
}

static size_t printed_size(const cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    size_t n = s ? strlen(s) : (size_t)-1;
    free(s);
    return n;
}

/* A report above REPORT_MAX_BYTES: its pass results go, then the last results until it fits. */
static void fit(cJSON *rep, const char *ns)
{
    cJSON *results = cJSON_GetObjectItemCaseSensitive(rep, "results");
    size_t size = printed_size(rep);
    if (size <= REPORT_MAX_BYTES)
        return;
    for (int i = cJSON_GetArraySize(results) - 1; i >= 0; i--)
        if (strcmp(str(cJSON_GetArrayItem(results, i), "result"), "pass") == 0)
            cJSON_DeleteItemFromArray(results, i);
    int dropped = 0;
    while ((size = printed_size(rep)) > REPORT_MAX_BYTES && cJSON_GetArraySize(results) > 0) {
        int n = cJSON_GetArraySize(results), cut = n / 10 > 0 ? n / 10 : 1;
        for (int i = 0; i < cut; i++)
            cJSON_DeleteItemFromArray(results, n - 1 - i);
        dropped += cut;
    }
    log_warn("audit", LOG_S("msg", "a report is too large: pass results left out"),
             LOG_S("namespace", ns), LOG_I("dropped_failures", dropped),
             LOG_I("max_bytes", (long)REPORT_MAX_BYTES));
}

static cJSON *report_shell(const char *ns)
{
    cJSON *rep = cJSON_CreateObject(), *md = NULL, *labels = NULL;
    bool ok = rep && cJSON_AddStringToObject(rep, "apiVersion", REPORT_API_VERSION) &&
              cJSON_AddStringToObject(rep, "kind",
                                      ns[0] ? "PolicyReport" : "ClusterPolicyReport") &&
              (md = cJSON_AddObjectToObject(rep, "metadata")) != NULL &&
              cJSON_AddStringToObject(md, "name", REPORT_NAME) &&
              (ns[0] == '\0' || cJSON_AddStringToObject(md, "namespace", ns)) &&
              (labels = cJSON_AddObjectToObject(md, "labels")) != NULL &&
              cJSON_AddStringToObject(labels, REPORT_MANAGED_BY, "streamguard");
    if (!ok) {
        cJSON_Delete(rep);
        return NULL;
    }
    return rep;
}

cJSON *report_build(const report_set *r, const char *ns, const cJSON *existing)
{
    const ns_report *nr = NULL;
    for (size_t i = 0; i < r->n && nr == NULL; i++)
        if (strcmp(r->v[i].ns, ns) == 0)
            nr = &r->v[i];
    cJSON *rep = report_shell(ns), *sum = NULL;
    cJSON *results = nr ? cJSON_Duplicate(nr->results, true) : cJSON_CreateArray();
    bool ok = rep && results && (sum = cJSON_AddObjectToObject(rep, "summary")) != NULL;
    for (int k = 0; ok && k < AUDIT_RESULT_COUNT; k++)
        ok = cJSON_AddNumberToObject(sum, audit_result_names[k], nr ? (double)nr->summary[k] : 0);
    if (!ok || !cJSON_AddItemToObject(rep, "results", results)) {
        cJSON_Delete(rep);
        cJSON_Delete(results);
        return NULL;
    }
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(existing, "results");
    int hint = 0;
    if (cJSON_IsArray(have) && cJSON_GetArraySize(have) > 0)
        for (cJSON *res = results->child; res != NULL; res = res->next)
            keep_timestamp(res, have, &hint);
    fit(rep, ns);
    return rep;
}

bool report_same(const cJSON *want, const cJSON *have)
{
    const char *keys[] = {"summary", "results"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(want, keys[i]);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(have, keys[i]);
        if (a == NULL || b == NULL || !cJSON_Compare(a, b, true))
            return false;
    }
    /* The label that the LIST of stale reports finds them by (sync.c) must be there too. */
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(have, "metadata"),
                                         "labels"),
        REPORT_MANAGED_BY);
    return cJSON_IsString(by) && strcmp(by->valuestring, "streamguard") == 0;
}
