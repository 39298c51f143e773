/* token.c - the bearer token, read again when its file changes; see token.h. */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/file.h"
#include "../util/log.h"

#define KUBE_MAX_TOKEN ((size_t)64 << 10)

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reads the token in 'path' (surrounding white space trimmed, as client-go trims it) into a
 * malloc'd string, or NULL with the reason in 'err'. */
static char *token_read(const char *path, char *err, size_t cap)
{
    buf b;
    diag_list dl;
    buf_init(&b, KUBE_MAX_TOKEN);
    diag_list_init(&dl);
    char *tok = NULL;
    if (file_read(path, KUBE_MAX_TOKEN, &b, &dl) != 0) {
        snprintf(err, cap, "token file %s: %s", path, dl.count ? dl.items[0].msg : "unreadable");
        goto done;
    }
    size_t s = 0, e = b.len;
    while (s < e && strchr(" \t\r\n", b.data[s]))
        s++;
    while (e > s && strchr(" \t\r\n", b.data[e - 1]))
        e--;
    for (size_t i = s; i < e; i++) {
        if ((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f) {
            snprintf(err, cap, "token file %s holds a control character", path);
            goto done;
        }
    }
    if (s == e) {
        snprintf(err, cap, "token file %s is empty", path);
        goto done;
    }
    tok = strndup(b.data + s, e - s);
    if (tok == NULL)
        snprintf(err, cap, "out of memory");
done:
    buf_clear(&b);
    diag_list_clear(&dl);
    return tok;
}

/* Reads the token file again when its inode, size or modification time changed since the
 * last read (a rotated token: kubelet swaps a symlink, an operator rewrites the file). A
 * failed read keeps the previous token, logged; with no previous token it is an error.
 * Called with mu held. */
static int token_refresh(kube_token *c, char *err, size_t cap)
{
    if (c->file == NULL)
        return 0;
    struct stat st;
    bool exists = stat(c->file, &st) == 0;
    if (exists && c->token != NULL && same_file(&st, &c->st))
        return 0;
    /* The same broken file as last time: already logged, not read again per request. */
    if (c->bad && c->token != NULL && exists == c->bad_exists &&
        (!exists || same_file(&st, &c->bad_st)))
        return 0;
    char why[256];
    char *tok = token_read(c->file, why, sizeof why);
    if (tok == NULL) {
        c->bad = true;
        c->bad_exists = exists;
        c->bad_st = st;
        if (c->token != NULL) {
            log_warn("kube",
                     LOG_S("msg", "cannot read the token file again; keeping the "
                                  "previous token"),
                     LOG_S("error", why));
            return 0;
        }
        snprintf(err, cap, "%s", why);
        return -1;
    }
    c->bad = false;
    bool rotated = c->token != NULL;
    free(c->token);
    c->token = tok;
    c->st = st;
    if (rotated)
        log_info("kube", LOG_S("msg", "token file changed: using the new token"),
                 LOG_S("file", c->file));
    return 0;
}

char *kube_token_header(kube_token *c, char *err, size_t cap)
{
    err[0] = '\0';
    pthread_mutex_lock(&c->mu);
    char *h = NULL;
    if (token_refresh(c, err, cap) == 0 && c->token != NULL) {
        size_t n = strlen(c->token) + 32;
        h = malloc(n);
        if (h)
            snprintf(h, n, "Authorization: Bearer %s", c->token);
        else
            snprintf(err, cap, "out of memory");
    }
    pthread_mutex_unlock(&c->mu);
    return h;
}

int kube_token_init(kube_token *t, const char *token, const char *file, diag_list *dl)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    if ((file == NULL && token != NULL && (t->token = strdup(token)) == NULL) ||
        (file != NULL && (t->file = strdup(file)) == NULL)) {
        diag_add(dl, DIAG_ERROR, "kube.client", NULL, "out of memory");
        return -1;
    }
    char err[256];
    if (token_refresh(t, err, sizeof err) != 0) { /* the file must be readable now */
        srcpos at = {.file = t->file};
        diag_add(dl, DIAG_ERROR, "kube.config", &at, "%s", err);
        return -1;
    }
    return 0;
}

void kube_token_clear(kube_token *t)
{
    pthread_mutex_destroy(&t->mu);
    free(t->token);
    free(t->file);
    memset(t, 0, sizeof *t);
}
