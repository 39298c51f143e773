/* report.h - audit results as wgpolicyk8s.io/v1alpha2 PolicyReports, the schema the Kubernetes
 * policy working group publishes and Kyverno writes (Policy Reporter reads it unchanged).
 *
 * One PolicyReport per namespace named "streamguard" holds the results of the objects of that
 * namespace; one ClusterPolicyReport named "streamguard" those of cluster-scoped objects. A
 * report is built whole from one audit round: a deleted object or policy leaves no result
 * behind, and a namespace without results gets no report (report_sync deletes it). */
#ifndef SG_AUDIT_REPORT_H
#define SG_AUDIT_REPORT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "audit.h"

#define REPORT_API_VERSION  "wgpolicyk8s.io/v1alpha2"
#define REPORT_NAME         "streamguard"
#define REPORT_SOURCE       "streamguard"
#define REPORT_ERROR_POLICY "streamguard" /* the result of an object that could not be audited */
#define REPORT_ERROR_RULE   "audit"
#define REPORT_MANAGED_BY   "app.kubernetes.io/managed-by" /* a label, "streamguard" */
/* Above this a report is not written whole: pass results are left out first (the summary
 * still counts them), then the results past it (logged). etcd keeps objects up to 1.5 MiB. */
#define REPORT_MAX_BYTES ((size_t)1 << 20)

typedef struct report_set report_set;

/* An empty set of reports, or NULL when memory is exhausted. */
report_set *report_set_new(void);
void report_set_free(report_set *r);

/* Adds the results 'o' of 'object' (apiVersion, kind, metadata.name, .namespace, .uid are
 * read; borrowed) to the report of its namespace ("" : the ClusterPolicyReport), each with
 * timestamp 'now_s' (Unix seconds). Returns 0, or -1 when memory is exhausted. */
int report_set_add(report_set *r, const cJSON *object, const audit_outcome *o, long long now_s);

/* The result an object gets when it could not be audited at all ('reason': why, e.g. the
 * evaluation ran out of its memory on a huge object, or the decoder refused it): one error
 * with policy REPORT_ERROR_POLICY and rule REPORT_ERROR_RULE, because which policies match it
 * is part of what could not be found out. Returns 0, or -1 when memory is exhausted. */
int report_set_add_error(report_set *r, const cJSON *object, const char *reason, long long now_s);

/* The namespaces that have a report ("" first when cluster-scoped objects had results),
 * sorted. '*n' receives how many; the strings are owned by 'r'. */
const char *const *report_set_namespaces(report_set *r, size_t *n);

/* The number of results of 'policy' with 'result' over every report: what the gauges
 * streamguard_audit_results{policy,result} show. */
long report_set_count(const report_set *r, const char *policy, enum audit_result result);

/* The report object of namespace 'ns' ("" : the ClusterPolicyReport), ready to be created:
 * apiVersion, kind, metadata (name, namespace, the managed-by label), summary and results
 * (the results of objects in namespace-then-kind-then-name order, then by policy and rule).
 * When 'existing' (the report as the API server has it, or NULL) holds a result equal in
 * everything but its timestamp, the result keeps that timestamp: it was found then and is
 * still true. The caller owns the answer (cJSON_Delete); NULL when memory is exhausted. */
cJSON *report_build(const report_set *r, const char *ns, const cJSON *existing);

/* True when 'want' (report_build) says what 'have' says already: the same summary and the same
 * results in the same order, and the managed-by label (what finds a stale report); other
 * metadata and fields are not compared. */
bool report_same(const cJSON *want, const cJSON *have);

#endif
