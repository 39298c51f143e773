/* arena.h - a bump allocator with a hard byte cap.
 *
 * One arena per request (and one per policy set): everything allocated from it is freed at
 * once by arena_free(). Allocation returns NULL once the cap would be exceeded, so a hostile
 * request cannot make the process grow without bound. Not thread-safe: one owner at a time. */
#ifndef SG_ARENA_H
#define SG_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#define ARENA_REQUEST_BUDGET ((size_t)64 << 20) /* 64 MiB: far above any sane review */

typedef struct arena arena;

/* Creates an arena that hands out at most 'cap' bytes in total. Returns NULL when out of
 * memory. Free it with arena_free(). */
arena *arena_new(size_t cap);

/* Frees every block of 'a' and 'a' itself. NULL is accepted. */
void arena_free(arena *a);

/* Forgets everything allocated from 'a' (running deferred cleanups) and keeps its first
 * block for reuse, so that a loop of short-lived uses costs no malloc. */
void arena_reset(arena *a);

/* Sets the cap of 'a' to 'cap' bytes in total, what was handed out so far included (when
 * that is more, the cap is what was handed out: nothing more is): for an arena reset and used
 * again for a request of another size (the server keeps one per thread). */
void arena_set_cap(arena *a, size_t cap);

/* The start of every arena: where the next allocation goes and how far it may go in the
 * current block without passing the cap. Only arena_alloc() below reads it. */
struct arena_bump {
    unsigned char *cur, *lim;
};

/* arena_alloc() when the current block has no room (or the cap is near): a new block. */
void *arena_alloc_slow(arena *a, size_t n);

/* Returns 'n' bytes aligned for any object type, owned by 'a', or NULL when the cap would
 * be exceeded or memory is exhausted. The memory is not zeroed. Inline: a review makes
 * hundreds of small allocations (lists, optionals, strings), and a call for each cost more
 * than the bump itself. */
static inline void *arena_alloc(arena *a, size_t n)
{
    struct arena_bump *b = (struct arena_bump *)a;
    size_t room = (size_t)(b->lim - b->cur);
    if (n - 1 < room) { /* 0 < n <= room, so the rounding below cannot overflow */
        size_t need = (n + 15) & ~(size_t)15;
        if (need <= room) {
            void *p = b->cur;
            b->cur += need;
            return p;
        }
    }
    return arena_alloc_slow(a, n);
}

/* Gives back the tail of 'p', the arena's most recent allocation of 'size' bytes, keeping its
 * first 'keep' bytes (keep <= size): for a buffer sized for the worst case and filled with
 * less (a string literal decoded from the rest of an expression's text). Does nothing when
 * another allocation came after 'p'. */
void arena_trim(arena *a, void *p, size_t size, size_t keep);

/* Like arena_alloc() but zeroed; 'count' * 'size' is checked for overflow. */
void *arena_calloc(arena *a, size_t count, size_t size);

/* Returns an arena-owned, NUL-terminated copy of 'len' bytes at 's', or NULL. */
char *arena_strndup(arena *a, const char *s, size_t len);

/* Returns an arena-owned copy of the C string 's' (NULL gives NULL). */
char *arena_strdup(arena *a, const char *s);

/* Returns an arena-owned string formatted like printf, or NULL. */
char *arena_sprintf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns an arena-owned concatenation of the 'n' C strings 'parts' (none NULL), or NULL.
 * Several times faster than arena_sprintf("%s%s", ...) on hot paths; arena_cat() takes the
 * strings as arguments. */
char *arena_strcat(arena *a, const char *const *parts, size_t n);
#define arena_cat(a, ...)                                                                      \
    arena_strcat((a), (const char *const[]){__VA_ARGS__},                                      \
                 sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Registers 'fn(ptr)' to run when 'a' is freed, in reverse order of registration: for
 * resources owned by something allocated in 'a' (a compiled regex). Returns 0, or -1 when
 * the cap is reached, in which case 'fn(ptr)' is called at once so nothing leaks. */
int arena_defer(arena *a, void (*fn)(void *), void *ptr);

/* Whether 'p' points into memory of 'a' (any of its blocks). O(blocks): blocks double in
 * size, so there are few. */
bool arena_owns(const arena *a, const void *p);

/* Returns how many bytes have been handed out so far (the figure the cap applies to). */
size_t arena_used(const arena *a);

#endif
