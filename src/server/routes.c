/* routes.c - the route table and its handlers; see routes.h. */
#include "routes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../admission/decide.h"
#include "../util/arena.h"
#include "../util/buf.h"
#include "certmgr.h"
#include "cluster.h"
#include "http_int.h"
#include "metrics.h"

/* POST /validate, POST /mutate: the review through admission_process(), with the policy set
 * of the moment (a reference the request holds until it completes). */
static enum MHD_Result answer_review(server *s, struct MHD_Connection *c, struct request *r,
                                     enum admission_mode mode)
{
    r->arena = server_request_arena(r->body.len);
    if (r->arena == NULL)
        return MHD_NO;
    const char *body = r->body.data ? r->body.data : "";
    pthread_mutex_lock(&s->lock);
    r->policies = s->policies ? policy_set_ref(s->policies) : NULL;
    r->stats = policy_stats_ref(s->stats);
    pthread_mutex_unlock(&s->lock);
    admission_policy pol = {
        .set = r->policies, .warn_only = s->cfg.warn_only, .lookup = &s->lookup};
    policy_stats_probe probe;
    policy_observer counting;
    if (r->stats != NULL && r->policies != NULL) {
        policy_stats_observer(r->stats, r->policies, &probe, &counting);
        pol.observer = &counting;
    }
    admission_process(mode, body, r->body.len, &pol, r->arena, &r->res);
    buf_clear(&r->body);
    r->decision = (int)r->res.decision;
    r->reason = r->res.reason;
    if (r->res.body == NULL)
        return server_reply_error(s, c, r, 500, "InternalError", "out of memory");
    char *out = r->res.body;
    r->res.body = NULL;
    return server_reply(s, c, r, r->res.http_status, "application/json", out, r->res.body_len,
                        true);
}

static enum MHD_Result answer_validate(server *s, struct MHD_Connection *c, struct request *r)
{
    return answer_review(s, c, r, ADMISSION_VALIDATE);
}

static enum MHD_Result answer_mutate(server *s, struct MHD_Connection *c, struct request *r)
{
    return answer_review(s, c, r, ADMISSION_MUTATE);
}

static char text_ok[] = "ok\n", text_draining[] = "draining\n", text_not_ready[] = "not ready\n";

static enum MHD_Result answer_healthz(server *s, struct MHD_Connection *c, struct request *r)
{
    return server_reply(s, c, r, 200, "text/plain", text_ok, sizeof text_ok - 1, false);
}

/* Ready: certificates and policies loaded, not draining, the cluster caches synced. */
static enum MHD_Result answer_readyz(server *s, struct MHD_Connection *c, struct request *r)
{
    if (atomic_load(&s->draining))
        return server_reply(s, c, r, 503, "text/plain", text_draining, sizeof text_draining - 1,
                            false);
    if (!atomic_load(&s->ready) || !cluster_ready(s->cfg.cluster))
        return server_reply(s, c, r, 503, "text/plain", text_not_ready, sizeof text_not_ready - 1,
                            false);
    return server_reply(s, c, r, 200, "text/plain", text_ok, sizeof text_ok - 1, false);
}

static enum MHD_Result answer_metrics(server *s, struct MHD_Connection *c, struct request *r)
{
    buf out;
    buf_init(&out, (size_t)1 << 20);
    metrics_set_ready(atomic_load(&s->ready) && !atomic_load(&s->draining) &&
                      cluster_ready(s->cfg.cluster));
    pthread_mutex_lock(&s->lock);
    policy_stats *stats = policy_stats_ref(s->stats);
    pthread_mutex_unlock(&s->lock);
    int rc = metrics_render(&out) | policy_stats_render(stats, &out);
    policy_stats_unref(stats);
    if (rc != 0 || cluster_metrics(s->cfg.cluster, &out) != 0 || certmgr_metrics(&out) != 0 ||
        out.data == NULL) {
        buf_clear(&out);
        return server_reply_error(s, c, r, 500, "InternalError", "metrics do not fit the buffer");
    }
    size_t len = out.len;
    return server_reply(s, c, r, 200, "text/plain; version=0.0.4", buf_take(&out), len, true);
}

/* HEAD goes with GET: libmicrohttpd sends the headers of the GET answer without its body. */
const server_route server_routes[EP_COUNT] = {
    [EP_VALIDATE] = {"/validate", "POST", answer_validate, "validate", true},
    [EP_MUTATE] = {"/mutate", "POST", answer_mutate, "mutate", true},
    [EP_HEALTHZ] = {"/healthz", "GET, HEAD", answer_healthz, "healthz", false},
    [EP_READYZ] = {"/readyz", "GET, HEAD", answer_readyz, "readyz", false},
    [EP_METRICS] = {"/metrics", "GET, HEAD", answer_metrics, "metrics", false},
    [EP_OTHER] = {NULL, NULL, NULL, "other", false},
};

enum server_endpoint server_route_find(const char *path)
{
    for (size_t i = 0; i < EP_COUNT; i++) {
        if (server_routes[i].path != NULL && strcmp(path, server_routes[i].path) == 0)
            return (enum server_endpoint)i;
    }
    return EP_OTHER;
}

bool server_route_allows(const server_route *rt, const char *method)
{
    size_t n = strlen(method);
    for (const char *m = rt->methods; m != NULL && *m != '\0';) {
        size_t len = strcspn(m, ",");
        if (len == n && strncmp(m, method, n) == 0)
            return true;
        m += len;
        m += strspn(m, ", ");
    }
    return false;
}

void server_route_paths(char *out, size_t cap)
{
    size_t total = 0, done = 0, len = 0;
    for (size_t i = 0; i < EP_COUNT; i++)
        total += server_routes[i].path != NULL;
    out[0] = '\0';
    for (size_t i = 0; i < EP_COUNT; i++) {
        if (server_routes[i].path == NULL)
            continue;
        const char *sep = done == 0 ? "" : done + 1 == total ? " or " : ", ";
        int w = snprintf(out + len, cap - len, "%s%s", sep, server_routes[i].path);
        if (w < 0 || (size_t)w >= cap - len)
            return; /* truncated */
        len += (size_t)w;
        done++;
    }
}
