/* fn_int.h - helpers shared by the function families (builtins.c, fn_string.c, fn_list.c). */
#ifndef SG_EXPR_FN_INT_H
#define SG_EXPR_FN_INT_H

#include "expr_int.h"

/* The value a function works on: the receiver of a member call, or the first argument of a
 * global one. '*rest' and '*nrest' are the remaining arguments. */
static inline const expr_value *fn_subject(const expr_value *recv, const expr_value *args,
                                           size_t nargs, const expr_value **rest, size_t *nrest)
{
    if (recv != NULL) {
        *rest = args;
        *nrest = nargs;
        return recv;
    }
    *rest = args + 1;
    *nrest = nargs - 1;
    return &args[0];
}

__attribute__((cold)) expr_value fn_no_overload(const expr_call *c, const char *fn,
                                                const expr_value *a);
__attribute__((cold)) expr_value fn_error(const expr_call *c, const char *code, const char *msg);

/* String family (fn_string.c) and list family (fn_list.c). */
expr_value fn_lower_ascii(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_upper_ascii(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_trim(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_split(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_join(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_replace(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_index_of(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_last_index_of(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_substring(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_char_at(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_is_sorted(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_sum(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_flatten(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_min(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_max(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_list_index_of(const expr_call *c, const expr_value *r, const expr_value *a, size_t n,
                            bool last);

/* cel-go's strings extension (fn_format.c): format(), strings.quote(), reverse(). */
expr_value fn_format(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_quote(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);
expr_value fn_reverse(const expr_call *c, const expr_value *r, const expr_value *a, size_t n);

#endif
