/* diagprint.h - printing diagnostics for people: the diag line, then the source line it
 * points at and a caret under the column. */
#ifndef SG_CLI_DIAGPRINT_H
#define SG_CLI_DIAGPRINT_H

#include <stdio.h>

#include "../util/diag.h"

/* Prints every diagnostic of 'dl' to 'f'. The source line comes from the diag's source when
 * it has one, else from 'text' when the diag's file is 'text_name' (NULL: none), else from
 * the file itself. */
void cli_print_diags(const diag_list *dl, const char *text_name, const char *text, FILE *f);

/* Prints line 'line' of 'text' and a caret under column 'col' (1-based). */
void cli_print_caret(const char *text, size_t len, int line, int col, FILE *f);

#endif
