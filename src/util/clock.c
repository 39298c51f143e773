/* clock.c - clocks in milliseconds; see clock.h. */
#include "clock.h"

static int64_t ms_of(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    return ms_of(CLOCK_MONOTONIC);
}

int64_t clock_coarse_ms(void)
{
    return ms_of(CLOCK_MONOTONIC_COARSE);
}

int64_t clock_real_ms(void)
{
    return ms_of(CLOCK_REALTIME);
}

struct timespec clock_mono_after_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (ms < 0)
        ms = 0;
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}
