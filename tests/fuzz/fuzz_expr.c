/* fuzz_expr.c - libFuzzer target for the expression language: parse + check + eval.
 *
 * Input: the expression up to the first newline, then (optionally) a JSON document bound as
 * 'object'. Every input must end in a value or an error value; a crash, a leak, a sanitizer
 * report or a timeout is a bug. tests/unit/test_fuzz_corpus.c replays the corpus through
 * sg_fuzz_one() in make test, so what the fuzzer found stays fixed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "policy/functions.h"

int sg_fuzz_one(const uint8_t *data, size_t size);

int sg_fuzz_one(const uint8_t *data, size_t size)
{
    static const char *const vars[] = {"object", "oldObject", "params"};
    const char *src = (const char *)data;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t len = nl ? (size_t)(nl - data) : size;
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    if (a == NULL)
        return 0;
    diag_list dl;
    diag_list_init(&dl);
    expr_decls decls = {.vars = vars, .n_vars = 3, .fns = policy_functions,
                        .n_fns = policy_n_functions};
    expr_prog *p = expr_compile(a, src, len, &decls, NULL, &dl);
    if (p != NULL) {
        cJSON *obj = NULL;
        if (nl != NULL) {
            size_t rest = size - len - 1;
            char *json = malloc(rest + 1);
            if (json != NULL) {
                memcpy(json, nl + 1, rest);
                json[rest] = '\0';
                obj = cJSON_ParseWithLength(json, rest);
                free(json);
            }
        }
        expr_binding b[] = {{"object", expr_from_json(obj)}};
        expr_env env = {.vars = b, .n_vars = 1, .max_steps = 20000};
        expr_value v = expr_eval(p, &env, a);
        free(expr_to_json(&v, true));
        free(expr_to_json(&v, false));
        cJSON_Delete(obj);
    }
    diag_list_clear(&dl);
    arena_free(a);
    return 0;
}

#ifndef SG_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return sg_fuzz_one(data, size);
}
#endif
