/* test_fuzz_corpus.c - replays the seeds and corpora of the five fuzz targets (the inputs
 * make fuzz, fuzz-policy, fuzz-review, fuzz-check and fuzz-kube found) through the targets'
 * functions, so that make test and make check (ASan and UBSan) keep them fixed without clang.
 *
 * The replay must be able to fail: a directory that is missing or empty, a file that cannot
 * be read, and an input for which a target reports a broken invariant each fail the test with
 * the directory's or the file's name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SG_FUZZ_NO_MAIN
#include "../fuzz/fuzz_check.c"
#include "../fuzz/fuzz_expr.c"
#include "../fuzz/fuzz_kube.c"
#include "../fuzz/fuzz_policy.c"
#include "../fuzz/fuzz_review.c"

#include "util/buf.h"
#include "util/file.h"

#define REPLAY_MAX_BYTES ((size_t)1 << 20)

typedef int (*fuzz_target)(const uint8_t *data, size_t size);

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of 'dir' but "." and "..", sorted, as malloc'd paths; -1 when it cannot be
 * opened. Every entry counts: libFuzzer writes flat directories, and an entry that is not a
 * readable file (a subdirectory, a dangling link, a file without read permission) must fail
 * the replay when it is read, not be skipped while listing. */
static long list_dir(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **grown = realloc(names, cap * sizeof *names);
            assert_non_null(grown);
            names = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        assert_non_null(names[n]);
        snprintf(names[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_name);
    *out = names;
    return (long)n;
}

/* Runs every file in 'dir' through 'one'. Returns the number of files, or -1 with the reason
 * in 'why' (the first failure: the rest are not run). */
static long replay_dir(const char *dir, fuzz_target one, char *why, size_t cap)
{
    char **files = NULL;
    long n = list_dir(dir, &files), rc = 0;
    if (n < 0) {
        snprintf(why, cap, "cannot open the directory %s (run from the repository root)", dir);
        return -1;
    }
    if (n == 0) {
        snprintf(why, cap, "%s holds no inputs", dir);
        rc = -1;
    }
    for (long i = 0; rc >= 0 && i < n; i++) {
        buf b;
        diag_list dl;
        diag_list_init(&dl);
        buf_init(&b, REPLAY_MAX_BYTES);
        if (file_read(files[i], REPLAY_MAX_BYTES, &b, &dl) != 0) {
            snprintf(why, cap, "cannot read %s: %s", files[i], dl.count ? dl.items[0].msg : "?");
            rc = -1;
        } else if (one((const uint8_t *)(b.data ? b.data : ""), b.len) != 0) {
            snprintf(why, cap, "%s: the target reported a failure (see above)", files[i]);
            rc = -1;
        } else {
            rc++;
        }
        buf_clear(&b);
        diag_list_clear(&dl);
    }
    file_list_free(files, n > 0 ? (size_t)n : 0);
    return rc;
}

static int fail_always(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return -1;
}

static const struct {
    const char *dir;
    fuzz_target one;
    bool all_compared; /* every document is compared with the webhook (check's seeds) */
} replays[] = {
    {"tests/fuzz/seeds", sg_fuzz_one, false},
    {"tests/fuzz/corpus", sg_fuzz_one, false},
    {"tests/fuzz/policy-seeds", sg_fuzz_policy, false},
    {"tests/fuzz/policy-corpus", sg_fuzz_policy, false},
    {"tests/fuzz/review-seeds", sg_fuzz_review, false},
    {"tests/fuzz/review-corpus", sg_fuzz_review, false},
    {"tests/fuzz/check-seeds", sg_fuzz_check, true},
    {"tests/fuzz/check-corpus", sg_fuzz_check, false},
    {"tests/fuzz/kube-seeds", sg_fuzz_kube, false},
    {"tests/fuzz/kube-corpus", sg_fuzz_kube, false},
};

static void test_replay(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof replays / sizeof replays[0]; i++) {
        char why[1024];
        size_t compared = fuzz_check_compared, refused = fuzz_check_refused;
        long n = replay_dir(replays[i].dir, replays[i].one, why, sizeof why);
        if (n < 0)
            fail_msg("%s", why);
        printf("replayed %5ld inputs from %s\n", n, replays[i].dir);
        /* The example manifests are requests kube-apiserver sends: a decoder that refused
         * them would turn fuzz_check's comparison with the webhook off without a word. */
        if (replays[i].all_compared &&
            (fuzz_check_compared == compared || fuzz_check_refused != refused))
            fail_msg("%s: %zu documents compared with the webhook, %zu refused as invalid",
                     replays[i].dir, fuzz_check_compared - compared,
                     fuzz_check_refused - refused);
    }
}

/* Writes 'text' to 'dir'/'name'. */
static void put(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Replays 'dir' with 'one' and expects a failure whose reason holds 'want'. */
static void expect_failure(const char *dir, fuzz_target one, const char *want)
{
    char why[1024] = "";
    long n = replay_dir(dir, one, why, sizeof why);
    if (n != -1 || strstr(why, want) == NULL)
        fail_msg("replaying %s gave %ld (%s), want a failure naming '%s'", dir, n, why, want);
}

/* The replay itself can fail: each way it could pass without testing anything is refused. */
static void test_replay_fails(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-fuzz-replay-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    expect_failure("tests/fuzz/no-such-corpus", sg_fuzz_one, "no-such-corpus");
    expect_failure(dir, sg_fuzz_one, "holds no inputs");
    put(dir, "a-good", "1 + 2");
    /* Unreadable entries, each next to a good input: a dangling link, a directory and (when
     * not root, which reads anything) a file without read permission. */
    snprintf(path, sizeof path, "%s/b-dangling", dir);
    assert_int_equal(symlink("/nonexistent/sg-fuzz-input", path), 0);
    expect_failure(dir, sg_fuzz_one, path);
    unlink(path);
    snprintf(path, sizeof path, "%s/b-dir", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_failure(dir, sg_fuzz_one, path);
    rmdir(path);
    if (geteuid() != 0) {
        put(dir, "b-mode000", "1");
        snprintf(path, sizeof path, "%s/b-mode000", dir);
        assert_int_equal(chmod(path, 0), 0);
        expect_failure(dir, sg_fuzz_one, path);
        unlink(path);
    }
    /* A target's verdict is not ignored. */
    expect_failure(dir, fail_always, "a-good: the target reported a failure");
    char why[1024];
    assert_int_equal(replay_dir(dir, sg_fuzz_one, why, sizeof why), 1);
    snprintf(path, sizeof path, "%s/a-good", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay),
                                       cmocka_unit_test(test_replay_fails)};
    int rc = cmocka_run_group_tests_name("fuzz_corpus", tests, NULL, NULL);
    fuzz_policies_free();
    fuzz_kube_free();
    return rc;
}
