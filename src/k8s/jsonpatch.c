/* jsonpatch.c - RFC 6902 operations and a document diff; see jsonpatch.h. */
#include "jsonpatch.h"

#include "../util/buf.h"
#include "../util/keyindex.h"
#include "../util/vec.h"

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

/* ---- equality and diff ----
 *
 * Both visit each node of the two documents once. A member's counterpart in the other object
 * is first looked for at the same place (the objects compared are mostly a document and its
 * patched copy, in the same order); failing that, by a scan when the object is small and
 * through a keyindex (util/keyindex.h) when it is large, so that two objects of n members
 * cost O(n), not O(n^2). The indexes live in a scratch arena made on first need and freed
 * when the call returns; without memory for one, the object is scanned (slower, same
 * answer). */

#define SCAN_MAX 16 /* members up to which a scan beats building an index */
#define MAX_PLACES 16 /* changed places up to which the diff skips what holds none of them */

/* diff: where the node being compared is. Only a pointer per level: the JSON Pointer text is
 * made when an operation needs it, so that unchanged nodes cost no string building. */
typedef struct step {
    const char *key; /* an object member's name, or NULL for an array element */
    int idx;         /* the element's index, or -1 for the end ("-") */
} step;

typedef struct walk {
    arena *a; /* scratch for indexes and the step stack, NULL until first needed */
    bool no_arena;
    /* The places that changed (JSON Pointers, jsonpatch_diff_at()), or none; 'whole' while
     * the walk is at or under one of them, where every member is compared. */
    const char *const *paths;
    size_t n_paths;
    bool whole;
    bool differs; /* 'ops' NULL: the walk stops at the first operation and sets this */
    step *steps; /* 'inline_steps' until deeper */
    size_t depth, cap;
    step inline_steps[32];
    buf path; /* the JSON Pointer of the last operation */
    cJSON *ops;
} walk;

/* The scratch arena, made on first need; NULL when there is no memory for it. */
static arena *scratch(walk *w)
{
    if (w->a == NULL && !w->no_arena) {
        w->a = arena_new(ARENA_REQUEST_BUDGET);
        w->no_arena = w->a == NULL;
    }
    return w->a;
}

/* How to find members of one object: a scan or its index. */
typedef struct members {
    const cJSON *obj;
    keyindex *ix;
} members;

static size_t count_members(const cJSON *obj)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    return n;
}

static members members_of(walk *w, const cJSON *obj, size_t n)
{
    members m = {obj, NULL};
    if (n <= SCAN_MAX)
        return m;
    m.ix = scratch(w) ? keyindex_new(w->a, n) : NULL;
    for (const cJSON *c = obj->child; m.ix && c; c = c->next)
        keyindex_add(m.ix, c->string, strlen(c->string), c);
    return m;
}

/* The first member named 'key', or NULL. */
static const cJSON *member(const members *m, const char *key)
{
    if (m->obj == NULL)
        return NULL;
    if (m->ix != NULL)
        return keyindex_find(m->ix, key, strlen(key));
    uint64_t seen = 0;
    const cJSON *c = m->obj->child;
    /* the first byte inline: most names differ there, and a call costs more than the test */
    for (; c && (seen++, c->string[0] != key[0] || strcmp(c->string, key) != 0); c = c->next)
        ;
    lookup_steps += seen;
    return c;
}

/* The member of 'obj' named like 'x': 'hint' (the member at the same place, as most objects
 * compared keep their order) when its name is that, else through 'm', made on first need.
 * Names are unique within an object (jsonpatch.h), so the hint is the only such member. */
static const cJSON *counterpart(walk *w, members *m, const cJSON *obj, const cJSON *hint,
                                const cJSON *x)
{
    if (hint != NULL && hint->string[0] == x->string[0] && strcmp(hint->string, x->string) == 0) {
        lookup_steps++;
        return hint;
    }
    if (m->obj == NULL)
        *m = members_of(w, obj, count_members(obj));
    return member(m, x->string);
}

static bool equal(walk *w, const cJSON *a, const cJSON *b)
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
            if (!equal(w, x, y))
                return false;
        return x == NULL && y == NULL;
    }
    case cJSON_Object: {
        /* Equal sizes, and every member of a equal to b's member of that name. Keys are unique
         * (decoding refuses duplicates), so one direction suffices: each subtree is compared
         * once, unlike cJSON_Compare, which compares both ways at every level. */
        size_t n = count_members(a);
        if (n != count_members(b))
            return false;
        members mb = {NULL, NULL};
        const cJSON *y = b->child;
        for (const cJSON *x = a->child; x; x = x->next, y = y ? y->next : NULL)
            if (!equal(w, x, counterpart(w, &mb, b, y, x)))
                return false;
        return true;
    }
    default: /* null, true, false */
        return true;
    }
}

bool jsonpatch_equal(const cJSON *a, const cJSON *b)
{
    walk w = {0};
    bool eq = equal(&w, a, b);
    arena_free(w.a);
    return eq;
}

/* Appends "/" and the escaped token 'tok' to 'b'; returns 0, or -1 past the cap. */
static int append_token(buf *b, const char *tok)
{
    if (buf_append(b, "/", 1) != 0)
        return -1;
    for (const char *t = tok; *t;) {
        size_t run = strcspn(t, "~/");
        if (run > 0 && buf_append(b, t, run) != 0)
            return -1;
        t += run;
        if (*t != '\0' && buf_append(b, *t == '~' ? "~0" : "~1", 2) != 0)
            return -1;
        t += *t != '\0';
    }
    return 0;
}

/* Emits operation 'op' at the current place (plus 'last', when not NULL) with 'value'
 * (copied; NULL for none). */
static bool add_op(walk *w, const char *op, const char *last, const cJSON *value)
{
    if (w->ops == NULL) { /* only asked whether there is a difference: there is */
        w->differs = true;
        return false;
    }
    w->path.len = 0;
    if (buf_append(&w->path, "", 0) != 0)
        return false;
    for (size_t i = 0; i < w->depth; i++) {
        char idx[16];
        const step *s = &w->steps[i];
        if (s->key == NULL)
            snprintf(idx, sizeof idx, "%d", s->idx);
        if (append_token(&w->path, s->key ? s->key : s->idx >= 0 ? idx : "-") != 0)
            return false;
    }
    if (last != NULL && append_token(&w->path, last) != 0)
        return false;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "op", op) ||
        !cJSON_AddStringToObject(o, "path", w->path.data))
        goto err;
    if (value != NULL) {
        cJSON *v = cJSON_Duplicate(value, 1);
        if (v == NULL || !cJSON_AddItemToObject(o, "value", v)) {
            cJSON_Delete(v);
            goto err;
        }
    }
    if (cJSON_AddItemToArray(w->ops, o))
        return true;
err:
    cJSON_Delete(o);
    return false;
}

static bool diff(walk *w, const cJSON *a, const cJSON *b);
static bool diff_other(walk *w, const cJSON *a, const cJSON *b);

/* The rest of JSON Pointer 'p' (at a '/') after its next reference token when that token,
 * unescaped, is 'key'; else NULL. */
static const char *token_is(const char *p, const char *key)
{
    if (*p != '/')
        return NULL;
    for (p++; *p != '\0' && *p != '/'; p++, key++) {
        char c = *p;
        if (c == '~' && (p[1] == '0' || p[1] == '1'))
            c = *++p == '0' ? '~' : '/';
        if (c != *key)
            return NULL;
    }
    return *key == '\0' ? p : NULL;
}

/* Where JSON Pointer 'p' goes on from the object at the walk's place: the rest of it after
 * the walk's steps, "" when it ends there or above (the object is under the changed place,
 * and so is an array element the steps pass through: the answer errs towards comparing), or
 * NULL when it leads elsewhere. */
static const char *path_rest(const walk *w, const char *p)
{
    for (size_t d = 0; p != NULL && *p != '\0' && d < w->depth; d++)
        p = w->steps[d].key == NULL ? "" : token_is(p, w->steps[d].key);
    return p;
}

/* diff() of 'a' and 'b' one level down: member 'key', or element 'idx' when 'key' is NULL. */
static bool diff_under(walk *w, const char *key, int idx, const cJSON *a, const cJSON *b)
{
    if (w->steps == NULL) {
        w->steps = w->inline_steps;
        w->cap = sizeof w->inline_steps / sizeof w->inline_steps[0];
    }
    /* Deeper than the inline steps: the stack moves to the scratch arena. */
    if (w->depth == w->cap &&
        (scratch(w) == NULL || vec_grow(w->a, w->steps, w->depth, w->cap, 0) != 0))
        return false;
    w->steps[w->depth++] = (step){key, idx};
    bool ok = diff(w, a, b);
    w->depth--;
    return ok;
}

/* Members of 'a' missing from 'b' are removed, new ones added, the others compared. An
 * unchanged member is walked like a changed one (it yields no operation): asking whether it
 * changed first would compare every subtree once per level above a change, O(n*depth). */
static bool diff_objects(walk *w, const cJSON *a, const cJSON *b)
{
    /* Outside the changed places: where each of them goes on from this object (its rest, once
     * for all members), so that a member none of them enters is skipped. A walk that is not
     * whole has at most MAX_PLACES places (more make it whole from the start:
     * whole_documents()). */
    const char *rest[MAX_PLACES];
    size_t n_rest = 0;
    bool was = w->whole;
    for (size_t i = 0; !w->whole && i < w->n_paths; i++) {
        const char *r = path_rest(w, w->paths[i]);
        if (r != NULL && *r == '\0')
            w->whole = true; /* this object is under a changed place */
        else if (r != NULL)
            rest[n_rest++] = r;
    }
    members ma = {NULL, NULL}, mb = {NULL, NULL};
    bool ok = true;
    const cJSON *hint = b->child;
    for (const cJSON *c = a->child; c && ok; c = c->next, hint = hint ? hint->next : NULL)
        if (counterpart(w, &mb, b, hint, c) == NULL)
            ok = add_op(w, "remove", c->string, NULL);
    hint = a->child;
    for (const cJSON *c = b->child; c && ok; c = c->next, hint = hint ? hint->next : NULL) {
        const cJSON *old = counterpart(w, &ma, a, hint, c);
        if (old == NULL) {
            ok = add_op(w, "add", c->string, c);
            continue;
        }
        /* 2: a changed place is this member or holds it (compare it whole); 1: one is below
         * it; 0: none is in it, so it is its copy's, equal by construction */
        int rel = w->whole ? 2 : 0;
        for (size_t i = 0; i < n_rest && rel < 2; i++) {
            const char *r = token_is(rest[i], c->string);
            if (r != NULL)
                rel = *r == '\0' ? 2 : 1;
        }
        if (rel == 0)
            continue;
        bool here = w->whole;
        w->whole = rel == 2;
        ok = diff_under(w, c->string, 0, old, c);
        w->whole = here;
    }
    w->whole = was;
    return ok;
}

static bool diff(walk *w, const cJSON *a, const cJSON *b)
{
    if (cJSON_IsObject(a) && cJSON_IsObject(b))
        return diff_objects(w, a, b);
    bool was = w->whole;
    w->whole = true; /* arrays and the rest are compared whole */
    bool ok = diff_other(w, a, b);
    w->whole = was;
    return ok;
}

static bool diff_other(walk *w, const cJSON *a, const cJSON *b)
{
    int na = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1, nb = cJSON_GetArraySize(b);
    if (na >= 0 && cJSON_IsArray(b) && nb >= na) {
        /* element by element over the common length, then appends */
        bool ok = true;
        const cJSON *x = a->child, *y = b->child;
        for (int i = 0; y && ok; i++, y = y->next) {
            ok = x != NULL ? diff_under(w, NULL, i, x, y) : add_op(w, "add", "-", y);
            x = x ? x->next : NULL;
        }
        return ok;
    }
    if (equal(w, a, b))
        return true;
    return add_op(w, "replace", NULL, b); /* path "" replaces the whole document */
}

/* Whether the walk must compare everything: no places known, more than MAX_PLACES of them
 * (each member of an object on the way is tested against every place: a forEach that patches
 * thousands of annotations would make that quadratic, where the whole walk is linear), or one
 * of them the whole document ("", which replace and remove may name). */
static bool whole_documents(const char *const *paths, size_t n)
{
    if (paths == NULL || n > MAX_PLACES)
        return true;
    for (size_t i = 0; i < n; i++)
        if (paths[i][0] == '\0')
            return true;
    return false;
}

bool jsonpatch_equal_at(const cJSON *a, const cJSON *b, const char *const *paths, size_t n)
{
    walk w = {.paths = paths, .n_paths = n, .whole = whole_documents(paths, n)};
    bool ok = diff(&w, a, b);
    arena_free(w.a);
    return ok && !w.differs; /* out of memory: not known to be equal */
}

char *jsonpatch_diff(const cJSON *from, const cJSON *to, bool *oom)
{
    return jsonpatch_diff_at(from, to, NULL, 0, oom);
}

char *jsonpatch_diff_at(const cJSON *from, const cJSON *to, const char *const *paths, size_t n,
                        bool *oom)
{
    *oom = false;
    walk w = {.ops = cJSON_CreateArray(), .paths = paths, .n_paths = n,
              .whole = whole_documents(paths, n)};
    buf_init(&w.path, (size_t)1 << 20);
    bool ok = w.ops != NULL && diff(&w, from, to);
    buf_clear(&w.path);
    arena_free(w.a);
    if (!ok) {
        cJSON_Delete(w.ops);
        *oom = true;
        return NULL;
    }
    char *text = cJSON_GetArraySize(w.ops) > 0 ? cJSON_PrintUnformatted(w.ops) : NULL;
    cJSON_Delete(w.ops);
    return text;
}
