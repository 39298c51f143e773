/* diag.h - diagnostics: errors and warnings with a stable code and a source position.
 *
 * Bad input of any kind is reported by appending to a diag_list; processing goes on. A list
 * keeps at most DIAG_MAX entries and counts the ones it drops. Messages are one sentence,
 * lower case, no trailing period. */
#ifndef SG_DIAG_H
#define SG_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define DIAG_MAX 50

typedef struct srcpos {
    const char *file; /* "policies/require-team.yaml", "<request>", "<stdin>"; NULL if none */
    int line, col;    /* 1-based; 0 when unknown */
    const char *path; /* "spec.rules[1].validate.expression" or "/request/uid"; NULL if none */
} srcpos;

enum diag_level { DIAG_ERROR, DIAG_WARNING };

typedef struct diag {
    enum diag_level level;
    const char *code; /* static string, stable and dotted: "input.json" */
    srcpos at;        /* 'file' and 'path' are copied and owned by the list */
    char *msg;        /* owned by the list */
} diag;

typedef struct diag_list {
    diag items[DIAG_MAX];
    size_t count;   /* entries kept in 'items' */
    size_t dropped; /* entries not kept because the list was full */
    size_t errors;  /* errors added, kept or dropped */
} diag_list;

/* Prepares an empty list in caller-provided storage. */
void diag_list_init(diag_list *dl);

/* Frees what the list owns and leaves it empty. */
void diag_list_clear(diag_list *dl);

/* Appends a diagnostic. 'code' must be a string with static storage; 'at' may be NULL. The
 * message is formatted like printf and copied. Never fails: when memory or room runs out the
 * entry is counted as dropped. */
void diag_add(diag_list *dl, enum diag_level lv, const char *code, const srcpos *at,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Returns true when 'dl' holds at least one error (kept or dropped). */
bool diag_has_errors(const diag_list *dl);

/* Writes one diagnostic as "file:line:col: error[code]: msg" (parts that are unknown are left
 * out; the path is added as " (at PATH)"), without a newline, into 'out' of 'cap' bytes.
 * Returns 'out'. */
char *diag_format(const diag *d, char *out, size_t cap);

/* Prints every diagnostic of 'dl' to 'f', one per line, then a line counting dropped ones. */
void diag_list_print(const diag_list *dl, FILE *f);

#endif
