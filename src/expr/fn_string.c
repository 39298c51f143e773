/* fn_string.c - the Kubernetes CEL string library: lowerAscii, upperAscii, trim, split,
 * join, replace, indexOf, lastIndexOf, substring, charAt. Indexes count code points, as in
 * Kubernetes; results are capped at EXPR_MAX_STRING bytes and EXPR_MAX_ELEMENTS elements. */
#include "fn_int.h"

#include <string.h>

static bool is_str(const expr_value *v) { return v->kind == EXPR_STRING; }

static expr_value too_big(const expr_call *c)
{
    return fn_error(c, "expr.limit", "string result too large");
}

static expr_value map_ascii(const expr_call *c, const expr_value *r, bool upper)
{
    if (!is_str(r))
        return fn_no_overload(c, upper ? "upperAscii" : "lowerAscii", r);
    char *s = arena_alloc(c->a, r->len + 1);
    if (s == NULL)
        return too_big(c);
    for (uint32_t i = 0; i < r->len; i++) {
        char ch = r->v.s[i];
        if (upper && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 32);
        else if (!upper && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        s[i] = ch;
    }
    s[r->len] = '\0';
    return ev_str(s, r->len);
}

expr_value fn_lower_ascii(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    return map_ascii(c, r, false);
}

expr_value fn_upper_ascii(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    return map_ascii(c, r, true);
}

/* Unicode's White_Space property, which Go's unicode.IsSpace (and so cel-go's trim(), through
 * strings.TrimSpace) tests: the ASCII six, NEL, NBSP, OGHAM SPACE MARK, the spaces U+2000 to
 * U+200A, LINE and PARAGRAPH SEPARATOR, NNBSP, MMSP and IDEOGRAPHIC SPACE. Not U+200B (zero
 * width space) nor U+FEFF: they are not White_Space. */
static bool is_white_space(uint32_t cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* The code point of the UTF-8 sequence of 'n' bytes at 's'; a stray byte (invalid UTF-8 from
 * a JSON input) is U+FFFD, never the Latin-1 character of the same number (0x85 is no NEL). */
static uint32_t decode_cp(const unsigned char *s, uint32_t n)
{
    if (n == 1)
        return s[0] < 0x80 ? s[0] : 0xFFFD;
    uint32_t cp = s[0] & (0x7F >> n);
    for (uint32_t i = 1; i < n; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    return cp;
}

/* Length of the UTF-8 sequence that starts with the byte 'b' (1 for a stray byte). */
static uint32_t seq_len(unsigned char b)
{
    return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
}

expr_value fn_trim(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)a;
    (void)n;
    if (!is_str(r))
        return fn_no_overload(c, "trim", r);
    const unsigned char *p = (const unsigned char *)r->v.s;
    uint32_t s = 0, e = r->len;
    while (s < e) {
        uint32_t k = seq_len(p[s]);
        if (k > e - s || !is_white_space(decode_cp(p + s, k)))
            break;
        s += k;
    }
    while (e > s) {
        uint32_t b = e - 1; /* back to the lead byte of the last sequence */
        while (b > s && (p[b] & 0xC0) == 0x80 && e - b < 4)
            b--;
        if (seq_len(p[b]) != e - b || !is_white_space(decode_cp(p + b, e - b)))
            break;
        e = b;
    }
    return ev_str(r->v.s + s, e - s);
}

/* Byte offset of code point 'cp' in s (len bytes); len when cp == count. */
static uint32_t cp_offset(const char *s, uint32_t len, uint32_t cp)
{
    uint32_t i = 0;
    while (i < len && cp > 0) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        cp--;
    }
    return i;
}

/* cp_offset() for a string of 'count' code points: when there are as many as bytes (ASCII,
 * the usual case), code point i is byte i, and nothing need be walked. */
static uint32_t cp_byte(const char *s, uint32_t len, uint32_t count, uint32_t cp)
{
    return count == len ? cp : cp_offset(s, len, cp);
}

/* utf8_count() of the first 'b' bytes of a string of 'count' code points in 'len' bytes. */
static uint32_t byte_cp(const char *s, uint32_t len, uint32_t count, uint32_t b)
{
    return count == len ? b : utf8_count(s, b);
}

static uint32_t next_cp(const char *s, uint32_t len, uint32_t i)
{
    i++;
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static const char *find(const char *h, uint32_t hl, const char *nd, uint32_t nl)
{
    return nl == 0 ? h : memmem(h, hl, nd, nl);
}

expr_value fn_split(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    if (!is_str(r) || !is_str(&a[0]) || (n > 1 && a[1].kind != EXPR_INT))
        return fn_no_overload(c, "split", r);
    int64_t limit = n > 1 ? a[1].v.i : -1;
    /* At most one element per byte, plus the tail; never more than the element cap. */
    uint32_t cap = r->len + 1 < EXPR_MAX_ELEMENTS ? r->len + 1 : EXPR_MAX_ELEMENTS;
    expr_list *l = ev_list_new(c->a, cap);
    if (l == NULL)
        return too_big(c);
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = l;
    l->n = 0;
    if (limit == 0)
        return v;
    const expr_value *sep = &a[0];
    uint32_t k = 0, pos = 0;
    while (pos < r->len || (sep->len > 0 && pos == r->len)) {
        if (limit > 0 && k + 1 == (uint64_t)limit)
            break;
        uint32_t end;
        if (sep->len == 0) {
            end = next_cp(r->v.s, r->len, pos); /* one code point per element */
        } else {
            const char *hit = find(r->v.s + pos, r->len - pos, sep->v.s, sep->len);
            if (hit == NULL)
                break;
            end = (uint32_t)(hit - r->v.s);
        }
        if (k + 1 >= cap)
            return too_big(c);
        l->items[k++] = ev_str(r->v.s + pos, end - pos);
        pos = end + sep->len;
    }
    /* The tail: always with a separator (Split("a,", ",") ends in ""), and with an empty
     * separator only when a limit stopped the loop early. */
    if (sep->len > 0 || pos < r->len)
        l->items[k++] = ev_str(r->v.s + pos, r->len - pos);
    l->n = k;
    return v;
}

expr_value fn_join(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    if (r->kind != EXPR_LIST || (n > 0 && !is_str(&a[0])))
        return fn_no_overload(c, "join", r);
    uint64_t total = 0;
    ev_iter iter;
    expr_value it;
    ev_iter_init(&iter, r);
    for (uint32_t i = 0; ev_iter_next(&iter, NULL, &it); i++) {
        if (!is_str(&it))
            return fn_no_overload(c, "join", &it);
        total += it.len + (n > 0 && i > 0 ? a[0].len : 0);
    }
    if (total > EXPR_MAX_STRING)
        return too_big(c);
    char *s = arena_alloc(c->a, total + 1);
    if (s == NULL)
        return too_big(c);
    uint32_t k = 0;
    ev_iter_init(&iter, r);
    for (uint32_t i = 0; ev_iter_next(&iter, NULL, &it); i++) {
        if (n > 0 && i > 0) {
            memcpy(s + k, a[0].v.s, a[0].len);
            k += a[0].len;
        }
        memcpy(s + k, it.v.s, it.len);
        k += it.len;
    }
    s[k] = '\0';
    return ev_str(s, k);
}

expr_value fn_replace(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    if (!is_str(r) || !is_str(&a[0]) || !is_str(&a[1]) || (n > 2 && a[2].kind != EXPR_INT))
        return fn_no_overload(c, "replace", r);
    int64_t limit = n > 2 ? a[2].v.i : -1;
    const expr_value *old = &a[0], *rep = &a[1];
    /* Upper bound of the result: every position replaced. */
    uint64_t max = (uint64_t)r->len + (uint64_t)(r->len + 1) * rep->len;
    if (max > EXPR_MAX_STRING)
        max = EXPR_MAX_STRING;
    char *s = arena_alloc(c->a, max + 1);
    if (s == NULL)
        return too_big(c);
    uint64_t k = 0;
    uint32_t pos = 0;
    int64_t done = 0;
    while (pos <= r->len && (limit < 0 || done < limit)) {
        const char *hit = find(r->v.s + pos, r->len - pos, old->v.s, old->len);
        if (hit == NULL)
            break;
        uint32_t at = (uint32_t)(hit - r->v.s);
        uint32_t step = old->len == 0 ? (at < r->len ? next_cp(r->v.s, r->len, at) - at : 0) : 0;
        if (k + (at - pos) + rep->len + step > max)
            return too_big(c);
        memcpy(s + k, r->v.s + pos, at - pos);
        k += at - pos;
        memcpy(s + k, rep->v.s, rep->len);
        k += rep->len;
        done++;
        if (old->len == 0) { /* empty pattern: after each code point */
            memcpy(s + k, r->v.s + at, step);
            k += step;
            pos = at + step;
            if (step == 0)
                break;
        } else {
            pos = at + old->len;
        }
    }
    if (pos < r->len) {
        if (k + (r->len - pos) > max)
            return too_big(c);
        memcpy(s + k, r->v.s + pos, r->len - pos);
        k += r->len - pos;
    }
    s[k] = '\0';
    return ev_str(s, (uint32_t)k);
}

static expr_value index_of(const expr_call *c, const expr_value *r, const expr_value *a, size_t n,
                           bool last)
{
    const char *name = last ? "lastIndexOf" : "indexOf";
    if (!is_str(r) || !is_str(&a[0]) || (n > 1 && a[1].kind != EXPR_INT))
        return fn_no_overload(c, name, r);
    uint32_t count = utf8_count(r->v.s, r->len);
    int64_t off = n > 1 ? a[1].v.i : (last ? (int64_t)count : 0);
    if (off < 0 || off > (int64_t)count)
        return fn_error(c, "expr.index", "index out of range");
    const expr_value *sub = &a[0];
    if (!last) {
        uint32_t b = cp_byte(r->v.s, r->len, count, (uint32_t)off);
        const char *hit = find(r->v.s + b, r->len - b, sub->v.s, sub->len);
        if (hit == NULL)
            return ev_int(-1);
        return ev_int((int64_t)byte_cp(r->v.s, r->len, count, (uint32_t)(hit - r->v.s)));
    }
    /* Last match starting at or before code point 'off': searched backwards from there, so
     * that the usual case (a separator near the end) stops at once. The places tried are
     * where a code point starts, as a walk from the start steps: byte 0, then every byte that
     * is not a continuation byte (10xxxxxx), and the end. */
    uint32_t limit = cp_byte(r->v.s, r->len, count, (uint32_t)off);
    if (sub->len > r->len)
        return ev_int(-1);
    const unsigned char *p = (const unsigned char *)r->v.s;
    for (uint32_t i = limit < r->len - sub->len ? limit : r->len - sub->len;; i--) {
        if ((i == 0 || i == r->len || (p[i] & 0xC0) != 0x80) &&
            (sub->len == 0 || (r->v.s[i] == sub->v.s[0] &&
                               memcmp(r->v.s + i, sub->v.s, sub->len) == 0)))
            return ev_int((int64_t)byte_cp(r->v.s, r->len, count, i));
        if (i == 0)
            return ev_int(-1);
    }
}

expr_value fn_index_of(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    return index_of(c, r, a, n, false);
}

expr_value fn_last_index_of(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    return index_of(c, r, a, n, true);
}

expr_value fn_substring(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    if (!is_str(r) || a[0].kind != EXPR_INT || (n > 1 && a[1].kind != EXPR_INT))
        return fn_no_overload(c, "substring", r);
    int64_t count = utf8_count(r->v.s, r->len);
    int64_t s = a[0].v.i, e = n > 1 ? a[1].v.i : count;
    if (s < 0 || s > count || e < 0 || e > count || s > e)
        return fn_error(c, "expr.index", "substring index out of range");
    uint32_t bs = cp_byte(r->v.s, r->len, (uint32_t)count, (uint32_t)s);
    uint32_t be = cp_byte(r->v.s, r->len, (uint32_t)count, (uint32_t)e);
    return ev_str(r->v.s + bs, be - bs);
}

expr_value fn_char_at(const expr_call *c, const expr_value *r, const expr_value *a, size_t n)
{
    (void)n;
    if (!is_str(r) || a[0].kind != EXPR_INT)
        return fn_no_overload(c, "charAt", r);
    int64_t count = utf8_count(r->v.s, r->len), i = a[0].v.i;
    if (i < 0 || i > count)
        return fn_error(c, "expr.index", "charAt index out of range");
    uint32_t b = cp_byte(r->v.s, r->len, (uint32_t)count, (uint32_t)i);
    uint32_t e = b < r->len ? next_cp(r->v.s, r->len, b) : b;
    return ev_str(r->v.s + b, e - b);
}
