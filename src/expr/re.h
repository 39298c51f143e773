/* re.h - regular expressions for matches(): PCRE2 behind a small interface (fn_regex.c).
 *
 * CEL specifies RE2. PCRE2 is a superset; the constructs RE2 refuses (backreferences,
 * lookaround, atomic groups, possessive quantifiers, \C) are refused here too, so that a
 * policy that works here also works in Kubernetes. Matching is a search (not anchored) and
 * runs under match, depth and heap limits. A pattern of literal text alone (an alternation of
 * characters and classes: expr_regex_is_literal) is searched without PCRE2 in ASCII subjects. */
#ifndef SG_EXPR_RE_H
#define SG_EXPR_RE_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/arena.h"

#define EXPR_REGEX_MAX_PATTERN 4096
#define EXPR_REGEX_MATCH_LIMIT 200000
#define EXPR_REGEX_DEPTH_LIMIT 5000
#define EXPR_REGEX_HEAP_KIB    8192

typedef struct expr_regex expr_regex;

/* Compiles 'len' bytes of 'pat' into 'a' (JIT-compiled when 'jit'; the JIT memory is released
 * when 'a' is freed). Returns NULL with a reason in 'err' for a bad or unsupported pattern. */
const expr_regex *expr_regex_compile(arena *a, const char *pat, size_t len, bool jit, char *err,
                                     size_t errcap);

/* Searches 's' for a match. Returns 1 (match), 0 (none), or -1 with a reason in 'err' when a
 * limit was hit; scratch memory comes from 'a'. */
int expr_regex_match(const expr_regex *re, const char *s, size_t len, arena *a, char *err,
                     size_t errcap);

/* Whether 're' (compiled with 'jit', i.e. once, at load time) is an alternation of literal
 * text, such as (?i)secret|token or [=@]|KEY-----, which an ASCII subject is searched for
 * without PCRE2 (fn_regex.c). For the tests; the answers are the same either way. */
bool expr_regex_is_literal(const expr_regex *re);

#endif
