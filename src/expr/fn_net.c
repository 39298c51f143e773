/* fn_net.c - Kubernetes' IP and CIDR libraries (also cel-go's network extension): ip(),
 * isIP(), ip.isCanonical(), family(), isUnspecified(), isLoopback(), isLinkLocalMulticast(),
 * isLinkLocalUnicast(), isGlobalUnicast(); cidr(), isCIDR(), containsIP(), containsCIDR(),
 * ip(), masked(), prefixLength(); string() of both.
 *
 * Addresses are parsed as Go's netip.ParseAddr does (IPv4 in four decimal fields without
 * leading zeros, IPv6 with at most one '::' and an optional dotted IPv4 tail) and printed as
 * netip prints them (RFC 5952: lower case, the longest run of zero groups as '::'). A zone
 * (fe80::1%eth0) and an IPv4-mapped IPv6 address (::ffff:1.2.3.4) are refused, as Kubernetes
 * refuses them. A CIDR keeps its address as written (192.168.0.1/24); masked() clears it. */
#include "fn_int.h"

#include <stdio.h>
#include <string.h>

typedef struct net_ip {
    uint8_t b[16]; /* IPv4 in b[0..3] */
    bool v4;
} net_ip;

typedef struct net_cidr {
    net_ip ip;
    int bits;
} net_cidr;

static bool ip_same(const net_ip *a, const net_ip *b)
{
    return a->v4 == b->v4 && memcmp(a->b, b->b, a->v4 ? 4 : 16) == 0;
}

/* netip's Addr.String(). 'out' holds at least 46 bytes. */
static void ip_format(const net_ip *ip, char *out, size_t cap)
{
    if (ip->v4) {
        snprintf(out, cap, "%u.%u.%u.%u", ip->b[0], ip->b[1], ip->b[2], ip->b[3]);
        return;
    }
    unsigned g[8];
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)ip->b[2 * i] << 8 | ip->b[2 * i + 1];
    int best = -1, best_len = 1; /* a run of at least two zero groups */
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            k += (size_t)snprintf(out + k, cap - k, "::");
            i += best_len - 1;
            continue;
        }
        if (i > 0 && i != best + best_len)
            k += (size_t)snprintf(out + k, cap - k, ":");
        k += (size_t)snprintf(out + k, cap - k, "%x", g[i]);
    }
}

/* Four decimal fields 0-255, no leading zero, into b[0..3]. */
static bool parse4(const char *s, size_t n, uint8_t *b)
{
    int field = 0, digits = 0;
    unsigned val = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (digits == 1 && val == 0)
                return false; /* leading zero */
            val = val * 10 + (unsigned)(c - '0');
            digits++;
            if (val > 255)
                return false;
        } else if (c == '.') {
            if (digits == 0 || field == 3)
                return false;
            b[field++] = (uint8_t)val;
            val = 0;
            digits = 0;
        } else {
            return false;
        }
    }
    if (field != 3 || digits == 0)
        return false;
    b[3] = (uint8_t)val;
    return true;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* IPv6 without a zone into b[0..15]. */
static bool parse6(const char *s, size_t n, uint8_t *b)
{
    size_t i = 0, p = 0;
    int ellipsis = -1;
    memset(b, 0, 16);
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        ellipsis = 0;
        p = 2;
        if (p == n)
            return true;
    }
    while (i < 16) {
        size_t off = 0;
        unsigned acc = 0;
        while (p + off < n && hexval(s[p + off]) >= 0) {
            acc = acc << 4 | (unsigned)hexval(s[p + off]);
            if (++off > 4)
                return false;
        }
        if (off == 0)
            return false;
        if (p + off < n && s[p + off] == '.') { /* a dotted IPv4 tail */
            if ((ellipsis < 0 && i != 12) || i + 4 > 16)
                return false;
            if (!parse4(s + p, n - p, b + i))
                return false;
            i += 4;
            p = n;
            break;
        }
        b[i++] = (uint8_t)(acc >> 8);
        b[i++] = (uint8_t)acc;
        p += off;
        if (p == n)
            break;
        if (s[p] != ':' || p + 1 == n)
            return false;
        p++;
        if (s[p] == ':') {
            if (ellipsis >= 0)
                return false; /* a second '::' */
            ellipsis = (int)i;
            p++;
            if (p == n)
                break;
        }
    }
    if (p != n)
        return false;
    if (i < 16) {
        if (ellipsis < 0)
            return false;
        size_t tail = i - (size_t)ellipsis;
        memmove(b + 16 - tail, b + ellipsis, tail);
        memset(b + ellipsis, 0, 16 - i);
    } else if (ellipsis >= 0) {
        return false; /* '::' must stand for at least one zero group */
    }
    return true;
}

/* netip.ParseAddr plus Kubernetes' refusals; NULL, or why not. */
static const char *ip_parse(const char *s, size_t n, net_ip *out)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < n && s[i] != '.' && s[i] != ':' && s[i] != '%')
        i++;
    if (i == n || s[i] == '%')
        return "parse error during conversion from string";
    if (s[i] == '.') {
        out->v4 = true;
        return parse4(s, n, out->b) ? NULL : "parse error during conversion from string";
    }
    const char *pct = memchr(s, '%', n);
    size_t an = pct ? (size_t)(pct - s) : n;
    if (!parse6(s, an, out->b) || (pct && an + 1 == n))
        return "parse error during conversion from string";
    if (pct)
        return "with zone value is not allowed";
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out->b, mapped, 12) == 0)
        return "IPv4-mapped IPv6 address is not allowed";
    return NULL;
}

static const char *cidr_parse(const char *s, size_t n, net_cidr *out)
{
    int slash = -1;
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == '/') {
            slash = (int)(i - 1);
            break;
        }
    if (slash < 0)
        return "network address parse error during conversion from string: no '/'";
    const char *why = ip_parse(s, (size_t)slash, &out->ip);
    if (why != NULL)
        return why;
    const char *d = s + slash + 1;
    size_t dn = n - (size_t)slash - 1;
    int bits = 0;
    if (dn == 0 || dn > 3 || (dn > 1 && d[0] == '0'))
        return "network address parse error during conversion from string: bad bits after slash";
    for (size_t i = 0; i < dn; i++) {
        if (d[i] < '0' || d[i] > '9')
            return "network address parse error during conversion from string: bad bits after "
                   "slash";
        bits = bits * 10 + (d[i] - '0');
    }
    if (bits > (out->ip.v4 ? 32 : 128))
        return "network address parse error during conversion from string: prefix length out "
               "of range";
    out->bits = bits;
    return NULL;
}

/* ---- values ---- */

static bool ip_equal(const expr_opaque *a, const expr_opaque *b)
{
    return ip_same(a->data, b->data);
}

static const char *ip_to_string(const expr_opaque *o, arena *a)
{
    char buf[64];
    ip_format(o->data, buf, sizeof buf);
    return arena_strdup(a, buf);
}

static bool cidr_equal(const expr_opaque *a, const expr_opaque *b)
{
    const net_cidr *x = a->data, *y = b->data;
    return x->bits == y->bits && ip_same(&x->ip, &y->ip);
}

static const char *cidr_to_string(const expr_opaque *o, arena *a)
{
    const net_cidr *c = o->data;
    char buf[64];
    ip_format(&c->ip, buf, sizeof buf);
    return arena_sprintf(a, "%s/%d", buf, c->bits);
}

static const expr_opaque_type ip_type = {"net.IP", ip_equal, ip_to_string};
static const expr_opaque_type cidr_type = {"net.CIDR", cidr_equal, cidr_to_string};

static const net_ip *as_ip(const expr_value *v)
{
    return v->kind == EXPR_OPAQUE && v->v.obj->type == &ip_type ? v->v.obj->data : NULL;
}

static const net_cidr *as_cidr(const expr_value *v)
{
    return v->kind == EXPR_OPAQUE && v->v.obj->type == &cidr_type ? v->v.obj->data : NULL;
}

static expr_value make(const expr_call *c, const expr_opaque_type *t, const void *data, size_t n)
{
    void *d = arena_alloc(c->a, n);
    expr_opaque *o = arena_alloc(c->a, sizeof *o);
    if (d == NULL || o == NULL)
        return fn_error(c, "expr.limit", "out of memory");
    memcpy(d, data, n);
    o->type = t;
    o->data = d;
    expr_value v = {.kind = EXPR_OPAQUE};
    v.v.obj = o;
    return v;
}

static expr_value parse_error(const expr_call *c, const char *what, const expr_value *s,
                              const char *why)
{
    return expr_error_new(c->a, "expr.ip", c->span, "%s '%.*s' %s", what,
                          (int)(s->len > 200 ? 200 : s->len), s->v.s, why);
}

/* ip(string), and cidr.ip(): the address of a CIDR, as written. */
static expr_value fn_ip(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)n;
    if (r != NULL) {
        const net_cidr *cd = as_cidr(r);
        if (cd == NULL)
            return fn_no_overload(c, "ip", r);
        return make(c, &ip_type, &cd->ip, sizeof cd->ip);
    }
    if (a[0].kind != EXPR_STRING)
        return fn_no_overload(c, "ip", &a[0]);
    net_ip ip;
    const char *why = ip_parse(a[0].v.s, a[0].len, &ip);
    if (why != NULL)
        return parse_error(c, "IP Address", &a[0], why);
    return make(c, &ip_type, &ip, sizeof ip);
}

static expr_value fn_is_ip(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return fn_no_overload(c, "isIP", &a[0]);
    net_ip ip;
    return ev_bool(ip_parse(a[0].v.s, a[0].len, &ip) == NULL);
}

/* ip.isCanonical(s): s parses, and is written as ip() prints it. */
static expr_value fn_ip_is_canonical(const expr_call *c, const expr_value *r, const expr_value *a,
                                     size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return fn_no_overload(c, "ip.isCanonical", &a[0]);
    net_ip ip;
    const char *why = ip_parse(a[0].v.s, a[0].len, &ip);
    if (why != NULL)
        return parse_error(c, "IP Address", &a[0], why);
    char buf[64];
    ip_format(&ip, buf, sizeof buf);
    return ev_bool(strlen(buf) == a[0].len && memcmp(buf, a[0].v.s, a[0].len) == 0);
}

enum ip_prop { P_FAMILY, P_UNSPEC, P_LOOPBACK, P_LL_MULTICAST, P_LL_UNICAST, P_GLOBAL_UNICAST };

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* netip's predicates. */
static bool ip_prop(const net_ip *ip, enum ip_prop p)
{
    const uint8_t *b = ip->b;
    static const uint8_t v6_loopback[16] = {[15] = 1};
    bool unspec = all_zero(b, ip->v4 ? 4 : 16);
    bool loopback = ip->v4 ? b[0] == 127 : memcmp(b, v6_loopback, 16) == 0;
    bool multicast = ip->v4 ? (b[0] & 0xF0) == 0xE0 : b[0] == 0xFF;
    bool ll_unicast = ip->v4 ? b[0] == 169 && b[1] == 254 : b[0] == 0xFE && (b[1] & 0xC0) == 0x80;
    switch (p) {
    case P_UNSPEC: return unspec;
    case P_LOOPBACK: return loopback;
    case P_LL_MULTICAST:
        return ip->v4 ? b[0] == 224 && b[1] == 0 && b[2] == 0 : b[0] == 0xFF && (b[1] & 0x0F) == 2;
    case P_LL_UNICAST: return ll_unicast;
    case P_GLOBAL_UNICAST: {
        bool broadcast = ip->v4 && b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255;
        return !unspec && !broadcast && !loopback && !multicast && !ll_unicast;
    }
    default: return false;
    }
}

static expr_value ip_method(const expr_call *c, const expr_value *r, enum ip_prop p,
                            const char *name)
{
    const net_ip *ip = as_ip(r);
    if (ip == NULL)
        return fn_no_overload(c, name, r);
    if (p == P_FAMILY)
        return ev_int(ip->v4 ? 4 : 6);
    return ev_bool(ip_prop(ip, p));
}

#define IP_METHOD(fn, prop, name)                                                                \
    static expr_value fn(const expr_call *c, const expr_value *r, const expr_value *a, size_t n) \
    {                                                                                            \
        (void)a;                                                                                 \
        (void)n;                                                                                 \
        return ip_method(c, r, prop, name);                                                      \
    }

IP_METHOD(fn_family, P_FAMILY, "family")
IP_METHOD(fn_is_unspecified, P_UNSPEC, "isUnspecified")
IP_METHOD(fn_is_loopback, P_LOOPBACK, "isLoopback")
IP_METHOD(fn_is_ll_multicast, P_LL_MULTICAST, "isLinkLocalMulticast")
IP_METHOD(fn_is_ll_unicast, P_LL_UNICAST, "isLinkLocalUnicast")
IP_METHOD(fn_is_global_unicast, P_GLOBAL_UNICAST, "isGlobalUnicast")

static expr_value fn_cidr(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return fn_no_overload(c, "cidr", &a[0]);
    net_cidr cd;
    const char *why = cidr_parse(a[0].v.s, a[0].len, &cd);
    if (why != NULL)
        return parse_error(c, "CIDR", &a[0], why);
    return make(c, &cidr_type, &cd, sizeof cd);
}

static expr_value fn_is_cidr(const expr_call *c, const expr_value *r, const expr_value *a,
                             size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_STRING)
        return fn_no_overload(c, "isCIDR", &a[0]);
    net_cidr cd;
    return ev_bool(cidr_parse(a[0].v.s, a[0].len, &cd) == NULL);
}

/* The first 'bits' bits of a and b agree. */
static bool prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static expr_value fn_contains_ip(const expr_call *c, const expr_value *r, const expr_value *a,
                                 size_t n)
{
    (void)n;
    const net_cidr *cd = as_cidr(r);
    if (cd == NULL)
        return fn_no_overload(c, "containsIP", r);
    net_ip parsed;
    const net_ip *ip = as_ip(&a[0]);
    if (ip == NULL && a[0].kind == EXPR_STRING) {
        const char *why = ip_parse(a[0].v.s, a[0].len, &parsed);
        if (why != NULL)
            return parse_error(c, "IP Address", &a[0], why);
        ip = &parsed;
    }
    if (ip == NULL)
        return fn_no_overload(c, "containsIP", &a[0]);
    return ev_bool(ip->v4 == cd->ip.v4 && prefix_match(ip->b, cd->ip.b, cd->bits));
}

static expr_value fn_contains_cidr(const expr_call *c, const expr_value *r, const expr_value *a,
                                   size_t n)
{
    (void)n;
    const net_cidr *cd = as_cidr(r);
    if (cd == NULL)
        return fn_no_overload(c, "containsCIDR", r);
    net_cidr parsed;
    const net_cidr *in = as_cidr(&a[0]);
    if (in == NULL && a[0].kind == EXPR_STRING) {
        const char *why = cidr_parse(a[0].v.s, a[0].len, &parsed);
        if (why != NULL)
            return parse_error(c, "CIDR", &a[0], why);
        in = &parsed;
    }
    if (in == NULL)
        return fn_no_overload(c, "containsCIDR", &a[0]);
    return ev_bool(in->ip.v4 == cd->ip.v4 && cd->bits <= in->bits &&
                   prefix_match(in->ip.b, cd->ip.b, cd->bits));
}

static expr_value fn_masked(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    const net_cidr *cd = as_cidr(r);
    if (cd == NULL)
        return fn_no_overload(c, "masked", r);
    net_cidr m = *cd;
    int len = m.ip.v4 ? 4 : 16;
    for (int i = 0; i < len; i++) {
        int keep = m.bits - 8 * i;
        m.ip.b[i] &= keep >= 8 ? 0xFF : keep <= 0 ? 0 : (uint8_t)(0xFF << (8 - keep));
    }
    return make(c, &cidr_type, &m, sizeof m);
}

static expr_value fn_prefix_length(const expr_call *c, const expr_value *r, const expr_value *a,
                                   size_t n)
{
    (void)a;
    (void)n;
    const net_cidr *cd = as_cidr(r);
    if (cd == NULL)
        return fn_no_overload(c, "prefixLength", r);
    return ev_int(cd->bits);
}

const expr_fn_def expr_net_fns[] = {
    {"ip", EXPR_BOTH, 0, 0, fn_ip, false},
    {"isIP", EXPR_GLOBAL, 1, 1, fn_is_ip, false},
    {"ip.isCanonical", EXPR_GLOBAL, 1, 1, fn_ip_is_canonical, false},
    {"family", EXPR_MEMBER, 0, 0, fn_family, false},
    {"isUnspecified", EXPR_MEMBER, 0, 0, fn_is_unspecified, false},
    {"isLoopback", EXPR_MEMBER, 0, 0, fn_is_loopback, false},
    {"isLinkLocalMulticast", EXPR_MEMBER, 0, 0, fn_is_ll_multicast, false},
    {"isLinkLocalUnicast", EXPR_MEMBER, 0, 0, fn_is_ll_unicast, false},
    {"isGlobalUnicast", EXPR_MEMBER, 0, 0, fn_is_global_unicast, false},
    {"cidr", EXPR_GLOBAL, 1, 1, fn_cidr, false},
    {"isCIDR", EXPR_GLOBAL, 1, 1, fn_is_cidr, false},
    {"containsIP", EXPR_MEMBER, 1, 1, fn_contains_ip, false},
    {"containsCIDR", EXPR_MEMBER, 1, 1, fn_contains_cidr, false},
    {"masked", EXPR_MEMBER, 0, 0, fn_masked, false},
    {"prefixLength", EXPR_MEMBER, 0, 0, fn_prefix_length, false},
};
const size_t expr_n_net_fns = sizeof expr_net_fns / sizeof expr_net_fns[0];
