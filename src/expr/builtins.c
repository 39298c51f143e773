/* builtins.c - the standard function table, and the core functions: size, conversions,
 * type, dyn, string predicates, optionals. The string and list families live in
 * fn_string.c and fn_list.c; matches() in fn_regex.c. */
#include "fn_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "re.h"

expr_value fn_no_overload(const expr_call *c, const char *fn, const expr_value *a)
{
    return expr_error_new(c->a, "expr.no_overload", c->span,
                          "no matching overload for '%s' applied to (%s)", fn, expr_type_name(a));
}

expr_value fn_error(const expr_call *c, const char *code, const char *msg)
{
    return expr_error_new(c->a, code, c->span, "%s", msg);
}

#define SUBJECT()                                                                                \
    const expr_value *rest;                                                                      \
    size_t nrest;                                                                                \
    const expr_value *x = fn_subject(recv, args, nargs, &rest, &nrest);                          \
    (void)rest;                                                                                  \
    (void)nrest

static expr_value fn_size(const expr_call *c, const expr_value *recv, const expr_value *args,
                          size_t nargs)
{
    SUBJECT();
    switch (x->kind) {
    case EXPR_STRING: return ev_int(utf8_count(x->v.s, x->len));
    case EXPR_BYTES: return ev_int(x->len);
    case EXPR_LIST:
    case EXPR_MAP: return ev_int(ev_size_ix(c->index, x));
    default: return fn_no_overload(c, "size", x);
    }
}

/* Parses all of a string as a number with strtoll/strtoull/strtod. */
static bool parse_whole(const expr_value *s, char kind, void *out)
{
    char buf[128];
    if (s->len == 0 || s->len >= sizeof buf)
        return false;
    memcpy(buf, s->v.s, s->len);
    buf[s->len] = '\0';
    char *end;
    errno = 0;
    if (kind == 'i')
        *(long long *)out = strtoll(buf, &end, 10);
    else if (kind == 'u')
        *(unsigned long long *)out = buf[0] == '-' || buf[0] == '+' ? (end = buf, 0) : strtoull(buf, &end, 10);
    else
        *(double *)out = strtod(buf, &end);
    return *end == '\0' && end != buf && (errno == 0 || kind == 'd');
}

static expr_value fn_int(const expr_call *c, const expr_value *recv, const expr_value *args,
                         size_t nargs)
{
    SUBJECT();
    switch (x->kind) {
    case EXPR_INT: return *x;
    case EXPR_UINT:
        if (x->v.u > INT64_MAX)
            return fn_error(c, "expr.range", "int() range error: uint value too large");
        return ev_int((int64_t)x->v.u);
    case EXPR_DOUBLE:
        if (!(x->v.d > -9223372036854775809.0 && x->v.d < 9223372036854775808.0))
            return fn_error(c, "expr.range", "int() range error: double out of int range");
        return ev_int((int64_t)x->v.d);
    case EXPR_STRING: {
        long long v;
        if (!parse_whole(x, 'i', &v))
            return fn_error(c, "expr.conversion", "int() cannot parse the string");
        return ev_int(v);
    }
    default: return fn_no_overload(c, "int", x);
    }
}

static expr_value fn_uint(const expr_call *c, const expr_value *recv, const expr_value *args,
                          size_t nargs)
{
    SUBJECT();
    switch (x->kind) {
    case EXPR_UINT: return *x;
    case EXPR_INT:
        if (x->v.i < 0)
            return fn_error(c, "expr.range", "uint() range error: negative value");
        return ev_uint((uint64_t)x->v.i);
    case EXPR_DOUBLE:
        if (!(x->v.d > -1.0 && x->v.d < 18446744073709551616.0))
            return fn_error(c, "expr.range", "uint() range error: double out of uint range");
        return ev_uint((uint64_t)x->v.d);
    case EXPR_STRING: {
        unsigned long long v;
        if (!parse_whole(x, 'u', &v))
            return fn_error(c, "expr.conversion", "uint() cannot parse the string");
        return ev_uint(v);
    }
    default: return fn_no_overload(c, "uint", x);
    }
}

static expr_value fn_double(const expr_call *c, const expr_value *recv, const expr_value *args,
                            size_t nargs)
{
    SUBJECT();
    switch (x->kind) {
    case EXPR_DOUBLE: return *x;
    case EXPR_INT: return ev_double((double)x->v.i);
    case EXPR_UINT: return ev_double((double)x->v.u);
    case EXPR_STRING: {
        double v;
        if (!parse_whole(x, 'd', &v))
            return fn_error(c, "expr.conversion", "double() cannot parse the string");
        return ev_double(v);
    }
    default: return fn_no_overload(c, "double", x);
    }
}

/* Formats a double as cel-go's string(double) does, fmt.Sprintf("%g", d), which is
 * strconv.FormatFloat(d, 'g', -1, 64): the shortest digits that read back to the same value,
 * in exponent form when the exponent is below -4 or at least 6 (Go decides on 6 for the
 * shortest precision: 100000 is "100000", 1e6 "1e+06", 1234567 "1.234567e+06"). */
static void format_double(double d, char *out, size_t cap)
{
    if (isnan(d)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(out, cap, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* the usual value (a JSON number such as cpu: 2): an integer below 10^6 is its digits */
    if (d == trunc(d) && fabs(d) < 1e6) {
        snprintf(out, cap, "%s%lld", d == 0 && signbit(d) ? "-" : "", (long long)d);
        return;
    }
    char e[40];
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    if (prec == 17)
        snprintf(e, sizeof e, "%.16e", d);
    int exp = atoi(strchr(e, 'e') + 1);
    if (exp < -4 || exp >= 6)
        snprintf(out, cap, "%s", e); /* C writes the exponent as Go does: a sign, 2+ digits */
    else
        snprintf(out, cap, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, d);
}

static expr_value fn_string(const expr_call *c, const expr_value *recv, const expr_value *args,
                            size_t nargs)
{
    SUBJECT();
    char buf[64];
    switch (x->kind) {
    case EXPR_STRING: return *x;
    case EXPR_INT: snprintf(buf, sizeof buf, "%lld", (long long)x->v.i); break;
    case EXPR_UINT: snprintf(buf, sizeof buf, "%llu", (unsigned long long)x->v.u); break;
    case EXPR_DOUBLE: format_double(x->v.d, buf, sizeof buf); break;
    case EXPR_BOOL: snprintf(buf, sizeof buf, "%s", x->v.b ? "true" : "false"); break;
    case EXPR_BYTES:
        if (!utf8_valid(x->v.s, x->len))
            return fn_error(c, "expr.conversion", "string() of bytes that are not valid UTF-8");
        return ev_str(x->v.s, x->len);
    case EXPR_OPAQUE: {
        const char *s = x->v.obj->type->to_string(x->v.obj, c->a);
        return s ? ev_str(s, (uint32_t)strlen(s)) : fn_error(c, "expr.limit", "out of memory");
    }
    default: return fn_no_overload(c, "string", x);
    }
    return ev_cstr(c->a, buf);
}

static expr_value fn_bytes(const expr_call *c, const expr_value *recv, const expr_value *args,
                           size_t nargs)
{
    SUBJECT();
    if (x->kind == EXPR_BYTES)
        return *x;
    if (x->kind == EXPR_STRING)
        return ev_bytes(x->v.s, x->len);
    return fn_no_overload(c, "bytes", x);
}

static expr_value fn_bool(const expr_call *c, const expr_value *recv, const expr_value *args,
                          size_t nargs)
{
    SUBJECT();
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    if (x->kind == EXPR_BOOL)
        return *x;
    if (x->kind != EXPR_STRING)
        return fn_no_overload(c, "bool", x);
    for (size_t i = 0; i < 6; i++) {
        if (x->len == strlen(yes[i]) && memcmp(x->v.s, yes[i], x->len) == 0)
            return ev_bool(true);
        if (x->len == strlen(no[i]) && memcmp(x->v.s, no[i], x->len) == 0)
            return ev_bool(false);
    }
    return fn_error(c, "expr.conversion", "bool() cannot parse the string");
}

static expr_value fn_type(const expr_call *c, const expr_value *recv, const expr_value *args,
                          size_t nargs)
{
    (void)c;
    SUBJECT();
    return ev_type(expr_type_name(x));
}

static expr_value fn_dyn(const expr_call *c, const expr_value *recv, const expr_value *args,
                         size_t nargs)
{
    (void)c;
    SUBJECT();
    return *x;
}

/* contains, startsWith, endsWith on strings. */
static expr_value str_pred(const expr_call *c, const expr_value *recv, const expr_value *args,
                           size_t nargs, char which)
{
    SUBJECT();
    const expr_value *y = &rest[0];
    if (x->kind != EXPR_STRING || y->kind != EXPR_STRING)
        return fn_no_overload(c, which == 'c' ? "contains" : which == 's' ? "startsWith" : "endsWith", x);
    if (y->len > x->len)
        return ev_bool(false);
    if (which == 's')
        return ev_bool(memcmp(x->v.s, y->v.s, y->len) == 0);
    if (which == 'e')
        return ev_bool(memcmp(x->v.s + x->len - y->len, y->v.s, y->len) == 0);
    return ev_bool(y->len == 0 || memmem(x->v.s, x->len, y->v.s, y->len) != NULL);
}

static expr_value fn_contains(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    return str_pred(c, r, a, n, 'c');
}
static expr_value fn_starts_with(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    return str_pred(c, r, a, n, 's');
}
static expr_value fn_ends_with(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    return str_pred(c, r, a, n, 'e');
}

/* matches() with a pattern known only at evaluation time (literal ones are compiled once). */
static expr_value fn_matches(const expr_call *c, const expr_value *recv, const expr_value *args,
                             size_t nargs)
{
    SUBJECT();
    const expr_value *pat = &rest[0];
    if (x->kind != EXPR_STRING || pat->kind != EXPR_STRING)
        return fn_no_overload(c, "matches", x);
    char err[256];
    const expr_regex *re = expr_regex_compile(c->a, pat->v.s, pat->len, false, err, sizeof err);
    if (re == NULL)
        return expr_error_new(c->a, "expr.regex", c->span, "invalid regular expression: %s", err);
    int m = expr_regex_match(re, x->v.s, x->len, c->a, err, sizeof err);
    if (m < 0)
        return expr_error_new(c->a, "expr.limit", c->span, "regular expression: %s", err);
    return ev_bool(m == 1);
}

/* ---- optionals ---- */

static expr_value fn_opt_of(const expr_call *c, const expr_value *recv, const expr_value *args,
                            size_t nargs)
{
    (void)recv;
    (void)nargs;
    return ev_optional(c->a, &args[0]);
}

static expr_value fn_opt_none(const expr_call *c, const expr_value *recv, const expr_value *args,
                              size_t nargs)
{
    (void)recv;
    (void)args;
    (void)nargs;
    return ev_optional(c->a, NULL);
}

static bool is_zero(const expr_value *v)
{
    switch (v->kind) {
    case EXPR_NULL: return true;
    case EXPR_BOOL: return !v->v.b;
    case EXPR_INT: return v->v.i == 0;
    case EXPR_UINT: return v->v.u == 0;
    case EXPR_DOUBLE: return v->v.d == 0;
    case EXPR_STRING:
    case EXPR_BYTES: return v->len == 0;
    case EXPR_LIST:
    case EXPR_MAP: return v->json ? v->v.j->child == NULL : ev_size(v) == 0; /* no count */
    default: return false;
    }
}

static expr_value fn_opt_of_non_zero(const expr_call *c, const expr_value *recv,
                                     const expr_value *args, size_t nargs)
{
    (void)recv;
    (void)nargs;
    return ev_optional(c->a, is_zero(&args[0]) ? NULL : &args[0]);
}

static expr_value fn_has_value(const expr_call *c, const expr_value *recv, const expr_value *args,
                               size_t nargs)
{
    (void)args;
    (void)nargs;
    if (recv->kind != EXPR_OPTIONAL)
        return fn_no_overload(c, "hasValue", recv);
    return ev_bool(recv->v.opt != NULL);
}

static expr_value fn_value(const expr_call *c, const expr_value *recv, const expr_value *args,
                           size_t nargs)
{
    (void)args;
    (void)nargs;
    if (recv->kind != EXPR_OPTIONAL)
        return fn_no_overload(c, "value", recv);
    if (recv->v.opt == NULL)
        return fn_error(c, "expr.no_such_key", "optional.none() dereference");
    return *recv->v.opt;
}

static expr_value fn_or_value(const expr_call *c, const expr_value *recv, const expr_value *args,
                              size_t nargs)
{
    (void)nargs;
    if (recv->kind != EXPR_OPTIONAL)
        return fn_no_overload(c, "orValue", recv);
    return recv->v.opt ? *recv->v.opt : args[0];
}

static expr_value fn_or(const expr_call *c, const expr_value *recv, const expr_value *args,
                        size_t nargs)
{
    (void)nargs;
    if (recv->kind != EXPR_OPTIONAL || args[0].kind != EXPR_OPTIONAL)
        return fn_no_overload(c, "or", recv->kind != EXPR_OPTIONAL ? recv : &args[0]);
    return recv->v.opt ? *recv : args[0];
}

static expr_value fn_list_index(const expr_call *c, const expr_value *r, const expr_value *a,
                                size_t n)
{
    if (r->kind == EXPR_LIST)
        return fn_list_index_of(c, r, a, n, false);
    return fn_index_of(c, r, a, n);
}

static expr_value fn_list_last_index(const expr_call *c, const expr_value *r, const expr_value *a,
                                     size_t n)
{
    if (r->kind == EXPR_LIST)
        return fn_list_index_of(c, r, a, n, true);
    return fn_last_index_of(c, r, a, n);
}

const expr_fn_def expr_std_fns[] = {
    {"size", EXPR_BOTH, 0, 0, fn_size, false},
    {"int", EXPR_GLOBAL, 1, 1, fn_int, false},
    {"uint", EXPR_GLOBAL, 1, 1, fn_uint, false},
    {"double", EXPR_GLOBAL, 1, 1, fn_double, false},
    {"string", EXPR_GLOBAL, 1, 1, fn_string, false},
    {"bytes", EXPR_GLOBAL, 1, 1, fn_bytes, false},
    {"bool", EXPR_GLOBAL, 1, 1, fn_bool, false},
    {"type", EXPR_GLOBAL, 1, 1, fn_type, false},
    {"dyn", EXPR_GLOBAL, 1, 1, fn_dyn, false},
    {"contains", EXPR_MEMBER, 1, 1, fn_contains, false},
    {"startsWith", EXPR_MEMBER, 1, 1, fn_starts_with, false},
    {"endsWith", EXPR_MEMBER, 1, 1, fn_ends_with, false},
    {"matches", EXPR_BOTH, 1, 1, fn_matches, false},
    {"lowerAscii", EXPR_MEMBER, 0, 0, fn_lower_ascii, false},
    {"upperAscii", EXPR_MEMBER, 0, 0, fn_upper_ascii, false},
    {"trim", EXPR_MEMBER, 0, 0, fn_trim, false},
    {"split", EXPR_MEMBER, 1, 2, fn_split, false},
    {"join", EXPR_MEMBER, 0, 1, fn_join, false},
    {"replace", EXPR_MEMBER, 2, 3, fn_replace, false},
    {"indexOf", EXPR_MEMBER, 1, 2, fn_list_index, false},
    {"lastIndexOf", EXPR_MEMBER, 1, 2, fn_list_last_index, false},
    {"substring", EXPR_MEMBER, 1, 2, fn_substring, false},
    {"charAt", EXPR_MEMBER, 1, 1, fn_char_at, false},
    {"isSorted", EXPR_MEMBER, 0, 0, fn_is_sorted, false},
    {"sum", EXPR_MEMBER, 0, 0, fn_sum, false},
    {"flatten", EXPR_MEMBER, 0, 1, fn_flatten, false},
    {"min", EXPR_MEMBER, 0, 0, fn_min, false},
    {"max", EXPR_MEMBER, 0, 0, fn_max, false},
    {"optional.of", EXPR_GLOBAL, 1, 1, fn_opt_of, false},
    {"optional.none", EXPR_GLOBAL, 0, 0, fn_opt_none, false},
    {"optional.ofNonZeroValue", EXPR_GLOBAL, 1, 1, fn_opt_of_non_zero, false},
    {"hasValue", EXPR_MEMBER, 0, 0, fn_has_value, false},
    {"value", EXPR_MEMBER, 0, 0, fn_value, false},
    {"orValue", EXPR_MEMBER, 1, 1, fn_or_value, false},
    {"or", EXPR_MEMBER, 1, 1, fn_or, false},
    {"format", EXPR_MEMBER, 1, 1, fn_format, false},
    {"strings.quote", EXPR_GLOBAL, 1, 1, fn_quote, false},
    {"reverse", EXPR_MEMBER, 0, 0, fn_reverse, false},
};
const size_t expr_n_std_fns = sizeof expr_std_fns / sizeof expr_std_fns[0];

/* The function called 'name': a standard one, then the url and net libraries', then the
 * declarations' (a policy library's). */
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
