/* cmd_certs.c - 'streamguard certs generate': development and static certificates. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../tls/certs.h"
#include "../util/buf.h"
#include "../util/num.h"
#include "cli.h"

#define MAX_HOSTS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: streamguard certs generate --out DIR [--host NAME]... [--days N]\n"
            "\n"
            "Creates a CA and a serving certificate signed by it (ECDSA P-256, SHA-256):\n"
            "DIR/ca.crt, DIR/tls.crt and DIR/tls.key (mode 0600). The CA key is not kept.\n"
            "Prints the CA certificate in base64 on stdout, ready for the caBundle of a\n"
            "webhook configuration.\n"
            "\n"
            "options:\n"
            "  --out DIR      where to write the files (created if missing)\n"
            "  --host NAME    a DNS name or IP address for the certificate; repeat for more.\n"
            "                 Default: localhost, 127.0.0.1 and ::1. The first is the CN.\n"
            "  --days N       validity in days, 1 to 3650 (default 365)\n"
            "  -h, --help     show this help\n");
}

/* mkdir -p for one directory and its parents. */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int generate(int argc, char **argv)
{
    static const struct option longs[] = {{"out", required_argument, NULL, 'o'},
                                           {"host", required_argument, NULL, 'H'},
                                           {"days", required_argument, NULL, 'd'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
    const char *hosts[MAX_HOSTS];
    static const char *const default_hosts[] = {"localhost", "127.0.0.1", "::1"};
    tls_gen_opts o = {.days = 365};
    size_t n = 0;
    unsigned long long days;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'o': o.out_dir = optarg; break;
        case 'H':
            if (n == MAX_HOSTS) {
                fprintf(stderr, "streamguard certs generate: at most %d --host\n", MAX_HOSTS);
                return 2;
            }
            hosts[n++] = optarg;
            break;
        case 'd':
            if (num_parse_uint(optarg, 1, 3650, &days) != 0) {
                fprintf(stderr, "streamguard certs generate: --days must be 1 to 3650\n");
                return 2;
            }
            o.days = (int)days;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.out_dir == NULL || optind < argc) {
        fprintf(stderr, "streamguard certs generate: %s\n\n",
                o.out_dir ? "unexpected argument" : "--out is required");
        usage(stderr);
        return 2;
    }
    o.hosts = n ? hosts : default_hosts;
    o.n_hosts = n ? n : sizeof default_hosts / sizeof default_hosts[0];
    if (make_dirs(o.out_dir) != 0) {
        fprintf(stderr, "streamguard certs generate: cannot create %s: %s\n", o.out_dir,
                strerror(errno));
        return 1;
    }
    diag_list dl;
    diag_list_init(&dl);
    char *ca_pem = NULL;
    if (tls_certs_generate(&o, &ca_pem, &dl) != 0) {
        diag_list_print(&dl, stderr);
        diag_list_clear(&dl);
        return 1;
    }
    size_t len = strlen(ca_pem);
    char *b64 = malloc(base64_encoded_len(len) + 1);
    if (b64 == NULL) {
        free(ca_pem);
        return 1;
    }
    base64_encode(ca_pem, len, b64);
    printf("%s\n", b64);
    fprintf(stderr, "wrote %s/ca.crt, %s/tls.crt, %s/tls.key (valid %d days)\n", o.out_dir,
            o.out_dir, o.out_dir, o.days);
    free(b64);
    free(ca_pem);
    diag_list_clear(&dl);
    return 0;
}

int cli_cmd_certs(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "generate") != 0) {
        fprintf(stderr, "streamguard certs: unknown action '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    return generate(argc - 1, argv + 1);
}
