/* flinkdefaults.c - the Flink operator's default configuration, as the operator resolves it for
 * one resource (see policy_int.h, policy_flink_operator_defaults).
 *
 * The operator (FlinkConfigManager) loads its conf directory, where the Helm chart mounts one
 * key of the flink-operator-config ConfigMap: flink-conf.yaml when the chart's values have that
 * key (the default, and the only key before operator 1.12), else config.yaml. Flink 1.19 and
 * 1.20, which the operator runs on, read flink-conf.yaml with the legacy line parser when it is
 * there and config.yaml with a YAML parser otherwise; a ConfigMap is read the same way here.
 * Then, per resource (getDefaultConfig): the options under
 * kubernetes.operator.default-configuration.namespace.<ns>. override the base, then those under
 * ...flink-version.vX_Y+. for each known version X_Y up to the resource's (older first), then
 * those under ...flink-version.<its version>. (FlinkConfigBuilder then sets the resource's
 * spec.flinkConfiguration over all of it: fn_flinkconfig.c.)
 *
 * Every Flink policy of every review reads the same ConfigMap: its resolved options are kept
 * (kept_*), keyed by what they depend on: the object's identity (metadata.uid and
 * resourceVersion: the API server gives a changed object a new resourceVersion), the file
 * asked, the resource's version and namespace. An object without both (a manifest given to
 * the CLI) is parsed each time. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define DEFAULTS_PREFIX "kubernetes.operator.default-configuration."
#define VERSION_PREFIX DEFAULTS_PREFIX "flink-version."
#define NAMESPACE_PREFIX DEFAULTS_PREFIX "namespace."
#define DEFAULTS_MAX 10000 /* options, as flinkConfig() allows */

typedef struct opt {
    const char *key, *val;
    size_t seq; /* the order they were set in: the later one wins */
} opt;

typedef struct opts {
    arena *a;
    opt *v;
    size_t n, cap;
    const char *why; /* set on failure */
} opts;

static int put(opts *o, const char *key, const char *val)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        opt *v = cap <= 2 * DEFAULTS_MAX ? arena_alloc(o->a, cap * sizeof *v) : NULL;
        if (v == NULL) {
            o->why = "more than 10000 options, or out of memory";
            return -1;
        }
        if (o->n)
            memcpy(v, o->v, o->n * sizeof *v);
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n] = (opt){key, val, o->n};
    o->n++;
    return 0;
}

/* Java's String.trim(): strips every character <= U+0020 at both ends. */
static void java_trim(const char **s, size_t *len)
{
    while (*len > 0 && (unsigned char)(*s)[0] <= 0x20) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && (unsigned char)(*s)[*len - 1] <= 0x20)
        (*len)--;
}

/* Flink's legacy flink-conf.yaml parser (GlobalConfiguration.loadLegacyYAMLResource): per line
 * (BufferedReader.readLine: \n, \r or \r\n ends it), everything from the first '#' is a comment,
 * the rest splits at the first ": ", key and value are trimmed, and a line without the
 * separator, or with a blank key or value, is skipped. */
static int parse_legacy(opts *o, const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != '\n' && text[end] != '\r')
            end++;
        const char *line = text + i;
        size_t ll = end - i;
        i = end + (end < len && text[end] == '\r' && end + 1 < len && text[end + 1] == '\n' ? 2 : 1);
        const char *hash = memchr(line, '#', ll);
        if (hash != NULL)
            ll = (size_t)(hash - line);
        const char *sep = NULL;
        for (size_t k = 0; k + 1 < ll && sep == NULL; k++)
            if (line[k] == ':' && line[k + 1] == ' ')
                sep = line + k;
        if (sep == NULL)
            continue;
        const char *k = line, *v = sep + 2;
        size_t kl = (size_t)(sep - line), vl = ll - kl - 2;
        java_trim(&k, &kl);
        java_trim(&v, &vl);
        if (kl == 0 || vl == 0)
            continue;
        const char *ks = arena_strndup(o->a, k, kl), *vs = arena_strndup(o->a, v, vl);
        if (ks == NULL || vs == NULL) {
            o->why = "out of memory";
            return -1;
        }
        if (put(o, ks, vs) != 0)
            return -1;
    }
    return 0;
}

/* The text of a YAML scalar or list as an option value (a list joined with ';', as the
 * operator flattens a nested flinkConfiguration); NULL for null or a nested list. */
static const char *value_text(arena *a, const cJSON *v)
{
    if (!cJSON_IsArray(v))
        return policy_scalar_text(a, v);
    const char *out = "";
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        const char *t = value_text(a, e);
        if (t == NULL || cJSON_IsArray(e))
            return NULL;
        out = e == v->child ? t : arena_cat(a, out, ";", t);
        if (out == NULL)
            return NULL;
    }
    return out;
}

/* config.yaml (Flink 1.19+): standard YAML, nested maps flattened with '.'. */
static int flatten(opts *o, const cJSON *m, const char *prefix, int depth)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, m) {
        const char *key = prefix ? arena_cat(o->a, prefix, ".", e->string) : e->string;
        if (key == NULL) {
            o->why = "out of memory";
            return -1;
        }
        if (cJSON_IsObject(e) && depth < 100) {
            if (flatten(o, e, key, depth + 1) != 0)
                return -1;
            continue;
        }
        const char *val = cJSON_IsNull(e) ? NULL : value_text(o->a, e);
        if (val != NULL && val[0] != '\0' && put(o, key, val) != 0)
            return -1;
    }
    return 0;
}

static int parse_standard(opts *o, const char *text, size_t len)
{
    diag_list dl;
    diag_list_init(&dl);
    ydoc *docs = NULL;
    size_t partial = 0;
    long nd = yaml_load(o->a, "config.yaml", text, len, &docs, &partial, &dl);
    cJSON *j = nd == 1 ? yaml_to_json(docs[0].root, "config.yaml", &dl) : NULL;
    int rc = 0;
    if (nd == 0 || (nd == 1 && cJSON_IsNull(j))) {
        cJSON_Delete(j); /* an empty file: no options */
    } else if (nd == 1 && cJSON_IsObject(j)) {
        /* the arena deletes the tree (or has deleted it, when out of memory) */
        rc = policy_defer_json(o->a, j) == 0 ? flatten(o, j, NULL, 0) : -1;
    } else {
        const diag *d = dl.count > 0 ? &dl.items[0] : NULL;
        o->why = d != NULL ? arena_sprintf(o->a, "config.yaml:%d:%d: %s", d->at.line, d->at.col,
                                           d->msg)
                           : "config.yaml is not one YAML mapping";
        cJSON_Delete(j);
        rc = -1;
    }
    diag_list_clear(&dl);
    return rc;
}

/* "v1_20" -> 1, 20 when it is exactly v<digits>_<digits>. */
static bool parse_version(const char *s, size_t len, int *major, int *minor)
{
    int v[2] = {0, 0}, part = 0;
    size_t digits = 0;
    if (len < 4 || s[0] != 'v')
        return false;
    for (size_t i = 1; i < len; i++) {
        if (s[i] == '_' && part == 0 && digits > 0) {
            part = 1;
            digits = 0;
        } else if (s[i] >= '0' && s[i] <= '9' && digits < 4) {
            v[part] = v[part] * 10 + (s[i] - '0');
            digits++;
        } else {
            return false;
        }
    }
    *major = v[0];
    *minor = v[1];
    return part == 1 && digits > 0;
}

/* The Flink versions the operator knows (FlinkVersion): a version-specific key of another is
 * skipped by the operator ("Unknown Flink version in config key"), and so here. */
static bool is_known_version(int major, int minor)
{
    return (major == 1 && minor >= 13 && minor <= 20) || (major == 2 && minor <= 4);
}

/* Applies to 'o' every base option under 'prefix' ('plen' bytes), without the prefix. */
static int apply_prefix(opts *o, size_t n_base, const char *prefix, size_t plen)
{
    for (size_t i = 0; i < n_base; i++) {
        const char *k = o->v[i].key;
        if (strncmp(k, prefix, plen) == 0 && k[plen] != '\0' && put(o, k + plen, o->v[i].val) != 0)
            return -1;
    }
    return 0;
}

/* The versions X_Y with a "vX_Y+." key among the first 'n_base' options that apply to a
 * resource of major.minor, in ascending order; returns how many (at most 'cap'). */
static size_t gt_versions(const opts *o, size_t n_base, int major, int minor, int (*out)[2],
                          size_t cap)
{
    static const size_t plen = sizeof VERSION_PREFIX - 1;
    size_t n = 0;
    for (size_t i = 0; i < n_base; i++) {
        const char *k = o->v[i].key;
        if (strncmp(k, VERSION_PREFIX, plen) != 0)
            continue;
        const char *plus = strstr(k + plen, "+.");
        int ma, mi;
        if (plus == NULL || !parse_version(k + plen, (size_t)(plus - k - plen), &ma, &mi) ||
            !is_known_version(ma, mi) || ma > major || (ma == major && mi > minor))
            continue;
        size_t j = 0;
        while (j < n && !(out[j][0] == ma && out[j][1] == mi))
            j++;
        if (j < n || n == cap)
            continue;
        while (j > 0 && (out[j - 1][0] > ma || (out[j - 1][0] == ma && out[j - 1][1] > mi))) {
            out[j][0] = out[j - 1][0];
            out[j][1] = out[j - 1][1];
            j--;
        }
        out[j][0] = ma;
        out[j][1] = mi;
        n++;
    }
    return n;
}

static int by_key_then_seq(const void *x, const void *y)
{
    const opt *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c != 0 ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Resolves the base options of 'o' for a resource of 'version' in 'ns' (getDefaultConfig). */
static int resolve(opts *o, const char *version, size_t vlen, const char *ns, size_t nslen)
{
    size_t n_base = o->n;
    if (nslen > 0) {
        const char *p = arena_sprintf(o->a, NAMESPACE_PREFIX "%.*s.", (int)nslen, ns);
        if (p == NULL || apply_prefix(o, n_base, p, strlen(p)) != 0)
            return -1;
    }
    int major, minor;
    if (parse_version(version, vlen, &major, &minor) && is_known_version(major, minor)) {
        int (*vs)[2] = arena_alloc(o->a, 32 * sizeof *vs);
        if (vs == NULL)
            return -1;
        size_t nv = gt_versions(o, n_base, major, minor, vs, 32);
        for (size_t i = 0; i <= nv; i++) {
            const char *p = i < nv ? arena_sprintf(o->a, VERSION_PREFIX "v%d_%d+.", vs[i][0],
                                                   vs[i][1])
                                   : arena_sprintf(o->a, VERSION_PREFIX "%.*s.", (int)vlen, version);
            if (p == NULL || apply_prefix(o, n_base, p, strlen(p)) != 0)
                return -1;
        }
    }
    /* One option per key, the one set last. */
    qsort(o->v, o->n, sizeof *o->v, by_key_then_seq);
    size_t w = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (i + 1 < o->n && strcmp(o->v[i].key, o->v[i + 1].key) == 0)
            continue;
        o->v[w++] = o->v[i];
    }
    o->n = w;
    return 0;
}

/* ---- the resolved options kept across reviews ---- */

#define KEPT_MAX 32                 /* entries: ConfigMaps x (version, namespace) in use */
#define KEPT_BYTES ((size_t)4 << 20) /* all entries' blocks together; a bigger one is not kept */
#define KEPT_KEY_MAX 1024

/* One resolved configuration: a block of 'n' (key, value) offset pairs, then the strings. */
typedef struct kept {
    uint64_t hash, used; /* used: the LRU tick of its last hit */
    char *key;           /* uid \0 resourceVersion \0 file \0 version \0 ns \0 (key_len bytes) */
    size_t key_len;
    char *cm_ns, *cm_name; /* the ConfigMap's, for policy_flink_defaults_forget */
    size_t n, size;
    size_t *block; /* n pairs of offsets into the strings, which follow them */
} kept;

static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
static kept kept_v[KEPT_MAX];
static size_t kept_bytes;
static uint64_t kept_tick;

static void kept_release(kept *k)
{
    kept_bytes -= k->size;
    free(k->key);
    free(k->block);
    memset(k, 0, sizeof *k);
}

void policy_flink_defaults_forget(const char *ns, const char *name)
{
    pthread_mutex_lock(&kept_mu);
    for (size_t i = 0; i < KEPT_MAX; i++) {
        kept *k = &kept_v[i];
        if (k->key != NULL &&
            (ns == NULL || (strcmp(k->cm_ns, ns) == 0 && strcmp(k->cm_name, name) == 0)))
            kept_release(k);
    }
    pthread_mutex_unlock(&kept_mu);
}

static const char *meta(const cJSON *cm, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cm, "metadata"), field);
    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

/* Writes the key of the answer for 'cm' into 'out' (KEPT_KEY_MAX bytes); 0 when it has none
 * (no uid or resourceVersion, or too long to be a Kubernetes object's). */
static size_t kept_key(const cJSON *cm, const char *file, size_t flen, const char *version,
                       size_t vlen, const char *ns, size_t nslen, char *out)
{
    const char *uid = meta(cm, "uid"), *rv = meta(cm, "resourceVersion");
    if (uid == NULL || rv == NULL)
        return 0;
    const char *part[5] = {uid, rv, file, version, ns};
    size_t plen[5] = {strlen(uid), strlen(rv), flen, vlen, nslen}, len = 0;
    for (int i = 0; i < 5; i++) {
        if (memchr(part[i], '\0', plen[i]) != NULL || len + plen[i] + 1 > KEPT_KEY_MAX)
            return 0; /* a NUL would make two keys one */
        memcpy(out + len, part[i], plen[i]);
        len += plen[i];
        out[len++] = '\0';
    }
    return len;
}

static uint64_t kept_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    return h;
}

/* The kept answer for 'key', copied into 'a'; 1 when found, 0 when not, -1 out of memory. */
static int kept_get(arena *a, const char *key, size_t len, policy_conf_opt **out, size_t *n)
{
    uint64_t h = kept_hash(key, len);
    int rc = 0;
    pthread_mutex_lock(&kept_mu);
    for (size_t i = 0; i < KEPT_MAX && rc == 0; i++) {
        kept *k = &kept_v[i];
        if (k->key == NULL || k->hash != h || k->key_len != len || memcmp(k->key, key, len) != 0)
            continue;
        k->used = ++kept_tick;
        size_t head = 2 * k->n * sizeof(size_t);
        policy_conf_opt *v = arena_alloc(a, (k->n + 1) * sizeof *v);
        char *str = arena_alloc(a, k->size - head);
        if (v == NULL || str == NULL) {
            rc = -1;
            break;
        }
        memcpy(str, (char *)k->block + head, k->size - head);
        for (size_t j = 0; j < k->n; j++)
            v[j] = (policy_conf_opt){str + k->block[2 * j], str + k->block[2 * j + 1]};
        *out = v;
        *n = k->n;
        rc = 1;
    }
    pthread_mutex_unlock(&kept_mu);
    return rc;
}

/* Keeps a copy of the 'n' options 'v' under 'key' (when they fit the budget), evicting the
 * least recently used, and every answer of an older resourceVersion of the same object. */
static void kept_put(const cJSON *cm, const char *key, size_t len, const policy_conf_opt *v,
                     size_t n)
{
    size_t head = 2 * n * sizeof(size_t), size = head;
    for (size_t i = 0; i < n; i++)
        size += strlen(v[i].key) + strlen(v[i].val) + 2;
    const char *cns = meta(cm, "namespace"), *cname = meta(cm, "name");
    cns = cns ? cns : "";
    cname = cname ? cname : "";
    size_t ul = strlen(key), nsl = strlen(cns), nml = strlen(cname);
    if (size > KEPT_BYTES / 4)
        return;
    size_t *block = malloc(size);
    char *k = malloc(len + nsl + nml + 2);
    if (block == NULL || k == NULL) {
        free(block);
        free(k);
        return;
    }
    char *str = (char *)block + head;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(v[i].key) + 1, vl = strlen(v[i].val) + 1;
        block[2 * i] = at;
        memcpy(str + at, v[i].key, kl);
        at += kl;
        block[2 * i + 1] = at;
        memcpy(str + at, v[i].val, vl);
        at += vl;
    }
    memcpy(k, key, len);
    memcpy(k + len, cns, nsl + 1);
    memcpy(k + len + nsl + 1, cname, nml + 1);
    pthread_mutex_lock(&kept_mu);
    kept *slot = NULL;
    for (size_t i = 0; i < KEPT_MAX; i++) {
        kept *e = &kept_v[i];
        /* the same uid with another resourceVersion: the object was replaced */
        if (e->key != NULL && strcmp(e->key, key) == 0 &&
            strcmp(e->key + ul + 1, key + ul + 1) != 0)
            kept_release(e);
        if (e->key != NULL && e->key_len == len && memcmp(e->key, key, len) == 0)
            slot = e; /* another thread kept it meanwhile: replaced by this copy */
    }
    if (slot != NULL)
        kept_release(slot);
    for (;;) {
        kept *lru = NULL, *free_slot = NULL;
        for (size_t i = 0; i < KEPT_MAX; i++) {
            if (kept_v[i].key == NULL && free_slot == NULL)
                free_slot = &kept_v[i];
            else if (kept_v[i].key != NULL && (lru == NULL || kept_v[i].used < lru->used))
                lru = &kept_v[i];
        }
        if (free_slot != NULL && kept_bytes + size <= KEPT_BYTES) {
            slot = free_slot;
            break;
        }
        kept_release(lru); /* the budget holds a block of size: lru is never NULL here */
    }
    *slot = (kept){.hash = kept_hash(key, len), .used = ++kept_tick, .key = k, .key_len = len,
                   .cm_ns = k + len, .cm_name = k + len + nsl + 1, .n = n, .size = size,
                   .block = block};
    kept_bytes += size;
    pthread_mutex_unlock(&kept_mu);
}

static int resolve_defaults(arena *a, const cJSON *cm, const char *file, size_t flen,
                            const char *version, size_t vlen, const char *ns, size_t nslen,
                            policy_conf_opt **out, size_t *n, const char **why);

int policy_flink_operator_defaults(arena *a, const cJSON *cm, const char *file, size_t flen,
                                   const char *version, size_t vlen, const char *ns,
                                   size_t nslen, policy_conf_opt **out, size_t *n,
                                   const char **why)
{
    char key[KEPT_KEY_MAX];
    *out = NULL;
    *n = 0;
    *why = NULL;
    size_t klen = kept_key(cm, file, flen, version, vlen, ns, nslen, key);
    int found = klen > 0 ? kept_get(a, key, klen, out, n) : 0;
    if (found != 0) {
        if (found < 0)
            *why = "out of memory";
        return found > 0 ? 0 : -1;
    }
    int rc = resolve_defaults(a, cm, file, flen, version, vlen, ns, nslen, out, n, why);
    if (rc == 0 && klen > 0) /* an error is not kept: it is rare, and cheap to find again */
        kept_put(cm, key, klen, *out, *n);
    return rc;
}

static int resolve_defaults(arena *a, const cJSON *cm, const char *file, size_t flen,
                            const char *version, size_t vlen, const char *ns, size_t nslen,
                            policy_conf_opt **out, size_t *n, const char **why)
{
    static const char legacy_name[] = "flink-conf.yaml", standard_name[] = "config.yaml";
    *out = NULL;
    *n = 0;
    *why = NULL;
    bool want_legacy = flen == sizeof legacy_name - 1 && memcmp(file, legacy_name, flen) == 0;
    bool want_standard = flen == sizeof standard_name - 1 && memcmp(file, standard_name, flen) == 0;
    if (flen > 0 && !want_legacy && !want_standard) {
        *why = "the file must be flink-conf.yaml, config.yaml or '' (the one Flink reads)";
        return -1;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(cm, "data");
    const cJSON *legacy = want_standard ? NULL : cJSON_GetObjectItemCaseSensitive(data, legacy_name);
    const cJSON *standard = want_legacy ? NULL : cJSON_GetObjectItemCaseSensitive(data, standard_name);
    opts o = {.a = a};
    int rc = 0;
    if (cJSON_IsString(legacy))
        rc = parse_legacy(&o, legacy->valuestring, strlen(legacy->valuestring));
    else if (cJSON_IsString(standard))
        rc = parse_standard(&o, standard->valuestring, strlen(standard->valuestring));
    else
        return 0; /* no configuration file: the operator's built-in defaults only */
    if (rc == 0 && o.n > DEFAULTS_MAX) {
        o.why = "more than 10000 options";
        rc = -1;
    }
    if (rc == 0 && resolve(&o, version, vlen, ns, nslen) != 0) {
        o.why = o.why ? o.why : "out of memory";
        rc = -1;
    }
    if (rc != 0) {
        *why = o.why ? o.why : "out of memory";
        return -1;
    }
    policy_conf_opt *v = arena_alloc(a, (o.n + 1) * sizeof *v);
    if (v == NULL) {
        *why = "out of memory";
        return -1;
    }
    for (size_t i = 0; i < o.n; i++)
        v[i] = (policy_conf_opt){o.v[i].key, o.v[i].val};
    *out = v;
    *n = o.n;
    return 0;
}
