/* fn_mounts.c - containerMounts(pod, container, podEnv, sharedFieldRefs) and
 * mountFor(mounts, path): the mount table of one container of a pod spec, and the mount of that
 * table a path lies on.
 *
 * flink-ha-storage-rwx read the mounts of flink-main-container with a 40-line expression,
 * written once per pod (JobManager, TaskManagers), that split every subPathExpr and mountPath
 * into lists of strings: 1.1 µs of the typical review for one mount, and the policy's place of
 * the longest covering mount another filter per directory. The reading is the same wherever
 * a policy asks where a path of a container is stored, so it is one function; what is a
 * domain decision (which variables differ from pod to pod, which fieldRefs are the same in
 * every pod and what they are worth) stays in the policy, as arguments.
 *
 * A subPathExpr is expanded as kubelet's expansion.Expand reads it: "$(NAME)" names a variable
 * up to the first ")", "$$" is an escaped "$" ("$$(A)" is the text "$(A)"), a "$(" never closed
 * and a "$" before any other byte are kept as written. A variable named
 * in 'podEnv' stays "$(NAME)" and is per pod (the Flink decorators add those after the user's
 * env, so they win); else the container's last env entry of that name decides: none, or a
 * valueFrom that is not a fieldRef this table knows the value of, stays "$(NAME)"; a literal
 * value is put in; a fieldRef is per pod unless 'sharedFieldRefs' has its fieldPath, whose
 * value (a string) is put in or (null) which stays "$(NAME)". "$()" expands to nothing.
 *
 * A value of the wrong type is an expr.no_overload error naming the field: what the CEL
 * failed on (a mountPath that is not a string, a null where a map is needed), and what it let
 * by although it could not be meant (a map where a list is needed, which the CEL iterated as
 * its keys; a mount name or claimName that is not a string, which it carried on with). What
 * the CEL compared and found unequal (a container, volume or env name that is not a string, a
 * readOnly that is not a bool) is not an error. Everything is linear in the pod spec: volumes
 * and env entries are indexed by name beyond a few, not scanned per mount or variable. */
#include <stdlib.h>
#include <string.h>

#include "../util/keyindex.h"
#include "policy_int.h"

static size_t count_of(const expr_value *v)
{
    expr_iter it;
    expr_value x;
    size_t n = 0;
    expr_iter_init(&it, v);
    while (expr_iter_next(&it, NULL, &x))
        n++;
    return n;
}

static bool str_is(const expr_value *v, const char *s, size_t len)
{
    return v->kind == EXPR_STRING && v->len == len && memcmp(v->v.s, s, len) == 0;
}

/* A value of the wrong type where the function (or the pod spec) needs another. */
__attribute__((cold)) static expr_value bad(const expr_call *c, const char *fn, const char *what,
                                            const char *want, const expr_value *v)
{
    return expr_error_new(c->a, "expr.no_overload", c->span, "%s: %s must be %s, not %s", fn,
                          what, want, expr_type_name(v));
}

static const char CM[] = "containerMounts";

/* A key of a map this file reads or writes, with its length. */
#define KEY(text) {.kind = EXPR_STRING, .len = sizeof text - 1, .v.s = text}

/* Up to 8 members 'keys' of map 'm' into 'out' in one pass over its entries (the first of a
 * key, as a lookup finds it); returns a bit per key found. */
static unsigned fields(const expr_value *m, const expr_value *keys, size_t n, expr_value *out)
{
    unsigned found = 0;
    expr_iter it;
    expr_value k, v;
    expr_iter_init(&it, m);
    while (found != (1u << n) - 1 && expr_iter_next(&it, &k, &v)) {
        if (k.kind != EXPR_STRING)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (!(found & (1u << i)) && keys[i].len == k.len &&
                memcmp(keys[i].v.s, k.v.s, k.len) == 0) {
                out[i] = v;
                found |= 1u << i;
                break;
            }
        }
    }
    return found;
}

/* 'v' (a member found when 'has') as 'kind', else 'dflt'; an error in '*err' for another
 * type. */
static expr_value typed(const expr_call *c, bool has, const expr_value *v, int kind,
                        expr_value dflt, const char *what, expr_value *err)
{
    static const char *const names[] = {[EXPR_LIST] = "a list", [EXPR_MAP] = "a map",
                                        [EXPR_STRING] = "a string"};
    if (!has)
        return dflt;
    if (v->kind != kind) {
        *err = bad(c, CM, what, names[kind], v);
        return dflt;
    }
    return *v;
}

/* 's' with its '/'-separated components that are empty or "." left out, joined by '/' (no
 * leading or trailing '/'): the CEL's split('/').filter(s, s != '' && s != '.').join('/').
 * With 'up', a ".." also takes out the component before it (none at the top), as the
 * container runtime resolves a mountPath inside the root (runc's securejoin): a mount at
 * /tmp/../opt/flink/volume/ha lies over /opt/flink/volume/ha, not beside it. */
static expr_value normalise_path(const expr_call *c, const char *s, size_t len, bool up, bool *ok)
{
    char *out = arena_alloc(c->a, len + 1);
    *ok = out != NULL;
    if (out == NULL)
        return policy_str_val("", 0);
    size_t n = 0, i = 0;
    while (i <= len) {
        const char *slash = i < len ? memchr(s + i, '/', len - i) : NULL;
        size_t end = slash ? (size_t)(slash - s) : len;
        size_t cl = end - i;
        if (up && cl == 2 && s[i] == '.' && s[i + 1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the '/' before the component taken out */
        } else if (cl > 0 && !(cl == 1 && s[i] == '.')) {
            if (n > 0)
                out[n++] = '/';
            memcpy(out + n, s + i, cl);
            n += cl;
        }
        i = end + 1;
    }
    out[n] = '\0';
    return policy_str_val(out, n);
}

static expr_value normalise(const expr_call *c, const char *s, size_t len, bool *ok)
{
    return normalise_path(c, s, len, false, ok);
}

/* What the expansion needs besides the mount. */
typedef struct expand_ctx {
    const expr_value *pod_env, *shared;
    expr_value env_list; /* the container's env as given, when 'has_env' */
    bool has_env, env_read;
    expr_value *env; /* the container's env entries that are maps, once read */
    size_t nenv;
    keyindex *eix;   /* over 'env' when long, the last entry of a name found first */
} expand_ctx;

/* Above this many entries, a list is indexed by name rather than scanned per lookup. */
#define MOUNTS_SCAN 8

/* An entry's name as the CEL read it (x.?name.orValue('')): '' when absent; false when it is
 * not a string (no name equals it). */
static bool entry_name(const expr_call *c, const expr_value *e, expr_value *name)
{
    *name = policy_str_val("", 0);
    expr_map_get(c, e, "name", 4, name);
    return name->kind == EXPR_STRING;
}

/* The container's last env entry (a map) named 'name' into '*out'; false when none. An entry
 * without a name is named ''; one that is not a map is skipped (the CEL's type(x) == map). */
static bool env_entry(const expr_call *c, expand_ctx *x, const char *name, size_t len,
                      expr_value *out, expr_value *err)
{
    if (!x->env_read) {
        x->env_read = true;
        expr_value env = typed(c, x->has_env, &x->env_list, EXPR_LIST, (expr_value){0},
                               "a container's env", err);
        if (!x->has_env || err->kind == EXPR_ERROR)
            return false;
        size_t n = count_of(&env);
        x->env = arena_alloc(c->a, (n ? n : 1) * sizeof *x->env);
        if (x->env == NULL) {
            *err = policy_oom(c);
            return false;
        }
        expr_iter it;
        expr_iter_init(&it, &env);
        while (expr_iter_next(&it, NULL, &x->env[x->nenv]))
            x->nenv += x->env[x->nenv].kind == EXPR_MAP;
        if (x->nenv > MOUNTS_SCAN) {
            x->eix = keyindex_new(c->a, x->nenv);
            if (x->eix == NULL) {
                *err = policy_oom(c);
                return false;
            }
            expr_value nm;
            for (size_t i = x->nenv; i-- > 0;)
                if (entry_name(c, &x->env[i], &nm))
                    keyindex_add(x->eix, nm.v.s, nm.len, &x->env[i]);
        }
    }
    if (x->eix != NULL) {
        const expr_value *hit = keyindex_find(x->eix, name, len);
        if (hit != NULL)
            *out = *hit;
        return hit != NULL;
    }
    expr_value nm;
    for (size_t i = x->nenv; i-- > 0;) {
        lookup_steps++;
        if (entry_name(c, &x->env[i], &nm) && str_is(&nm, name, len)) {
            *out = x->env[i];
            return true;
        }
    }
    return false;
}

/* Puts variable 'name' ('nl' bytes) of a subPathExpr into 'b', and into 'per' ('*nper') when
 * its value differs from pod to pod. Returns an error value, or a null value. */
static expr_value expand_var(const expr_call *c, expand_ctx *x, const char *name, size_t nl,
                             expr_strbuf *b, expr_value *per, uint32_t *nper)
{
    expr_value none = {.kind = EXPR_NULL};
    expr_value why, e = none, err = none;
    bool keep = true, per_pod = false;
    const char *val = NULL;
    size_t vl = 0;
    char *fr = NULL;
    if (expr_map_get(c, x->pod_env, name, nl, &why)) {
        if (why.kind != EXPR_STRING)
            return bad(c, CM, "a value of podEnv", "a string", &why);
        per_pod = true;
    } else if (env_entry(c, x, name, nl, &e, &err)) {
        expr_value vf, fref, path = policy_str_val("", 0);
        if (!expr_map_get(c, &e, "valueFrom", 9, &vf)) {
            expr_value v = policy_str_val("", 0);
            expr_map_get(c, &e, "value", 5, &v);
            if (v.kind != EXPR_STRING)
                return bad(c, CM, "an env value", "a string", &v);
            keep = false;
            val = v.v.s;
            vl = v.len;
        } else {
            if (vf.kind != EXPR_MAP)
                return bad(c, CM, "an env valueFrom", "a map", &vf);
            if (expr_map_get(c, &vf, "fieldRef", 8, &fref)) {
                if (fref.kind != EXPR_MAP)
                    return bad(c, CM, "a fieldRef", "a map", &fref);
                if (expr_map_get(c, &fref, "fieldPath", 9, &path) &&
                    path.kind != EXPR_STRING)
                    return bad(c, CM, "a fieldRef's fieldPath", "a string", &path);
            }
            expr_value known;
            if (path.len == 0) {
                /* a secret, a config map, a resource: the same in every pod */
            } else if (expr_map_get(c, x->shared, path.v.s, path.len, &known)) {
                if (known.kind == EXPR_STRING) {
                    keep = false;
                    val = known.v.s;
                    vl = known.len;
                } else if (known.kind != EXPR_NULL) {
                    return bad(c, CM, "a value of sharedFieldRefs",
                               "a string or null", &known);
                }
            } else {
                per_pod = true;
                size_t fl = 9 + path.len;
                fr = arena_alloc(c->a, fl + 1);
                if (fr == NULL)
                    return policy_oom(c);
                memcpy(fr, "fieldRef ", 9);
                memcpy(fr + 9, path.v.s, path.len);
                why = policy_str_val(fr, fl);
            }
        }
    } else if (err.kind == EXPR_ERROR) {
        return err;
    }
    if (keep) {
        expr_strbuf_put(b, "$(", 2);
        expr_strbuf_put(b, name, nl);
        expr_strbuf_put(b, ")", 1);
    } else {
        expr_strbuf_put(b, val, vl);
    }
    if (per_pod) {
        expr_strbuf w = {.a = c->a};
        expr_strbuf_put(&w, "$(", 2);
        expr_strbuf_put(&w, name, nl);
        expr_strbuf_put(&w, ") (", 3);
        expr_strbuf_put(&w, why.v.s, why.len);
        expr_strbuf_put(&w, ")", 1);
        if (w.err)
            return expr_error_new(c->a, "expr.limit", c->span,
                                  "%s: string too long", CM);
        per[(*nper)++] = policy_str_val(w.p, w.len);
    }
    return none;
}

/* Expands 'expr' into '*sub' (normalised) and the per-pod variables into 'per' as
 * "$(NAME) (why)" strings ('*nper' of them, room for one per "$(" + 1), reading it as kubelet's
 * expansion.Expand does: "$(NAME)" is a variable, "$$" an escaped "$" (so "$$(A)" is the text
 * "$(A)"), a "$(" with no ")" after it and a "$" before anything else are kept as written.
 * Returns an error value, or a null value when done. */
static expr_value expand(const expr_call *c, expand_ctx *x, const expr_value *expr,
                         expr_value *sub, expr_value *per, uint32_t *nper)
{
    const char *s = expr->v.s;
    size_t len = expr->len, checkpoint = 0;
    expr_strbuf b = {.a = c->a};
    *nper = 0;
    for (size_t cur = 0; cur + 1 < len; cur++) {
        if (s[cur] != '$')
            continue;
        expr_strbuf_put(&b, s + checkpoint, cur - checkpoint);
        size_t adv = 1;
        const char *close = s[cur + 1] == '(' ? memchr(s + cur + 2, ')', len - cur - 2) : NULL;
        if (s[cur + 1] == '$') {
            expr_strbuf_put(&b, "$", 1);
        } else if (close != NULL) {
            size_t nl = (size_t)(close - (s + cur + 2));
            if (nl > 0) { /* "$()" expands to nothing */
                expr_value e = expand_var(c, x, s + cur + 2, nl, &b, per, nper);
                if (e.kind == EXPR_ERROR)
                    return e;
            }
            adv = nl + 2;
        } else {
            expr_strbuf_put(&b, s + cur, 2); /* "$(" never closed, or "$x": not a reference */
        }
        cur += adv;
        checkpoint = cur + 1;
    }
    expr_strbuf_put(&b, s + checkpoint, len - checkpoint);
    if (b.err)
        return expr_error_new(c->a, "expr.limit", c->span, "%s: string too long", CM);
    bool ok;
    *sub = normalise(c, b.p ? b.p : "", b.len, &ok);
    return ok ? (expr_value){.kind = EXPR_NULL} : policy_oom(c);
}

static expr_value list_val(expr_list *l)
{
    expr_value v = {.kind = EXPR_LIST};
    v.v.list = l;
    return v;
}

/* One row of the table for mount 'm' of the container. */
/* A row of containerMounts(), its fields in the order policies look them up most (a map's
 * keys are scanned). */
enum row_field { RF_PATH, RF_SAME_PLACE, RF_CLAIM, RF_PER_POD, RF_READ_ONLY, RF_VOLUME,
                 RF_SOURCES, RF_SUB_PATH, RF_NAME, RF_SUB_PATH_EXPR, RF_COUNT };
static const expr_value row_keys[RF_COUNT] = {
    KEY("path"),     KEY("samePlace"), KEY("claimName"), KEY("perPod"),  KEY("readOnly"),
    KEY("volume"),   KEY("volumeSources"), KEY("subPath"), KEY("name"),  KEY("subPathExpr")};

/* The volume named 'name' of the pod: the first, as the CEL's filter(...)[0]; NULL if none. */
static const expr_value *volume_named(const expr_call *c, const expr_value *name,
                                      const keyindex *vix, const expr_value *vols, size_t nvols)
{
    if (vix != NULL)
        return keyindex_find(vix, name->v.s, name->len);
    expr_value vn;
    for (size_t i = 0; i < nvols; i++, lookup_steps++)
        if (entry_name(c, &vols[i], &vn) && str_is(&vn, name->v.s, name->len))
            return &vols[i];
    return NULL;
}

/* '/' + the normalised mountPath into '*path'; an error value, or a null one. */
static expr_value mount_path(const expr_call *c, const expr_value *mpath, expr_value *path)
{
    bool ok;
    expr_value p = normalise_path(c, mpath->v.s, mpath->len, true, &ok);
    char *pp = ok ? arena_alloc(c->a, p.len + 2) : NULL;
    if (pp == NULL)
        return policy_oom(c);
    pp[0] = '/';
    memcpy(pp + 1, p.v.s, p.len);
    pp[p.len + 1] = '\0';
    *path = policy_str_val(pp, p.len + 1);
    return (expr_value){.kind = EXPR_NULL};
}

/* The mount's subPath: its subPathExpr 'spe' expanded (the per-pod variables into '*per'),
 * else its subPath 'sp', normalised. An error value, or a null one. */
static expr_value mount_sub(const expr_call *c, expand_ctx *x, const expr_value *spe,
                            const expr_value *sp, expr_value *sub, expr_list **per)
{
    size_t room = 1;
    for (size_t i = 0; i + 1 < spe->len; i++)
        room += spe->v.s[i] == '$' && spe->v.s[i + 1] == '(';
    *per = arena_alloc(c->a, sizeof **per + room * sizeof(expr_value));
    if (*per == NULL)
        return policy_oom(c);
    (*per)->n = 0;
    if (spe->len > 0)
        return expand(c, x, spe, sub, (*per)->items, &(*per)->n);
    bool ok;
    *sub = normalise(c, sp->v.s, sp->len, &ok);
    return ok ? (expr_value){.kind = EXPR_NULL} : policy_oom(c);
}

/* The members of volume 'vol' (NULL: none) other than its name, in its order: the volume's
 * sources (one in a valid pod; two when a merge by position gave it a second), for messages
 * that say what a volume is. NULL when out of memory. */
static expr_list *volume_sources(const expr_call *c, const expr_value *vol)
{
    size_t n = vol != NULL ? count_of(vol) : 0;
    expr_list *l = arena_alloc(c->a, sizeof *l + (n ? n : 1) * sizeof(expr_value));
    if (l == NULL)
        return NULL;
    l->n = 0;
    if (n == 0)
        return l;
    expr_iter it;
    expr_value k, v;
    expr_iter_init(&it, vol);
    while (expr_iter_next(&it, &k, &v))
        if (!str_is(&k, "name", 4))
            l->items[l->n++] = k;
    return l;
}

static expr_value mount_row(const expr_call *c, expand_ctx *x, const expr_value *m,
                            const keyindex *vix, const expr_value *vols, size_t nvols,
                            expr_map **built)
{
    expr_value err = {.kind = EXPR_NULL}, empty = policy_str_val("", 0);
    if (m->kind != EXPR_MAP)
        return bad(c, CM, "a volumeMount", "a map", m);
    static const expr_value mkeys[] = {KEY("name"), KEY("mountPath"), KEY("subPathExpr"),
                                       KEY("subPath"), KEY("readOnly")};
    expr_value f[5];
    unsigned has = fields(m, mkeys, 5, f);
    expr_value name = typed(c, has & 1, &f[0], EXPR_STRING, empty, "a volumeMount's name", &err);
    expr_value mpath = typed(c, has & 2, &f[1], EXPR_STRING, empty, "a volumeMount's mountPath",
                             &err);
    expr_value spe = typed(c, has & 4, &f[2], EXPR_STRING, empty, "a volumeMount's subPathExpr",
                           &err);
    if (err.kind == EXPR_ERROR)
        return err;
    const expr_value *vol = volume_named(c, &name, vix, vols, nvols);
    /* the claim: a volume of a name and a persistentVolumeClaim and nothing else (a merge
     * by position can give a volume two sources, which Kubernetes refuses) */
    static const expr_value vkeys[] = {KEY("persistentVolumeClaim")};
    static const expr_value ckeys[] = {KEY("claimName"), KEY("readOnly")};
    expr_value claim = empty, pvc, cf[2];
    unsigned has_c = 0;
    if (vol != NULL && count_of(vol) == 2 && fields(vol, vkeys, 1, &pvc) &&
        typed(c, true, &pvc, EXPR_MAP, empty, "a persistentVolumeClaim", &err).kind == EXPR_MAP) {
        has_c = fields(&pvc, ckeys, 2, cf);
        claim = typed(c, has_c & 1, &cf[0], EXPR_STRING, empty, "a claimName", &err);
    }
    /* checked in this order, the CEL's: the subPath after the claim */
    expr_value sp = err.kind == EXPR_ERROR || spe.len > 0
                        ? empty
                        : typed(c, has & 8, &f[3], EXPR_STRING, empty, "a volumeMount's subPath",
                                &err);
    if (err.kind == EXPR_ERROR)
        return err;
    bool ro = ((has & 16) && f[4].kind == EXPR_BOOL && f[4].v.b) ||
              (claim.len > 0 && (has_c & 2) && cf[1].kind == EXPR_BOOL && cf[1].v.b);
    expr_value path, sub;
    expr_list *per = NULL;
    if ((err = mount_path(c, &mpath, &path)).kind == EXPR_ERROR ||
        (err = mount_sub(c, x, &spe, &sp, &sub, &per)).kind == EXPR_ERROR)
        return err;
    expr_map *row = arena_alloc(c->a, sizeof *row + 2 * RF_COUNT * sizeof(expr_value));
    expr_list *sources = volume_sources(c, vol);
    if (row == NULL || sources == NULL)
        return policy_oom(c);
    expr_value ro_v = {.kind = EXPR_BOOL}, vol_v = {.kind = EXPR_NULL};
    ro_v.v.b = ro;
    if (vol != NULL)
        vol_v = *vol;
    expr_value same_v = {.kind = EXPR_BOOL}; /* set by same_place() */
    const expr_value vals[RF_COUNT] = {
        [RF_PATH] = path, [RF_CLAIM] = claim,   [RF_PER_POD] = list_val(per),
        [RF_READ_ONLY] = ro_v, [RF_VOLUME] = vol_v, [RF_SOURCES] = list_val(sources),
        [RF_SUB_PATH] = sub,
        [RF_NAME] = name, [RF_SUB_PATH_EXPR] = spe, [RF_SAME_PLACE] = same_v};
    row->n = RF_COUNT;
    for (size_t i = 0; i < RF_COUNT; i++) {
        row->kv[2 * i] = row_keys[i];
        row->kv[2 * i + 1] = vals[i];
    }
    expr_value out = {.kind = EXPR_MAP};
    out.v.map = row;
    *built = row;
    return out;
}

/* A row's path and its place in the table, to sort by path. */
typedef struct place {
    const expr_map *row;
    size_t i;
} place;

static const expr_value *row_field(const expr_map *row, enum row_field k)
{
    return &row->kv[2 * k + 1];
}

static int place_cmp(const void *x, const void *y)
{
    const expr_value *a = row_field(((const place *)x)->row, RF_PATH);
    const expr_value *b = row_field(((const place *)y)->row, RF_PATH);
    size_t n = a->len < b->len ? a->len : b->len;
    int d = memcmp(a->v.s, b->v.s, n);
    if (d != 0)
        return d;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return ((const place *)x)->i < ((const place *)y)->i ? -1 : 1;
}

/* Whether string fields 'k' of rows 'x' and 'y' are the same. */
static bool same_field(const expr_map *x, const expr_map *y, enum row_field k)
{
    const expr_value *b = row_field(y, k);
    return str_is(row_field(x, k), b->v.s, b->len);
}

/* Whether rows 'x' and 'y' of one path may be told apart by what the container sees there:
 * another volume or subPath, another readOnly, or a subPath that is per pod in one only (a
 * subPath '$(A)' is that directory, a subPathExpr '$(A)' one per pod). */
static bool rows_differ(const expr_map *x, const expr_map *y)
{
    return !same_field(x, y, RF_NAME) || !same_field(x, y, RF_SUB_PATH) ||
           row_field(x, RF_READ_ONLY)->v.b != row_field(y, RF_READ_ONLY)->v.b ||
           (row_field(x, RF_PER_POD)->v.list->n == 0) != (row_field(y, RF_PER_POD)->v.list->n == 0);
}

/* Marks samePlace in the rows ('n') whose path another row has with another volume, subPath
 * or readOnly, or a subPath per pod where the other's is not (/data and /data/, which
 * Kubernetes lets by as different strings): which of them the container sees is the runtime's
 * choice (containerd mounts the later over the earlier, CRI-O's order is not specified), so no
 * policy can say where a path under them is stored, or whether it can be written. Sorted by
 * path: O(n log n). Returns -1 when out of memory. */
static int same_place(const expr_call *c, expr_map **rows, size_t n)
{
    if (n < 2)
        return 0; /* the usual one mount shares its place with none: no sort */
    place *ps = arena_alloc(c->a, (n ? n : 1) * sizeof *ps);
    if (ps == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        ps[i] = (place){rows[i], i};
    qsort(ps, n, sizeof *ps, place_cmp);
    for (size_t i = 0, j; i < n; i = j) {
        bool differ = false;
        for (j = i + 1; j < n && same_field(ps[j].row, ps[i].row, RF_PATH); j++)
            differ |= rows_differ(ps[j].row, ps[i].row);
        for (size_t k = i; differ && k < j; k++)
            rows[ps[k].i]->kv[2 * RF_SAME_PLACE + 1].v.b = true;
    }
    return 0;
}

/* containerMounts(pod, container, podEnv, sharedFieldRefs): one map per volumeMount of each
 * container named 'container' of the pod spec 'pod' (a map; null: none), in order: name, path
 * ('/' + mountPath's components but empty and '.', a '..' taking out the one before it),
 * subPathExpr (as written, '' if none), subPath (expanded, components but empty and '.'),
 * perPod (list of "$(NAME) (why)"), volume (the pod's
 * first volume of that name, or null), volumeSources (that volume's keys but "name", in its
 * order: what the volume is, for messages), claimName ('' unless that volume is a
 * PersistentVolumeClaim and nothing else), readOnly (the mount's or the claim's), samePlace
 * (another row has its path with another volume, subPath or readOnly, or a per-pod subPath
 * where its own is not: same_place()). */
/* The pod's volumes ('volumes': a list, or none) into '*vols' ('*nv'), checked, and (many)
 * indexed by name into '*vix' (else NULL), the first of a name winning. An error value, or a
 * null one. */
static expr_value read_volumes(const expr_call *c, const expr_value *volumes, expr_value **vols,
                               size_t *nv, keyindex **vix)
{
    *nv = volumes->kind == EXPR_LIST ? count_of(volumes) : 0;
    *vols = arena_alloc(c->a, (*nv ? *nv : 1) * sizeof **vols);
    *vix = *nv > MOUNTS_SCAN ? keyindex_new(c->a, *nv) : NULL;
    if (*vols == NULL || (*nv > MOUNTS_SCAN && *vix == NULL))
        return policy_oom(c);
    if (*nv == 0)
        return (expr_value){.kind = EXPR_NULL};
    expr_iter it;
    size_t v = 0;
    expr_iter_init(&it, volumes);
    while (expr_iter_next(&it, NULL, &(*vols)[v])) {
        expr_value *vol = &(*vols)[v++], vn;
        if (vol->kind != EXPR_MAP)
            return bad(c, CM, "a volume", "a map", vol);
        if (*vix != NULL && entry_name(c, vol, &vn))
            keyindex_add(*vix, vn.v.s, vn.len, vol);
    }
    return (expr_value){.kind = EXPR_NULL};
}

expr_value policy_fn_container_mounts(const expr_call *c, const expr_value *r,
                                      const expr_value *a, size_t n)
{
    (void)r;
    (void)n;
    if (a[0].kind != EXPR_MAP && a[0].kind != EXPR_NULL)
        return bad(c, CM, "the pod", "a map or null", &a[0]);
    if (a[1].kind != EXPR_STRING)
        return bad(c, CM, "the container's name", "a string", &a[1]);
    if (a[2].kind != EXPR_MAP)
        return bad(c, CM, "podEnv", "a map", &a[2]);
    if (a[3].kind != EXPR_MAP)
        return bad(c, CM, "sharedFieldRefs", "a map", &a[3]);
    expr_list *out = arena_alloc(c->a, sizeof *out + sizeof(expr_value));
    if (out == NULL)
        return policy_oom(c);
    out->n = 0;
    if (a[0].kind == EXPR_NULL)
        return list_val(out);
    static const expr_value pkeys[] = {KEY("containers"), KEY("volumes")};
    static const expr_value ckeys[] = {KEY("name"), KEY("volumeMounts"), KEY("env")};
    expr_value err = {.kind = EXPR_NULL}, pf[2], none = {.kind = EXPR_NULL};
    unsigned has_p = fields(&a[0], pkeys, 2, pf);
    expr_value containers = typed(c, has_p & 1, &pf[0], EXPR_LIST, none, "the pod's containers",
                                  &err);
    if (err.kind == EXPR_ERROR || containers.kind != EXPR_LIST)
        return err.kind == EXPR_ERROR ? err : list_val(out);
    /* the containers of that name with their mounts and env, and how many mounts */
    size_t nc = count_of(&containers), nm = 0, k = 0;
    expand_ctx *xs = arena_alloc(c->a, (nc ? nc : 1) * sizeof *xs);
    expr_value *ms = arena_alloc(c->a, (nc ? nc : 1) * sizeof *ms);
    if (xs == NULL || ms == NULL)
        return policy_oom(c);
    expr_iter it;
    expr_value ct, cf[3];
    expr_iter_init(&it, &containers);
    while (expr_iter_next(&it, NULL, &ct)) {
        if (ct.kind != EXPR_MAP)
            return bad(c, CM, "a container", "a map", &ct);
        unsigned has_c = fields(&ct, ckeys, 3, cf);
        if (!((has_c & 1) && str_is(&cf[0], a[1].v.s, a[1].len)))
            continue;
        ms[k] = typed(c, has_c & 2, &cf[1], EXPR_LIST, none, "a container's volumeMounts", &err);
        if (err.kind == EXPR_ERROR)
            return err;
        if (ms[k].kind != EXPR_LIST)
            continue;
        xs[k] = (expand_ctx){.pod_env = &a[2], .shared = &a[3], .env_list = cf[2],
                             .has_env = (has_c & 4) != 0};
        nm += count_of(&ms[k]);
        k++;
    }
    if (nm == 0)
        return list_val(out);
    /* the volumes are read only for a mount, as the CEL read them */
    expr_value volumes = typed(c, has_p & 2, &pf[1], EXPR_LIST, none, "the pod's volumes", &err);
    if (err.kind == EXPR_ERROR)
        return err;
    size_t nv;
    expr_value *vols;
    keyindex *vix;
    if ((err = read_volumes(c, &volumes, &vols, &nv, &vix)).kind == EXPR_ERROR)
        return err;
    out = arena_alloc(c->a, sizeof *out + nm * sizeof(expr_value));
    expr_map **built = arena_alloc(c->a, nm * sizeof *built);
    if (out == NULL || built == NULL)
        return policy_oom(c);
    out->n = 0;
    for (size_t i = 0; i < k; i++) {
        expr_iter mi;
        expr_value m;
        expr_iter_init(&mi, &ms[i]);
        while (expr_iter_next(&mi, NULL, &m)) {
            expr_value row = mount_row(c, &xs[i], &m, vix, vols, nv, &built[out->n]);
            if (row.kind == EXPR_ERROR)
                return row;
            out->items[out->n++] = row;
        }
    }
    if (same_place(c, built, out->n) != 0)
        return policy_oom(c);
    return list_val(out);
}

/* mountFor(mounts, path): the element of 'mounts' (maps with a string 'path', as
 * containerMounts gives them) whose path contains 'path' by whole components ('/' contains
 * everything; /a contains /a and /a/b, not /ab), the longest, the last of equal ones; null
 * when none does. The last: Kubernetes refuses two mountPaths only when they are the same
 * string, so /data and /data/ may both be given; the runtime mounts them in order (containerd
 * sorts them by depth, keeping the order of equal ones), and the later one lies over the
 * earlier, which Flink never sees. */
expr_value policy_fn_mount_for(const expr_call *c, const expr_value *r, const expr_value *a,
                               size_t n)
{
    (void)r;
    (void)n;
    static const char MF[] = "mountFor";
    if (a[0].kind != EXPR_LIST)
        return bad(c, MF, "the mounts", "a list", &a[0]);
    if (a[1].kind != EXPR_STRING)
        return bad(c, MF, "the path", "a string", &a[1]);
    const char *p = a[1].v.s;
    size_t pl = a[1].len;
    expr_value best = {.kind = EXPR_NULL}, m;
    size_t best_len = 0;
    expr_iter it;
    expr_iter_init(&it, &a[0]);
    while (expr_iter_next(&it, NULL, &m)) {
        if (m.kind != EXPR_MAP)
            return bad(c, MF, "a mount", "a map", &m);
        expr_value mp = {.kind = EXPR_NULL};
        expr_map_get(c, &m, "path", 4, &mp);
        if (mp.kind != EXPR_STRING)
            return bad(c, MF, "a mount's path", "a string", &mp);
        size_t ml = mp.len;
        bool covers = (ml == 1 && mp.v.s[0] == '/') ||
                      (ml <= pl && memcmp(mp.v.s, p, ml) == 0 && (ml == pl || p[ml] == '/'));
        if (covers && (best.kind == EXPR_NULL || ml >= best_len)) {
            best = m;
            best_len = ml;
        }
    }
    return best;
}
