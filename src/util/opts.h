/* opts.h - command-line options as rows of a table.
 *
 * Each row names an option, what it takes and where its value goes in the command's own
 * options struct, so adding an option is one row (and one line of --help), and every
 * command answers a bad value in the same words. getopt_long does the parsing:
 * "--name VALUE", "--name=VALUE", unique prefixes, and short letters where a row has one. */
#ifndef SG_OPTS_H
#define SG_OPTS_H

#include <stdbool.h>
#include <stddef.h>

enum opt_kind {
    OPT_FLAG,   /* a bool set to true */
    OPT_STRING, /* a const char * pointing into argv */
    OPT_UINT,   /* an unsigned from 'min' to 'max' */
    OPT_FN,     /* 'fn' reads the value; when it returns -1, "--name <fn_error>" is said */
};

typedef struct opt_row {
    const char *name; /* the long name, without "--" */
    char short_name;  /* or 0 */
    enum opt_kind kind;
    size_t offset; /* of the field in the options struct */
    unsigned min, max;
    int (*fn)(void *opts, const char *arg);
    const char *fn_error;
} opt_row;

/* Rows with their field's type checked at compile time (comparing pointers of two types
 * is an error under -Werror); 'field' may be nested ("cfg.listen"). */
#define OPT_CHECK(type, field, ctype) (0 * sizeof((ctype *)0 == &((type *)0)->field))
#define OPT_FLAG_ROW(name, sh, type, field)                                                   \
    {name, sh, OPT_FLAG, offsetof(type, field) + OPT_CHECK(type, field, bool), 0, 0, NULL, NULL}
#define OPT_STRING_ROW(name, sh, type, field)                                                 \
    {name, sh, OPT_STRING, offsetof(type, field) + OPT_CHECK(type, field, const char *), 0, 0, \
     NULL, NULL}
#define OPT_UINT_ROW(name, type, field, lo, hi)                                               \
    {name, 0, OPT_UINT, offsetof(type, field) + OPT_CHECK(type, field, unsigned), lo, hi, NULL, \
     NULL}
#define OPT_FN_ROW(name, fn, error) {name, 0, OPT_FN, 0, 0, 0, fn, error}

/* Parses 'argv' (from argv[1]) into 'opts' by the 'n' rows; "-h"/"--help" is built in.
 * 'cmd' ("streamguard serve") begins each complaint, printed to stderr. '*first_arg', when not
 * NULL, receives the index of the first operand; with NULL an operand is an error. Returns 0,
 * 1 when help was asked for (nothing else is checked), or -1 after saying what is wrong. */
int opts_parse(const char *cmd, const opt_row *rows, size_t n, int argc, char **argv, void *opts,
               int *first_arg);

#endif
