/* cmd_check.c - 'streamguard check': the dry run of the webhook over manifest files.
 *
 * Every document becomes what kube-apiserver would send: an AdmissionRequest for a CREATE,
 * decided by admission_decide_chain() (manifests_run): mutations first, validations on the
 * mutated object, as in a cluster, through the function the webhook decides with. All documents are loaded before any is checked, so that
 * lookup() and lookupList() find related objects among them (and in --cluster-state), then,
 * with --kubeconfig, in the live cluster (livelookup.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_out.h"
#include "cli.h"
#include "diagprint.h"
#include "livelookup.h"
#include "manifests.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: streamguard check [-p DIR] [-o text|json|junit|sarif] [--cluster-state DIR]\n"
            "                         [--kubeconfig FILE] [--enforcement deny|warn] PATH...\n"
            "\n"
            "Checks Kubernetes manifests against the policies, as the webhook would on kubectl\n"
            "apply (each document is a CREATE; mutations run first, validations see their result).\n"
            "PATH is a file, a directory (searched recursively for .yaml, .yml and .json) or - for\n"
            "standard input. Multi-document YAML and kind: List are expanded.\n"
            "\n"
            "options:\n"
            "  -p, --policies DIR       policy files (default policies/)\n"
            "  -o, --output FORMAT      text (default), json, junit or sarif\n"
            "      --cluster-state DIR  more manifests, for lookup() and lookupList() only (not\n"
            "                           checked; a document given wins over one of these)\n"
            "      --kubeconfig FILE    also ask this cluster what lookup() and lookupList() do\n"
            "                           not find among the documents (GET and LIST only; the\n"
            "                           documents given win, as they would once applied)\n"
            "      --enforcement MODE   deny (default) or warn: denies become warnings\n"
            "  -h, --help               show this help\n"
            "\n"
            "Exit codes: 0 nothing denied, 1 something denied, 2 a usage, policy or input error.\n");
}

/* check's sink: everything goes into the report. */
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

int cli_cmd_check(int argc, char **argv)
{
    static const struct option longs[] = {
        {"policies", required_argument, NULL, 'p'}, {"output", required_argument, NULL, 'o'},
        {"cluster-state", required_argument, NULL, 'c'}, {"enforcement", required_argument, NULL, 'e'},
        {"kubeconfig", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *policies = "policies/", *format = "text", *cluster = NULL, *kubeconfig = NULL;
    bool warn_only = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'p': policies = optarg; break;
        case 'o': format = optarg; break;
        case 'c': cluster = optarg; break;
        case 'k': kubeconfig = optarg; break;
        case 'e':
            if (strcmp(optarg, "warn") != 0 && strcmp(optarg, "deny") != 0) {
                fprintf(stderr, "streamguard check: --enforcement must be deny or warn\n");
                return 2;
            }
            warn_only = strcmp(optarg, "warn") == 0;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    enum check_format fmt;
    if (check_parse_format(format, &fmt) != 0 || optind >= argc) {
        fprintf(stderr, "streamguard check: %s\n\n",
                optind >= argc ? "give at least one PATH (or - for standard input)"
                               : "--output must be text, json, junit or sarif");
        usage(stderr);
        return 2;
    }
    diag_list dl;
    diag_list_init(&dl);
    kube_client *client = NULL;
    char *context_ns = NULL;
    if (kubeconfig != NULL) {
        kube_config kc;
        if (kube_config_load(kubeconfig, NULL, &kc, &dl) == 0) {
            client = kube_client_new(&kc, &dl);
            context_ns = kc.namespace_;
            kc.namespace_ = NULL;
            kube_config_free(&kc);
        }
        if (client == NULL) {
            cli_print_diags(&dl, NULL, NULL, stderr);
            fprintf(stderr, "streamguard check: cannot use the kubeconfig %s\n", kubeconfig);
            diag_list_clear(&dl);
            free(context_ns);
            return 2;
        }
    }
    policy_set *set = policy_set_load_dir(policies, &dl);
    if (set == NULL) {
        cli_print_diags(&dl, NULL, NULL, stderr);
        fprintf(stderr, "streamguard check: the policies in %s have errors (streamguard lint %s)\n",
                policies, policies);
        diag_list_clear(&dl);
        kube_client_free(client);
        free(context_ns);
        return 2;
    }
    check_report *rep = check_report_new(fmt);
    manifest_sink sink = {on_error, on_finding, on_patch, on_document, NULL, rep};
    manifests in;
    manifests_init(&in, &sink);
    for (int i = optind; i < argc; i++)
        manifests_load_path(&in, argv[i], false);
    if (cluster != NULL)
        manifests_load_path(&in, cluster, true);
    policy_lookup docs = manifests_lookup(&in);
    live_lookup live = {
        .docs = &docs, .client = client, .timeout_ms = 10000, .namespace_ = context_ns};
    policy_lookup lk = client ? live_lookup_make(&live) : docs;
    for (size_t i = 0; i < in.n; i++)
        if (!in.docs[i].context_only)
            manifests_run(set, &in.docs[i], &lk, warn_only, context_ns, &sink);
    int rc = check_report_finish(rep, stdout);
    live_lookup_free(&live);
    kube_client_free(client);
    free(context_ns);
    manifests_free(&in);
    policy_set_unref(set);
    diag_list_clear(&dl);
    return rc;
}
