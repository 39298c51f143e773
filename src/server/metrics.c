/* metrics.c - Prometheus counters; see metrics.h. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "../util/version.h"

/* HTTP codes get their own series; anything else is counted under "other". */
static const int tracked_codes[] = {200, 400, 401, 404, 405, 413, 415, 500, 503};
#define N_CODES    (sizeof tracked_codes / sizeof tracked_codes[0] + 1)
/* The admission decisions, then "none" (a request that carried no review). */
#define N_DECISION ((size_t)ADMISSION_DECISION_COUNT + 1)
#define DECISION_NONE ((size_t)ADMISSION_DECISION_COUNT)

static const double bucket_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                   0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
#define N_BUCKETS (sizeof bucket_le / sizeof bucket_le[0])

static _Atomic unsigned long long requests[EP_COUNT][N_CODES][N_DECISION];
static _Atomic unsigned long long hist_bucket[EP_COUNT][N_BUCKETS + 1]; /* review rows only */
static _Atomic unsigned long long hist_sum_ns[EP_COUNT];
static _Atomic unsigned long long reviews[EP_COUNT][ADMISSION_EFFECT_COUNT][2]; /* [deny, warn] */
static _Atomic long in_flight;
static _Atomic long connections;
static _Atomic long long cert_not_after;
static _Atomic int ready;
static long long start_time;
static _Atomic unsigned long long reloads[2][2]; /* [certificate, policies][ok, error] */
static _Atomic long long last_reload_ok[2];
/* The outcome of the latest reload, 1 or 0: the counters above say a reload failed once, this
 * says the files on disk are bad now, for as long as they stay bad. */
static _Atomic int last_outcome[2] = {1, 1};
static _Atomic unsigned long long empty_sets[2]; /* [refused, served] */
static _Atomic long policy_count;

static size_t code_index(int code)
{
    for (size_t i = 0; i + 1 < N_CODES; i++) {
        if (tracked_codes[i] == code)
            return i;
    }
    return N_CODES - 1;
}

void metrics_request_done(enum server_endpoint ep, int http_code, int decision, double seconds)
{
    size_t d = decision >= 0 && decision < ADMISSION_DECISION_COUNT ? (size_t)decision
                                                                     : DECISION_NONE;
    atomic_fetch_add_explicit(&requests[ep][code_index(http_code)][d], 1, memory_order_relaxed);
    if (!server_routes[ep].review)
        return;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > bucket_le[b])
        b++;
    atomic_fetch_add_explicit(&hist_bucket[ep][b], 1, memory_order_relaxed);
    unsigned long long ns = seconds > 0 ? (unsigned long long)(seconds * 1e9) : 0;
    atomic_fetch_add_explicit(&hist_sum_ns[ep], ns, memory_order_relaxed);
}

void metrics_review_done(enum server_endpoint ep, enum admission_effect effect, bool warn_only)
{
    if (effect < ADMISSION_EFFECT_COUNT)
        atomic_fetch_add_explicit(&reviews[ep][effect][warn_only ? 1 : 0], 1,
                                  memory_order_relaxed);
}

void metrics_in_flight_add(int delta)
{
    atomic_fetch_add_explicit(&in_flight, delta, memory_order_relaxed);
}

void metrics_connections_add(int delta)
{
    atomic_fetch_add_explicit(&connections, delta, memory_order_relaxed);
}

void metrics_set_cert_not_after(long long t)
{
    atomic_store_explicit(&cert_not_after, t, memory_order_relaxed);
}

void metrics_set_ready(bool r)
{
    if (start_time == 0)
        start_time = (long long)time(NULL);
    atomic_store_explicit(&ready, r ? 1 : 0, memory_order_relaxed);
}

static const char *decision_label(size_t d)
{
    return d < DECISION_NONE ? admission_decision_name((enum admission_decision)d) : "none";
}

static int render_requests(buf *out)
{
    int rc = buf_puts(out, "# HELP streamguard_http_requests_total HTTP requests answered, by "
                           "endpoint, status code and admission decision.\n"
                           "# TYPE streamguard_http_requests_total counter\n");
    for (size_t e = 0; e < EP_COUNT; e++) {
        for (size_t c = 0; c < N_CODES; c++) {
            for (size_t d = 0; d < N_DECISION; d++) {
                unsigned long long v = atomic_load_explicit(&requests[e][c][d], memory_order_relaxed);
                if (v == 0)
                    continue;
                char code[16];
                if (c + 1 < N_CODES)
                    snprintf(code, sizeof code, "%d", tracked_codes[c]);
                else
                    snprintf(code, sizeof code, "other");
                rc |= buf_printf(out,
                                 "streamguard_http_requests_total{endpoint=\"%s\",code=\"%s\","
                                 "decision=\"%s\"} %llu\n",
                                 server_routes[e].label, code, decision_label(d), v);
            }
        }
    }
    return rc;
}

static int render_reviews(buf *out)
{
    static const char *const enforcement[] = {"deny", "warn"};
    int rc = buf_puts(out, "# HELP streamguard_reviews_total Reviews answered, by endpoint, what "
                           "the answer did (denied, would_deny, warned, audited, allowed: the "
                           "first that applies) and the server's --enforcement.\n"
                           "# TYPE streamguard_reviews_total counter\n");
    for (size_t e = 0; e < EP_COUNT; e++) {
        for (size_t d = 0; d < ADMISSION_EFFECT_COUNT; d++) {
            for (size_t w = 0; w < 2; w++) {
                unsigned long long v =
                    atomic_load_explicit(&reviews[e][d][w], memory_order_relaxed);
                if (v == 0)
                    continue;
                rc |= buf_printf(out,
                                 "streamguard_reviews_total{endpoint=\"%s\",decision=\"%s\","
                                 "enforcement=\"%s\"} %llu\n",
                                 server_routes[e].label,
                                 admission_effect_name((enum admission_effect)d),
                                 enforcement[w], v);
            }
        }
    }
    return rc;
}

static int render_histogram(buf *out)
{
    int rc = buf_puts(out, "# HELP streamguard_review_duration_seconds Time from the first byte "
                           "of a review request to its answer being queued.\n"
                           "# TYPE streamguard_review_duration_seconds histogram\n");
    for (size_t e = 0; e < EP_COUNT; e++) {
        if (!server_routes[e].review)
            continue;
        const char *label = server_routes[e].label;
        unsigned long long cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cum += atomic_load_explicit(&hist_bucket[e][b], memory_order_relaxed);
            if (b < N_BUCKETS)
                rc |= buf_printf(out, "streamguard_review_duration_seconds_bucket{endpoint=\"%s\","
                                      "le=\"%g\"} %llu\n", label, bucket_le[b], cum);
            else
                rc |= buf_printf(out, "streamguard_review_duration_seconds_bucket{endpoint=\"%s\","
                                      "le=\"+Inf\"} %llu\n", label, cum);
        }
        double sum = (double)atomic_load_explicit(&hist_sum_ns[e], memory_order_relaxed) / 1e9;
        rc |= buf_printf(out, "streamguard_review_duration_seconds_sum{endpoint=\"%s\"} %.9f\n",
                         label, sum);
        rc |= buf_printf(out, "streamguard_review_duration_seconds_count{endpoint=\"%s\"} %llu\n",
                         label, cum);
    }
    return rc;
}

void metrics_reload_done(enum metrics_reload what, bool ok)
{
    atomic_fetch_add_explicit(&reloads[what][ok ? 0 : 1], 1, memory_order_relaxed);
    if (ok)
        atomic_store_explicit(&last_reload_ok[what], (long long)time(NULL), memory_order_relaxed);
    metrics_reload_outcome(what, ok);
}

void metrics_reload_outcome(enum metrics_reload what, bool ok)
{
    atomic_store_explicit(&last_outcome[what], ok ? 1 : 0, memory_order_relaxed);
}

void metrics_empty_policy_set(bool served)
{
    atomic_fetch_add_explicit(&empty_sets[served ? 1 : 0], 1, memory_order_relaxed);
}

void metrics_set_policy_count(long n)
{
    atomic_store_explicit(&policy_count, n, memory_order_relaxed);
}

static int render_reloads(buf *out)
{
    static const char *const what[] = {"certificate", "policies"};
    int rc = buf_printf(out, "# HELP streamguard_reloads_total Reloads of the serving certificate "
                             "and of the policies, by result.\n"
                             "# TYPE streamguard_reloads_total counter\n");
    for (int w = 0; w < 2; w++)
        for (int r = 0; r < 2; r++)
            rc |= buf_printf(out, "streamguard_reloads_total{kind=\"%s\",result=\"%s\"} %llu\n", what[w],
                             r == 0 ? "ok" : "error",
                             atomic_load_explicit(&reloads[w][r], memory_order_relaxed));
    rc |= buf_printf(out, "# HELP streamguard_last_reload_success_timestamp_seconds When the "
                          "certificate or the policies last loaded (start-up counts).\n"
                          "# TYPE streamguard_last_reload_success_timestamp_seconds gauge\n");
    for (int w = 0; w < 2; w++)
        rc |= buf_printf(out, "streamguard_last_reload_success_timestamp_seconds{kind=\"%s\"} %lld\n",
                         what[w], atomic_load_explicit(&last_reload_ok[w], memory_order_relaxed));
    rc |= buf_printf(out, "# HELP streamguard_last_reload_success Whether the latest load of the "
                          "certificate or the policies succeeded (1) or was refused (0).\n"
                          "# TYPE streamguard_last_reload_success gauge\n");
    for (int w = 0; w < 2; w++)
        rc |= buf_printf(out, "streamguard_last_reload_success{kind=\"%s\"} %d\n", what[w],
                         atomic_load_explicit(&last_outcome[w], memory_order_relaxed));
    rc |= buf_printf(out, "# HELP streamguard_policies Policies in the set being served.\n"
                          "# TYPE streamguard_policies gauge\n"
                          "streamguard_policies %ld\n",
                     atomic_load_explicit(&policy_count, memory_order_relaxed));
    rc |= buf_printf(out,
                     "# HELP streamguard_empty_policy_sets_total Policy sets that loaded with "
                     "no policy, refused or served (--allow-empty-policies).\n"
                     "# TYPE streamguard_empty_policy_sets_total counter\n"
                     "streamguard_empty_policy_sets_total{result=\"refused\"} %llu\n"
                     "streamguard_empty_policy_sets_total{result=\"served\"} %llu\n",
                     atomic_load_explicit(&empty_sets[0], memory_order_relaxed),
                     atomic_load_explicit(&empty_sets[1], memory_order_relaxed));
    return rc;
}

int metrics_render(buf *out)
{
    int rc = render_requests(out);
    rc |= render_reviews(out);
    rc |= render_histogram(out);
    rc |= render_reloads(out);
    rc |= buf_printf(out,
                     "# HELP streamguard_http_requests_in_flight Requests being processed now.\n"
                     "# TYPE streamguard_http_requests_in_flight gauge\n"
                     "streamguard_http_requests_in_flight %ld\n"
                     "# HELP streamguard_connections_open Client connections open now.\n"
                     "# TYPE streamguard_connections_open gauge\n"
                     "streamguard_connections_open %ld\n",
                     atomic_load_explicit(&in_flight, memory_order_relaxed),
                     atomic_load_explicit(&connections, memory_order_relaxed));
    rc |= buf_printf(out,
                     "# HELP streamguard_ready Whether /readyz answers 200.\n"
                     "# TYPE streamguard_ready gauge\n"
                     "streamguard_ready %d\n"
                     "# HELP streamguard_tls_certificate_not_after_seconds The serving "
                     "certificate's notAfter as a Unix timestamp.\n"
                     "# TYPE streamguard_tls_certificate_not_after_seconds gauge\n"
                     "streamguard_tls_certificate_not_after_seconds %lld\n"
                     "# HELP streamguard_process_start_time_seconds Start time of the process "
                     "since the Unix epoch.\n"
                     "# TYPE streamguard_process_start_time_seconds gauge\n"
                     "streamguard_process_start_time_seconds %lld\n",
                     atomic_load_explicit(&ready, memory_order_relaxed),
                     atomic_load_explicit(&cert_not_after, memory_order_relaxed), start_time);
    rc |= buf_printf(out,
                     "# HELP streamguard_build_info Version and commit of this build.\n"
                     "# TYPE streamguard_build_info gauge\n"
                     "streamguard_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                     STREAMGUARD_VERSION, STREAMGUARD_COMMIT);
    return rc;
}
