/* lease.h - leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.
 *
 * Every replica runs an elector on the same Lease. One holds it (spec.holderIdentity) and
 * renews it every retry period; the others read it every retry period (jittered) and take it
 * over once they have seen no change of it for leaseDurationSeconds. Time is only ever
 * measured on this replica's monotonic clock from when it observed a change: the holder's
 * acquireTime and renewTime are written (as MicroTime) for people and tools, never trusted,
 * so clocks that disagree between nodes change nothing. Every write is a PUT of the object
 * last read, whose resourceVersion makes it conditional: of two replicas racing for the
 * Lease, one gets 409 Conflict, reads it again and sees the other holding it.
 *
 * A leader that cannot renew stops leading at once when its renew deadline passes, counted
 * from the start of its last successful renewal: renew deadline + retry period (12 s by
 * default) is shorter than the lease duration (15 s) after which another replica may take
 * it, so two replicas never both believe they lead. lease_elector_is_leader() also checks
 * that deadline itself, so it turns false on time even while the elector's thread waits for
 * an answer. On a clean stop the leader gives the Lease up (holder emptied, duration 1 s, as
 * client-go's ReleaseOnCancel), so another replica takes over at its next retry. */
#ifndef SG_KUBE_LEASE_H
#define SG_KUBE_LEASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/diag.h"
#include "client.h"

/* The API calls the elector makes; lease_api_client() gives the real ones, tests a script. */
typedef struct lease_api {
    void *arg;
    int (*get)(void *arg, const char *path, long timeout_ms, kube_response *r);
    int (*write)(void *arg, enum kube_method m, const char *path, const char *body, size_t len,
                 long timeout_ms, kube_response *r);
    /* Optional: makes the calling thread's requests end when '*stop' is set (NULL: none). */
    void (*thread_stop)(const atomic_bool *stop);
} lease_api;

/* The calls of 'c' (borrowed: it must outlive the elector). */
lease_api lease_api_client(kube_client *c);

/* Where time comes from; tests give a fake one. */
typedef struct lease_clock {
    void *arg;
    int64_t (*mono_ms)(void *arg); /* monotonic milliseconds: every duration */
    int64_t (*wall_us)(void *arg); /* Unix microseconds: the MicroTimes written */
} lease_clock;

typedef struct lease_opts {
    const char *namespace_, *name; /* the Lease */
    const char *identity;          /* this replica's holderIdentity (lease_identity_new) */
    long lease_duration_ms;        /* 0: 15000 */
    long renew_deadline_ms;        /* 0: 10000 */
    long retry_period_ms;          /* 0: 2000 */
    /* Called in the elector's thread, in order, never twice in a row: when this replica
     * starts leading and when it stops (the deadline passed, another holds the Lease, or
     * the elector stops). NULL: not called. */
    void (*on_started)(void *arg);
    void (*on_stopped)(void *arg);
    void *cb_arg;
    const lease_clock *clock; /* NULL: CLOCK_MONOTONIC and CLOCK_REALTIME; copied */
    uint64_t seed;            /* of the retry jitter; 0: random */
} lease_opts;

typedef struct lease_elector lease_elector;

/* Checks 'o' (names of a Lease and a namespace, a non-empty identity of at most 253 bytes,
 * lease duration > renew deadline > 1.2 x retry period > 0, as client-go requires) and copies
 * it. NULL with the problem in 'dl'. No request is made yet. */
lease_elector *lease_elector_new(const lease_api *api, const lease_opts *o, diag_list *dl);

/* One step: reads the Lease and takes, renews or leaves it (or stops leading when the renew
 * deadline has passed). Returns the milliseconds to wait before the next step. The thread of
 * lease_elector_start calls it; tests call it directly with a fake clock. */
long lease_elector_step(lease_elector *e);

/* Starts the elector's thread. Returns 0 or -1. */
int lease_elector_start(lease_elector *e);

/* Stops the thread (a request in flight ends within about a second), stops leading and, when
 * this replica held the Lease, gives it up (one PUT, at most a few seconds). Then frees 'e'.
 * NULL is accepted. */
void lease_elector_free(lease_elector *e);

/* Stops leading and gives the Lease up now (as lease_elector_free does first), for a server
 * that begins to drain; the elector then stays stopped. Safe from any thread, once or more. */
void lease_elector_release(lease_elector *e);

/* True while this replica leads: an atomic read, cheap enough for any path. */
bool lease_elector_is_leader(const lease_elector *e);

/* Appends streamguard_leader (0/1) and streamguard_leader_transitions_total (every change of
 * it) in the Prometheus text format. Returns 0, or -1 when 'out' is full. */
int lease_elector_metrics(const lease_elector *e, buf *out);

/* Writes "HOST_RANDOM" into 'out': $POD_NAME, else the host name (a pod's name in
 * Kubernetes), then 16 random hex digits, so a restarted pod of the same name never mistakes
 * the Lease it held before for its own. Returns 0, or -1 when 'cap' is too small. */
int lease_identity_new(char *out, size_t cap);

/* The pod's namespace, from 'sa_dir'/namespace (KUBE_SA_DIR in a pod), trimmed, into 'out'.
 * Returns 0, 1 when there is no such file, or -1 with the problem in 'dl' (unreadable, not a
 * namespace name). */
int lease_pod_namespace(const char *sa_dir, char *out, size_t cap, diag_list *dl);

/* The namespace of this replica's own objects (the Lease, the webhook Secret): 'given' (an
 * option) when not NULL, else the pod's (lease_pod_namespace on 'sa_dir'), else 'context_ns'
 * (the kubeconfig context's) when not NULL. Returns 0, 1 when none of them names one, or -1
 * with the problem in 'dl'. */
int lease_own_namespace(const char *given, const char *sa_dir, const char *context_ns,
                        char *out, size_t cap, diag_list *dl);

#endif
