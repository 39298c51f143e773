/* auditor.c - the background audit's thread; see auditor.h. */
#include "auditor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/vec.h"
#include "audit.h"
#include "report.h"
#include "sync.h"

#define MAX_KINDS       128
#define API_TIMEOUT_MS  10000

/* The gauges of one policy after the last round. */
typedef struct gauge {
    char *policy;
    long n[AUDIT_RESULT_COUNT];
} gauge;

enum { W_CREATED, W_UPDATED, W_DELETED, W_FAILED, W_COUNT };
static const char *const write_names[W_COUNT] = {"created", "updated", "deleted", "failed"};

struct auditor {
    auditor_env env;
    long long interval_ms;
    pthread_t thread;
    atomic_bool stop;
    bool joined; /* under mu */

    pthread_mutex_t mu; /* the fields below, to the metrics */
    pthread_cond_t wake;
    policy_set *set;
    bool policies_changed, dirty, was_writer;
    long long first_change, last_change, next_full, retry_at; /* monotonic ms; 0: none */
    int failures; /* rounds in a row that did not finish */

    kube_kind kinds[MAX_KINDS]; /* what the caches were last asked to watch for us */
    size_t n_kinds;
    bool kinds_told;

    pthread_mutex_t metrics_mu;
    gauge *gauges;
    size_t n_gauges;
    double last_run_s, last_duration_s;
    long last_objects;
    unsigned long long writes[W_COUNT], rounds_ok, rounds_failed;
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- one round ---- */

/* The kinds to audit as the cluster serves them; -1 when discovery could not be asked (the
 * round must not write: it would delete the results of a kind it did not see). */
static int resolve_kinds(auditor *a, const policy_set *set, kube_kind *out, size_t *n)
{
    audit_kind ak[MAX_KINDS];
    size_t wild, na = audit_kinds(set, ak, MAX_KINDS, &wild);
    *n = 0;
    if (na > MAX_KINDS)
        log_warn("audit", LOG_S("msg", "too many kinds to audit; the first ones are"),
                 LOG_I("kinds", (long)na), LOG_I("audited", MAX_KINDS));
    for (size_t i = 0; i < na && i < MAX_KINDS; i++) {
        kube_resource res;
        char err[512];
        int rc = audit_resolve_kind(a->env.client, &ak[i], API_TIMEOUT_MS, &res, err);
        if (rc < 0) {
            log_warn("audit", LOG_S("msg", "a kind to audit could not be discovered"),
                     LOG_S("kind", ak[i].kind), LOG_S("error", err));
            return -1;
        }
        if (rc > 0 || strlen(res.api_version) >= sizeof out[0].api_version)
            continue; /* not served: no object of it exists */
        snprintf(out[*n].api_version, sizeof out[*n].api_version, "%s", res.api_version);
        snprintf(out[*n].kind, sizeof out[*n].kind, "%s", res.kind);
        (*n)++;
    }
    return 0;
}

static void tell_kinds(auditor *a, const kube_kind *k, size_t n)
{
    if (a->kinds_told && n == a->n_kinds && memcmp(k, a->kinds, n * sizeof *k) == 0)
        return;
    memcpy(a->kinds, k, n * sizeof *k);
    a->n_kinds = n;
    a->kinds_told = true;
    a->env.watch_kinds(a->env.arg, k, n);
}

/* Keeps the audit under AUDITOR_RATE objects a second: object 'i' of a round that began at
 * 't0' waits for its slot (in slices, so that a stop is not held up). */
static void pace(auditor *a, long long t0, long i)
{
    long long slot = t0 + i * 1000 / AUDITOR_RATE;
    long long now;
    while (!atomic_load(&a->stop) && (now = mono_ms()) < slot) {
        long long ms = slot - now < 100 ? slot - now : 100;
        struct timespec ts = {0, (long)ms * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Audits every object of kind 'k' from the cache into 'rs'. -1: the kind is not listed yet
 * (or stopped, or out of memory). */
/* Audits one object into 'rs'. An object that cannot be audited (its evaluation ran out of
 * the arena, the decoder refused it) gets an error result (report_set_add_error) instead of
 * failing the round: otherwise that one object would keep every report stale for as long as
 * it exists. Returns -1 only for what is not about the object: memory for the reports. */
static int audit_one(const policy_set *set, const policy_lookup *lk, const cJSON *obj,
                     const char *kind, arena *eval, report_set *rs, long long now)
{
    diag_list dl;
    diag_list_init(&dl);
    audit_outcome o;
    int rc;
    if (audit_object(set, obj, lk, eval, &o, &dl) == 0) {
        rc = report_set_add(rs, obj, &o, now);
    } else {
        const char *why = dl.count ? dl.items[0].msg : "the evaluation failed";
        log_warn("audit", LOG_S("msg", "an object could not be audited; its result is an error"),
                 LOG_S("kind", kind), LOG_S("error", why));
        rc = report_set_add_error(rs, obj, why, now);
    }
    diag_list_clear(&dl);
    arena_reset(eval);
    return rc;
}

static int audit_kind_objects(auditor *a, const policy_set *set, const kube_kind *k,
                              report_set *rs, arena *list_a, arena *eval, long long t0,
                              long *count)
{
    kube_obj **objs;
    size_t n;
    char why[256];
    if (kube_cache_list(a->env.cache, k->api_version, k->kind, "", list_a, &objs, &n, why) ==
        KUBE_UNAVAILABLE) {
        log_info("audit", LOG_S("msg", "a kind is not listed yet; the round waits"),
                 LOG_S("kind", k->kind), LOG_S("why", why));
        return -1;
    }
    long long now = (long long)now_s();
    for (size_t i = 0; i < n && !atomic_load(&a->stop); i++) {
        pace(a, t0, (*count)++);
        if (audit_one(set, &a->env.lookup, kube_obj_json(objs[i]), k->kind, eval, rs, now) != 0)
            return -1;
    }
    return atomic_load(&a->stop) ? -1 : 0;
}

static void set_gauges(auditor *a, const policy_set *set, const report_set *rs)
{
    size_t np = 0;
    const policy *ps = set && rs ? policy_set_items(set, &np) : NULL;
    gauge *g = calloc(np + 1, sizeof *g);
    size_t n = 0;
    bool named = false; /* a policy of the set is called REPORT_ERROR_POLICY */
    for (size_t i = 0; g != NULL && i < np; i++) {
        named |= strcmp(ps[i].name, REPORT_ERROR_POLICY) == 0;
        if (ps[i].n_validations == 0 || (g[n].policy = strdup(ps[i].name)) == NULL)
            continue;
        for (int r = 0; r < AUDIT_RESULT_COUNT; r++)
            g[n].n[r] = report_set_count(rs, ps[i].name, (enum audit_result)r);
        n++;
    }
    /* The objects that could not be audited (report_set_add_error) are counted too. */
    long errors = rs ? report_set_count(rs, REPORT_ERROR_POLICY, AUDIT_ERROR) : 0;
    if (g != NULL && !named && errors > 0 && (g[n].policy = strdup(REPORT_ERROR_POLICY))) {
        g[n].n[AUDIT_ERROR] = errors;
        n++;
    }
    pthread_mutex_lock(&a->metrics_mu);
    for (size_t i = 0; i < a->n_gauges; i++)
        free(a->gauges[i].policy);
    free(a->gauges);
    a->gauges = g;
    a->n_gauges = n;
    pthread_mutex_unlock(&a->metrics_mu);
}

static int audit_all(auditor *a, const policy_set *set, const kube_kind *k, size_t nk,
                     report_set *rs, long *count)
{
    arena *list_a = arena_new(ARENA_REQUEST_BUDGET), *eval = arena_new(ARENA_REQUEST_BUDGET);
    int rc = list_a && eval ? 0 : -1;
    long long t0 = mono_ms();
    for (size_t i = 0; rc == 0 && i < nk; i++) {
        rc = audit_kind_objects(a, set, &k[i], rs, list_a, eval, t0, count);
        arena_reset(list_a);
    }
    arena_free(list_a);
    arena_free(eval);
    return rc;
}

/* One round: the kinds, their objects, the reports. Returns 0, or -1 to try again soon. */
static int run_round(auditor *a, const policy_set *set)
{
    double t0 = now_s();
    kube_kind kinds[MAX_KINDS];
    size_t nk;
    report_set *rs = NULL;
    long objects = 0;
    int rc = resolve_kinds(a, set, kinds, &nk);
    if (rc == 0) {
        tell_kinds(a, kinds, nk);
        rs = report_set_new();
        rc = rs ? audit_all(a, set, kinds, nk, rs, &objects) : -1;
    }
    report_sync_stats st = {0};
    if (rc == 0) {
        report_api api = report_api_client(a->env.client);
        rc = report_sync(&api, rs, a->env.may_write, a->env.arg, API_TIMEOUT_MS, &st);
        set_gauges(a, set, rs);
    }
    double dt = now_s() - t0;
    pthread_mutex_lock(&a->metrics_mu);
    unsigned long long w[W_COUNT] = {st.created, st.updated, st.deleted, st.failed};
    for (int i = 0; i < W_COUNT; i++)
        a->writes[i] += w[i];
    if (rc == 0) {
        a->rounds_ok++;
        a->last_run_s = t0;
        a->last_duration_s = dt;
        a->last_objects = objects;
    } else {
        a->rounds_failed++;
    }
    pthread_mutex_unlock(&a->metrics_mu);
    log_info("audit", LOG_S("msg", rc == 0 ? "audit round done" : "audit round not finished"),
             LOG_I("objects", objects), LOG_I("created", st.created),
             LOG_I("updated", st.updated), LOG_I("deleted", st.deleted),
             LOG_I("unchanged", st.unchanged), LOG_I("failed", st.failed),
             LOG_B("stopped_writing", st.stopped), LOG_F("seconds", dt));
    report_set_free(rs);
    return rc;
}

/* ---- the thread ---- */

/* Milliseconds until a round is due (0: now). Under a->mu. */
static long long due_in(auditor *a, long long now, bool writer)
{
    if (a->set == NULL || !writer)
        return 1000; /* look again: leadership comes without a signal */
    if (!a->was_writer || a->policies_changed)
        return 0;
    long long at = a->next_full;
    if (a->retry_at != 0 && a->retry_at < at)
        at = a->retry_at;
    if (a->dirty) {
        long long quiet = a->last_change + AUDITOR_QUIET_MS;
        long long cap = a->first_change + AUDITOR_MAX_DELAY_MS;
        long long d = quiet < cap ? quiet : cap;
        at = d < at ? d : at;
    }
    return at <= now ? 0 : at - now;
}

/* How long after the 'n'th failed round in a row the next is tried: a failure that stays (no
 * CRD, no right to write) must not make the writer audit every object every few seconds. */
static long long retry_delay_ms(int n)
{
    long long d = AUDITOR_RETRY_MS;
    for (int i = 1; i < n && d < AUDITOR_RETRY_MAX_MS; i++)
        d *= 2;
    return d < AUDITOR_RETRY_MAX_MS ? d : AUDITOR_RETRY_MAX_MS;
}

static void wait_ms(auditor *a, long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&a->wake, &a->mu, &ts);
}

static void *auditor_main(void *arg)
{
    auditor *a = arg;
    kube_thread_stop(&a->stop);
    /* Below the workers: an audit round yields the CPU to admission. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
        log_warn("audit", LOG_S("msg", "the audit thread keeps the normal priority"));
    pthread_mutex_lock(&a->mu);
    while (!atomic_load(&a->stop)) {
        bool writer = a->env.may_write(a->env.arg);
        if (!writer && a->was_writer)
            set_gauges(a, NULL, NULL); /* the writer's numbers are no longer ours */
        if (!writer)
            a->was_writer = false;
        long long now = mono_ms(), wait = due_in(a, now, writer);
        if (wait > 0) {
            wait_ms(a, wait < 1000 ? wait : 1000);
            continue;
        }
        policy_set *set = policy_set_ref(a->set);
        a->policies_changed = a->dirty = false;
        a->was_writer = true;
        a->retry_at = 0;
        pthread_mutex_unlock(&a->mu);
        int rc = run_round(a, set);
        pthread_mutex_lock(&a->mu);
        policy_set_unref(set);
        now = mono_ms();
        a->next_full = now + a->interval_ms;
        a->failures = rc != 0 ? a->failures + 1 : 0;
        if (rc != 0)
            a->retry_at = now + retry_delay_ms(a->failures);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

auditor *auditor_start(const auditor_env *env, unsigned interval_s)
{
    auditor *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->env = *env;
    a->interval_ms = (long long)interval_s * 1000;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->metrics_mu, NULL);
    pthread_cond_init(&a->wake, NULL); /* CLOCK_REALTIME, as wait_ms reads it */
    atomic_init(&a->stop, false);
    if (pthread_create(&a->thread, NULL, auditor_main, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_mutex_destroy(&a->metrics_mu);
        pthread_cond_destroy(&a->wake);
        free(a);
        return NULL;
    }
    return a;
}

void auditor_set_policies(auditor *a, policy_set *s)
{
    if (a == NULL)
        return;
    policy_set *ref = policy_set_ref(s);
    pthread_mutex_lock(&a->mu);
    policy_set *old = a->set;
    a->set = ref;
    a->policies_changed = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    policy_set_unref(old);
}

void auditor_changed(auditor *a)
{
    if (a == NULL)
        return;
    long long now = mono_ms();
    pthread_mutex_lock(&a->mu);
    if (!a->dirty)
        a->first_change = now;
    a->dirty = true;
    a->last_change = now;
    pthread_mutex_unlock(&a->mu);
}

int auditor_metrics(auditor *a, buf *out)
{
    if (a == NULL)
        return 0;
    pthread_mutex_lock(&a->metrics_mu);
    int rc = buf_puts(out, "# HELP streamguard_audit_results Results of the last background "
                           "audit round, by policy and result (only on the replica that "
                           "writes the PolicyReports).\n"
                           "# TYPE streamguard_audit_results gauge\n");
    for (size_t i = 0; i < a->n_gauges; i++)
        for (int r = 0; r < AUDIT_RESULT_COUNT; r++) {
            rc |= buf_puts(out, "streamguard_audit_results{policy=\"");
            rc |= buf_put_label(out, a->gauges[i].policy);
            rc |= buf_printf(out, "\",result=\"%s\"} %ld\n", audit_result_names[r],
                             a->gauges[i].n[r]);
        }
    rc |= buf_printf(out,
                     "# HELP streamguard_audit_last_run_timestamp_seconds When the last "
                     "finished audit round began (0: none yet).\n"
                     "# TYPE streamguard_audit_last_run_timestamp_seconds gauge\n"
                     "streamguard_audit_last_run_timestamp_seconds %.3f\n"
                     "# HELP streamguard_audit_last_run_duration_seconds How long it took.\n"
                     "# TYPE streamguard_audit_last_run_duration_seconds gauge\n"
                     "streamguard_audit_last_run_duration_seconds %.3f\n"
                     "# HELP streamguard_audit_objects Objects the last round audited.\n"
                     "# TYPE streamguard_audit_objects gauge\n"
                     "streamguard_audit_objects %ld\n"
                     "# HELP streamguard_audit_rounds_total Audit rounds, by outcome.\n"
                     "# TYPE streamguard_audit_rounds_total counter\n"
                     "streamguard_audit_rounds_total{outcome=\"ok\"} %llu\n"
                     "streamguard_audit_rounds_total{outcome=\"failed\"} %llu\n"
                     "# HELP streamguard_audit_report_writes_total PolicyReport writes, by "
                     "outcome.\n"
                     "# TYPE streamguard_audit_report_writes_total counter\n",
                     a->last_run_s, a->last_duration_s, a->last_objects, a->rounds_ok,
                     a->rounds_failed);
    for (int i = 0; i < W_COUNT; i++)
        rc |= buf_printf(out, "streamguard_audit_report_writes_total{outcome=\"%s\"} %llu\n",
                         write_names[i], a->writes[i]);
    pthread_mutex_unlock(&a->metrics_mu);
    return rc != 0 ? -1 : 0;
}

void auditor_stop(auditor *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    bool joined = a->joined;
    a->joined = true;
    atomic_store(&a->stop, true);
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    if (!joined)
        pthread_join(a->thread, NULL);
}

void auditor_free(auditor *a)
{
    if (a == NULL)
        return;
    auditor_stop(a);
    policy_set_unref(a->set);
    set_gauges(a, NULL, NULL);
    free(a->gauges);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->metrics_mu);
    pthread_cond_destroy(&a->wake);
    free(a);
}
