/* prog.c - what the loader asks of a compiled expression: the calls of a function with
 * their argument literals and paths (expr_each_call: the lookups the server watches), the
 * expression's inferred type, and diagnostics at a span of it. Split from check.c, which
 * infers the types. */
#include "expr_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int expr_check(arena *a, expr_node *root, const expr_decls *decls, const srcpos *at,
               diag_list *dl)
{
    return expr_check_tree(a, root, decls, at, dl, NULL);
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
    if (expr_check_tree(a, root, decls, at, dl, &p->type) != 0)
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

/* The names of 'n' when it selects plain fields of a global binding (params.a.b), root
 * first; 0 when it is anything else (expr_call_site). */
static uint32_t select_path(const expr_node *n, const char **path)
{
    uint32_t depth = 0;
    const expr_node *x = n;
    while (x != NULL && x->op == N_SELECT) {
        if (x->optional || x->name_nul || x->name == NULL || x->qualified != NULL)
            return 0; /* qualified: the chain names a binding of its own (variables.x) */
        depth++;
        x = x->a;
    }
    /* a global name: not a comprehension's or cel.bind's variable, not a type name */
    if (x == NULL || x->op != N_IDENT || x->local >= 0 || x->decl < 0 || x->is_type ||
        depth + 1 > EXPR_CALL_SITE_PATH)
        return 0;
    uint32_t i = depth;
    path[0] = x->name;
    for (x = n; x->op == N_SELECT; x = x->a)
        path[i--] = x->name;
    return depth + 1;
}

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
            cs.args[i].npath = select_path(arg, cs.args[i].path);
        }
        w->n++;
        w->visit(w->ctx, &cs);
    }
    walk_calls(w, n->a);
    walk_calls(w, node_b(n));
    walk_calls(w, node_c(n));
    for (uint32_t i = 0; i < node_nargs(n); i++)
        walk_calls(w, n->args[i]);
}


typedef struct decl_walk {
    void (*visit)(void *ctx, int32_t decl, const char *const *path, uint32_t n);
    void *ctx;
} decl_walk;

/* Whether select 'x' continues a plain chain of fields (not .?, no NUL in its name, not a
 * qualified name of a declaration of its own, such as variables.x). */
static bool plain_select(const expr_node *x)
{
    return x->op == N_SELECT && !x->optional && !x->name_nul &&
           !(x->qualified != NULL && x->decl >= 0);
}

/* Depth is bounded: the parser caps a tree's height (EXPR_MAX_HEIGHT). */
static void walk_decls(const decl_walk *w, const expr_node *n)
{
    if (n == NULL)
        return;
    if (n->op == N_SELECT && n->qualified != NULL && n->decl >= 0) {
        w->visit(w->ctx, n->decl, NULL, 0);
        return;
    }
    if (plain_select(n)) {
        uint32_t depth = 0;
        const expr_node *x = n;
        for (; plain_select(x); x = x->a)
            depth++;
        if (x->op != N_IDENT || x->local >= 0 || x->is_type) {
            walk_decls(w, x); /* fields of something else: what that reads */
            return;
        }
        const char *path[EXPR_DECL_PATH];
        uint32_t keep = depth < EXPR_DECL_PATH ? depth : EXPR_DECL_PATH, i = depth;
        for (const expr_node *y = n; y != x; y = y->a)
            if (--i < keep)
                path[i] = y->name;
        w->visit(w->ctx, x->decl, path, keep);
        return;
    }
    if (n->op == N_IDENT) {
        if (n->local < 0 && !n->is_type)
            w->visit(w->ctx, n->decl, NULL, 0);
        return;
    }
    walk_decls(w, n->a);
    walk_decls(w, node_b(n));
    walk_decls(w, node_c(n));
    for (uint32_t i = 0; i < node_nargs(n); i++)
        walk_decls(w, n->args[i]);
}

void expr_each_decl(const expr_prog *p,
                    void (*visit)(void *ctx, int32_t decl, const char *const *path, uint32_t n),
                    void *ctx)
{
    decl_walk w = {.visit = visit, .ctx = ctx};
    if (p != NULL)
        walk_decls(&w, p->root);
}

/* Whether no call under 'n' is to an impure function. Depth is bounded (EXPR_MAX_HEIGHT). */
static bool calls_pure(const expr_node *n)
{
    if (n == NULL)
        return true;
    if (n->op == N_CALL && (n->fn == NULL || n->fn->impure))
        return false;
    if (!calls_pure(n->a) || !calls_pure(node_b(n)) || !calls_pure(node_c(n)))
        return false;
    for (uint32_t i = 0; i < node_nargs(n); i++)
        if (!calls_pure(n->args[i]))
            return false;
    return true;
}

typedef struct const_reads {
    bool (*decl)(void *ctx, size_t index);
    void *ctx;
    bool ok;
} const_reads;

static void const_read(void *ctx, int32_t decl, const char *const *path, uint32_t n)
{
    (void)path;
    (void)n;
    const_reads *r = ctx;
    if (decl < 0 || !r->decl(r->ctx, (size_t)decl))
        r->ok = false;
}

bool expr_prog_constant(const expr_prog *p, bool (*decl)(void *ctx, size_t index), void *ctx)
{
    const_reads r = {.decl = decl, .ctx = ctx, .ok = p != NULL};
    if (r.ok)
        expr_each_decl(p, const_read, &r);
    return r.ok && calls_pure(p->root);
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

const expr_type *expr_prog_type(const expr_prog *p)
{
    return p->type;
}

int expr_prog_expect_bool(const expr_prog *p, const char *what, const srcpos *at, diag_list *dl)
{
    /* a bool, or what the checker could not tell (dyn, null: a missing field) */
    const expr_type *t = p->type;
    if (t == NULL || t->kind == EXPR_T_BOOL || t->kind == EXPR_T_NULL || t->kind == EXPR_T_DYN)
        return 0;
    arena *a = arena_new(4096);
    const char *name = a ? expr_type_str(a, p->type) : NULL;
    expr_diag(dl, "expr.type", (expr_span){0, (uint32_t)p->len}, at, "%s must yield a bool, not %s",
              what, name ? name : "a bool");
    arena_free(a);
    return -1;
}
