/* token.h - the bearer token of an API client: inline, or read from a file and read again
 * when the file changes (a projected service-account token rotates about hourly). Internal to
 * src/kube/ (client.c). */
#ifndef SG_KUBE_TOKEN_H
#define SG_KUBE_TOKEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "../util/diag.h"

typedef struct kube_token {
    pthread_mutex_t mu; /* guards the rest */
    char *token;        /* the current token, NULL for none */
    char *file;         /* where it is read from, or NULL */
    struct stat st;     /* of the file when 'token' was read from it */
    bool bad;           /* the last read failed (logged once): these say of what */
    bool bad_exists;
    struct stat bad_st;
} kube_token;

/* Starts 't' with the inline 'token' or, when 'file' is given (it wins: it rotates), what the
 * file holds now. Returns 0, or -1 with the reason in 'dl' (then kube_token_clear() it). */
int kube_token_init(kube_token *t, const char *token, const char *file, diag_list *dl);

/* Frees what 't' holds. */
void kube_token_clear(kube_token *t);

/* The "Authorization: Bearer ..." header (malloc'd), NULL with '*err' "" when there is no
 * token, or NULL with the reason in 'err'. Thread-safe. */
char *kube_token_header(kube_token *t, char *err, size_t cap);

#endif
