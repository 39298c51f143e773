/* resource.h - the resource a kind is served as ("flinkdeployments" for FlinkDeployment), as
 * kube-apiserver names it in request.resource and request.requestResource.
 *
 * The webhook reads it from the request; 'streamguard check' builds the request itself and
 * needs it from here. The names come from the CRDs and the Kubernetes API (a plural is not
 * always the kind plus 's': Endpoints, Ingress, NetworkPolicy). */
#ifndef SG_ADMISSION_RESOURCE_H
#define SG_ADMISSION_RESOURCE_H

#include <stdbool.h>

#include "../util/arena.h"

/* Returns the resource of 'kind' in API group 'group' ("" is the core group): from the table
 * of kinds, which covers every kind a shipped policy matches and the core kinds they look up;
 * for any other kind, the guess kube-apiserver itself makes when it has no discovery
 * (UnsafeGuessKindToResource: lower case, then "es" after an 's', "ies" for a final 'y',
 * else "s"), with '*guessed' (when not NULL) set. Returns a static or an arena-owned string,
 * or NULL when out of memory. */
const char *admission_kind_resource(const char *group, const char *kind, arena *a,
                                    bool *guessed);

/* False for the cluster-scoped kinds of the table (Namespace, Node, PersistentVolume,
 * StorageClass, ClusterRole, ...), true for every other kind: the kinds the policies match
 * are namespaced, and so are most custom resources. */
bool admission_kind_namespaced(const char *group, const char *kind);

#endif
