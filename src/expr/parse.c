/* parse.c - CEL grammar to a syntax tree, by recursive descent.
 *
 * Precedence, lowest first: ?:  ||  &&  relations (== != < <= > >= in)  + -  * / %  unary ! -
 * member (. [] calls). Macros (has, all, exists, exists_one, map, filter, optMap, optFlatMap,
 * cel.bind) are recognised here and become N_HAS / N_COMP nodes. Every node keeps its byte span.
 * Nesting depth and tree height are capped (expr.limit) so that hostile input can neither
 * exhaust the stack here nor in the evaluator. After an error the parser skips a token and
 * goes on, so one pass reports several errors (capped). */
#include "expr_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_SYNTAX_ERRORS 10

typedef struct parser {
    lexer lx;
    token cur;
    arena *a;
    const srcpos *at;
    diag_list *dl;
    int depth;
    int errors;
} parser;

static void perr(parser *p, expr_span span, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void perr(parser *p, expr_span span, const char *code, const char *fmt, ...)
{
    if (p->errors++ >= MAX_SYNTAX_ERRORS)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    expr_diag(p->dl, code, span, p->at, "%s", msg);
}

static void advance(parser *p)
{
    p->cur = lex_next(&p->lx);
    while (p->cur.t == T_ERROR) {
        perr(p, p->cur.span, "expr.syntax", "%s", p->cur.err);
        p->cur = lex_next(&p->lx);
    }
}

static bool accept(parser *p, enum tok t)
{
    if (p->cur.t != t)
        return false;
    advance(p);
    return true;
}

static const char *tok_text(enum tok t)
{
    static const char *const names[] = {
        [T_EOF] = "end of input", [T_RPAREN] = "')'", [T_RBRACKET] = "']'",
        [T_RBRACE] = "'}'", [T_COLON] = "':'", [T_IDENT] = "a name", [T_COMMA] = "','"};
    return t < sizeof names / sizeof names[0] && names[t] ? names[t] : "a token";
}

static void expect(parser *p, enum tok t, const char *after)
{
    if (accept(p, t))
        return;
    perr(p, p->cur.span, "expr.syntax", "expected %s %s", tok_text(t), after);
    if (p->cur.t != T_EOF)
        advance(p);
}

static expr_node *new_node(parser *p, enum node_op op, expr_span span)
{
    expr_node *n = arena_calloc(p->a, 1, sizeof *n);
    if (n == NULL) {
        perr(p, span, "expr.limit", "out of memory");
        return NULL;
    }
    n->op = (uint8_t)op;
    n->span = span;
    n->height = 1;
    n->decl = -1;
    n->run = (uint8_t)(R_KIND + op); /* the kind's own function, until the checker chooses */
    if (op == N_IDENT)
        n->local = -1;
    return n;
}

static expr_span join(expr_span a, expr_span b)
{
    return (expr_span){a.start < b.start ? a.start : b.start, a.end > b.end ? a.end : b.end};
}

/* Sets the height of 'n' from its children and reports a tree that is too tall. */
static expr_node *grow(parser *p, expr_node *n)
{
    if (n == NULL)
        return NULL;
    uint16_t h = 0;
    expr_node *kids[3] = {n->a, node_b(n), node_c(n)};
    for (int i = 0; i < 3; i++)
        if (kids[i] && kids[i]->height > h)
            h = kids[i]->height;
    for (uint32_t i = 0; i < node_nargs(n); i++)
        if (n->args[i] && n->args[i]->height > h)
            h = n->args[i]->height;
    n->height = (uint16_t)(h + 1);
    if (n->height > EXPR_MAX_HEIGHT) {
        perr(p, n->span, "expr.limit", "expression is nested more than %d levels deep",
             EXPR_MAX_HEIGHT);
        n->height = EXPR_MAX_HEIGHT; /* report once per chain, not per node */
    }
    return n;
}

static expr_node *parse_expr(parser *p);

/* A placeholder after an error, so that callers need not check for NULL everywhere. */
static expr_node *error_node(parser *p, expr_span span)
{
    expr_node *n = new_node(p, N_LIT, span);
    if (n)
        n->lit = ev_null();
    return n;
}

/* Parses "expr, expr, ...)" after the '(' of a call; trailing comma not allowed. */
static uint32_t parse_args(parser *p, expr_node ***out, enum tok close, uint8_t **opt,
                           bool allow_opt)
{
    expr_node *buf[EXPR_MAX_ARGS];
    uint8_t obuf[EXPR_MAX_ARGS];
    uint32_t n = 0;
    while (p->cur.t != close && p->cur.t != T_EOF) {
        obuf[n < EXPR_MAX_ARGS ? n : EXPR_MAX_ARGS - 1] = allow_opt && accept(p, T_QUESTION);
        expr_node *e = parse_expr(p);
        if (n < EXPR_MAX_ARGS)
            buf[n++] = e;
        else
            perr(p, p->cur.span, "expr.limit", "more than %d elements", EXPR_MAX_ARGS);
        if (!accept(p, T_COMMA))
            break;
    }
    *out = arena_alloc(p->a, (n ? n : 1) * sizeof **out);
    if (*out)
        memcpy(*out, buf, n * sizeof *buf);
    if (opt) {
        *opt = arena_alloc(p->a, n ? n : 1);
        if (*opt)
            memcpy(*opt, obuf, n);
    }
    return *out ? n : 0;
}

static bool is_simple_ident(const expr_node *n)
{
    return n && n->op == N_IDENT;
}

/* Turns a member call that is a macro into N_COMP. Returns NULL when it is not a macro.
 * 'vars' is how many leading arguments name variables: one for the standard macros, two for
 * cel-go's comprehensions extension (index or key, then value), which Kubernetes enables. */
static expr_node *member_macro(parser *p, expr_node *target, const char *name, expr_node **args,
                               uint32_t nargs, expr_span span)
{
    static const struct {
        const char *name;
        enum macro_kind k;
        uint32_t min, max, vars;
    } macros[] = {
        {"all", M_ALL, 2, 2, 1},
        {"exists", M_EXISTS, 2, 2, 1},
        {"exists_one", M_EXISTS_ONE, 2, 2, 1},
        {"existsOne", M_EXISTS_ONE, 2, 2, 1},
        {"map", M_MAP, 2, 3, 1},
        {"filter", M_FILTER, 2, 2, 1},
        {"optMap", M_OPT_MAP, 2, 2, 1},
        {"optFlatMap", M_OPT_FLAT_MAP, 2, 2, 1},
        {"all", M_ALL, 3, 3, 2},
        {"exists", M_EXISTS, 3, 3, 2},
        {"exists_one", M_EXISTS_ONE, 3, 3, 2},
        {"existsOne", M_EXISTS_ONE, 3, 3, 2},
        {"transformList", M_TRANSFORM_LIST, 3, 4, 2},
        {"transformMap", M_TRANSFORM_MAP, 3, 4, 2},
        {"transformMapEntry", M_TRANSFORM_MAP_ENTRY, 3, 4, 2},
    };
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if (strcmp(name, macros[i].name) != 0 || nargs < macros[i].min || nargs > macros[i].max)
            continue;
        for (uint32_t v = 0; v < macros[i].vars; v++) {
            if (!is_simple_ident(args[v])) {
                perr(p, args[v] ? args[v]->span : span, "expr.syntax",
                     "argument %u of %s() must be a simple name", v + 1, name);
                return error_node(p, span);
            }
        }
        if (macros[i].vars == 2 && strcmp(args[0]->name, args[1]->name) == 0) {
            perr(p, args[1]->span, "expr.syntax", "%s() names the variable '%s' twice", name,
                 args[1]->name);
            return error_node(p, span);
        }
        expr_node *n = new_node(p, N_COMP, span);
        if (n == NULL)
            return NULL;
        n->sub = (uint8_t)macros[i].k;
        n->name = args[0]->name;
        n->name2 = macros[i].vars == 2 ? args[1]->name : NULL;
        n->a = target;
        uint32_t body = macros[i].vars; /* the first argument after the variables */
        if (macros[i].k == M_MAP || macros[i].k >= M_TRANSFORM_LIST) {
            n->b = nargs == body + 2 ? args[body] : NULL; /* the optional filter */
            n->c = args[nargs - 1];
        } else {
            n->b = args[body];
        }
        return grow(p, n);
    }
    return NULL;
}

/* cel.bind(name, value, body): 'body' sees 'value' as 'name' (cel-go's bindings extension).
 * An N_COMP whose range is the value and whose step is the body. */
static expr_node *bind_macro(parser *p, expr_node **args, expr_span span)
{
    if (!is_simple_ident(args[0])) {
        perr(p, args[0] ? args[0]->span : span, "expr.syntax",
             "the first argument of cel.bind() must be a simple name");
        return error_node(p, span);
    }
    expr_node *n = new_node(p, N_COMP, span);
    if (n == NULL)
        return NULL;
    n->sub = M_BIND;
    n->name = args[0]->name;
    n->a = args[1];
    n->b = args[2];
    return grow(p, n);
}

static expr_node *parse_call(parser *p, expr_node *target, const char *name, expr_span start)
{
    expr_node **args;
    uint32_t nargs = parse_args(p, &args, T_RPAREN, NULL, false);
    expr_span span = {start.start, p->cur.span.end};
    expect(p, T_RPAREN, "after the arguments");
    if (target != NULL && target->op == N_IDENT && strcmp(target->name, "cel") == 0 &&
        strcmp(name, "bind") == 0 && nargs == 3) {
        return bind_macro(p, args, span);
    } else if (target != NULL) {
        expr_node *m = member_macro(p, target, name, args, nargs, span);
        if (m != NULL)
            return m;
    } else if (strcmp(name, "has") == 0 && nargs == 1) {
        if (args[0] == NULL || args[0]->op != N_SELECT || args[0]->optional) {
            perr(p, span, "expr.syntax", "has() takes a field selection such as has(a.b)");
            return error_node(p, span);
        }
        expr_node *n = new_node(p, N_HAS, span);
        if (n)
            n->a = args[0];
        return grow(p, n);
    }
    expr_node *n = new_node(p, N_CALL, span);
    if (n == NULL)
        return NULL;
    n->name = name;
    n->a = target;
    n->member = target != NULL;
    n->args = args;
    n->nargs = (uint16_t)nargs;
    return grow(p, n);
}

static expr_node *literal(parser *p)
{
    token t = p->cur;
    expr_node *n = new_node(p, N_LIT, t.span);
    if (n == NULL)
        return NULL;
    switch (t.t) {
    case T_INT: n->lit = ev_int(t.v.i); n->int_overflow = t.int_overflow; break;
    case T_UINT: n->lit = ev_uint(t.v.u); break;
    case T_DOUBLE: n->lit = ev_double(t.v.d); break;
    case T_STRING: n->lit = ev_str(t.v.str.s, t.v.str.len); break;
    case T_BYTES: n->lit = ev_bytes(t.v.str.s, t.v.str.len); break;
    case T_TRUE: n->lit = ev_bool(true); break;
    case T_FALSE: n->lit = ev_bool(false); break;
    default: n->lit = ev_null(); break;
    }
    advance(p);
    return n;
}

static expr_node *parse_aggregate(parser *p, bool map)
{
    expr_span start = p->cur.span;
    advance(p);
    expr_node *n = new_node(p, map ? N_MAP : N_LIST, start);
    if (n == NULL)
        return NULL;
    if (!map) {
        n->nargs = (uint16_t)parse_args(p, &n->args, T_RBRACKET, &n->opt, true);
        n->span.end = p->cur.span.end;
        expect(p, T_RBRACKET, "after the list elements");
        return grow(p, n);
    }
    expr_node *buf[2 * EXPR_MAX_ENTRIES];
    uint8_t obuf[EXPR_MAX_ENTRIES];
    uint32_t k = 0;
    while (p->cur.t != T_RBRACE && p->cur.t != T_EOF) {
        bool opt = accept(p, T_QUESTION);
        expr_node *key = parse_expr(p);
        expect(p, T_COLON, "between a map key and its value");
        expr_node *val = parse_expr(p);
        if (k < 2 * EXPR_MAX_ENTRIES) {
            obuf[k / 2] = opt;
            buf[k++] = key;
            buf[k++] = val;
        } else {
            perr(p, p->cur.span, "expr.limit", "more than %d map entries", EXPR_MAX_ENTRIES);
        }
        if (!accept(p, T_COMMA))
            break;
    }
    n->args = arena_alloc(p->a, (k ? k : 1) * sizeof *n->args);
    n->opt = arena_alloc(p->a, k / 2 + 1);
    if (n->args == NULL || n->opt == NULL)
        return NULL;
    memcpy(n->args, buf, k * sizeof *buf);
    memcpy(n->opt, obuf, k / 2);
    n->nargs = (uint16_t)k;
    n->span.end = p->cur.span.end;
    expect(p, T_RBRACE, "after the map entries");
    return grow(p, n);
}

static expr_node *parse_primary(parser *p)
{
    token t = p->cur;
    switch (t.t) {
    case T_INT: case T_UINT: case T_DOUBLE: case T_STRING: case T_BYTES:
    case T_TRUE: case T_FALSE: case T_NULL:
        return literal(p);
    case T_LPAREN: {
        advance(p);
        expr_node *e = parse_expr(p);
        expect(p, T_RPAREN, "to close '('");
        return e;
    }
    case T_LBRACKET: return parse_aggregate(p, false);
    case T_LBRACE: return parse_aggregate(p, true);
    case T_DOT: /* a leading dot names the root scope: .x is x */
        advance(p);
        if (p->cur.t != T_IDENT) {
            perr(p, p->cur.span, "expr.syntax", "expected a name after '.'");
            return error_node(p, t.span);
        }
        t = p->cur;
        /* fall through */
    case T_IDENT: {
        if (t.reserved) {
            perr(p, t.span, "expr.syntax", "'%s' is a reserved word and cannot name a variable or function",
                 t.v.str.s);
            advance(p);
            return error_node(p, t.span);
        }
        if (t.quoted) {
            perr(p, t.span, "expr.syntax", "a quoted name (`%s`) is only allowed as a field name",
                 t.v.str.s);
            advance(p);
            return error_node(p, t.span);
        }
        advance(p);
        if (accept(p, T_LPAREN))
            return parse_call(p, NULL, t.v.str.s, t.span);
        if (p->cur.t == T_LBRACE) {
            perr(p, p->cur.span, "expr.unsupported", "message construction (%s{...}) is not supported",
                 t.v.str.s);
            return error_node(p, t.span);
        }
        expr_node *n = new_node(p, N_IDENT, t.span);
        if (n)
            n->name = t.v.str.s;
        return n;
    }
    default:
        perr(p, t.span, "expr.syntax", "unexpected %s",
             t.t == T_EOF ? "end of input" : "token");
        if (t.t != T_EOF)
            advance(p);
        return error_node(p, t.span);
    }
}

static expr_node *parse_member(parser *p)
{
    expr_node *e = parse_primary(p);
    for (;;) {
        if (e == NULL)
            return NULL;
        expr_span start = p->cur.span;
        if (accept(p, T_DOT)) {
            bool opt = accept(p, T_QUESTION);
            token id = p->cur;
            if (id.t != T_IDENT) {
                perr(p, id.span, "expr.syntax", "expected a field name after '.'");
                return e;
            }
            advance(p);
            /* a reserved word may name a receiver call (x.as()), as in cel-go, which reserves
             * words only as names of variables and global functions */
            if (!opt && !id.quoted && accept(p, T_LPAREN)) {
                e = parse_call(p, e, id.v.str.s, join(e->span, id.span));
                continue;
            }
            expr_node *n = new_node(p, N_SELECT, join(e->span, id.span));
            if (n == NULL)
                return NULL;
            n->a = e;
            n->name = id.v.str.s;
            n->name_len = id.v.str.len;
            n->name_nul = memchr(id.v.str.s, '\0', id.v.str.len) != NULL;
            n->optional = opt;
            e = grow(p, n);
        } else if (accept(p, T_LBRACKET)) {
            bool opt = accept(p, T_QUESTION);
            expr_node *idx = parse_expr(p);
            expr_node *n = new_node(p, N_INDEX, join(e->span, (expr_span){start.start, p->cur.span.end}));
            expect(p, T_RBRACKET, "after the index");
            if (n == NULL)
                return NULL;
            n->a = e;
            n->b = idx;
            n->optional = opt;
            e = grow(p, n);
        } else {
            return e;
        }
    }
}

static expr_node *parse_unary(parser *p)
{
    expr_span start = p->cur.span;
    if (p->cur.t == T_NOT || p->cur.t == T_MINUS) {
        enum tok op = p->cur.t;
        int count = 0;
        while (p->cur.t == op) {
            advance(p);
            count++;
        }
        uint32_t lit_start = p->cur.t == T_INT || p->cur.t == T_DOUBLE ? p->cur.span.start : UINT32_MAX;
        expr_node *e = parse_member(p);
        if (e == NULL)
            return NULL;
        /* Negative literals (the only way to write INT64_MIN): a number right after the '-',
         * not a parenthesised expression, and never -INT64_MIN. */
        if (op == T_MINUS && e->op == N_LIT && count % 2 == 1 && e->span.start == lit_start &&
            (e->lit.kind == EXPR_DOUBLE || (e->lit.kind == EXPR_INT && (e->int_overflow || e->lit.v.i != INT64_MIN)))) {
            if (e->lit.kind == EXPR_INT)
                e->lit.v.i = e->int_overflow ? INT64_MIN : -e->lit.v.i;
            else
                e->lit.v.d = -e->lit.v.d;
            e->int_overflow = false;
            e->span = join(start, e->span);
            count--;
        }
        for (int i = 0; i < count; i++) {
            expr_node *n = new_node(p, op == T_NOT ? N_NOT : N_NEG, join(start, e->span));
            if (n == NULL)
                return NULL;
            n->a = e;
            e = grow(p, n);
        }
        return e;
    }
    return parse_member(p);
}

static expr_node *binary(parser *p, enum node_op op, enum bin_op sub, expr_node *l, expr_node *r)
{
    if (l == NULL || r == NULL)
        return l ? l : r;
    expr_node *n = new_node(p, op, join(l->span, r->span));
    if (n == NULL)
        return NULL;
    n->sub = (uint8_t)sub;
    n->a = l;
    n->b = r;
    return grow(p, n);
}

static expr_node *parse_mul(parser *p)
{
    expr_node *l = parse_unary(p);
    for (;;) {
        enum bin_op op;
        if (p->cur.t == T_STAR) op = B_MUL;
        else if (p->cur.t == T_SLASH) op = B_DIV;
        else if (p->cur.t == T_PERCENT) op = B_MOD;
        else return l;
        advance(p);
        l = binary(p, N_BIN, op, l, parse_unary(p));
    }
}

static expr_node *parse_add(parser *p)
{
    expr_node *l = parse_mul(p);
    for (;;) {
        enum bin_op op;
        if (p->cur.t == T_PLUS) op = B_ADD;
        else if (p->cur.t == T_MINUS) op = B_SUB;
        else return l;
        advance(p);
        l = binary(p, N_BIN, op, l, parse_mul(p));
    }
}

static expr_node *parse_rel(parser *p)
{
    expr_node *l = parse_add(p);
    for (;;) {
        enum bin_op op;
        switch (p->cur.t) {
        case T_EQ: op = B_EQ; break;
        case T_NE: op = B_NE; break;
        case T_LT: op = B_LT; break;
        case T_LE: op = B_LE; break;
        case T_GT: op = B_GT; break;
        case T_GE: op = B_GE; break;
        case T_IN: op = B_IN; break;
        default: return l;
        }
        advance(p);
        l = binary(p, N_BIN, op, l, parse_add(p));
    }
}

static expr_node *parse_and(parser *p)
{
    expr_node *l = parse_rel(p);
    while (accept(p, T_AND))
        l = binary(p, N_AND, 0, l, parse_rel(p));
    return l;
}

static expr_node *parse_or(parser *p)
{
    expr_node *l = parse_and(p);
    while (accept(p, T_OR))
        l = binary(p, N_OR, 0, l, parse_and(p));
    return l;
}

static expr_node *parse_expr(parser *p)
{
    if (++p->depth > EXPR_MAX_DEPTH) {
        perr(p, p->cur.span, "expr.limit", "expression nests more than %d levels", EXPR_MAX_DEPTH);
        /* Skip the rest: going deeper would only repeat this error. */
        while (p->cur.t != T_EOF)
            advance(p);
        p->depth--;
        return error_node(p, p->cur.span);
    }
    expr_node *c = parse_or(p);
    if (c != NULL && accept(p, T_QUESTION)) {
        expr_node *t = parse_or(p);
        expect(p, T_COLON, "in a conditional (a ? b : c)");
        expr_node *f = parse_expr(p);
        expr_node *n = new_node(p, N_COND, join(c->span, f ? f->span : c->span));
        if (n) {
            n->a = c;
            n->b = t;
            n->c = f;
        }
        c = grow(p, n);
    }
    p->depth--;
    return c;
}

expr_node *expr_parse(arena *a, const char *src, size_t len, const srcpos *at, diag_list *dl)
{
    parser p = {.lx = {.src = src, .len = len, .a = a}, .a = a, .at = at, .dl = dl};
    if (len > EXPR_MAX_SOURCE) {
        expr_diag(dl, "expr.limit", (expr_span){0, 0}, at,
                  "expression is longer than %u bytes", EXPR_MAX_SOURCE);
        return NULL;
    }
    advance(&p);
    expr_node *root = parse_expr(&p);
    if (p.cur.t != T_EOF)
        perr(&p, p.cur.span, "expr.syntax", "unexpected token after the end of the expression");
    if (p.errors > MAX_SYNTAX_ERRORS)
        expr_diag(dl, "expr.syntax", (expr_span){0, 0}, at, "%d more syntax errors",
                  p.errors - MAX_SYNTAX_ERRORS);
    return p.errors ? NULL : root;
}
