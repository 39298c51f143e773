/* jsonmem.h - cJSON's allocations routed to a request arena, per thread.
 *
 * cJSON_InitHooks() is process-wide, but the informer, audit and lease threads parse with
 * cJSON at the same time as the request threads. jsonmem_install() therefore points cJSON's
 * hooks at two functions that look at a thread-local arena: when a thread has entered one
 * (jsonmem_enter()), cJSON's allocations in that thread come from it; otherwise they come
 * from malloc, as before. A tree built under an arena goes with the arena: it must never be
 * given to cJSON_Delete() (the owner records which trees are the arena's, as
 * admission_request does), and nothing that outlives the arena (caches, policy sets, the watch
 * store) may be parsed while one is entered. While an arena is entered, cJSON's frees of its
 * memory (a parse that fails deletes what it built) are recognised and skipped; other
 * pointers go to free(). */
#ifndef SG_JSONMEM_H
#define SG_JSONMEM_H

#include <stdbool.h>

#include "arena.h"

/* Installs the hooks (once per process; later calls do nothing). Call it before threads that
 * use cJSON start; jsonmem_enter() calls it too. */
void jsonmem_install(void);

/* Makes 'a' the arena of this thread's cJSON allocations and returns the one entered before
 * (NULL: malloc), which jsonmem_leave() restores. Also clears the flag of
 * jsonmem_ran_out(). */
arena *jsonmem_enter(arena *a);

/* Restores 'prev', as returned by jsonmem_enter(). */
void jsonmem_leave(arena *prev);

/* Whether an allocation of cJSON failed, in this thread, because the entered arena reached
 * its cap, since the last jsonmem_enter(): tells "too large for the request's memory" from
 * "not JSON" when a parse fails. */
bool jsonmem_ran_out(void);

#endif
