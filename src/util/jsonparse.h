/* jsonparse.h - a one-pass JSON parser for request bodies: a cJSON tree built in an arena.
 *
 * Request bodies used to go through cJSON_Parse() with cJSON's allocations hooked to the request
 * arena (hooks since removed), then through a second walk for duplicate keys: two thirds of a
 * review's decode. This parser reads the text once, allocates the nodes and strings straight from
 * the arena, and does the checks of that walk as it goes. It builds the same tree as cJSON (node
 * types, valueint, valuedouble, string/valuestring, child/next/prev links, the head's prev
 * pointing at the tail), so everything downstream reads it unchanged; the tree goes with the arena
 * and must never be given to cJSON_Delete(). cJSON stays for all other parsing.
 *
 * Accepted: RFC 8259 JSON, within cJSON's limits, so that nothing cJSON refuses gets through:
 *   - at most CJSON_NESTING_LIMIT (1000) nested arrays and objects;
 *   - numbers of the RFC's grammar (no 01, 1., .5, -.5, +1) of at most 63 characters, read
 *     with strtod() as cJSON reads them (valueint saturates at INT_MIN/INT_MAX); 63 is
 *     upstream cJSON 1.7.15's limit: the Debian build linked here reads any length since its
 *     CVE-2023-26819 fix, and so does Go, but kube-apiserver writes no number longer than 25;
 *   - whitespace is space, tab, CR and LF only (cJSON skips any byte below 33);
 *   - strings are valid UTF-8 without control characters (cJSON keeps both), escapes are the
 *     RFC's, a \u escape has four hex digits (cJSON reads a bad one as U+0000) and a
 *     surrogate only comes in a high-low pair; \u0000 is refused, as a C string would be
 *     cut there;
 *   - no byte-order mark, nothing but whitespace after the value.
 * Stricter than cJSON only where Go's decoder (kube-apiserver) is too, except the 63-character
 * limit (above) and the 1000-level one, which is cJSON's. */
#ifndef SG_JSONPARSE_H
#define SG_JSONPARSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "arena.h"

typedef enum jsonparse_status {
    JSONPARSE_OK,
    JSONPARSE_SYNTAX,    /* not JSON (or beyond the limits above) at 'offset' */
    JSONPARSE_UTF8,      /* a byte at 'offset' that is not UTF-8, where JSON allows text */
    JSONPARSE_NUL,       /* a NUL byte, or the backslash of a \u0000, at 'offset' */
    JSONPARSE_NOMEM,     /* the arena reached its cap */
    JSONPARSE_DUPLICATE, /* a key appears twice in one object: 'key' */
    JSONPARSE_INFINITE,  /* a number beyond a double's range, such as 1e999 */
} jsonparse_status;

typedef struct jsonparse_result {
    cJSON *doc;         /* the tree, owned by the arena; NULL unless JSONPARSE_OK */
    size_t offset;      /* SYNTAX, UTF8, NUL: where the text stops being JSON */
    const char *key;    /* JSONPARSE_DUPLICATE: the second of the two equal keys */
} jsonparse_result;

/* Parses the 'len' bytes at 'text' (no terminator needed) into a tree allocated from 'a'. The
 * first error in the text is the one reported, as UTF8 or NUL when the byte there is not UTF-8
 * or is a NUL (what the checks that once ran over the whole body first would have said), but
 * for escapes: a string's escapes are decoded once its closing quote is found, so a byte that
 * is not UTF-8, or a control character, later in the same string is reported before a bad
 * escape ahead of it ("\x" then 0xFF: UTF8 at the 0xFF, as those checks said too). A
 * duplicate key and an infinite number (which Go refuses and cJSON reads as its first key and
 * as infinity) are reported only when the text is otherwise JSON: the first of them in the
 * order of a post-order walk (a node's members before the node's own keys), the order of the
 * check that ran over cJSON's trees. */
jsonparse_status jsonparse_parse(arena *a, const char *text, size_t len, jsonparse_result *out);

/* The second of two equal keys among the 'n' members of the cJSON object 'obj', or NULL; for
 * trees that cJSON built. Memory for large objects comes from 'a' (malloc when it is full);
 * "(out of memory)" when there is none. */
const char *jsonparse_duplicate_key(const cJSON *obj, size_t n, arena *a);

#endif
