/* quantity.c - exact quantity arithmetic and the three memory formats; see quantity.h. */
#include "quantity.h"

#include <stdio.h>
#include <string.h>

#define NANO 1000000000LL

static bool digit(char c) { return c >= '0' && c <= '9'; }

static bool in_range(__int128 v)
{
    return v <= K8S_QUANTITY_MAX_NANO && v >= -K8S_QUANTITY_MAX_NANO;
}

/* 10^e for 0 <= e <= 38 (10^38 < 2^127): a table of 10^0..10^19, and a product beyond. */
static __int128 pow10_i128(int e)
{
    static const uint64_t p[20] = {1ULL,
                                   10ULL,
                                   100ULL,
                                   1000ULL,
                                   10000ULL,
                                   100000ULL,
                                   1000000ULL,
                                   10000000ULL,
                                   100000000ULL,
                                   1000000000ULL,
                                   10000000000ULL,
                                   100000000000ULL,
                                   1000000000000ULL,
                                   10000000000000ULL,
                                   100000000000000ULL,
                                   1000000000000000ULL,
                                   10000000000000000ULL,
                                   100000000000000000ULL,
                                   1000000000000000000ULL,
                                   10000000000000000000ULL};
    return e <= 19 ? (__int128)p[e] : (__int128)p[19] * p[e - 19];
}

/* The suffix: a power of ten or of two. Returns false for an unknown suffix. Decided by the
 * suffix's length and bytes, not by a scan of a table of them: a quantity is parsed for every
 * resource value a policy reads. */
static bool parse_suffix(const char *s, size_t len, int *exp10, int *exp2, bool *ok_exp)
{
    *ok_exp = false;
    *exp10 = 0;
    *exp2 = 0;
    if (len == 0)
        return true;
    if (len == 1) {
        switch (s[0]) {
        case 'n': *exp10 = -9; return true;
        case 'u': *exp10 = -6; return true;
        case 'm': *exp10 = -3; return true;
        case 'k': *exp10 = 3; return true;
        case 'M': *exp10 = 6; return true;
        case 'G': *exp10 = 9; return true;
        case 'T': *exp10 = 12; return true;
        case 'P': *exp10 = 15; return true;
        case 'E': *exp10 = 18; return true;
        default: return false; /* an exponent needs a digit */
        }
    }
    if (len == 2 && s[1] == 'i') {
        static const char bin[] = "KMGTPE";
        const char *at = memchr(bin, s[0], sizeof bin - 1);
        if (at != NULL) {
            *exp2 = 10 * (int)(at - bin + 1);
            return true;
        }
    }
    /* Exponent form: e or E, optional sign, digits. */
    if (s[0] == 'e' || s[0] == 'E') {
        size_t i = 1;
        bool neg = false;
        if (s[i] == '+' || s[i] == '-')
            neg = s[i++] == '-';
        if (i >= len)
            return false;
        int e = 0;
        for (; i < len; i++) {
            if (!digit(s[i]) || e > 1000)
                return false;
            e = e * 10 + (s[i] - '0');
        }
        *exp10 = neg ? -e : e;
        *ok_exp = true;
        return true;
    }
    return false;
}

int k8s_quantity_parse(const char *s, size_t len, k8s_quantity *out, const char **err)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    __int128 mant = 0;
    int digits = 0, frac = 0;
    bool seen_dot = false, any = false;
    for (; i < len && (digit(s[i]) || (s[i] == '.' && !seen_dot)); i++) {
        if (s[i] == '.') {
            seen_dot = true;
            continue;
        }
        any = true;
        if (mant == 0 && s[i] == '0') { /* leading zeros do not count as precision */
            if (seen_dot)
                frac++;
            continue;
        }
        if (++digits > 30) {
            *err = "too many digits";
            return -1;
        }
        mant = mant * 10 + (s[i] - '0');
        if (seen_dot)
            frac++;
    }
    if (!any) {
        *err = "expected a number";
        return -1;
    }
    int e10, e2;
    bool is_exp;
    if (!parse_suffix(s + i, len - i, &e10, &e2, &is_exp)) {
        *err = "unknown suffix (use Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E or an exponent)";
        return -1;
    }
    /* value = mant * 10^(e10 - frac) * 2^e2, in nano-units: * 10^9. mant < 10^30 and the
     * result must stay within K8S_QUANTITY_MAX_NANO (10^36): each factor is checked against
     * what the limit leaves before it is applied, which is what multiplying step by step and
     * checking each step comes to, as the value only grows. */
    int scale = e10 - frac + 9;
    __int128 v = mant;
    if (e2 > 0) {
        if (v > K8S_QUANTITY_MAX_NANO >> e2) {
            *err = "value too large";
            return -1;
        }
        v <<= e2;
    }
    if (scale >= 0) {
        if (v != 0) {
            if (scale > 36 || v > pow10_i128(36 - scale)) { /* K8S_QUANTITY_MAX_NANO = 10^36 */
                *err = "value too large";
                return -1;
            }
            v *= pow10_i128(scale);
        }
    } else {
        /* Finer than a nano-unit: round up (away from zero), as Kubernetes does. */
        __int128 d = -scale > 38 ? 0 : pow10_i128(-scale);
        __int128 q = d ? v / d : 0;
        if (d == 0 ? v != 0 : v % d != 0)
            q += 1;
        v = q;
    }
    out->nano = neg ? -v : v;
    return 0;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

int k8s_flink_memory_parse(const char *s, size_t len, int64_t *bytes, const char **err)
{
    size_t b = 0, e = len;
    while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r'))
        e--;
    if (b == e) {
        *err = "empty memory size";
        return -1;
    }
    size_t i = b;
    int64_t v = 0;
    for (; i < e && digit(s[i]); i++) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v)) {
            *err = "memory size overflows 64 bits";
            return -1;
        }
    }
    if (i == b) {
        *err = "memory size does not start with a number";
        return -1;
    }
    while (i < e && (s[i] == ' ' || s[i] == '\t'))
        i++;
    char unit[16];
    size_t ul = e - i;
    if (ul >= sizeof unit) {
        *err = "unknown memory unit";
        return -1;
    }
    for (size_t k = 0; k < ul; k++)
        unit[k] = lower(s[i + k]);
    unit[ul] = '\0';
    /* MemorySize.MemoryUnit's names; the length is compared before the bytes */
    static const struct { const char *name; size_t len; int shift; } units[] = {
        {"b", 1, 0},  {"bytes", 5, 0},  {"k", 1, 10}, {"kb", 2, 10}, {"kibibytes", 9, 10},
        {"m", 1, 20}, {"mb", 2, 20}, {"mebibytes", 9, 20}, {"g", 1, 30}, {"gb", 2, 30},
        {"gibibytes", 9, 30}, {"t", 1, 40}, {"tb", 2, 40}, {"tebibytes", 9, 40}};
    int shift = -1;
    if (ul == 0)
        shift = 0;
    for (size_t u = 0; shift < 0 && u < sizeof units / sizeof units[0]; u++)
        if (units[u].len == ul && memcmp(unit, units[u].name, ul) == 0)
            shift = units[u].shift;
    if (shift < 0) {
        *err = "unknown memory unit (use b, k, kb, m, mb, g, gb, t or tb)";
        return -1;
    }
    if (shift > 0 && v > (INT64_MAX >> shift)) {
        *err = "memory size overflows 64 bits";
        return -1;
    }
    *bytes = v << shift;
    return 0;
}

int k8s_flink_resource_memory_parse(const char *s, size_t len, k8s_quantity *out,
                                    const char **err)
{
    int64_t bytes;
    if (k8s_flink_memory_parse(s, len, &bytes, err) == 0) {
        out->nano = (__int128)bytes * NANO;
        return 0;
    }
    char buf[128];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (n + 1 >= sizeof buf) {
            *err = "memory size too long";
            return -1;
        }
        buf[n++] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    if (n > 0 && buf[n - 1] == 'B')
        n--;
    if (n > 0 && buf[n - 1] == 'I')
        buf[n - 1] = 'i';
    if (k8s_quantity_parse(buf, n, out, err) != 0) {
        *err = "neither a Flink memory size nor a Kubernetes quantity";
        return -1;
    }
    return 0;
}

int k8s_jvm_memory_parse(const char *s, size_t len, int64_t *bytes, const char **err)
{
    size_t i = 0;
    int64_t v = 0;
    for (; i < len && digit(s[i]); i++) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v)) {
            *err = "heap size overflows 64 bits";
            return -1;
        }
    }
    if (i == 0) {
        *err = "heap size does not start with a number";
        return -1;
    }
    int shift = 0;
    if (i + 1 == len) {
        switch (s[i]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default: *err = "unknown heap size unit (use k, m, g or t)"; return -1;
        }
    } else if (i != len) {
        *err = "unknown heap size unit (use k, m, g or t)";
        return -1;
    }
    if (shift > 0 && v > (INT64_MAX >> shift)) {
        *err = "heap size overflows 64 bits";
        return -1;
    }
    *bytes = v << shift;
    return 0;
}

int k8s_quantity_cmp(const k8s_quantity *a, const k8s_quantity *b)
{
    return a->nano < b->nano ? -1 : a->nano > b->nano;
}

int k8s_quantity_add(const k8s_quantity *a, const k8s_quantity *b, bool negate_b,
                     k8s_quantity *out)
{
    __int128 v = a->nano + (negate_b ? -b->nano : b->nano); /* both within 10^36: no wrap */
    if (!in_range(v))
        return -1;
    out->nano = v;
    return 0;
}

k8s_quantity k8s_quantity_from_int(int64_t n)
{
    k8s_quantity q = {(__int128)n * NANO};
    return q;
}

bool k8s_quantity_is_integer(const k8s_quantity *q)
{
    return q->nano % NANO == 0;
}

int k8s_quantity_to_int(const k8s_quantity *q, int64_t *out)
{
    if (q->nano % NANO != 0)
        return -1;
    __int128 v = q->nano / NANO;
    if (v > INT64_MAX || v < INT64_MIN)
        return -1;
    *out = (int64_t)v;
    return 0;
}

double k8s_quantity_to_double(const k8s_quantity *q)
{
    __int128 whole = q->nano / NANO, frac = q->nano % NANO;
    return (double)whole + (double)frac / 1e9;
}

void k8s_quantity_format(const k8s_quantity *q, char *out, size_t cap)
{
    __int128 v = q->nano < 0 ? -q->nano : q->nano;
    __int128 whole = v / NANO;
    long long frac = (long long)(v % NANO);
    char digits[64];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(whole % 10));
        whole /= 10;
    } while (whole > 0 && n < 60);
    size_t k = 0;
    if (q->nano < 0 && k + 1 < cap)
        out[k++] = '-';
    while (n > 0 && k + 1 < cap)
        out[k++] = digits[--n];
    if (frac != 0) {
        char f[16];
        snprintf(f, sizeof f, ".%09lld", frac);
        size_t fl = strlen(f);
        while (fl > 0 && f[fl - 1] == '0')
            f[--fl] = '\0';
        for (size_t j = 0; j < fl && k + 1 < cap; j++)
            out[k++] = f[j];
    }
    out[k] = '\0';
}
