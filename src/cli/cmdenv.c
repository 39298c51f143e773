/* cmdenv.c - what 'check' and 'audit' share; see cmdenv.h. */
#include "cmdenv.h"

#include <stdlib.h>
#include <string.h>

#include "diagprint.h"

/* The sink of both commands: everything goes into the report. */
static void on_error(void *ctx, const char *file, int doc, int line, const char *msg)
{
    check_report_error(ctx, file, doc, line, msg);
}

static void on_finding(void *ctx, const check_doc *d, const policy_finding *f)
{
    check_report_finding(ctx, d, f);
}

static void on_patch(void *ctx, const check_doc *d, const char *policy, const char *patch)
{
    check_report_patch(ctx, d, policy, patch);
}

static void on_document(void *ctx, const check_doc *d, const check_verdict *v)
{
    check_report_document(ctx, d, v);
}

static void on_matched(void *ctx, const check_doc *d, const policy *p)
{
    check_report_matched(ctx, d, p);
}

static int open_client(cli_env *e, const char *kubeconfig, diag_list *dl)
{
    kube_config kc;
    int rc = kubeconfig ? kube_config_load(kubeconfig, NULL, &kc, dl)
                        : kube_config_resolve(NULL, &kc, dl);
    if (rc > 0) {
        fprintf(stderr, "streamguard %s: no cluster: give --kubeconfig FILE (or set "
                        "$KUBECONFIG)\n", e->cmd);
        return -1;
    }
    if (rc == 0) {
        e->client = kube_client_new(&kc, dl);
        e->context_ns = kc.namespace_;
        kc.namespace_ = NULL;
        kube_config_free(&kc);
    }
    if (e->client != NULL)
        return 0;
    cli_print_diags(dl, NULL, NULL, stderr);
    fprintf(stderr, "streamguard %s: cannot use the kubeconfig %s\n", e->cmd,
            kubeconfig ? kubeconfig : "($KUBECONFIG or in-cluster)");
    return -1;
}

policy_set *cli_load_policies(const char *cmd, const cli_common *o)
{
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load(&o->policies, 1, o->params ? &o->params : NULL,
                                      o->params ? 1 : 0, &dl);
    if (set == NULL) {
        cli_print_diags(&dl, NULL, NULL, stderr);
        if (o->params == NULL)
            fprintf(stderr, "streamguard %s: the policies in %s have errors (streamguard lint "
                            "%s)\n", cmd, o->policies, o->policies);
        else
            fprintf(stderr, "streamguard %s: the policies in %s with the params of %s have "
                            "errors (streamguard lint --params %s %s)\n", cmd, o->policies,
                    o->params, o->params, o->policies);
    }
    diag_list_clear(&dl);
    return set;
}

int cli_env_open(cli_env *e, const char *cmd, const cli_common *o)
{
    memset(e, 0, sizeof *e);
    e->cmd = cmd;
    enum check_format fmt;
    if (check_parse_format(o->format, &fmt) != 0) {
        fprintf(stderr, "streamguard %s: --output must be text, json, junit or sarif\n", cmd);
        return 2;
    }
    diag_list dl;
    diag_list_init(&dl);
    int rc = 0;
    if ((o->kubeconfig != NULL || o->cluster) && open_client(e, o->kubeconfig, &dl) != 0)
        rc = 2;
    diag_list_clear(&dl);
    if (rc == 0 && (e->set = cli_load_policies(cmd, o)) == NULL)
        rc = 2;
    if (rc == 0 && (e->rep = check_report_new(fmt)) == NULL) {
        fprintf(stderr, "streamguard %s: out of memory\n", cmd);
        rc = 2;
    }
    if (rc != 0) {
        cli_env_finish(e);
        return rc;
    }
    check_report_policies(e->rep, e->set);
    e->sink = (manifest_sink){on_error, on_finding, on_patch, on_document, on_matched, e->rep};
    return 0;
}

int cli_env_finish(cli_env *e)
{
    int rc = e->rep != NULL ? check_report_finish(e->rep, stdout) : 2;
    kube_client_free(e->client);
    free(e->context_ns);
    policy_set_unref(e->set);
    memset(e, 0, sizeof *e);
    return rc;
}
