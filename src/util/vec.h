/* vec.h - room for one more element in a growable array, on the heap or in an arena.
 *
 * Every "if (n == cap) double it" loop in the tree had its own overflow check (or none) and
 * its own first size; this is the one copy. The array is any 'T *' with a count and a
 * capacity beside it:
 *
 *     if (vec_grow(NULL, in->docs, in->n, in->cap, 64) != 0)
 *         return -1;
 *     in->docs[in->n++] = doc;
 *
 * With an arena the new block comes from it and the old one is left to it (arenas free
 * nothing early); without, realloc(). */
#ifndef SG_VEC_H
#define SG_VEC_H

#include <stddef.h>

#include "arena.h"

/* Makes the array at '*(T **)items' (capacity '*cap' elements of 'size' bytes, 'n' in use)
 * hold at least n + 1 elements: the capacity doubles, from 'first'. Returns 0, or -1 with the
 * array unchanged when the size would overflow or memory (or the arena's cap) runs out. */
int vec_reserve(void *items, size_t *cap, size_t n, size_t size, size_t first, arena *a);

/* vec_reserve() for an array lvalue 'items' with its 'n' and 'cap' lvalues. */
#define vec_grow(a, items, n, cap, first)                                                     \
    vec_reserve(&(items), &(cap), (n), sizeof *(items), (first), (a))

#endif
