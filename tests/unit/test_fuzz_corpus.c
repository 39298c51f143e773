/* test_fuzz_corpus.c - replays the seeds and corpora of both fuzz targets (the inputs make
 * fuzz and make fuzz-policy found) through the targets' functions, so that make test and
 * make check (ASan and UBSan) keep them fixed without needing clang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define SG_FUZZ_NO_MAIN
#include "../fuzz/fuzz_expr.c"
#include "../fuzz/fuzz_policy.c"

#include "util/buf.h"
#include "util/file.h"

static bool any_file(const char *name)
{
    (void)name;
    return true;
}

static int replay_dir(const char *dir, int (*one)(const uint8_t *, size_t))
{
    diag_list dl;
    diag_list_init(&dl);
    char **files = NULL;
    size_t n = 0;
    if (file_list(dir, any_file, 100000, &files, &n, &dl) != 0)
        fail_msg("cannot list %s (run from the repository root)", dir);
    for (size_t i = 0; i < n; i++) {
        buf b;
        buf_init(&b, 1 << 20);
        if (file_read(files[i], 1 << 20, &b, &dl) == 0)
            one((const uint8_t *)b.data, b.len);
        buf_clear(&b);
    }
    file_list_free(files, n);
    diag_list_clear(&dl);
    return (int)n;
}

static void test_replay(void **state)
{
    (void)state;
    int seeds = replay_dir("tests/fuzz/seeds", sg_fuzz_one);
    int corpus = replay_dir("tests/fuzz/corpus", sg_fuzz_one);
    int pseeds = replay_dir("tests/fuzz/policy-seeds", sg_fuzz_policy);
    int pcorpus = replay_dir("tests/fuzz/policy-corpus", sg_fuzz_policy);
    printf("replayed %d + %d expression inputs, %d + %d policy inputs\n", seeds, corpus, pseeds,
           pcorpus);
    assert_true(seeds > 0 && pseeds > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay)};
    return cmocka_run_group_tests_name("fuzz_corpus", tests, NULL, NULL);
}
