/* opts.c - command-line options as rows; see opts.h. */
#include "opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "num.h"

#define OPT_BASE 256 /* getopt's value for row i is OPT_BASE + i: above every short letter */

static int set_value(const char *cmd, const opt_row *r, const char *arg, void *opts)
{
    char *field = (char *)opts + r->offset;
    switch (r->kind) {
    case OPT_FLAG:
        *(bool *)field = true;
        return 0;
    case OPT_STRING:
        *(const char **)field = arg;
        return 0;
    case OPT_UINT: {
        unsigned long long v;
        if (num_parse_uint(arg, r->min, r->max, &v) != 0) {
            fprintf(stderr, "%s: --%s must be a whole number from %u to %u, not '%s'\n", cmd,
                    r->name, r->min, r->max, arg);
            return -1;
        }
        *(unsigned *)field = (unsigned)v;
        return 0;
    }
    case OPT_FN:
        if (r->fn(opts, arg) != 0) {
            fprintf(stderr, "%s: --%s %s\n", cmd, r->name, r->fn_error);
            return -1;
        }
        return 0;
    }
    return -1;
}

int opts_parse(const char *cmd, const opt_row *rows, size_t n, int argc, char **argv, void *opts,
               int *first_arg)
{
    struct option *longs = calloc(n + 2, sizeof *longs);
    char shorts[2 * 64 + 2] = "h";
    if (longs == NULL) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return -1;
    }
    size_t ns = 1;
    for (size_t i = 0; i < n; i++) {
        bool arg = rows[i].kind != OPT_FLAG;
        longs[i] = (struct option){rows[i].name, arg ? required_argument : no_argument, NULL,
                                   OPT_BASE + (int)i};
        if (rows[i].short_name != 0 && ns + 2 < sizeof shorts) {
            shorts[ns++] = rows[i].short_name;
            if (arg)
                shorts[ns++] = ':';
        }
    }
    shorts[ns] = '\0';
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (c == 'h') {
            rc = 1;
            break;
        }
        size_t i = n;
        if (c >= OPT_BASE)
            i = (size_t)(c - OPT_BASE);
        else
            for (i = 0; i < n && rows[i].short_name != c; i++)
                ;
        rc = i < n ? set_value(cmd, &rows[i], optarg, opts) : -1; /* '?': getopt said why */
    }
    free(longs);
    if (rc == 0 && first_arg != NULL)
        *first_arg = optind;
    else if (rc == 0 && optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
        rc = -1;
    }
    return rc;
}
