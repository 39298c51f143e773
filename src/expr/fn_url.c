/* fn_url.c - Kubernetes' URL library: url(), isURL() and the getters getScheme, getHost,
 * getHostname, getPort, getEscapedPath, getQuery.
 *
 * Kubernetes accepts a string as a URL when Go's url.ParseRequestURI accepts it (an absolute
 * URI or an absolute path, no fragment split off), and then takes its parts from url.Parse
 * (which splits the fragment off). Both parsers are one function here, parse(), with Go's
 * rules: the scheme, '?' and the query, the authority after "//" with its userinfo, host and
 * port checks, percent-decoding of host and path, and what getEscapedPath gives back. */
#include "fn_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct strv {
    const char *s;
    uint32_t n;
} strv;

typedef struct url_data {
    strv text;      /* the string url() was given, scheme lowercased: string() and == */
    strv scheme;    /* lowercased */
    strv host;      /* decoded, with the port and any [ ] */
    strv path;      /* decoded */
    strv raw_path;  /* the path as written */
    strv query;     /* raw, after '?' */
} url_data;

static bool url_equal(const expr_opaque *a, const expr_opaque *b)
{
    const url_data *x = a->data, *y = b->data;
    return x->text.n == y->text.n && memcmp(x->text.s, y->text.s, x->text.n) == 0;
}

static const char *url_to_string(const expr_opaque *o, arena *a)
{
    const url_data *u = o->data;
    return arena_strndup(a, u->text.s, u->text.n);
}

static const expr_opaque_type url_type = {"kubernetes.URL", url_equal, url_to_string};

enum esc_mode { ESC_PATH, ESC_HOST, ESC_USER, ESC_QUERY, ESC_FRAGMENT };

static int unhex(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Byte classes, from Go's shouldEscape and validEncoded: which bytes a part may hold as they
 * are. A table, not strchr() per byte: url() runs on every review that reads a URI. */
enum {
    C_PATH = 1,       /* not escaped in a path: unreserved and $&+,/:;=@ */
    C_HOST = 2,       /* allowed in a host: unreserved and !$&'()*+,;=:[]<>" */
    C_VALID_PATH = 4, /* allowed in a path as written (validEncoded): C_PATH, !'()*[] and % */
    C_USER = 8,       /* allowed in userinfo: unreserved and -._:~!$&'()*+,;=%@ */
};
#define UNRES (C_PATH | C_HOST | C_VALID_PATH | C_USER)
static const uint8_t byte_class[256] = {
    ['a' ... 'z'] = UNRES, ['A' ... 'Z'] = UNRES, ['0' ... '9'] = UNRES,
    ['-'] = UNRES, ['_'] = UNRES, ['.'] = UNRES, ['~'] = UNRES,
    ['$'] = UNRES, ['&'] = UNRES, ['+'] = UNRES, [','] = UNRES, [';'] = UNRES, ['='] = UNRES,
    [':'] = UNRES, ['@'] = C_PATH | C_VALID_PATH | C_USER,
    ['/'] = C_PATH | C_VALID_PATH,
    ['!'] = C_HOST | C_VALID_PATH | C_USER, ['\''] = C_HOST | C_VALID_PATH | C_USER,
    ['('] = C_HOST | C_VALID_PATH | C_USER, [')'] = C_HOST | C_VALID_PATH | C_USER,
    ['*'] = C_HOST | C_VALID_PATH | C_USER, ['['] = C_HOST | C_VALID_PATH,
    [']'] = C_HOST | C_VALID_PATH, ['<'] = C_HOST, ['>'] = C_HOST, ['"'] = C_HOST,
    ['%'] = C_VALID_PATH | C_USER,
};

static bool has_class(unsigned char c, unsigned cls) { return (byte_class[c] & cls) != 0; }

/* Go's unescape: decodes %XX (and '+' as a space in a query); NULL with '*why' when an escape
 * is malformed or, in a host, a character is not allowed. */
static const char *unescape(arena *a, const char *s, uint32_t n, enum esc_mode mode,
                            uint32_t *out_n, const char **why)
{
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || unhex((unsigned char)s[i + 1]) < 0 ||
                unhex((unsigned char)s[i + 2]) < 0) {
                *why = "invalid URL escape";
                return NULL;
            }
            /* in a host, %-encoding is only for non-ASCII bytes (RFC 3986 3.2.2), but %25 */
            if (mode == ESC_HOST && unhex((unsigned char)s[i + 1]) < 8 &&
                memcmp(s + i, "%25", 3) != 0) {
                *why = "invalid URL escape";
                return NULL;
            }
            i += 2;
        } else if (mode == ESC_HOST && c < 0x80 && !has_class(c, C_HOST)) {
            *why = "invalid character in host name";
            return NULL;
        }
    }
    if (memchr(s, '%', n) == NULL && (mode != ESC_QUERY || memchr(s, '+', n) == NULL)) {
        *out_n = n; /* nothing to decode: the text itself (most paths) */
        return n ? s : "";
    }
    char *out = arena_alloc(a, n + 1);
    if (out == NULL) {
        *why = "out of memory";
        return NULL;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            out[k++] = (char)(unhex((unsigned char)s[i + 1]) << 4 | unhex((unsigned char)s[i + 2]));
            i += 2;
        } else if (s[i] == '+' && mode == ESC_QUERY) {
            out[k++] = ' ';
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    *out_n = k;
    return out;
}

/* ":digits" or nothing. */
static bool valid_optional_port(const char *p, uint32_t n)
{
    if (n == 0)
        return true;
    if (p[0] != ':')
        return false;
    for (uint32_t i = 1; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static int last_index(const char *s, uint32_t n, char c)
{
    for (uint32_t i = n; i > 0; i--)
        if (s[i - 1] == c)
            return (int)(i - 1);
    return -1;
}

static int first_index(const char *s, uint32_t n, char c)
{
    const char *p = memchr(s, c, n);
    return p ? (int)(p - s) : -1;
}

/* Go's parseHost: brackets for IPv6 literals, the port after the last ':' all digits, the rest
 * %-decoded under the host's rules. */
static bool parse_host(arena *a, const char *h, uint32_t n, strv *out, const char **why)
{
    if (n > 0 && h[0] == '[') {
        int i = last_index(h, n, ']');
        if (i < 0) {
            *why = "missing ']' in host";
            return false;
        }
        if (!valid_optional_port(h + i + 1, n - (uint32_t)i - 1)) {
            *why = "invalid port after host";
            return false;
        }
    } else {
        int i = last_index(h, n, ':');
        if (i >= 0 && !valid_optional_port(h + i, n - (uint32_t)i)) {
            *why = "invalid port after host";
            return false;
        }
    }
    out->s = unescape(a, h, n, ESC_HOST, &out->n, why);
    return out->s != NULL;
}

static bool valid_userinfo(const char *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!has_class((unsigned char)s[i], C_USER))
            return false;
    return true;
}

/* Go's getScheme, then the scheme lowercased: on "scheme:", sets 'u->scheme' and moves
 * '*rest' past the ':'. Anything else is a path and leaves both alone. */
static bool parse_scheme(arena *a, url_data *u, const char **rest, uint32_t *rn, const char **why)
{
    const char *s = *rest;
    uint32_t n = *rn;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
            if (i == 0)
                return true;
            continue;
        }
        if (c != ':')
            return true;
        if (i == 0) {
            *why = "missing protocol scheme";
            return false;
        }
        u->scheme = (strv){s, i};
        bool upper = false;
        for (uint32_t k = 0; k < i; k++)
            upper |= s[k] >= 'A' && s[k] <= 'Z';
        if (upper) { /* lower case, as Go keeps it */
            char *sch = arena_alloc(a, i + 1);
            if (sch == NULL) {
                *why = "out of memory";
                return false;
            }
            for (uint32_t k = 0; k < i; k++)
                sch[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
            sch[i] = '\0';
            u->scheme.s = sch;
        }
        *rest = s + i + 1;
        *rn = n - i - 1;
        return true;
    }
    return true;
}

/* The authority after "//" (userinfo checked and decoded, then the host): sets 'u->host'
 * and moves '*rest' to the path that follows. */
static bool parse_authority(arena *a, url_data *u, const char **rest, uint32_t *rn,
                            const char **why)
{
    const char *auth = *rest + 2;
    uint32_t an = *rn - 2;
    int slash = first_index(auth, an, '/');
    if (slash >= 0)
        an = (uint32_t)slash;
    *rest = auth + an;
    *rn = *rn - 2 - an;
    int at = last_index(auth, an, '@');
    const char *host = auth;
    uint32_t hn = an;
    if (at >= 0) {
        uint32_t un;
        if (!valid_userinfo(auth, (uint32_t)at)) {
            *why = "net/url: invalid userinfo";
            return false;
        }
        int colon = first_index(auth, (uint32_t)at, ':');
        uint32_t user_n = colon < 0 ? (uint32_t)at : (uint32_t)colon;
        if (unescape(a, auth, user_n, ESC_USER, &un, why) == NULL)
            return false;
        if (colon >= 0 &&
            unescape(a, auth + colon + 1, (uint32_t)(at - colon - 1), ESC_USER, &un, why) == NULL)
            return false;
        host = auth + at + 1;
        hn = an - (uint32_t)at - 1;
    }
    return parse_host(a, host, hn, &u->host, why);
}

/* Go's url.parse(s, viaRequest); fills 'u' (its text excepted). */
static bool parse(arena *a, const char *s, uint32_t n, bool via_request, url_data *u,
                  const char **why)
{
    memset(u, 0, sizeof *u);
    u->scheme = u->host = u->path = u->raw_path = u->query = (strv){"", 0};
    for (uint32_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            *why = "net/url: invalid control character in URL";
            return false;
        }
    }
    if (n == 0 && via_request) {
        *why = "empty url";
        return false;
    }
    if (n == 1 && s[0] == '*') {
        u->path = u->raw_path = (strv){"*", 1};
        return true;
    }
    const char *rest = s;
    uint32_t rn = n;
    if (!parse_scheme(a, u, &rest, &rn, why))
        return false;
    int q = first_index(rest, rn, '?');
    if (rn > 0 && rest[rn - 1] == '?' && q == (int)rn - 1) {
        rn--; /* a lone '?' at the end: an empty query */
    } else if (q >= 0) {
        u->query = (strv){rest + q + 1, rn - (uint32_t)q - 1};
        rn = (uint32_t)q;
    }
    if (rn == 0 || rest[0] != '/') {
        if (u->scheme.n > 0)
            return true; /* opaque: mailto:x, no host or path */
        if (via_request) {
            *why = "invalid URI for request";
            return false;
        }
        int slash = first_index(rest, rn, '/');
        if (first_index(rest, slash < 0 ? rn : (uint32_t)slash, ':') >= 0) {
            *why = "first path segment in URL cannot contain colon";
            return false;
        }
    }
    bool triple = rn >= 3 && memcmp(rest, "///", 3) == 0;
    if ((u->scheme.n > 0 || (!via_request && !triple)) && rn >= 2 && memcmp(rest, "//", 2) == 0 &&
        !parse_authority(a, u, &rest, &rn, why))
        return false;
    u->raw_path = (strv){rest, rn};
    u->path.s = unescape(a, rest, rn, ESC_PATH, &u->path.n, why);
    return u->path.s != NULL;
}

/* Go's getScheme finds one: a letter, letters, digits, '+', '-' or '.', then ':'. */
static bool has_scheme(const char *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        if (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
            continue;
        return c == ':' && i > 0;
    }
    return false;
}

/* Parses as Kubernetes' url() does; NULL with '*why' when it is not a URL. */
static url_data *url_parse(arena *a, const char *s, uint32_t n, const char **why)
{
    url_data check, *u = arena_alloc(a, sizeof *u);
    if (u == NULL) {
        *why = "out of memory";
        return NULL;
    }
    int hash = first_index(s, n, '#');
    /* ParseRequestURI and Parse read a string with a scheme and no '#' alike: parse it once */
    bool same = hash < 0 && has_scheme(s, n);
    if (!same && !parse(a, s, n, true, &check, why))
        return NULL;
    uint32_t n_before = hash < 0 ? n : (uint32_t)hash;
    if (!parse(a, s, n_before, false, u, why))
        return NULL;
    if (hash >= 0) { /* the fragment must decode, as url.Parse's setFragment checks */
        uint32_t fn;
        if (unescape(a, s + hash + 1, n - (uint32_t)hash - 1, ESC_FRAGMENT, &fn, why) == NULL)
            return NULL;
    }
    u->text = (strv){s, n};
    if (u->scheme.n > 0 && memcmp(s, u->scheme.s, u->scheme.n) != 0) {
        char *text = arena_alloc(a, n + 1); /* the scheme as Go prints it: lower case */
        if (text == NULL) {
            *why = "out of memory";
            return NULL;
        }
        memcpy(text, s, n);
        memcpy(text, u->scheme.s, u->scheme.n);
        text[n] = '\0';
        u->text.s = text;
    }
    return u;
}

static const url_data *as_url(const expr_value *v)
{
    return v->kind == EXPR_OPAQUE && v->v.obj->type == &url_type ? v->v.obj->data : NULL;
}

static expr_value fn_url(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return fn_no_overload(c, "url", &a[0]);
    const char *why = NULL;
    url_data *u = url_parse(c->a, a[0].v.s, a[0].len, &why);
    expr_opaque *o = u ? arena_alloc(c->a, sizeof *o) : NULL;
    if (o == NULL)
        return expr_error_new(c->a, "expr.url", c->span,
                              "URL parse error during conversion from string: %s",
                              why ? why : "out of memory");
    o->type = &url_type;
    o->data = u;
    expr_value v = {.kind = EXPR_OPAQUE};
    v.v.obj = o;
    return v;
}

static expr_value fn_is_url(const expr_call *c, const expr_value *r, const expr_value *a,
                            size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return fn_no_overload(c, "isURL", &a[0]);
    url_data u;
    const char *why;
    return ev_bool(parse(c->a, a[0].v.s, a[0].len, true, &u, &why));
}

/* Go's splitHostPort on the host: the port after the last ':' when it is all digits, and the
 * host without [ ]. */
static void split_host_port(const strv *h, strv *host, strv *port)
{
    *host = *h;
    *port = (strv){"", 0};
    int colon = last_index(h->s, h->n, ':');
    if (colon >= 0 && valid_optional_port(h->s + colon, h->n - (uint32_t)colon)) {
        host->n = (uint32_t)colon;
        *port = (strv){h->s + colon + 1, h->n - (uint32_t)colon - 1};
    }
    if (host->n >= 2 && host->s[0] == '[' && host->s[host->n - 1] == ']') {
        host->s++;
        host->n -= 2;
    }
}

/* Go's EscapedPath: the path as written when that is a valid encoding of it, else the path
 * escaped (a space becomes %20). */
static expr_value escaped_path(const expr_call *c, const url_data *u)
{
    bool valid = true;
    for (uint32_t i = 0; i < u->raw_path.n && valid; i++)
        valid = has_class((unsigned char)u->raw_path.s[i], C_VALID_PATH);
    if (valid)
        return ev_str(u->raw_path.s, u->raw_path.n);
    char *out = arena_alloc(c->a, (size_t)u->path.n * 3 + 1);
    if (out == NULL)
        return fn_error(c, "expr.limit", "out of memory");
    uint32_t k = 0;
    for (uint32_t i = 0; i < u->path.n; i++) {
        unsigned char ch = (unsigned char)u->path.s[i];
        if (!has_class(ch, C_PATH)) {
            out[k++] = '%';
            out[k++] = "0123456789ABCDEF"[ch >> 4];
            out[k++] = "0123456789ABCDEF"[ch & 15];
        } else {
            out[k++] = (char)ch;
        }
    }
    out[k] = '\0';
    return ev_str(out, k);
}

typedef struct qpair {
    const char *k, *v;
    uint32_t kn, vn, order;
} qpair;

static int qpair_cmp(const void *x, const void *y)
{
    const qpair *a = x, *b = y;
    uint32_t n = a->kn < b->kn ? a->kn : b->kn;
    int r = memcmp(a->k, b->k, n);
    if (r == 0)
        r = (a->kn > b->kn) - (a->kn < b->kn);
    return r != 0 ? r : (a->order > b->order) - (a->order < b->order);
}

static bool same_key(const qpair *a, const qpair *b)
{
    return a->kn == b->kn && memcmp(a->k, b->k, a->kn) == 0;
}

/* Go's ParseQuery, errors dropped as u.Query() drops them: pairs split at '&', a pair with a
 * ';' or a bad escape skipped, keys and values decoded ('+' is a space). A map of each key to
 * its values in order; sorting the pairs groups a key's values in O(n log n). */
static expr_value get_query(const expr_call *c, const url_data *u)
{
    uint32_t max = 1;
    for (uint32_t i = 0; i < u->query.n; i++)
        max += u->query.s[i] == '&';
    qpair *p = arena_alloc(c->a, sizeof *p * max);
    if (p == NULL)
        return fn_error(c, "expr.limit", "out of memory");
    uint32_t np = 0;
    const char *s = u->query.s, *end = s + u->query.n;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        uint32_t n = (uint32_t)(e - s);
        s = amp ? amp + 1 : end;
        if (n == 0 || memchr(e - n, ';', n) != NULL)
            continue;
        const char *pair = e - n, *why;
        int eq = first_index(pair, n, '=');
        uint32_t kn = eq < 0 ? n : (uint32_t)eq, vn = 0, dk, dv;
        const char *k = unescape(c->a, pair, kn, ESC_QUERY, &dk, &why);
        const char *v = eq < 0 ? ""
                               : unescape(c->a, pair + eq + 1, n - kn - 1, ESC_QUERY, &dv, &why);
        if (k == NULL || v == NULL)
            continue;
        vn = eq < 0 ? 0 : dv;
        p[np] = (qpair){k, v, dk, vn, np};
        np++;
    }
    qsort(p, np, sizeof *p, qpair_cmp);
    uint32_t nkeys = 0;
    for (uint32_t i = 0; i < np; i++)
        nkeys += i == 0 || !same_key(&p[i], &p[i - 1]);
    expr_map *m = ev_map_new(c->a, nkeys);
    if (m == NULL)
        return fn_error(c, "expr.limit", "out of memory");
    m->n = 0;
    for (uint32_t i = 0; i < np;) {
        uint32_t j = i;
        while (j < np && same_key(&p[j], &p[i]))
            j++;
        expr_list *l = ev_list_new(c->a, j - i);
        if (l == NULL)
            return fn_error(c, "expr.limit", "out of memory");
        for (uint32_t k = i; k < j; k++)
            l->items[k - i] = ev_str(p[k].v, p[k].vn);
        expr_value lv = {.kind = EXPR_LIST};
        lv.v.list = l;
        m->kv[2 * m->n] = ev_str(p[i].k, p[i].kn);
        m->kv[2 * m->n + 1] = lv;
        m->n++;
        i = j;
    }
    expr_value v = {.kind = EXPR_MAP};
    v.v.map = m;
    return v;
}

enum url_part { UP_SCHEME, UP_HOST, UP_HOSTNAME, UP_PORT, UP_PATH, UP_QUERY };

static expr_value url_get(const expr_call *c, const expr_value *r, enum url_part part,
                          const char *name)
{
    const url_data *u = as_url(r);
    if (u == NULL)
        return fn_no_overload(c, name, r);
    strv host, port;
    switch (part) {
    case UP_SCHEME: return ev_str(u->scheme.s, u->scheme.n);
    case UP_HOST: return ev_str(u->host.s, u->host.n);
    case UP_HOSTNAME: split_host_port(&u->host, &host, &port); return ev_str(host.s, host.n);
    case UP_PORT: split_host_port(&u->host, &host, &port); return ev_str(port.s, port.n);
    case UP_PATH: return escaped_path(c, u);
    default: return get_query(c, u);
    }
}

#define GETTER(fn, part, name)                                                                   \
    static expr_value fn(const expr_call *c, const expr_value *r, const expr_value *a, size_t n) \
    {                                                                                            \
        (void)a;                                                                                 \
        (void)n;                                                                                 \
        return url_get(c, r, part, name);                                                        \
    }

GETTER(fn_get_scheme, UP_SCHEME, "getScheme")
GETTER(fn_get_host, UP_HOST, "getHost")
GETTER(fn_get_hostname, UP_HOSTNAME, "getHostname")
GETTER(fn_get_port, UP_PORT, "getPort")
GETTER(fn_get_escaped_path, UP_PATH, "getEscapedPath")
GETTER(fn_get_query, UP_QUERY, "getQuery")

const expr_fn_def expr_url_fns[] = {
    {"url", EXPR_GLOBAL, 1, 1, fn_url, false},
    {"isURL", EXPR_GLOBAL, 1, 1, fn_is_url, false},
    {"getScheme", EXPR_MEMBER, 0, 0, fn_get_scheme, false},
    {"getHost", EXPR_MEMBER, 0, 0, fn_get_host, false},
    {"getHostname", EXPR_MEMBER, 0, 0, fn_get_hostname, false},
    {"getPort", EXPR_MEMBER, 0, 0, fn_get_port, false},
    {"getEscapedPath", EXPR_MEMBER, 0, 0, fn_get_escaped_path, false},
    {"getQuery", EXPR_MEMBER, 0, 0, fn_get_query, false},
};
const size_t expr_n_url_fns = sizeof expr_url_fns / sizeof expr_url_fns[0];
