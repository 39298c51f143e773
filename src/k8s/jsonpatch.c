/* jsonpatch.c - RFC 6902 operations and a document diff; see jsonpatch.h. */
#include "jsonpatch.h"

#include "../util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN 1024

/* Reads the next reference token of 'p' (after a '/') into 'out', unescaping ~1 and ~0.
 * Returns the rest of the pointer, or NULL for a bad escape or a token too long. */
static const char *next_token(const char *p, char *out)
{
    size_t n = 0;
    for (; *p && *p != '/'; p++) {
        char c = *p;
        if (c == '~') {
            if (p[1] != '0' && p[1] != '1')
                return NULL;
            c = p[1] == '0' ? '~' : '/';
            p++;
        }
        if (n + 1 >= MAX_TOKEN)
            return NULL;
        out[n++] = c;
    }
    out[n] = '\0';
    return p;
}

/* An array index: digits only, no leading zeros; '-' is 'size' for add. */
static long array_index(const char *tok, int size, bool for_add)
{
    if (for_add && strcmp(tok, "-") == 0)
        return size;
    if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0'))
        return -1;
    long v = 0;
    for (const char *t = tok; *t; t++) {
        if (*t < '0' || *t > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*t - '0');
    }
    return v;
}

int jsonpatch_apply(cJSON *doc, enum jsonpatch_op op, const char *path, const cJSON *value,
                    char *err, size_t errcap)
{
    char tok[MAX_TOKEN];
    if (path[0] != '/') {
        snprintf(err, errcap, "path '%s' is not a JSON Pointer", path);
        return -1;
    }
    cJSON *cur = doc;
    const char *p = path;
    for (;;) {
        p = next_token(p + 1, tok);
        if (p == NULL) {
            snprintf(err, errcap, "bad escape or overlong token in path '%s'", path);
            return -1;
        }
        bool last = *p == '\0';
        if (cJSON_IsArray(cur)) {
            int size = cJSON_GetArraySize(cur);
            long i = array_index(tok, size, last && op == JSONPATCH_ADD);
            if (i < 0 || i > size || (i == size && !(last && op == JSONPATCH_ADD))) {
                snprintf(err, errcap, "index '%s' out of range in path '%s'", tok, path);
                return -1;
            }
            if (!last) {
                cur = cJSON_GetArrayItem(cur, (int)i);
                continue;
            }
            if (op == JSONPATCH_REMOVE) {
                cJSON_DeleteItemFromArray(cur, (int)i);
                return 0;
            }
            cJSON *copy = cJSON_Duplicate(value, 1);
            if (copy == NULL)
                goto oom;
            if (op == JSONPATCH_REPLACE)
                return cJSON_ReplaceItemInArray(cur, (int)i, copy) ? 0 : (cJSON_Delete(copy), -1);
            if (i == size)
                return cJSON_AddItemToArray(cur, copy) ? 0 : (cJSON_Delete(copy), -1);
            return cJSON_InsertItemInArray(cur, (int)i, copy) ? 0 : (cJSON_Delete(copy), -1);
        }
        if (!cJSON_IsObject(cur)) {
            snprintf(err, errcap, "path '%s' goes through a value that is neither object nor array", path);
            return -1;
        }
        cJSON *child = cJSON_GetObjectItemCaseSensitive(cur, tok);
        if (!last) {
            if (child == NULL && op == JSONPATCH_ADD) { /* create the missing parent */
                child = cJSON_AddObjectToObject(cur, tok);
                if (child == NULL)
                    goto oom;
            } else if (child == NULL) {
                snprintf(err, errcap, "path '%s' does not exist ('%s' is missing)", path, tok);
                return -1;
            }
            cur = child;
            continue;
        }
        if (op != JSONPATCH_ADD && child == NULL) {
            snprintf(err, errcap, "path '%s' does not exist", path);
            return -1;
        }
        if (op == JSONPATCH_REMOVE) {
            cJSON_DeleteItemFromObjectCaseSensitive(cur, tok);
            return 0;
        }
        cJSON *copy = cJSON_Duplicate(value, 1);
        if (copy == NULL)
            goto oom;
        if (child != NULL)
            return cJSON_ReplaceItemInObjectCaseSensitive(cur, tok, copy) ? 0 : (cJSON_Delete(copy), -1);
        return cJSON_AddItemToObject(cur, tok, copy) ? 0 : (cJSON_Delete(copy), -1);
    }
oom:
    snprintf(err, errcap, "out of memory");
    return -1;
}

/* The JSON Pointer being built during a diff: one buffer, tokens pushed and popped. */
typedef struct ptr {
    buf b;
} ptr;

/* Appends "/" and the escaped token; returns the length to pop back to, or -1. */
static long push_token(ptr *p, const char *tok)
{
    size_t mark = p->b.len;
    if (buf_append(&p->b, "/", 1) != 0)
        return -1;
    for (const char *t = tok; *t; t++) {
        const char *esc = *t == '~' ? "~0" : *t == '/' ? "~1" : NULL;
        if ((esc ? buf_append(&p->b, esc, 2) : buf_append(&p->b, t, 1)) != 0)
            return -1;
    }
    return (long)mark;
}

static void pop_token(ptr *p, long mark)
{
    p->b.len = (size_t)mark;
    p->b.data[mark] = '\0';
}

static bool add_op(cJSON *ops, const char *op, const char *path, const cJSON *value)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "op", op) || !cJSON_AddStringToObject(o, "path", path))
        goto err;
    if (value != NULL) {
        cJSON *v = cJSON_Duplicate(value, 1);
        if (v == NULL || !cJSON_AddItemToObject(o, "value", v)) {
            cJSON_Delete(v);
            goto err;
        }
    }
    if (cJSON_AddItemToArray(ops, o))
        return true;
err:
    cJSON_Delete(o);
    return false;
}

bool jsonpatch_equal(const cJSON *a, const cJSON *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL || (a->type & 0xFF) != (b->type & 0xFF))
        return false;
    switch (a->type & 0xFF) {
    case cJSON_Number:
        return a->valuedouble == b->valuedouble;
    case cJSON_String:
    case cJSON_Raw:
        return a->valuestring && b->valuestring && strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!jsonpatch_equal(x, y))
                return false;
        return x == NULL && y == NULL;
    }
    case cJSON_Object: {
        /* Equal sizes, and every member of a equal to b's member of that name. Keys are unique
         * (decoding refuses duplicates), so one direction suffices: each subtree is compared
         * once, unlike cJSON_Compare, which compares both ways at every level. */
        size_t na = 0, nb = 0;
        for (const cJSON *x = a->child; x; x = x->next)
            na++;
        for (const cJSON *y = b->child; y; y = y->next)
            nb++;
        if (na != nb)
            return false;
        for (const cJSON *x = a->child; x; x = x->next)
            if (!jsonpatch_equal(x, cJSON_GetObjectItemCaseSensitive(b, x->string)))
                return false;
        return true;
    }
    default: /* null, true, false */
        return true;
    }
}

static bool diff(const cJSON *a, const cJSON *b, ptr *path, cJSON *ops)
{
    const char *here = path->b.data ? path->b.data : "";
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        bool ok = true;
        for (const cJSON *c = a->child; c && ok; c = c->next) {
            if (cJSON_GetObjectItemCaseSensitive(b, c->string) != NULL)
                continue;
            long m = push_token(path, c->string);
            ok = m >= 0 && add_op(ops, "remove", path->b.data, NULL);
            if (m >= 0)
                pop_token(path, m);
        }
        for (const cJSON *c = b->child; c && ok; c = c->next) {
            const cJSON *old = cJSON_GetObjectItemCaseSensitive(a, c->string);
            if (old != NULL && jsonpatch_equal(old, c))
                continue; /* no pointer is built for what did not change */
            long m = push_token(path, c->string);
            if (m < 0)
                return false;
            ok = old == NULL ? add_op(ops, "add", path->b.data, c) : diff(old, c, path, ops);
            pop_token(path, m);
        }
        return ok;
    }
    int na = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1, nb = cJSON_GetArraySize(b);
    if (na >= 0 && cJSON_IsArray(b) && nb >= na) {
        /* element by element over the common length, then appends */
        bool ok = true;
        const cJSON *x = a->child, *y = b->child;
        for (int i = 0; y && ok; i++, y = y->next) {
            if (x == NULL || !jsonpatch_equal(x, y)) {
                char idx[16];
                snprintf(idx, sizeof idx, "%d", i);
                long m = push_token(path, x ? idx : "-");
                if (m < 0)
                    return false;
                ok = x ? diff(x, y, path, ops) : add_op(ops, "add", path->b.data, y);
                pop_token(path, m);
            }
            x = x ? x->next : NULL;
        }
        return ok;
    }
    if (jsonpatch_equal(a, b))
        return true;
    return add_op(ops, "replace", here, b); /* path "" replaces the whole document */
}

char *jsonpatch_diff(const cJSON *from, const cJSON *to, bool *oom)
{
    *oom = false;
    cJSON *ops = cJSON_CreateArray();
    ptr path;
    buf_init(&path.b, (size_t)1 << 20);
    bool ok = ops != NULL && buf_append(&path.b, "", 0) == 0 && diff(from, to, &path, ops);
    buf_clear(&path.b);
    if (!ok) {
        cJSON_Delete(ops);
        *oom = true;
        return NULL;
    }
    char *text = cJSON_GetArraySize(ops) > 0 ? cJSON_PrintUnformatted(ops) : NULL;
    cJSON_Delete(ops);
    return text;
}
