/* resource.c - kind -> resource; see resource.h. */
#include "resource.h"

#include <ctype.h>
#include <string.h>

static const struct {
    const char *group, *kind, *resource;
    bool cluster; /* cluster-scoped: no namespace */
} kinds[] = {
    /* the kinds the policies match (reference/crds) */
    {"flink.apache.org", "FlinkDeployment", "flinkdeployments", false},
    {"flink.apache.org", "FlinkSessionJob", "flinksessionjobs", false},
    {"flink.apache.org", "FlinkStateSnapshot", "flinkstatesnapshots", false},
    {"k8ssandra.io", "K8ssandraCluster", "k8ssandraclusters", false},
    {"stargate.k8ssandra.io", "Stargate", "stargates", false},
    {"reaper.k8ssandra.io", "Reaper", "reapers", false},
    {"medusa.k8ssandra.io", "MedusaBackupJob", "medusabackupjobs", false},
    {"cassandra.datastax.com", "CassandraDatacenter", "cassandradatacenters", false},
    /* Kubernetes kinds that manifests beside them hold and lookup() reads */
    {"", "PersistentVolumeClaim", "persistentvolumeclaims", false},
    {"", "PersistentVolume", "persistentvolumes", true},
    {"", "Pod", "pods", false},
    {"", "Node", "nodes", true},
    {"", "Namespace", "namespaces", true},
    {"", "ConfigMap", "configmaps", false},
    {"", "Secret", "secrets", false},
    {"", "Service", "services", false},
    {"", "ServiceAccount", "serviceaccounts", false},
    {"", "Endpoints", "endpoints", false},
    {"apps", "Deployment", "deployments", false},
    {"apps", "StatefulSet", "statefulsets", false},
    {"apps", "DaemonSet", "daemonsets", false},
    {"batch", "Job", "jobs", false},
    {"batch", "CronJob", "cronjobs", false},
    {"networking.k8s.io", "Ingress", "ingresses", false},
    {"networking.k8s.io", "NetworkPolicy", "networkpolicies", false},
    {"policy", "PodDisruptionBudget", "poddisruptionbudgets", false},
    {"storage.k8s.io", "StorageClass", "storageclasses", true},
    {"rbac.authorization.k8s.io", "Role", "roles", false},
    {"rbac.authorization.k8s.io", "RoleBinding", "rolebindings", false},
    /* cluster-scoped kinds that manifests often hold: kube-apiserver gives them no namespace */
    {"rbac.authorization.k8s.io", "ClusterRole", "clusterroles", true},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", true},
    {"apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", true},
    {"scheduling.k8s.io", "PriorityClass", "priorityclasses", true},
    {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration",
     "validatingwebhookconfigurations", true},
    {"admissionregistration.k8s.io", "MutatingWebhookConfiguration",
     "mutatingwebhookconfigurations", true},
};

/* The row of 'kind' in 'group', or -1. */
static int find_kind(const char *group, const char *kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].group, group) == 0 && strcmp(kinds[i].kind, kind) == 0)
            return (int)i;
    return -1;
}

bool admission_kind_namespaced(const char *group, const char *kind)
{
    int i = find_kind(group, kind);
    return i < 0 || !kinds[i].cluster;
}

const char *admission_kind_resource(const char *group, const char *kind, arena *a,
                                    bool *guessed)
{
    int i = find_kind(group, kind);
    if (guessed != NULL)
        *guessed = i < 0;
    if (i >= 0)
        return kinds[i].resource;
    size_t n = strlen(kind);
    char *out = arena_alloc(a, n + 3);
    if (out == NULL)
        return NULL;
    for (size_t k = 0; k < n; k++)
        out[k] = (char)tolower((unsigned char)kind[k]);
    out[n] = '\0';
    if (n > 0 && out[n - 1] == 's')
        strcpy(out + n, "es");
    else if (n > 0 && out[n - 1] == 'y')
        strcpy(out + n - 1, "ies");
    else
        strcpy(out + n, "s");
    return out;
}
