/* config.c - the API server's address and credentials: in-cluster or from a kubeconfig.
 *
 * A kubeconfig is read with policy/yamldoc (libyaml nodes with positions), so that every
 * refusal names the file, line and column of the field. Only what a long-running reader of
 * the cluster needs is supported; everything that would weaken TLS, hide an identity change
 * or need a credential plugin run is refused with the field named, rather than ignored. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../policy/yamldoc.h"
#include "../util/arena.h"
#include "../util/buf.h"
#include "../util/file.h"
#include "../util/log.h"

#define KUBECONFIG_MAX_SIZE YAML_MAX_DOCUMENT

/* The state of one kubeconfig read: where errors point, and the directory relative file
 * names are resolved against. */
typedef struct kc_reader {
    const char *file;
    char *dir;
    diag_list *dl;
} kc_reader;

static void kc_err(kc_reader *rd, const ynode *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void kc_err(kc_reader *rd, const ynode *at, const char *path, const char *fmt, ...)
{
    srcpos pos = {
        .file = rd->file, .line = at ? at->line : 0, .col = at ? at->col : 0, .path = path};
    va_list ap;
    va_start(ap, fmt);
    diag_addv(rd->dl, DIAG_ERROR, "kube.config", &pos, fmt, ap);
    va_end(ap);
}

/* The string value of 'key' in mapping 'm' (at 'mpath'): 1 with '*out' set, 0 when absent or
 * null, -1 (with a diag) when it is not a scalar or holds a NUL. */
static int kc_str(kc_reader *rd, const ynode *m, const char *mpath, const char *key,
                  const char **out, const ynode **node)
{
    *out = NULL;
    const ynode *v = yaml_get(m, key);
    if (node)
        *node = v;
    if (v == NULL || yaml_is_null(v))
        return 0;
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", mpath, mpath[0] ? "." : "", key);
    if (v->kind != YNODE_SCALAR || strlen(v->str) != v->len) {
        kc_err(rd, v, path, "%s must be a string", key);
        return -1;
    }
    *out = v->str;
    return 1;
}

/* Text that goes into an HTTP header or a URL: no control characters. */
static bool has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    }
    return false;
}

/* 'name' resolved against the kubeconfig's directory, as kubectl resolves it; malloc'd. */
static char *kc_resolve(kc_reader *rd, const char *name)
{
    if (name[0] == '/' || rd->dir == NULL)
        return strdup(name);
    size_t n = strlen(rd->dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", rd->dir, name);
    return p;
}

/* Decodes a '-data' field (base64, whitespace allowed between characters). Returns 0 with a
 * malloc'd copy in '*out', or -1 with a diag. */
static int kc_base64(kc_reader *rd, const ynode *at, const char *path, const char *text,
                     unsigned char **out, size_t *len)
{
    size_t n = strlen(text);
    char *clean = malloc(n + 1);
    unsigned char *bin = malloc(n / 4 * 3 + 3);
    size_t k = 0;
    for (size_t i = 0; clean && i < n; i++) {
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t')
            clean[k++] = text[i];
    }
    long got = clean && bin ? base64_decode(clean, k, bin) : -2;
    free(clean);
    if (got <= 0) {
        free(bin);
        if (got == -2)
            kc_err(rd, at, path, "out of memory");
        else
            kc_err(rd, at, path, "%s %s", strrchr(path, '.') + 1,
                   got == 0 ? "is empty" : "is not valid base64");
        return -1;
    }
    *out = bin;
    *len = (size_t)got;
    return 0;
}

/* One of 'file_key' (a file name) or 'data_key' (base64) of mapping 'm', never both. Returns
 * 0 (both may be left NULL), or -1 with a diag. */
static int kc_file_or_data(kc_reader *rd, const ynode *m, const char *mpath, const char *file_key,
                           const char *data_key, char **file, unsigned char **data, size_t *len)
{
    const char *f, *d;
    const ynode *fn, *dn;
    int rf = kc_str(rd, m, mpath, file_key, &f, &fn);
    int rdat = kc_str(rd, m, mpath, data_key, &d, &dn);
    if (rf < 0 || rdat < 0)
        return -1;
    char path[256];
    snprintf(path, sizeof path, "%s.%s", mpath, data_key);
    if (f && d) {
        kc_err(rd, dn, path, "%s and %s are both given: keep one", file_key, data_key);
        return -1;
    }
    if (d)
        return kc_base64(rd, dn, path, d, data, len);
    if (f) {
        *file = kc_resolve(rd, f);
        if (*file == NULL) {
            kc_err(rd, fn, path, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* The entry named 'name' of the list 'list' ("clusters") of the kubeconfig's root, and in it
 * the mapping 'inner' ("cluster"); its path goes to 'path'. NULL with a diag when the list is
 * malformed, the name is missing or given twice. */
static const ynode *kc_find(kc_reader *rd, const ynode *root, const char *list, const char *inner,
                            const char *name, const ynode *ref, const char *ref_path, char *path,
                            size_t cap)
{
    const ynode *l = yaml_get(root, list);
    if (l != NULL && yaml_is_null(l))
        l = NULL;
    if (l != NULL && l->kind != YNODE_SEQ) {
        kc_err(rd, l, list, "%s must be a list", list);
        return NULL;
    }
    const ynode *found = NULL;
    size_t at = 0;
    for (size_t i = 0; l && i < l->n; i++) {
        const ynode *e = l->items[i];
        char epath[64];
        snprintf(epath, sizeof epath, "%s[%zu]", list, i);
        if (e->kind != YNODE_MAP) {
            kc_err(rd, e, epath, "each entry of %s must be a mapping with a name", list);
            return NULL;
        }
        const char *n;
        if (kc_str(rd, e, epath, "name", &n, NULL) < 0)
            return NULL;
        if (n == NULL || strcmp(n, name) != 0)
            continue;
        if (found) {
            kc_err(rd, e, epath, "%s has two entries named \"%s\"", list, name);
            return NULL;
        }
        found = e;
        at = i;
    }
    if (found == NULL) {
        kc_err(rd, ref, ref_path, "no entry named \"%s\" in %s", name, list);
        return NULL;
    }
    snprintf(path, cap, "%s[%zu].%s", list, at, inner);
    const ynode *m = yaml_get(found, inner);
    if (m == NULL || m->kind != YNODE_MAP) {
        kc_err(rd, m ? m : found, path, "%s \"%s\" has no %s mapping", list, name, inner);
        return NULL;
    }
    return m;
}

/* "https://host[:port][/prefix]" without a trailing '/'; refuses every other scheme. */
static int kc_server(kc_reader *rd, const ynode *cl, const char *cpath, kube_config *out)
{
    const char *s;
    const ynode *sn;
    char path[256];
    snprintf(path, sizeof path, "%s.server", cpath);
    int rc = kc_str(rd, cl, cpath, "server", &s, &sn);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        kc_err(rd, sn ? sn : cl, path, "the cluster has no server");
        return -1;
    }
    if (strncasecmp(s, "http://", 7) == 0) {
        kc_err(rd, sn, path,
               "refusing the http:// server \"%s\": the credentials would travel "
               "unencrypted and unauthenticated (use https://)",
               s);
        return -1;
    }
    const char *host = s + 8;
    if (strncasecmp(s, "https://", 8) != 0 || *host == '\0' || *host == '/' || has_control(s) ||
        strpbrk(s, " ?#@\\") != NULL) {
        kc_err(rd, sn, path,
               "server \"%s\" is not an https:// URL of the form "
               "https://HOST[:PORT][/PATH]",
               s);
        return -1;
    }
    size_t n = strlen(s);
    while (n > 8 && s[n - 1] == '/')
        n--;
    out->server = malloc(n + 1);
    if (out->server == NULL)
        return -1;
    memcpy(out->server, "https://", 8);
    memcpy(out->server + 8, host, n - 8);
    out->server[n] = '\0';
    return 0;
}

static int kc_cluster(kc_reader *rd, const ynode *cl, const char *cpath, kube_config *out)
{
    if (kc_server(rd, cl, cpath, out) != 0)
        return -1;
    char path[256];
    const ynode *v = yaml_get(cl, "insecure-skip-tls-verify");
    snprintf(path, sizeof path, "%s.insecure-skip-tls-verify", cpath);
    if (v != NULL) {
        diag_list tmp;
        diag_list_init(&tmp);
        cJSON *j = yaml_to_json(v, rd->file, &tmp);
        bool on = cJSON_IsTrue(j), off = cJSON_IsFalse(j) || cJSON_IsNull(j);
        cJSON_Delete(j);
        diag_list_clear(&tmp);
        if (on) {
            kc_err(rd, v, path,
                   "insecure-skip-tls-verify: true is refused: streamguard always "
                   "verifies the API server's certificate (give certificate-authority or "
                   "certificate-authority-data)");
            return -1;
        }
        if (!off) {
            kc_err(rd, v, path, "insecure-skip-tls-verify must be a boolean");
            return -1;
        }
    }
    static const char *const unsupported[] = {"tls-server-name", "proxy-url"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        v = yaml_get(cl, unsupported[i]);
        snprintf(path, sizeof path, "%s.%s", cpath, unsupported[i]);
        if (v != NULL && !yaml_is_null(v)) {
            kc_err(rd, v, path, "%s is not supported by streamguard's API client", unsupported[i]);
            return -1;
        }
    }
    return kc_file_or_data(rd, cl, cpath, "certificate-authority", "certificate-authority-data",
                           &out->ca_file, &out->ca_data, &out->ca_len);
}

/* Authentication streamguard cannot do or must not do silently: each is refused by name. */
static const struct {
    const char *key, *why;
} kc_refused_auth[] = {
    {"exec", "streamguard cannot run credential plugins (exec); give the user a token, "
             "tokenFile or client certificate"},
    {"auth-provider", "streamguard cannot run credential plugins (auth-provider); give the "
                      "user a token, tokenFile or client certificate"},
    {"username", "basic authentication (username/password) is not supported"},
    {"password", "basic authentication (username/password) is not supported"},
    {"as", "impersonation (as) is not supported"},
    {"as-groups", "impersonation (as-groups) is not supported"},
    {"as-uid", "impersonation (as-uid) is not supported"},
    {"as-user-extra", "impersonation (as-user-extra) is not supported"},
};

static int kc_user(kc_reader *rd, const ynode *u, const char *upath, kube_config *out)
{
    char path[256];
    for (size_t i = 0; i < sizeof kc_refused_auth / sizeof kc_refused_auth[0]; i++) {
        const ynode *v = yaml_get(u, kc_refused_auth[i].key);
        snprintf(path, sizeof path, "%s.%s", upath, kc_refused_auth[i].key);
        if (v != NULL && !yaml_is_null(v)) {
            kc_err(rd, v, path, "%s", kc_refused_auth[i].why);
            return -1;
        }
    }
    const char *tok, *tf;
    const ynode *tn, *tfn;
    if (kc_str(rd, u, upath, "token", &tok, &tn) < 0 ||
        kc_str(rd, u, upath, "tokenFile", &tf, &tfn) < 0)
        return -1;
    if (tok && (has_control(tok) || tok[0] == '\0')) {
        snprintf(path, sizeof path, "%s.token", upath);
        kc_err(rd, tn, path, "the token is empty or holds a control character");
        return -1;
    }
    if (tok && (out->token = strdup(tok)) == NULL)
        return -1;
    if (tf && (out->token_file = kc_resolve(rd, tf)) == NULL)
        return -1;
    if (kc_file_or_data(rd, u, upath, "client-certificate", "client-certificate-data",
                        &out->cert_file, &out->cert_data, &out->cert_len) != 0 ||
        kc_file_or_data(rd, u, upath, "client-key", "client-key-data", &out->key_file,
                        &out->key_data, &out->key_len) != 0)
        return -1;
    bool cert = out->cert_file || out->cert_data, key = out->key_file || out->key_data;
    if (cert != key) {
        snprintf(path, sizeof path, "%s.%s", upath, cert ? "client-key" : "client-certificate");
        kc_err(rd, u, path, "a client certificate needs its key and a key its certificate");
        return -1;
    }
    return 0;
}

/* A namespace name: a DNS label (lower-case letters, digits, '-'; at most 63 bytes). */
static bool is_namespace(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 63 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n &&
           s[0] != '-' && s[n - 1] != '-';
}

/* The context's cluster and user, and its namespace, into 'out'. */
static int kc_context(kc_reader *rd, const ynode *root, const char *name, const ynode *ref,
                      const char *ref_path, kube_config *out)
{
    char cpath[96], clpath[96], upath[96], path[160];
    const ynode *ctx =
        kc_find(rd, root, "contexts", "context", name, ref, ref_path, cpath, sizeof cpath);
    if (ctx == NULL)
        return -1;
    const char *cluster, *user, *ns;
    const ynode *cn, *un, *nn;
    if (kc_str(rd, ctx, cpath, "cluster", &cluster, &cn) < 0 ||
        kc_str(rd, ctx, cpath, "user", &user, &un) < 0 ||
        kc_str(rd, ctx, cpath, "namespace", &ns, &nn) < 0)
        return -1;
    if (ns != NULL && ns[0] != '\0' && !is_namespace(ns)) {
        snprintf(path, sizeof path, "%s.namespace", cpath);
        kc_err(rd, nn, path, "\"%.100s\" is not a namespace name", ns);
        return -1;
    }
    out->namespace_ = strdup(ns != NULL && ns[0] != '\0' ? ns : "default");
    if (out->namespace_ == NULL)
        return -1;
    if (cluster == NULL) {
        kc_err(rd, ctx, cpath, "context \"%s\" names no cluster", name);
        return -1;
    }
    snprintf(path, sizeof path, "%s.cluster", cpath);
    const ynode *cl =
        kc_find(rd, root, "clusters", "cluster", cluster, cn, path, clpath, sizeof clpath);
    if (cl == NULL || kc_cluster(rd, cl, clpath, out) != 0)
        return -1;
    if (user == NULL || user[0] == '\0')
        return 0; /* anonymous, as kubectl allows: the API server decides */
    snprintf(path, sizeof path, "%s.user", cpath);
    const ynode *u = kc_find(rd, root, "users", "user", user, un, path, upath, sizeof upath);
    if (u == NULL)
        return -1;
    return kc_user(rd, u, upath, out);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return NULL; /* relative to the working directory, as the file itself */
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    return strndup(path, n);
}

int kube_config_load(const char *path, const char *context, kube_config *out, diag_list *dl)
{
    memset(out, 0, sizeof *out);
    kc_reader rd = {.file = path, .dir = dir_of(path), .dl = dl};
    buf b;
    buf_init(&b, KUBECONFIG_MAX_SIZE);
    arena *a = arena_new((size_t)64 << 20);
    int rc = -1;
    if (a == NULL || file_read(path, KUBECONFIG_MAX_SIZE, &b, dl) != 0)
        goto done;
    ydoc *docs = NULL;
    size_t partial = 0;
    long n = yaml_load(a, path, b.data, b.len, &docs, &partial, dl);
    if (n < 0)
        goto done;
    if (n != 1 || docs[0].root->kind != YNODE_MAP) {
        kc_err(&rd, n > 0 ? docs[0].root : NULL, NULL,
               "a kubeconfig is one YAML document holding a mapping");
        goto done;
    }
    const ynode *root = docs[0].root;
    cJSON *whole = yaml_to_json(root, path, dl); /* duplicate keys, alias bombs */
    if (whole == NULL)
        goto done;
    cJSON_Delete(whole);
    const ynode *ref = NULL;
    const char *ref_path = "current-context";
    if (context == NULL) {
        if (kc_str(&rd, root, "", "current-context", &context, &ref) < 0)
            goto done;
        if (context == NULL || context[0] == '\0') {
            kc_err(&rd, ref, "current-context",
                   "the kubeconfig has no current-context and "
                   "no context was named");
            goto done;
        }
    } else {
        ref_path = NULL;
    }
    if (kc_context(&rd, root, context, ref, ref_path, out) != 0)
        goto done;
    size_t sn = strlen(path) + strlen(context) + 32;
    out->source = malloc(sn);
    if (out->source == NULL)
        goto done;
    snprintf(out->source, sn, "kubeconfig %s, context %s", path, context);
    rc = 0;
done:
    if (rc != 0)
        kube_config_free(out);
    arena_free(a);
    buf_clear(&b);
    free(rd.dir);
    return rc;
}

/* KUBERNETES_SERVICE_HOST as it goes into a URL: an IPv6 address in brackets. NULL when it
 * holds anything a host name or address cannot. */
static char *host_for_url(const char *host)
{
    size_t n = strlen(host);
    if (n == 0 || n > 253 ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-:") != n)
        return NULL;
    bool v6 = strchr(host, ':') != NULL;
    char *p = malloc(n + 3);
    if (p)
        snprintf(p, n + 3, v6 ? "[%s]" : "%s", host);
    return p;
}

static bool is_port(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
        return false;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 65535;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int kube_config_in_cluster(const char *sa_dir, kube_config *out, diag_list *dl)
{
    memset(out, 0, sizeof *out);
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    srcpos at = {.file = "KUBERNETES_SERVICE_HOST"};
    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
        return 1;
    char *token = path_join(sa_dir, "token");
    char *ca = path_join(sa_dir, "ca.crt");
    char *h = host_for_url(host);
    struct stat st;
    int rc = -1;
    if (token == NULL || ca == NULL) {
        diag_add(dl, DIAG_ERROR, "kube.config", NULL, "out of memory");
        goto done;
    }
    if (stat(token, &st) != 0 && errno == ENOENT) {
        rc = 1; /* the environment of a pod without a mounted service-account token */
        goto done;
    }
    if (h == NULL) {
        diag_add(dl, DIAG_ERROR, "kube.config", &at, "\"%s\" is not a host name or address", host);
        goto done;
    }
    if (!is_port(port)) {
        at.file = "KUBERNETES_SERVICE_PORT";
        diag_add(dl, DIAG_ERROR, "kube.config", &at, "\"%s\" is not a port number", port);
        goto done;
    }
    size_t n = strlen(h) + strlen(port) + 16;
    out->server = malloc(n);
    out->source = strdup("in-cluster");
    if (out->server == NULL || out->source == NULL) {
        diag_add(dl, DIAG_ERROR, "kube.config", NULL, "out of memory");
        goto done;
    }
    snprintf(out->server, n, "https://%s:%s", h, port);
    out->token_file = token;
    token = NULL;
    /* Without ca.crt the system's trust store is used, as client-go does (it logs and goes on). */
    if (stat(ca, &st) == 0) {
        out->ca_file = ca;
        ca = NULL;
    }
    rc = 0;
done:
    if (rc != 0)
        kube_config_free(out);
    free(token);
    free(ca);
    free(h);
    return rc;
}

/* The first file named in $KUBECONFIG that exists. Merging several files, as kubectl does,
 * is not done: the choice is logged when there was one to make. */
static int kubeconfig_from_env(const char *env, kube_config *out, diag_list *dl)
{
    char *list = strdup(env);
    if (list == NULL) {
        diag_add(dl, DIAG_ERROR, "kube.config", NULL, "out of memory");
        return -1;
    }
    size_t files = 0;
    const char *chosen = NULL;
    char *save = NULL;
    for (char *f = strtok_r(list, ":", &save); f; f = strtok_r(NULL, ":", &save)) {
        struct stat st;
        files++;
        if (chosen == NULL && stat(f, &st) == 0)
            chosen = f;
    }
    int rc = -1;
    srcpos at = {.file = "KUBECONFIG"};
    if (chosen == NULL) {
        diag_add(dl, DIAG_ERROR, "kube.config", &at,
                 "none of the files named in $KUBECONFIG "
                 "(\"%s\") exists",
                 env);
    } else {
        if (files > 1)
            log_info("kube",
                     LOG_S("msg", "$KUBECONFIG names several files: using the first "
                                  "that exists, without merging the others"),
                     LOG_S("file", chosen), LOG_I("files", files));
        rc = kube_config_load(chosen, NULL, out, dl);
    }
    free(list);
    return rc;
}

int kube_config_resolve(const char *path, kube_config *out, diag_list *dl)
{
    memset(out, 0, sizeof *out);
    if (path != NULL)
        return kube_config_load(path, NULL, out, dl);
    const char *env = getenv("KUBECONFIG");
    if (env != NULL && strspn(env, ":") != strlen(env))
        return kubeconfig_from_env(env, out, dl);
    return kube_config_in_cluster(KUBE_SA_DIR, out, dl);
}

void kube_config_free(kube_config *c)
{
    if (c == NULL)
        return;
    free(c->server);
    free(c->ca_file);
    free(c->ca_data);
    free(c->token);
    free(c->token_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->cert_data);
    free(c->key_data);
    free(c->namespace_);
    free(c->source);
    memset(c, 0, sizeof *c);
}
