/* cmdenv.h - what 'check' and 'audit' share: their common options (-p, -o, --kubeconfig), the
 * policies, the kubeconfig's client and the report that both print in the same shapes (text,
 * JSON, JUnit, SARIF) with the same exit codes. */
#ifndef SG_CLI_CMDENV_H
#define SG_CLI_CMDENV_H

#include <stdio.h>

#include "../kube/client.h"
#include "../policy/policy.h"
#include "check_out.h"
#include "manifests.h"

/* The options both commands take. */
typedef struct cli_common {
    const char *policies;   /* -p, --policies: default "policies/" */
    const char *format;     /* -o, --output: default "text" */
    const char *kubeconfig; /* --kubeconfig, or NULL */
    bool cluster;           /* a cluster is needed: without --kubeconfig, $KUBECONFIG, then
                               the pod's service account (kube_config_resolve) */
} cli_common;

#define CLI_COMMON_DEFAULTS {.policies = "policies/", .format = "text"}

/* getopt_long's rows of the common options ('p', 'o', 'k'), to put first in a command's. */
#define CLI_COMMON_LONGS                                                                     \
    {"policies", required_argument, NULL, 'p'}, {"output", required_argument, NULL, 'o'},    \
        {"kubeconfig", required_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'}

/* Takes option 'c' with 'arg' when it is a common one. Returns true when it was. */
bool cli_common_opt(cli_common *o, int c, const char *arg);

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

/* Prints the report to stdout and frees everything; returns the report's exit code. */
int cli_env_finish(cli_env *e);

#endif
