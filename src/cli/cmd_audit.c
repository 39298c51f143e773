/* cmd_audit.c - 'streamguard audit': the background audit from a laptop or CI.
 *
 * Lists, from the cluster of a kubeconfig, every object of every kind the validating policies
 * match on CREATE, runs the validations on each (audit_object, what the server's background
 * audit runs) and prints the findings as 'check' prints them, with its exit codes. Read-only:
 * discovery, LIST, and the GETs of lookup() (livelookup.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../audit/audit.h"
#include "cli.h"
#include "cmdenv.h"
#include "livelookup.h"
#include "../util/vec.h"

#define AUDIT_TIMEOUT_MS 30000
#define AUDIT_MAX_KINDS  256

static int usage(FILE *f, const char *why)
{
    if (why != NULL && why[0] != '\0')
        fprintf(f, "streamguard audit: %s\n\n", why);
    fprintf(f,
            "usage: streamguard audit [--kubeconfig FILE] [-p DIR] [-o text|json|junit|sarif]\n"
            "                         [--params FILE] [-n NAMESPACE]\n"
            "\n"
            "Audits the objects already in a cluster: every object of every kind the validating\n"
            "policies match is checked as a CREATE of it would be now (validations only: the\n"
            "object was mutated when it was admitted). The same results as the server's\n"
            "background audit (serve --audit) writes to PolicyReports; printed as check prints\n"
            "them. Read-only: discovery, LIST and the GETs of lookup().\n"
            "\n"
            "options:\n"
            "      --kubeconfig FILE    the cluster (default: $KUBECONFIG, else in-cluster)\n"
            "  -p, --policies DIR       policy files (default policies/)\n"
            "      --params FILE        PolicyParams documents that set the policies' params\n"
            "                           (after those in DIR; docs/policy-authoring.md)\n"
            "  -o, --output FORMAT      text (default), json, junit or sarif\n"
            "  -n, --namespace NS       only the objects of this namespace (cluster-scoped kinds\n"
            "                           are then left out)\n"
            "      --list-kinds         print the kinds the audit lists, \"GROUP KIND\" a line\n"
            "                           (GROUP core for the core group), and ask no cluster:\n"
            "                           what the RBAC of serve --audit must let it list and\n"
            "                           watch\n"
            "  -h, --help               show this help\n"
            "\n"
            "Exit codes: 1 some object would be denied (even when other kinds had errors), else\n"
            "2 a usage, policy, cluster or input error, else 0.\n");
    return why == NULL ? 0 : 2;
}

/* The objects of one kind, kept until the end (lookups and the report borrow them). */
typedef struct listed {
    cJSON **v;
    size_t n, cap;
    const kube_resource *res;
    bool oom;
} listed;

/* A LIST's items have no apiVersion and kind: the object gets them back, as a GET or a watch
 * event gives it. */
static int on_item(void *arg, cJSON *item)
{
    listed *l = arg;
    cJSON_DeleteItemFromObjectCaseSensitive(item, "apiVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(item, "kind");
    if (!cJSON_IsObject(item) || vec_grow(NULL, l->v, l->n, l->cap, 64) != 0 ||
        !cJSON_AddStringToObject(item, "apiVersion", l->res->api_version) ||
        !cJSON_AddStringToObject(item, "kind", l->res->kind)) {
        l->oom = cJSON_IsObject(item);
        cJSON_Delete(item);
        return l->oom ? -1 : 0;
    }
    l->v[l->n++] = item;
    return 0;
}

static const char *meta(const cJSON *o, const char *k)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"), k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Audits one object; its report rows are named by the object's API path. */
static void audit_one(cli_env *e, const kube_resource *res, const cJSON *obj, int index,
                      const policy_lookup *lk)
{
    char path[1024];
    if (kube_path(res, meta(obj, "namespace"), meta(obj, "name"), path, sizeof path) < 0)
        snprintf(path, sizeof path, "%s/%s", res->plural, meta(obj, "name"));
    check_doc d = {.file = path, .index = index, .json = (cJSON *)obj,
                   .api_version = res->api_version, .kind = res->kind,
                   .namespace_ = meta(obj, "namespace"), .name = meta(obj, "name")};
    diag_list dl;
    diag_list_init(&dl);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    audit_outcome o;
    if (a == NULL || audit_object(e->set, obj, lk, a, &o, &dl) != 0) {
        e->sink.error(e->sink.ctx, path, index, 0, dl.count ? dl.items[0].msg : "out of memory");
    } else {
        for (size_t i = 0; i < o.n_findings; i++)
            e->sink.finding(e->sink.ctx, &d, &o.findings[i]);
        check_verdict v = {.matched = o.matched, .allowed = o.allowed,
                           .n_denials = o.n_denials, .n_warnings = o.n_warnings,
                           .n_audit = o.n_audit};
        e->sink.document(e->sink.ctx, &d, &v);
    }
    arena_free(a);
    diag_list_clear(&dl);
}

/* Lists kind 'k' (in 'ns' when given) and audits each object. */
static void audit_kind_objects(cli_env *e, const audit_kind *k, const char *ns, int *index,
                               const policy_lookup *lk)
{
    kube_resource res;
    char err[512], path[1024], rv[64];
    int rc = audit_resolve_kind(e->client, k, AUDIT_TIMEOUT_MS, &res, err);
    if (rc != 0 || (!res.namespaced && ns[0] != '\0')) {
        if (rc < 0)
            e->sink.error(e->sink.ctx, k->kind, 0, 0, err);
        return; /* 1: the cluster does not serve the kind, so it has no such object */
    }
    listed l = {.res = &res};
    kube_response r = {0};
    if (kube_path(&res, ns, NULL, path, sizeof path) < 0 ||
        kube_list(e->client, path, 500, AUDIT_TIMEOUT_MS, on_item, &l, rv, sizeof rv, &r) != 0)
        e->sink.error(e->sink.ctx, res.kind, 0, 0,
                      l.oom ? "out of memory" : r.error[0] ? r.error : path);
    else
        for (size_t i = 0; i < l.n; i++)
            audit_one(e, &res, l.v[i], ++*index, lk);
    kube_response_free(&r);
    for (size_t i = 0; i < l.n; i++)
        cJSON_Delete(l.v[i]);
    free(l.v);
}

/* --list-kinds: the kinds, and no cluster. */
static int list_kinds(const cli_common *co)
{
    policy_set *set = cli_load_policies("audit", co);
    if (set == NULL)
        return 2;
    audit_kind k[AUDIT_MAX_KINDS];
    size_t wild, n = audit_kinds(set, k, AUDIT_MAX_KINDS, &wild);
    for (size_t i = 0; i < n && i < AUDIT_MAX_KINDS; i++)
        printf("%s %s\n", k[i].group[0] ? k[i].group : "core", k[i].kind);
    policy_set_unref(set);
    return 0;
}

struct audit_opts {
    cli_common co;
    const char *ns; /* -n: "" for every namespace */
    bool only_kinds; /* --list-kinds */
};

static const opt_row audit_rows[] = {
    CLI_COMMON_ROWS(struct audit_opts, co),
    OPT_STRING_ROW("namespace", 'n', struct audit_opts, ns),
    OPT_FLAG_ROW("list-kinds", 0, struct audit_opts, only_kinds),
};

int cli_cmd_audit(int argc, char **argv)
{
    struct audit_opts o = {.co = CLI_COMMON_DEFAULTS, .ns = ""};
    o.co.cluster = true;
    int first;
    int rc = opts_parse("streamguard audit", audit_rows, sizeof audit_rows / sizeof audit_rows[0],
                        argc, argv, &o, &first);
    if (rc != 0)
        return usage(rc > 0 ? stdout : stderr, rc > 0 ? NULL : "");
    if (first < argc)
        return usage(stderr, "audit takes no PATH: it reads the cluster");
    if (o.only_kinds)
        return list_kinds(&o.co);
    cli_env env;
    if (cli_env_open(&env, "audit", &o.co) != 0)
        return 2;
    audit_kind kinds[AUDIT_MAX_KINDS];
    size_t n_wild, n = audit_kinds(env.set, kinds, AUDIT_MAX_KINDS, &n_wild);
    if (n_wild > 0)
        fprintf(stderr, "streamguard audit: %zu wildcard kind%s of the policies cannot be "
                        "listed; name the kinds to audit them\n", n_wild, n_wild == 1 ? "" : "s");
    live_lookup live = {.client = env.client, .timeout_ms = 10000, .namespace_ = env.context_ns};
    policy_lookup lk = live_lookup_make(&live);
    int index = 0;
    for (size_t i = 0; i < n && i < AUDIT_MAX_KINDS; i++)
        audit_kind_objects(&env, &kinds[i], o.ns, &index, &lk);
    live_lookup_free(&live);
    return cli_env_finish(&env);
}
