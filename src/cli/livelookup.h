/* livelookup.h - lookup() and lookupList() for 'streamguard check --kubeconfig FILE': the
 * documents given first (as they would be once applied), then the live cluster, read-only
 * (GET and LIST only). Every answer from the cluster is kept for the rest of the run, so a
 * claim looked up by a hundred documents is asked for once. */
#ifndef SG_CLI_LIVELOOKUP_H
#define SG_CLI_LIVELOOKUP_H

#include "../kube/client.h"
#include "../policy/engine.h"

typedef struct live_lookup {
    const policy_lookup *docs; /* the documents' lookup (manifests_lookup) */
    kube_client *client;
    long timeout_ms;           /* each request to the API server */
    const char *namespace_;    /* the kubeconfig context's: where a document without a
                                  namespace would be applied, so where its lookups look */
    struct live_answer *answers;
} live_lookup;

/* The combined lookup; 'l' must outlive its use. */
policy_lookup live_lookup_make(live_lookup *l);

/* Frees the answers kept. */
void live_lookup_free(live_lookup *l);

#endif
