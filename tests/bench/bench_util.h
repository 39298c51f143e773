/* bench_util.h - what the benchmarks share: a microsecond clock and the median and p99 of a
 * sample (sorted in place). */
#ifndef SG_BENCH_UTIL_H
#define SG_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

static inline double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts the 'n' (> 0) values of 'v'; their median, and their 99th percentile into '*p99'
 * when it is not NULL. */
static inline double bench_median(double *v, long n, double *p99)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    if (p99 != NULL)
        *p99 = v[(long)(n * 0.99)];
    return v[n / 2];
}

#endif
