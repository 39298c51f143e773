/* mem.h - giving back to the kernel the memory a load freed.
 *
 * mimalloc keeps the pages of freed blocks resident for reuse (it decommits them only after
 * a delay, and only when it next looks). Loading a policy set frees about as much as it keeps
 * (the YAML documents, the files' text, libyaml's buffers), so without this the server's idle
 * RSS carried ~0.5 MiB that nothing would use again. */
#ifndef SG_MEM_H
#define SG_MEM_H

/* Returns to the kernel the free memory the allocator keeps for the calling thread (and what
 * other threads freed of its blocks). For after a load, not for a request's path: it makes
 * system calls. mimalloc: mi_collect() with the decommit delay set to 0 for the call; libc
 * (sanitizer builds): malloc_trim(). */
void mem_release_freed(void);

#endif
