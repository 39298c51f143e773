/* set.c - a set of policies loaded from files; immutable, shared, reference-counted. */
#include "policy_int.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/buf.h"
#include "../util/file.h"
#include "functions.h"

#define MAX_POLICIES 1024
#define MAX_FILES    4096

struct policy_set {
    arena *a;
    _Atomic long refs;
    policy *items;
    size_t n, cap;
};

static bool is_policy_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects policy files under 'path' (a file or a directory) into 'files' (malloc'd). */
static void collect(const char *path, char **files, size_t *n, int depth, diag_list *dl)
{
    struct stat st;
    srcpos at = {.file = path};
    if (stat(path, &st) != 0) {
        diag_add(dl, DIAG_ERROR, "io.read", &at, "no such file or directory");
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (*n < MAX_FILES)
            files[(*n)++] = strdup(path);
        return;
    }
    DIR *d = depth < 16 ? opendir(path) : NULL;
    if (d == NULL) {
        diag_add(dl, DIAG_ERROR, "io.read", &at, "cannot read the directory");
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') /* also ConfigMap mounts' ..data and ..timestamp entries */
            continue;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *child = malloc(len);
        if (child == NULL)
            break;
        snprintf(child, len, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", e->d_name);
        struct stat cs;
        if (stat(child, &cs) == 0 && S_ISDIR(cs.st_mode))
            collect(child, files, n, depth + 1, dl);
        else if (is_policy_file(e->d_name) && *n < MAX_FILES)
            files[(*n)++] = strdup(child);
        free(child);
    }
    closedir(d);
}

static void load_file(policy_set *s, loader *ld, const char *path)
{
    buf b;
    buf_init(&b, POLICY_MAX_FILE);
    ld->file = arena_strdup(s->a, path);
    if (file_read(path, POLICY_MAX_FILE, &b, ld->dl) != 0) {
        ld->errors++;
        return;
    }
    ydoc *docs;
    size_t partial;
    long n = yaml_load(s->a, ld->file, b.data, b.len, &docs, &partial, ld->dl);
    if (n < 0) {
        ld->errors++;
        n = 0;
    }
    for (long i = 0; i < n; i++) {
        const ynode *r = docs[i].root;
        if (r->kind == YNODE_SCALAR && r->str[0] == '\0')
            continue; /* an empty document */
        if (s->n == MAX_POLICIES) {
            srcpos at = {.file = ld->file, .line = docs[i].line};
            diag_add(ld->dl, DIAG_ERROR, "policy.limit", &at, "more than %d policies", MAX_POLICIES);
            ld->errors++;
            break;
        }
        policy *p = &s->items[s->n];
        if (policy_parse(ld, &docs[i], p) == 0)
            s->n++;
    }
    buf_clear(&b);
}

static void check_duplicates(const policy_set *s, loader *ld)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcmp(s->items[i].name, s->items[k].name) == 0) {
                diag_add(ld->dl, DIAG_ERROR, "policy.duplicate", &s->items[i].at,
                         "policy '%s' is also defined at %s:%d", s->items[i].name,
                         s->items[k].at.file, s->items[k].at.line);
                ld->errors++;
            }
        }
    }
}

policy_set *policy_set_load_paths(const char *const *paths, size_t n_paths, diag_list *dl)
{
    policy_set *s = calloc(1, sizeof *s);
    char **files = calloc(MAX_FILES, sizeof *files);
    if (s == NULL || files == NULL || (s->a = arena_new((size_t)256 << 20)) == NULL ||
        (s->items = arena_calloc(s->a, MAX_POLICIES, sizeof *s->items)) == NULL) {
        diag_add(dl, DIAG_ERROR, "policy.limit", NULL, "out of memory");
        free(files);
        if (s)
            arena_free(s->a);
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    loader ld = {.a = s->a, .dl = dl};
    for (size_t i = 0; i < policy_n_bindings; i++)
        ld.names[i] = policy_bindings[i];
    ld.decls = (expr_decls){.vars = ld.names, .n_vars = policy_n_bindings,
                            .fns = policy_functions, .n_fns = policy_n_functions};
    size_t before = dl->errors, nf = 0;
    for (size_t i = 0; i < n_paths; i++)
        collect(paths[i], files, &nf, 0, dl);
    qsort(files, nf, sizeof *files, cmp_str);
    for (size_t i = 0; i < nf; i++) {
        load_file(s, &ld, files[i]);
        free(files[i]);
    }
    free(files);
    check_duplicates(s, &ld);
    if (ld.errors > 0 || dl->errors > before) {
        policy_set_unref(s);
        return NULL;
    }
    return s;
}

policy_set *policy_set_load_dir(const char *dir, diag_list *dl)
{
    return policy_set_load_paths(&dir, 1, dl);
}

policy_set *policy_set_ref(policy_set *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void policy_set_unref(policy_set *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    arena_free(s->a);
    free(s);
}

const policy *policy_set_items(const policy_set *s, size_t *n)
{
    *n = s->n;
    return s->items;
}
