/* mem.c - see mem.h. */
#include "mem.h"

#include <stdbool.h>

#ifdef SG_MIMALLOC
#include <mimalloc.h>

void mem_release_freed(void)
{
    /* mi_collect(true) frees the empty pages to their segments, and decommits those spans
     * only once the delay has passed: with 0 it does so now. The delay is put back at once,
     * so a request's frees keep it (a decommit per free would be a system call each). Another
     * thread freeing meanwhile at most decommits early. */
    long delay = mi_option_get(mi_option_decommit_delay);
    mi_option_set(mi_option_decommit_delay, 0);
    mi_collect(true);
    mi_option_set(mi_option_decommit_delay, delay);
}
#else
#include <malloc.h>

void mem_release_freed(void)
{
    malloc_trim(0);
}
#endif
