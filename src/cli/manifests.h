/* manifests.h - Kubernetes manifests read for checking (files, directories, standard input;
 * multi-document YAML and kind: List expanded), and one document run through the policies as
 * kube-apiserver would send it on kubectl apply: an AdmissionRequest for a CREATE, mutations
 * first, validations on the mutated object. Used by 'check' and 'test'. */
#ifndef SG_CLI_MANIFESTS_H
#define SG_CLI_MANIFESTS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "../admission/synth.h"
#include "../policy/engine.h"
#include "../policy/yamldoc.h"

/* One checked document (or one item of a List). */
typedef struct check_doc {
    const char *file;
    int index; /* 1-based document number in the file */
    int line;  /* where the document (or the List item) starts */
    const ynode *root;
    cJSON *json;
    const char *api_version, *kind, *namespace_, *name;
    bool context_only; /* from --cluster-state: for lookup(), not checked */
} check_doc;

/* What the decision on one document was (admission_decide_chain's answer). */
typedef struct check_verdict {
    bool matched; /* some policy applied to it */
    bool allowed;
    size_t n_denials, n_warnings, n_audit; /* the rules that denied, warned, audited */
    double seconds; /* how long deciding took (the JUnit report's times); 0 when unmeasured */
} check_verdict;

/* Where results go. 'doc' numbers are 1-based; 0 means the file as a whole. */
typedef struct manifest_sink {
    void (*error)(void *ctx, const char *file, int doc, int line, const char *msg);
    void (*finding)(void *ctx, const check_doc *d, const policy_finding *f);
    void (*patch)(void *ctx, const check_doc *d, const char *policy, const char *patch);
    void (*document)(void *ctx, const check_doc *d, const check_verdict *v);
    void (*matched)(void *ctx, const check_doc *d, const policy *p); /* optional */
    void *ctx;
} manifest_sink;

typedef struct manifests {
    check_doc *docs;
    size_t n, cap;
    const manifest_sink *sink; /* input errors go to sink->error */
    arena *a;                  /* file names and YAML trees */
    /* Optional: a document that is not a Kubernetes object (no apiVersion or kind: Helm
     * values, flink-conf.yaml, Chart.yaml) or a kustomization file ('doc' 0), left out of the
     * check with 'why'. Without it (or with 'strict') such a document is an error. */
    void (*skipped)(void *ctx, const char *file, int doc, int line, const char *why);
    void *skipped_ctx;
    bool strict;               /* --strict: a document that is not an object is an error */
    const char *const *exclude; /* --exclude globs (manifests_is_excluded); not copied */
    size_t n_exclude;
} manifests;

void manifests_init(manifests *m, const manifest_sink *sink);

/* Loads a file, a directory (recursively: .yaml, .yml, .json) or "-" (standard input).
 * 'context_only' documents are for lookup() only. Files of a directory that an --exclude glob
 * names are not read; a file named on the command line is read all the same. */
void manifests_load_path(manifests *m, const char *path, bool context_only);
void manifests_load_text(manifests *m, const char *file, const char *text, size_t len,
                         bool context_only);
/* One YAML node as document number 'index' of 'file' (the node must outlive 'm'). */
void manifests_add_node(manifests *m, const char *file, int index, const ynode *node,
                        bool context_only);

/* lookup() and lookupList() over the loaded documents; an empty namespace on either side
 * matches any; a document given wins over a 'context_only' one of the same namespace/name.
 * Never LOOKUP_UNAVAILABLE but when out of memory. */
policy_lookup manifests_lookup(manifests *m);

/* Decides on 'd' as the webhooks would on kubectl apply: the AdmissionRequest of a CREATE
 * (resource from admission_kind_resource(), userInfo streamguard-check in
 * system:authenticated, dryRun, CreateOptions) through admission_decide_chain(), mutations
 * then validations on the mutated object. Reports to 'sink': each policy's patch and match as
 * they happen, then the findings (mutation's first) and the verdict; out of memory is an
 * error of the document. With 'warn_only' denies are warnings (--enforcement warn). A
 * document of a namespaced kind without a namespace is sent as kube-apiserver sends it once
 * kubectl applied it to 'context_ns' (NULL: "default"): request.namespace and the object's
 * metadata.namespace are 'context_ns'. */
void manifests_run(const policy_set *set, const check_doc *d, const policy_lookup *lk,
                   bool warn_only, const char *context_ns, const manifest_sink *sink);

/* manifests_run() with the request 'rq' describes (operation, oldObject, userInfo, dryRun):
 * what 'test' runs for a case that names them. */
void manifests_run_request(const policy_set *set, const check_doc *d, const admission_synth *rq,
                           const policy_lookup *lk, bool warn_only, const manifest_sink *sink);

void manifests_free(manifests *m);

/* True when one of the 'n' globs (fnmatch(3), '*' matching '/' too) matches 'path' (with any
 * leading "./" removed), its part after the first 'base' bytes (the directory given), or one
 * component of that part: "charts" leaves out a charts directory, "values-*.yaml" those files
 * anywhere, "dev/" followed by "*" a path; a component of the directory given excludes nothing. */
bool manifests_is_excluded(const char *path, size_t base, const char *const *globs, size_t n);

/* True when 'path' names a kustomize file (kustomization.yaml, kustomization.yml,
 * Kustomization): kustomize's input, not an object to apply. */
bool manifests_is_kustomization(const char *path);

#endif
