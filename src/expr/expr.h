/* expr.h - the policy expression language: a faithful subset of CEL (cel-spec).
 *
 * Compile once (parse + check), evaluate many times. A compiled program is immutable and
 * may be shared by threads. Evaluation never fails hard: runtime problems (a missing field,
 * division by zero, a type mismatch, a limit) become error values that carry the span of
 * the failing node. JSON inputs are evaluated in place: borrowed cJSON nodes, no copy.
 * The module knows nothing about Kubernetes; domain functions plug in as extension
 * functions (expr_fn_def). */
#ifndef SG_EXPR_H
#define SG_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../util/arena.h"
#include "../util/diag.h"

#define EXPR_MAX_DEPTH    100     /* parser nesting of (), [], {} and calls */
#define EXPR_MAX_STEPS    200000  /* evaluation steps per evaluation, or per shared budget */
#define EXPR_SCAN_PER_STEP 16     /* elements an operator scans or copies for one step */
#define EXPR_MAX_ELEMENTS 100000  /* elements of a list or map built during evaluation */
#define EXPR_MAX_STRING   (1u << 20) /* bytes of a string built during evaluation */
#define EXPR_MAX_SOURCE   (64u << 10) /* bytes of one expression */

typedef struct expr_span {
    uint32_t start, end; /* byte offsets into the expression text */
} expr_span;

enum expr_kind {
    EXPR_NULL,
    EXPR_BOOL,
    EXPR_INT,
    EXPR_UINT,
    EXPR_DOUBLE,
    EXPR_STRING,
    EXPR_BYTES,
    EXPR_LIST,
    EXPR_MAP,
    EXPR_TYPE,
    EXPR_OPTIONAL,
    EXPR_OPAQUE, /* an extension value, e.g. a Kubernetes quantity */
    EXPR_ERROR,
};

typedef struct expr_value expr_value;
typedef struct expr_list expr_list;
typedef struct expr_map expr_map;
typedef struct expr_error expr_error;
typedef struct expr_opaque expr_opaque;

/* A value. Small and copied by value; what it points to is arena-owned or borrowed from the
 * input JSON, and lives as long as the evaluation's arena. */
struct expr_value {
    uint8_t kind;    /* enum expr_kind */
    uint8_t json;    /* EXPR_LIST/EXPR_MAP: 1 when 'j' is a borrowed cJSON array/object */
    uint32_t len;    /* EXPR_STRING/EXPR_BYTES: length in bytes */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        const char *s;          /* string (UTF-8) or bytes; not NUL-terminated in general */
        const cJSON *j;         /* borrowed JSON list or map */
        const expr_list *list;  /* built list */
        const expr_map *map;    /* built map */
        const char *type;       /* type name: "int", "list", "optional_type", ... */
        const expr_value *opt;  /* optional: NULL is optional.none() */
        const expr_opaque *obj; /* extension value */
        const expr_error *err;
    } v;
};

struct expr_list {
    uint32_t n;
    expr_value items[];
};

struct expr_map {
    uint32_t n;
    expr_value kv[]; /* key, value, key, value, ... */
};

struct expr_error {
    const char *code; /* "expr.no_such_key", "expr.overflow", "expr.limit", ... */
    const char *msg;
    expr_span span;
};

/* An extension value type: name and the operations CEL needs on it. */
typedef struct expr_opaque_type {
    const char *name;                                           /* type(x) gives this */
    bool (*equal)(const expr_opaque *a, const expr_opaque *b);  /* == and != */
    const char *(*to_string)(const expr_opaque *o, arena *a);   /* string(x) and printing */
} expr_opaque_type;

struct expr_opaque {
    const expr_opaque_type *type;
    const void *data;
};

/* Indexes of the large maps and lists an evaluation reads (declared below). */
typedef struct expr_index expr_index;

/* The evaluation context a function gets: for allocation and errors. */
typedef struct expr_call {
    arena *a;
    expr_span span; /* the call's span, for errors */
    void *ctx;      /* the environment's fn_ctx: what extension functions need per request */
    expr_index *index; /* the evaluation's map and list indexes (may be NULL) */
} expr_call;

/* A function implementation. 'recv' is the receiver for member-style calls (a.f(x)) and NULL
 * for global calls (f(a, x)); 'args' excludes it. Returns a value or an error value. */
typedef expr_value (*expr_fn)(const expr_call *c, const expr_value *recv, const expr_value *args,
                              size_t nargs);

enum expr_call_style { EXPR_GLOBAL = 1, EXPR_MEMBER = 2, EXPR_BOTH = 3 };

typedef struct expr_fn_def {
    const char *name;
    uint8_t style;    /* enum expr_call_style */
    uint8_t min_args; /* not counting the receiver */
    uint8_t max_args;
    expr_fn fn;
    /* its answer may differ between calls with the same arguments (lookup(): the cluster
     * changes), so it is never computed ahead (expr_prog_constant) */
    bool impure;
} expr_fn_def;

/* ---- types, as the checker infers them (types.c) ----
 *
 * The checker gives every node a type where it can tell one (literals, operators, the types
 * declared for bindings, the result types of the standard functions) and 'dyn' where it cannot,
 * so that an expression that can only fail (a validation that yields a string, int <= "64", a
 * field no schema has) is an error at load time, and nothing that might work is one. */
enum expr_type_kind {
    EXPR_T_DYN, EXPR_T_NULL, EXPR_T_BOOL, EXPR_T_INT, EXPR_T_UINT, EXPR_T_DOUBLE, EXPR_T_STRING,
    EXPR_T_BYTES, EXPR_T_LIST, EXPR_T_MAP, EXPR_T_TYPE, EXPR_T_OPTIONAL,
    EXPR_T_OBJECT, /* a map with known string keys (a schema's properties, params) */
};

typedef struct expr_type expr_type;
struct expr_type {
    uint8_t kind;         /* enum expr_type_kind */
    bool open;            /* OBJECT: keys beyond 'names' may be present (are dyn) */
    bool empty;           /* LIST, MAP: the literal [] or {}, which joins with any of its kind */
    const expr_type *elem; /* LIST element, MAP value, OPTIONAL value; NULL is dyn */
    const char *what;     /* OBJECT: how messages name it ("params", "FlinkDeployment spec.job") */
    /* OBJECT: NULL when a field it does not list cannot exist (an error). Else the schema it
     * comes from may be older than the objects ("Kubernetes 1.20.2": a newer release may have
     * added the field), and such a field is a warning naming it; the field is then dyn. */
    const char *basis;
    uint32_t n_fields;    /* OBJECT */
    const char **names;
    const expr_type **types; /* NULL entries are dyn */
};

/* A type of 'kind' from 'a' (zeroed but for kind and elem); NULL when out of memory. */
expr_type *expr_type_new(arena *a, enum expr_type_kind kind, const expr_type *elem);

/* The union of two schemas (two versions or two kinds of one binding): an object has the
 * fields of both, a field of different types in each is dyn. NULL (dyn) absorbs. */
const expr_type *expr_type_merge(arena *a, const expr_type *x, const expr_type *y);

/* The type of a fixed JSON value (a policy's params): maps become closed objects named
 * 'what' ("params"), so a key they do not have is an error. */
const expr_type *expr_type_of_json(arena *a, const cJSON *j, const char *what);

/* "int", "list(string)", "map(string, dyn)", "params" (an object by its name); NULL is "dyn". */
const char *expr_type_str(arena *a, const expr_type *t);

/* The field 'name' of object type 't': sets '*field' (NULL: dyn) and returns true when it has
 * one or is open; false when no such field can exist. */
bool expr_type_field(const expr_type *t, const char *name, const expr_type **field);

/* Levenshtein distance of 'x' and 'y' (one row); (size_t)-1 when either is longer than 64
 * bytes: such names are never suggested. The "did you mean" of fields, params and policies. */
size_t expr_edit_distance(const char *x, const char *y);

/* The object field of 't' nearest to 'name' by edit distance, when near enough to be a
 * misspelling of it; NULL otherwise. */
const char *expr_type_suggest(const expr_type *t, const char *name);

/* What a compilation may use: variable names and extension functions. */
typedef struct expr_decls {
    const char *const *vars; /* names of the bindings, e.g. object, oldObject, params */
    const expr_type *const *var_types; /* NULL, or the type of each of 'vars' (NULL: dyn) */
    size_t n_vars;
    const expr_fn_def *fns; /* extension functions, looked up after the standard ones */
    size_t n_fns;
    bool allow_any_var; /* conformance tests: every free identifier is a binding */
    /* Report what the inferred types show can only fail ("expr.type", "expr.field"), as
     * policies do. Off, compilation is cel-spec's unchecked mode ('false && 32' is false). */
    bool check_types;
    /* The result type of a call of one of 'fns' (NULL, or a NULL answer: dyn), from what the
     * checker sees of its arguments: lits[i] is argument i when it is a string literal (with
     * no NUL of its own), else NULL, for i < EXPR_CALL_SITE_ARGS. How a library types what
     * only it knows (policy/: lookup('v1', 'Node', ...) is a Node). */
    const expr_type *(*fn_type)(void *ctx, const char *fn, uint32_t nargs,
                                const char *const *lits);
    void *fn_type_ctx;
} expr_decls;

typedef struct expr_prog expr_prog;

/* Parses and checks 'len' bytes of 'src'. Errors go to 'dl' positioned by 'at' (where the
 * text sits: its source and offset, and a map when it is not a verbatim slice of the source;
 * NULL or no source: no position; diag.h) with codes
 * "expr.syntax", "expr.limit", "expr.undeclared", "expr.arity", "expr.regex", "expr.type" (an
 * operation no value of the inferred types allows) and "expr.field" (a field the declared
 * type of an object cannot have). Returns a
 * program allocated from 'a' (which must outlive it), or NULL when there were errors. */
expr_prog *expr_compile(arena *a, const char *src, size_t len, const expr_decls *decls,
                        const srcpos *at, diag_list *dl);

/* The type of the value 'p' yields, as the checker inferred it (NULL: dyn). */
const expr_type *expr_prog_type(const expr_prog *p);

/* Adds an "expr.type" error when 'p' cannot yield a bool ('what': "a validation"); the caret
 * under the whole expression. Returns 0, or -1 after adding it. */
int expr_prog_expect_bool(const expr_prog *p, const char *what, const srcpos *at, diag_list *dl);

/* A call of a global function in a compiled program, for checks made when policies load
 * (which kinds lookup() names). Argument i < EXPR_CALL_SITE_ARGS is described in args[i]:
 * 'lit' is its text when it is a string literal (NUL-terminated; owned by the program, and
 * possibly holding a NUL of its own before 'len'), NULL when it is any other expression.
 * 'path' names, root first, the global binding and the plain fields an argument such as
 * params.operatorConfigMap.name selects ('npath' of them, each NUL-terminated and owned by the
 * program); 'npath' is 0 for any other expression: a literal, a call, an optional (.?f) or an
 * index selection, a comprehension's or cel.bind's variable, a field name holding a NUL, or
 * a path longer than EXPR_CALL_SITE_PATH. */
#define EXPR_CALL_SITE_ARGS 4
#define EXPR_CALL_SITE_PATH 8
typedef struct expr_call_site {
    expr_span span;  /* the whole call */
    uint32_t nargs;
    struct {
        const char *lit;
        uint32_t len;
        expr_span span;
        uint32_t npath;
        const char *path[EXPR_CALL_SITE_PATH];
    } args[EXPR_CALL_SITE_ARGS];
} expr_call_site;

/* Calls 'visit' for every global call of the function named 'fn' in 'p', in source order
 * (also inside comprehensions and the arguments of other calls). Returns how many. */
size_t expr_each_call(const expr_prog *p, const char *fn,
                      void (*visit)(void *ctx, const expr_call_site *cs), void *ctx);

/* Whether 'p' reads nothing but literals, type names, its own comprehension and cel.bind
 * variables and the declarations 'decl' accepts (by their index in expr_decls.vars), and calls
 * no impure function (expr_fn_def.impure), so that its value can be computed once. A name
 * resolved only when evaluated (no declaration) is not. */
bool expr_prog_constant(const expr_prog *p, bool (*decl)(void *ctx, size_t index), void *ctx);

#define EXPR_DECL_PATH 8 /* fields of a declaration's path expr_each_decl() gives at most */

/* Calls 'visit' for every read of 'p' of a name that is not its own comprehension or cel.bind
 * variable nor a type: 'decl' is the declaration the checker resolved it to (its index in
 * expr_decls.vars; -1 for a name resolved only when evaluated), and 'path' the plain fields
 * selected from it, root first (params.a.b: "a", "b"; the first EXPR_DECL_PATH of a longer
 * chain; none when it is indexed, selected with .?, or used whole). */
void expr_each_decl(const expr_prog *p,
                    void (*visit)(void *ctx, int32_t decl, const char *const *path, uint32_t n),
                    void *ctx);

/* Adds an error about the span 'span' of 'p''s text to 'dl', positioned the way expr_compile
 * positions its own errors ('at' as given to it). */
void expr_prog_diag(const expr_prog *p, diag_list *dl, const char *code, expr_span span,
                    const srcpos *at, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The bindings of one evaluation, by the names the program was compiled with. */
typedef struct expr_binding {
    const char *name;
    expr_value value;
} expr_binding;

/* expr_index: indexes of the large maps an evaluation looks keys up in (a JSON object or a
 * built map of more than 16 keys gets one on the first lookup its first 16 entries do not
 * answer), and the sizes and elements of large JSON lists, by address. One per request,
 * shared by its evaluations, so each is built once: lookups, size() and list[i] cost O(1),
 * not O(n). Lives in the arena it was made in. What it names must not change while it is in
 * use: after changing JSON that evaluations read, call expr_index_clear().
 *
 * Creates an empty index set allocated from 'a' (the request arena), or NULL when out of
 * memory (evaluations then index per evaluation, or scan). */
expr_index *expr_index_new(arena *a);

/* Forgets every index in 'x' (their memory stays in the arena). NULL is accepted. */
void expr_index_clear(expr_index *x);

/* Looks 'key' ('len' bytes) up in the map 'm' (built or JSON) as the evaluator does, through
 * the call's index for large maps; sets '*out' and returns true when found. For extension
 * functions that read a map they were given. */
bool expr_map_get(const expr_call *c, const expr_value *m, const char *key, size_t len,
                  expr_value *out);

/* A step budget shared by several evaluations: a policy rule's expressions and the variables
 * they pull in are charged to one, as Kubernetes charges one cost budget per policy
 * evaluation. Caller's storage: zero it, and set 'max' (0 means EXPR_MAX_STEPS). */
typedef struct expr_budget {
    uint32_t used, max;
    /* the running evaluation's count, while one runs (current whenever it asks 'resolve' or
     * 'resolve_decl' for a name, which may read and move it on); NULL between them */
    uint32_t *live;
} expr_budget;

#define EXPR_MEMO_READY 2 /* expr_env.memo_state: the value is in expr_env.memo */

typedef struct expr_env {
    const expr_binding *vars;
    size_t n_vars;
    /* When true, the program's declarations were given to expr_compile with 'vars' first and
     * in their order (expr_decls.vars[i] is vars[i].name for i < n_vars): such a name is read
     * from vars[i] directly, without asking 'resolve_decl' (one call less for every read of
     * a binding such as object or params). */
    bool vars_are_decls;
    uint32_t max_steps; /* 0 means EXPR_MAX_STEPS; ignored when 'budget' is set */
    /* When set, the evaluation counts its steps in it, after those of earlier evaluations and
     * of evaluations made inside this one (variables asked of 'resolve' that evaluate with
     * the same budget), and fails with expr.limit past budget->max. */
    expr_budget *budget;
    /* Names not in 'vars' (a qualified one such as "variables.ha" first, as CEL resolves
     * the longest name) are asked of 'resolve', when set: it returns true and sets '*out'
     * when it knows the name. Policies use it to evaluate their variables lazily. */
    bool (*resolve)(void *ctx, const char *name, arena *a, expr_value *out);
    /* When set, a name the program resolved at compile time to entry 'index' of its
     * expr_decls.vars is asked of this first, by that index: no string comparisons per
     * access. It returns false to fall back to 'vars' and 'resolve' by name. */
    bool (*resolve_decl)(void *ctx, size_t index, arena *a, expr_value *out);
    /* When set, the caller's memo of the declarations after 'vars' (a policy's variables):
     * entry d - n_vars, for d < n_vars + n_memo, whose memo_state byte is EXPR_MEMO_READY
     * holds the value of d ('resolve_decl' would give it, with no steps or other effect left
     * to take) and is read in place, before 'resolve_decl' is considered (the second and later
     * reads of variables.x: no call, no publish and read-back of the step count). Any other
     * state asks 'resolve_decl', which may fill the entry. Both arrays are the caller's and
     * live as long as the env. */
    const expr_value *memo;
    const unsigned char *memo_state;
    size_t n_memo;
    void *resolve_ctx;
    void *fn_ctx; /* passed to extension functions as expr_call.ctx */
    expr_index *index; /* shared by the evaluations of a request; NULL: one per evaluation */
} expr_env;

/* Walks a list's elements or a map's entries in order, built or borrowed JSON alike (O(1) a
 * step for JSON too), for extension functions that read their arguments. */
typedef struct expr_iter {
    const expr_value *v;
    const cJSON *c; /* next JSON child */
    uint32_t i, n;
} expr_iter;

/* Starts at the first element or entry of 'v', a list or a map. */
void expr_iter_init(expr_iter *it, const expr_value *v);

/* Sets '*key' (maps only; may be NULL) and '*val' to the next entry; false at the end. */
bool expr_iter_next(expr_iter *it, expr_value *key, expr_value *val);

/* Evaluates 'p' in 'env', allocating from 'a'. Returns the value; an evaluation error is
 * returned as an EXPR_ERROR value, never a crash. */
expr_value expr_eval(const expr_prog *p, const expr_env *env, arena *a);

/* The text 'p' was compiled from (NUL-terminated, owned by the program's arena). */
const char *expr_source(const expr_prog *p);

/* Returns the value of a JSON node: null, bool, string, list, map; a number is an int when
 * it is integral and fits int64 (JSON has no int type: 3 and 3.0 are both the int 3), and a
 * double otherwise. Borrows 'j'. */
expr_value expr_from_json(const cJSON *j);

/* Makes an error value; 'msg' is formatted into 'a'. Declared cold, as are the error makers
 * built on it: an error is the exception on a review, so gcc lays the branches that make one
 * out of line (.text.unlikely), and a review runs through fewer lines of code (cache lines
 * of code are much of what a request costs in the server: docs/server.md). */
expr_value expr_error_new(arena *a, const char *code, expr_span span, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), cold));

/* A string an extension function builds in its call's arena, capped at EXPR_MAX_STRING bytes
 * like the strings CEL builds. Start it as {.a = arena} (or with 'p' and 'cap' set to room
 * already allocated in it); 'err' is set by the first append that does not fit (too long, or
 * no memory), and the appends after it do nothing. The bytes are not NUL-terminated; 'p' is
 * NULL while nothing was appended. */
typedef struct expr_strbuf {
    arena *a;
    char *p;
    uint32_t len, cap;
    bool err;
} expr_strbuf;

void expr_strbuf_put(expr_strbuf *b, const char *s, size_t n);

/* Returns the CEL type name of 'v' ("int", "list", "map", "optional_type", ...). */
const char *expr_type_name(const expr_value *v);

/* Heterogeneous CEL equality: 1 == 1u == 1.0; lists and maps deep; other kinds differ. Errors
 * are never equal (callers test for errors first). */
bool expr_equal(const expr_value *a, const expr_value *b);

/* Appends 'v' as JSON to a malloc'd string: plain JSON (ints as numbers, bytes as base64), or
 * with 'typed' the tagged form of the cel-spec vectors ({"int":"5"}). Returns NULL on
 * failure (an error value, a value with no JSON form: see expr_json_problem(), or out of
 * memory); never a string cut at a NUL. Free with free(). */
char *expr_to_json(const expr_value *v, bool typed);

/* Why 'v' has no JSON form, or NULL when it has one: a string or map key holding a NUL
 * (JSON text could carry it as \u0000, but the cJSON trees every reader uses hold C strings
 * and would cut it), or NaN or infinity in plain JSON. */
const char *expr_json_problem(const expr_value *v, bool typed);

/* 'v' as a malloc-owned cJSON tree (plain JSON, as expr_to_json), for code that patches or
 * walks JSON; NULL when it has no JSON form (an error value, expr_json_problem()) or memory
 * ran out. Free with cJSON_Delete(). */
cJSON *expr_to_cjson(const expr_value *v);

/* Builds a value from the tagged JSON form of the cel-spec vectors, allocating from 'a'.
 * Returns an EXPR_ERROR value (code "expr.input") when 'j' is not in that form. */
expr_value expr_from_typed_json(const cJSON *j, arena *a);

#endif
