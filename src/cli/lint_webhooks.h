/* lint_webhooks.h - 'lint': does a webhook configuration send what each policy matches?
 *
 * A policy only runs in a cluster on the requests kube-apiserver sends to the webhook: a
 * policy matching Pods, or a kind that deploy/'s Validating- and MutatingWebhookConfiguration
 * do not register, loads and passes every test but is never enforced. 'lint' reads the
 * webhook configurations and warns per policy and kind that no rule sends. */
#ifndef SG_CLI_LINT_WEBHOOKS_H
#define SG_CLI_LINT_WEBHOOKS_H

#include <stddef.h>

#include "../policy/policy.h"
#include "../util/diag.h"

typedef struct lint_webhooks lint_webhooks;

/* Reads the ValidatingWebhookConfigurations and MutatingWebhookConfigurations of the YAML
 * file 'path' (several documents, or a kind: List, as kubectl prints them; other kinds are
 * skipped). Returns them, or NULL with an error diag when the file cannot be read, is not
 * YAML, or holds no webhook configuration. */
lint_webhooks *lint_webhooks_load(const char *path, diag_list *dl);

void lint_webhooks_free(lint_webhooks *w);

/* Adds a warning ("policy.unsent", at the policy's document) for each policy of 's' and each
 * kind it matches that no webhook of 'w' sends on an operation the policy matches: a policy
 * with validations needs a ValidatingWebhookConfiguration rule, one with mutations a
 * MutatingWebhookConfiguration rule, covering the kind's group, its resource (plural, from
 * admission/resource.c; subresources as the policy names them), its scope and the
 * operations. Returns how many warnings it added. */
size_t lint_webhooks_check(const lint_webhooks *w, const policy_set *s, diag_list *dl);

/* The webhook file 'lint' reads when none is given: for each of the 'n' policy paths, the
 * first of DIR/../deploy/base/webhooks.yaml (policies/ in a checkout) and
 * DIR/../webhooks.yaml (deploy/base/policies/) that exists, DIR being the path itself when it
 * is a directory, else the directory it is in. Returns a malloc'd path, or NULL. */
char *lint_webhooks_find(const char *const *paths, size_t n);

#endif
