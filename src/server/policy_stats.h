/* policy_stats.h - per-policy results and evaluation time for /metrics. Internal to
 * src/server/.
 *
 * One table per policy set the server serves, made when the set is swapped in and
 * reference-counted like the set: a request records into the table of the set it decides
 * with, a scrape renders the table being served. A policy's counters belong to its name: a
 * reload that keeps the name carries them over (a counter never goes back), a reload that
 * removes the policy removes its series from the next scrape, so the series stay bounded by
 * the policies served. Recording goes through the engine's observer (matched, then
 * evaluated, for each policy that runs) and is lock-free: two clock reads (one when the
 * policy before it in the set ran just before it) and three relaxed atomic adds per policy. */
#ifndef SG_SERVER_POLICY_STATS_H
#define SG_SERVER_POLICY_STATS_H

#include <stddef.h>
#include <time.h>

#include "../policy/engine.h"
#include "../util/buf.h"

typedef struct policy_stats policy_stats;

/* A table for the policies of 'set' (borrowed; not kept), carrying over the counters of the
 * policies of 'prev' (NULL: none) that have the same name. Returns NULL when out of memory. */
policy_stats *policy_stats_new(const policy_set *set, const policy_stats *prev);

/* Takes another reference (thread-safe); NULL gives NULL. */
policy_stats *policy_stats_ref(policy_stats *st);

/* Drops a reference; the last one frees the table. NULL is accepted. */
void policy_stats_unref(policy_stats *st);

/* What one engine run records with: the table, the set it was made for, the time the
 * running policy began, and the policy that ran last with the time it ended (its end is the
 * start of the next policy of the set when that one runs next: one clock read for both).
 * Lives as long as the run (the caller's stack). */
typedef struct policy_stats_probe {
    policy_stats *st;
    const policy *items; /* the set's policies: a policy's index is its offset from here */
    size_t n;
    struct timespec began, ended;
    const policy *last; /* NULL before the first */
} policy_stats_probe;

/* Fills 'ob' with an observer that records into 'st' (borrowed for the run) the results and
 * times of the policies of 'set', which must be the set 'st' was made for; 'pr' is its state. */
void policy_stats_observer(policy_stats *st, const policy_set *set, policy_stats_probe *pr,
                           policy_observer *ob);

/* Appends streamguard_policy_results_total and streamguard_policy_evaluation_seconds of every
 * policy of 'st' to 'out' (nothing when 'st' is NULL). Returns 0, or -1 when 'out' is full. */
int policy_stats_render(const policy_stats *st, buf *out);

#endif
