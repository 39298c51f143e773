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

#include <stddef.h>

#include <cjson/cJSON.h>

/* Returns the unformatted JSON text of 'root' (malloc'd: free() it) with its length in
 * '*len', or NULL when memory runs out or the tree holds a node cJSON would not print either
 * (cJSON_Invalid, a cJSON_Raw without text). */
char *jsonprint_tree(const cJSON *root, size_t *len);

#endif
