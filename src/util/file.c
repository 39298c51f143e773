/* file.c - file reading and atomic writing; see file.h. */
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vec.h"

int file_read(const char *path, size_t cap, buf *out, diag_list *dl)
{
    srcpos at = {.file = path};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        diag_add(dl, DIAG_ERROR, "io.read", &at, "cannot open: %s", strerror(errno));
        return -1;
    }
    buf_clear(out);
    out->cap = cap;
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            diag_add(dl, DIAG_ERROR, "io.read", &at, "cannot read: %s", strerror(errno));
            goto err;
        }
        if (n == 0)
            break;
        if (buf_append(out, chunk, (size_t)n) != 0) {
            diag_add(dl, DIAG_ERROR, "io.too_large", &at, "file is larger than %zu bytes", cap);
            goto err;
        }
    }
    close(fd);
    if (out->data == NULL && buf_append(out, "", 0) != 0) {
        diag_add(dl, DIAG_ERROR, "io.read", &at, "out of memory");
        return -1;
    }
    return 0;
err:
    close(fd);
    buf_clear(out);
    return -1;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      diag_list *dl)
{
    srcpos at = {.file = path};
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL) {
        diag_add(dl, DIAG_ERROR, "io.write", &at, "out of memory");
        return -1;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        diag_add(dl, DIAG_ERROR, "io.write", &at, "cannot create a temporary file: %s",
                 strerror(errno));
        free(tmp);
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto err;
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
        goto err;
    if (close(fd) != 0) {
        fd = -1;
        goto err;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto err;
    free(tmp);
    return 0;
err:
    diag_add(dl, DIAG_ERROR, "io.write", &at, "cannot write: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push(char ***files, size_t *n, size_t *cap, size_t max, const char *path)
{
    if (*n >= max)
        return 0;
    if (vec_grow(NULL, *files, *n, *cap, 64) != 0)
        return -1;
    (*files)[*n] = strdup(path);
    return (*files)[(*n)++] ? 0 : -1;
}

static int walk(const char *path, bool (*want)(const char *), size_t max, char ***files,
                size_t *n, size_t *cap, int depth, diag_list *dl)
{
    srcpos at = {.file = path};
    struct stat st;
    if (stat(path, &st) != 0) {
        diag_add(dl, DIAG_ERROR, "io.read", &at, "no such file or directory");
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return push(files, n, cap, max, path);
    DIR *d = depth < 32 ? opendir(path) : NULL;
    if (d == NULL) {
        diag_add(dl, DIAG_ERROR, "io.read", &at, "cannot read the directory");
        return -1;
    }
    char **names = NULL;
    size_t nn = 0, ncap = 0;
    struct dirent *e;
    size_t plen = strlen(path);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s%s%s", path, plen && path[plen - 1] == '/' ? "" : "/", e->d_name);
        struct stat cs;
        if (stat(child, &cs) == 0 && (S_ISDIR(cs.st_mode) || want(e->d_name)) &&
            push(&names, &nn, &ncap, (size_t)-1, child) != 0)
            break;
    }
    closedir(d);
    if (nn > 1) /* qsort's array must not be NULL, even for no elements */
        qsort(names, nn, sizeof *names, cmp_path);
    int rc = 0;
    for (size_t i = 0; i < nn; i++)
        rc |= walk(names[i], want, max, files, n, cap, depth + 1, dl);
    file_list_free(names, nn);
    return rc;
}

int file_list(const char *path, bool (*want)(const char *name), size_t max, char ***files,
              size_t *n, diag_list *dl)
{
    size_t cap = *n;
    return walk(path, want, max, files, n, &cap, 0, dl);
}

void file_list_free(char **files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
}
