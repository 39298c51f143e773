/* types.c - the types the checker infers: constructors, union of schemas, names, fields. */
#include "expr_int.h"

#include <stdio.h>
#include <string.h>

expr_type *expr_type_new(arena *a, enum expr_type_kind kind, const expr_type *elem)
{
    expr_type *t = arena_calloc(a, 1, sizeof *t);
    if (t != NULL) {
        t->kind = (uint8_t)kind;
        t->elem = elem;
    }
    return t;
}

static int field_index(const expr_type *t, const char *name)
{
    for (uint32_t i = 0; i < t->n_fields; i++)
        if (strcmp(t->names[i], name) == 0)
            return (int)i;
    return -1;
}

bool expr_type_field(const expr_type *t, const char *name, const expr_type **field)
{
    int i = field_index(t, name);
    *field = i >= 0 ? t->types[i] : NULL;
    return i >= 0 || t->open;
}

/* true when 'name' is one of the alternatives of 'what' ("A spec or B spec"). */
static bool names_one_of(const char *what, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = what; p != NULL; p = strstr(p, " or ")) {
        if (p != what)
            p += 4;
        if (strncmp(p, name, n) == 0 && (p[n] == '\0' || strncmp(p + n, " or ", 4) == 0))
            return true;
    }
    return false;
}

static const expr_type *merge_objects(arena *a, const expr_type *x, const expr_type *y)
{
    expr_type *t = expr_type_new(a, EXPR_T_OBJECT, NULL);
    uint32_t cap = x->n_fields + y->n_fields;
    if (t == NULL || (cap > 0 && ((t->names = arena_calloc(a, cap, sizeof *t->names)) == NULL ||
                                  (t->types = arena_calloc(a, cap, sizeof *t->types)) == NULL)))
        return NULL;
    t->open = x->open || y->open;
    t->basis = x->basis ? x->basis : y->basis; /* a field one of them may have is no error */
    /* Two kinds name the same place differently ("FlinkDeployment spec" and "FlinkSessionJob
     * spec"): the messages name both. */
    t->what = x->what && y->what && !names_one_of(x->what, y->what)
                  ? arena_sprintf(a, "%s or %s", x->what, y->what)
                  : x->what ? x->what : y->what;
    for (uint32_t i = 0; i < x->n_fields; i++) {
        int j = field_index(y, x->names[i]);
        t->names[t->n_fields] = x->names[i];
        t->types[t->n_fields++] =
            j < 0 ? x->types[i] : expr_type_merge(a, x->types[i], y->types[j]);
    }
    for (uint32_t j = 0; j < y->n_fields; j++) {
        if (field_index(x, y->names[j]) < 0) {
            t->names[t->n_fields] = y->names[j];
            t->types[t->n_fields++] = y->types[j];
        }
    }
    return t;
}

const expr_type *expr_type_merge(arena *a, const expr_type *x, const expr_type *y)
{
    if (x == NULL || y == NULL)
        return NULL;
    if (x == y)
        return x;
    if (x->kind == EXPR_T_OBJECT && y->kind == EXPR_T_OBJECT)
        return merge_objects(a, x, y);
    /* a map and an object: any key may be there */
    if ((x->kind == EXPR_T_OBJECT && y->kind == EXPR_T_MAP) ||
        (x->kind == EXPR_T_MAP && y->kind == EXPR_T_OBJECT))
        return expr_type_new(a, EXPR_T_MAP, NULL);
    if (x->kind != y->kind)
        return NULL;
    switch (x->kind) {
    case EXPR_T_LIST:
    case EXPR_T_MAP:
    case EXPR_T_OPTIONAL: return expr_type_new(a, x->kind, expr_type_merge(a, x->elem, y->elem));
    default: return x;
    }
}

const expr_type *expr_type_of_json(arena *a, const cJSON *j, const char *what)
{
    if (j == NULL || cJSON_IsNull(j))
        return NULL; /* a null param may be given any value by whoever overrides it */
    if (cJSON_IsBool(j))
        return expr_type_new(a, EXPR_T_BOOL, NULL);
    if (cJSON_IsString(j))
        return expr_type_new(a, EXPR_T_STRING, NULL);
    if (cJSON_IsNumber(j)) { /* as expr_from_json converts it */
        double d = j->valuedouble;
        bool integral = d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
                        d == (double)(int64_t)d;
        return expr_type_new(a, integral ? EXPR_T_INT : EXPR_T_DOUBLE, NULL);
    }
    if (cJSON_IsArray(j)) {
        const expr_type *elem = NULL;
        bool first = true;
        for (const cJSON *c = j->child; c != NULL; c = c->next) {
            const expr_type *t = expr_type_of_json(a, c, what);
            elem = first ? t : expr_type_merge(a, elem, t);
            first = false;
        }
        return expr_type_new(a, EXPR_T_LIST, elem);
    }
    expr_type *t = expr_type_new(a, EXPR_T_OBJECT, NULL);
    uint32_t n = (uint32_t)cJSON_GetArraySize(j);
    if (t == NULL || (n > 0 && ((t->names = arena_calloc(a, n, sizeof *t->names)) == NULL ||
                                (t->types = arena_calloc(a, n, sizeof *t->types)) == NULL)))
        return NULL;
    t->what = what;
    for (const cJSON *c = j->child; c != NULL && t->n_fields < n; c = c->next) {
        t->names[t->n_fields] = c->string;
        const char *sub = arena_sprintf(a, "%s.%s", what, c->string);
        t->types[t->n_fields++] = expr_type_of_json(a, c, sub);
    }
    return t;
}

const char *expr_type_str(arena *a, const expr_type *t)
{
    static const char *const names[] = {
        [EXPR_T_DYN] = "dyn",       [EXPR_T_NULL] = "null_type", [EXPR_T_BOOL] = "bool",
        [EXPR_T_INT] = "int",       [EXPR_T_UINT] = "uint",      [EXPR_T_DOUBLE] = "double",
        [EXPR_T_STRING] = "string", [EXPR_T_BYTES] = "bytes",    [EXPR_T_TYPE] = "type",
    };
    if (t == NULL)
        return "dyn";
    switch (t->kind) {
    case EXPR_T_LIST: return arena_sprintf(a, "list(%s)", expr_type_str(a, t->elem));
    case EXPR_T_MAP: return arena_sprintf(a, "map(string, %s)", expr_type_str(a, t->elem));
    case EXPR_T_OPTIONAL: return arena_sprintf(a, "optional(%s)", expr_type_str(a, t->elem));
    case EXPR_T_OBJECT: return t->what ? arena_sprintf(a, "map (%s)", t->what) : "map";
    default: return names[t->kind];
    }
}

size_t expr_edit_distance(const char *x, const char *y)
{
    size_t n = strlen(x), m = strlen(y), row[65];
    if (n > 64 || m > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (x[i - 1] != y[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

const char *expr_type_suggest(const expr_type *t, const char *name)
{
    if (t == NULL || t->kind != EXPR_T_OBJECT)
        return NULL;
    /* A typo is a letter or two: one edit for short names, up to a third of a long one. */
    size_t len = strlen(name), limit = len < 4 ? 1 : len / 3 > 2 ? len / 3 : 2;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (uint32_t i = 0; i < t->n_fields; i++) {
        size_t d = expr_edit_distance(name, t->names[i]);
        if (d < best_d) {
            best_d = d;
            best = t->names[i];
        }
    }
    return best;
}
