/* cmd_lint.c - 'streamguard lint': load policy files and report every problem. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policy/policy.h"
#include "cli.h"
#include "diagprint.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: streamguard lint [--lookups] [--crd FILE]... [PATH...]\n"
               "\n"
               "Checks policy files (.yaml, .yml; directories are searched recursively; default\n"
               "policies/): the format, every expression, duplicate names, and that every\n"
               "lookup() and lookupList() names its apiVersion and kind with string literals\n"
               "(the server watches those kinds). Types: a validation or when that cannot be a\n"
               "bool, comparisons and operations that can only fail, a params.x that spec.params\n"
               "does not declare. Fields: object.x.y is checked against the schemas of the kinds\n"
               "the policy matches (every served version of the FlinkDeployment,\n"
               "FlinkSessionJob, K8ssandraCluster, CassandraDatacenter and Stargate CRDs, and\n"
               "Kubernetes 1.20's PersistentVolumeClaim, Node, Pod, ConfigMap, Namespace and\n"
               "StorageClass), and so is what lookup('v1', 'Node', ...) and lookupList() answer,\n"
               "with \"did you mean\" for a misspelt field. Prints each problem as file:line:col:\n"
               "error[code]: message, with the line and a caret under it.\n"
               "\n"
               "      --crd FILE  also check against the CustomResourceDefinitions in FILE (YAML;\n"
               "                  repeatable): kinds of your own, or newer versions of the above\n"
               "      --lookups   print instead the kinds the policies look up, one\n"
               "                  \"apiVersion kind\" a line, sorted: what the server watches and\n"
               "                  what its RBAC must let it get, list and watch\n"
               "\n"
               "Exit codes: 0 no problem, 1 problems found, 2 a usage error.\n");
}

int cli_cmd_lint(int argc, char **argv)
{
    static const struct option longs[] = {{"help", no_argument, NULL, 'h'},
                                          {"lookups", no_argument, NULL, 'l'},
                                          {"crd", required_argument, NULL, 'c'},
                                          {NULL, 0, NULL, 0}};
    bool lookups = false;
    int c;
    /* at most one --crd per argument, so argc bounds them */
    const char **crds = calloc((size_t)argc + 1, sizeof *crds);
    policy_load_opts lo = {.check_fields = true, .crd_files = crds};
    if (crds == NULL) {
        fprintf(stderr, "streamguard lint: out of memory\n");
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'l') {
            lookups = true;
            continue;
        }
        if (c == 'c') {
            crds[lo.n_crd_files++] = optarg;
            continue;
        }
        if (c == 'h') {
            usage(stdout);
            free(crds);
            return 0;
        }
        usage(stderr);
        free(crds);
        return 2;
    }
    static const char *const dflt[] = {"policies/"};
    const char *const *paths = optind < argc ? (const char *const *)argv + optind : dflt;
    size_t n = optind < argc ? (size_t)(argc - optind) : 1;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_opts(paths, n, &lo, &dl);
    free(crds);
    cli_print_diags(&dl, NULL, NULL, stderr);
    int rc = s ? 0 : 1;
    if (s != NULL && lookups) {
        size_t n_kinds = policy_set_lookup_kinds(s, NULL, 0);
        policy_kind *kinds = n_kinds ? calloc(n_kinds, sizeof *kinds) : NULL;
        if (n_kinds > 0 && kinds == NULL) {
            fprintf(stderr, "streamguard lint: out of memory\n");
            rc = 1;
        }
        for (size_t i = 0; kinds != NULL && i < policy_set_lookup_kinds(s, kinds, n_kinds); i++)
            printf("%s %s\n", kinds[i].api_version, kinds[i].kind);
        free(kinds);
    } else if (s != NULL) {
        size_t count;
        policy_set_items(s, &count);
        printf("%zu polic%s, no problems\n", count, count == 1 ? "y" : "ies");
    } else {
        fprintf(stderr, "%zu error%s\n", dl.errors, dl.errors == 1 ? "" : "s");
    }
    policy_set_unref(s);
    diag_list_clear(&dl);
    return rc;
}
