/* expr_int.h - shared by the files of src/expr/ only: tokens, syntax tree, program. */
#ifndef SG_EXPR_INT_H
#define SG_EXPR_INT_H

#include "expr.h"

#include <string.h>

enum tok {
    T_EOF, T_ERROR, T_INT, T_UINT, T_DOUBLE, T_STRING, T_BYTES, T_IDENT,
    T_TRUE, T_FALSE, T_NULL, T_IN,
    T_LPAREN, T_RPAREN, T_LBRACKET, T_RBRACKET, T_LBRACE, T_RBRACE,
    T_DOT, T_COMMA, T_COLON, T_QUESTION,
    T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT, T_NOT,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_AND, T_OR,
};

typedef struct token {
    enum tok t;
    expr_span span;
    union {
        int64_t i;
        uint64_t u;
        double d;
        struct {
            const char *s; /* decoded, arena-owned (T_STRING, T_BYTES, T_IDENT) */
            uint32_t len;
        } str;
    } v;
    bool int_overflow; /* T_INT 9223372036854775808: only valid under unary minus */
    bool quoted;       /* T_IDENT written as `name`: only valid as a field name */
    bool reserved;     /* T_IDENT that is a reserved word: valid as a field name only */
    const char *err;   /* T_ERROR: what is wrong */
} token;

typedef struct lexer {
    const char *src;
    size_t len, pos;
    arena *a;
} lexer;

/* Reads the next token. Never fails hard: bad input gives T_ERROR with 'err' set. */
token lex_next(lexer *lx);

enum node_op {
    N_LIT, N_IDENT, N_SELECT, N_INDEX, N_CALL, N_LIST, N_MAP,
    N_NOT, N_NEG, N_BIN, N_AND, N_OR, N_COND, N_HAS, N_COMP,
};

enum bin_op { B_ADD, B_SUB, B_MUL, B_DIV, B_MOD, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE, B_IN };

/* M_TRANSFORM_*: the two-variable transforms of cel-go's comprehensions extension; M_ALL,
 * M_EXISTS and M_EXISTS_ONE take two variables too when the node's 'name2' is set. */
enum macro_kind { M_ALL, M_EXISTS, M_EXISTS_ONE, M_MAP, M_FILTER, M_OPT_MAP, M_OPT_FLAT_MAP, M_BIND,
                  M_TRANSFORM_LIST, M_TRANSFORM_MAP, M_TRANSFORM_MAP_ENTRY };

typedef struct expr_node expr_node;
/* A node of a checked tree. A loaded set holds about ten thousand of them and every request
 * walks most of them after TLS, the kernel and the client have been through the caches, so
 * what a walk costs is the cache lines it touches: the node is 64 bytes, a cache line (152,
 * then 88, before). The parser does not align nodes to a line: the padding cost 0.33 MB of
 * the shipped set for 1% fewer lines read (docs/server.md, "Memory"). Flags are single bits,
 * counters are as narrow as the limits that bound them (the _Static_asserts below), and the
 * fields that only some kinds use share storage in the unions: each member names the kinds
 * that own it, and reading it on another kind reads another kind's field. Walkers that go
 * over the children of any node use node_b(), node_c() and node_nargs() below, which answer
 * NULL and 0 for kinds without them. The checker turns an N_SELECT naming a library type
 * (net.IP) into an N_LIT of that type: 'lit' is then set, and 'a', 'name' and 'name_len',
 * outside its union, keep the selection's (has() reads them; test_expr_node.c). */
struct expr_node {
    uint8_t op;             /* enum node_op */
    union {
        uint8_t sub;        /* enum bin_op for N_BIN, enum macro_kind for N_COMP */
        int8_t local;       /* N_IDENT of a comprehension variable: its slot (the number of
                             * comprehensions around its own), or -1 */
    };
    bool optional : 1;      /* N_SELECT .?f, N_INDEX [?k] */
    bool member : 1;        /* N_CALL: receiver style, receiver in 'a' */
    bool name_nul : 1;      /* N_SELECT: the field name holds a NUL (`a\0b`: no JSON key can) */
    bool is_type : 1;       /* N_IDENT that names a type; N_LIT made of a type's N_SELECT */
    bool int_overflow : 1;  /* N_LIT 9223372036854775808, valid only when negated */
    bool distinct_keys : 1; /* N_MAP: every key is a string literal, no two alike */
    bool folded : 1;        /* N_LIST/N_MAP of literals: 'lit' is its value (check.c) */
    bool or_value : 1;      /* N_CALL x.?f.orValue(d) (receiver an unqualified N_SELECT):
                             * evaluated without making the optional (eval.c) */
    uint8_t run;            /* how eval() runs it (enum node_run): the kind's own function
                             * (parse.c), or in place or a form for its shape (check.c) */
    uint16_t nargs;         /* N_CALL arguments; N_LIST items; N_MAP keys and values; else 0 */
    uint16_t height;        /* longest path to a leaf; capped against deep recursion */
    expr_node *a;           /* operand: N_SELECT, N_HAS, N_INDEX, N_NOT, N_NEG, N_BIN, N_AND,
                             * N_OR; N_COND the condition; N_CALL the receiver; N_COMP the
                             * range (cel.bind: the bound value) */
    union {
        expr_value lit; /* N_LIT; N_IDENT of a type name, the type value; folded N_LIST/N_MAP */
        struct {
            expr_node *b, *c; /* N_INDEX, N_BIN, N_AND, N_OR, N_COND, N_COMP (node_has_bc):
                               * N_COMP b step/predicate, c transform; cel.bind b the body */
        };
        struct {
            const expr_fn_def *fn;       /* N_CALL: resolved by the checker */
            const struct expr_regex *re; /* N_CALL matches() with a literal pattern, compiled
                                          * once */
        };
    };
    union {
        const char *name; /* N_IDENT, N_SELECT field, N_CALL function, N_COMP variable */
        uint8_t *opt;     /* N_LIST/N_MAP: which entries are optional (?x) */
    };
    union {
        expr_node **args;      /* N_CALL arguments; N_LIST items; N_MAP key, value, key, ... */
        const char *qualified; /* N_SELECT chain of plain names ("a.b.c"): may name a binding */
        const char *name2;     /* N_COMP of two variables: the second (value) one; else NULL */
    };
    int32_t decl; /* N_IDENT, qualified N_SELECT: index of the declared name, or -1 */
    union {
        uint32_t name_len;   /* N_SELECT: the field name's length, so evaluation needs no strlen */
        uint32_t fold_steps; /* folded N_LIST/N_MAP: the steps its entries cost, charged when
                              * it is answered */
    };
    expr_span span; /* read for errors only: last, where a node that straddles two cache
                     * lines puts it in the second */
};

/* How eval() (eval_int.h) runs a node: its row of eval_node_fns (eval.c). The first two are
 * answered in place, without a call. From R_KIND, each kind's own function, which serves every
 * node of the kind; then the forms the checker chooses at load time for the shapes the
 * policies use most, each the same values, errors and steps as its kind's function gives
 * (node_run() in check.c chooses; a tree that is parsed and not checked runs each node
 * by its kind). A selection, a binary operator, a call or a comprehension is about two thirds
 * of the nodes a review evaluates; a form skips its kind's tests of which case it is, and the
 * registers that its other cases need saved. */
enum node_run {
    R_LIT,               /* N_LIT (not int_overflow): its value */
    R_LOCAL,             /* N_IDENT with a slot: the comprehension variable's value */
    R_KIND,              /* R_KIND + op: the kind's function */
    R_QUALIFIED = R_KIND + N_COMP + 1, /* N_SELECT with 'qualified': variables.x, memo first */
    R_EQ,                /* N_BIN == and != */
    R_OR_VALUE,          /* N_CALL with 'or_value': x.?f.orValue(d) */
    R_BIND,              /* N_COMP cel.bind */
    R_CALL,              /* N_CALL of at most R_CALL_ARGS arguments, no literal pattern */
    R_MATCH,             /* N_CALL matches() of a literal pattern, compiled at load time */
    R_FIELD,             /* N_SELECT that names no binding */
    R_COUNT
};

/* Whether 'n' is of a kind whose 'b' and 'c' are operands (on the others that storage is
 * 'lit' or 'fn' and 're'). */
static inline bool node_has_bc(const expr_node *n)
{
    switch (n->op) {
    case N_INDEX: case N_BIN: case N_AND: case N_OR: case N_COND: case N_COMP: return true;
    default: return false;
    }
}

/* The second and third operands of 'n', or NULL for kinds that have none. */
static inline expr_node *node_b(const expr_node *n)
{
    return node_has_bc(n) ? n->b : NULL;
}

static inline expr_node *node_c(const expr_node *n)
{
    return node_has_bc(n) ? n->c : NULL;
}

/* How many entries 'args' of 'n' holds: 0 for kinds without them (there 'args' is
 * 'qualified' or 'name2'). */
static inline uint32_t node_nargs(const expr_node *n)
{
    return n->op == N_CALL || n->op == N_LIST || n->op == N_MAP ? n->nargs : 0;
}

#define EXPR_MAX_HEIGHT 400

/* The parser's caps on a call's arguments, a list's items and a map's entries (parse.c). */
#define EXPR_MAX_ARGS 256
#define EXPR_MAX_ENTRIES 256

/* What the narrow fields of expr_node rely on: the limits the parser and the checker enforce
 * (with expr.limit errors) keep each count within its field. */
_Static_assert(EXPR_MAX_HEIGHT + 1 <= UINT16_MAX, "expr_node.height is 16 bits");
_Static_assert(EXPR_MAX_ARGS <= UINT16_MAX && 2 * EXPR_MAX_ENTRIES <= UINT16_MAX,
               "expr_node.nargs is 16 bits");
_Static_assert(EXPR_MAX_DEPTH + 1 <= INT8_MAX, "expr_node.local is 8 bits");
_Static_assert(R_COUNT <= UINT8_MAX, "expr_node.run is 8 bits");
#define R_CALL_ARGS 5 /* eval_call_small()'s arguments (eval.c): flinkConfig() has five */
/* The size the walk's locality depends on (see above): one cache line. A field added must
 * keep it. */
#define EXPR_NODE_BYTES 64
_Static_assert(sizeof(expr_node) <= EXPR_NODE_BYTES, "expr_node grew past a cache line");

struct expr_prog {
    expr_node *root;
    const expr_type *type; /* what it yields, as inferred (NULL: dyn) */
    const char *src;
    size_t len;
};

/* Parses into a tree allocated from 'a'. Returns NULL with diags on syntax errors. */
expr_node *expr_parse(arena *a, const char *src, size_t len, const srcpos *at, diag_list *dl);

/* Resolves names and functions of the tree parsed from 'src', compiling literal regexes into
 * 'a' (the program's arena); returns 0, or -1 with diags. */
/* check.c: resolves and type-checks the tree of 'root' (0, or -1 after adding its errors to
 * 'dl'); 'out', when not NULL, gets the type inferred for the whole expression. */
int expr_check_tree(arena *a, expr_node *root, const expr_decls *decls, const srcpos *at,
                    diag_list *dl, const expr_type **out);
int expr_check(arena *a, expr_node *root, const expr_decls *decls, const srcpos *at,
               diag_list *dl);

/* Adds a diag about the span 'span' of an expression whose text sits at 'at' (NULL: no
 * position): the diag carries the source offset of the span's start (through at->map when
 * the text is not a verbatim slice of the source). */
void expr_diag(diag_list *dl, const char *code, expr_span span, const srcpos *at,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The standard function table (builtins.c). */
extern const expr_fn_def expr_std_fns[];
extern const size_t expr_n_std_fns;

/* The libraries Kubernetes adds to CEL that need no Kubernetes knowledge: url() and its
 * getters (fn_url.c), ip() and cidr() (fn_net.c). Looked up after the standard table. */
extern const expr_fn_def expr_url_fns[];
extern const size_t expr_n_url_fns;
extern const expr_fn_def expr_net_fns[];
extern const size_t expr_n_net_fns;

/* Looks a function up in the standard table, the library tables, then in 'decls'. */
const expr_fn_def *expr_find_fn(const char *name, const expr_decls *decls);

/* Value helpers used across files (value.c). */
static inline expr_value ev_bool(bool b) { expr_value v = {.kind = EXPR_BOOL}; v.v.b = b; return v; }
static inline expr_value ev_int(int64_t i) { expr_value v = {.kind = EXPR_INT}; v.v.i = i; return v; }
static inline expr_value ev_uint(uint64_t u) { expr_value v = {.kind = EXPR_UINT}; v.v.u = u; return v; }
static inline expr_value ev_double(double d) { expr_value v = {.kind = EXPR_DOUBLE}; v.v.d = d; return v; }
static inline expr_value ev_null(void) { expr_value v = {.kind = EXPR_NULL}; return v; }
static inline expr_value ev_type(const char *t) { expr_value v = {.kind = EXPR_TYPE}; v.v.type = t; return v; }
static inline expr_value ev_str(const char *s, uint32_t len) { expr_value v = {.kind = EXPR_STRING, .len = len}; v.v.s = s; return v; }
static inline expr_value ev_bytes(const char *s, uint32_t len) { expr_value v = {.kind = EXPR_BYTES, .len = len}; v.v.s = s; return v; }
static inline bool ev_is_error(const expr_value *v) { return v->kind == EXPR_ERROR; }

expr_value ev_optional(arena *a, const expr_value *inner); /* NULL inner: none */
expr_value ev_cstr(arena *a, const char *s);               /* copies */

/* Whether the 'n' bytes at 'a' and 'b' are equal. Inline, without a call into libc, for the
 * keys and names a review compares by the hundred (all but a few are at most 16 bytes): the
 * same pointer is equal at once (a key found in the map literal it came from), else two
 * overlapping loads per side cover 4 to 16 bytes, three byte loads 1 to 3; memcmp beyond. */
static inline bool ev_bytes_equal(const char *a, const char *b, uint32_t n)
{
    if (a == b || n == 0)
        return true;
    if (n >= 8) {
        if (n > 16)
            return memcmp(a, b, n) == 0;
        uint64_t x0, y0, x1, y1;
        memcpy(&x0, a, 8);
        memcpy(&y0, b, 8);
        memcpy(&x1, a + n - 8, 8);
        memcpy(&y1, b + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 4) {
        uint32_t x0, y0, x1, y1;
        memcpy(&x0, a, 4);
        memcpy(&y0, b, 4);
        memcpy(&x1, a + n - 4, 4);
        memcpy(&y1, b + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

/* Length of a list or map value. */
uint32_t ev_size(const expr_value *v);
/* Element i of a list value. */
expr_value ev_list_at(const expr_value *v, uint32_t i);
/* The per-request indexes of large maps (index.c), by the address of the map. */
struct expr_index {
    arena *a;            /* where the indexes are built */
    struct ix_slot *slots; /* open addressing, at most half full; NULL until the first */
    size_t mask, n;
};

/* Maps of up to this many entries are only scanned: below it a scan beats hashing the key. */
#define EV_SCAN_MAX 16

/* Prepares 'x' (caller's storage) to build indexes in 'a'. Allocates nothing. */
void expr_index_init(expr_index *x, arena *a);

/* Looks 'key' up in a map; returns true and sets '*out' when present. A large map is looked
 * up through its index in 'x' (built on first use); NULL 'x' scans. */
bool ev_map_find(expr_index *x, const expr_value *m, const expr_value *key, expr_value *out);
/* The first of the 'n' entries at 'kv' (key, value, ...) whose key is the string 'ks' ('kl'
 * bytes): its index, or 'n'. Length and kind first, then the bytes, inline. */
static inline uint32_t ev_str_key_scan(const expr_value *kv, uint32_t n, const char *ks, uint32_t kl)
{
    uint32_t i = 0;
    for (; i < n; i++) {
        const expr_value *k = &kv[2 * i];
        if (k->kind == EXPR_STRING && k->len == kl && ev_bytes_equal(k->v.s, ks, kl))
            break;
    }
    return i;
}

/* A member of the JSON object 'obj' named 'ks' ('kl' bytes, which the caller knows hold no
 * NUL: JSON keys are C strings): sets '*out' and returns true when there is one. The first
 * EV_SCAN_MAX members are scanned, a larger object is looked up through its index in 'x'. */
bool ev_json_find(expr_index *x, const cJSON *obj, const char *ks, uint32_t kl, expr_value *out);
/* ev_map_find of a string key that the caller knows holds no NUL (a field name, checked once
 * by the parser), so a JSON map is searched without looking for one in it each time. */
bool ev_map_find_name(expr_index *x, const expr_value *m, const expr_value *key, expr_value *out);
/* ev_size and ev_list_at through 'x' (NULL: none): the size of a large JSON list or map is
 * counted and the elements of a large JSON list are listed once per request, not per call. The
 * caller checked that 'i' is within the list. */
uint32_t ev_size_ix(expr_index *x, const expr_value *v);
expr_value ev_list_at_ix(expr_index *x, const expr_value *v, uint32_t i);
/* expr_equal, with map entries looked up through 'x' (NULL: a temporary one when large). */
bool ev_equal(expr_index *x, const expr_value *a, const expr_value *b);
/* Walks a list's elements or a map's entries in order, in O(1) a step for JSON values too
 * (ev_list_at on JSON is O(i)). */
typedef expr_iter ev_iter; /* expr.h's, inline here for the evaluator's loops */
/* expr_from_json(), inline where the evaluator converts JSON on every step. */
static inline expr_value ev_from_json(const cJSON *j)
{
    /* The type byte read here, not through cJSON_IsNull() and its kin: those are calls into
     * the shared library, five of them for a map, and a review converts hundreds of values
     * (every field it selects). The same tests in the same order: a type with no other bit
     * is null, either boolean bit a boolean, anything not null, a boolean, number, string
     * or array is taken as a map. Inline, for the field lookups and iterations. */
    expr_value v = {0};
    int type = j == NULL ? cJSON_NULL : j->type & 0xFF;
    if (type == cJSON_NULL) {
        v.kind = EXPR_NULL;
    } else if (j->type & (cJSON_True | cJSON_False)) {
        v = ev_bool(type == cJSON_True);
    } else if (type == cJSON_Number) {
        double d = j->valuedouble; /* integral and in range: an int (no floor(): no libm) */
        if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(int64_t)d)
            v = ev_int((int64_t)d);
        else
            v = ev_double(d);
    } else if (type == cJSON_String) {
        v = ev_str(j->valuestring, (uint32_t)strlen(j->valuestring));
    } else if (type == cJSON_Array) {
        v.kind = EXPR_LIST;
        v.json = 1;
        v.v.j = j;
    } else {
        v.kind = EXPR_MAP;
        v.json = 1;
        v.v.j = j;
    }
    return v;
}

/* Sets '*key' (maps only; may be NULL) and '*val' to the next entry; false at the end.
 * Inline: comprehensions, `in` and the list functions step through hundreds a review. */
static inline void ev_iter_init(ev_iter *it, const expr_value *v)
{
    it->v = v;
    it->i = 0;
    it->c = v->json ? v->v.j->child : NULL;
    it->n = v->json ? 0 : v->kind == EXPR_LIST ? v->v.list->n : v->v.map->n;
}

static inline bool ev_iter_next(ev_iter *it, expr_value *key, expr_value *val)
{
    if (it->v->json) {
        if (it->c == NULL)
            return false;
        if (key != NULL && it->v->kind == EXPR_MAP)
            *key = ev_str(it->c->string, (uint32_t)strlen(it->c->string));
        *val = ev_from_json(it->c);
        it->c = it->c->next;
        return true;
    }
    if (it->i >= it->n)
        return false;
    if (it->v->kind == EXPR_LIST) {
        *val = it->v->v.list->items[it->i];
    } else {
        if (key != NULL)
            *key = it->v->v.map->kv[2 * it->i];
        *val = it->v->v.map->kv[2 * it->i + 1];
    }
    it->i++;
    return true;
}

/* Builds a list of 'n' items (copied) from 'a'; NULL when out of memory. */
expr_list *ev_list_new(arena *a, uint32_t n);
expr_map *ev_map_new(arena *a, uint32_t n);
/* -1, 0, 1 for ordered kinds; sets '*ok' false when a and b do not order. */
int ev_compare(const expr_value *a, const expr_value *b, bool *ok);
/* Counts UTF-8 code points. */
uint32_t utf8_count(const char *s, uint32_t len);
/* true when 's' is valid UTF-8. */
bool utf8_valid(const char *s, uint32_t len);

#endif
