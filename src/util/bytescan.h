/* bytescan.h - where a run of plain bytes in a string ends: the first byte of a stop set, 16
 * bytes a step with SSE2 (x86-64's baseline), 8 a step with a word's bit tricks without it
 * (little-endian machines), then one by one. The JSON printer (util/jsonprint.c), the log
 * writer (util/log.c) and the JSON parser's portable path (util/jsonparse.c) scan their
 * strings with it.
 *
 * The stop set is always '"', '\\' and the control characters below 0x20; 'more' adds the
 * bytes from 0x80 up (BYTESCAN_HIGH: where a UTF-8 sequence starts, checked by the caller) or
 * from 0x7f up (BYTESCAN_DEL_UP: DEL too). 'more' is a constant at every call, and the
 * functions are inline, so each caller keeps only the tests it asks for. */
#ifndef SG_BYTESCAN_H
#define SG_BYTESCAN_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { BYTESCAN_HIGH = 1, BYTESCAN_DEL_UP = 2 };

/* For 8 bytes loaded little-endian, the high bit of each byte of a class: exact for the lowest
 * such byte (a borrow only runs on above a byte that is itself one of them), which is all the
 * scans read. */
#define BYTESCAN_ONES ((uint64_t)0x0101010101010101u)
#define BYTESCAN_HIGH_BITS (BYTESCAN_ONES * 0x80)

static inline uint64_t bytescan_below(uint64_t w, unsigned char c)
{
    return (w - BYTESCAN_ONES * c) & ~w & BYTESCAN_HIGH_BITS;
}

static inline uint64_t bytescan_equal(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (BYTESCAN_ONES * c);
    return (x - BYTESCAN_ONES) & ~x & BYTESCAN_HIGH_BITS;
}

static inline uint64_t bytescan_load8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static inline bool bytescan_is_stop(unsigned char c, unsigned more)
{
    return c < 0x20 || c == '"' || c == '\\' || ((more & BYTESCAN_HIGH) && c >= 0x80) ||
           ((more & BYTESCAN_DEL_UP) && c >= 0x7f);
}

/* The stop bytes of 8 loaded little-endian, as above. */
static inline uint64_t bytescan_stops8(uint64_t w, unsigned more)
{
    uint64_t m = bytescan_below(w, 0x20) | bytescan_equal(w, '"') | bytescan_equal(w, '\\');
    if (more & (BYTESCAN_HIGH | BYTESCAN_DEL_UP))
        m |= w & BYTESCAN_HIGH_BITS;
    if (more & BYTESCAN_DEL_UP)
        m |= bytescan_equal(w, 0x7f);
    return m;
}

/* The first stop byte in [p, end), or 'end': 8 bytes a step, then one by one. */
static inline const unsigned char *bytescan_portable(const unsigned char *p,
                                                     const unsigned char *end, unsigned more)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; end - p >= 8; p += 8) {
        uint64_t m = bytescan_stops8(bytescan_load8(p), more);
        if (m != 0)
            return p + (__builtin_ctzll(m) >> 3);
    }
#endif
    while (p < end && !bytescan_is_stop(*p, more))
        p++;
    return p;
}

/* The same, 16 bytes a step with SSE2; fewer than 16 go the portable way. */
static inline const unsigned char *bytescan(const unsigned char *p, const unsigned char *end,
                                            unsigned more)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                  control = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                              _mm_cmpeq_epi8(v, backslash)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(v, control), v)); /* <= 0x1f */
        if (more & BYTESCAN_DEL_UP)
            m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_max_epu8(v, del), v)); /* >= 0x7f */
        else if (more & BYTESCAN_HIGH)
            m = _mm_or_si128(m, v); /* the mask reads each byte's high bit: >= 0x80 */
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits != 0)
            return p + __builtin_ctz(bits);
    }
#endif
    return bytescan_portable(p, end, more);
}

#endif
