/* cmd_check.c - 'streamguard check': the dry run of the webhook over manifest files.
 *
 * Every document becomes what kube-apiserver would send: an AdmissionRequest for a CREATE,
 * decided by admission_decide_chain() (manifests_run): mutations first, validations on the
 * mutated object, as in a cluster, through the function the webhook decides with. All documents are loaded before any is checked, so that
 * lookup() and lookupList() find related objects among them (and in --cluster-state), then,
 * with --kubeconfig, in the live cluster (livelookup.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../admission/decide.h"
#include "cmdenv.h"
#include "livelookup.h"
#include "manifests.h"

/* Prints the help to 'f' after 'why' (when not ""); returns the exit code: 0 for --help
 * ('why' NULL), else 2. */
static int usage(FILE *f, const char *why)
{
    if (why != NULL && why[0] != '\0')
        fprintf(f, "streamguard check: %s\n\n", why);
    fprintf(f,
            "usage: streamguard check [-p DIR] [-o text|json|junit|sarif] [--cluster-state DIR]\n"
            "                         [--kubeconfig FILE] [--enforcement deny|warn]\n"
            "                         [--params FILE] PATH...\n"
            "\n"
            "Checks Kubernetes manifests against the policies, as the webhook would on kubectl\n"
            "apply (each document is a CREATE; mutations run first, validations see their result).\n"
            "PATH is a file, a directory (searched recursively for .yaml, .yml and .json) or - for\n"
            "standard input. Multi-document YAML and kind: List are expanded.\n"
            "\n"
            "options:\n"
            "  -p, --policies DIR       policy files (default policies/)\n"
            "      --params FILE        PolicyParams documents that set the policies' params\n"
            "                           (after those in DIR; docs/policy-authoring.md)\n"
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
    return why == NULL ? 0 : 2;
}

struct check_opts {
    cli_common co;
    const char *cluster; /* --cluster-state */
    bool warn_only;      /* --enforcement warn */
};

static int opt_enforcement(void *o, const char *arg)
{
    return admission_parse_enforcement(arg, &((struct check_opts *)o)->warn_only);
}

static const opt_row check_rows[] = {
    CLI_COMMON_ROWS(struct check_opts, co),
    OPT_STRING_ROW("cluster-state", 0, struct check_opts, cluster),
    OPT_FN_ROW("enforcement", opt_enforcement, "must be deny or warn"),
};

int cli_cmd_check(int argc, char **argv)
{
    struct check_opts o = {.co = CLI_COMMON_DEFAULTS};
    int first;
    int rc = opts_parse("streamguard check", check_rows, sizeof check_rows / sizeof check_rows[0],
                        argc, argv, &o, &first);
    if (rc != 0)
        return usage(rc > 0 ? stdout : stderr, rc > 0 ? NULL : "");
    if (first >= argc)
        return usage(stderr, "give at least one PATH (or - for standard input)");
    cli_env env;
    if (cli_env_open(&env, "check", &o.co) != 0)
        return 2;
    manifests in;
    manifests_init(&in, &env.sink);
    for (int i = first; i < argc; i++)
        manifests_load_path(&in, argv[i], false);
    if (o.cluster != NULL)
        manifests_load_path(&in, o.cluster, true);
    policy_lookup docs = manifests_lookup(&in);
    live_lookup live = {
        .docs = &docs, .client = env.client, .timeout_ms = 10000, .namespace_ = env.context_ns};
    policy_lookup lk = env.client ? live_lookup_make(&live) : docs;
    for (size_t i = 0; i < in.n; i++)
        if (!in.docs[i].context_only)
            manifests_run(env.set, &in.docs[i], &lk, o.warn_only, env.context_ns, &env.sink);
    live_lookup_free(&live);
    manifests_free(&in);
    return cli_env_finish(&env);
}
