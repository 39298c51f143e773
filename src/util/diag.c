/* diag.c - diagnostic lists; see diag.h. */
#include "diag.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct diag_source {
    atomic_size_t refs; /* a list may be handed to another thread with its diags */
    char *text;
    size_t len;
    size_t *lines; /* the offset each line starts at */
    size_t n_lines;
};

size_t diag_line_break(const char *text, size_t len, size_t i)
{
    const unsigned char *t = (const unsigned char *)text;
    if (i >= len)
        return 0;
    if (t[i] == '\n')
        return 1;
    if (t[i] == '\r')
        return i + 1 < len && t[i + 1] == '\n' ? 2 : 1;
    if (t[i] == 0xC2 && i + 1 < len && t[i + 1] == 0x85)
        return 2;
    if (t[i] == 0xE2 && i + 2 < len && t[i + 1] == 0x80 && (t[i + 2] == 0xA8 || t[i + 2] == 0xA9))
        return 3;
    return 0;
}

/* Writes the line starts of 'text' into 'lines' (when not NULL); returns how many there are. */
static size_t map_lines(const char *text, size_t len, size_t *lines)
{
    size_t n = 1;
    if (lines != NULL)
        lines[0] = 0;
    for (size_t i = 0; i < len;) {
        size_t b = diag_line_break(text, len, i);
        i += b ? b : 1;
        if (b > 0 && lines != NULL)
            lines[n] = i;
        n += b > 0;
    }
    return n;
}

diag_source *diag_source_new(const char *text, size_t len)
{
    diag_source *s = calloc(1, sizeof *s);
    if (s == NULL || (s->text = malloc(len + 1)) == NULL)
        goto err;
    memcpy(s->text, text, len);
    s->text[len] = '\0';
    s->len = len;
    s->n_lines = map_lines(text, len, NULL);
    if ((s->lines = malloc(s->n_lines * sizeof *s->lines)) == NULL)
        goto err;
    map_lines(text, len, s->lines);
    atomic_init(&s->refs, 1);
    return s;
err:
    if (s != NULL)
        free(s->text);
    free(s);
    return NULL;
}

diag_source *diag_source_ref(const diag_source *s)
{
    diag_source *m = (diag_source *)s; /* the count is the only thing a reference changes */
    if (m != NULL)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

void diag_source_unref(const diag_source *s)
{
    diag_source *m = (diag_source *)s;
    if (m == NULL || atomic_fetch_sub(&m->refs, 1) > 1)
        return;
    free(m->lines);
    free(m->text);
    free(m);
}

const char *diag_source_text(const diag_source *s, size_t *len)
{
    *len = s->len;
    return s->text;
}

/* The index of the line holding byte 'offset' (a binary search of the line map). */
static size_t line_index(const diag_source *s, size_t offset)
{
    size_t lo = 0, hi = s->n_lines;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->lines[mid] <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void diag_source_locate(const diag_source *s, size_t offset, int *line, int *col)
{
    if (offset > s->len)
        offset = s->len;
    size_t l = line_index(s, offset);
    *line = l + 1 > INT32_MAX ? INT32_MAX : (int)(l + 1);
    *col = offset - s->lines[l] + 1 > INT32_MAX ? INT32_MAX : (int)(offset - s->lines[l] + 1);
}

size_t diag_source_offset(const diag_source *s, int line, int col)
{
    if (line < 1)
        return 0;
    if ((size_t)line > s->n_lines)
        return s->len;
    size_t i = s->lines[line - 1];
    /* a character is a byte that does not continue one (10xxxxxx) */
    for (int c = 1; c < col && i < s->len && diag_line_break(s->text, s->len, i) == 0; c++)
        for (i++; i < s->len && ((unsigned char)s->text[i] & 0xC0) == 0x80; i++)
            ;
    return i;
}

const char *diag_source_line(const diag_source *s, int line, size_t *len)
{
    if (line < 1 || (size_t)line > s->n_lines)
        return NULL;
    size_t b = s->lines[line - 1], e = b;
    while (e < s->len && diag_line_break(s->text, s->len, e) == 0)
        e++;
    *len = e - b;
    return s->text + b;
}

void srcpos_line_col(const srcpos *at, int *line, int *col)
{
    if (at->source != NULL) {
        diag_source_locate(at->source, at->offset, line, col);
        return;
    }
    *line = at->line;
    *col = at->col;
}

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
        diag_source_unref(dl->items[i].at.source);
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
    va_list ap;
    va_start(ap, fmt);
    diag_addv(dl, lv, code, at, fmt, ap);
    va_end(ap);
}

void diag_addv(diag_list *dl, enum diag_level lv, const char *code, const srcpos *at,
               const char *fmt, va_list ap)
{
    if (lv == DIAG_ERROR)
        dl->errors++;
    if (dl->count == DIAG_MAX) {
        dl->dropped++;
        return;
    }
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
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
    d->at.source = diag_source_ref(d->at.source);
    d->at.map = NULL;
    d->at.map_ctx = NULL;
}

bool diag_has_errors(const diag_list *dl)
{
    return dl->errors > 0;
}

char *diag_format(const diag *d, char *out, size_t cap)
{
    size_t n = 0;
    int w = 0;
    int line, col;
    srcpos_line_col(&d->at, &line, &col);
    out[0] = '\0';
    if (d->at.file != NULL) {
        if (line > 0 && col > 0)
            w = snprintf(out, cap, "%s:%d:%d: ", d->at.file, line, col);
        else if (line > 0)
            w = snprintf(out, cap, "%s:%d: ", d->at.file, line);
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
