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

/* jsonpatch_diff() and jsonpatch_equal() of a document 'from' and 'to', a copy of it changed
 * only at the places 'paths' ('n' JSON Pointers, as given to jsonpatch_apply(); NULL: no such
 * knowledge): a member of an object that holds none of those places is its copy, equal by
 * construction, and is not walked (with up to 16 places; more, and the whole documents are
 * walked, which is linear in their size where testing every member against every place is
 * not). Under a place, and in arrays on the way to one, everything
 * is compared as by jsonpatch_diff(), so the answer is the same as theirs; the work is that of
 * the changed parts and the objects above them, not of the documents. A mutation of a
 * FlinkDeployment review thus compares spec.flinkConfiguration, not metadata.managedFields. */
char *jsonpatch_diff_at(const cJSON *from, const cJSON *to, const char *const *paths, size_t n,
                        bool *oom);
bool jsonpatch_equal_at(const cJSON *a, const cJSON *b, const char *const *paths, size_t n);

#endif
