/* lease.c - leader election on a coordination.k8s.io/v1 Lease; see lease.h.
 *
 * The state machine follows client-go's tools/leaderelection: a step reads the Lease (or, as
 * the leader, first tries to renew the copy it holds), compares the record with the one it
 * observed last, and notes the local time whenever it changed; a record held by another
 * replica is left alone until that many seconds have passed since the change was seen. Only
 * the elector's thread touches the observed record; other threads read two atomics (leading,
 * valid_until) and a counter. */
#include "lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../util/file.h"
#include "../util/log.h"
#include "../util/clock.h"

#define LEASE_API "/apis/coordination.k8s.io/v1/namespaces/"
#define JITTER 1.2 /* client-go's JitterFactor: a follower waits 1 to 2.2 retry periods */
#define RELEASE_TIMEOUT_MS 5000L

/* The fields of a Lease's spec that the election reads. */
typedef struct lease_record {
    char *holder; /* "" when nobody holds it */
    long long duration_s;
    long long transitions;
    char *acquire; /* kept as written: renewals keep the holder's acquireTime */
} lease_record;

struct lease_elector {
    lease_api api;
    lease_clock clock;
    char *ns, *name, *identity;
    long lease_ms, renew_ms, retry_ms;
    void (*on_started)(void *), (*on_stopped)(void *);
    void *cb_arg;
    char path[400], coll[400];
    char desc[320]; /* "namespace/name", for the logs */
    uint64_t rng;

    /* The elector's own state (its thread, or the caller of step). */
    lease_record obs;
    char *obs_raw; /* the spec as last read, for "did it change" */
    int64_t obs_at;
    cJSON *obj; /* the Lease last read or written: its resourceVersion conditions a PUT */
    bool leading;
    int64_t valid_until;
    char last_error[512]; /* logged at warn once per run of the same failure */

    atomic_bool pub_leading;
    atomic_llong pub_valid_until;
    atomic_ullong transitions;

    pthread_mutex_t mu; /* guards the wait and the fields below */
    pthread_cond_t cv;
    atomic_bool stop;
    bool started, released;
    pthread_t thread;
};

/* ---- clocks, names, identity ------------------------------------------------------------ */

static int64_t real_mono_ms(void *arg)
{
    (void)arg;
    return clock_mono_ms();
}

static int64_t real_wall_us(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono(const lease_elector *e)
{
    return e->clock.mono_ms(e->clock.arg);
}

/* A MicroTime as the API server writes it: "2026-11-27T14:30:00.123456Z". */
static void micro_time(int64_t us, char out[40])
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06dZ", (int)(us % 1000000));
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32;
    }
    return v ? v : 1;
}

/* retry period x [1, 1 + JITTER): replicas that fail together do not retry together. */
static long jittered(lease_elector *e)
{
    double f = (double)(rng_next(&e->rng) >> 11) / (double)(1ull << 53);
    return e->retry_ms + (long)((double)e->retry_ms * JITTER * f);
}

int lease_identity_new(char *out, size_t cap)
{
    char host[256] = "";
    const char *pod = getenv("POD_NAME");
    if (pod != NULL && pod[0] != '\0')
        snprintf(host, sizeof host, "%s", pod);
    else if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "streamguard");
    host[sizeof host - 1] = '\0';
    int n = snprintf(out, cap, "%.200s_%016llx", host, (unsigned long long)random_u64());
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static bool is_dns_name(const char *s, bool label);

int lease_pod_namespace(const char *sa_dir, char *out, size_t cap, diag_list *dl)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/namespace", sa_dir);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 1;
    buf b;
    buf_init(&b, 4096);
    int rc = file_read(path, 4096, &b, dl);
    if (rc == 0) {
        size_t s = 0, n = b.len;
        while (s < n && strchr(" \t\r\n", b.data[s]))
            s++;
        while (n > s && strchr(" \t\r\n", b.data[n - 1]))
            n--;
        srcpos at = {.file = path};
        if (n - s >= cap || n - s > 63) {
            diag_add(dl, DIAG_ERROR, "lease.config", &at, "does not hold a namespace name");
            rc = -1;
        } else {
            memcpy(out, b.data + s, n - s);
            out[n - s] = '\0';
        }
    }
    buf_clear(&b);
    if (rc == 0 && !is_dns_name(out, true)) {
        srcpos at = {.file = path};
        diag_add(dl, DIAG_ERROR, "lease.config", &at, "does not hold a namespace name");
        rc = -1;
    }
    return rc;
}

int lease_own_namespace(const char *given, const char *sa_dir, const char *context_ns,
                        char *out, size_t cap, diag_list *dl)
{
    if (given != NULL) {
        snprintf(out, cap, "%s", given);
        return 0;
    }
    int rc = lease_pod_namespace(sa_dir, out, cap, dl);
    if (rc <= 0)
        return rc;
    if (context_ns == NULL)
        return 1;
    snprintf(out, cap, "%s", context_ns);
    return 0;
}

/* A DNS subdomain (a Lease's name) or, with 'label', a DNS label (a namespace). */
static bool is_dns_name(const char *s, bool label)
{
    size_t n = strlen(s);
    if (n == 0 || n > (label ? 63u : 253u))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum)
            continue;
        if (c == '-' && i > 0 && i + 1 < n && s[i - 1] != '.' && s[i + 1] != '.')
            continue;
        if (c == '.' && !label && i > 0 && i + 1 < n && s[i - 1] != '.')
            continue;
        return false;
    }
    return true;
}

/* ---- construction ------------------------------------------------------------------------ */

static int check_opts(const lease_opts *o, long lease, long renew, long retry, diag_list *dl)
{
    const char *bad = NULL;
    if (o->namespace_ == NULL || !is_dns_name(o->namespace_, true))
        bad = "the namespace of the Lease must be a namespace name";
    else if (o->name == NULL || !is_dns_name(o->name, false))
        bad = "the name of the Lease must be a DNS subdomain";
    else if (o->identity == NULL || o->identity[0] == '\0' || strlen(o->identity) > 253)
        bad = "the identity must be 1 to 253 bytes";
    else if (lease <= renew)
        bad = "the lease duration must be longer than the renew deadline";
    else if ((double)renew <= JITTER * (double)retry)
        bad = "the renew deadline must be longer than 1.2 retry periods";
    else if (retry <= 0)
        bad = "the retry period must be positive";
    if (bad == NULL)
        return 0;
    diag_add(dl, DIAG_ERROR, "lease.config", NULL, "%s", bad);
    return -1;
}

lease_elector *lease_elector_new(const lease_api *api, const lease_opts *o, diag_list *dl)
{
    long lease = o->lease_duration_ms ? o->lease_duration_ms : 15000;
    long renew = o->renew_deadline_ms ? o->renew_deadline_ms : 10000;
    long retry = o->retry_period_ms ? o->retry_period_ms : 2000;
    if (check_opts(o, lease, renew, retry, dl) != 0)
        return NULL;
    lease_elector *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->api = *api;
    e->clock = o->clock ? *o->clock : (lease_clock){.mono_ms = real_mono_ms,
                                                     .wall_us = real_wall_us};
    e->ns = strdup(o->namespace_);
    e->name = strdup(o->name);
    e->identity = strdup(o->identity);
    e->obs.holder = strdup("");
    e->obs.acquire = strdup("");
    if (e->ns == NULL || e->name == NULL || e->identity == NULL || e->obs.holder == NULL ||
        e->obs.acquire == NULL) {
        lease_elector_free(e);
        return NULL;
    }
    e->lease_ms = lease;
    e->renew_ms = renew;
    e->retry_ms = retry;
    e->on_started = o->on_started;
    e->on_stopped = o->on_stopped;
    e->cb_arg = o->cb_arg;
    e->rng = o->seed ? o->seed : random_u64();
    snprintf(e->coll, sizeof e->coll, LEASE_API "%s/leases", e->ns);
    snprintf(e->path, sizeof e->path, LEASE_API "%s/leases/%s", e->ns, e->name);
    snprintf(e->desc, sizeof e->desc, "%s/%s", e->ns, e->name);
    return e;
}

/* ---- the record ---------------------------------------------------------------------------- */

static void record_clear(lease_record *r)
{
    free(r->holder);
    free(r->acquire);
    memset(r, 0, sizeof *r);
}

static long long int_field(const cJSON *spec, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0))
        return 0; /* absent, not a number or negative: as client-go's zero value */
    return v->valuedouble > 2147483647.0 ? 2147483647LL : (long long)v->valuedouble;
}

static const char *str_field(const cJSON *spec, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The record of the Lease 'obj' into 'out' (malloc'd strings) and its raw form into '*raw':
 * the spec printed and the resourceVersion. client-go compares the record alone; with the
 * resourceVersion every write counts as a change, so a holder whose clock stood still (the
 * same renewTime written twice) is still seen renewing. Returns 0, or -1 out of memory. */
static int record_read(const cJSON *obj, lease_record *out, char **raw)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    out->holder = strdup(str_field(spec, "holderIdentity"));
    out->acquire = strdup(str_field(spec, "acquireTime"));
    out->duration_s = int_field(spec, "leaseDurationSeconds");
    out->transitions = int_field(spec, "leaseTransitions");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    char *text = spec ? cJSON_PrintUnformatted(spec) : NULL;
    if (asprintf(raw, "%s %s", text ? text : "-", str_field(md, "resourceVersion")) < 0)
        *raw = NULL;
    free(text);
    if (out->holder == NULL || out->acquire == NULL || *raw == NULL) {
        record_clear(out);
        free(*raw);
        *raw = NULL;
        return -1;
    }
    return 0;
}

/* Takes 'obj' (a Lease read or written) as the observed one; 'now' is when it was seen. A
 * record that differs from the one observed before restarts the observed time. */
static void observe(lease_elector *e, cJSON *obj, int64_t now)
{
    lease_record rec = {0};
    char *raw = NULL;
    if (record_read(obj, &rec, &raw) != 0) {
        cJSON_Delete(obj);
        return;
    }
    cJSON_Delete(e->obj);
    e->obj = obj;
    if (e->obs_raw != NULL && strcmp(raw, e->obs_raw) == 0) {
        free(raw);
        record_clear(&rec);
        return;
    }
    if (strcmp(rec.holder, e->obs.holder) != 0 && rec.holder[0] != '\0')
        log_info("lease", LOG_S("msg", "the leader is"), LOG_S("holder", rec.holder),
                 LOG_S("lease", e->desc),
                 LOG_B("self", strcmp(rec.holder, e->identity) == 0));
    record_clear(&e->obs);
    e->obs = rec;
    free(e->obs_raw);
    e->obs_raw = raw;
    e->obs_at = now;
}

/* The Lease to write: 'base' (the one read; NULL: a new one) with its spec replaced. Returns
 * the printed body (malloc'd) or NULL. */
static char *lease_body(const lease_elector *e, const cJSON *base, const char *holder,
                        long long duration_s, const char *acquire, const char *renew,
                        long long transitions)
{
    cJSON *o = base ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
    cJSON *spec = cJSON_CreateObject();
    if (o == NULL || spec == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(spec);
        return NULL;
    }
    if (base == NULL) {
        cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(o, "kind", "Lease");
        cJSON *md = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(md, "name", e->name);
        cJSON_AddStringToObject(md, "namespace", e->ns);
    }
    cJSON_AddStringToObject(spec, "holderIdentity", holder);
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)duration_s);
    cJSON_AddStringToObject(spec, "acquireTime", acquire);
    cJSON_AddStringToObject(spec, "renewTime", renew);
    cJSON_AddNumberToObject(spec, "leaseTransitions", (double)transitions);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "spec");
    cJSON_AddItemToObject(o, "spec", spec);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ---- requests -------------------------------------------------------------------------- */

enum try_result { TRY_OK, TRY_HELD, TRY_FAILED };

/* Logs a failure at warn the first time it happens in a row, at debug while it repeats (a
 * follower retries every 2 s through an outage). */
static void note_error(lease_elector *e, const char *what, const char *error)
{
    char msg[sizeof e->last_error];
    snprintf(msg, sizeof msg, "%s: %s", what, error);
    if (strcmp(msg, e->last_error) == 0) {
        log_debug("lease", LOG_S("msg", what), LOG_S("error", error));
        return;
    }
    snprintf(e->last_error, sizeof e->last_error, "%s", msg);
    log_warn("lease", LOG_S("msg", what), LOG_S("error", error),
             LOG_S("lease", e->desc));
}

/* Milliseconds left before 'deadline', 0 when none (no request is started then). */
static long left_ms(const lease_elector *e, int64_t deadline)
{
    int64_t l = deadline - mono(e);
    return l > 0 ? (long)l : 0;
}

/* Parses a Lease answer and observes it. Returns 0, or -1 with 'r->error' set. */
static int take_answer(lease_elector *e, kube_response *r)
{
    cJSON *obj = r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL;
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        snprintf(r->error, sizeof r->error, "the answer is not a Lease");
        return -1;
    }
    observe(e, obj, mono(e));
    return 0;
}

/* One write of 'body' (freed here), its answer observed. Returns 0, or -1 with 'r' telling
 * why ('r->http' 409: the Lease changed since it was read). */
static int put_lease(lease_elector *e, enum kube_method m, char *body, int64_t deadline,
                     kube_response *r)
{
    memset(r, 0, sizeof *r);
    long t = left_ms(e, deadline);
    if (body == NULL || t == 0) {
        snprintf(r->error, sizeof r->error, body ? "no time left" : "out of memory");
        free(body);
        return -1;
    }
    const char *path = m == KUBE_POST ? e->coll : e->path;
    int rc = e->api.write(e->api.arg, m, path, body, strlen(body), t, r);
    free(body);
    if (rc == 0)
        rc = take_answer(e, r);
    return rc;
}

/* The leader's renewal of the Lease it last wrote, without reading it first (client-go's
 * fast path). Returns 0, 1 when the Lease changed since or is gone (read it again: a 409 or a
 * 404, e.g. someone deleted it), -1 on failure. */
static int renew_fast(lease_elector *e, const char *now, int64_t deadline)
{
    kube_response r;
    char *body = lease_body(e, e->obj, e->identity, e->lease_ms / 1000, e->obs.acquire, now,
                            e->obs.transitions);
    int rc = put_lease(e, KUBE_PUT, body, deadline, &r);
    if (rc != 0 && (r.http == 409 || r.http == 404)) {
        log_debug("lease", LOG_S("msg", "the lease changed since it was renewed: reading it"),
                  LOG_I("http", r.http));
        rc = 1;
    } else if (rc != 0) {
        note_error(e, "cannot renew the lease", r.error);
    }
    kube_response_free(&r);
    return rc;
}

/* Reads the Lease (creating it when there is none) and takes or renews it unless another
 * replica holds it and has not let it expire. A conflict reads it once more. */
static enum try_result acquire_or_renew(lease_elector *e, int64_t t0, const char *now,
                                        int64_t deadline)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        kube_response r;
        memset(&r, 0, sizeof r);
        long t = left_ms(e, deadline);
        if (t == 0)
            return TRY_FAILED;
        if (e->api.get(e->api.arg, e->path, t, &r) != 0) {
            bool missing = kube_not_found(&r, e->name);
            if (!missing)
                note_error(e, "cannot read the lease", r.error);
            kube_response_free(&r);
            if (!missing)
                return TRY_FAILED;
            char *body = lease_body(e, NULL, e->identity, e->lease_ms / 1000, now, now, 0);
            int rc = put_lease(e, KUBE_POST, body, deadline, &r);
            if (rc != 0)
                note_error(e, "cannot create the lease", r.error);
            kube_response_free(&r);
            return rc == 0 ? TRY_OK : TRY_FAILED;
        }
        int rc = take_answer(e, &r);
        if (rc != 0)
            note_error(e, "cannot read the lease", r.error);
        kube_response_free(&r);
        if (rc != 0)
            return TRY_FAILED;
        bool ours = strcmp(e->obs.holder, e->identity) == 0;
        /* Expiry is the local time the record was seen to change plus its duration: never
         * the holder's renewTime, which another node's clock wrote. */
        if (!ours && e->obs.holder[0] != '\0' && e->obs_at + e->obs.duration_s * 1000 > t0)
            return TRY_HELD;
        char *body = lease_body(e, e->obj, e->identity, e->lease_ms / 1000,
                                ours ? e->obs.acquire : now, now,
                                ours ? e->obs.transitions : e->obs.transitions + 1);
        rc = put_lease(e, KUBE_PUT, body, deadline, &r);
        long http = r.http;
        if (rc != 0 && http != 409)
            note_error(e, ours ? "cannot renew the lease" : "cannot take the lease", r.error);
        kube_response_free(&r);
        if (rc == 0)
            return TRY_OK;
        if (http != 409)
            return TRY_FAILED;
        log_debug("lease", LOG_S("msg", "conflict: another replica wrote the lease; reading it"));
    }
    return TRY_FAILED;
}

/* ---- the state machine ------------------------------------------------------------------ */

static void start_leading(lease_elector *e)
{
    e->leading = true;
    atomic_store(&e->pub_valid_until, e->valid_until);
    atomic_store(&e->pub_leading, true);
    atomic_fetch_add(&e->transitions, 1);
    log_info("lease", LOG_S("msg", "became the leader"), LOG_S("identity", e->identity),
             LOG_S("lease", e->desc),
             LOG_I("lease_transitions", e->obs.transitions));
    if (e->on_started)
        e->on_started(e->cb_arg);
}

static void stop_leading(lease_elector *e, const char *why, bool clean)
{
    if (!e->leading)
        return;
    e->leading = false;
    atomic_store(&e->pub_leading, false);
    atomic_fetch_add(&e->transitions, 1);
    if (clean)
        log_info("lease", LOG_S("msg", "stopped leading"), LOG_S("reason", why),
                 LOG_S("identity", e->identity));
    else
        log_warn("lease", LOG_S("msg", "stopped leading"), LOG_S("reason", why),
                 LOG_S("identity", e->identity));
    if (e->on_stopped)
        e->on_stopped(e->cb_arg);
}

long lease_elector_step(lease_elector *e)
{
    int64_t t0 = mono(e);
    if (e->leading && t0 >= e->valid_until) {
        stop_leading(e, "the renew deadline passed", false);
        return jittered(e);
    }
    char now[40];
    micro_time(e->clock.wall_us(e->clock.arg), now);
    int64_t deadline = e->leading ? e->valid_until : t0 + e->renew_ms;
    int fast = e->leading && e->obj != NULL ? renew_fast(e, now, deadline) : 1;
    enum try_result tr = fast == 0   ? TRY_OK
                         : fast > 0 ? acquire_or_renew(e, t0, now, deadline)
                                    : TRY_FAILED;
    if (tr == TRY_OK) {
        e->last_error[0] = '\0';
        /* Counted from before the request: however long it took, this replica stops
         * leading before anyone who saw the write may take the Lease over. */
        e->valid_until = t0 + e->retry_ms + e->renew_ms;
        atomic_store(&e->pub_valid_until, e->valid_until);
        if (!e->leading)
            start_leading(e);
        return e->retry_ms;
    }
    if (!e->leading)
        return jittered(e);
    if (tr == TRY_HELD) {
        stop_leading(e, "another replica holds the lease", false);
        return jittered(e);
    }
    long left = left_ms(e, e->valid_until);
    if (left == 0) {
        stop_leading(e, "the renew deadline passed", false);
        return jittered(e);
    }
    return left < e->retry_ms ? left : e->retry_ms;
}

bool lease_elector_is_leader(const lease_elector *e)
{
    if (e == NULL || !atomic_load(&e->pub_leading))
        return false;
    return mono(e) < atomic_load(&e->pub_valid_until);
}

/* Gives the Lease up when this replica holds it (as client-go's ReleaseOnCancel): holder
 * emptied, duration 1 s, renewTime now, the transitions kept, conditioned on the
 * resourceVersion last seen, so a Lease another replica took meanwhile is left alone. */
static void give_up(lease_elector *e)
{
    stop_leading(e, "stopping", true);
    if (e->obj == NULL || strcmp(e->obs.holder, e->identity) != 0)
        return;
    char now[40];
    micro_time(e->clock.wall_us(e->clock.arg), now);
    int64_t deadline = mono(e) + (e->renew_ms < RELEASE_TIMEOUT_MS ? e->renew_ms
                                                                   : RELEASE_TIMEOUT_MS);
    kube_response r;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *body = lease_body(e, e->obj, "", 1, now, now, e->obs.transitions);
        int rc = put_lease(e, KUBE_PUT, body, deadline, &r);
        long http = r.http;
        char error[sizeof r.error];
        snprintf(error, sizeof error, "%s", r.error);
        kube_response_free(&r);
        if (rc == 0) {
            log_info("lease", LOG_S("msg", "released the lease"),
                     LOG_S("lease", e->desc));
            return;
        }
        if (http != 409 || attempt > 0) {
            log_warn("lease", LOG_S("msg", "could not release the lease; it expires by itself"),
                     LOG_S("error", error));
            return;
        }
        /* Changed since: still ours? Read it, and give it up only if so. */
        long t = left_ms(e, deadline);
        int got = t > 0 ? e->api.get(e->api.arg, e->path, t, &r) : -1;
        if (got == 0)
            got = take_answer(e, &r);
        kube_response_free(&r);
        if (got != 0 || strcmp(e->obs.holder, e->identity) != 0)
            return;
    }
}

/* ---- the thread -------------------------------------------------------------------------- */

static void *run(void *arg)
{
    lease_elector *e = arg;
    if (e->api.thread_stop)
        e->api.thread_stop(&e->stop);
    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->stop)) {
        pthread_mutex_unlock(&e->mu);
        long ms = lease_elector_step(e);
        pthread_mutex_lock(&e->mu);
        if (atomic_load(&e->stop))
            break;
        struct timespec t = clock_mono_after_ms(ms);
        while (!atomic_load(&e->stop) && pthread_cond_timedwait(&e->cv, &e->mu, &t) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&e->mu);
    if (e->api.thread_stop)
        e->api.thread_stop(NULL);
    return NULL;
}

int lease_elector_start(lease_elector *e)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&e->cv);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&e->thread, NULL, run, e) != 0)
        return -1;
    e->started = true;
    log_info("lease", LOG_S("msg", "leader election started"), LOG_S("identity", e->identity),
             LOG_S("lease", e->desc), LOG_I("lease_duration_ms", e->lease_ms),
             LOG_I("renew_deadline_ms", e->renew_ms), LOG_I("retry_period_ms", e->retry_ms));
    return 0;
}

void lease_elector_release(lease_elector *e)
{
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->mu);
    bool first = !e->released;
    e->released = true;
    atomic_store(&e->stop, true);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (!first)
        return;
    if (e->started)
        pthread_join(e->thread, NULL);
    e->started = false;
    give_up(e);
}

void lease_elector_free(lease_elector *e)
{
    if (e == NULL)
        return;
    if (e->path[0] != '\0') /* made whole by lease_elector_new */
        lease_elector_release(e);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    cJSON_Delete(e->obj);
    record_clear(&e->obs);
    free(e->obs_raw);
    free(e->ns);
    free(e->name);
    free(e->identity);
    free(e);
}

int lease_elector_metrics(const lease_elector *e, buf *out)
{
    int rc = buf_printf(out,
                        "# HELP streamguard_leader 1 while this replica holds the leader "
                        "election Lease (--leader-elect), else 0.\n"
                        "# TYPE streamguard_leader gauge\n"
                        "streamguard_leader %d\n"
                        "# HELP streamguard_leader_transitions_total Times this replica became "
                        "or stopped being the leader.\n"
                        "# TYPE streamguard_leader_transitions_total counter\n"
                        "streamguard_leader_transitions_total %llu\n",
                        lease_elector_is_leader(e) ? 1 : 0,
                        (unsigned long long)atomic_load(&e->transitions));
    return rc;
}

/* ---- the real API ------------------------------------------------------------------------ */

static int client_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    return kube_get(arg, path, timeout_ms, r);
}

static int client_write(void *arg, enum kube_method m, const char *path, const char *body,
                        size_t len, long timeout_ms, kube_response *r)
{
    return kube_write(arg, m, path, body, len, timeout_ms, r);
}

lease_api lease_api_client(kube_client *c)
{
    return (lease_api){.arg = c, .get = client_get, .write = client_write,
                       .thread_stop = kube_thread_stop};
}
