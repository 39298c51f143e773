/* test_memory.c - what a loaded policy set keeps (docs/server.md, "Memory"): an arena gives
 * back the tail of a buffer sized for the worst case, a compiled expression costs about its
 * nodes (no per-literal copy of the rest of the text, no type object per node, no PCRE2 JIT
 * working memory), a set keeps neither its YAML documents nor room for 1024 policies, and the
 * memory a load frees goes back to the kernel. Each bound here failed before its fix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expr/expr_int.h"
#include "expr/re.h"
#include "policy/policy.h"
#include "policy/policy_int.h"
#include "tls/certs.h"
#include "tmpdir.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"

/* ---- arena_trim ---- */

static void test_arena_trim(void **state)
{
    (void)state;
    arena *a = arena_new(1 << 20);
    unsigned char *p = arena_alloc(a, 1000);
    assert_non_null(p);
    arena_trim(a, p, 1000, 10);
    assert_int_equal(arena_used(a), 16);
    assert_ptr_equal(arena_alloc(a, 16), p + 16); /* the next allocation takes the tail */
    /* not the last allocation: nothing is given back */
    unsigned char *q = arena_alloc(a, 100), *r = arena_alloc(a, 100);
    assert_non_null(r);
    size_t used = arena_used(a);
    arena_trim(a, q, 100, 1);
    assert_int_equal(arena_used(a), used);
    /* an allocation that opened a block of its own (the slow path) */
    unsigned char *big = arena_alloc(a, 100000);
    assert_non_null(big);
    arena_trim(a, big, 100000, 33);
    assert_int_equal(arena_used(a), used + 48);
    assert_ptr_equal(arena_alloc(a, 1), big + 48);
    arena_free(a);

    /* what is given back counts against the cap no more */
    a = arena_new(1024);
    p = arena_alloc(a, 1000);
    assert_null(arena_alloc(a, 900));
    arena_trim(a, p, 1000, 16);
    assert_non_null(arena_alloc(a, 900));
    arena_free(a);
}

/* ---- compiled expressions ---- */

static const expr_decls no_decls;

/* Bytes of the arena a compiled 'src' holds, and its node count in '*nodes'. */
static size_t compile_cost(const char *src, size_t *nodes);

static size_t count_nodes(const expr_node *n)
{
    if (n == NULL)
        return 0;
    size_t c = 1 + count_nodes(n->a) + count_nodes(node_b(n)) + count_nodes(node_c(n));
    for (uint32_t i = 0; i < node_nargs(n); i++)
        c += count_nodes(n->args[i]);
    return c;
}

static size_t compile_cost(const char *src, size_t *nodes)
{
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list dl;
    diag_list_init(&dl);
    expr_prog *p = expr_compile(a, src, strlen(src), &no_decls, NULL, &dl);
    if (p == NULL)
        fail_msg("%s: %s", src, dl.count ? dl.items[0].msg : "?");
    if (nodes != NULL)
        *nodes = count_nodes(p->root);
    size_t used = arena_used(a);
    diag_list_clear(&dl);
    arena_free(a);
    return used;
}

/* A list of lists: 'rows' rows of 'cols' copies of 'item'. malloc'd. */
static char *grid(const char *item, int rows, int cols)
{
    buf b;
    buf_init(&b, (size_t)1 << 24);
    buf_append(&b, "[", 1);
    for (int r = 0; r < rows; r++) {
        buf_append(&b, r ? ", [" : "[", r ? 3 : 1);
        for (int c = 0; c < cols; c++) {
            if (c)
                buf_append(&b, ", ", 2);
            buf_append(&b, item, strlen(item));
        }
        buf_append(&b, "]", 1);
    }
    buf_append(&b, "]", 1);
    return buf_take(&b);
}

/* A string literal costs its decoded bytes, not the rest of the expression's text: the lexer
 * reserved that much for each literal (0.5 MiB of the shipped policies' set). 2000 literals
 * against 2000 ints in the same places. */
static void test_string_literals_cost_their_length(void **state)
{
    (void)state;
    char *strs = grid("'ab\\x63'", 8, 250), *ints = grid("123", 8, 250);
    size_t s = compile_cost(strs, NULL), i = compile_cost(ints, NULL);
    assert_true(s >= i);
    print_message("2000 string literals: %zu bytes over ints\n", s - i);
    /* each literal's 16 bytes (4 rounded up), and the longer text of the program's copy */
    assert_true(s - i <= 2000 * 16 + (strlen(strs) - strlen(ints)) + 1024);
    free(strs);
    free(ints);
}

/* The programs both tests below compile, each laid out 4 x 40 times (grid()). */
static const char *const cost_srcs[] = {
    "[1, 2, 3].all(x, x > 0 && x < 10 || x == -1) && size('abc') == 3 && !(1.5 > 2.0)",
    "{'a': 1, 'b': 2}.exists(k, k.startsWith('a') && k.endsWith('a')) ? 'yes' : 'no'",
    "[[true, false], [false]].map(l, l.filter(b, b)).size() + int('3') * 2 - 1 >= 0",
};

/* A compiled expression costs its nodes, its names and its text, and little else: the
 * checker's types (one per node, 64 bytes each, until shared) are the loader's, not the
 * program's. */
static void test_compile_bytes_per_node(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cost_srcs / sizeof cost_srcs[0]; i++) {
        char *many = grid(cost_srcs[i], 4, 40);
        size_t nodes = 0, used = compile_cost(many, &nodes);
        print_message("%zu nodes, %zu bytes: %.1f a node (the node itself %zu)\n", nodes, used,
                      (double)used / (double)nodes, sizeof(expr_node));
        /* the node, and its share of the argument arrays, names, literal values, list types
         * and the text (30 to 70 bytes); a type object per node (64 more) does not fit */
        assert_true(used <= nodes * (sizeof(expr_node) + 80));
        free(many);
    }
}

/* A node is 64 bytes, a cache line (it was 152: padding, a byte per flag, and a field for
 * every kind in every node; then 88), so that a request's walk over the ten thousand nodes of
 * the shipped set touches fewer lines (docs/server.md, "Memory"). The bound is in bytes, not
 * in sizeof(expr_node): the same programs as above, each node with its share of the rest. */
static void test_nodes_are_small(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cost_srcs / sizeof cost_srcs[0]; i++) {
        char *many = grid(cost_srcs[i], 4, 40);
        size_t nodes = 0, used = compile_cost(many, &nodes);
        print_message("%zu nodes, %zu bytes: %.1f a node\n", nodes, used,
                      (double)used / (double)nodes);
        /* 82 to 116 bytes a node now, 116 to 151 with the 88-byte node, 180 to 215 with the
         * 152-byte one */
        assert_true(used <= nodes * (64 + 56));
        free(many);
    }
    assert_true(sizeof(expr_node) <= EXPR_NODE_BYTES);
}

/* The first N_IDENT named 'name' under 'n', or NULL. */
static const expr_node *find_ident(const expr_node *n, const char *name)
{
    if (n == NULL)
        return NULL;
    if (n->op == N_IDENT && strcmp(n->name, name) == 0)
        return n;
    const expr_node *kids[] = {n->a, node_b(n), node_c(n)}, *found = NULL;
    for (size_t i = 0; i < 3 && found == NULL; i++)
        found = find_ident(kids[i], name);
    for (uint32_t i = 0; i < node_nargs(n) && found == NULL; i++)
        found = find_ident(n->args[i], name);
    return found;
}

/* The narrow counters hold what the parser's limits let through: 256 list items and 256 map
 * entries (512 keys and values: more than 8 bits), and the slot of the 100th comprehension
 * variable (50 nested two-variable comprehensions; -1 must stay apart from every slot). */
static void test_narrow_fields_hold_their_limits(void **state)
{
    (void)state;
    char *list = grid("0", 1, EXPR_MAX_ARGS);
    buf b;
    buf_init(&b, (size_t)1 << 20);
    buf_append(&b, "{", 1);
    for (int i = 0; i < EXPR_MAX_ENTRIES; i++) {
        char kv[32];
        int n = snprintf(kv, sizeof kv, "%s'k%d': %d", i ? ", " : "", i, i);
        buf_append(&b, kv, (size_t)n);
    }
    buf_append(&b, "}", 1);
    for (int i = 0; i < 50; i++) {
        char c[48];
        int n = snprintf(c, sizeof c, "%s[0].all(i%d, v%d, ", i ? "" : " == 0 || ", i, i);
        buf_append(&b, c, (size_t)n);
    }
    buf_append(&b, "v49 == v0", 9);
    for (int i = 0; i < 50; i++)
        buf_append(&b, ")", 1);
    char *map = buf_take(&b);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list dl;
    diag_list_init(&dl);
    expr_prog *pl = expr_compile(a, list, strlen(list), &no_decls, NULL, &dl);
    expr_prog *pm = expr_compile(a, map, strlen(map), &no_decls, NULL, &dl);
    if (pl == NULL || pm == NULL)
        fail_msg("%s", dl.count ? dl.items[0].msg : "?");
    assert_int_equal(pl->root->args[0]->nargs, EXPR_MAX_ARGS); /* the grid's one row */
    const expr_node *m = pm->root->a->a; /* ({...} == 0) || comprehensions */
    assert_int_equal(m->op, N_MAP);
    assert_int_equal(m->nargs, 2 * EXPR_MAX_ENTRIES);
    const expr_node *v49 = find_ident(pm->root->b, "v49"), *v0 = find_ident(pm->root->b, "v0");
    assert_non_null(v49);
    assert_non_null(v0);
    assert_int_equal(v49->local, 99);
    assert_int_equal(v0->local, 1);
    diag_list_clear(&dl);
    arena_free(a);
    free(list);
    free(map);
}

/* The shipped set, which a server keeps for its life and walks on every request: 2.08 MB with
 * 152-byte nodes, 1.42 MB with 88-byte ones. */
static void test_shipped_set_bytes(void **state)
{
    (void)state;
    diag_list dl;
    diag_list_init(&dl);
    policy_set *s = policy_set_load_dir("policies", &dl);
    if (s == NULL)
        fail_msg("policies: %s", dl.count ? dl.items[0].msg : "?");
    size_t bytes = policy_set_bytes(s);
    print_message("the shipped set: %zu bytes\n", bytes);
    assert_true(bytes <= 1200 * 1000);
    policy_set_unref(s);
    diag_list_clear(&dl);
}

/* A pattern compiled once for a loaded set keeps only itself: pcre2_jit_compile()'s working
 * memory came from the set's arena (13 KiB a pattern), which frees nothing. */
static void test_loaded_patterns_keep_no_jit_work(void **state)
{
    (void)state;
    static const char *const pats[] = {
        "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        "^(s3|s3a|s3p|gs|abfss?|wasbs?|oss|hdfs)://[^/]+(/.*)?$",
        "(?i)^(true|yes|on|1)$",
        "@sha256:[a-f0-9]{64}$",
        "^[0-9]+(\\.[0-9]+)*[a-z]*$",
    };
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        char err[256];
        assert_non_null(expr_regex_compile(a, pats[i], strlen(pats[i]), true, err, sizeof err));
    }
    print_message("%zu patterns: %zu bytes of the arena\n", sizeof pats / sizeof pats[0],
                  arena_used(a));
    assert_true(arena_used(a) <= 512 * sizeof pats / sizeof pats[0]);
    char err[256];
    const expr_regex *re = expr_regex_compile(a, "^a+b$", 4, true, err, sizeof err);
    assert_non_null(re);
    assert_int_equal(expr_regex_match(re, "aaab", 4, a, err, sizeof err), 1);
    assert_int_equal(expr_regex_match(re, "aaac", 4, a, err, sizeof err), 0);
    arena_free(a); /* frees the malloc'd codes: leaks would fail under ASan and valgrind */
}

/* ---- a loaded set ---- */

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof dir, "memory");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

/* Writes a one-rule policy with 'labels' labels in its metadata to DIR/NAME/p.yaml and loads
 * that directory; returns the set's bytes. */
static size_t load_policy_with_labels(const char *name, int labels)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0700), 0);
    buf b;
    buf_init(&b, (size_t)1 << 24);
    char line[128];
    int n = snprintf(line, sizeof line, "apiVersion: streamguard.dev/v1alpha1\nkind: Policy\n"
                                        "metadata:\n  name: %s\n  labels:\n", name);
    buf_append(&b, line, (size_t)n);
    for (int i = 0; i < labels; i++) {
        n = snprintf(line, sizeof line, "    label-%05d: value-of-label-%05d\n", i, i);
        buf_append(&b, line, (size_t)n);
    }
    static const char spec[] =
        "  annotations: {streamguard.dev/description: a small policy}\n"
        "spec:\n  match:\n    resources: [{apiGroups: [''], kinds: [ConfigMap]}]\n"
        "  validations:\n    - expression: \"!has(object.data) || size(object.data) < 10\"\n"
        "      message: too many keys\n";
    buf_append(&b, spec, sizeof spec - 1);
    char file[300];
    snprintf(file, sizeof file, "%s/p.yaml", path);
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(file_write_atomic(file, b.data, b.len, 0644, &dl), 0);
    buf_clear(&b);
    policy_set *s = policy_set_load_dir(path, &dl);
    if (s == NULL)
        fail_msg("%s: %s", file, dl.count ? dl.items[0].msg : "?");
    size_t n_items;
    const policy *p = policy_set_items(s, &n_items);
    assert_int_equal(n_items, 1);
    assert_string_equal(p[0].name, name); /* what the policy keeps outlives the YAML */
    assert_string_equal(p[0].description, "a small policy");
    assert_string_equal(p[0].validations[0].message, "too many keys");
    assert_string_equal(p[0].match.rules[0].kinds.v[0], "ConfigMap");
    size_t bytes = policy_set_bytes(s);
    policy_set_unref(s);
    diag_list_clear(&dl);
    return bytes;
}

/* A set of one small policy is small: it kept room for 1024 policies and 1024 PolicyParams
 * (286 KiB) whatever it held. */
static void test_small_set_is_small(void **state)
{
    (void)state;
    size_t bytes = load_policy_with_labels("small", 0);
    print_message("a set of one policy: %zu bytes\n", bytes);
    assert_true(bytes <= 16384);
}

/* What only loading reads is not kept: 2000 labels (about 110 KB of YAML) cost the set
 * nothing, where its YAML documents stayed in the set's arena. */
static void test_set_keeps_no_yaml(void **state)
{
    (void)state;
    size_t plain = load_policy_with_labels("plain", 0);
    size_t labelled = load_policy_with_labels("labelled", 2000);
    print_message("2000 labels: %zu bytes more\n", labelled - plain);
    assert_true(labelled <= plain + 64);
}

/* ---- the serving pair's check ---- */

/* kB of this process's mappings of libcrypto that are resident. */
static long libcrypto_rss_kb(void)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    long total = 0, kb;
    unsigned long from, to;
    bool in = false;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%lx-%lx ", &from, &to) == 2) /* a mapping's first line */
            in = strstr(line, "/libcrypto.") != NULL;
        else if (in && sscanf(line, "Rss: %ld", &kb) == 1)
            total += kb;
    }
    if (f != NULL)
        fclose(f);
    return total;
}

/* Checking the pair the server serves (tls_pair_load: at start and on each reload) maps none
 * of libcrypto: it is GnuTLS's work, which serves it. OpenSSL's first certificate parse set
 * up its providers and made 2.3 MiB of libcrypto resident in a server that, without a
 * cluster, has no other use for it. The pair is made by the openssl tool, in its own process. */
static void test_pair_check_maps_no_libcrypto(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout tls.key -out tls.crt -days 2 -subj /CN=pair.test 2>/dev/null",
             dir);
    assert_int_equal(system(cmd), 0);
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    long before = libcrypto_rss_kb();
    diag_list dl;
    diag_list_init(&dl);
    tls_pair p;
    assert_int_equal(tls_pair_load(cert, key, &p, &dl), 0);
    long after = libcrypto_rss_kb();
    print_message("libcrypto resident: %ld kB before the check, %ld kB after\n", before, after);
    assert_non_null(strstr(p.info.subject, "CN=pair.test"));
    assert_true(strlen(p.info.serial) > 0);
    tls_pair_clear(&p);
    diag_list_clear(&dl);
    assert_true(after - before < 256);
}

/* ---- memory freed after a load ---- */

static long rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "RssAnon: %ld", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

/* 16 MiB allocated (as a load's YAML, files and buffers are), written and freed: after
 * mem_release_freed() most of it is no longer resident. mimalloc keeps freed pages committed
 * until a delay has passed and it looks again, and mi_collect() alone gave back none of it.
 * AddressSanitizer keeps freed memory in quarantine whatever is asked: not measured there. */
static void test_freed_memory_is_released(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* leaves the test */
#endif
    enum { N = 256, SIZE = 64 << 10 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        assert_non_null(blocks[i]);
        memset(blocks[i], i, SIZE);
    }
    long full = rss_anon_kb();
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    mem_release_freed();
    long after = rss_anon_kb();
    print_message("RssAnon: %ld kB with 16 MiB allocated, %ld kB after\n", full, after);
    assert_true(full > 0 && after > 0);
    assert_true(full - after >= 12 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_trim),
        cmocka_unit_test(test_string_literals_cost_their_length),
        cmocka_unit_test(test_compile_bytes_per_node),
        cmocka_unit_test(test_nodes_are_small),
        cmocka_unit_test(test_narrow_fields_hold_their_limits),
        cmocka_unit_test(test_shipped_set_bytes),
        cmocka_unit_test(test_loaded_patterns_keep_no_jit_work),
        cmocka_unit_test(test_small_set_is_small),
        cmocka_unit_test(test_set_keeps_no_yaml),
        cmocka_unit_test(test_pair_check_maps_no_libcrypto),
        cmocka_unit_test(test_freed_memory_is_released),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
