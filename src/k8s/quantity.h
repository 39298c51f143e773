/* quantity.h - Kubernetes quantities, Flink memory sizes and JVM heap sizes, exactly.
 *
 * Three formats that look alike and mean different things (DOMAIN-RULES §4):
 *   Kubernetes quantity  "1G" = 10^9, "1Gi" = 2^30, "500m" = 0.5; case-sensitive
 *   Flink MemorySize     "1g" = "1G" = "1024m" = 2^30; integers only; case-insensitive units
 *   JVM -Xmx size        "1G" = "1g" = "1024m" = 2^30; integers only
 * A quantity is held exactly as an integer count of nano-units (value x 10^9). */
#ifndef SG_K8S_QUANTITY_H
#define SG_K8S_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct k8s_quantity {
    __int128 nano; /* the value times 10^9; parsing rounds finer values up, as Kubernetes does */
} k8s_quantity;

/* The largest magnitude held: 10^36 nano-units (10^27), far beyond any real resource. */
#define K8S_QUANTITY_MAX_NANO ((__int128)1000000000000000000LL * 1000000000000000000LL)

/* Parses a Kubernetes quantity ("500m", "1.5Gi", "1e3", "-2", "+.5k"). Returns 0, or -1 with
 * a reason in 'err' (a static string) for anything else. */
int k8s_quantity_parse(const char *s, size_t len, k8s_quantity *out, const char **err);

/* Parses a Flink MemorySize ("2048m", "1 gb", "512K", "100") into bytes. Returns 0, or -1. */
int k8s_flink_memory_parse(const char *s, size_t len, int64_t *bytes, const char **err);

/* The Flink operator's reading of resource memory (ResourceConfigUtils): a MemorySize, or
 * else, normalised (spaces removed, upper-cased, a trailing B dropped, a trailing I made
 * 'i'), a Kubernetes quantity. Returns 0 with the value, or -1. */
int k8s_flink_resource_memory_parse(const char *s, size_t len, k8s_quantity *out,
                                    const char **err);

/* Parses a JVM heap size as -Xmx reads it ("4G", "512m", "1024k", "1073741824"). Returns 0
 * with bytes, or -1. */
int k8s_jvm_memory_parse(const char *s, size_t len, int64_t *bytes, const char **err);

/* -1, 0 or 1. */
int k8s_quantity_cmp(const k8s_quantity *a, const k8s_quantity *b);

/* a + b (or a - b with 'negate_b'); returns -1 when the result is out of range. */
int k8s_quantity_add(const k8s_quantity *a, const k8s_quantity *b, bool negate_b,
                     k8s_quantity *out);

/* A quantity of 'n' whole units. */
k8s_quantity k8s_quantity_from_int(int64_t n);

/* True when the value is a whole number. */
bool k8s_quantity_is_integer(const k8s_quantity *q);

/* The whole value when it is an integer within int64; returns -1 otherwise. */
int k8s_quantity_to_int(const k8s_quantity *q, int64_t *out);

/* The value as a double (rounded). */
double k8s_quantity_to_double(const k8s_quantity *q);

/* Writes a decimal rendering ("1073741824", "0.5", "-2.000000001") into 'out'. */
void k8s_quantity_format(const k8s_quantity *q, char *out, size_t cap);

#endif
