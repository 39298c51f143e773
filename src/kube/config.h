/* config.h - where the Kubernetes API server is and how to authenticate to it.
 *
 * Two sources, as client-go reads them: from inside a pod (the service-account token and CA
 * under /var/run/secrets/kubernetes.io/serviceaccount/, KUBERNETES_SERVICE_HOST and _PORT),
 * or from a kubeconfig file (its current context: the cluster's server, certificate-authority
 * or -data; the user's token, tokenFile, client-certificate/-key or their -data). Certificate
 * verification is always on: insecure-skip-tls-verify is refused. */
#ifndef SG_KUBE_CONFIG_H
#define SG_KUBE_CONFIG_H

#include <stddef.h>

#include "../util/diag.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct kube_config {
    char *server;                 /* "https://host:port", no trailing '/' */
    char *ca_file;                /* PEM file, or NULL */
    unsigned char *ca_data;       /* PEM bytes (certificate-authority-data decoded), or NULL */
    size_t ca_len;
    char *token;                  /* a bearer token given inline, or NULL */
    char *token_file;             /* a bearer token re-read whenever the file changes, or NULL */
    char *cert_file, *key_file;   /* client certificate and key (PEM files), or NULL */
    unsigned char *cert_data, *key_data; /* the same given inline (decoded), or NULL */
    size_t cert_len, key_len;
    char *namespace_;             /* a kubeconfig context's namespace, "default" when it names
                                     none (where kubectl applies a manifest that names none);
                                     NULL in a pod */
    char *source;                 /* for logs: "in-cluster" or "kubeconfig PATH, context NAME" */
} kube_config;

/* Fills 'out' from the pod's service account ('sa_dir': KUBE_SA_DIR, other values for tests)
 * and the environment. Returns 0, 1 when not in a pod (no KUBERNETES_SERVICE_HOST or no token
 * file), or -1 with an error in 'dl'. */
int kube_config_in_cluster(const char *sa_dir, kube_config *out, diag_list *dl);

/* Reads the kubeconfig 'path', context 'context' (NULL: its current-context). Relative file
 * names in it are relative to the file's directory, as kubectl reads them. Returns 0 or -1
 * with errors in 'dl' (positions in the file where it can). */
int kube_config_load(const char *path, const char *context, kube_config *out, diag_list *dl);

/* The server's choice: 'path' (--kubeconfig) when given, else $KUBECONFIG (the first of its
 * ':'-separated files that exists, logged when there were several: files are not merged as
 * kubectl merges them; none existing is an error), else the in-cluster configuration.
 * Returns 0, 1 when there is none, or -1 on error. */
int kube_config_resolve(const char *path, kube_config *out, diag_list *dl);

void kube_config_free(kube_config *c);

#endif
