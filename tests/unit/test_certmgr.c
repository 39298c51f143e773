/* test_certmgr.c - `serve --manage-webhook-certs` (src/server/certmgr*.c) against a scripted API
 * server that keeps objects as kube-apiserver does (404 until created, 409 on a second create
 * or a stale resourceVersion, JSON patch with "test"), with a fake clock: the Secret created
 * when absent and the caBundle of every webhook entry brought in line; a caBundle reset by
 * hand healed at the next pass; a follower never writes and serves what the leader wrote;
 * renewal at 2/3 of the lifetime; a CA rollover in which every replica's certificate is
 * trusted by the configurations at every step; a lost lease stops the write; a broken Secret
 * re-issued; a conflict retried; bad options refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/jsonpatch.h"
#include "server/certmgr.c"
#include "server/certmgr_plan.c"
#include "server/certmgr_webhooks.c"
#include "util/log.h"

#define NS "streamguard-system"
#define SECRET_PATH "/api/v1/namespaces/" NS "/secrets/streamguard-tls"
#define DAY 86400LL

/* ---- the scripted API server ---------------------------------------------------------- */

#define MAX_OBJ 4
typedef struct fake {
    char path[MAX_OBJ][300];
    cJSON *obj[MAX_OBJ];
    long rv;
    int writes, posts, puts, patches;
    int conflict_next_put; /* another writer changes the Secret just before the next PUT */
    const char *garbage;   /* a path answered 200 with a body that is not JSON */
    int reorder_next_patch; /* a re-apply swaps the first two entries before the next PATCH */
} fake;

static void fk_answer(kube_response *r, long http, const char *body)
{
    memset(r, 0, sizeof *r);
    r->http = http;
    r->body = strdup(body);
    r->len = strlen(body);
    if (http < 200 || http >= 300)
        snprintf(r->error, sizeof r->error, "HTTP %ld: %.200s", http, body);
}

static void answer_obj(kube_response *r, long http, const cJSON *o)
{
    char *t = cJSON_PrintUnformatted(o);
    fk_answer(r, http, t);
    free(t);
}

static int find(fake *f, const char *path)
{
    for (int i = 0; i < MAX_OBJ; i++)
        if (f->obj[i] != NULL && strcmp(f->path[i], path) == 0)
            return i;
    return -1;
}

static void bump(fake *f, cJSON *o)
{
    cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    char rv[32];
    snprintf(rv, sizeof rv, "%ld", ++f->rv);
    cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
    cJSON_AddStringToObject(md, "resourceVersion", rv);
}

static void put_obj(fake *f, const char *path, cJSON *o)
{
    int i = find(f, path);
    if (i < 0)
        for (i = 0; f->obj[i] != NULL; i++)
            ;
    cJSON_Delete(f->obj[i]);
    snprintf(f->path[i], sizeof f->path[i], "%s", path);
    bump(f, o);
    f->obj[i] = o;
}

static int not_found(kube_response *r, const char *path)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\","
             "\"details\":{\"name\":\"%s\"},\"code\":404}",
             strrchr(path, '/') + 1);
    fk_answer(r, 404, body);
    return -1;
}

static int fake_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    (void)timeout_ms;
    fake *f = arg;
    int i = find(f, path);
    if (f->garbage != NULL && strcmp(path, f->garbage) == 0) {
        fk_answer(r, 200, "<html>proxy error</html>");
        return 0;
    }
    if (i < 0)
        return not_found(r, path);
    answer_obj(r, 200, f->obj[i]);
    return 0;
}

static const char *rv_of(const cJSON *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "metadata"), "resourceVersion");
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The JSON patches certmgr sends: "test" on /webhooks/N/name, "add" of a caBundle. */
static int apply_patch(cJSON *doc, const cJSON *ops)
{
    const cJSON *op;
    cJSON_ArrayForEach(op, ops)
    {
        const char *kind = cJSON_GetObjectItemCaseSensitive(op, "op")->valuestring;
        const char *path = cJSON_GetObjectItemCaseSensitive(op, "path")->valuestring;
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
        if (strcmp(kind, "test") == 0) {
            int n = atoi(path + strlen("/webhooks/"));
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "webhooks"), n), "name");
            if (!cJSON_IsString(name) || strcmp(name->valuestring, value->valuestring) != 0)
                return -1;
        } else {
            char err[200];
            assert_string_equal(kind, "add");
            if (jsonpatch_apply(doc, JSONPATCH_ADD, path, value, err, sizeof err) != 0)
                return -1;
        }
    }
    return 0;
}

static int fake_write(void *arg, enum kube_method m, const char *path, const char *body, size_t len,
                      long timeout_ms, kube_response *r)
{
    (void)timeout_ms;
    fake *f = arg;
    f->writes++;
    cJSON *in = cJSON_ParseWithLength(body, len);
    assert_non_null(in);
    if (m == KUBE_POST) {
        f->posts++;
        const char *name = cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(in, "metadata"), "name")
                               ->valuestring;
        char full[300];
        snprintf(full, sizeof full, "%s/%s", path, name);
        if (find(f, full) >= 0) {
            cJSON_Delete(in);
            fk_answer(r, 409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"code\":409}");
            return -1;
        }
        put_obj(f, full, in);
        answer_obj(r, 201, in);
        return 0;
    }
    int i = find(f, path);
    if (i < 0) {
        cJSON_Delete(in);
        return not_found(r, path);
    }
    if (m == KUBE_PUT) {
        f->puts++;
        if (f->conflict_next_put) {
            f->conflict_next_put = 0;
            bump(f, f->obj[i]);
        }
        if (strcmp(rv_of(in), rv_of(f->obj[i])) != 0) {
            cJSON_Delete(in);
            fk_answer(r, 409, "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409}");
            return -1;
        }
        put_obj(f, path, in);
        answer_obj(r, 200, in);
        return 0;
    }
    assert_int_equal(m, KUBE_PATCH_JSON);
    f->patches++;
    if (f->reorder_next_patch) {
        f->reorder_next_patch = 0;
        cJSON *hooks = cJSON_GetObjectItemCaseSensitive(f->obj[i], "webhooks");
        cJSON *first = cJSON_DetachItemFromArray(hooks, 0);
        cJSON_AddItemToArray(hooks, first);
    }
    cJSON *copy = cJSON_Duplicate(f->obj[i], 1);
    int rc = apply_patch(copy, in);
    cJSON_Delete(in);
    if (rc != 0) {
        cJSON_Delete(copy);
        fk_answer(r, 422, "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"code\":422}");
        return -1;
    }
    put_obj(f, path, copy);
    answer_obj(r, 200, copy);
    return 0;
}

#define VWC_PATH VWC_API "streamguard"
#define MWC_PATH MWC_API "streamguard"

/* A fake with deploy/'s two configurations: two validating entries (one with a stale
 * caBundle, one with none), one mutating. */
static void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    put_obj(f, VWC_PATH,
            cJSON_Parse("{\"metadata\":{\"name\":\"streamguard\"},\"webhooks\":["
                        "{\"name\":\"validate.streamguard.dev\",\"clientConfig\":{\"caBundle\":"
                        "\"c3RhbGU=\",\"service\":{\"name\":\"streamguard\"}}},"
                        "{\"name\":\"second.streamguard.dev\",\"clientConfig\":{\"url\":"
                        "\"https://127.0.0.1:1/validate\"}}]}"));
    put_obj(f, MWC_PATH,
            cJSON_Parse("{\"metadata\":{\"name\":\"streamguard\"},\"webhooks\":["
                        "{\"name\":\"mutate.streamguard.dev\",\"clientConfig\":{\"service\":"
                        "{\"name\":\"streamguard\"}}}]}"));
}

static void fake_clear(fake *f)
{
    for (int i = 0; i < MAX_OBJ; i++)
        cJSON_Delete(f->obj[i]);
}

/* ---- a manager on the fake -------------------------------------------------------------- */

typedef struct world {
    fake f;
    lease_api api;
    long long now;
    bool leader;
    int writer_answers; /* >= 0: is_writer answers true this many times, then false */
} world;

static long long fake_now(void *arg)
{
    return ((world *)arg)->now;
}

static bool fake_writer(void *arg)
{
    world *w = arg;
    if (w->writer_answers >= 0)
        return w->writer_answers-- > 0;
    return w->leader;
}

static const char *const hosts[] = {"streamguard.streamguard-system.svc",
                                    "streamguard.streamguard-system.svc.cluster.local",
                                    "127.0.0.1"};

static certmgr *manager(world *w, unsigned ca_days, unsigned cert_days)
{
    certmgr_opts o = {.namespace_ = NS,
                      .secret = "streamguard-tls",
                      .hosts = hosts,
                      .n_hosts = 3,
                      .validating = "streamguard",
                      .mutating = "streamguard",
                      .ca_days = ca_days,
                      .cert_days = cert_days,
                      .is_writer = fake_writer,
                      .writer_arg = w,
                      .now = fake_now,
                      .now_arg = w};
    diag_list dl;
    diag_list_init(&dl);
    certmgr *m = certmgr_new(&w->api, &o, &dl);
    assert_non_null(m);
    diag_list_clear(&dl);
    return m;
}

static void world_init(world *w)
{
    memset(w, 0, sizeof *w);
    fake_init(&w->f);
    w->api = (lease_api){.arg = &w->f, .get = fake_get, .write = fake_write};
    w->now = (long long)time(NULL);
    w->leader = true;
    w->writer_answers = -1;
}

/* The Secret's data[key], decoded (malloc'd), or NULL. */
static char *secret_key(world *w, const char *key)
{
    int i = find(&w->f, SECRET_PATH);
    if (i < 0)
        return NULL;
    secret_data d;
    cm_secret_decode(w->f.obj[i], &d);
    char *out = NULL;
    for (int k = 0; k < 4; k++)
        if (strcmp(data_key[k], key) == 0)
            out = *data_slot(&d, k), *data_slot(&d, k) = NULL;
    cm_secret_data_clear(&d);
    return out;
}

/* Every webhook entry of both configurations: its caBundle, decoded, must be 'want'. */
static void assert_bundles(world *w, const char *want)
{
    const char *paths[] = {VWC_PATH, MWC_PATH};
    int entries = 0;
    for (int p = 0; p < 2; p++) {
        const cJSON *hook;
        cJSON_ArrayForEach(
            hook, cJSON_GetObjectItemCaseSensitive(w->f.obj[find(&w->f, paths[p])], "webhooks"))
        {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(hook, "clientConfig"), "caBundle");
            assert_true(cJSON_IsString(b));
            unsigned char dec[16384];
            long n = base64_decode(b->valuestring, strlen(b->valuestring), dec);
            assert_true(n > 0);
            dec[n] = '\0';
            assert_string_equal((char *)dec, want);
            entries++;
        }
    }
    assert_int_equal(entries, 3);
}

/* The serving pair of 'm' is issued by a CA that every webhook entry trusts. */
static void assert_trusted(world *w, certmgr *m)
{
    tls_pair p;
    assert_int_equal(certmgr_serving(m, &p), 0);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(
                cJSON_GetObjectItemCaseSensitive(w->f.obj[find(&w->f, VWC_PATH)], "webhooks"), 0),
            "clientConfig"),
        "caBundle");
    unsigned char dec[16384];
    long n = base64_decode(b->valuestring, strlen(b->valuestring), dec);
    dec[n > 0 ? n : 0] = '\0';
    tls_bundle bundle;
    assert_int_equal(tls_bundle_read((char *)dec, &bundle), 0);
    bool ok = false;
    for (size_t i = 0; i < bundle.n; i++)
        ok |= tls_cert_signed_by(p.cert_pem, bundle.pem[i]);
    if (!ok)
        fail_msg("the certificate served (%s) is signed by none of the %zu CAs in the caBundle",
                 p.info.serial, bundle.n);
    tls_bundle_clear(&bundle);
    tls_pair_clear(&p);
}

static void serial_of(certmgr *m, char out[100])
{
    tls_pair p;
    assert_int_equal(certmgr_serving(m, &p), 0);
    snprintf(out, 100, "%s", p.info.serial);
    tls_pair_clear(&p);
}

/* ---- the cases ------------------------------------------------------------------------------- */

static void test_creates_and_syncs(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    certmgr *m = manager(&w, 0, 0);
    assert_int_equal(certmgr_step(m), 0);
    assert_int_equal(w.f.posts, 1);
    char *ca = secret_key(&w, "ca.crt"), *crt = secret_key(&w, "tls.crt");
    char *key = secret_key(&w, "tls.key"), *cakey = secret_key(&w, "ca.key");
    assert_non_null(ca);
    assert_non_null(crt);
    assert_non_null(key);
    assert_non_null(cakey);
    assert_true(tls_cert_signed_by(crt, ca));
    for (size_t i = 0; i < 3; i++)
        assert_true(tls_cert_covers_host(crt, hosts[i]));
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(w.f.obj[find(&w.f, SECRET_PATH)], "type");
    assert_string_equal(type->valuestring, "kubernetes.io/tls");
    assert_bundles(&w, ca);
    assert_trusted(&w, m);
    assert_int_equal(w.f.patches, 2); /* one per configuration, every stale entry in it */
    tls_pair p;
    assert_int_equal(certmgr_serving(m, &p), 0);
    assert_string_equal(p.cert_pem, crt);
    assert_string_equal(p.key_pem, key);
    tls_pair_clear(&p);
    /* in line: a pass writes nothing */
    int writes = w.f.writes;
    w.now += 60;
    assert_int_equal(certmgr_step(m), 0);
    assert_int_equal(w.f.writes, writes);
    free(ca), free(crt), free(key), free(cakey);
    certmgr_free(m);
    fake_clear(&w.f);
}

static void test_heals_reset_cabundle(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    certmgr *m = manager(&w, 0, 0);
    assert_int_equal(certmgr_step(m), 0);
    char *ca = secret_key(&w, "ca.crt");
    /* a GitOps re-apply: the manifests' caBundle (empty, or another CA) back in place */
    cJSON *vwc = w.f.obj[find(&w.f, VWC_PATH)];
    cJSON *cc = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(vwc, "webhooks"), 0), "clientConfig");
    cJSON_DeleteItemFromObjectCaseSensitive(cc, "caBundle");
    cJSON *mwc = w.f.obj[find(&w.f, MWC_PATH)];
    cc = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(mwc, "webhooks"), 0), "clientConfig");
    cJSON_ReplaceItemInObjectCaseSensitive(cc, "caBundle", cJSON_CreateString("Cg=="));
    long p0 = atomic_load(&cm_stats.patches[CFG_VALIDATING]);
    assert_int_equal(certmgr_step(m), 0);
    assert_bundles(&w, ca);
    assert_int_equal(atomic_load(&cm_stats.patches[CFG_VALIDATING]), p0 + 1);
    /* reset again, and a re-apply reorders the entries between the read and the patch: the
     * patch fails on its name test, the next pass makes it again from what it reads */
    vwc = w.f.obj[find(&w.f, VWC_PATH)]; /* the patch stored a new object */
    cJSON *hooks = cJSON_GetObjectItemCaseSensitive(vwc, "webhooks");
    for (int k = 0; k < 2; k++)
        cJSON_ReplaceItemInObjectCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(hooks, k), "clientConfig"),
            "caBundle", cJSON_CreateString("Cg=="));
    w.f.reorder_next_patch = 1;
    long e0 = atomic_load(&cm_stats.errors[ERR_WEBHOOK_PATCH]);
    certmgr_step(m);
    assert_int_equal(atomic_load(&cm_stats.errors[ERR_WEBHOOK_PATCH]), e0 + 1);
    assert_int_equal(certmgr_step(m), 0);
    assert_bundles(&w, ca);
    free(ca);
    certmgr_free(m);
    fake_clear(&w.f);
}

/* A configuration that cannot be read is never taken for one in line: the newest CA is not
 * trusted, so a rollover would wait rather than sign with a CA the apiserver may not have. */
static void test_unreadable_configuration(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    certmgr *m = manager(&w, 0, 0);
    assert_int_equal(certmgr_step(m), 0);
    assert_string_not_equal(m->trusted_serial, "");
    w.f.garbage = MWC_PATH;
    long e0 = atomic_load(&cm_stats.errors[ERR_WEBHOOK_READ]);
    assert_int_equal(certmgr_step(m), 0);
    assert_string_equal(m->trusted_serial, "");
    assert_int_equal(atomic_load(&cm_stats.errors[ERR_WEBHOOK_READ]), e0 + 1);
    certmgr_free(m);
    fake_clear(&w.f);
}

static void test_follower_never_writes(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.leader = false;
    certmgr *follower = manager(&w, 0, 0);
    assert_int_equal(certmgr_step(follower), 0);
    assert_int_equal(w.f.writes, 0);
    tls_pair p;
    assert_int_equal(certmgr_serving(follower, &p), -1);
    /* the leader (another replica) creates it; the follower serves the same pair */
    world lw = w;
    lw.leader = true;
    lw.api.arg = &w.f;
    certmgr *leader = manager(&lw, 0, 0);
    assert_int_equal(certmgr_step(leader), 0);
    assert_int_equal(certmgr_step(follower), 0);
    char a[100], b[100];
    serial_of(leader, a);
    serial_of(follower, b);
    assert_string_equal(a, b);
    /* a reset caBundle is left to the leader */
    cJSON *cc = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(w.f.obj[find(&w.f, MWC_PATH)], "webhooks"), 0),
        "clientConfig");
    cJSON_ReplaceItemInObjectCaseSensitive(cc, "caBundle", cJSON_CreateString("Cg=="));
    int writes = w.f.writes;
    assert_int_equal(certmgr_step(follower), 0);
    assert_int_equal(w.f.writes, writes);
    certmgr_free(leader);
    certmgr_free(follower);
    fake_clear(&w.f);
}

static void test_lost_lease_stops_the_write(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.writer_answers = 1; /* leads when the pass begins, not when it would write */
    certmgr *m = manager(&w, 0, 0);
    certmgr_step(m);
    assert_int_equal(w.f.writes, 0);
    certmgr_free(m);
    fake_clear(&w.f);
}

static void test_renewal_at_two_thirds(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    certmgr *m = manager(&w, 365, 90);
    assert_int_equal(certmgr_step(m), 0);
    char s0[100], s1[100];
    serial_of(m, s0);
    char *ca0 = secret_key(&w, "ca.crt");
    w.now += 59 * DAY; /* before 2/3 of 90 days (from notBefore, 5 minutes back) */
    assert_int_equal(certmgr_step(m), 0);
    serial_of(m, s1);
    assert_string_equal(s0, s1);
    w.now += 1 * DAY;
    assert_int_equal(certmgr_step(m), 0);
    serial_of(m, s1);
    assert_string_not_equal(s0, s1);
    char *ca1 = secret_key(&w, "ca.crt");
    assert_string_equal(ca0, ca1); /* the same CA: the caBundle does not change */
    assert_trusted(&w, m);
    free(ca0), free(ca1);
    certmgr_free(m);
    fake_clear(&w.f);
}

/* The CA renewed: at every pass, what the leader and a follower serve is trusted by every
 * webhook entry; the new CA signs only after the configurations have carried it for the
 * settle time; the old CA stays in the bundle until it expires. */
static void test_ca_rollover(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    certmgr *m = manager(&w, 30, 30);
    world fw = w;
    fw.leader = false;
    fw.api.arg = &w.f;
    certmgr *follower = manager(&fw, 30, 30);
    assert_int_equal(certmgr_step(m), 0);
    assert_int_equal(certmgr_step(follower), 0);
    char *ca_old = secret_key(&w, "ca.crt");
    char before[100], now_serial[100];
    serial_of(m, before);
    /* step 1: 2/3 of the CA's 30 days: a new CA, first in the bundle; the certificate stays */
    w.now += 20 * DAY + 60;
    fw.now = w.now;
    assert_int_equal(certmgr_step(m), 0);
    tls_bundle b;
    char *ca = secret_key(&w, "ca.crt");
    assert_int_equal(tls_bundle_read(ca, &b), 0);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.pem[1], ca_old);
    tls_bundle_clear(&b);
    assert_bundles(&w, ca);
    serial_of(m, now_serial);
    assert_string_equal(before, now_serial);
    assert_int_equal(certmgr_step(follower), 0);
    assert_trusted(&w, follower);
    /* not before the settle time */
    w.now += CERTMGR_TRUST_SETTLE_S - 1;
    assert_int_equal(certmgr_step(m), 0);
    serial_of(m, now_serial);
    assert_string_equal(before, now_serial);
    /* step 2: then a certificate from the new CA; the follower takes it; both trusted */
    w.now += 1;
    fw.now = w.now;
    assert_int_equal(certmgr_step(m), 0);
    serial_of(m, now_serial);
    assert_string_not_equal(before, now_serial);
    char *crt = secret_key(&w, "tls.crt");
    assert_false(tls_cert_signed_by(crt, ca_old));
    assert_int_equal(tls_bundle_read(ca, &b), 0);
    assert_true(tls_cert_signed_by(crt, b.pem[0]));
    tls_bundle_clear(&b);
    assert_trusted(&w, m);
    assert_trusted(&w, follower); /* before it read the Secret again: the old one */
    assert_int_equal(certmgr_step(follower), 0);
    assert_trusted(&w, follower);
    /* step 3: the old CA leaves the bundle when it expires, not before */
    w.now += 9 * DAY;
    assert_int_equal(certmgr_step(m), 0);
    char *ca_late = secret_key(&w, "ca.crt");
    assert_string_equal(ca_late, ca);
    w.now += 2 * DAY;
    assert_int_equal(certmgr_step(m), 0);
    char *ca_pruned = secret_key(&w, "ca.crt");
    assert_int_equal(tls_bundle_read(ca_pruned, &b), 1 - 1);
    assert_int_equal(b.n, 1);
    tls_bundle_clear(&b);
    assert_bundles(&w, ca_pruned);
    assert_trusted(&w, m);
    free(ca_old), free(ca), free(crt), free(ca_late), free(ca_pruned);
    certmgr_free(m);
    certmgr_free(follower);
    fake_clear(&w.f);
}

/* A re-apply that puts the old caBundle back during the settle time: the leader patches the
 * new CA in again, and the settle time starts over from that patch (kube-apiserver has carried
 * the new CA only since then), so the new CA does not sign before it has been trusted that long. */
static void test_rollover_settle_restarts_after_reset(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    certmgr *m = manager(&w, 30, 30);
    assert_int_equal(certmgr_step(m), 0);
    char *ca_old = secret_key(&w, "ca.crt");
    char before[100], now_serial[100];
    serial_of(m, before);
    w.now += 20 * DAY + 60; /* step 1: a new CA in every entry */
    assert_int_equal(certmgr_step(m), 0);
    char *ca = secret_key(&w, "ca.crt");
    assert_bundles(&w, ca);
    /* just before the settle time ends, every entry gets the old CA alone back */
    w.now += CERTMGR_TRUST_SETTLE_S - 1;
    char *old_b64 = malloc(base64_encoded_len(strlen(ca_old)) + 1);
    assert_non_null(old_b64);
    base64_encode(ca_old, strlen(ca_old), old_b64);
    const char *paths[] = {VWC_PATH, MWC_PATH};
    for (int p = 0; p < 2; p++) {
        cJSON *hook;
        cJSON_ArrayForEach(hook,
                           cJSON_GetObjectItemCaseSensitive(w.f.obj[find(&w.f, paths[p])], "webhooks"))
            cJSON_ReplaceItemInObjectCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(hook, "clientConfig"), "caBundle",
                cJSON_CreateString(old_b64));
    }
    assert_int_equal(certmgr_step(m), 0); /* healed, still the old CA's certificate */
    assert_bundles(&w, ca);
    serial_of(m, now_serial);
    assert_string_equal(before, now_serial);
    /* the settle time counted from the first patch is over, not the one from the heal */
    w.now += 1;
    assert_int_equal(certmgr_step(m), 0);
    serial_of(m, now_serial);
    assert_string_equal(before, now_serial);
    w.now += CERTMGR_TRUST_SETTLE_S - 1;
    assert_int_equal(certmgr_step(m), 0);
    serial_of(m, now_serial);
    assert_string_not_equal(before, now_serial);
    assert_trusted(&w, m);
    free(ca_old), free(ca), free(old_b64);
    certmgr_free(m);
    fake_clear(&w.f);
}

static void test_broken_secret_and_conflict(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    certmgr *m = manager(&w, 0, 0);
    assert_int_equal(certmgr_step(m), 0);
    char before[100], after[100];
    serial_of(m, before);
    /* someone writes garbage into tls.crt: the replica keeps serving what it had, the leader
     * issues again (a PUT of the object read: other keys and labels kept) */
    cJSON *data = cJSON_GetObjectItemCaseSensitive(w.f.obj[find(&w.f, SECRET_PATH)], "data");
    cJSON_ReplaceItemInObjectCaseSensitive(data, "tls.crt", cJSON_CreateString("bm90IGEgY2VydA=="));
    cJSON_AddStringToObject(data, "extra", "a2VwdA==");
    w.f.conflict_next_put = 1; /* and another writer gets there first once */
    assert_int_equal(certmgr_step(m), -1);
    serial_of(m, after);
    assert_string_equal(before, after);
    assert_int_equal(certmgr_step(m), 0);
    serial_of(m, after);
    assert_string_not_equal(before, after);
    char *extra = secret_key(&w, "tls.key");
    assert_non_null(extra);
    free(extra);
    data = cJSON_GetObjectItemCaseSensitive(w.f.obj[find(&w.f, SECRET_PATH)], "data");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(data, "extra"));
    assert_trusted(&w, m);
    certmgr_free(m);
    fake_clear(&w.f);
}

static void test_bad_options(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    const char *bad_host[] = {"streamguard.svc", "bad host!"};
    struct {
        certmgr_opts o;
        const char *want;
    } cases[] = {
        {{.namespace_ = "Bad_NS", .secret = "s", .hosts = hosts, .n_hosts = 1}, "namespace"},
        {{.namespace_ = "ns", .secret = "a/b", .hosts = hosts, .n_hosts = 1}, "Secret's name"},
        {{.namespace_ = "ns", .secret = "s", .hosts = hosts, .n_hosts = 1, .validating = "x y"},
         "configuration"},
        {{.namespace_ = "ns", .secret = "s", .hosts = hosts, .n_hosts = 0}, "host"},
        {{.namespace_ = "ns", .secret = "s", .hosts = bad_host, .n_hosts = 2}, "bad host!"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        diag_list dl;
        diag_list_init(&dl);
        assert_null(certmgr_new(&w.api, &cases[i].o, &dl));
        assert_true(dl.count > 0);
        if (strstr(dl.items[0].msg, cases[i].want) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, dl.items[0].msg, cases[i].want);
        diag_list_clear(&dl);
    }
    fake_clear(&w.f);
}

static void test_metrics(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    certmgr *m = manager(&w, 0, 0);
    assert_int_equal(certmgr_step(m), 0);
    buf out;
    buf_init(&out, 1 << 16);
    assert_int_equal(certmgr_metrics(&out), 0);
    assert_non_null(strstr(out.data, "streamguard_webhook_ca_bundle_certificates 1\n"));
    assert_non_null(strstr(out.data, "streamguard_webhook_cabundle_patches_total{configuration="
                                     "\"mutating\"}"));
    assert_non_null(strstr(out.data, "streamguard_webhook_certs_issued_total{kind=\"ca\"}"));
    buf_clear(&out);
    certmgr_free(m);
    fake_clear(&w.f);
}

int main(void)
{
    log_setup(LOG_FORMAT_LOGFMT, LOG_ERROR, 2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creates_and_syncs),
        cmocka_unit_test(test_heals_reset_cabundle),
        cmocka_unit_test(test_unreadable_configuration),
        cmocka_unit_test(test_follower_never_writes),
        cmocka_unit_test(test_lost_lease_stops_the_write),
        cmocka_unit_test(test_renewal_at_two_thirds),
        cmocka_unit_test(test_ca_rollover),
        cmocka_unit_test(test_rollover_settle_restarts_after_reset),
        cmocka_unit_test(test_broken_secret_and_conflict),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
