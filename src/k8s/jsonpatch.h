/* jsonpatch.h - JSON Patch (RFC 6902) for mutations: applying one operation to a working
 * copy, and computing the patch between two documents. */
#ifndef SG_K8S_JSONPATCH_H
#define SG_K8S_JSONPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

enum jsonpatch_op { JSONPATCH_ADD, JSONPATCH_REPLACE, JSONPATCH_REMOVE };

/* Applies one operation at JSON Pointer 'path' of 'doc' (changed in place). 'value' is
 * copied. add creates missing parent objects (a policy may add /spec/a/b to an object
 * without spec.a) and appends to an array at '-'; replace and remove need the target to
 * exist. Returns 0, or -1 with a reason in 'err'. */
int jsonpatch_apply(cJSON *doc, enum jsonpatch_op op, const char *path, const cJSON *value,
                    char *err, size_t errcap);

/* Deep equality of two JSON values (numbers by value, objects regardless of member order).
 * Objects must not hold duplicate keys (decoding and the YAML reader refuse them). O(size of
 * the documents). */
bool jsonpatch_equal(const cJSON *a, const cJSON *b);

/* Computes the patch that turns 'from' into 'to': remove, add and replace operations,
 * objects compared member by member (so it creates missing parents and touches nothing
 * else), arrays element by element when the new one is as long or longer (appends at '-'),
 * else replaced whole. Objects must not hold duplicate keys. O(size of the documents).
 * Returns a malloc'd JSON text, or NULL when the documents are equal (or memory ran out:
 * then '*oom' is set). */
char *jsonpatch_diff(const cJSON *from, const cJSON *to, bool *oom);

#endif
