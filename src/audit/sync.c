/* sync.c - writing PolicyReports; see sync.h. */
#include "sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "../util/vec.h"

#define REPORTS_BASE "/apis/" REPORT_API_VERSION

static int client_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    return kube_get(arg, path, timeout_ms, r);
}

static int client_write(void *arg, enum kube_method m, const char *path, const char *body,
                        size_t len, long timeout_ms, kube_response *r)
{
    return kube_write(arg, m, path, body, len, timeout_ms, r);
}

static int client_list(void *arg, const char *path, long limit, long timeout_ms,
                       int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv,
                       size_t rv_cap, kube_response *r)
{
    return kube_list(arg, path, limit, timeout_ms, on_item, item_arg, rv, rv_cap, r);
}

report_api report_api_client(kube_client *c)
{
    return (report_api){.arg = c, .get = client_get, .write = client_write, .list = client_list};
}

/* A namespace name (a DNS label) needs no escaping in a path; anything else is refused. */
static bool is_ns(const char *ns)
{
    size_t n = strlen(ns);
    if (n > 63)
        return false;
    for (const char *p = ns; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static void report_path(const char *ns, char *out, size_t cap)
{
    if (ns[0] == '\0')
        snprintf(out, cap, REPORTS_BASE "/clusterpolicyreports/" REPORT_NAME);
    else
        snprintf(out, cap, REPORTS_BASE "/namespaces/%s/policyreports/" REPORT_NAME, ns);
}

typedef struct sync_run {
    const report_api *api;
    bool (*may_write)(void *arg);
    void *arg;
    long timeout_ms;
    report_sync_stats *st;
    bool first_try;  /* a conflict now is retried, not yet a failure */
    long last_http;  /* of the last write */
} sync_run;

static int write_one(sync_run *s, enum kube_method m, const char *path, const char *body,
                     const char *what)
{
    if (!s->may_write(s->arg)) {
        s->st->stopped = true;
        return -1;
    }
    kube_response r = {0};
    int rc = s->api->write(s->api->arg, m, path, body, body ? strlen(body) : 0, s->timeout_ms, &r);
    s->last_http = r.http;
    bool retried = s->first_try && r.http == 409;
    if (rc != 0 && !(m == KUBE_DELETE && r.http == 404) && !retried) {
        s->st->failed++;
        log_warn("audit", LOG_S("msg", "a report could not be written"), LOG_S("op", what),
                 LOG_S("path", path), LOG_S("error", r.error));
    }
    bool gone = m == KUBE_DELETE && r.http == 404;
    kube_response_free(&r);
    return rc == 0 || gone ? 0 : -1;
}

/* GET the report at 'path': 0 with '*have' (or NULL when it does not exist), -1 when the API
 * server could not be asked. */
static int read_report(sync_run *s, const char *path, cJSON **have)
{
    kube_response r = {0};
    *have = NULL;
    int rc = s->api->get(s->api->arg, path, s->timeout_ms, &r);
    if (rc == 0)
        *have = r.body ? cJSON_ParseWithLength(r.body, r.len) : NULL;
    bool absent = rc != 0 && kube_not_found(&r, REPORT_NAME);
    if (rc != 0 && !absent) {
        s->st->failed++;
        log_warn("audit", LOG_S("msg", "a report could not be read"), LOG_S("path", path),
                 LOG_S("error", r.error));
    }
    kube_response_free(&r);
    return rc == 0 ? (*have != NULL ? 0 : -1) : absent ? 0 : -1;
}

/* Makes the report of 'ns' what 'r' says; one retry after a conflict (someone wrote between
 * our GET and PUT). */
static int sync_ns(sync_run *s, report_set *r, const char *ns)
{
    char path[512];
    report_path(ns, path, sizeof path);
    for (int attempt = 0; attempt < 2; attempt++) {
        s->first_try = attempt == 0;
        cJSON *have;
        if (read_report(s, path, &have) != 0)
            return -1;
        cJSON *want = report_build(r, ns, have);
        if (want == NULL) {
            cJSON_Delete(have);
            return -1;
        }
        int rc = 0;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(have, "metadata");
        const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
        if (have != NULL && report_same(want, have)) {
            s->st->unchanged++;
        } else if (have != NULL && cJSON_IsString(rv)) {
            cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(want, "metadata"),
                                    "resourceVersion", rv->valuestring);
            char *body = cJSON_PrintUnformatted(want);
            rc = body ? write_one(s, KUBE_PUT, path, body, "update") : -1;
            s->st->updated += rc == 0;
            free(body);
        } else {
            char coll[512];
            snprintf(coll, sizeof coll, "%.*s", (int)(strrchr(path, '/') - path), path);
            char *body = cJSON_PrintUnformatted(want);
            rc = body ? write_one(s, KUBE_POST, coll, body, "create") : -1;
            s->st->created += rc == 0;
            free(body);
        }
        cJSON_Delete(have);
        cJSON_Delete(want);
        if (rc == 0 || s->st->stopped || s->last_http != 409)
            return rc;
    }
    return -1;
}

/* The namespaces of the streamguard PolicyReports in the cluster. */
typedef struct found {
    char **ns;
    size_t n, cap;
    bool oom;
} found;

static int on_report(void *arg, cJSON *item)
{
    found *f = arg;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(md, "labels"), REPORT_MANAGED_BY);
    int rc = 0;
    if (cJSON_IsString(name) && strcmp(name->valuestring, REPORT_NAME) == 0 &&
        cJSON_IsString(ns) && cJSON_IsString(by) && strcmp(by->valuestring, "streamguard") == 0) {
        char *copy = strdup(ns->valuestring);
        if (copy == NULL || vec_grow(NULL, f->ns, f->n, f->cap, 16) != 0) {
            free(copy);
            f->oom = true;
            rc = -1;
        } else {
            f->ns[f->n++] = copy;
        }
    }
    cJSON_Delete(item);
    return rc;
}

static bool has_ns(const char *const *v, size_t n, const char *ns)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], ns) == 0)
            return true;
    return false;
}

/* Deletes the reports of namespaces (and the cluster report) that have no results now. */
static int delete_stale(sync_run *s, const char *const *keep, size_t n_keep)
{
    found f = {0};
    kube_response r = {0};
    char rv[64], path[512];
    s->first_try = false;
    int rc = s->api->list(s->api->arg, REPORTS_BASE "/policyreports", 500, s->timeout_ms,
                          on_report, &f, rv, sizeof rv, &r);
    if (rc != 0) {
        s->st->failed++;
        log_warn("audit", LOG_S("msg", "the reports could not be listed"),
                 LOG_S("error", f.oom ? "out of memory" : r.error));
    }
    kube_response_free(&r);
    for (size_t i = 0; rc == 0 && i < f.n && !s->st->stopped; i++) {
        if (has_ns(keep, n_keep, f.ns[i]) || !is_ns(f.ns[i]))
            continue;
        report_path(f.ns[i], path, sizeof path);
        if (write_one(s, KUBE_DELETE, path, NULL, "delete") == 0)
            s->st->deleted++;
        else
            rc = -1;
    }
    for (size_t i = 0; i < f.n; i++)
        free(f.ns[i]);
    free(f.ns);
    if (rc != 0 || s->st->stopped || has_ns(keep, n_keep, ""))
        return rc;
    cJSON *have;
    report_path("", path, sizeof path);
    if (read_report(s, path, &have) != 0)
        return -1;
    if (have != NULL && write_one(s, KUBE_DELETE, path, NULL, "delete") == 0)
        s->st->deleted++;
    else if (have != NULL)
        rc = -1;
    cJSON_Delete(have);
    return rc;
}

int report_sync(const report_api *api, report_set *r, bool (*may_write)(void *arg), void *arg,
                long timeout_ms, report_sync_stats *st)
{
    memset(st, 0, sizeof *st);
    sync_run s = {.api = api, .may_write = may_write, .arg = arg, .timeout_ms = timeout_ms,
                  .st = st};
    size_t n;
    const char *const *nss = report_set_namespaces(r, &n);
    if (nss == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !st->stopped; i++) {
        if (!is_ns(nss[i])) {
            st->failed++;
            rc = -1;
            continue;
        }
        if (sync_ns(&s, r, nss[i]) != 0)
            rc = -1;
    }
    if (!st->stopped && delete_stale(&s, nss, n) != 0)
        rc = -1;
    return st->stopped ? -1 : rc;
}
