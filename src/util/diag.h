/* diag.h - diagnostics: errors and warnings with a stable code and a source position.
 *
 * Bad input of any kind is reported by appending to a diag_list; processing goes on. A list
 * keeps at most DIAG_MAX entries and counts the ones it drops. Messages are one sentence,
 * lower case, no trailing period. */
#ifndef SG_DIAG_H
#define SG_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define DIAG_MAX 50

/* A text diagnostics point into (a policy file, an expression given on the command line)
 * and its line map, built once. A position in it is a byte offset until it is printed: only
 * printing turns it into line:col (jq's locfile, cel-go's common.Source). Reference-counted:
 * a diag_list keeps the sources of its diags alive. */
typedef struct diag_source diag_source;

/* A position: a byte offset into a source, or, from readers that only know lines (libyaml,
 * certificate files), a line and column. */
typedef struct srcpos {
    const char *file; /* "policies/require-team.yaml", "<request>", "<stdin>"; NULL if none */
    int line, col;    /* 1-based; 0 when unknown; not used when 'source' is set */
    const char *path; /* "spec.rules[1].validate.expression" or "/request/uid"; NULL if none */
    const diag_source *source; /* NULL, or the text 'offset' is a byte of */
    size_t offset;
    /* For a reader given a text that sits in 'source' but is not a verbatim slice of it (a
     * YAML scalar: unescaped, folded, unindented): the offset in 'source' of byte 'off' of
     * that text. NULL: the text starts at 'offset' and is verbatim. diag_add drops it. */
    size_t (*map)(const void *map_ctx, size_t off);
    const void *map_ctx;
} srcpos;

/* The length of the line break at byte 'i' of 'text' ('len' bytes), or 0 when there is none:
 * "\r\n", "\n", a lone "\r", NEL (U+0085), LS (U+2028) or PS (U+2029), the breaks libyaml
 * counts lines by. One definition, so that libyaml's line:col and a source's line map name
 * the same byte. */
size_t diag_line_break(const char *text, size_t len, size_t i);

/* A source over a copy of the 'len' bytes of 'text', with its line map (lines end where
 * diag_line_break() finds a break); one reference, or NULL when out of memory. */
diag_source *diag_source_new(const char *text, size_t len);

/* Another reference to 's' (NULL accepted); returns 's'. */
diag_source *diag_source_ref(const diag_source *s);

/* Drops a reference; the last one frees the source. NULL is accepted. */
void diag_source_unref(const diag_source *s);

/* The text of 's' (NUL-terminated) and its length in '*len'. */
const char *diag_source_text(const diag_source *s, size_t *len);

/* The line and column (1-based; the column counts bytes, as the caret does) of byte 'offset'
 * of 's'; an offset past the end is the end. */
void diag_source_locate(const diag_source *s, size_t offset, int *line, int *col);

/* Line 'line' (1-based) of 's' without its line break, its length in '*len'; NULL when 's'
 * has no such line. */
const char *diag_source_line(const diag_source *s, int line, size_t *len);

/* The byte offset of line 'line', column 'col' counted in UTF-8 characters (libyaml's marks),
 * both 1-based; clamped to the line and to the text. */
size_t diag_source_offset(const diag_source *s, int line, int col);

/* The line and column 'at' names: located in its source, or as given; 0 when unknown. */
void srcpos_line_col(const srcpos *at, int *line, int *col);

enum diag_level { DIAG_ERROR, DIAG_WARNING };

typedef struct diag {
    enum diag_level level;
    const char *code; /* static string, stable and dotted: "input.json" */
    srcpos at;        /* 'file' and 'path' are copied, 'source' referenced, by the list */
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

/* Appends a diagnostic. 'code' must be a string with static storage; 'at' may be NULL; the
 * list takes a reference to its source. The message is formatted like printf and copied.
 * Never fails: when memory or room runs out the entry is counted as dropped. */
void diag_add(diag_list *dl, enum diag_level lv, const char *code, const srcpos *at,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* diag_add() with the arguments as a va_list, for a reader's own error function. */
void diag_addv(diag_list *dl, enum diag_level lv, const char *code, const srcpos *at,
               const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* Returns true when 'dl' holds at least one error (kept or dropped). */
bool diag_has_errors(const diag_list *dl);

/* Writes one diagnostic as "file:line:col: error[code]: msg" (parts that are unknown are left
 * out; the path is added as " (at PATH)"), without a newline, into 'out' of 'cap' bytes.
 * Returns 'out'. */
char *diag_format(const diag *d, char *out, size_t cap);

/* Prints every diagnostic of 'dl' to 'f', one per line, then a line counting dropped ones. */
void diag_list_print(const diag_list *dl, FILE *f);

#endif
