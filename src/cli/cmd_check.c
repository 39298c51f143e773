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
#include <sys/stat.h>

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
            "                         [--kubeconfig FILE] [--enforcement deny|warn] [--strict]\n"
            "                         [--exclude GLOB]... [--quiet] [--sarif-root DIR]\n"
            "                         [--sarif-help-base URL] [--params FILE] PATH...\n"
            "\n"
            "Checks Kubernetes manifests against the policies, as the webhook would on kubectl\n"
            "apply (each document is a CREATE; mutations run first, validations see their result).\n"
            "PATH is a file, a directory (searched recursively for .yaml, .yml and .json) or - for\n"
            "standard input. Multi-document YAML and kind: List are expanded. Documents that are\n"
            "not Kubernetes objects (no apiVersion or kind: Helm values, flink-conf.yaml) and\n"
            "kustomization.yaml files are skipped and counted.\n"
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
            "      --strict             a document that is not a Kubernetes object is an error\n"
            "      --exclude GLOB       leave out the files of a directory whose path, path below\n"
            "                           the directory, a directory of it, or a component of it\n"
            "                           matches (repeatable; a leading ./ is ignored, and **/ also\n"
            "                           matches no directory)\n"
            "  -q, --quiet              text: print only denials and errors, then the summary\n"
            "      --sarif-root DIR     SARIF artifact URIs are relative to DIR (default: the\n"
            "                           working directory)\n"
            "      --sarif-help-base URL  a SARIF rule's helpUri is URL/<its policy file under\n"
            "                           the root> (default: a file:// URI of the file)\n"
            "  -h, --help               show this help\n"
            "\n"
            "Exit codes: 1 something denied (even when some input had errors), else 2 a usage,\n"
            "policy or input error, else 0.\n");
    return why == NULL ? 0 : 2;
}

#define CHECK_MAX_EXCLUDE 64

struct check_opts {
    cli_common co;
    const char *cluster; /* --cluster-state */
    bool warn_only;      /* --enforcement warn */
    bool strict, quiet;
    const char *sarif_root, *sarif_help_base;
    const char *exclude[CHECK_MAX_EXCLUDE];
    size_t n_exclude;
};

static int opt_enforcement(void *o, const char *arg)
{
    return admission_parse_enforcement(arg, &((struct check_opts *)o)->warn_only);
}

static int opt_exclude(void *opts, const char *arg)
{
    struct check_opts *o = opts;
    if (o->n_exclude >= CHECK_MAX_EXCLUDE || arg[0] == '\0')
        return -1;
    o->exclude[o->n_exclude++] = arg;
    return 0;
}

static const opt_row check_rows[] = {
    CLI_COMMON_ROWS(struct check_opts, co),
    OPT_STRING_ROW("cluster-state", 0, struct check_opts, cluster),
    OPT_FN_ROW("enforcement", opt_enforcement, "must be deny or warn"),
    OPT_FLAG_ROW("strict", 0, struct check_opts, strict),
    OPT_FLAG_ROW("quiet", 'q', struct check_opts, quiet),
    OPT_STRING_ROW("sarif-root", 0, struct check_opts, sarif_root),
    OPT_STRING_ROW("sarif-help-base", 0, struct check_opts, sarif_help_base),
    OPT_FN_ROW("exclude", opt_exclude, "must be a non-empty glob (at most 64 of them)"),
};

static void on_skipped(void *rep, const char *file, int doc, int line, const char *why)
{
    check_report_skipped(rep, file, doc, line, why);
}

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
    struct stat st;
    if (o.sarif_root != NULL && (stat(o.sarif_root, &st) != 0 || !S_ISDIR(st.st_mode)))
        return usage(stderr, "--sarif-root must be a directory");
    cli_env env;
    if (cli_env_open(&env, "check", &o.co) != 0)
        return 2;
    check_report_options(env.rep, o.quiet, o.sarif_root, o.sarif_help_base);
    manifests in;
    manifests_init(&in, &env.sink);
    in.skipped = on_skipped;
    in.skipped_ctx = env.rep;
    in.strict = o.strict;
    in.exclude = o.exclude;
    in.n_exclude = o.n_exclude;
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
