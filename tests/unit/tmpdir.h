/* tmpdir.h - a scratch directory for a test file's cases: made in setup, removed (with what
 * the cases wrote) in teardown. */
#ifndef SG_TEST_TMPDIR_H
#define SG_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/sg-PREFIX-XXXXXX in 'dir' (at least 64 bytes). Returns 0, or -1. */
static inline int tmpdir_make(char *dir, size_t cap, const char *prefix)
{
    snprintf(dir, cap, "/tmp/sg-%s-XXXXXX", prefix);
    return mkdtemp(dir) ? 0 : -1;
}

/* Removes 'dir' and everything in it. Returns 0, or -1. */
static inline int tmpdir_remove(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
