/* scalarpos.c - where in its file each byte of a YAML scalar's value was written.
 *
 * An expression is compiled from the scalar's value, which libyaml has unescaped ("\t",
 * "''"), folded (a line break read as a space) and unindented (a block scalar's indentation);
 * its errors are offsets into that value. policy_scalar_offset() maps such an offset to the
 * byte of the file it came from by reading the scalar's source text by YAML's rules, so that
 * a diag carries a file offset, turned into line:col only when printed (diag.h). libyaml
 * gives only where a scalar starts, and in characters, not bytes. */
#include "policy_int.h"

#include <string.h>

enum scalar_style { STYLE_PLAIN, STYLE_SINGLE, STYLE_DOUBLE, STYLE_LITERAL, STYLE_FOLDED };

/* The length of the line break at 'j', or 0: libyaml's breaks, as the line map's. */
static size_t line_break(const scalar_origin *o, size_t j)
{
    return diag_line_break(o->text, o->len, j);
}

/* The bytes libyaml makes of the line break at 'j' in a value: "\n" of "\r\n", "\r", "\n" and
 * NEL; LS and PS are kept as they are (scanner.c's READ_LINE). */
static size_t break_value(const scalar_origin *o, size_t j)
{
    return line_break(o, j) == 3 ? 3 : 1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Past the blanks (spaces and tabs) at 'j'. */
static size_t skip_blanks(const scalar_origin *o, size_t j)
{
    while (j < o->len && is_blank(o->text[j]))
        j++;
    return j;
}

/* The bytes UTF-8 takes for code point 'cp'. */
static size_t utf8_len(unsigned long cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* The escape at 'j' (a backslash) of a double-quoted scalar: its length in the source, and
 * in '*out' the bytes it stands for in the value (libyaml's escapes, scanner.c). */
static size_t escape(const scalar_origin *o, size_t j, size_t *out)
{
    char c = j + 1 < o->len ? o->text[j + 1] : '\0';
    size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (digits > 0) {
        unsigned long cp = 0;
        for (size_t k = 0; k < digits && j + 2 + k < o->len; k++) {
            char h = o->text[j + 2 + k];
            cp = cp * 16 + (unsigned long)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        *out = utf8_len(cp);
        return 2 + digits;
    }
    /* \N is U+0085, \_ U+00A0 (2 bytes), \L and \P U+2028 and U+2029 (3 bytes) */
    *out = c == 'N' || c == '_' ? 2 : c == 'L' || c == 'P' ? 3 : 1;
    return 2;
}

/* A line break of a flow scalar, with the blank lines and the indentation after it: YAML
 * folds a single break into a space and n breaks into the n - 1 after the first; an LS or PS
 * first is kept with them. Returns where the next line's text starts; the value bytes they
 * became go to '*out'. */
static size_t fold(const scalar_origin *o, size_t j, size_t *out)
{
    size_t first = break_value(o, j), breaks = 0, rest = 0, b;
    while ((b = line_break(o, j)) > 0) {
        rest += breaks++ > 0 ? break_value(o, j) : 0;
        j = skip_blanks(o, j + b);
    }
    *out = first == 3 ? first + rest : breaks == 1 ? 1 : rest;
    return j;
}

/* Past up to 'indent' spaces at 'j': a block scalar's indentation (more is its text). */
static size_t skip_indent(const scalar_origin *o, size_t j)
{
    for (int k = 0; k < o->indent && j < o->len && o->text[j] == ' '; k++)
        j++;
    return j;
}

/* One step of the walk for a flow scalar: the source bytes at 'j' that make the next value
 * bytes. Returns the source bytes taken; '*out' gets the value bytes they make. */
static size_t flow_step(const scalar_origin *o, size_t j, size_t *out)
{
    char c = o->text[j];
    if (line_break(o, j) > 0)
        return fold(o, j, out) - j;
    if (is_blank(c) && line_break(o, skip_blanks(o, j)) > 0) {
        *out = 0; /* blanks before a line break are dropped */
        return skip_blanks(o, j) - j;
    }
    if (o->style == STYLE_DOUBLE && c == '\\') {
        size_t b = line_break(o, j + 1);
        if (b > 0) { /* an escaped line break joins the lines, without a space */
            *out = 0;
            return skip_blanks(o, j + 1 + b) - j;
        }
        return escape(o, j, out);
    }
    *out = 1;
    return o->style == STYLE_SINGLE && c == '\'' && j + 1 < o->len && o->text[j + 1] == '\''
               ? 2
               : 1;
}

size_t policy_scalar_offset(const void *origin, size_t off)
{
    const scalar_origin *o = origin;
    size_t i = 0, j = o->start;
    bool block = o->style == STYLE_LITERAL || o->style == STYLE_FOLDED;
    while (i < off && j < o->len) {
        size_t b = line_break(o, j);
        if (block && b > 0) {
            /* a break is a newline of the value, or a space when folded; a folded blank
             * line leaves no byte of its own */
            if (b == 3 && strncmp(o->value + i, o->text + j, 3) == 0)
                i += 3; /* an LS or PS, kept */
            else if (o->value[i] == '\n' || o->value[i] == ' ')
                i++;
            j = skip_indent(o, j + b);
            continue;
        }
        size_t out = 1, took = block ? 1 : flow_step(o, j, &out);
        if (i + out > off)
            break; /* 'off' is inside what these source bytes made: point at them */
        i += out;
        j += took;
    }
    /* an escaped line break makes no byte: the byte at 'off' is after it */
    while (o->style == STYLE_DOUBLE && j < o->len && o->text[j] == '\\' &&
           line_break(o, j + 1) > 0)
        j = skip_blanks(o, j + 1 + line_break(o, j + 1));
    return j;
}

/* Past a node's properties: a tag (!!str) and an anchor (&a), each with the blanks after it. */
static size_t skip_properties(const scalar_origin *o, size_t j)
{
    while (j < o->len && (o->text[j] == '!' || o->text[j] == '&')) {
        while (j < o->len && !is_blank(o->text[j]) && line_break(o, j) == 0)
            j++;
        j = skip_blanks(o, j);
    }
    return j;
}

/* Sets o->start and o->indent for a block scalar whose indicator is at 'j': the text starts
 * on the line after the header, and its indentation is the spaces of its first line that is
 * not blank, less those the value kept of them (an indentation indicator, |2, keeps some). */
static void block_start(scalar_origin *o, size_t j)
{
    while (j < o->len && line_break(o, j) == 0)
        j++;
    j += line_break(o, j);
    o->start = j;
    for (size_t k = j; k < o->len;) {
        size_t e = k;
        while (e < o->len && o->text[e] == ' ')
            e++;
        size_t b = line_break(o, e);
        if (b == 0) {
            const char *v = o->value;
            while (*v == '\n')
                v++;
            size_t kept = strspn(v, " ");
            o->indent = e - k > kept ? (int)(e - k - kept) : 0;
            break;
        }
        k = e + b;
    }
    o->start = skip_indent(o, j);
}

void policy_scalar_origin(scalar_origin *o, const diag_source *s, const ynode *n)
{
    memset(o, 0, sizeof *o);
    o->text = diag_source_text(s, &o->len);
    o->value = n->str;
    /* a block scalar's node is placed on its text (yamldoc.c): its indicator ends the line
     * before, where libyaml's mark was */
    int line = n->block && n->line > 1 ? n->line - 1 : n->line;
    size_t j = n->block ? diag_source_offset(s, line, 1) : diag_source_offset(s, n->line, n->col);
    if (n->block) {
        while (j < o->len && o->text[j] != '|' && o->text[j] != '>' && line_break(o, j) == 0)
            j++;
    }
    j = skip_properties(o, j);
    char c = j < o->len ? o->text[j] : '\0';
    o->style = c == '"' ? STYLE_DOUBLE : c == '\'' ? STYLE_SINGLE
               : c == '|' ? STYLE_LITERAL : c == '>' ? STYLE_FOLDED : STYLE_PLAIN;
    if (o->style == STYLE_LITERAL || o->style == STYLE_FOLDED)
        block_start(o, j);
    else
        o->start = o->style == STYLE_PLAIN ? j : j + 1;
}
