/* keyindex.h - a hash index of string keys, for looking names up in large objects.
 *
 * Finding a member of a JSON object (or an entry of a map) by scanning costs one comparison
 * per member; a policy asks dozens of names of the same object, so an object of n members
 * would cost O(n) per lookup and O(n^2) per review. A keyindex is built once over the
 * members (O(n)) and answers each lookup in O(1) expected, at the price of 40 bytes or so a
 * key. Small objects should keep the scan, which is faster below a few dozen keys.
 *
 * The hash is SipHash-1-3 keyed with a random per-process key, so that a request cannot
 * choose keys that all fall into one bucket. Keys are byte strings (NUL allowed, any
 * length); they are borrowed, not copied. Everything is allocated from the caller's arena. */
#ifndef SG_KEYINDEX_H
#define SG_KEYINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

typedef struct keyindex keyindex;

/* Creates an empty index with room for 'n' keys, allocated from 'a'. Returns NULL when 'a'
 * has no room (the caller then scans, as it would without an index). */
keyindex *keyindex_new(arena *a, size_t n);

/* Adds 'key' ('len' bytes, borrowed: it must outlive the index) for 'item'. A key already
 * present keeps its first item, so that the index answers what a scan from the start would.
 * Returns false when the index already holds the 'n' keys it was made for. */
bool keyindex_add(keyindex *ix, const char *key, size_t len, const void *item);

/* Returns the item added first for 'key', or NULL when the key was never added. */
const void *keyindex_find(const keyindex *ix, const char *key, size_t len);

/* SipHash-1-3 of 'len' bytes under the process's random key (the one the indexes use): for
 * other tables whose keys come from input (src/kube's stores), so that nobody can choose keys
 * that collide. */
uint64_t keyindex_hash(const char *key, size_t len);

/* Entries examined by lookups on this thread: keys compared by keyindex_find and by the scans
 * of the code that uses a keyindex on small objects, elements walked to reach an element of a
 * list or to count it (each adds its count once per lookup), and the key comparisons of
 * yamldoc's duplicate-key check. A deterministic measure of work,
 * for tests; nothing else reads it. */
extern _Thread_local uint64_t lookup_steps;

#endif
