/* jsonmem.c - cJSON's allocation hooks over a thread-local arena; see jsonmem.h. */
#include "jsonmem.h"

#include <pthread.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

static _Thread_local arena *current;
static _Thread_local bool ran_out;

static void *hook_malloc(size_t n)
{
    arena *a = current;
    if (a == NULL)
        return malloc(n);
    void *p = arena_alloc(a, n);
    if (p == NULL)
        ran_out = true;
    return p;
}

/* An arena's memory is freed with the arena; anything else cJSON frees is malloc's. */
static void hook_free(void *p)
{
    arena *a = current;
    if (a != NULL && arena_owns(a, p))
        return;
    free(p);
}

static void install_once(void)
{
    /* With hooks other than malloc/free, cJSON grows every printed text in the process by
     * malloc + copy instead of realloc (and copies it once more at the end): cheap for the
     * answers (a few KiB); the audit's PolicyReports (up to 1 MiB) briefly need about twice
     * their size. */
    cJSON_Hooks h = {.malloc_fn = hook_malloc, .free_fn = hook_free};
    cJSON_InitHooks(&h);
}

void jsonmem_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_once);
}

arena *jsonmem_enter(arena *a)
{
    jsonmem_install();
    arena *prev = current;
    current = a;
    ran_out = false;
    return prev;
}

void jsonmem_leave(arena *prev)
{
    current = prev;
}

bool jsonmem_ran_out(void)
{
    return ran_out;
}
