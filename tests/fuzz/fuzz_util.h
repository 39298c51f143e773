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

#include "admission/resource.h"
#include "policy/policy.h"
#include "util/buf.h"
#include "util/diag.h"

/* The set every target decides with: policies/ (or $SG_FUZZ_POLICIES), relative to the
 * repository root where make runs the fuzzers and the tests. */
/* The object kube-apiserver admits when kubectl creates 'object' (of 'kind' in 'group',
 * naming namespace 'ns', "" when none): a copy (cJSON_Delete it) in the namespace of the request,
 * which goes to '*req_ns': kubectl's "default" for a namespaced kind that names none, set in
 * metadata.namespace too; NULL when out of memory. */
static cJSON *fuzz_apiserver_object(const char *group, const char *kind, const char *ns,
                                    const cJSON *object, const char **req_ns)
{
    *req_ns = ns[0] || !admission_kind_namespaced(group, kind) ? ns : "default";
    cJSON *obj = cJSON_Duplicate(object, 1);
    cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (*req_ns != ns && cJSON_IsObject(md)) { /* "", absent or not a string */
        cJSON_DeleteItemFromObjectCaseSensitive(md, "namespace");
        cJSON_AddStringToObject(md, "namespace", *req_ns);
    }
    return obj;
}

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

#ifndef SG_FUZZ_NO_MAIN
/* ---- a JSON-aware mutator (libFuzzer only) ----
 * Byte mutations of a review almost always break its JSON, so the decoder refuses it and the
 * policies are never reached. When the input parses, this changes one node instead: a value
 * from the tables below (the names and values the shipped policies look at), a deleted node,
 * a copied subtree, an emptied container, or libFuzzer's own mutation of one string. One
 * mutation in four stays a plain byte mutation, so that malformed JSON is still fuzzed. */
#include <stdint.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);

static const char *const fuzz_keys[] = {
    "high-availability", "high-availability.type", "high-availability.storageDir",
    "kubernetes.operator.job.upgrade.last-state.enabled", "scheduler-mode", "upgradeMode",
    "mode", "job", "jobManager", "taskManager", "resource", "memory", "cpu", "podTemplate",
    "spec", "containers", "name", "volumes", "volumeMounts", "persistentVolumeClaim",
    "claimName", "mountPath", "hostPath", "emptyDir", "stargate", "heapSize", "cassandra",
    "datacenters", "config", "jvmOptions", "heap_max_size", "max_heap_size", "jvm-options",
    "env", "value", "valueFrom", "secretKeyRef", "args", "password", "flinkConfiguration",
    "state.checkpoints.dir", "state.savepoints.dir", "metrics.reporters",
    "restart-strategy.type", "resources", "limits", "requests", "accessModes", "flinkVersion",
    "operation", "uid", "kind", "apiVersion", "namespace", "object", "oldObject", "dryRun",
    "userInfo", "username", "groups", "metadata", "labels", "annotations", "racks", "size",
};

static const char *const fuzz_strings[] = {
    "REACTIVE", "reactive", "standalone", "native", "last-state", "stateless", "savepoint",
    "kubernetes", "zookeeper", "NONE", "none", "file:///flink-data/ha", "file:///opt/flink",
    "s3://bucket/ha", "hdfs://nn/x", "2048m", "1g", "1024 mb", "512M", "1Gi", "0.5", "100m",
    "16", "65Gi", "ReadWriteMany", "ReadWriteOnce", "flink-main-container", "hunter2", "",
    "v1_17", "CREATE", "UPDATE", "DELETE", "CONNECT", "FlinkDeployment", "K8ssandraCluster",
    "CassandraDatacenter", "FlinkSessionJob", "flink.apache.org/v1beta1", "k8ssandra.io/v1alpha1",
    "cassandra.datastax.com/v1beta1", "admission.k8s.io/v1", "admission.k8s.io/v1beta1", "a/b~c",
    "-Xmx4G", "--password=x", "${SECRET}", "true", "1e3", "\xff\xfe",
};

static uint64_t fuzz_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct fuzz_node {
    cJSON *node, *parent;
} fuzz_node;

/* Lists the nodes under 'n' (pre-order, at most 'cap'). */
static void fuzz_nodes(cJSON *n, cJSON *parent, fuzz_node *out, size_t *k, size_t cap)
{
    if (*k >= cap)
        return;
    out[(*k)++] = (fuzz_node){n, parent};
    for (cJSON *c = n->child; c != NULL && (cJSON_IsObject(n) || cJSON_IsArray(n)); c = c->next)
        fuzz_nodes(c, n, out, k, cap);
}

/* A new scalar: a string of the table, a number at the edges, a boolean or null. */
static cJSON *fuzz_scalar(uint64_t *rng)
{
    static const double nums[] = {0, -1, 1, 2.5, 1e308, -1e308, 9007199254740993.0, 1024, 65536};
    switch (fuzz_rng(rng) % 6) {
    case 0: return cJSON_CreateNumber(nums[fuzz_rng(rng) % (sizeof nums / sizeof nums[0])]);
    case 1: return cJSON_CreateBool(fuzz_rng(rng) % 2);
    case 2: return cJSON_CreateNull();
    default:
        return cJSON_CreateString(
            fuzz_strings[fuzz_rng(rng) % (sizeof fuzz_strings / sizeof fuzz_strings[0])]);
    }
}

/* Puts 'add' in place of 't' (replace), or into container 't' under 'key' (objects) or at the
 * end (arrays). Deletes 'add' when that fails; returns whether the tree changed. */
static bool fuzz_put(fuzz_node t, const char *key, cJSON *add, bool replace)
{
    bool ok = false;
    if (add != NULL && replace && t.parent != NULL) {
        ok = cJSON_ReplaceItemViaPointer(t.parent, t.node, add);
    } else if (add != NULL && !replace && cJSON_IsObject(t.node)) {
        cJSON_DeleteItemFromObjectCaseSensitive(t.node, key);
        ok = cJSON_AddItemToObject(t.node, key, add);
    } else if (add != NULL && !replace && cJSON_IsArray(t.node)) {
        ok = cJSON_AddItemToArray(t.node, add);
    }
    if (!ok)
        cJSON_Delete(add);
    return ok;
}

/* Changes one node of 'root'. Returns false when nothing changed. */
static bool fuzz_mutate_tree(cJSON *root, uint64_t *rng)
{
    enum { CAP = 4096 };
    static fuzz_node nodes[CAP];
    size_t n = 0;
    fuzz_nodes(root, NULL, nodes, &n, CAP);
    fuzz_node t = nodes[fuzz_rng(rng) % n];
    const char *key = fuzz_keys[fuzz_rng(rng) % (sizeof fuzz_keys / sizeof fuzz_keys[0])];
    switch (fuzz_rng(rng) % 6) {
    case 0: /* another value */
        return fuzz_put(t, key, fuzz_scalar(rng), true);
    case 1: /* gone */
        if (t.parent == NULL)
            return false;
        cJSON_Delete(cJSON_DetachItemViaPointer(t.parent, t.node));
        return true;
    case 2: /* a copy of another node, added to a container */
        return fuzz_put(t, key, cJSON_Duplicate(nodes[fuzz_rng(rng) % n].node, 1), false);
    case 3: /* a new scalar added to a container */
        return fuzz_put(t, key, fuzz_scalar(rng), false);
    case 4: /* an empty object or list */
        return fuzz_put(t, key, fuzz_rng(rng) % 2 ? cJSON_CreateObject() : cJSON_CreateArray(),
                        true);
    default: { /* libFuzzer's mutation of one string's bytes */
        if (!cJSON_IsString(t.node))
            return false;
        uint8_t buf[512];
        size_t len = strlen(t.node->valuestring);
        len = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, t.node->valuestring, len);
        len = LLVMFuzzerMutate(buf, len, sizeof buf - 1);
        buf[len] = '\0';
        return fuzz_put(t, key, cJSON_CreateString((const char *)buf), true);
    }
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed)
{
    uint64_t rng = (uint64_t)seed * 0x9E3779B97F4A7C15u + 1;
    cJSON *root = fuzz_rng(&rng) % 4 == 0 ? NULL : cJSON_ParseWithLength((char *)data, size);
    if (root == NULL)
        return LLVMFuzzerMutate(data, size, max);
    bool changed = false;
    for (int i = 0, rounds = 1 + (int)(fuzz_rng(&rng) % 3); i < rounds; i++)
        changed |= fuzz_mutate_tree(root, &rng);
    char *text = changed ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    size_t len = text ? strlen(text) : 0;
    if (text == NULL || len > max) {
        free(text);
        return LLVMFuzzerMutate(data, size, max);
    }
    memcpy(data, text, len);
    free(text);
    return len;
}
#endif

#endif
