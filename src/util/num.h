/* num.h - strict parsing of numbers given on the command line, and decimal text without stdio. */
#ifndef SG_NUM_H
#define SG_NUM_H

/* Parses a decimal integer in [min, max] from all of 's' (no sign, no spaces, no suffix).
 * Returns 0 and sets '*out', or -1. */
int num_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                   unsigned long long *out);

/* The digits of 'v' as printf's "%lld" writes them, without stdio (hot paths: the answer's
 * JSON, flinkConfig()'s option texts): at the end of 'buf'. Returns where they start; they run
 * to buf + NUM_LL_MAX (not NUL-terminated). */
enum { NUM_LL_MAX = 20 }; /* "-9223372036854775808" */
char *num_ll_text(char buf[NUM_LL_MAX], long long v);

#endif
