/* utf8.h - UTF-8 validation (RFC 3629) for text that must stay valid on the way out.
 *
 * Strict: overlong forms, UTF-16 surrogates (U+D800..U+DFFF) and code points above U+10FFFF
 * are invalid, as in Go's utf8.Valid, which kube-apiserver and kubectl use. */
#ifndef SG_UTF8_H
#define SG_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Returns the length (1-4) of the valid UTF-8 sequence at s[0] within 'len' bytes, or 0 when
 * the bytes there are not one ('len' 0 included). */
size_t utf8_seq_len(const char *s, size_t len);

/* Returns true when s[0..len) is valid UTF-8; otherwise false with the offset of the first
 * bad byte in '*bad' (when not NULL). ASCII runs go 32 bytes at a time. */
bool utf8_is_valid(const char *s, size_t len, size_t *bad);

/* Returns the longest prefix length <= 'max' of the valid UTF-8 text 's' (of 'len' bytes)
 * that does not cut a sequence in two. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* Returns the offset of the first NUL in the JSON text 's': a NUL byte (never valid JSON, but
 * cJSON takes one inside a string) or a \u0000 escape; -1 when there is none. cJSON stores C
 * strings and would cut a string or key there, while Go (kube-apiserver) keeps it whole or
 * refuses the text: the two must never read different strings. In valid JSON a backslash
 * only appears inside a string, where it starts a two-character escape or a \uXXXX one, so
 * stepping over each escape never takes "\\u0000" (an escaped backslash, then text) for one. */
long utf8_json_find_nul(const char *s, size_t len);

#endif
