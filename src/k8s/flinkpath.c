/* flinkpath.c - Flink's Path(String) reading of a directory option, Java's trim() and
 * toUpperCase(Locale.ROOT); see flinkpath.h.
 *
 * Follows org.apache.flink.core.fs.Path: Flink 1.x trims the string and its path part with
 * String.trim(), Flink 2.x does not. Everything else is the same in both: the scheme is what
 * precedes a ':' that comes before any '/', a "//" after it starts an authority that runs to
 * the next '/', and only the path part gets '\' -> '/', runs of '/' collapsed and a trailing
 * '/' dropped, before java.net.URI checks the scheme and normalize() resolves dot segments. */
#include "flinkpath.h"

#include <string.h>

size_t k8s_java_trim(const char *s, size_t len, size_t *start)
{
    size_t b = 0, e = len;
    /* UTF-8 never uses bytes below 0x80 inside a longer character, so bytes <= 0x20 are
     * exactly the characters <= U+0020 that String.trim() strips. */
    while (b < e && (unsigned char)s[b] <= 0x20)
        b++;
    while (e > b && (unsigned char)s[e - 1] <= 0x20)
        e--;
    *start = b;
    return e - b;
}

size_t k8s_flink_conf_value(const char *s, size_t len, size_t *start)
{
    size_t end = 0;
    while (end < len && s[end] != '#' && s[end] != '\n' && s[end] != '\r')
        end++;
    return k8s_java_trim(s, end, start);
}

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Path.hasWindowsDrive: "C:..." ('slashed' false) or "/C:..." ('slashed' true). */
static bool has_windows_drive(const char *p, size_t len, bool slashed)
{
    size_t st = slashed ? 1 : 0;
    return len >= st + 2 && (!slashed || p[0] == '/') && p[st + 1] == ':' && is_alpha(p[st]);
}

/* java.net.URI's scheme syntax: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
static bool is_uri_scheme(const char *s, size_t len)
{
    if (len == 0 || !is_alpha(s[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.')
            return false;
    }
    return true;
}

/* What normalize() saw that the path it writes no longer shows. */
typedef struct norm_info {
    bool trail;   /* URI.normalize() would end the path with '/' ("/C:/", "/a/b/.." -> "/a/") */
    bool dropped; /* a ".." at the root was dropped: the URI path began "/.." */
} norm_info;

/* Path.normalizePath ('\' -> '/', runs of '/' collapsed), URI.normalize()'s dot segments,
 * and the ".." left at the root of an absolute path dropped; no trailing '/'. Writes into
 * 'out' (at least len + 2 bytes). */
static norm_info normalize(const char *p, size_t len, char *out)
{
    norm_info ni = {false, false};
    size_t n = 0, o = 0;  /* segments written, bytes written */
    size_t depth = 0;     /* segments written that a ".." may remove (not a kept "..") */
    bool abs = len > 0 && (p[0] == '/' || p[0] == '\\');
    size_t root = abs ? 1 : 0;
    if (abs)
        out[o++] = '/';
    for (size_t i = root; i <= len;) {
        size_t j = i;
        while (j < len && p[j] != '/' && p[j] != '\\')
            j++;
        size_t sl = j - i;
        bool dot = sl == 1 && p[i] == '.', dotdot = sl == 2 && p[i] == '.' && p[i + 1] == '.';
        if (dotdot && depth > 0) { /* removes the last segment */
            while (o > root && out[o - 1] != '/')
                o--;
            if (o > root)
                o--;
            depth--;
            n--;
            ni.trail = true;
        } else if (dotdot && abs) { /* "/.." is "/" */
            ni.dropped = true;
        } else if (sl > 0 && !dot) { /* a name, or a leading ".." of a relative path */
            if (n > 0)
                out[o++] = '/';
            memcpy(out + o, p + i, sl);
            o += sl;
            n++;
            depth += dotdot ? 0 : 1;
            ni.trail = j < len;
        }
        i = j + 1;
    }
    if (!abs && o == 0)
        out[o++] = '.';
    out[o] = '\0';
    return ni;
}

/* The error for a string that Flink 1.x and 2.x read differently. */
static const char *const padded =
    "has leading or trailing spaces or control characters: Flink 1.x trims them, Flink 2.x "
    "keeps them and reads another path or rejects it";

int k8s_flink_path_parse(arena *a, const char *s, size_t len, k8s_flink_path *out)
{
    *out = (k8s_flink_path){.scheme = "", .authority = "", .path = ""};
    size_t b;
    size_t tl = k8s_java_trim(s, len, &b);
    if (tl == 0) {
        out->error = "is blank";
        return 0;
    }
    if (tl != len)
        out->error = padded;
    if (memchr(s + b, '#', tl) != NULL)
        out->error = "contains '#', where Flink 1.x's flink-conf.yaml parser starts a comment: "
                     "Flink 1.x reads only what precedes it, Flink 2.x the whole value";
    else if (memchr(s + b, '\n', tl) != NULL || memchr(s + b, '\r', tl) != NULL)
        out->error = "contains a line break, where Flink 1.x's flink-conf.yaml parser ends the "
                     "value: Flink 1.x reads only what precedes it, Flink 2.x the whole value";
    /* Path(String): "C:/x" gets a leading '/' so that "C" is not taken for a scheme. */
    char *t = arena_alloc(a, tl + 2);
    if (t == NULL)
        return -1;
    size_t off = has_windows_drive(s + b, tl, false) ? 1 : 0;
    t[0] = '/';
    memcpy(t + off, s + b, tl);
    tl += off;
    t[tl] = '\0';
    const char *colon = memchr(t, ':', tl), *slash = memchr(t, '/', tl);
    size_t start = 0;
    bool has_scheme = colon != NULL && (slash == NULL || colon < slash);
    if (has_scheme) {
        size_t sl = (size_t)(colon - t);
        char *scheme = arena_strndup(a, t, sl);
        if (scheme == NULL)
            return -1;
        for (char *c = scheme; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        out->scheme = scheme;
        start = sl + 1;
        if (!is_uri_scheme(t, sl))
            out->error = "has an invalid URI scheme, which Flink rejects";
    }
    bool has_auth = tl - start > 2 && t[start] == '/' && t[start + 1] == '/';
    if (has_auth) {
        const char *ns = memchr(t + start + 2, '/', tl - start - 2);
        size_t end = ns != NULL ? (size_t)(ns - t) : tl;
        out->authority = arena_strndup(a, t + start + 2, end - start - 2);
        if (out->authority == NULL)
            return -1;
        start = end;
    }
    /* Flink 1.x's normalizePath trims the path part as well: "file: /x" is /x there. */
    size_t pb;
    size_t pl = k8s_java_trim(t + start, tl - start, &pb);
    if (pl != tl - start && out->error == NULL)
        out->error = padded;
    const char *p = t + start + pb;
    char *norm = arena_alloc(a, pl + 3);
    if (norm == NULL)
        return -1;
    norm_info ni = normalize(p, pl, norm);
    size_t nl = strlen(norm);
    bool abs = pl > 0 && (p[0] == '/' || p[0] == '\\');
    /* Path.isAbsolute on the URI path: a '/' after the drive of "/C:", if there is one. */
    bool drive = abs && !ni.dropped && has_windows_drive(norm, nl, true);
    out->absolute = abs && (!drive || norm[3] == '/' || (norm[3] == '\0' && ni.trail));
    out->path = pl == 0 ? "" : drive && !out->absolute ? norm + 1 : norm;
    /* java.net.URI: with a scheme, the path is empty (then an authority must follow) or
     * begins with '/'. */
    if (has_scheme && out->error == NULL && (pl == 0 ? !has_auth : !abs))
        out->error = "has a scheme but a relative or empty path, which Flink rejects";
    return 0;
}

/* The characters outside ASCII whose upper case (Java, Locale.ROOT, SpecialCasing included)
 * contains an ASCII letter, in UTF-8, with that upper case in UTF-8. */
static const struct { const char *from, *to; } special_upper[] = {
    {"\xC4\xB1", "I"},                /* U+0131 dotless i */
    {"\xC5\xBF", "S"},                /* U+017F long s */
    {"\xC3\x9F", "SS"},               /* U+00DF sharp s */
    {"\xC5\x89", "\xCA\xBCN"},        /* U+0149 -> U+02BC N */
    {"\xC7\xB0", "J\xCC\x8C"},        /* U+01F0 -> J U+030C */
    {"\xE1\xBA\x96", "H\xCC\xB1"},    /* U+1E96 -> H U+0331 */
    {"\xE1\xBA\x97", "T\xCC\x88"},    /* U+1E97 -> T U+0308 */
    {"\xE1\xBA\x98", "W\xCC\x8A"},    /* U+1E98 -> W U+030A */
    {"\xE1\xBA\x99", "Y\xCC\x8A"},    /* U+1E99 -> Y U+030A */
    {"\xE1\xBA\x9A", "A\xCA\xBE"},    /* U+1E9A -> A U+02BE */
    {"\xEF\xAC\x80", "FF"},           /* U+FB00 */
    {"\xEF\xAC\x81", "FI"},           /* U+FB01 */
    {"\xEF\xAC\x82", "FL"},           /* U+FB02 */
    {"\xEF\xAC\x83", "FFI"},          /* U+FB03 */
    {"\xEF\xAC\x84", "FFL"},          /* U+FB04 */
    {"\xEF\xAC\x85", "ST"},           /* U+FB05 long s t */
    {"\xEF\xAC\x86", "ST"},           /* U+FB06 */
};

char *k8s_java_upper(arena *a, const char *s, size_t len, size_t *out_len)
{
    /* No mapping more than doubles a character's bytes ("ß" 2 -> 2, "ﬃ" 3 -> 3, "ı" 2 -> 1). */
    char *out = arena_alloc(a, 2 * len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out[o++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
            i++;
            continue;
        }
        size_t k = 0, n = sizeof special_upper / sizeof special_upper[0];
        size_t fl = 0;
        for (; k < n; k++) {
            fl = strlen(special_upper[k].from);
            if (fl <= len - i && memcmp(s + i, special_upper[k].from, fl) == 0)
                break;
        }
        if (k < n) {
            size_t tl = strlen(special_upper[k].to);
            memcpy(out + o, special_upper[k].to, tl);
            o += tl;
            i += fl;
        } else {
            out[o++] = (char)c;
            i++;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}
