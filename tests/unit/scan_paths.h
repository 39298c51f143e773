/* scan_paths.h - the one check of a scan for the end of a plain run (util/bytescan.h and the
 * printer's and log writer's scans over it): the SSE2 path ('fast', 16 bytes a step), the
 * portable one ('slow', 8 bytes a step) and a byte by byte walk with 'stop' find the same first
 * stop in buffers of every length up to 'max_len' (< 112) at every offset from a 16-byte
 * boundary, with each byte of 'bytes' at every place and, when 'gap' is not 0, another one
 * 'gap' bytes after it (the rest plain). Included by the tests that check a scan. */
#ifndef SG_TEST_SCAN_PATHS_H
#define SG_TEST_SCAN_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef const unsigned char *(*scan_paths_fn)(const unsigned char *p, const unsigned char *end,
                                              unsigned set);

static void scan_paths_check(scan_paths_fn fast, scan_paths_fn slow,
                             bool (*stop)(unsigned char c, unsigned set), unsigned set,
                             const unsigned char *bytes, size_t nb, size_t max_len, size_t gap)
{
    static _Alignas(16) unsigned char buf[128];
    for (size_t off = 0; off < 16; off++)
        for (size_t len = 0; len <= max_len; len++)
            for (size_t at = 0; at <= len; at++)
                for (size_t b = 0; b < nb; b++) {
                    unsigned char *p = buf + off;
                    memset(p, 'x', len);
                    if (at < len)
                        p[at] = bytes[b];
                    if (gap > 0 && at + gap < len)
                        p[at + gap] = bytes[(b + gap) % nb];
                    const unsigned char *want = p;
                    while (want < p + len && !stop(*want, set))
                        want++;
                    const unsigned char *f = fast(p, p + len, set), *s = slow(p, p + len, set);
                    if (f != want || s != want)
                        fail_msg("set %u off %zu len %zu byte 0x%02x at %zu: %td, %td, want %td",
                                 set, off, len, bytes[b], at, f - p, s - p, want - p);
                }
}

#endif
