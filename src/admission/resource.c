/* resource.c - kind -> resource; see resource.h. */
#include "resource.h"

#include <ctype.h>
#include <string.h>

static const struct {
    const char *group, *kind, *resource;
} kinds[] = {
    /* the kinds the policies match (reference/crds) */
    {"flink.apache.org", "FlinkDeployment", "flinkdeployments"},
    {"flink.apache.org", "FlinkSessionJob", "flinksessionjobs"},
    {"flink.apache.org", "FlinkStateSnapshot", "flinkstatesnapshots"},
    {"k8ssandra.io", "K8ssandraCluster", "k8ssandraclusters"},
    {"stargate.k8ssandra.io", "Stargate", "stargates"},
    {"reaper.k8ssandra.io", "Reaper", "reapers"},
    {"medusa.k8ssandra.io", "MedusaBackupJob", "medusabackupjobs"},
    {"cassandra.datastax.com", "CassandraDatacenter", "cassandradatacenters"},
    /* Kubernetes kinds that manifests beside them hold and lookup() reads */
    {"", "PersistentVolumeClaim", "persistentvolumeclaims"},
    {"", "PersistentVolume", "persistentvolumes"},
    {"", "Pod", "pods"},
    {"", "Node", "nodes"},
    {"", "Namespace", "namespaces"},
    {"", "ConfigMap", "configmaps"},
    {"", "Secret", "secrets"},
    {"", "Service", "services"},
    {"", "ServiceAccount", "serviceaccounts"},
    {"", "Endpoints", "endpoints"},
    {"apps", "Deployment", "deployments"},
    {"apps", "StatefulSet", "statefulsets"},
    {"apps", "DaemonSet", "daemonsets"},
    {"batch", "Job", "jobs"},
    {"batch", "CronJob", "cronjobs"},
    {"networking.k8s.io", "Ingress", "ingresses"},
    {"networking.k8s.io", "NetworkPolicy", "networkpolicies"},
    {"policy", "PodDisruptionBudget", "poddisruptionbudgets"},
    {"storage.k8s.io", "StorageClass", "storageclasses"},
    {"rbac.authorization.k8s.io", "Role", "roles"},
    {"rbac.authorization.k8s.io", "RoleBinding", "rolebindings"},
};

const char *admission_kind_resource(const char *group, const char *kind, arena *a,
                                    bool *guessed)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kinds[i].group, group) == 0 && strcmp(kinds[i].kind, kind) == 0) {
            if (guessed != NULL)
                *guessed = false;
            return kinds[i].resource;
        }
    }
    if (guessed != NULL)
        *guessed = true;
    size_t n = strlen(kind);
    char *out = arena_alloc(a, n + 3);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)kind[i]);
    out[n] = '\0';
    if (n > 0 && out[n - 1] == 's')
        strcpy(out + n, "es");
    else if (n > 0 && out[n - 1] == 'y')
        strcpy(out + n - 1, "ies");
    else
        strcpy(out + n, "s");
    return out;
}
