/* test_kube_lease.c - leader election (src/kube/lease.c) against a scripted API server that
 * keeps one Lease the way kube-apiserver does (404 until created, 409 on a stale
 * resourceVersion or a second create), with a fake clock: creation, renewal without a read,
 * take-over only after the lease duration as observed locally (whatever the holder's
 * timestamps say), a leader that cannot renew stops before another may take over, conflicts,
 * release on stop, bad Lease content, and two electors on real threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/lease.c"

/* ---- the scripted API server and the clock ------------------------------------------------ */

typedef struct fake_clock {
    int64_t mono_ms, wall_us;
} fake_clock;

static int64_t fake_mono(void *arg)
{
    return ((fake_clock *)arg)->mono_ms;
}

static int64_t fake_wall(void *arg)
{
    return ((fake_clock *)arg)->wall_us;
}

typedef struct fake_server {
    pthread_mutex_t mu;
    cJSON *lease; /* the stored Lease; NULL: none */
    long rv;
    int fail;        /* the next this many calls fail... */
    long fail_http;  /* ...with this status (0: no answer) */
    fake_clock *clock;
    long latency_ms; /* each call advances the fake clock this much */
    long last_timeout_ms;
    int gets, puts, posts, calls;
    void (*before_put)(struct fake_server *s); /* another writer, just before a PUT lands */
} fake_server;

static void server_init(fake_server *s, fake_clock *c)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->clock = c;
}

static void server_clear(fake_server *s)
{
    cJSON_Delete(s->lease);
    pthread_mutex_destroy(&s->mu);
}

static void answer(kube_response *r, long http, const char *body)
{
    r->http = http;
    r->body = strdup(body);
    r->len = strlen(body);
    if (http < 200 || http >= 300)
        snprintf(r->error, sizeof r->error, "HTTP %ld: %s", http, body);
}

/* Stores 'obj' with the next resourceVersion and answers it. */
static void store(fake_server *s, cJSON *obj, long http, kube_response *r)
{
    cJSON_Delete(s->lease);
    s->lease = obj;
    cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    char rv[32];
    snprintf(rv, sizeof rv, "%ld", ++s->rv);
    cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
    cJSON_AddStringToObject(md, "resourceVersion", rv);
    char *text = cJSON_PrintUnformatted(obj);
    answer(r, http, text);
    free(text);
}

/* A scripted failure, or 0. */
static int scripted_failure(fake_server *s, long timeout_ms, kube_response *r)
{
    memset(r, 0, sizeof *r);
    s->last_timeout_ms = timeout_ms;
    s->calls++;
    if (s->clock)
        s->clock->mono_ms += s->latency_ms;
    if (s->fail == 0)
        return 0;
    s->fail--;
    if (s->fail_http == 0) {
        snprintf(r->error, sizeof r->error, "connect to 127.0.0.1:6443: Connection refused");
        return -1;
    }
    answer(r, s->fail_http, "{\"kind\":\"Status\",\"reason\":\"InternalError\",\"message\":\"etcd "
                            "timeout\",\"code\":500}");
    return -1;
}

static int server_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    fake_server *s = arg;
    pthread_mutex_lock(&s->mu);
    s->gets++;
    int rc = scripted_failure(s, timeout_ms, r);
    if (rc == 0 && s->lease == NULL) {
        answer(r, 404, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\","
                       "\"details\":{\"name\":\"streamguard\",\"group\":\"coordination.k8s.io\","
                       "\"kind\":\"leases\"},\"code\":404}");
        rc = -1;
    } else if (rc == 0) {
        assert_string_equal(path, LEASE_API "streamguard-system/leases/streamguard");
        char *text = cJSON_PrintUnformatted(s->lease);
        answer(r, 200, text);
        free(text);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int server_write(void *arg, enum kube_method m, const char *path, const char *body,
                        size_t len, long timeout_ms, kube_response *r)
{
    fake_server *s = arg;
    pthread_mutex_lock(&s->mu);
    int rc = scripted_failure(s, timeout_ms, r);
    if (rc != 0) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    cJSON *obj = cJSON_ParseWithLength(body, len);
    assert_non_null(obj);
    if (m == KUBE_POST) {
        s->posts++;
        assert_string_equal(path, LEASE_API "streamguard-system/leases");
        if (s->lease != NULL) {
            cJSON_Delete(obj);
            answer(r, 409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"code\":409}");
            pthread_mutex_unlock(&s->mu);
            return -1;
        }
        store(s, obj, 201, r);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    assert_int_equal(m, KUBE_PUT);
    assert_string_equal(path, LEASE_API "streamguard-system/leases/streamguard");
    s->puts++;
    if (s->before_put) {
        void (*hook)(fake_server *) = s->before_put;
        s->before_put = NULL;
        hook(s);
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    if (s->lease == NULL) {
        cJSON_Delete(obj);
        answer(r, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"details\":{\"name\":"
                       "\"streamguard\"},\"code\":404}");
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    if (!cJSON_IsString(rv) || atol(rv->valuestring) != s->rv) {
        cJSON_Delete(obj);
        answer(r, 409, "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":\"the object "
                       "has been modified\",\"code\":409}");
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    store(s, obj, 200, r);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* The stored spec's field 'key' as text ("" when absent). */
static const char *spec_str(fake_server *s, const char *key)
{
    static char out[4][128];
    static int at;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(s->lease, "spec"), key);
    char *p = out[at++ % 4];
    if (cJSON_IsString(v))
        snprintf(p, 128, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(p, 128, "%lld", (long long)v->valuedouble);
    else
        p[0] = '\0';
    return p;
}

/* Sets the stored spec as another writer (a replica, kubectl) would: a new resourceVersion. */
static void server_set_spec(fake_server *s, const char *spec_json)
{
    cJSON *obj = s->lease ? cJSON_Duplicate(s->lease, 1)
                          : cJSON_Parse("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":"
                                        "\"Lease\",\"metadata\":{\"name\":\"streamguard\","
                                        "\"namespace\":\"streamguard-system\"}}");
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "spec");
    cJSON_AddItemToObject(obj, "spec", cJSON_Parse(spec_json));
    kube_response r;
    memset(&r, 0, sizeof r);
    store(s, obj, 200, &r);
    kube_response_free(&r);
}

typedef struct events {
    int started, stopped;
    int64_t stopped_at; /* fake time of the last on_stopped */
    fake_clock *clock;
    const lease_elector **self;
} events;

static void on_started(void *arg)
{
    events *ev = arg;
    assert_int_equal(ev->started, ev->stopped); /* never twice in a row */
    ev->started++;
}

static void on_stopped(void *arg)
{
    events *ev = arg;
    assert_int_equal(ev->started, ev->stopped + 1);
    ev->stopped++;
    if (ev->clock)
        ev->stopped_at = ev->clock->mono_ms;
    /* Leading has ended for every reader before anything else happens. */
    if (ev->self)
        assert_false(lease_elector_is_leader(*ev->self));
}

static fake_server srv;
static fake_clock clk;

static lease_elector *elector(const char *id, events *ev, const lease_elector **self)
{
    static lease_clock lc;
    lc = (lease_clock){.arg = &clk, .mono_ms = fake_mono, .wall_us = fake_wall};
    lease_api api = {.arg = &srv, .get = server_get, .write = server_write};
    ev->clock = &clk;
    ev->self = self;
    lease_opts o = {.namespace_ = "streamguard-system", .name = "streamguard", .identity = id,
                    .on_started = on_started, .on_stopped = on_stopped, .cb_arg = ev,
                    .clock = &lc, .seed = 42};
    diag_list dl;
    diag_list_init(&dl);
    lease_elector *e = lease_elector_new(&api, &o, &dl);
    diag_list_clear(&dl);
    assert_non_null(e);
    if (self)
        *self = e;
    return e;
}

static int setup(void **state)
{
    (void)state;
    clk = (fake_clock){.mono_ms = 1000000, .wall_us = 1795000000000000LL};
    server_init(&srv, &clk);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_clear(&srv);
    return 0;
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void test_create_then_renew(void **state)
{
    (void)state;
    events ev = {0};
    const lease_elector *self;
    lease_elector *a = elector("pod-a_1", &ev, &self);
    assert_false(lease_elector_is_leader(a));
    /* No Lease: created with this replica as holder, and leading at once. */
    assert_int_equal(lease_elector_step(a), 2000);
    assert_int_equal(srv.posts, 1);
    assert_true(lease_elector_is_leader(a));
    assert_int_equal(ev.started, 1);
    assert_string_equal(spec_str(&srv, "holderIdentity"), "pod-a_1");
    assert_string_equal(spec_str(&srv, "leaseDurationSeconds"), "15");
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "0");
    /* MicroTime, from the wall clock. */
    assert_string_equal(spec_str(&srv, "acquireTime"), "2026-11-18T11:06:40.000000Z");
    assert_string_equal(spec_str(&srv, "renewTime"), "2026-11-18T11:06:40.000000Z");
    /* Renewals: a PUT of the Lease last written, no read; acquireTime kept. */
    int gets = srv.gets;
    clk.wall_us += 2000123;
    clk.mono_ms += 2000;
    assert_int_equal(lease_elector_step(a), 2000);
    assert_int_equal(srv.gets, gets);
    assert_int_equal(srv.puts, 1);
    assert_string_equal(spec_str(&srv, "renewTime"), "2026-11-18T11:06:42.000123Z");
    assert_string_equal(spec_str(&srv, "acquireTime"), "2026-11-18T11:06:40.000000Z");
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "0");
    assert_true(lease_elector_is_leader(a));
    assert_int_equal(ev.started, 1);
    assert_int_equal(ev.stopped, 0);
    lease_elector_free(a); /* releases: see test_release */
}

/* A follower takes over only once it has seen no change of the Lease for its duration. */
static void test_follower_takes_over_after_lease_duration(void **state)
{
    (void)state;
    events eva = {0}, evb = {0};
    lease_elector *a = elector("pod-a_1", &eva, NULL);
    lease_elector *b = elector("pod-b_2", &evb, NULL);
    lease_elector_step(a);
    int64_t last_renew = 0;
    for (int i = 0; i < 5; i++) { /* both run; a renews, b sees it held */
        last_renew = clk.mono_ms;
        lease_elector_step(a);
        lease_elector_step(b);
        assert_false(lease_elector_is_leader(b));
        clk.mono_ms += 2000;
    }
    assert_int_equal(evb.started, 0);
    /* a dies (kill -9: no release). b keeps trying, on its own jittered schedule. */
    int64_t took = 0;
    while (clk.mono_ms < last_renew + 60000) {
        long ms = lease_elector_step(b);
        if (lease_elector_is_leader(b)) {
            took = clk.mono_ms;
            break;
        }
        assert_true(ms >= 2000 && ms < 2000 + 2400 + 1);
        clk.mono_ms += ms;
    }
    assert_true(took > 0);
    /* b saw a's last renewal at its step right after it, in the same fake millisecond. */
    assert_true(took >= last_renew + 15000);
    assert_true(took <= last_renew + 15000 + 4400);
    assert_string_equal(spec_str(&srv, "holderIdentity"), "pod-b_2");
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "1");
    assert_int_equal(evb.started, 1);
    /* a, were it to wake up, finds the Lease held by b, and has stopped leading already. */
    assert_false(lease_elector_is_leader(a));
    lease_elector_step(a);
    assert_false(lease_elector_is_leader(a));
    assert_int_equal(eva.stopped, 1);
    lease_elector_free(b);
    lease_elector_free(a);
}

/* A leader that cannot renew stops leading by itself before the Lease may pass on. */
static void test_renew_failure_stops_before_expiry(void **state)
{
    (void)state;
    static const long fail_http[] = {0, 500, 503};
    for (size_t k = 0; k < sizeof fail_http / sizeof fail_http[0]; k++) {
        server_clear(&srv);
        setup(NULL);
        events eva = {0}, evb = {0};
        const lease_elector *self;
        lease_elector *a = elector("pod-a_1", &eva, &self);
        lease_elector *b = elector("pod-b_2", &evb, NULL);
        lease_elector_step(a);
        clk.mono_ms += 2000;
        int64_t t0 = clk.mono_ms; /* the start of a's last successful renewal */
        lease_elector_step(a);
        lease_elector_step(b); /* b observes that renewal */
        int64_t observed = clk.mono_ms;
        srv.fail = 1000000;
        srv.fail_http = fail_http[k];
        srv.latency_ms = 300; /* each failing request takes a while */
        clk.mono_ms += 2000;
        while (eva.stopped == 0 && clk.mono_ms < t0 + 60000) {
            int calls = srv.calls;
            long ms = lease_elector_step(a);
            /* no request may outlast the deadline */
            if (srv.calls > calls && srv.last_timeout_ms > t0 + 12000 - (clk.mono_ms - srv.latency_ms))
                fail_msg("timeout %ld at %lld, deadline %lld", srv.last_timeout_ms,
                         (long long)(clk.mono_ms - srv.latency_ms), (long long)(t0 + 12000));
            if (eva.stopped)
                break;
            clk.mono_ms += ms;
        }
        assert_int_equal(eva.stopped, 1);
        assert_true(eva.stopped_at <= t0 + 12000); /* renew deadline + retry period */
        assert_true(eva.stopped_at < observed + 15000); /* before b may take it */
        /* is_leader() turns false at the deadline by itself, without a step. */
        srv.fail = 0;
        srv.latency_ms = 0;
        lease_elector_free(a);
        a = elector("pod-a_1", &eva, &self);
        eva = (events){0};
        lease_elector_step(a);
        /* a holds it again (same identity): renewed, then nothing more from its thread */
        int64_t t1 = clk.mono_ms;
        assert_true(lease_elector_is_leader(a));
        clk.mono_ms = t1 + 12000 - 1;
        assert_true(lease_elector_is_leader(a));
        clk.mono_ms = t1 + 12000;
        assert_false(lease_elector_is_leader(a));
        lease_elector_step(a); /* the callback comes with the next step */
        assert_int_equal(eva.stopped, 1);
        lease_elector_free(b);
        srv.fail = 1000000; /* no release reaches the server */
        lease_elector_free(a);
        srv.fail = 0;
    }
}

/* Two followers race for an expired Lease: one wins, the other gets 409, reads it again and
 * sees the winner. */
static lease_elector *racer;
static void race_hook(fake_server *s)
{
    pthread_mutex_unlock(&s->mu);
    lease_elector_step(racer); /* the other replica's whole step lands first */
    pthread_mutex_lock(&s->mu);
}

static void test_conflict(void **state)
{
    (void)state;
    events eva = {0}, evb = {0};
    lease_elector *a = elector("pod-a_1", &eva, NULL);
    lease_elector *b = elector("pod-b_2", &evb, NULL);
    server_set_spec(&srv, "{\"holderIdentity\":\"old_0\",\"leaseDurationSeconds\":15,"
                          "\"leaseTransitions\":4}");
    lease_elector_step(a);
    lease_elector_step(b);
    clk.mono_ms += 15001;
    racer = a;
    srv.before_put = race_hook;
    int gets = srv.gets;
    lease_elector_step(b);
    assert_true(lease_elector_is_leader(a));
    assert_false(lease_elector_is_leader(b));
    assert_int_equal(srv.gets, gets + 3); /* b's read, a's read, b's read after the 409 */
    assert_string_equal(spec_str(&srv, "holderIdentity"), "pod-a_1");
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "5");

    /* Someone else changes the Lease (a label, by hand): the leader's renewal conflicts, it
     * reads the Lease again, still holds it and renews: no transition. */
    cJSON *md = cJSON_GetObjectItemCaseSensitive(srv.lease, "metadata");
    cJSON_AddItemToObject(md, "labels", cJSON_Parse("{\"team\":\"x\"}"));
    srv.rv++;
    cJSON_ReplaceItemInObject(md, "resourceVersion", cJSON_CreateString("999"));
    srv.rv = 999;
    clk.mono_ms += 2000;
    lease_elector_step(a);
    assert_true(lease_elector_is_leader(a));
    assert_int_equal(eva.started, 1);
    assert_int_equal(eva.stopped, 0);
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "5");
    assert_string_equal(spec_str(&srv, "holderIdentity"), "pod-a_1");

    /* The Lease deleted under the leader: its renewal (404) reads, finds none, creates it. */
    cJSON_Delete(srv.lease);
    srv.lease = NULL;
    clk.mono_ms += 2000;
    int posts = srv.posts;
    lease_elector_step(a);
    assert_true(lease_elector_is_leader(a));
    assert_int_equal(srv.posts, posts + 1);
    assert_int_equal(eva.stopped, 0);
    assert_string_equal(spec_str(&srv, "holderIdentity"), "pod-a_1");

    /* ... and when the change gives the Lease to another holder, the leader stops at once. */
    clk.mono_ms += 2000;
    server_set_spec(&srv, "{\"holderIdentity\":\"intruder_9\",\"leaseDurationSeconds\":15,"
                          "\"leaseTransitions\":6}");
    lease_elector_step(a);
    assert_false(lease_elector_is_leader(a));
    assert_int_equal(eva.stopped, 1);
    lease_elector_free(b);
    lease_elector_free(a);
    assert_string_equal(spec_str(&srv, "holderIdentity"), "intruder_9"); /* not released */
}

/* The holder's timestamps are another node's clock: never read for expiry. */
static void test_clock_skew(void **state)
{
    (void)state;
    static const char *const specs[] = {
        /* renewed "long ago" by a clock far behind: still held for a full duration */
        "{\"holderIdentity\":\"skewed_1\",\"leaseDurationSeconds\":15,\"renewTime\":"
        "\"2000-01-01T00:00:00.000000Z\",\"acquireTime\":\"2000-01-01T00:00:00.000000Z\"}",
        /* renewed "in the future" by a clock far ahead: still expires after the duration */
        "{\"holderIdentity\":\"skewed_1\",\"leaseDurationSeconds\":15,\"renewTime\":"
        "\"2100-01-01T00:00:00.000000Z\",\"acquireTime\":\"2100-01-01T00:00:00.000000Z\"}",
        /* garbage timestamps */
        "{\"holderIdentity\":\"skewed_1\",\"leaseDurationSeconds\":15,\"renewTime\":7,"
        "\"acquireTime\":\"yesterday\"}",
    };
    static const int64_t walls[] = {0, 1795000000000000LL, 4102444800000000LL};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        for (size_t w = 0; w < sizeof walls / sizeof walls[0]; w++) {
            server_clear(&srv);
            setup(NULL);
            clk.wall_us = walls[w]; /* this replica's own wall clock is off too */
            server_set_spec(&srv, specs[i]);
            events ev = {0};
            lease_elector *b = elector("pod-b_2", &ev, NULL);
            int64_t seen = clk.mono_ms;
            lease_elector_step(b);
            assert_false(lease_elector_is_leader(b));
            clk.mono_ms = seen + 14999;
            lease_elector_step(b);
            if (lease_elector_is_leader(b))
                fail_msg("spec %zu wall %zu: taken before the duration", i, w);
            clk.mono_ms = seen + 15000;
            lease_elector_step(b);
            if (!lease_elector_is_leader(b))
                fail_msg("spec %zu wall %zu: not taken after the duration", i, w);
            srv.fail = 1000;
            lease_elector_free(b);
            srv.fail = 0;
        }
    }
    /* The record changes (a renewal) restart the wait, whatever its timestamps. */
    server_clear(&srv);
    setup(NULL);
    server_set_spec(&srv, specs[0]);
    events ev = {0};
    lease_elector *b = elector("pod-b_2", &ev, NULL);
    lease_elector_step(b);
    clk.mono_ms += 10000;
    server_set_spec(&srv, "{\"holderIdentity\":\"skewed_1\",\"leaseDurationSeconds\":15,"
                          "\"renewTime\":\"1999-01-01T00:00:00.000000Z\"}");
    int64_t seen = clk.mono_ms;
    lease_elector_step(b);
    clk.mono_ms = seen + 14999;
    lease_elector_step(b);
    assert_false(lease_elector_is_leader(b));
    clk.mono_ms = seen + 15000;
    lease_elector_step(b);
    assert_true(lease_elector_is_leader(b));
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "1");
    lease_elector_free(b);
}

/* A clean stop gives the Lease up; the next replica takes it at its next step. */
static void test_release(void **state)
{
    (void)state;
    events eva = {0}, evb = {0};
    const lease_elector *self;
    lease_elector *a = elector("pod-a_1", &eva, &self);
    lease_elector *b = elector("pod-b_2", &evb, NULL);
    lease_elector_step(a);
    lease_elector_step(b);
    clk.mono_ms += 1000;
    clk.wall_us += 1000000;
    lease_elector_release(a);
    assert_false(lease_elector_is_leader(a));
    assert_int_equal(eva.stopped, 1);
    assert_string_equal(spec_str(&srv, "holderIdentity"), "");
    assert_string_equal(spec_str(&srv, "leaseDurationSeconds"), "1");
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "0");
    assert_string_equal(spec_str(&srv, "renewTime"), "2026-11-18T11:06:41.000000Z");
    /* Released once: another call, and free, write nothing more. */
    int puts = srv.puts;
    lease_elector_release(a);
    assert_int_equal(srv.puts, puts);
    /* b, which saw a holding it a second ago, takes it at once: nobody holds it. */
    lease_elector_step(b);
    assert_true(lease_elector_is_leader(b));
    assert_string_equal(spec_str(&srv, "holderIdentity"), "pod-b_2");
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "1");
    lease_elector_free(a);
    assert_int_equal(srv.puts, puts + 1);

    /* A replica that does not hold the Lease writes nothing when it stops. */
    events evc = {0};
    lease_elector *c = elector("pod-c_3", &evc, NULL);
    lease_elector_step(c);
    puts = srv.puts;
    lease_elector_free(c);
    assert_int_equal(srv.puts, puts);
    assert_int_equal(evc.stopped, 0);
    lease_elector_free(b);
}

/* Whatever a Lease holds, the elector neither crashes nor leads on a misread. */
static void test_bad_lease(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        bool taken_at_once; /* as client-go: no duration is an expired Lease */
    } cases[] = {
        {"{}", true},
        {"{\"holderIdentity\":\"x_1\"}", true},
        {"{\"holderIdentity\":\"x_1\",\"leaseDurationSeconds\":-5}", true},
        {"{\"holderIdentity\":\"x_1\",\"leaseDurationSeconds\":\"15\"}", true},
        {"{\"holderIdentity\":42,\"leaseDurationSeconds\":15}", true},
        {"{\"holderIdentity\":\"x_1\",\"leaseDurationSeconds\":1e300}", false},
        {"{\"holderIdentity\":\"x_1\",\"leaseDurationSeconds\":15,\"leaseTransitions\":"
         "2147483647}", false},
        {"null", true},
        {"[1,2]", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        server_clear(&srv);
        setup(NULL);
        server_set_spec(&srv, cases[i].spec);
        events ev = {0};
        lease_elector *b = elector("pod-b_2", &ev, NULL);
        lease_elector_step(b);
        if (lease_elector_is_leader(b) != cases[i].taken_at_once)
            fail_msg("case %zu: leader %d", i, !cases[i].taken_at_once);
        clk.mono_ms += 20000;
        lease_elector_step(b);
        if (i == 5 && lease_elector_is_leader(b))
            fail_msg("case %zu: a huge duration taken over", i);
        srv.fail = 1000;
        lease_elector_free(b);
        srv.fail = 0;
    }
}

static void test_opts(void **state)
{
    (void)state;
    static const struct {
        const char *ns, *name, *id;
        long lease, renew, retry;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {"streamguard-system", "streamguard", "a_1", 0, 0, 0, NULL},
        {"ns", "a.b-c", "a_1", 3000, 2000, 1000, NULL},
        {"NS", "streamguard", "a_1", 0, 0, 0, "namespace"},
        {"a/b", "streamguard", "a_1", 0, 0, 0, "namespace"},
        {"", "streamguard", "a_1", 0, 0, 0, "namespace"},
        {NULL, "streamguard", "a_1", 0, 0, 0, "namespace"},
        {"ns", "../x", "a_1", 0, 0, 0, "name"},
        {"ns", "x/y", "a_1", 0, 0, 0, "name"},
        {"ns", "a..b", "a_1", 0, 0, 0, "name"},
        {"ns", "-a", "a_1", 0, 0, 0, "name"},
        {"ns", NULL, "a_1", 0, 0, 0, "name"},
        {"ns", "streamguard", "", 0, 0, 0, "identity"},
        {"ns", "streamguard", NULL, 0, 0, 0, "identity"},
        {"ns", "streamguard", "a_1", 10000, 10000, 2000, "lease duration"},
        {"ns", "streamguard", "a_1", 15000, 2400, 2000, "renew deadline"},
        {"ns", "streamguard", "a_1", 15000, 10000, -1, "retry period"},
    };
    lease_api api = {.arg = &srv, .get = server_get, .write = server_write};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lease_opts o = {.namespace_ = cases[i].ns, .name = cases[i].name,
                        .identity = cases[i].id, .lease_duration_ms = cases[i].lease,
                        .renew_deadline_ms = cases[i].renew, .retry_period_ms = cases[i].retry};
        diag_list dl;
        diag_list_init(&dl);
        lease_elector *e = lease_elector_new(&api, &o, &dl);
        if (cases[i].want == NULL && e == NULL)
            fail_msg("case %zu refused: %s", i, dl.count ? dl.items[0].msg : "-");
        if (cases[i].want != NULL &&
            (e != NULL || dl.count == 0 || strstr(dl.items[0].msg, cases[i].want) == NULL))
            fail_msg("case %zu: %s", i, dl.count ? dl.items[0].msg : "accepted");
        lease_elector_free(e);
        diag_list_clear(&dl);
    }
    char long_id[300];
    memset(long_id, 'x', 254);
    long_id[254] = '\0';
    lease_opts o = {.namespace_ = "ns", .name = "n", .identity = long_id};
    diag_list dl;
    diag_list_init(&dl);
    assert_null(lease_elector_new(&api, &o, &dl));
    diag_list_clear(&dl);
}

static void test_identity_and_metrics(void **state)
{
    (void)state;
    char a[300], b[300];
    setenv("POD_NAME", "streamguard-7d9f-abcde", 1);
    assert_int_equal(lease_identity_new(a, sizeof a), 0);
    assert_int_equal(lease_identity_new(b, sizeof b), 0);
    assert_int_equal(strncmp(a, "streamguard-7d9f-abcde_", 23), 0);
    assert_int_equal(strlen(a), 23 + 16);
    assert_string_not_equal(a, b); /* a restarted pod of the same name is someone else */
    assert_int_equal(lease_identity_new(a, 20), -1);
    unsetenv("POD_NAME");
    assert_int_equal(lease_identity_new(a, sizeof a), 0);
    assert_non_null(strchr(a, '_'));

    events ev = {0};
    lease_elector *e = elector("pod-a_1", &ev, NULL);
    buf out;
    buf_init(&out, 4096);
    assert_int_equal(lease_elector_metrics(e, &out), 0);
    assert_non_null(strstr(out.data, "\nstreamguard_leader 0\n"));
    assert_non_null(strstr(out.data, "\nstreamguard_leader_transitions_total 0\n"));
    lease_elector_step(e);
    out.len = 0;
    assert_int_equal(lease_elector_metrics(e, &out), 0);
    assert_non_null(strstr(out.data, "\nstreamguard_leader 1\n"));
    assert_non_null(strstr(out.data, "\nstreamguard_leader_transitions_total 1\n"));
    lease_elector_release(e);
    out.len = 0;
    assert_int_equal(lease_elector_metrics(e, &out), 0);
    assert_non_null(strstr(out.data, "\nstreamguard_leader 0\n"));
    assert_non_null(strstr(out.data, "\nstreamguard_leader_transitions_total 2\n"));
    buf_clear(&out);
    lease_elector_free(e);
}

/* --leader-elect's default namespace: the service account's namespace file. */
static void test_pod_namespace(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-lease-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[64], out[64];
    snprintf(file, sizeof file, "%s/namespace", dir);
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(lease_pod_namespace(dir, out, sizeof out, &dl), 1); /* not in a pod */
    static const struct {
        const char *text, *want; /* NULL: refused */
    } cases[] = {
        {"streamguard-system", "streamguard-system"},
        {"streamguard-system\n", "streamguard-system"},
        {"  team-a \r\n", "team-a"},
        {"", NULL},
        {"\n", NULL},
        {"Team", NULL},
        {"a/b", NULL},
        {"a b", NULL},
        {"../x", NULL},
        {"a\nb", NULL},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL}, /* 64 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fputs(cases[i].text, f);
        fclose(f);
        diag_list_clear(&dl);
        diag_list_init(&dl);
        int rc = lease_pod_namespace(dir, out, sizeof out, &dl);
        if (cases[i].want != NULL && (rc != 0 || strcmp(out, cases[i].want) != 0))
            fail_msg("case %zu: rc %d '%s'", i, rc, rc == 0 ? out : "");
        if (cases[i].want == NULL && (rc != -1 || dl.count == 0))
            fail_msg("case %zu: accepted as '%s'", i, out);
    }
    /* the namespace of the replica's own objects: the option, the pod's, the context's */
    diag_list_clear(&dl);
    diag_list_init(&dl);
    char none[] = "/tmp/sg-lease-none-XXXXXX";
    assert_non_null(mkdtemp(none));
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("pod-ns\n", f);
    fclose(f);
    assert_int_equal(lease_own_namespace("opt-ns", dir, "ctx-ns", out, sizeof out, &dl), 0);
    assert_string_equal(out, "opt-ns");
    assert_int_equal(lease_own_namespace(NULL, dir, "ctx-ns", out, sizeof out, &dl), 0);
    assert_string_equal(out, "pod-ns");
    assert_int_equal(lease_own_namespace(NULL, none, "ctx-ns", out, sizeof out, &dl), 0);
    assert_string_equal(out, "ctx-ns");
    assert_int_equal(lease_own_namespace(NULL, none, NULL, out, sizeof out, &dl), 1);
    assert_int_equal(dl.count, 0);
    f = fopen(file, "w");
    assert_non_null(f);
    fputs("Bad/NS", f);
    fclose(f);
    assert_int_equal(lease_own_namespace(NULL, dir, "ctx-ns", out, sizeof out, &dl), -1);
    rmdir(none);
    diag_list_clear(&dl);
    unlink(file);
    rmdir(dir);
}

/* Two electors on their own threads with the real clock and short periods: one leader at a
 * time; when it stops, the other takes over within a retry period or two. */
static void test_threads(void **state)
{
    (void)state;
    server_clear(&srv);
    server_init(&srv, NULL);
    lease_api api = {.arg = &srv, .get = server_get, .write = server_write};
    events ev[2] = {{0}, {0}};
    lease_elector *e[2];
    const char *ids[2] = {"t-a_1", "t-b_2"};
    for (int i = 0; i < 2; i++) {
        lease_opts o = {.namespace_ = "streamguard-system", .name = "streamguard",
                        .identity = ids[i], .lease_duration_ms = 1500, .renew_deadline_ms = 1000,
                        .retry_period_ms = 100, .on_started = on_started,
                        .on_stopped = on_stopped, .cb_arg = &ev[i]};
        diag_list dl;
        diag_list_init(&dl);
        e[i] = lease_elector_new(&api, &o, &dl);
        diag_list_clear(&dl);
        assert_non_null(e[i]);
        assert_int_equal(lease_elector_start(e[i]), 0);
    }
    int leader = -1;
    for (int t = 0; t < 200 && leader < 0; t++) {
        usleep(10000);
        for (int i = 0; i < 2; i++)
            if (lease_elector_is_leader(e[i]))
                leader = i;
    }
    assert_true(leader >= 0);
    for (int t = 0; t < 30; t++) { /* never both */
        assert_false(lease_elector_is_leader(e[0]) && lease_elector_is_leader(e[1]));
        usleep(10000);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lease_elector_free(e[leader]);
    int other = 1 - leader;
    bool took = false;
    for (int t = 0; t < 200 && !took; t++) {
        usleep(5000);
        took = lease_elector_is_leader(e[other]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(took);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s < 0.5); /* released: at most one jittered retry (220 ms), not 1.5 s */
    lease_elector_free(e[other]);
    assert_string_equal(spec_str(&srv, "holderIdentity"), "");
    assert_string_equal(spec_str(&srv, "leaseTransitions"), "1");
}

int main(void)
{
    log_setup(LOG_FORMAT_LOGFMT, LOG_ERROR, 2); /* the elector's logs are not the tests' */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_then_renew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follower_takes_over_after_lease_duration, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_renew_failure_stops_before_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_skew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_and_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
