/* auditor.h - the server's background audit (serve --audit): a thread that audits the objects
 * of the watch caches and writes PolicyReports while this replica may write.
 *
 * A round lists, from the caches, every object of every kind the validations match, audits
 * each (audit_object, with the caches answering lookup()), builds the reports (report.h) and
 * makes the cluster's reports say that (sync.h). Rounds run when the policies change (start,
 * reload), when a watched object changes (debounced: AUDITOR_QUIET_MS without a change, at
 * most AUDITOR_MAX_DELAY_MS after the first), when this replica becomes the writer, and every
 * --audit-interval. Work stays off the admission path: its own thread at a lower priority
 * (nice +10), its own arenas, and at most AUDITOR_RATE objects a second. Only a replica that
 * may write (the elected leader; without --leader-elect, the only replica) audits, and it asks
 * again before each write, so one that loses the Lease stops writing at once. */
#ifndef SG_AUDIT_AUDITOR_H
#define SG_AUDIT_AUDITOR_H

#include <stdbool.h>

#include "../kube/cache.h"
#include "../util/buf.h"

#define AUDITOR_QUIET_MS     2000  /* a change is audited once changes pause this long */
#define AUDITOR_MAX_DELAY_MS 30000 /* ... or this long after the first, under steady churn */
#define AUDITOR_RETRY_MS     5000  /* a round that could not finish is tried again after, */
#define AUDITOR_RETRY_MAX_MS 300000 /* doubling while rounds keep failing, up to this */
#define AUDITOR_RATE         200   /* objects audited a second, at most */

/* What the auditor runs with; everything is borrowed and must outlive it. */
typedef struct auditor_env {
    kube_client *client;   /* discovery and the reports' writes */
    kube_cache *cache;     /* the objects */
    policy_lookup lookup;  /* lookup() and lookupList() of the policies (the caches) */
    bool (*may_write)(void *arg);
    /* The kinds to audit, so that the caches watch them beside the kinds the policies look
     * up; called from the auditor's thread whenever that list changes. */
    void (*watch_kinds)(void *arg, const kube_kind *kinds, size_t n);
    void *arg;
} auditor_env;

typedef struct auditor auditor;

/* Starts the thread; 'interval_s' is --audit-interval. NULL when it could not start. */
auditor *auditor_start(const auditor_env *env, unsigned interval_s);

/* The policies to audit with (a reference is taken); a round follows. */
void auditor_set_policies(auditor *a, policy_set *s);

/* Something a watch brings changed: a round follows, debounced. Cheap; any thread. */
void auditor_changed(auditor *a);

/* Appends the audit's metrics: streamguard_audit_results{policy,result} (the last round's
 * results; none on a replica that does not write), the last round's time, duration and
 * objects, and report writes by outcome. Returns 0, or -1 when 'out' is full. */
int auditor_metrics(auditor *a, buf *out);

/* Stops the thread (a round in progress ends at its next object or API call, within about a
 * second): nothing is written and no watch is asked for after it returns. auditor_changed()
 * may still be called (the caches' threads may be announcing a change) until auditor_free().
 * Idempotent; NULL is accepted. */
void auditor_stop(auditor *a);

/* auditor_stop(), then frees 'a': the caches must not announce changes to it any more (stop
 * their watches first). NULL is accepted. */
void auditor_free(auditor *a);

#endif
