/* check.c - name resolution and function checking; expr_compile = parse + check (prog.c:
 * what the loader asks of the compiled expression).
 *
 * Runs once per expression at load time and reports every problem it finds: an identifier
 * that is neither a binding, a comprehension variable nor a type name; an unknown function;
 * a wrong number of arguments; a regular expression literal that does not compile; and, from
 * the types it infers (types.c: literals, operators, the declared types of the bindings, the
 * result types of the standard functions; dyn wherever it cannot tell), an operation that can
 * only fail and a field the declared type of an object cannot have. */
#include "expr_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "re.h"

static const char *const type_names[] = {"int",  "uint", "double",    "bool",
                                         "string", "bytes", "list",   "map",
                                         "null_type", "type", "optional_type", "dyn"};

/* Adds 'msg' at 'span' of the expression that 'at' positions, at level 'lv'. */
static void diag_at(diag_list *dl, enum diag_level lv, const char *code, expr_span span,
                    const srcpos *at, const char *msg)
{
    /* An offset into the source that holds the expression; line:col only when printed. */
    srcpos pos = at ? *at : (srcpos){0};
    if (pos.source != NULL)
        pos.offset = pos.map ? pos.map(pos.map_ctx, span.start) : pos.offset + span.start;
    diag_add(dl, lv, code, &pos, "%s", msg);
}

void expr_diag(diag_list *dl, const char *code, expr_span span, const srcpos *at,
               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_at(dl, DIAG_ERROR, code, span, at, msg);
}

typedef struct checker {
    const expr_decls *decls;
    const srcpos *at;
    diag_list *dl;
    arena *a;
    const char *scope[EXPR_MAX_DEPTH + 1]; /* comprehension variables, innermost last */
    /* the type of each comprehension variable, valid while scope_of[i] == scope[i] (a
     * variable pushed without a type is dyn) */
    const expr_type *scope_type[EXPR_MAX_DEPTH + 1];
    const char *scope_of[EXPR_MAX_DEPTH + 1];
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

typedef const expr_type *ty;

static ty check_node(checker *k, expr_node *n);

/* A type of 'kind' over 'elem'. Without an element (bool, string, list(dyn), ...) it is one
 * shared constant, not an allocation: the checker asks for one at nearly every node, and a
 * copy each (64 bytes) stayed in the loaded set, 0.28 MiB of the shipped policies', though
 * only the loader reads types. Types made here are never changed (N_LIST and N_MAP make
 * their own, which they mark empty). */
static ty mk(checker *k, enum expr_type_kind kind, ty elem)
{
#define PLAIN(x) [x] = {.kind = x}
    static const expr_type plain[] = {
        PLAIN(EXPR_T_DYN),    PLAIN(EXPR_T_NULL),  PLAIN(EXPR_T_BOOL), PLAIN(EXPR_T_INT),
        PLAIN(EXPR_T_UINT),   PLAIN(EXPR_T_DOUBLE), PLAIN(EXPR_T_STRING), PLAIN(EXPR_T_BYTES),
        PLAIN(EXPR_T_LIST),   PLAIN(EXPR_T_MAP),   PLAIN(EXPR_T_TYPE), PLAIN(EXPR_T_OPTIONAL),
    };
#undef PLAIN
    if (elem == NULL && (size_t)kind < sizeof plain / sizeof plain[0])
        return &plain[kind];
    return expr_type_new(k->a, kind, elem);
}

static const char *tstr(checker *k, ty t)
{
    return expr_type_str(k->a, t);
}

static void terr(checker *k, const char *code, expr_span span, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void terr(checker *k, const char *code, expr_span span, const char *fmt, ...)
{
    if (k->decls == NULL || !k->decls->check_types)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    k->errors++;
    expr_diag(k->dl, code, span, k->at, "%s", msg);
}

/* What a value of 't' is, for the operators: 0 when unknown (dyn, null: a missing field). */
enum tclass { C_ANY, C_NUM, C_STRING, C_BYTES, C_BOOL, C_LIST, C_MAP, C_TYPE, C_OPT };

static enum tclass tclass(ty t)
{
    if (t == NULL)
        return C_ANY;
    switch (t->kind) {
    case EXPR_T_INT: case EXPR_T_UINT: case EXPR_T_DOUBLE: return C_NUM;
    case EXPR_T_STRING: return C_STRING;
    case EXPR_T_BYTES: return C_BYTES;
    case EXPR_T_BOOL: return C_BOOL;
    case EXPR_T_LIST: return C_LIST;
    case EXPR_T_MAP: case EXPR_T_OBJECT: return C_MAP;
    case EXPR_T_TYPE: return C_TYPE;
    case EXPR_T_OPTIONAL: return C_OPT;
    default: return C_ANY;
    }
}

/* The type of a value that is either of two (the branches of ?:, orValue): what they share,
 * dyn when they differ. null joins with anything (a field may be absent). */
static ty join(checker *k, ty x, ty y)
{
    if (x == NULL || y == NULL)
        return NULL;
    if (x->kind == EXPR_T_NULL)
        return y;
    if (y->kind == EXPR_T_NULL)
        return x;
    if (x->empty && (x->kind == y->kind || (x->kind == EXPR_T_MAP && y->kind == EXPR_T_OBJECT)))
        return y;
    if (y->empty && (x->kind == y->kind || (y->kind == EXPR_T_MAP && x->kind == EXPR_T_OBJECT)))
        return x;
    if (x->kind != y->kind)
        return NULL;
    switch (x->kind) {
    case EXPR_T_LIST: case EXPR_T_MAP: case EXPR_T_OPTIONAL:
        return mk(k, x->kind, join(k, x->elem, y->elem));
    case EXPR_T_OBJECT: return expr_type_merge(k->a, x, y);
    default: return x;
    }
}

static bool is_type_name(const char *name)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcmp(name, type_names[i]) == 0)
            return true;
    return false;
}

/* The declared type of binding 'i' (NULL: dyn). */
static ty decl_type(const checker *k, int32_t i)
{
    return i >= 0 && k->decls && k->decls->var_types ? k->decls->var_types[i] : NULL;
}

static ty check_ident(checker *k, expr_node *n)
{
    int slot = scope_slot(k, n->name);
    if (slot >= 0) { /* evaluation finds it by slot, with no string comparison */
        n->local = (int8_t)slot; /* slot <= EXPR_MAX_DEPTH (expr_int.h) */
        return k->scope_of[slot] == k->scope[slot] ? k->scope_type[slot] : NULL;
    }
    if (is_var(k, n->name)) {
        n->decl = decl_index(k, n->name);
        return decl_type(k, n->decl);
    }
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(n->name, type_names[i]) == 0 && strcmp(n->name, "dyn") != 0) {
            n->is_type = true;
            n->lit = ev_type(type_names[i]);
            return mk(k, EXPR_T_TYPE, NULL);
        }
    }
    if (k->decls && k->decls->allow_any_var)
        return NULL;
    cerr(k, "expr.undeclared", n->span, "undeclared reference to '%s'", n->name);
    return NULL;
}

/* The result type of a standard function, from its receiver's and arguments' types; dyn for
 * any function this table does not know (extension functions, ones added later). */
static ty call_type(checker *k, const expr_node *n, ty recv, ty arg0)
{
    static const struct { const char *name; uint8_t kind; } fixed[] = {
        {"size", EXPR_T_INT},         {"int", EXPR_T_INT},          {"uint", EXPR_T_UINT},
        {"double", EXPR_T_DOUBLE},    {"string", EXPR_T_STRING},    {"bytes", EXPR_T_BYTES},
        {"bool", EXPR_T_BOOL},        {"type", EXPR_T_TYPE},        {"contains", EXPR_T_BOOL},
        {"startsWith", EXPR_T_BOOL},  {"endsWith", EXPR_T_BOOL},    {"matches", EXPR_T_BOOL},
        {"isSorted", EXPR_T_BOOL},    {"hasValue", EXPR_T_BOOL},    {"lowerAscii", EXPR_T_STRING},
        {"upperAscii", EXPR_T_STRING}, {"trim", EXPR_T_STRING},     {"replace", EXPR_T_STRING},
        {"substring", EXPR_T_STRING}, {"charAt", EXPR_T_STRING},    {"join", EXPR_T_STRING},
    };
    /* Methods of strings only: on a value known to be something else they can only fail. */
    static const char *const string_methods[] = {"startsWith", "endsWith", "lowerAscii",
                                                 "upperAscii", "trim", "replace", "substring",
                                                 "charAt", "split", "matches"};
    const char *name = n->name;
    if (n->member) {
        for (size_t i = 0; i < sizeof string_methods / sizeof string_methods[0]; i++)
            if (strcmp(name, string_methods[i]) == 0 && tclass(recv) != C_ANY &&
                tclass(recv) != C_STRING)
                terr(k, "expr.type", n->span, "'%s' needs a string, not %s", name, tstr(k, recv));
    }
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, fixed[i].name) == 0)
            return mk(k, fixed[i].kind, NULL);
    if (strcmp(name, "split") == 0)
        return mk(k, EXPR_T_LIST, mk(k, EXPR_T_STRING, NULL));
    if (strcmp(name, "optional.of") == 0 || strcmp(name, "optional.ofNonZeroValue") == 0)
        return mk(k, EXPR_T_OPTIONAL, arg0);
    if (strcmp(name, "optional.none") == 0)
        return mk(k, EXPR_T_OPTIONAL, NULL);
    bool opt = recv != NULL && recv->kind == EXPR_T_OPTIONAL;
    if (strcmp(name, "value") == 0 && opt)
        return recv->elem;
    if (strcmp(name, "orValue") == 0 && opt)
        return join(k, recv->elem, arg0);
    if (strcmp(name, "or") == 0 && opt)
        return join(k, recv, arg0);
    return NULL;
}

/* Whether 'fn' may be called as 'n' calls it: as a method or a function, with as many
 * arguments as it takes (an expr.undeclared or expr.arity error when not). */
static bool call_fits(checker *k, const expr_node *n, const expr_fn_def *fn)
{
    if (!(fn->style & (n->member ? EXPR_MEMBER : EXPR_GLOBAL))) {
        cerr(k, "expr.undeclared", n->span,
             n->member ? "'%s' is not a method; call it as a function"
                       : "'%s' is a method; call it on a value (x.f())",
             n->name);
        return false;
    }
    /* For functions callable both ways the table counts the arguments after the subject,
     * which a global call passes first: size(x) is x.size(). */
    uint32_t given = n->nargs;
    if (!n->member && fn->style == EXPR_BOTH) {
        if (given == 0) {
            cerr(k, "expr.arity", n->span, "'%s' needs a value to work on", n->name);
            return false;
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
        return false;
    }
    return true;
}

/* A literal pattern of matches() is compiled once, here, and kept with the program. */
static void compile_pattern(checker *k, expr_node *n)
{
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

static ty check_call(checker *k, expr_node *n)
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
    ty recv = NULL, argt[2] = {NULL, NULL};
    if (n->member)
        recv = check_node(k, n->a);
    for (uint32_t i = 0; i < n->nargs; i++) {
        ty t = check_node(k, n->args[i]);
        if (i < 2)
            argt[i] = t;
    }
    if (n->name == NULL)
        return NULL;
    const expr_fn_def *fn = expr_find_fn(n->name, k->decls);
    n->or_value = fn != NULL && n->member && n->nargs == 1 && strcmp(n->name, "orValue") == 0 &&
                  fn == expr_find_fn("orValue", NULL) && n->a->op == N_SELECT &&
                  n->a->qualified == NULL;
    if (fn == NULL) {
        cerr(k, "expr.undeclared", n->span, "undeclared function '%s'", n->name);
        return NULL;
    }
    if (!call_fits(k, n, fn))
        return NULL;
    n->fn = fn;
    if (strcmp(n->name, "matches") == 0)
        compile_pattern(k, n);
    /* a function of the library's own: its result type is the library's to tell */
    bool own = k->decls && fn >= k->decls->fns && fn < k->decls->fns + k->decls->n_fns;
    if (own && k->decls->fn_type != NULL) {
        const char *lits[EXPR_CALL_SITE_ARGS] = {NULL};
        for (uint32_t i = 0; i < n->nargs && i < EXPR_CALL_SITE_ARGS; i++) {
            const expr_node *arg = n->args[i];
            if (arg->op == N_LIT && arg->lit.kind == EXPR_STRING &&
                strlen(arg->lit.v.s) == arg->lit.len)
                lits[i] = arg->lit.v.s;
        }
        return k->decls->fn_type(k->decls->fn_type_ctx, n->name, n->nargs, lits);
    }
    /* size(x) is x.size(): the subject of a global call of a method is its first argument */
    if (!n->member && fn->style == EXPR_BOTH)
        return call_type(k, n, argt[0], argt[1]);
    return call_type(k, n, recv, argt[0]);
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

/* The span of the field name of a selection (a.b: the 'b'), where a caret points. */
static expr_span field_span(const expr_node *n)
{
    expr_span s = n->span;
    if (s.end - s.start > n->name_len)
        s.start = s.end - n->name_len;
    return s;
}

/* The type of field 'name' (written at 'span') of a value of type 't'; reports a field that
 * the object type cannot have, with the nearest one it has. */
static ty field_of(checker *k, ty t, const char *name, expr_span span)
{
    if (t == NULL)
        return NULL;
    switch (t->kind) {
    case EXPR_T_OBJECT: {
        ty f;
        if (expr_type_field(t, name, &f))
            return f;
        const char *hint = expr_type_suggest(t, name);
        char dym[200] = "";
        if (hint != NULL)
            snprintf(dym, sizeof dym, "; did you mean '%s'?", hint);
        if (t->basis != NULL) {
            /* Kubernetes' own kinds: the vendored schema may be older than the cluster, and
             * a field a newer release added must not fail lint; a typo still gets the hint */
            if (k->decls != NULL && k->decls->check_types) {
                char msg[512];
                snprintf(msg, sizeof msg, "'%s' is not in %s's schema of %s (a field added "
                         "since then is fine)%s", name, t->basis, t->what ? t->what : "it", dym);
                diag_at(k->dl, DIAG_WARNING, "expr.field", span, k->at, msg);
            }
            return NULL;
        }
        if (t->what != NULL && strcmp(t->what, "params") == 0)
            terr(k, "expr.field", span, "undeclared param '%s' (spec.params has no such key)%s",
                 name, dym);
        else
            terr(k, "expr.field", span, "no field '%s' in %s%s", name,
                 t->what ? t->what : "this map", dym);
        return NULL;
    }
    case EXPR_T_MAP: return t->elem;
    case EXPR_T_DYN: case EXPR_T_NULL: return NULL;
    default:
        terr(k, "expr.type", span, "%s has no field '%s'", tstr(k, t), name);
        return NULL;
    }
}

/* The qualified names of the library types (fn_url.c, fn_net.c): type(ip(s)) == net.IP. */
static const char *const qualified_types[] = {"net.IP", "net.CIDR", "kubernetes.URL"};

/* Records the dotted name of a selection when it could name a binding (CEL resolves the
 * longest qualified name first: with a binding "a.b", a.b.c is that binding's field c). */
static ty check_select(checker *k, expr_node *n)
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
                return NULL; /* a type: not one the checker compares */
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
        return n->qualified ? decl_type(k, n->decl) : NULL;
    }
    ty base = check_node(k, n->a);
    if (n->qualified != NULL)
        return decl_type(k, n->decl);
    if (n->name_nul)
        return NULL; /* no JSON key can hold a NUL: evaluation reports it */
    /* a.?b is optional, and so is every selection chained after one */
    bool opt = n->optional;
    if (base != NULL && base->kind == EXPR_T_OPTIONAL) {
        opt = true;
        base = base->elem;
    }
    ty f = field_of(k, base, n->name, field_span(n));
    return opt ? mk(k, EXPR_T_OPTIONAL, f) : f;
}

static ty check_index(checker *k, expr_node *n)
{
    ty base = check_node(k, n->a), key = check_node(k, n->b);
    bool opt = n->optional;
    if (base != NULL && base->kind == EXPR_T_OPTIONAL) {
        opt = true;
        base = base->elem;
    }
    ty r = NULL;
    const expr_node *kn = n->b;
    switch (tclass(base)) {
    case C_LIST:
        if (tclass(key) != C_ANY && tclass(key) != C_NUM)
            terr(k, "expr.type", kn->span, "a list index must be a number, not %s", tstr(k, key));
        r = base->elem;
        break;
    case C_MAP:
        /* m["key"] is m.key for the schema */
        if (base->kind == EXPR_T_OBJECT && kn->op == N_LIT && kn->lit.kind == EXPR_STRING &&
            strlen(kn->lit.v.s) == kn->lit.len)
            r = field_of(k, base, kn->lit.v.s, kn->span);
        else if (base->kind == EXPR_T_MAP)
            r = base->elem;
        break;
    case C_ANY: break;
    default: terr(k, "expr.type", n->span, "%s cannot be indexed", tstr(k, base)); break;
    }
    return opt ? mk(k, EXPR_T_OPTIONAL, r) : r;
}

static void want_bool(checker *k, ty t, const expr_node *n, const char *what)
{
    if (tclass(t) != C_ANY && tclass(t) != C_BOOL)
        terr(k, "expr.type", n->span, "%s must be a bool, not %s", what, tstr(k, t));
}

static ty check_bin(checker *k, expr_node *n)
{
    static const char *const ops[] = {[B_ADD] = "+", [B_SUB] = "-", [B_MUL] = "*", [B_DIV] = "/",
                                      [B_MOD] = "%",  [B_EQ] = "==", [B_NE] = "!=", [B_LT] = "<",
                                      [B_LE] = "<=",  [B_GT] = ">",  [B_GE] = ">=", [B_IN] = "in"};
    ty x = check_node(k, n->a), y = check_node(k, n->b);
    enum tclass cx = tclass(x), cy = tclass(y);
    const char *op = ops[n->sub];
    switch ((enum bin_op)n->sub) {
    case B_EQ:
    case B_NE:
        /* heterogeneous equality: no error at run time, but never equal */
        if (cx != C_ANY && cy != C_ANY && cx != cy)
            terr(k, "expr.type", n->span, "'%s' compares %s with %s, which are never equal", op,
                 tstr(k, x), tstr(k, y));
        return mk(k, EXPR_T_BOOL, NULL);
    case B_IN:
        if (cy != C_ANY && cy != C_LIST && cy != C_MAP)
            terr(k, "expr.type", n->span, "'in' needs a list or a map on its right, not %s",
                 tstr(k, y));
        return mk(k, EXPR_T_BOOL, NULL);
    case B_LT: case B_LE: case B_GT: case B_GE: {
        bool ordered = cx == C_NUM || cx == C_STRING || cx == C_BYTES || cx == C_BOOL;
        if (cx != C_ANY && cy != C_ANY && (cx != cy || !ordered))
            terr(k, "expr.type", n->span, "'%s' cannot compare %s with %s", op, tstr(k, x),
                 tstr(k, y));
        else if ((cx != C_ANY && !ordered) ||
                 (cy != C_ANY && cy != C_NUM && cy != C_STRING && cy != C_BYTES && cy != C_BOOL))
            terr(k, "expr.type", n->span, "'%s' cannot compare %s", op, tstr(k, cx ? x : y));
        return mk(k, EXPR_T_BOOL, NULL);
    }
    default: break;
    }
    /* arithmetic: both operands of one kind (CEL converts nothing implicitly), and '+' also
     * joins strings, bytes and lists */
    bool add = n->sub == B_ADD;
    for (int side = 0; side < 2; side++) {
        ty t = side ? y : x;
        enum tclass c = tclass(t);
        if (c != C_ANY && c != C_NUM && !(add && (c == C_STRING || c == C_BYTES || c == C_LIST))) {
            terr(k, "expr.type", n->span, "'%s' is not defined for %s", op, tstr(k, t));
            return NULL;
        }
    }
    if (x != NULL && y != NULL && (x->kind != y->kind || (x->kind == EXPR_T_DOUBLE &&
                                                          n->sub == B_MOD))) {
        terr(k, "expr.type", n->span, "'%s' is not defined for %s and %s", op, tstr(k, x),
             tstr(k, y));
        return NULL;
    }
    if (x != NULL && y != NULL && x->kind == EXPR_T_LIST)
        return mk(k, EXPR_T_LIST, join(k, x->elem, y->elem));
    return x != NULL ? x : y;
}

static ty check_comp(checker *k, expr_node *n)
{
    ty r = check_node(k, n->a), var = NULL;
    enum tclass c = tclass(r);
    if (n->sub == M_BIND)
        var = r;
    else if (n->sub == M_OPT_MAP || n->sub == M_OPT_FLAT_MAP)
        var = c == C_OPT ? r->elem : NULL;
    else if (c == C_LIST)
        var = r->elem;
    else if (c == C_MAP) /* over a map's keys: an object's are strings */
        var = r->kind == EXPR_T_OBJECT ? mk(k, EXPR_T_STRING, NULL) : NULL;
    else if (c != C_ANY)
        terr(k, "expr.type", n->a->span, "a comprehension needs a list or a map, not %s",
             tstr(k, r));
    /* Two variables (cel-go's comprehensions extension): over a list the index and the
     * element, over a map the key and the value. */
    ty var2 = NULL;
    if (n->name2 != NULL) {
        var2 = c == C_LIST ? r->elem : c == C_MAP && r->kind == EXPR_T_MAP ? r->elem : NULL;
        var = c == C_LIST ? mk(k, EXPR_T_INT, NULL) : var;
    }
    ty b = NULL, t = NULL;
    size_t nvars = 1 + (n->name2 != NULL);
    if (k->nscope + nvars <= EXPR_MAX_DEPTH + 1) {
        /* the slots match the evaluator's locals: the first variable, then the second */
        k->scope_type[k->nscope] = var;
        k->scope_of[k->nscope] = n->name;
        k->scope[k->nscope++] = n->name;
        if (n->name2 != NULL) {
            k->scope_type[k->nscope] = var2;
            k->scope_of[k->nscope] = n->name2;
            k->scope[k->nscope++] = n->name2;
        }
        b = check_node(k, n->b);
        t = check_node(k, n->c);
        k->nscope -= nvars;
    }
    switch ((enum macro_kind)n->sub) {
    case M_ALL: case M_EXISTS: case M_EXISTS_ONE:
        if (n->b != NULL)
            want_bool(k, b, n->b, "the predicate");
        return mk(k, EXPR_T_BOOL, NULL);
    case M_FILTER:
        if (n->b != NULL)
            want_bool(k, b, n->b, "the predicate");
        return mk(k, EXPR_T_LIST, var);
    case M_MAP:
        if (n->b != NULL)
            want_bool(k, b, n->b, "the filter");
        return mk(k, EXPR_T_LIST, t);
    case M_OPT_MAP: return mk(k, EXPR_T_OPTIONAL, b);
    case M_OPT_FLAT_MAP: case M_BIND: return b;
    case M_TRANSFORM_LIST:
        if (n->b != NULL)
            want_bool(k, b, n->b, "the filter");
        return mk(k, EXPR_T_LIST, t);
    case M_TRANSFORM_MAP: case M_TRANSFORM_MAP_ENTRY:
        if (n->b != NULL)
            want_bool(k, b, n->b, "the filter");
        return mk(k, EXPR_T_MAP, n->sub == M_TRANSFORM_MAP ? t : NULL);
    }
    return NULL;
}

static ty lit_type(checker *k, const expr_node *n)
{
    switch (n->lit.kind) {
    case EXPR_NULL: return mk(k, EXPR_T_NULL, NULL);
    case EXPR_BOOL: return mk(k, EXPR_T_BOOL, NULL);
    case EXPR_INT: return mk(k, EXPR_T_INT, NULL);
    case EXPR_UINT: return mk(k, EXPR_T_UINT, NULL);
    case EXPR_DOUBLE: return mk(k, EXPR_T_DOUBLE, NULL);
    case EXPR_STRING: return mk(k, EXPR_T_STRING, NULL);
    case EXPR_BYTES: return mk(k, EXPR_T_BYTES, NULL);
    default: return NULL;
    }
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

/* A list or map literal whose entries are all literals (none optional, no repeated key; a
 * folded literal counts) gets its value built here, once, in the program's arena: CEL values
 * are immutable, so every evaluation can share it instead of building it again (the shipped
 * policies write such lists and maps inside comprehensions: ['cassandra', ...] per
 * container). The tree stays as it is, for whoever walks it; eval_list() and eval_map()
 * answer 'folded' and charge the steps the entries would have cost, so that the budget
 * decides as it did (nothing in it can fail or depend on a binding). */
static void fold_literal(checker *k, expr_node *n)
{
    bool is_map = n->op == N_MAP;
    uint32_t steps = 0;
    if (is_map && !n->distinct_keys)
        return;
    for (uint32_t i = 0; i < n->nargs; i++) {
        const expr_node *x = n->args[i];
        if (!(x->op == N_LIT && !x->int_overflow) && !x->folded)
            return;
        if (n->opt != NULL && n->opt[is_map ? i / 2 : i])
            return;
        steps += 1 + (x->folded ? x->fold_steps : 0); /* an N_LIT's slot is name_len's */
    }
    expr_value v = {.kind = is_map ? EXPR_MAP : EXPR_LIST};
    if (is_map) {
        expr_map *m = ev_map_new(k->a, n->nargs / 2);
        if (m == NULL)
            return;
        for (uint32_t i = 0; i < n->nargs; i++)
            m->kv[i] = n->args[i]->lit;
        v.v.map = m;
    } else {
        expr_list *l = ev_list_new(k->a, n->nargs);
        if (l == NULL)
            return;
        for (uint32_t i = 0; i < n->nargs; i++)
            l->items[i] = n->args[i]->lit;
        v.v.list = l;
    }
    n->lit = v;
    n->folded = true;
    n->fold_steps = steps;
}

/* How eval() runs 'n' once it is checked (enum node_run): in place, or the form for its
 * shape, or its kind's own function. */
static uint8_t node_run(const expr_node *n)
{
    switch (n->op) {
    case N_LIT:
        if (!n->int_overflow)
            return R_LIT;
        break;
    case N_IDENT:
        if (n->local >= 0)
            return R_LOCAL;
        break;
    case N_SELECT:
        return n->qualified != NULL ? R_QUALIFIED : R_FIELD;
    case N_BIN:
        if (n->sub == B_EQ || n->sub == B_NE)
            return R_EQ;
        break;
    case N_CALL:
        if (n->or_value)
            return R_OR_VALUE;
        if (n->fn != NULL && n->re != NULL)
            return R_MATCH;
        if (n->fn != NULL && n->nargs <= R_CALL_ARGS)
            return R_CALL;
        break;
    case N_COMP:
        if (n->sub == M_BIND && n->name2 == NULL)
            return R_BIND;
        break;
    default: break;
    }
    return (uint8_t)(R_KIND + n->op);
}

static ty check_kind(checker *k, expr_node *n);

/* Checks 'n' (NULL: nothing), then chooses how it runs: the checker may have changed its
 * kind (a type's name: a literal) or found its shape (a comprehension variable's slot,
 * variables.x, x.?f.orValue(d)). */
static ty check_node(checker *k, expr_node *n)
{
    if (n == NULL)
        return NULL;
    ty t = check_kind(k, n);
    n->run = node_run(n);
    return t;
}

static ty check_kind(checker *k, expr_node *n)
{
    switch (n->op) {
    case N_LIT: return lit_type(k, n);
    case N_SELECT: return check_select(k, n);
    case N_IDENT: return check_ident(k, n);
    case N_CALL: return check_call(k, n);
    case N_COMP: return check_comp(k, n);
    case N_INDEX: return check_index(k, n);
    case N_BIN: return check_bin(k, n);
    case N_HAS:
        check_node(k, n->a);
        return mk(k, EXPR_T_BOOL, NULL);
    case N_LIST: {
        ty elem = NULL;
        bool any_opt = false;
        for (uint32_t i = 0; i < n->nargs; i++) {
            ty t = check_node(k, n->args[i]);
            any_opt |= n->opt != NULL && n->opt[i];
            elem = i == 0 ? t : join(k, elem, t);
        }
        expr_type *t = expr_type_new(k->a, EXPR_T_LIST, any_opt ? NULL : elem);
        if (t != NULL)
            t->empty = n->nargs == 0;
        fold_literal(k, n);
        return t;
    }
    case N_MAP: {
        ty val = NULL;
        bool any_opt = false;
        for (uint32_t i = 0; i < n->nargs; i++) {
            ty t = check_node(k, n->args[i]);
            any_opt |= n->opt != NULL && n->opt[i / 2];
            if (i % 2 == 1)
                val = i == 1 ? t : join(k, val, t);
        }
        n->distinct_keys = literal_keys_distinct(n);
        expr_type *t = expr_type_new(k->a, EXPR_T_MAP, any_opt ? NULL : val);
        if (t != NULL)
            t->empty = n->nargs == 0;
        fold_literal(k, n);
        return t;
    }
    case N_NOT: {
        ty t = check_node(k, n->a);
        want_bool(k, t, n->a, "the operand of '!'");
        return mk(k, EXPR_T_BOOL, NULL);
    }
    case N_NEG: {
        ty t = check_node(k, n->a);
        if (tclass(t) != C_ANY && tclass(t) != C_NUM)
            terr(k, "expr.type", n->span, "'-' needs a number, not %s", tstr(k, t));
        return t;
    }
    case N_AND:
    case N_OR: {
        ty x = check_node(k, n->a), y = check_node(k, n->b);
        const char *what = n->op == N_AND ? "an operand of '&&'" : "an operand of '||'";
        want_bool(k, x, n->a, what);
        want_bool(k, y, n->b, what);
        return mk(k, EXPR_T_BOOL, NULL);
    }
    case N_COND: {
        ty c = check_node(k, n->a);
        want_bool(k, c, n->a, "the condition of '?:'");
        ty x = check_node(k, n->b), y = check_node(k, n->c);
        return join(k, x, y);
    }
    default:
        check_node(k, n->a);
        check_node(k, node_b(n));
        check_node(k, node_c(n));
        return NULL;
    }
}

int expr_check_tree(arena *a, expr_node *root, const expr_decls *decls, const srcpos *at,
                    diag_list *dl, const expr_type **out)
{
    checker k = {.decls = decls, .at = at, .dl = dl, .a = a};
    ty t = check_node(&k, root);
    if (out != NULL)
        *out = t;
    return k.errors > 0 ? -1 : 0;
}
