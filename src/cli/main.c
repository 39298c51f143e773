/* main.c - the streamguard binary: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "../server/serve.h"
#include "../util/version.h"
#include "cli.h"

static int cmd_version(int argc, char **argv);

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", server_cmd_serve, "run the admission webhook over HTTPS"},
    {"certs", cli_cmd_certs, "create development certificates (certs generate)"},
    {"eval", cli_cmd_eval, "evaluate one policy expression (CEL) against JSON or YAML inputs"},
    {"check", cli_cmd_check, "check manifests against the policies (the dry run, for CI)"},
    {"audit", cli_cmd_audit, "audit the objects already in a cluster (as serve --audit does)"},
    {"lint", cli_cmd_lint, "check policy files: format, expressions, names"},
    {"test", cli_cmd_test, "run policy tests (YAML files of kind PolicyTest)"},
    {"version", cmd_version, "print the version and commit"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: streamguard <command> [options]\n\n"
               "Admission webhook and policy engine for Apache Flink and K8ssandra resources.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-9s %s\n", "help", "show this help, or a command's with 'help COMMAND'");
    fprintf(f, "\nRun 'streamguard COMMAND --help' for the options of a command.\n");
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: streamguard version\n\nPrints the version and the git commit of this build.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "streamguard version: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    printf("streamguard %s (commit %s)\n", STREAMGUARD_VERSION, STREAMGUARD_COMMIT);
    return 0;
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0)
        return cmd_version(1, argv + 1);
    if (strcmp(name, "help") == 0) {
        const struct command *c = argc > 2 ? find(argv[2]) : NULL;
        if (c == NULL) {
            usage(argc > 2 ? stderr : stdout);
            return argc > 2 ? 2 : 0;
        }
        char *help_argv[] = {(char *)c->name, "--help", NULL};
        return c->run(2, help_argv);
    }
    const struct command *c = find(name);
    if (c == NULL) {
        fprintf(stderr, "streamguard: unknown command '%s'\n\n", name);
        usage(stderr);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
