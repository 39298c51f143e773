/* cmdenv.h - what 'check' and 'audit' share: their common options (-p, -o, --kubeconfig), the
 * policies, the kubeconfig's client and the report that both print in the same shapes (text,
 * JSON, JUnit, SARIF) with the same exit codes. */
#ifndef SG_CLI_CMDENV_H
#define SG_CLI_CMDENV_H

#include <stdio.h>

#include "../kube/client.h"
#include "../policy/policy.h"
#include "../util/opts.h"
#include "check_out.h"
#include "manifests.h"

/* The options both commands take. */
typedef struct cli_common {
    const char *policies;   /* -p, --policies: default "policies/" */
    const char *format;     /* -o, --output: default "text" */
    const char *kubeconfig; /* --kubeconfig, or NULL */
    const char *params;     /* --params: a file (or directory) of PolicyParams, or NULL */
    bool cluster;           /* a cluster is needed: without --kubeconfig, $KUBECONFIG, then
                               the pod's service account (kube_config_resolve) */
} cli_common;

#define CLI_COMMON_DEFAULTS {.policies = "policies/", .format = "text"}

/* The rows (util/opts.h) of the common options, for a command whose options struct 'type'
 * holds them as 'field': put them first in its table. */
#define CLI_COMMON_ROWS(type, field)                                                          \
    OPT_STRING_ROW("policies", 'p', type, field.policies),                                   \
        OPT_STRING_ROW("output", 'o', type, field.format),                                    \
        OPT_STRING_ROW("kubeconfig", 0, type, field.kubeconfig),                              \
        OPT_STRING_ROW("params", 0, type, field.params)

/* What a command runs with, once its options are read. */
typedef struct cli_env {
    const char *cmd;       /* "check", "audit": named in the messages */
    policy_set *set;
    kube_client *client;   /* NULL without --kubeconfig */
    char *context_ns;      /* the kubeconfig context's namespace, or NULL; malloc'd */
    check_report *rep;
    manifest_sink sink;    /* into 'rep' (patches included) */
} cli_env;

/* Checks the format, opens the kubeconfig (when given) and loads the policies. Returns 0, or
 * 2 (the exit code of a usage, policy or input error) after printing why to stderr. */
int cli_env_open(cli_env *e, const char *cmd, const cli_common *o);

/* The policies of -p with the PolicyParams of --params (policy_set_load); NULL after printing
 * the problems to stderr, naming 'cmd'. */
policy_set *cli_load_policies(const char *cmd, const cli_common *o);

/* Prints the report to stdout and frees everything; returns the report's exit code. */
int cli_env_finish(cli_env *e);

#endif
