/* value.c - the values of the expression language: JSON in place, equality, ordering,
 * and conversion to and from JSON (plain and the tagged form of the cel-spec vectors).
 *
 * The JSON number rule, applied everywhere a JSON number becomes a value: a number that is
 * integral and within int64 is an int (3 and 3.0 alike, as JSON does not tell them apart);
 * anything else is a double. */
#include "expr_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"

expr_value expr_error_new(arena *a, const char *code, expr_span span, const char *fmt, ...)
{
    expr_value v = {.kind = EXPR_ERROR};
    static const expr_error oom = {"expr.limit", "out of memory", {0, 0}};
    expr_error *e = arena_alloc(a, sizeof *e);
    if (e == NULL) {
        v.v.err = &oom;
        return v;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->msg = arena_strdup(a, msg);
    if (e->msg == NULL)
        e->msg = "out of memory";
    e->span = span;
    v.v.err = e;
    return v;
}

expr_value ev_optional(arena *a, const expr_value *inner)
{
    expr_value v = {.kind = EXPR_OPTIONAL};
    if (inner == NULL)
        return v;
    expr_value *box = arena_alloc(a, sizeof *box);
    if (box == NULL)
        return expr_error_new(a, "expr.limit", (expr_span){0, 0}, "out of memory");
    *box = *inner;
    v.v.opt = box;
    return v;
}

expr_value ev_cstr(arena *a, const char *s)
{
    char *c = arena_strdup(a, s);
    return c ? ev_str(c, (uint32_t)strlen(c))
             : expr_error_new(a, "expr.limit", (expr_span){0, 0}, "out of memory");
}

expr_value expr_from_json(const cJSON *j)
{
    return ev_from_json(j);
}

uint32_t ev_size(const expr_value *v)
{
    if (v->json)
        return (uint32_t)cJSON_GetArraySize(v->v.j);
    return v->kind == EXPR_LIST ? v->v.list->n : v->v.map->n;
}

expr_value ev_list_at(const expr_value *v, uint32_t i)
{
    if (v->json)
        return expr_from_json(cJSON_GetArrayItem(v->v.j, (int)i));
    return v->v.list->items[i];
}

expr_list *ev_list_new(arena *a, uint32_t n)
{
    expr_list *l = arena_alloc(a, sizeof *l + (size_t)n * sizeof(expr_value));
    if (l)
        l->n = n;
    return l;
}

expr_map *ev_map_new(arena *a, uint32_t n)
{
    expr_map *m = arena_alloc(a, sizeof *m + (size_t)n * 2 * sizeof(expr_value));
    if (m)
        m->n = n;
    return m;
}

uint32_t utf8_count(const char *s, uint32_t len)
{
    /* Code points are the bytes that are not continuation bytes (10xxxxxx). Eight bytes at a
     * time: a byte is a continuation byte when bit 7 is set and bit 6 is not. */
    uint32_t n = 0, i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        uint64_t cont = w & ~(w << 1) & 0x8080808080808080u;
        n += 8 - (uint32_t)__builtin_popcountll(cont);
    }
    for (; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

bool utf8_valid(const char *s, uint32_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
        if (n == 0 || i + n >= len) /* the continuation bytes p[i+1..i+n] must exist */
            return false;
        uint32_t cp = n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        for (uint32_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

static bool is_num(const expr_value *v)
{
    return v->kind == EXPR_INT || v->kind == EXPR_UINT || v->kind == EXPR_DOUBLE;
}

/* Compares numbers of any two numeric kinds. With a double on either side both are compared
 * as doubles (as cel-go does: 9223372036854775807 == 9223372036854775808.0); int and uint
 * compare exactly. */
static int num_cmp(const expr_value *a, const expr_value *b, bool *ok)
{
    *ok = true;
    if (a->kind == EXPR_DOUBLE || b->kind == EXPR_DOUBLE) {
        double x = a->kind == EXPR_DOUBLE ? a->v.d : a->kind == EXPR_INT ? (double)a->v.i : (double)a->v.u;
        double y = b->kind == EXPR_DOUBLE ? b->v.d : b->kind == EXPR_INT ? (double)b->v.i : (double)b->v.u;
        if (isnan(x) || isnan(y)) {
            *ok = false;
            return 0;
        }
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a->kind == EXPR_INT && b->kind == EXPR_INT)
        return a->v.i < b->v.i ? -1 : a->v.i > b->v.i;
    if (a->kind == EXPR_UINT && b->kind == EXPR_UINT)
        return a->v.u < b->v.u ? -1 : a->v.u > b->v.u;
    if (a->kind == EXPR_INT) /* int vs uint */
        return a->v.i < 0 ? -1 : (uint64_t)a->v.i < b->v.u ? -1 : (uint64_t)a->v.i > b->v.u;
    return -num_cmp(b, a, ok);
}

static int bytes_cmp(const expr_value *a, const expr_value *b)
{
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->v.s, b->v.s, n);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

int ev_compare(const expr_value *a, const expr_value *b, bool *ok)
{
    if (is_num(a) && is_num(b))
        return num_cmp(a, b, ok);
    *ok = a->kind == b->kind;
    if (!*ok)
        return 0;
    switch (a->kind) {
    case EXPR_STRING:
    case EXPR_BYTES: return bytes_cmp(a, b);
    case EXPR_BOOL: return a->v.b == b->v.b ? 0 : a->v.b ? 1 : -1;
    default: *ok = false; return 0;
    }
}

bool expr_equal(const expr_value *a, const expr_value *b)
{
    return ev_equal(NULL, a, b);
}

/* Two maps: every entry of 'a' found in 'b' with an equal value. Large maps are looked up
 * through indexes, in 'x' or, without one, in a temporary set made for this comparison, so
 * that comparing two maps of n keys costs O(n), not O(n^2). */
static bool map_equal(expr_index *x, const expr_value *a, const expr_value *b)
{
    if (ev_size(a) != ev_size(b))
        return false;
    expr_index tmp;
    arena *ta = NULL;
    if (x == NULL && ev_size(b) > EV_SCAN_MAX) {
        ta = arena_new(ARENA_REQUEST_BUDGET);
        if (ta != NULL) { /* else scan */
            expr_index_init(&tmp, ta);
            x = &tmp;
        }
    }
    ev_iter it;
    expr_value k, v, w;
    bool eq = true;
    ev_iter_init(&it, a);
    while (eq && ev_iter_next(&it, &k, &v))
        eq = ev_map_find(x, b, &k, &w) && ev_equal(x, &v, &w);
    arena_free(ta);
    return eq;
}

bool ev_equal(expr_index *x, const expr_value *a, const expr_value *b)
{
    if (is_num(a) && is_num(b)) {
        bool ok;
        int c = num_cmp(a, b, &ok);
        return ok && c == 0;
    }
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case EXPR_NULL: return true;
    case EXPR_BOOL: return a->v.b == b->v.b;
    case EXPR_STRING:
    case EXPR_BYTES: return a->len == b->len && memcmp(a->v.s, b->v.s, a->len) == 0;
    case EXPR_TYPE: /* the names are string constants, which the linker merges: mostly one */
        return a->v.type == b->v.type || strcmp(a->v.type, b->v.type) == 0;
    case EXPR_OPTIONAL:
        if (a->v.opt == NULL || b->v.opt == NULL)
            return a->v.opt == b->v.opt;
        return ev_equal(x, a->v.opt, b->v.opt);
    case EXPR_OPAQUE:
        return a->v.obj->type == b->v.obj->type && a->v.obj->type->equal(a->v.obj, b->v.obj);
    case EXPR_LIST: {
        if (ev_size(a) != ev_size(b))
            return false;
        ev_iter ia, ib;
        expr_value p, q;
        ev_iter_init(&ia, a);
        ev_iter_init(&ib, b);
        while (ev_iter_next(&ia, NULL, &p) && ev_iter_next(&ib, NULL, &q))
            if (!ev_equal(x, &p, &q))
                return false;
        return true;
    }
    case EXPR_MAP: return map_equal(x, a, b);
    default: return false;
    }
}

const char *expr_type_name(const expr_value *v)
{
    static const char *const names[] = {"null_type", "bool", "int",  "uint",          "double",
                                        "string",    "bytes", "list", "map",          "type",
                                        "optional_type", "opaque", "error"};
    if (v->kind == EXPR_OPAQUE)
        return v->v.obj->type->name;
    return names[v->kind];
}

/* ---- JSON out ---- */

static cJSON *tagged(const char *tag, cJSON *inner)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || inner == NULL || !cJSON_AddItemToObject(o, tag, inner)) {
        cJSON_Delete(o);
        cJSON_Delete(inner);
        return NULL;
    }
    return o;
}

static cJSON *to_cjson(const expr_value *v, bool typed, int depth);

static cJSON *double_json(double d, bool typed)
{
    if (isnan(d) || isinf(d))
        return typed ? cJSON_CreateString(isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity")
                     : NULL;
    return cJSON_CreateNumber(d);
}

/* cJSON holds C strings: a CEL string with a NUL ("a\x00b") would come out cut at it, and a
 * cut string is a different value (a path, a name), so such a value has no JSON form. */
static bool has_nul(const char *s, size_t len)
{
    return len > 0 && memchr(s, '\0', len) != NULL;
}

static cJSON *aggregate_json(const expr_value *v, bool typed, int depth)
{
    cJSON *out = v->kind == EXPR_LIST || typed ? cJSON_CreateArray() : cJSON_CreateObject();
    ev_iter it;
    expr_value k, x;
    ev_iter_init(&it, v);
    while (out && ev_iter_next(&it, &k, &x)) {
        if (v->kind == EXPR_LIST) {
            cJSON *c = to_cjson(&x, typed, depth + 1);
            if (c == NULL || !cJSON_AddItemToArray(out, c)) {
                cJSON_Delete(c);
                goto err;
            }
            continue;
        }
        if (k.kind == EXPR_STRING && has_nul(k.v.s, k.len))
            goto err; /* before anything of this entry is allocated */
        /* Each node is attached as soon as it is made, so 'err' frees everything. */
        cJSON *cv = to_cjson(&x, typed, depth + 1);
        if (cv == NULL)
            goto err;
        if (typed) {
            cJSON *pair = cJSON_CreateArray();
            if (pair == NULL || !cJSON_AddItemToArray(out, pair)) {
                cJSON_Delete(pair);
                cJSON_Delete(cv);
                goto err;
            }
            cJSON *ck = to_cjson(&k, true, depth + 1);
            if (ck == NULL || !cJSON_AddItemToArray(pair, ck)) {
                cJSON_Delete(ck);
                cJSON_Delete(cv);
                goto err;
            }
            if (!cJSON_AddItemToArray(pair, cv)) {
                cJSON_Delete(cv);
                goto err;
            }
        } else {
            char key[64];
            const char *name = key;
            if (k.kind == EXPR_STRING) {
                char *s = strndup(k.v.s, k.len);
                if (s == NULL || !cJSON_AddItemToObject(out, s, cv)) {
                    free(s);
                    cJSON_Delete(cv);
                    goto err;
                }
                free(s);
                continue;
            }
            if (k.kind == EXPR_INT) snprintf(key, sizeof key, "%lld", (long long)k.v.i);
            else if (k.kind == EXPR_UINT) snprintf(key, sizeof key, "%llu", (unsigned long long)k.v.u);
            else name = k.v.b ? "true" : "false";
            if (!cJSON_AddItemToObject(out, name, cv)) {
                cJSON_Delete(cv);
                goto err;
            }
        }
    }
    return typed ? tagged(v->kind == EXPR_LIST ? "list" : "map", out) : out;
err:
    cJSON_Delete(out);
    return NULL;
}

static cJSON *to_cjson(const expr_value *v, bool typed, int depth)
{
    char num[32];
    if (depth > 200)
        return NULL;
    switch (v->kind) {
    case EXPR_NULL: return typed ? tagged("null", cJSON_CreateNull()) : cJSON_CreateNull();
    case EXPR_BOOL: return typed ? tagged("bool", cJSON_CreateBool(v->v.b)) : cJSON_CreateBool(v->v.b);
    case EXPR_INT:
        if (!typed)
            return cJSON_CreateNumber((double)v->v.i);
        snprintf(num, sizeof num, "%lld", (long long)v->v.i);
        return tagged("int", cJSON_CreateString(num));
    case EXPR_UINT:
        if (!typed)
            return cJSON_CreateNumber((double)v->v.u);
        snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u);
        return tagged("uint", cJSON_CreateString(num));
    case EXPR_DOUBLE: return typed ? tagged("double", double_json(v->v.d, true)) : double_json(v->v.d, false);
    case EXPR_STRING: {
        if (has_nul(v->v.s, v->len))
            return NULL;
        char *s = strndup(v->v.s, v->len);
        cJSON *c = s ? cJSON_CreateString(s) : NULL;
        free(s);
        return typed ? tagged("string", c) : c;
    }
    case EXPR_BYTES: {
        char *b = malloc(base64_encoded_len(v->len) + 1);
        if (b == NULL)
            return NULL;
        base64_encode(v->v.s, v->len, b);
        cJSON *c = cJSON_CreateString(b);
        free(b);
        return typed ? tagged("bytes_b64", c) : c;
    }
    case EXPR_LIST:
    case EXPR_MAP: return aggregate_json(v, typed, depth);
    case EXPR_TYPE: return typed ? tagged("type", cJSON_CreateString(v->v.type)) : cJSON_CreateString(v->v.type);
    case EXPR_OPTIONAL:
        if (v->v.opt == NULL)
            return typed ? tagged("optional", cJSON_CreateNull()) : cJSON_CreateNull();
        return typed ? tagged("optional", to_cjson(v->v.opt, true, depth + 1)) : to_cjson(v->v.opt, false, depth + 1);
    case EXPR_OPAQUE: {
        arena *a = arena_new(4096);
        const char *s = a ? v->v.obj->type->to_string(v->v.obj, a) : NULL;
        cJSON *c = s ? cJSON_CreateString(s) : NULL;
        arena_free(a);
        return typed ? tagged(v->v.obj->type->name, c) : c;
    }
    default: return NULL;
    }
}

char *expr_to_json(const expr_value *v, bool typed)
{
    cJSON *c = to_cjson(v, typed, 0);
    char *s = c ? cJSON_PrintUnformatted(c) : NULL;
    cJSON_Delete(c);
    return s;
}

const char *expr_json_problem(const expr_value *v, bool typed)
{
    ev_iter it;
    expr_value k, x;
    switch (v->kind) {
    case EXPR_STRING: return has_nul(v->v.s, v->len) ? "a string holds a NUL character" : NULL;
    case EXPR_DOUBLE:
        return !typed && (isnan(v->v.d) || isinf(v->v.d)) ? "NaN or infinity (use --typed)" : NULL;
    case EXPR_OPTIONAL: return v->v.opt ? expr_json_problem(v->v.opt, typed) : NULL;
    case EXPR_LIST:
    case EXPR_MAP:
        ev_iter_init(&it, v);
        while (ev_iter_next(&it, &k, &x)) {
            const char *p = v->kind == EXPR_MAP ? expr_json_problem(&k, typed) : NULL;
            if (p == NULL)
                p = expr_json_problem(&x, typed);
            if (p != NULL)
                return p;
        }
        return NULL;
    default: return NULL;
    }
}

cJSON *expr_to_cjson(const expr_value *v)
{
    char *text = v->kind == EXPR_ERROR ? NULL : expr_to_json(v, false);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

/* ---- tagged JSON in ---- */

static expr_value bad_input(arena *a, const char *what)
{
    return expr_error_new(a, "expr.input", (expr_span){0, 0}, "%s", what);
}

static expr_value typed_aggregate(const cJSON *inner, bool is_map, arena *a)
{
    expr_value v = {.kind = is_map ? EXPR_MAP : EXPR_LIST};
    uint32_t n = (uint32_t)cJSON_GetArraySize(inner);
    expr_list *l = is_map ? NULL : ev_list_new(a, n);
    expr_map *m = is_map ? ev_map_new(a, n) : NULL;
    if (!cJSON_IsArray(inner) || (l == NULL && m == NULL))
        return bad_input(a, "list and map values are arrays");
    uint32_t i = 0;
    for (const cJSON *c = inner->child; c != NULL; c = c->next, i++) {
        if (!is_map) {
            l->items[i] = expr_from_typed_json(c, a);
            if (ev_is_error(&l->items[i]))
                return l->items[i];
            continue;
        }
        if (cJSON_GetArraySize(c) != 2)
            return bad_input(a, "map entries are [key, value] pairs");
        m->kv[2 * i] = expr_from_typed_json(c->child, a);
        m->kv[2 * i + 1] = expr_from_typed_json(c->child->next, a);
        if (ev_is_error(&m->kv[2 * i]) || ev_is_error(&m->kv[2 * i + 1]))
            return ev_is_error(&m->kv[2 * i]) ? m->kv[2 * i] : m->kv[2 * i + 1];
    }
    if (is_map)
        v.v.map = m;
    else
        v.v.list = l;
    return v;
}

expr_value expr_from_typed_json(const cJSON *j, arena *a)
{
    if (!cJSON_IsObject(j) || j->child == NULL || j->child->next != NULL)
        return bad_input(a, "a typed value is an object with one key, such as {\"int\": \"5\"}");
    const char *tag = j->child->string;
    const cJSON *in = j->child;
    if (strcmp(tag, "null") == 0)
        return ev_null();
    if (strcmp(tag, "bool") == 0 && cJSON_IsBool(in))
        return ev_bool(cJSON_IsTrue(in));
    if ((strcmp(tag, "int") == 0 || strcmp(tag, "uint") == 0) && cJSON_IsString(in)) {
        char *end;
        if (tag[0] == 'i') {
            long long x = strtoll(in->valuestring, &end, 10);
            return *end ? bad_input(a, "bad int") : ev_int(x);
        }
        unsigned long long x = strtoull(in->valuestring, &end, 10);
        return *end ? bad_input(a, "bad uint") : ev_uint(x);
    }
    if (strcmp(tag, "double") == 0) {
        if (cJSON_IsNumber(in))
            return ev_double(in->valuedouble);
        if (cJSON_IsString(in))
            return ev_double(strcmp(in->valuestring, "NaN") == 0 ? NAN
                             : in->valuestring[0] == '-'      ? -INFINITY
                                                               : INFINITY);
    }
    if (strcmp(tag, "string") == 0 && cJSON_IsString(in))
        return ev_cstr(a, in->valuestring);
    if (strcmp(tag, "bytes_b64") == 0 && cJSON_IsString(in)) {
        size_t n = strlen(in->valuestring);
        unsigned char *out = arena_alloc(a, n + 1);
        long m = out ? base64_decode(in->valuestring, n, out) : -1;
        return m < 0 ? bad_input(a, "bad base64") : ev_bytes((const char *)out, (uint32_t)m);
    }
    if (strcmp(tag, "list") == 0 || strcmp(tag, "map") == 0)
        return typed_aggregate(in, tag[0] == 'm', a);
    if (strcmp(tag, "type") == 0 && cJSON_IsString(in)) {
        char *t = arena_strdup(a, in->valuestring);
        return t ? ev_type(t) : bad_input(a, "out of memory");
    }
    return bad_input(a, "unknown or malformed value tag");
}

void expr_iter_init(expr_iter *it, const expr_value *v) { ev_iter_init(it, v); }

bool expr_iter_next(expr_iter *it, expr_value *key, expr_value *val)
{
    return ev_iter_next(it, key, val);
}

void expr_strbuf_put(expr_strbuf *b, const char *s, size_t n)
{
    if (b->err || n == 0) /* nothing: and b->p may still be NULL, which memcpy may not get */
        return;
    if ((size_t)b->len + n > EXPR_MAX_STRING) {
        b->err = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        char *p = arena_alloc(b->a, cap);
        if (p == NULL) {
            b->err = true;
            return;
        }
        if (b->len)
            memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = (uint32_t)cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += (uint32_t)n;
}
