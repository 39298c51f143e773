/* jsonprint.h - cJSON_PrintUnformatted()'s text of a cJSON tree, written faster.
 *
 * The answers (AdmissionReview responses, Status bodies) are cJSON trees; cJSON prints each
 * string twice over (a pass to size the escapes, a byte-by-byte copy) into a buffer that it
 * grows by malloc and copy. This printer writes the
 * same bytes (the same escapes, cJSON's number forms: %1.15g, or %1.17g when that does not
 * read back, null for NaN and infinity) in one pass, plain runs of a string 8 bytes at a time,
 * into one buffer with room reserved per string. */
#ifndef SG_JSONPRINT_H
#define SG_JSONPRINT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Returns the unformatted JSON text of 'root' (malloc'd: free() it) with its length in
 * '*len', or NULL when memory runs out or the tree holds a node cJSON would not print either
 * (cJSON_Invalid, a cJSON_Raw without text). */
char *jsonprint_tree(const cJSON *root, size_t *len);

/* A text written piece by piece, for an answer whose shape the caller knows (no tree to
 * build and free): the caller writes the syntax, the writer the strings and numbers, the
 * same bytes the printer above writes for them. Start from {0}. Once an allocation fails the
 * writes do nothing and jsonprint_finish() returns NULL. */
typedef struct jsonprint_out {
    char *data;
    size_t len, alloc;
    bool failed;
} jsonprint_out;

/* Appends 'n' bytes of 'text' as they are (syntax: braces, keys with their quotes, commas). */
void jsonprint_raw(jsonprint_out *o, const char *text, size_t n);

/* Appends 's' as a JSON string, escaped as cJSON escapes it (NULL is ""). */
void jsonprint_string(jsonprint_out *o, const char *s);

/* Appends 'v' as cJSON prints a number holding it (below 1e15 in magnitude: its digits). */
void jsonprint_int(jsonprint_out *o, long long v);

/* Returns the text (malloc'd, NUL-terminated: free() it) with its length in '*len', or NULL
 * when an allocation failed; 'o' is left empty either way. */
char *jsonprint_finish(jsonprint_out *o, size_t *len);

#endif
