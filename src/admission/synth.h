/* synth.h - the AdmissionRequest kube-apiserver would send for creating an object.
 *
 * What 'streamguard check' and 'test' decide on for each document, and what the background
 * audit and 'streamguard audit' decide on for each object already in the cluster: one
 * builder, so that a manifest and the same object read back from the cluster get the same
 * verdict. 'test' builds the other operations with it too (admission_request_synth). */
#ifndef SG_ADMISSION_SYNTH_H
#define SG_ADMISSION_SYNTH_H

#include <cjson/cJSON.h>

#include "review.h"

/* Builds the AdmissionReview of a CREATE of 'object' (kubectl apply --dry-run=server: the
 * resource from admission_kind_resource(), userInfo 'user' in system:authenticated, dryRun,
 * CreateOptions, uid 'user') and reads it with admission_request_take(), the webhook's own
 * decoder. 'object' is borrowed (the review refers to it, or to a copy) and must outlive the
 * request; its apiVersion, kind, metadata.name and metadata.namespace name the request. An
 * object of a namespaced kind that names no namespace is created where kubectl would apply
 * it, 'context_ns' (its kubeconfig context's namespace; NULL: "default"): the request's
 * namespace and the object's metadata.namespace are then that, as kube-apiserver sends them.
 * Returns the request (free with admission_request_free), or NULL with the reason in 'dl' (out
 * of memory, or an object the decoder refuses). */
admission_request *admission_request_for_create(const cJSON *object, const char *user,
                                                const char *context_ns, arena *a,
                                                diag_list *dl);

/* The request of any operation, for 'streamguard test' (cases with operation, oldResource,
 * userInfo, dryRun). */
typedef struct admission_synth {
    enum admission_op operation;
    const cJSON *old_object;   /* UPDATE: the object before the change (sent as oldObject,
                                  in the request's namespace); NULL otherwise */
    const char *username;      /* also the request's uid */
    const char *const *groups; /* NULL: [system:authenticated] */
    size_t n_groups;
    bool dry_run;
    const char *context_ns;    /* as for admission_request_for_create() */
} admission_synth;

/* admission_request_for_create() for operation o->operation: object and oldObject, options
 * (CreateOptions, UpdateOptions, DeleteOptions; none for CONNECT) as kube-apiserver sends
 * them. On DELETE 'object' is the object deleted: it is sent as oldObject, object is null. */
admission_request *admission_request_synth(const cJSON *object, const admission_synth *o,
                                           arena *a, diag_list *dl);

#endif
