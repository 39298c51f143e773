/* arena.c - bump allocator with a byte cap; see arena.h.
 *
 * Blocks come from malloc and are chained; a request that does not fit the current block
 * gets a new block of max(request, 8 KiB, twice the previous block). arena_reset() keeps
 * the largest block of up to 1 MiB for the next use. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN    16
#define ARENA_FIRST    4096
#define ARENA_MIN_NEXT 8192
#define ARENA_RETAIN   ((size_t)1 << 20) /* the largest block arena_reset() keeps */

struct block {
    struct block *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct deferred {
    struct deferred *next;
    void (*fn)(void *);
    void *ptr;
};

/* 'handed' and the head block's 'used' lag behind what arena_alloc() bumps: the bytes since
 * 'mark' are added to both when the slow path runs (sync()), and arena_used() adds them. */
struct arena {
    struct arena_bump bump; /* first: arena_alloc() reads it through the arena's address */
    unsigned char *mark;
    struct block *head;
    struct deferred *defers;
    size_t cap, handed;
};

_Static_assert(ARENA_ALIGN == 16, "arena_alloc() in arena.h rounds to 16");

/* Brings 'handed' and the head block's 'used' up to date with the bump pointer. */
static void sync(arena *a)
{
    size_t n = (size_t)(a->bump.cur - a->mark);
    a->head->used += n;
    a->handed += n;
    a->mark = a->bump.cur;
}

/* Points the bump pointer at the head block's free space, as far as the block and the cap
 * allow. */
static void rebump(arena *a)
{
    struct block *b = a->head;
    size_t room = b->size - b->used, left = a->cap - a->handed;
    a->bump.cur = a->mark = b->data + b->used;
    a->bump.lim = a->bump.cur + (room < left ? room : left);
}

static struct block *block_new(size_t size)
{
    struct block *b = malloc(sizeof *b + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

arena *arena_new(size_t cap)
{
    arena *a = malloc(sizeof *a);
    if (a == NULL)
        return NULL;
    a->head = block_new(ARENA_FIRST);
    if (a->head == NULL) {
        free(a);
        return NULL;
    }
    a->defers = NULL;
    a->cap = cap;
    a->handed = 0;
    rebump(a);
    return a;
}

void arena_free(arena *a)
{
    if (a == NULL)
        return;
    for (struct deferred *d = a->defers; d != NULL; d = d->next)
        d->fn(d->ptr);
    struct block *b = a->head;
    while (b != NULL) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void arena_reset(arena *a)
{
    for (struct deferred *d = a->defers; d != NULL; d = d->next)
        d->fn(d->ptr);
    a->defers = NULL;
    /* Keep the largest block (up to ARENA_RETAIN) and free the others: an arena reused for
     * request after request then settles on one block that fits a request, instead of
     * asking malloc, and the kernel, for fresh pages each time. */
    struct block *keep = NULL;
    for (struct block *b = a->head; b != NULL; b = b->next)
        if (b->size <= ARENA_RETAIN && (keep == NULL || b->size > keep->size))
            keep = b;
    struct block *b = a->head;
    while (b != NULL) {
        struct block *next = b->next;
        if (b != keep)
            free(b);
        b = next;
    }
    if (keep == NULL && (keep = block_new(ARENA_FIRST)) == NULL)
        abort(); /* cannot happen with ARENA_RETAIN >= ARENA_FIRST: the first block qualifies */
    keep->next = NULL;
    keep->used = 0;
    a->head = keep;
    a->handed = 0;
    rebump(a);
}

void arena_set_cap(arena *a, size_t cap)
{
    sync(a);
    a->cap = cap > a->handed ? cap : a->handed;
    rebump(a);
}

void *arena_alloc_slow(arena *a, size_t n)
{
    sync(a);
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need > a->cap - a->handed)
        return NULL;
    struct block *b = a->head;
    if (b->size - b->used < need) {
        size_t size = b->size * 2;
        if (size < ARENA_MIN_NEXT)
            size = ARENA_MIN_NEXT;
        if (size < need)
            size = need;
        struct block *nb = block_new(size);
        if (nb == NULL)
            return NULL;
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->handed += need;
    rebump(a);
    return p;
}

void arena_trim(arena *a, void *p, size_t size, size_t keep)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    size_t kept = (keep + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (p == NULL || keep > size || (unsigned char *)p + need != a->bump.cur)
        return; /* not the last allocation: its tail is not at the bump pointer */
    sync(a); /* the bytes of 'p' are counted in the head block and 'handed' from here */
    a->head->used -= need - kept;
    a->handed -= need - kept;
    rebump(a);
}

void *arena_calloc(arena *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *p = arena_alloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    if (s == NULL)
        return NULL;
    return arena_strndup(a, s, strlen(s));
}

char *arena_strcat(arena *a, const char *const *parts, size_t n)
{
    size_t len[16], total = 0;
    if (n > sizeof len / sizeof len[0])
        return NULL;
    for (size_t i = 0; i < n; i++) {
        len[i] = strlen(parts[i]);
        total += len[i];
    }
    char *out = arena_alloc(a, total + 1), *p = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, parts[i], len[i]);
        p += len[i];
    }
    *p = '\0';
    return out;
}

char *arena_sprintf(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int arena_defer(arena *a, void (*fn)(void *), void *ptr)
{
    struct deferred *d = arena_alloc(a, sizeof *d);
    if (d == NULL) {
        fn(ptr);
        return -1;
    }
    d->fn = fn;
    d->ptr = ptr;
    d->next = a->defers;
    a->defers = d;
    return 0;
}

size_t arena_used(const arena *a)
{
    return a->handed + (size_t)(a->bump.cur - a->mark);
}

bool arena_owns(const arena *a, const void *p)
{
    /* compared as integers: pointers into different objects have no order in C */
    uintptr_t x = (uintptr_t)p;
    for (const struct block *b = a->head; b != NULL; b = b->next) {
        if (x >= (uintptr_t)b->data && x < (uintptr_t)b->data + b->size)
            return true;
    }
    return false;
}
