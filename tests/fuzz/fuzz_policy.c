/* fuzz_policy.c - libFuzzer target for YAML documents and policy files: every document is
 * loaded with positions, converted to JSON, and read as a policy (expressions compiled).
 * A crash, a leak, a sanitizer report or a timeout is a bug; everything else must end in
 * diagnostics. tests/unit/test_fuzz_corpus.c replays the corpus in make test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_int.h"
#include "policy/functions.h"

int sg_fuzz_policy(const uint8_t *data, size_t size);

int sg_fuzz_policy(const uint8_t *data, size_t size)
{
    arena *a = arena_new((size_t)256 << 20);
    if (a == NULL)
        return 0;
    diag_list dl;
    diag_list_init(&dl);
    ydoc *docs;
    size_t partial;
    long n = yaml_load(a, "fuzz.yaml", (const char *)data, size, &docs, &partial, &dl);
    size_t count = n < 0 ? partial : (size_t)n;
    loader ld = {.a = a, .file = "fuzz.yaml", .dl = &dl};
    for (size_t i = 0; i < PB_COUNT; i++)
        ld.names[i] = policy_bindings[i];
    ld.decls = (expr_decls){.vars = ld.names, .n_vars = PB_COUNT,
                            .fns = policy_functions, .n_fns = policy_n_functions};
    for (size_t i = 0; i < count; i++) {
        cJSON_Delete(yaml_to_json(docs[i].root, "fuzz.yaml", &dl));
        policy p;
        if (docs[i].root->kind == YNODE_MAP)
            policy_parse(&ld, &docs[i], &p);
    }
    diag_list_clear(&dl);
    arena_free(a);
    return 0;
}

#ifndef SG_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return sg_fuzz_policy(data, size);
}
#endif
