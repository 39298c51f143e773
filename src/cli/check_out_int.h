/* check_out_int.h - what check_out.c (the report, text and JSON) and check_ci.c (JUnit and
 * SARIF) share: the report's fields. Never included from outside these two files. */
#ifndef SG_CLI_CHECK_OUT_INT_H
#define SG_CLI_CHECK_OUT_INT_H

#include "check_out.h"

struct check_report {
    enum check_format fmt;
    /* results: one per finding; docs: one per document decided, each with the index of its
     * first result ("first"), how many it has ("count"), the policies that applied
     * ("policies", in order, each once) and its time ("seconds"); skipped: file, document,
     * line, why. */
    cJSON *results, *errors, *patches, *docs, *skipped;
    cJSON *pending; /* the policies that applied to the document being decided */
    int first_result;
    int documents, matched, denied, warned, audited;
    int refused; /* documents whose decision was a denial: the exit code */
    bool quiet;
    char *sarif_root;      /* malloc'd, or NULL for the working directory */
    char *sarif_help_base; /* malloc'd, or NULL: rules link to their files with file:// */
    const policy_set *set;
};

/* The string member 'k' of 'o', or "". */
const char *check_str(const cJSON *o, const char *k);

/* The number member 'k' of 'o', or 0. */
int check_num(const cJSON *o, const char *k);

/* The JUnit and the SARIF forms of 'r', printed to 'f'. */
void check_print_junit(const check_report *r, FILE *f);
void check_print_sarif(const check_report *r, FILE *f);

#endif
