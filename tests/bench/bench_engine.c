/* bench_engine.c - microseconds per admission review with the shipped policies.
 *
 * Reviews: a FlinkDeployment and a K8ssandraCluster captured from kube-apiserver (the
 * FlinkDeployment is the upstream HA example on a hostPath, so it is denied and every message
 * is built), and flinkdeployment-typical-v1.json, the captured review carrying
 * examples/flink/ha-rwx-good.yaml (passes every policy).
 *
 * The policies are loaded (compiled) once. Each review is then decided N times
 * (default 10^5), each timed on its own, with the request arena reset in between as the server
 * does: "engine" is admission_decide() on the decoded request (the policy engine and the
 * response it builds), "round trip" is admission_process() on the raw body (JSON decode,
 * decide, encode), which is all the server adds to TLS and HTTP. Prints a Markdown table of
 * medians and 99th percentiles. Usage: bench_engine [N] [POLICY_DIR] [REVIEW.json...] (the
 * three reviews above when none is given). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admission/decide.h"
#include "util/buf.h"
#include "util/file.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and 99th percentile of 'n' samples (sorted in place). */
static void stats(double *v, long n, double *median, double *p99)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median = v[n / 2];
    *p99 = v[(long)(n * 0.99)];
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    const char *dir = argc > 2 ? argv[2] : "policies";
    static const char *const shipped[] = {
        "tests/fixtures/admission/flinkdeployment-create-v1.json",
        "tests/bench/flinkdeployment-typical-v1.json",
        "tests/fixtures/admission/k8ssandracluster-create-v1.json",
    };
    const char *const *reviews = argc > 3 ? (const char *const *)argv + 3 : shipped;
    size_t n_reviews = argc > 3 ? (size_t)argc - 3 : sizeof shipped / sizeof shipped[0];
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load_dir(dir, &dl);
    size_t n_policies = 0;
    if (set == NULL || n < 1) {
        fprintf(stderr, "bench_engine: cannot load the policies in %s\n", dir);
        return 1;
    }
    policy_set_items(set, &n_policies);
    admission_policy pol = {.set = set};
    double *samples = malloc((size_t)n * sizeof *samples);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    if (samples == NULL || a == NULL)
        return 1;
    printf("%zu policies from %s, %ld reviews each, compiled once\n\n", n_policies, dir, n);
    printf("| review | endpoint | verdict | engine median µs | engine p99 µs | round trip median µs | round trip p99 µs |\n");
    printf("|---|---|---|---:|---:|---:|---:|\n");
    for (size_t r = 0; r < n_reviews; r++) {
        buf body;
        buf_init(&body, (size_t)4 << 20);
        if (file_read(reviews[r], body.cap, &body, &dl) != 0) {
            fprintf(stderr, "bench_engine: cannot read %s\n", reviews[r]);
            return 1;
        }
        for (int m = 0; m < 2; m++) {
            enum admission_mode mode = m == 0 ? ADMISSION_VALIDATE : ADMISSION_MUTATE;
            arena *ra = arena_new(ARENA_REQUEST_BUDGET);
            admission_request *req = admission_request_decode(ra, body.data, body.len, &dl);
            if (req == NULL) {
                fprintf(stderr, "bench_engine: cannot decode %s\n", reviews[r]);
                return 1;
            }
            const char *verdict = "?";
            for (long i = 0; i < n; i++) {
                arena_reset(a);
                admission_response resp;
                policy_outcome out;
                double t0 = now_us();
                int rc = admission_decide(mode, req, &pol, a, &resp, &out, &dl);
                samples[i] = now_us() - t0;
                cJSON_Delete(out.mutated); /* handed over with the outcome */
                if (rc != 0) {
                    fprintf(stderr, "bench_engine: no decision on %s\n", reviews[r]);
                    return 1;
                }
                if (i == 0)
                    verdict = out.denied ? "denied" : out.n_findings ? "allowed, warnings" : "allowed";
            }
            double em, e99, rm, r99;
            stats(samples, n, &em, &e99);
            for (long i = 0; i < n; i++) {
                arena_reset(a);
                admission_result res;
                double t0 = now_us();
                admission_process(mode, body.data, body.len, &pol, a, &res);
                samples[i] = now_us() - t0;
                free(res.body);
            }
            stats(samples, n, &rm, &r99);
            const char *name = strrchr(reviews[r], '/') ? strrchr(reviews[r], '/') + 1 : reviews[r];
            printf("| %s | %s | %s | %.2f | %.2f | %.2f | %.2f |\n", name,
                   m == 0 ? "/validate" : "/mutate", verdict, em, e99, rm, r99);
            admission_request_free(req);
            arena_free(ra);
        }
        buf_clear(&body);
    }
    free(samples);
    arena_free(a);
    policy_set_unref(set);
    diag_list_clear(&dl);
    return 0;
}
