/* diagprint.c - diagnostics with a caret; see diagprint.h. */
#include "diagprint.h"

#include <string.h>

#include "../util/buf.h"
#include "../util/file.h"

void cli_print_caret(const char *text, size_t len, int line, int col, FILE *f)
{
    size_t b = 0;
    for (int l = 1; l < line && b < len; b++)
        if (text[b] == '\n')
            l++;
    if (b >= len && len > 0 && line > 1)
        return;
    size_t e = b;
    while (e < len && text[e] != '\n')
        e++;
    fprintf(f, "    %.*s\n    ", (int)(e - b), text + b);
    for (size_t i = b; col > 1 && i < b + (size_t)col - 1 && i < e; i++)
        fputc(text[i] == '\t' ? '\t' : ' ', f);
    fprintf(f, "^\n");
}

void cli_print_diags(const diag_list *dl, const char *text_name, const char *text, FILE *f)
{
    char line[2048];
    for (size_t i = 0; i < dl->count; i++) {
        const diag *d = &dl->items[i];
        fprintf(f, "%s\n", diag_format(d, line, sizeof line));
        int ln, col;
        srcpos_line_col(&d->at, &ln, &col);
        if (d->at.file == NULL || ln <= 0)
            continue;
        if (d->at.source != NULL) { /* the text the offset is into: no second reading */
            size_t len;
            const char *t = diag_source_line(d->at.source, ln, &len);
            if (t != NULL) /* by the source's own line map, whatever ends its lines */
                cli_print_caret(t, len, 1, col, f);
            continue;
        }
        if (text_name != NULL && strcmp(d->at.file, text_name) == 0) {
            cli_print_caret(text, strlen(text), ln, col, f);
            continue;
        }
        buf b;
        diag_list ignore;
        diag_list_init(&ignore);
        buf_init(&b, (size_t)8 << 20);
        if (file_read(d->at.file, (size_t)8 << 20, &b, &ignore) == 0)
            cli_print_caret(b.data, b.len, ln, col, f);
        buf_clear(&b);
        diag_list_clear(&ignore);
    }
    if (dl->dropped > 0)
        fprintf(f, "(%zu more diagnostics not shown)\n", dl->dropped);
}
