/* cmd_lint.c - 'streamguard lint': load policy files and report every problem. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policy/policy.h"
#include "cli.h"
#include "diagprint.h"
#include "lint_webhooks.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: streamguard lint [--lookups] [--crd FILE]... [--params FILE]\n"
               "                        [--webhooks FILE] [PATH...]\n"
               "\n"
               "Checks policy files (.yaml, .yml; directories are searched recursively; default\n"
               "policies/): the format, every expression, duplicate names, and that every\n"
               "lookup() and lookupList() names its apiVersion and kind with string literals\n"
               "(the server watches those kinds). Types: a validation or when that cannot be a\n"
               "bool, comparisons and operations that can only fail, a params.x that spec.params\n"
               "does not declare. Fields: object.x.y is checked against the schemas of the kinds\n"
               "the policy matches (every served version of the FlinkDeployment,\n"
               "FlinkSessionJob, K8ssandraCluster, CassandraDatacenter and Stargate CRDs, and\n"
               "Kubernetes 1.20.2's PersistentVolumeClaim, Node, Pod, ConfigMap, Namespace and\n"
               "StorageClass), and so is what lookup('v1', 'Node', ...) and lookupList() answer,\n"
               "with \"did you mean\" for a misspelt field. A field not in a CRD is an error; a\n"
               "field not in Kubernetes 1.20.2's schema of one of its own kinds is a warning\n"
               "(warning[expr.field]), since a newer cluster may have it (Pod spec.os,\n"
               "schedulingGates, a container's resizePolicy, ...). PolicyParams documents among\n"
               "the files (or in --params) must name a loaded policy and set only params it\n"
               "declares, each with a value of the declared type. Prints each problem as\n"
               "file:line:col: error[code]: message, with the line and a caret under it.\n"
               "\n"
               "Then warns (warning[policy.unsent]) for each policy and kind it matches that no\n"
               "rule of the webhook configurations sends (a policy with validations needs a\n"
               "ValidatingWebhookConfiguration rule, one with mutations a Mutating one, for the\n"
               "kind's group, resource, scope and the policy's operations): such a policy is\n"
               "never enforced in the cluster. No warning changes the exit code.\n"
               "\n"
               "      --crd FILE       also check against the CustomResourceDefinitions in FILE\n"
               "                       (YAML; repeatable): kinds of your own, or newer versions\n"
               "                       of the above\n"
               "      --lookups        print instead the kinds the policies look up, one\n"
               "                       \"apiVersion kind\" a line, sorted: what the server\n"
               "                       watches and what its RBAC must let it get, list and watch;\n"
               "                       \"apiVersion kind namespace/name\" when every lookup of the\n"
               "                       kind names that object with constants (literals, params):\n"
               "                       the server watches only it, RBAC names it (resourceNames)\n"
               "      --params FILE    PolicyParams documents (a file or a directory of them)\n"
               "                       applied after those among the policies\n"
               "      --webhooks FILE  the webhook configurations to compare with (YAML, several\n"
               "                       documents or a List); default:\n"
               "                       DIR/../deploy/base/webhooks.yaml, else DIR/../webhooks.yaml,\n"
               "                       for the first PATH (DIR: the path, or the directory of a\n"
               "                       file) where one exists; none found: a note, and this check\n"
               "                       is skipped\n"
               "\n"
               "Exit codes: 0 no problem, 1 problems found, 2 a usage error.\n");
}

/* What the command line asked for; 'crds' is malloc'd and bounded by argc. */
typedef struct lint_args {
    bool lookups;
    const char *params;
    const char *webhooks;
    const char **crds;
    policy_load_opts lo;
} lint_args;

/* Option parsing kept apart from running. Returns -1 to go on, else the exit code (--help,
 * a usage error, out of memory); 'la->crds' is freed unless -1 is returned. */
static int parse_args(int argc, char **argv, lint_args *la)
{
    static const struct option longs[] = {{"help", no_argument, NULL, 'h'},
                                          {"lookups", no_argument, NULL, 'l'},
                                          {"crd", required_argument, NULL, 'c'},
                                          {"params", required_argument, NULL, 'P'},
                                          {"webhooks", required_argument, NULL, 'w'},
                                          {NULL, 0, NULL, 0}};
    int c;
    *la = (lint_args){0};
    /* at most one --crd per argument, so argc bounds them */
    la->crds = calloc((size_t)argc + 1, sizeof *la->crds);
    la->lo = (policy_load_opts){.check_fields = true, .crd_files = la->crds};
    if (la->crds == NULL) {
        fprintf(stderr, "streamguard lint: out of memory\n");
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'l') {
            la->lookups = true;
            continue;
        }
        if (c == 'c') {
            la->crds[la->lo.n_crd_files++] = optarg;
            continue;
        }
        if (c == 'P') {
            la->lo.params = &la->params;
            la->lo.n_params = 1;
            la->params = optarg;
            continue;
        }
        if (c == 'w') {
            la->webhooks = optarg;
            continue;
        }
        if (c == 'h') {
            usage(stdout);
            free(la->crds);
            return 0;
        }
        usage(stderr);
        free(la->crds);
        return 2;
    }
    return -1;
}

/* --lookups: the kinds (or single objects) the server must watch, instead of the webhook
 * check. Returns the exit code. */
static int print_lookups(const policy_set *s)
{
    int rc = 0;
    size_t n_kinds = policy_set_lookup_kinds(s, NULL, 0);
    policy_kind *kinds = n_kinds ? calloc(n_kinds, sizeof *kinds) : NULL;
    if (n_kinds > 0 && kinds == NULL) {
        fprintf(stderr, "streamguard lint: out of memory\n");
        rc = 1;
    }
    for (size_t i = 0; kinds != NULL && i < policy_set_lookup_kinds(s, kinds, n_kinds); i++)
        if (kinds[i].name == NULL) /* the whole kind */
            printf("%s %s\n", kinds[i].api_version, kinds[i].kind);
        else /* one object: "namespace/name", or "name" without a namespace */
            printf("%s %s %s%s%s\n", kinds[i].api_version, kinds[i].kind, kinds[i].ns,
                   kinds[i].ns[0] ? "/" : "", kinds[i].name);
    free(kinds);
    return rc;
}

/* The policies loaded: warn about what the webhook configurations never send, then print the
 * summary line. Returns the exit code. */
/* 'warned': the loader's warnings so far (a field not in the vendored schema of a Kubernetes
 * kind), counted in the summary with the webhooks' own. */
static int check_webhooks(const policy_set *s, const char *webhooks, const char *const *paths,
                          size_t n, size_t warned)
{
    int rc = 0;
    size_t count;
    policy_set_items(s, &count);
    char *found = webhooks == NULL ? lint_webhooks_find(paths, n) : NULL;
    const char *file = webhooks != NULL ? webhooks : found;
    diag_list wl;
    diag_list_init(&wl);
    lint_webhooks *w = file != NULL ? lint_webhooks_load(file, &wl) : NULL;
    if (w != NULL)
        warned += lint_webhooks_check(w, s, &wl);
    else if (file == NULL)
        fprintf(stderr, "streamguard lint: note: no webhook configurations found (give "
                        "--webhooks FILE); not checked that the webhooks send what the "
                        "policies match\n");
    cli_print_diags(&wl, NULL, NULL, stderr);
    if (file != NULL && w == NULL) {
        fprintf(stderr, "%zu error%s\n", wl.errors, wl.errors == 1 ? "" : "s");
        rc = 1;
    } else if (warned > 0) {
        printf("%zu polic%s, no errors, %zu warning%s\n", count, count == 1 ? "y" : "ies",
               warned, warned == 1 ? "" : "s");
    } else {
        printf("%zu polic%s, no problems\n", count, count == 1 ? "y" : "ies");
    }
    lint_webhooks_free(w);
    diag_list_clear(&wl);
    free(found);
    return rc;
}

int cli_cmd_lint(int argc, char **argv)
{
    lint_args la;
    int rc = parse_args(argc, argv, &la);
    if (rc >= 0)
        return rc;
    static const char *const dflt[] = {"policies/"};
    const char *const *paths = optind < argc ? (const char *const *)argv + optind : dflt;
    size_t n = optind < argc ? (size_t)(argc - optind) : 1;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_opts(paths, n, &la.lo, &dl);
    free(la.crds);
    cli_print_diags(&dl, NULL, NULL, stderr);
    if (s == NULL) {
        fprintf(stderr, "%zu error%s\n", dl.errors, dl.errors == 1 ? "" : "s");
        rc = 1;
    } else if (la.lookups) {
        rc = print_lookups(s);
    } else {
        rc = check_webhooks(s, la.webhooks, paths, n, dl.count + dl.dropped - dl.errors);
    }
    policy_set_unref(s);
    diag_list_clear(&dl);
    return rc;
}
