/* num.h - strict parsing of numbers given on the command line. */
#ifndef SG_NUM_H
#define SG_NUM_H

/* Parses a decimal integer in [min, max] from all of 's' (no sign, no spaces, no suffix).
 * Returns 0 and sets '*out', or -1. */
int num_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                   unsigned long long *out);

#endif
