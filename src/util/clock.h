/* clock.h - the two clocks, in milliseconds, and a deadline for a timed wait.
 *
 * Durations and deadlines use the monotonic clock (a stepped wall clock must not cut a wait
 * short or make it last hours); only times written for others to read (a Lease's renewTime,
 * a report's timestamp) use the wall clock. */
#ifndef SG_CLOCK_H
#define SG_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t clock_mono_ms(void);

/* Milliseconds on CLOCK_MONOTONIC_COARSE: the monotonic clock as of the last timer tick (a
 * few milliseconds behind at most, never ahead), read without the hardware counter, at a
 * tenth of the cost here (7 against 65 ns). For deadlines of seconds on a request's path
 * (conns.c); durations that are reported use clock_mono_ms(). */
int64_t clock_coarse_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_real_ms(void);

/* The CLOCK_MONOTONIC time 'ms' milliseconds from now (ms < 0 counts as 0): the deadline of
 * pthread_cond_timedwait on a condition variable whose attribute chose that clock. */
struct timespec clock_mono_after_ms(long ms);

#endif
