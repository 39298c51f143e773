/* vec.c - growable arrays; see vec.h. */
#include "vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int vec_reserve(void *items, size_t *cap, size_t n, size_t size, size_t first, arena *a)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap : (first ? first : 1);
    while (c <= n) {
        if (c > SIZE_MAX / 2)
            return -1;
        c *= 2;
    }
    if (size == 0 || c > SIZE_MAX / size)
        return -1;
    /* 'items' points at a T *: read and write it as the bytes of a pointer, which every
     * object pointer shares on the platforms we build for, without type-punning it. */
    void *old, *p;
    memcpy(&old, items, sizeof old);
    if (a != NULL) {
        p = arena_alloc(a, c * size);
        if (p != NULL && n > 0)
            memcpy(p, old, n * size);
    } else {
        p = realloc(old, c * size);
    }
    if (p == NULL)
        return -1;
    memcpy(items, &p, sizeof p);
    *cap = c;
    return 0;
}
