/* fuzz_util.h - what the fuzz targets for the webhook (fuzz_review.c) and for 'check'
 * (fuzz_check.c) share: the shipped policies, loaded once, and an independent, strict
 * RFC 6902 applier that checks the JSON Patches we send.
 *
 * Header-only (static functions) so that each target stays one .c file for clang and both can
 * be included into tests/unit/test_fuzz_corpus.c; the include guard keeps one copy there.
 * The targets report a broken invariant with fuzz_fail() and a non-zero return: libFuzzer
 * then aborts (a finding with the input saved) and the corpus replay fails with the file's
 * name. */
#ifndef SG_FUZZ_UTIL_H
#define SG_FUZZ_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy/policy.h"
#include "util/buf.h"
#include "util/diag.h"

/* The set every target decides with: policies/ (or $SG_FUZZ_POLICIES), relative to the
 * repository root where make runs the fuzzers and the tests. */
static policy_set *fuzz_shipped;

/* Prints why an input broke an invariant and returns -1, for 'return fuzz_fail(...)'. */
__attribute__((format(printf, 2, 3))) static int fuzz_fail(const char *target,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: invariant broken: ", target);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* Returns the shipped policy set, loading it on the first call; NULL (with the diagnostics
 * printed) when it does not load, which every target treats as a failure: a replay that
 * decides with no policies would pass without testing anything. */
static const policy_set *fuzz_policies(void)
{
    if (fuzz_shipped != NULL)
        return fuzz_shipped;
    const char *dir = getenv("SG_FUZZ_POLICIES");
    dir = dir && *dir ? dir : "policies";
    diag_list dl;
    diag_list_init(&dl);
    fuzz_shipped = policy_set_load_dir(dir, &dl);
    size_t n = 0;
    if (fuzz_shipped != NULL)
        policy_set_items(fuzz_shipped, &n);
    if (fuzz_shipped == NULL || n == 0) {
        fprintf(stderr, "fuzz: no policies loaded from %s (run from the repository root)\n", dir);
        for (size_t i = 0; i < dl.count; i++)
            fprintf(stderr, "  %s:%d: %s\n", dl.items[i].at.file ? dl.items[i].at.file : "",
                    dl.items[i].at.line, dl.items[i].msg);
        policy_set_unref(fuzz_shipped);
        fuzz_shipped = NULL;
    }
    diag_list_clear(&dl);
    return fuzz_shipped;
}

/* Drops the shipped set (the replay test calls it so that leak checkers see a clean exit). */
__attribute__((unused)) static void fuzz_policies_free(void)
{
    policy_set_unref(fuzz_shipped);
    fuzz_shipped = NULL;
}

/* Unescapes one JSON Pointer reference token of 'len' bytes into 'out' (RFC 6901: ~1 is '/',
 * ~0 is '~', any other '~' is an error). Returns a malloc'd string or NULL. */
static char *fuzz_ptr_token(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '~') {
            out[o++] = s[i];
            continue;
        }
        if (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')) {
            free(out);
            return NULL;
        }
        out[o++] = s[++i] == '0' ? '~' : '/';
    }
    out[o] = '\0';
    return out;
}

/* An array index as RFC 6901 spells it: "0" or digits without a leading zero. */
static bool fuzz_ptr_index(const char *tok, int size, bool allow_end, int *out)
{
    if (allow_end && strcmp(tok, "-") == 0) {
        *out = size;
        return true;
    }
    if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0') || strlen(tok) > 9)
        return false;
    for (const char *p = tok; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    *out = atoi(tok);
    return *out <= size;
}

/* Applies one operation of a JSON Patch to '*doc' the way kube-apiserver's json-patch does:
 * strictly (the parent must exist; replace and remove need the target; no missing parents
 * are created). Only add, replace and remove are expected from us. Returns NULL, or what
 * is wrong (a static string). */
static const char *fuzz_patch_op(cJSON **doc, const cJSON *op)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(op, "op");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(op, "path");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(op, "value");
    if (!cJSON_IsObject(op) || !cJSON_IsString(o) || !cJSON_IsString(p))
        return "an operation without a string op and path";
    bool add = strcmp(o->valuestring, "add") == 0, rm = strcmp(o->valuestring, "remove") == 0;
    if (!add && !rm && strcmp(o->valuestring, "replace") != 0)
        return "an op other than add, replace or remove";
    if (!rm && v == NULL)
        return "add or replace without a value";
    const char *path = p->valuestring;
    if (path[0] == '\0') { /* the whole document */
        if (rm)
            return "remove of the whole document";
        cJSON *copy = cJSON_Duplicate(v, 1);
        if (copy == NULL)
            return "out of memory";
        cJSON_Delete(*doc);
        *doc = copy;
        return NULL;
    }
    if (path[0] != '/')
        return "a path that does not start with '/'";
    cJSON *parent = *doc;
    const char *last = strrchr(path, '/');
    for (const char *s = path + 1; parent != NULL && s <= last;) {
        const char *e = strchr(s, '/'); /* found: 'last' is a '/' at or after 's' */
        char *tok = fuzz_ptr_token(s, (size_t)(e - s));
        int idx;
        if (tok == NULL)
            return "a path with a bad '~' escape";
        if (cJSON_IsObject(parent))
            parent = cJSON_GetObjectItemCaseSensitive(parent, tok);
        else if (cJSON_IsArray(parent) &&
                 fuzz_ptr_index(tok, cJSON_GetArraySize(parent), false, &idx))
            parent = cJSON_GetArrayItem(parent, idx);
        else
            parent = NULL;
        free(tok);
        s = e + 1;
    }
    if (parent == NULL || !(cJSON_IsObject(parent) || cJSON_IsArray(parent)))
        return "a path whose parent does not exist";
    char *key = fuzz_ptr_token(last + 1, strlen(last + 1));
    if (key == NULL)
        return "a path with a bad '~' escape";
    cJSON *val = rm ? NULL : cJSON_Duplicate(v, 1);
    const char *err = NULL;
    bool ok = true;
    if (!rm && val == NULL) {
        err = "out of memory";
    } else if (cJSON_IsObject(parent)) {
        bool has = cJSON_GetObjectItemCaseSensitive(parent, key) != NULL;
        if (!has && !add)
            err = "replace or remove of a member that does not exist";
        else if (rm)
            cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
        else if (has)
            ok = cJSON_ReplaceItemInObjectCaseSensitive(parent, key, val);
        else
            ok = cJSON_AddItemToObject(parent, key, val);
    } else {
        int size = cJSON_GetArraySize(parent), idx;
        if (!fuzz_ptr_index(key, size, add, &idx) || (!add && idx >= size))
            err = "an array index out of range";
        else if (rm)
            cJSON_DeleteItemFromArray(parent, idx);
        else if (!add)
            ok = cJSON_ReplaceItemInArray(parent, idx, val);
        else if (idx == size)
            ok = cJSON_AddItemToArray(parent, val);
        else
            ok = cJSON_InsertItemInArray(parent, idx, val);
    }
    if (err == NULL && !rm && ok)
        val = NULL; /* now owned by the document */
    else if (err == NULL && !ok)
        err = "out of memory";
    cJSON_Delete(val);
    free(key);
    return err;
}

/* Applies the JSON Patch text 'patch' to a copy of 'object' into '*out' (cJSON_Delete it).
 * Returns NULL, or what is wrong with the patch. */
static const char *fuzz_patch_apply(const cJSON *object, const char *patch, size_t len,
                                    cJSON **out)
{
    *out = NULL;
    cJSON *ops = cJSON_ParseWithLength(patch, len);
    if (!cJSON_IsArray(ops) || cJSON_GetArraySize(ops) == 0) {
        cJSON_Delete(ops);
        return "the patch is not a non-empty JSON array";
    }
    cJSON *doc = cJSON_Duplicate(object, 1);
    const char *err = doc == NULL ? "out of memory" : NULL;
    const cJSON *op;
    cJSON_ArrayForEach(op, ops)
    {
        if (err == NULL)
            err = fuzz_patch_op(&doc, op);
    }
    cJSON_Delete(ops);
    if (err != NULL)
        cJSON_Delete(doc);
    else
        *out = doc;
    return err;
}

/* Decodes the base64 text 's' the way encoding/json decodes a []byte (standard alphabet,
 * padded, no whitespace) into a malloc'd, NUL-terminated buffer. Returns NULL when the text
 * is not that. */
static char *fuzz_base64(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4 != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool pad = c == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '=');
        if (!pad && !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return NULL;
    }
    unsigned char *out = malloc(n / 4 * 3 + 1);
    long got = out ? base64_decode(s, n, out) : -1;
    if (got < 0) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    *len = (size_t)got;
    return (char *)out;
}

#endif
