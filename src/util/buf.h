/* buf.h - a growable byte buffer with a hard cap, and base64.
 *
 * The bytes are always followed by a NUL that is not counted in 'len', so a buffer can be
 * handed to parsers that want a C string. Storage comes from malloc; buf_clear() frees it. */
#ifndef SG_BUF_H
#define SG_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct buf {
    char *data;   /* NULL until the first append; then NUL-terminated */
    size_t len;   /* bytes in use, not counting the NUL */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* the most 'len' may ever be */
} buf;

/* Prepares 'b' (caller-provided storage) to hold at most 'cap' bytes. Allocates nothing. */
void buf_init(buf *b, size_t cap);

/* Frees the storage of 'b' and leaves it empty, with the same cap. */
void buf_clear(buf *b);

/* Appends 'n' bytes. Returns 0, or -1 when the cap would be exceeded or memory is exhausted;
 * on failure 'b' is unchanged. */
int buf_append(buf *b, const void *p, size_t n);

/* Appends the C string 's'. Same returns as buf_append(). */
int buf_puts(buf *b, const char *s);

/* Appends 's' as a label value of the Prometheus text format: backslash, double quote and
 * newline escaped (a policy's or a kind's name is any string). Same returns as buf_append(). */
int buf_put_label(buf *b, const char *s);

/* Appends printf-formatted text. Same returns as buf_append(). */
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the storage to the caller (free() it) and leaves 'b' empty. Returns NULL when
 * nothing was ever appended. */
char *buf_take(buf *b);

/* Returns the length of the base64 text (RFC 4648, padded, no newlines) for 'n' bytes. */
size_t base64_encoded_len(size_t n);

/* Writes the base64 form of 'n' bytes at 'in' to 'out', which must hold
 * base64_encoded_len(n) + 1 bytes; the text is NUL-terminated. */
void base64_encode(const void *in, size_t n, char *out);

/* Decodes padded base64 'in' of 'n' characters into 'out' (room for 3 * n / 4 bytes).
 * Returns the decoded length, or -1 when 'in' is not valid base64. */
long base64_decode(const char *in, size_t n, unsigned char *out);

#endif
