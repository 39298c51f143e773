/* sync.h - writing a set of PolicyReports to the API server: create, update, delete.
 *
 * The reports in the cluster are made to say what one audit round found: a namespace's report
 * is created when absent, replaced (PUT with the resourceVersion just read, so a concurrent
 * writer makes it fail, not lose a write) when it says something else, left alone when it
 * says the same; every streamguard report of a namespace without results is deleted, found
 * by a LIST, so that reports a previous leader or a previous run wrote do not stay behind. */
#ifndef SG_AUDIT_SYNC_H
#define SG_AUDIT_SYNC_H

#include <stdbool.h>

#include "../kube/client.h"
#include "report.h"

/* The API calls of a sync, as a table so that tests can answer them (client.h's by default). */
typedef struct report_api {
    void *arg;
    int (*get)(void *arg, const char *path, long timeout_ms, kube_response *r);
    int (*write)(void *arg, enum kube_method m, const char *path, const char *body, size_t len,
                 long timeout_ms, kube_response *r);
    int (*list)(void *arg, const char *path, long limit, long timeout_ms,
                int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv, size_t rv_cap,
                kube_response *r);
} report_api;

/* The table over 'c' (kube_get, kube_write, kube_list). */
report_api report_api_client(kube_client *c);

typedef struct report_sync_stats {
    int created, updated, deleted, unchanged, failed;
    bool stopped; /* may_write said no: nothing was written after that */
} report_sync_stats;

/* Makes the reports in the cluster those of 'r'. 'may_write' (with 'arg') is asked right
 * before each write (a replica that lost its Lease must not write once more); when it says
 * no, the sync ends at once with 'st->stopped'. Each call is bounded by 'timeout_ms'. A write
 * that fails is counted and logged, and the others go on: the next round tries again.
 * Returns 0 when every report is as it should be, -1 otherwise. */
int report_sync(const report_api *api, report_set *r, bool (*may_write)(void *arg), void *arg,
                long timeout_ms, report_sync_stats *st);

#endif
