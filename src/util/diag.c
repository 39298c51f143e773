/* diag.c - diagnostic lists; see diag.h. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_list_init(diag_list *dl)
{
    dl->count = 0;
    dl->dropped = 0;
    dl->errors = 0;
}

void diag_list_clear(diag_list *dl)
{
    for (size_t i = 0; i < dl->count; i++) {
        free(dl->items[i].msg);
        free((char *)dl->items[i].at.file);
        free((char *)dl->items[i].at.path);
    }
    diag_list_init(dl);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void diag_add(diag_list *dl, enum diag_level lv, const char *code, const srcpos *at,
              const char *fmt, ...)
{
    if (lv == DIAG_ERROR)
        dl->errors++;
    if (dl->count == DIAG_MAX) {
        dl->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0) {
        dl->dropped++;
        return;
    }
    diag *d = &dl->items[dl->count++];
    d->level = lv;
    d->code = code;
    d->msg = msg;
    d->at = at ? *at : (srcpos){0};
    d->at.file = dup_or_null(d->at.file);
    d->at.path = dup_or_null(d->at.path);
}

bool diag_has_errors(const diag_list *dl)
{
    return dl->errors > 0;
}

char *diag_format(const diag *d, char *out, size_t cap)
{
    size_t n = 0;
    int w = 0;
    out[0] = '\0';
    if (d->at.file != NULL) {
        if (d->at.line > 0 && d->at.col > 0)
            w = snprintf(out, cap, "%s:%d:%d: ", d->at.file, d->at.line, d->at.col);
        else if (d->at.line > 0)
            w = snprintf(out, cap, "%s:%d: ", d->at.file, d->at.line);
        else
            w = snprintf(out, cap, "%s: ", d->at.file);
        n = w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap - 1;
    }
    w = snprintf(out + n, cap - n, "%s[%s]: %s", d->level == DIAG_ERROR ? "error" : "warning",
                 d->code, d->msg);
    n = w < 0 ? n : n + (size_t)w < cap ? n + (size_t)w : cap - 1;
    if (d->at.path != NULL)
        snprintf(out + n, cap - n, " (at %s)", d->at.path);
    return out;
}

void diag_list_print(const diag_list *dl, FILE *f)
{
    char line[2048];
    for (size_t i = 0; i < dl->count; i++)
        fprintf(f, "%s\n", diag_format(&dl->items[i], line, sizeof line));
    if (dl->dropped > 0)
        fprintf(f, "(%zu more diagnostics not shown)\n", dl->dropped);
}
