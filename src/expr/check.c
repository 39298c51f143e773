/* check.c - name resolution and function checking; expr_compile = parse + check.
 *
 * Runs once per expression at load time and reports every problem it finds: an identifier
 * that is neither a binding, a comprehension variable nor a type name; an unknown function;
 * a wrong number of arguments; a regular expression literal that does not compile. */
#include "expr_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "re.h"

static const char *const type_names[] = {"int",  "uint", "double",    "bool",
                                         "string", "bytes", "list",   "map",
                                         "null_type", "type", "optional_type", "dyn"};

void expr_diag(diag_list *dl, const char *code, expr_span span, const srcpos *at,
               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* An offset into the source that holds the expression; line:col only when printed. */
    srcpos pos = at ? *at : (srcpos){0};
    if (pos.source != NULL)
        pos.offset = pos.map ? pos.map(pos.map_ctx, span.start) : pos.offset + span.start;
    diag_add(dl, DIAG_ERROR, code, &pos, "%s", msg);
}

const expr_fn_def *expr_find_fn(const char *name, const expr_decls *decls)
{
    for (size_t i = 0; i < expr_n_std_fns; i++)
        if (strcmp(expr_std_fns[i].name, name) == 0)
            return &expr_std_fns[i];
    for (size_t i = 0; i < expr_n_url_fns; i++)
        if (strcmp(expr_url_fns[i].name, name) == 0)
            return &expr_url_fns[i];
    for (size_t i = 0; i < expr_n_net_fns; i++)
        if (strcmp(expr_net_fns[i].name, name) == 0)
            return &expr_net_fns[i];
    for (size_t i = 0; decls && i < decls->n_fns; i++)
        if (strcmp(decls->fns[i].name, name) == 0)
            return &decls->fns[i];
    return NULL;
}

typedef struct checker {
    const expr_decls *decls;
    const srcpos *at;
    diag_list *dl;
    arena *a;
    const char *scope[EXPR_MAX_DEPTH + 1]; /* comprehension variables, innermost last */
    int nscope;
    int errors;
} checker;

/* The slot of the innermost comprehension variable called 'name', or -1. */
static int scope_slot(const checker *k, const char *name)
{
    for (int i = k->nscope - 1; i >= 0; i--)
        if (strcmp(k->scope[i], name) == 0)
            return i;
    return -1;
}

static bool is_var(const checker *k, const char *name)
{
    if (scope_slot(k, name) >= 0)
        return true;
    for (size_t i = 0; k->decls && i < k->decls->n_vars; i++)
        if (strcmp(k->decls->vars[i], name) == 0)
            return true;
    return false;
}

/* The index of 'name' among the declared bindings, or -1 when it is not one or a
 * comprehension variable of that name hides it. */
static int32_t decl_index(const checker *k, const char *name)
{
    if (scope_slot(k, name) >= 0)
        return -1;
    for (size_t i = 0; k->decls && i < k->decls->n_vars; i++)
        if (strcmp(k->decls->vars[i], name) == 0)
            return (int32_t)i;
    return -1;
}

static void cerr(checker *k, const char *code, expr_span span, const char *fmt, const char *name)
{
    k->errors++;
    expr_diag(k->dl, code, span, k->at, fmt, name);
}

static void check_node(checker *k, expr_node *n);

static bool is_type_name(const char *name)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcmp(name, type_names[i]) == 0)
            return true;
    return false;
}

static void check_ident(checker *k, expr_node *n)
{
    int slot = scope_slot(k, n->name);
    if (slot >= 0) { /* evaluation finds it by slot, with no string comparison */
        n->local = (int16_t)slot;
        return;
    }
    if (is_var(k, n->name)) {
        n->decl = decl_index(k, n->name);
        return;
    }
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(n->name, type_names[i]) == 0 && strcmp(n->name, "dyn") != 0) {
            n->is_type = true;
            n->lit = ev_type(type_names[i]);
            return;
        }
    }
    if (k->decls && k->decls->allow_any_var)
        return;
    cerr(k, "expr.undeclared", n->span, "undeclared reference to '%s'", n->name);
}

static void check_call(checker *k, expr_node *n)
{
    /* optional.of(x), strings.quote(s) and ip.isCanonical(s) parse as member calls on the
     * names 'optional', 'strings' and 'ip' (namespaces of functions, unless a variable has
     * the name). */
    if (n->member && n->a->op == N_IDENT && !is_var(k, n->a->name) &&
        (strcmp(n->a->name, "optional") == 0 || strcmp(n->a->name, "strings") == 0 ||
         (strcmp(n->a->name, "ip") == 0 && strcmp(n->name, "isCanonical") == 0))) {
        n->name = arena_sprintf(k->a, "%s.%s", n->a->name, n->name);
        n->member = false;
        n->a = NULL;
    }
    if (n->member)
        check_node(k, n->a);
    for (uint32_t i = 0; i < n->nargs; i++)
        check_node(k, n->args[i]);
    if (n->name == NULL)
        return;
    const expr_fn_def *fn = expr_find_fn(n->name, k->decls);
    if (fn == NULL) {
        cerr(k, "expr.undeclared", n->span, "undeclared function '%s'", n->name);
        return;
    }
    if (!(fn->style & (n->member ? EXPR_MEMBER : EXPR_GLOBAL))) {
        cerr(k, "expr.undeclared", n->span,
             n->member ? "'%s' is not a method; call it as a function"
                       : "'%s' is a method; call it on a value (x.f())",
             n->name);
        return;
    }
    /* For functions callable both ways the table counts the arguments after the subject,
     * which a global call passes first: size(x) is x.size(). */
    uint32_t given = n->nargs;
    if (!n->member && fn->style == EXPR_BOTH) {
        if (given == 0) {
            cerr(k, "expr.arity", n->span, "'%s' needs a value to work on", n->name);
            return;
        }
        given--;
    }
    if (given < fn->min_args || given > fn->max_args) {
        char msg[160];
        snprintf(msg, sizeof msg, "'%%s' takes %u to %u arguments, not %u", fn->min_args,
                 fn->max_args, given);
        if (fn->min_args == fn->max_args)
            snprintf(msg, sizeof msg, "'%%s' takes %u argument%s, not %u", fn->min_args,
                     fn->min_args == 1 ? "" : "s", given);
        cerr(k, "expr.arity", n->span, msg, n->name);
        return;
    }
    n->fn = fn;
    /* A literal pattern is compiled once, here, and kept with the program. */
    if (strcmp(n->name, "matches") == 0) {
        const expr_node *pat = n->args[n->nargs - 1];
        if (pat->op == N_LIT && pat->lit.kind == EXPR_STRING) {
            char err[256];
            const expr_regex *re = expr_regex_compile(k->a, pat->lit.v.s, pat->lit.len, true, err,
                                                      sizeof err);
            if (re == NULL)
                cerr(k, "expr.regex", pat->span, "invalid regular expression: %s", err);
            else
                n->re = re;
        }
    }
}

/* "a.b.c" for a chain of plain field selections on a name, or NULL. */
static const char *dotted(arena *a, const expr_node *n)
{
    if (n->op == N_IDENT)
        return n->name;
    if (n->op != N_SELECT || n->optional)
        return NULL;
    const char *left = dotted(a, n->a);
    return left ? arena_sprintf(a, "%s.%s", left, n->name) : NULL;
}

/* Records the dotted name of a selection when it could name a binding (CEL resolves the
 * longest qualified name first: with a binding "a.b", a.b.c is that binding's field c). */
/* The qualified names of the library types (fn_url.c, fn_net.c): type(ip(s)) == net.IP. */
static const char *const qualified_types[] = {"net.IP", "net.CIDR", "kubernetes.URL"};

static void check_select(checker *k, expr_node *n)
{
    const expr_node *root = n;
    while (root->op == N_SELECT)
        root = root->a;
    if (n->a->op == N_IDENT && !is_var(k, n->a->name) && !n->optional) {
        for (size_t i = 0; i < sizeof qualified_types / sizeof qualified_types[0]; i++) {
            size_t pl = strlen(n->a->name);
            const char *t = qualified_types[i];
            if (strncmp(t, n->a->name, pl) == 0 && t[pl] == '.' &&
                strcmp(t + pl + 1, n->name) == 0) {
                n->op = N_LIT; /* a type value, like the name of a standard type */
                n->lit = ev_type(qualified_types[i]);
                n->is_type = true;
                return;
            }
        }
    }
    /* a chain on a comprehension variable (e.g. d.path) is a field of that variable */
    const char *q = root->op == N_IDENT && scope_slot(k, root->name) >= 0 ? NULL : dotted(k->a, n);
    if (q != NULL && (is_var(k, q) || (k->decls && k->decls->allow_any_var))) {
        n->qualified = q;
        n->decl = decl_index(k, q);
    }
    if (n->a->op == N_IDENT && !is_var(k, n->a->name) && q != NULL &&
        !(k->decls && k->decls->allow_any_var)) {
        /* a.b is itself a binding, so 'a' alone need not be; or neither is, and the message
         * names the whole of it ('variables.ha', not 'variables'). */
        if (n->qualified == NULL && !is_type_name(n->a->name))
            cerr(k, "expr.undeclared", n->span, "undeclared reference to '%s'", q);
        else if (n->qualified == NULL)
            check_node(k, n->a);
        return;
    }
    check_node(k, n->a);
}

/* true when every key of map literal 'n' is a string literal and no two are equal: then
 * evaluation need not look for repeated keys. */
static bool literal_keys_distinct(const expr_node *n)
{
    for (uint32_t i = 0; i + 1 < n->nargs; i += 2) {
        const expr_node *k = n->args[i];
        if (k->op != N_LIT || k->lit.kind != EXPR_STRING)
            return false;
        for (uint32_t j = 0; j < i; j += 2)
            if (expr_equal(&k->lit, &n->args[j]->lit))
                return false;
    }
    return true;
}

static void check_node(checker *k, expr_node *n)
{
    if (n == NULL)
        return;
    switch (n->op) {
    case N_LIT: return;
    case N_SELECT: check_select(k, n); return;
    case N_IDENT: check_ident(k, n); return;
    case N_CALL: check_call(k, n); return;
    case N_COMP:
        check_node(k, n->a);
        if (k->nscope + (n->name2 != NULL) <= EXPR_MAX_DEPTH) {
            /* the slots match the evaluator's locals: the first variable, then the second */
            k->scope[k->nscope++] = n->name;
            if (n->name2 != NULL)
                k->scope[k->nscope++] = n->name2;
            check_node(k, n->b);
            check_node(k, n->c);
            k->nscope -= 1 + (n->name2 != NULL);
        }
        return;
    case N_LIST:
        for (uint32_t i = 0; i < n->nargs; i++)
            check_node(k, n->args[i]);
        return;
    case N_MAP:
        for (uint32_t i = 0; i < n->nargs; i++)
            check_node(k, n->args[i]);
        n->distinct_keys = literal_keys_distinct(n);
        return;
    default:
        check_node(k, n->a);
        check_node(k, n->b);
        check_node(k, n->c);
        return;
    }
}

int expr_check(arena *a, expr_node *root, const expr_decls *decls, const srcpos *at,
               diag_list *dl)
{
    checker k = {.decls = decls, .at = at, .dl = dl, .a = a};
    check_node(&k, root);
    return k.errors > 0 ? -1 : 0;
}

expr_prog *expr_compile(arena *a, const char *src, size_t len, const expr_decls *decls,
                        const srcpos *at, diag_list *dl)
{
    char *copy = arena_strndup(a, src, len);
    expr_prog *p = arena_calloc(a, 1, sizeof *p);
    if (copy == NULL || p == NULL) {
        expr_diag(dl, "expr.limit", (expr_span){0, 0}, at, "out of memory");
        return NULL;
    }
    expr_node *root = expr_parse(a, copy, len, at, dl);
    if (root == NULL)
        return NULL;
    if (expr_check(a, root, decls, at, dl) != 0)
        return NULL;
    p->root = root;
    p->src = copy;
    p->len = len;
    return p;
}

/* ---- calls of a function, for checks at load time ---- */

typedef struct call_walk {
    const char *fn;
    void (*visit)(void *ctx, const expr_call_site *cs);
    void *ctx;
    size_t n;
} call_walk;

/* Depth is bounded: the parser caps a tree's height (EXPR_MAX_HEIGHT). */
static void walk_calls(call_walk *w, const expr_node *n)
{
    if (n == NULL)
        return;
    if (n->op == N_CALL && !n->member && n->name != NULL && strcmp(n->name, w->fn) == 0) {
        expr_call_site cs = {.span = n->span, .nargs = n->nargs};
        for (uint32_t i = 0; i < n->nargs && i < EXPR_CALL_SITE_ARGS; i++) {
            const expr_node *arg = n->args[i];
            cs.args[i].span = arg->span;
            if (arg->op == N_LIT && arg->lit.kind == EXPR_STRING) {
                cs.args[i].lit = arg->lit.v.s;
                cs.args[i].len = arg->lit.len;
            }
        }
        w->n++;
        w->visit(w->ctx, &cs);
    }
    walk_calls(w, n->a);
    walk_calls(w, n->b);
    walk_calls(w, n->c);
    for (uint32_t i = 0; n->args != NULL && i < n->nargs; i++)
        walk_calls(w, n->args[i]);
}

size_t expr_each_call(const expr_prog *p, const char *fn,
                      void (*visit)(void *ctx, const expr_call_site *cs), void *ctx)
{
    call_walk w = {.fn = fn, .visit = visit, .ctx = ctx};
    walk_calls(&w, p->root);
    return w.n;
}

void expr_prog_diag(const expr_prog *p, diag_list *dl, const char *code, expr_span span,
                    const srcpos *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void)p; /* the span is enough: positions are offsets, resolved when printed */
    expr_diag(dl, code, span, at, "%s", msg);
}
