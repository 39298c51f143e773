/* keyindex.c - hash index of string keys; see keyindex.h.
 *
 * Open addressing with linear probing over a power-of-two table of slots at most half full;
 * a slot holds the number of an entry (0: empty), entries hold the key, its hash and the
 * item. 24 bytes an entry plus 8 to 16 bytes of slots. */
#include "keyindex.h"

#include <endian.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

_Thread_local uint64_t lookup_steps;

typedef struct entry {
    const char *key;
    uint32_t len;
    uint32_t hash; /* the high half of the 64-bit hash: compared before the bytes */
    const void *item;
} entry;

struct keyindex {
    uint32_t *slots; /* entry number + 1, or 0 */
    size_t mask;     /* slots - 1 */
    entry *e;
    size_t n, max;
};

/* The SipHash key: random per process, so that colliding keys cannot be prepared. */
static uint64_t sip_k0, sip_k1;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        /* no entropy this early: time and addresses still differ between processes */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        k[0] = (uint64_t)t.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)(uintptr_t)&t;
        k[1] = (uint64_t)t.tv_sec * 0xC2B2AE3D27D4EB4Fu ^ (uint64_t)(uintptr_t)&sip_k0;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                               \
    do {                                                                                       \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                              \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                 \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                 \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                              \
    } while (0)

/* SipHash-1-3 of 'len' bytes at 'p' under the key (k0, k1). */
static uint64_t siphash13(uint64_t k0, uint64_t k1, const char *p, size_t len)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575u, v1 = k1 ^ 0x646f72616e646f6du;
    uint64_t v2 = k0 ^ 0x6c7967656e657261u, v3 = k1 ^ 0x7465646279746573u;
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m;
        memcpy(&m, s + i, sizeof m);
        m = le64toh(m); /* SipHash reads little-endian words, whatever the host */
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (int b = 0; i + (size_t)b < len; b++)
        last |= (uint64_t)s[i + b] << (8 * b);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t key_hash(const char *key, size_t len)
{
    return siphash13(sip_k0, sip_k1, key, len);
}

uint64_t keyindex_hash(const char *key, size_t len)
{
    pthread_once(&seed_once, seed_init);
    return key_hash(key, len);
}

keyindex *keyindex_new(arena *a, size_t n)
{
    pthread_once(&seed_once, seed_init);
    if (n > UINT32_MAX / 4)
        return NULL;
    size_t cap = 32;
    while (cap < 2 * n)
        cap *= 2;
    keyindex *ix = arena_alloc(a, sizeof *ix);
    uint32_t *slots = arena_calloc(a, cap, sizeof *slots);
    entry *e = arena_alloc(a, (n ? n : 1) * sizeof *e);
    if (ix == NULL || slots == NULL || e == NULL)
        return NULL;
    *ix = (keyindex){.slots = slots, .mask = cap - 1, .e = e, .n = 0, .max = n};
    return ix;
}

/* The slot where 'key' is, or the empty slot where it would go. */
static size_t probe(const keyindex *ix, const char *key, size_t len, uint64_t h)
{
    uint32_t high = (uint32_t)(h >> 32);
    uint64_t compares = 0;
    size_t i = (size_t)h & ix->mask;
    for (;; i = (i + 1) & ix->mask) {
        uint32_t s = ix->slots[i];
        if (s == 0)
            break;
        const entry *e = &ix->e[s - 1];
        if (e->hash == high && e->len == len) {
            compares++;
            if (memcmp(e->key, key, len) == 0)
                break;
        }
    }
    lookup_steps += compares;
    return i;
}

bool keyindex_add(keyindex *ix, const char *key, size_t len, const void *item)
{
    if (ix->n == ix->max || len > UINT32_MAX)
        return false;
    uint64_t h = key_hash(key, len);
    size_t i = probe(ix, key, len, h);
    if (ix->slots[i] != 0)
        return true; /* the first item of a key wins */
    ix->e[ix->n] = (entry){.key = key, .len = (uint32_t)len, .hash = (uint32_t)(h >> 32),
                           .item = item};
    ix->slots[i] = (uint32_t)++ix->n;
    return true;
}

const void *keyindex_find(const keyindex *ix, const char *key, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    size_t i = probe(ix, key, len, key_hash(key, len));
    return ix->slots[i] ? ix->e[ix->slots[i] - 1].item : NULL;
}
