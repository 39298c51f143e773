/* load.c - policy files to policies: every field checked, every expression compiled.
 *
 * The reader is kept apart from the runtime (eval.c): it may be slow and it reports every
 * problem it finds, each with the file, line and column of the YAML node, and a stable code:
 * policy.schema (unknown field, wrong type, bad value, missing field), policy.duplicate,
 * and the expr.* codes of the expression compiler. */
#include "policy_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "functions.h"
#include "schema.h"

const char *const policy_bindings[PB_COUNT] = {
    [PB_OBJECT] = "object", [PB_OLD_OBJECT] = "oldObject", [PB_REQUEST] = "request",
    [PB_PARAMS] = "params", [PB_ELEMENT] = "element",      [PB_ELEMENT_INDEX] = "elementIndex",
};

static void perr(loader *ld, const ynode *at, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void perr(loader *ld, const ynode *at, const char *code, const char *fmt, ...)
{
    srcpos pos = {.file = ld->file, .line = at ? at->line : 0, .col = at ? at->col : 0};
    va_list ap;
    va_start(ap, fmt);
    diag_addv(ld->dl, DIAG_ERROR, code, &pos, fmt, ap);
    va_end(ap);
    ld->errors++;
}

/* Checks that mapping 'm' has only the keys in 'allowed'; 'where' names it in messages. */
static bool check_keys(loader *ld, const ynode *m, const char *where, const char *const *allowed)
{
    if (m->kind != YNODE_MAP) {
        perr(ld, m, "policy.schema", "%s must be a mapping", where);
        return false;
    }
    for (size_t i = 0; i < m->n; i++) {
        const ynode *k = m->items[2 * i];
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = k->kind == YNODE_SCALAR && strcmp(k->str, *a) == 0;
        if (!ok)
            perr(ld, k, "policy.schema", "unknown field '%s' in %s", k->kind == YNODE_SCALAR ? k->str : "?",
                 where);
    }
    return true;
}

static const char *scalar(loader *ld, const ynode *n, const char *what)
{
    if (n == NULL)
        return NULL;
    if (n->kind != YNODE_SCALAR) {
        perr(ld, n, "policy.schema", "%s must be a string", what);
        return NULL;
    }
    return n->str;
}

/* scalar() for a string the policy keeps: a copy in the set's arena, as the YAML documents
 * are the loader's own and freed once the set is loaded (loader.tmp). */
static const char *kept(loader *ld, const ynode *n, const char *what)
{
    const char *s = scalar(ld, n, what);
    return s != NULL ? arena_strndup(ld->a, s, n->len) : NULL;
}

/* The scalar at 'key' of 'm', required and not empty; a copy the policy keeps (kept()). */
static const char *required(loader *ld, const ynode *m, const char *key, const char *where)
{
    const ynode *n = yaml_get(m, key);
    if (n == NULL) {
        perr(ld, m, "policy.schema", "%s.%s is required", where, key);
        return NULL;
    }
    const char *s = kept(ld, n, key);
    if (s != NULL && s[0] == '\0') {
        perr(ld, n, "policy.schema", "%s.%s must not be empty", where, key);
        return NULL;
    }
    return s;
}

static policy_strs strs(loader *ld, const ynode *n, const char *what)
{
    policy_strs out = {0};
    if (n == NULL)
        return out;
    if (n->kind != YNODE_SEQ) {
        perr(ld, n, "policy.schema", "%s must be a list of strings", what);
        return out;
    }
    out.v = arena_alloc(ld->a, (n->n ? n->n : 1) * sizeof *out.v);
    for (size_t i = 0; out.v && i < n->n; i++) {
        const char *s = kept(ld, n->items[i], what);
        if (s != NULL)
            out.v[out.n++] = s;
    }
    return out;
}

/* Picks one of 'names' (their index), or reports the choices. */
static int choose(loader *ld, const ynode *n, const char *what, const char *const *names, int dflt)
{
    const char *s = scalar(ld, n, what);
    if (s == NULL)
        return dflt;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    char choices[256] = "";
    for (int i = 0; names[i]; i++)
        snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s", i ? ", " : "", names[i]);
    perr(ld, n, "policy.schema", "%s must be one of %s, not '%s'", what, choices, s);
    return dflt;
}

static const expr_prog *compile(loader *ld, const ynode *n, const char *what, bool want_bool)
{
    const char *src = scalar(ld, n, what);
    if (src == NULL)
        return NULL;
    /* Errors are offsets into the value; the scalar's origin maps them into the file. */
    scalar_origin origin;
    srcpos at = {.file = ld->file, .line = n->line, .col = n->col};
    if (ld->src != NULL) {
        policy_scalar_origin(&origin, ld->src, n);
        at.source = ld->src;
        at.map = policy_scalar_offset;
        at.map_ctx = &origin;
    }
    size_t before = ld->dl->errors;
    const expr_prog *p = expr_compile(ld->a, src, n->len, &ld->decls, &at, ld->dl);
    /* Every expression of a policy is compiled here, so every lookup() is checked here. */
    if (p != NULL)
        policy_check_lookups(ld, p, &at);
    /* A validation or a condition that yields a string can only fail at run time. */
    if (p != NULL && want_bool && expr_prog_expect_bool(p, what, &at, ld->dl) != 0)
        ld->errors++;
    if (p == NULL)
        ld->errors += (int)(ld->dl->errors - before) + (ld->dl->errors == before);
    return p;
}

const expr_prog *policy_compile(loader *ld, const ynode *n, const char *what)
{
    return compile(ld, n, what, false);
}

const expr_prog *policy_compile_bool(loader *ld, const ynode *n, const char *what)
{
    return compile(ld, n, what, true);
}

static unsigned parse_ops(loader *ld, const ynode *n)
{
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT", "*", NULL};
    if (n == NULL)
        return POLICY_OPS_DEFAULT;
    if (n->kind != YNODE_SEQ) {
        perr(ld, n, "policy.schema", "operations must be a list");
        return POLICY_OPS_ALL;
    }
    unsigned mask = 0;
    for (size_t i = 0; i < n->n; i++) {
        int k = choose(ld, n->items[i], "an operation", ops, 4);
        mask |= k == 4 ? POLICY_OPS_ALL : 1u << k;
    }
    return mask;
}

static void parse_selector(loader *ld, const ynode *n, policy_selector *sel);

static void parse_rules(loader *ld, const ynode *n, policy_match *m)
{
    static const char *const keys[] = {"apiGroups", "kinds", "operations", "subresources",
                                       "objectSelector", NULL};
    if (n == NULL) {
        perr(ld, n, "policy.schema", "spec.match.resources is required");
        return;
    }
    if (n->kind != YNODE_SEQ || n->n == 0) {
        perr(ld, n, "policy.schema", "spec.match.resources must be a non-empty list");
        return;
    }
    m->rules = arena_calloc(ld->a, n->n, sizeof *m->rules);
    for (size_t i = 0; m->rules && i < n->n; i++) {
        const ynode *r = n->items[i];
        if (!check_keys(ld, r, "a resource rule", keys))
            continue;
        policy_resource_rule *rule = &m->rules[m->n_rules++];
        rule->api_groups = strs(ld, yaml_get(r, "apiGroups"), "apiGroups");
        rule->kinds = strs(ld, yaml_get(r, "kinds"), "kinds");
        rule->subresources = strs(ld, yaml_get(r, "subresources"), "subresources");
        rule->ops = parse_ops(ld, yaml_get(r, "operations"));
        parse_selector(ld, yaml_get(r, "objectSelector"), &rule->objects);
        if (rule->kinds.n == 0)
            perr(ld, r, "policy.schema", "a resource rule needs kinds (use [\"*\"] for any)");
    }
}

static void parse_selector(loader *ld, const ynode *n, policy_selector *sel)
{
    static const char *const keys[] = {"matchLabels", "matchExpressions", NULL};
    static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
    static const char *const req_keys[] = {"key", "operator", "values", NULL};
    if (n == NULL || !check_keys(ld, n, "a label selector", keys))
        return;
    const ynode *ml = yaml_get(n, "matchLabels"), *me = yaml_get(n, "matchExpressions");
    size_t cap = (ml && ml->kind == YNODE_MAP ? ml->n : 0) + (me && me->kind == YNODE_SEQ ? me->n : 0);
    sel->set = true;
    sel->reqs = arena_calloc(ld->a, cap ? cap : 1, sizeof *sel->reqs);
    if (sel->reqs == NULL)
        return;
    if (ml != NULL && ml->kind != YNODE_MAP)
        perr(ld, ml, "policy.schema", "matchLabels must be a mapping of strings");
    for (size_t i = 0; ml && ml->kind == YNODE_MAP && i < ml->n; i++) {
        policy_label_req *r = &sel->reqs[sel->n++];
        r->key = kept(ld, ml->items[2 * i], "a label key");
        r->op = LABEL_IN;
        r->values.v = arena_alloc(ld->a, sizeof *r->values.v);
        if (r->values.v && (r->values.v[0] = kept(ld, ml->items[2 * i + 1], "a label value")))
            r->values.n = 1;
    }
    if (me != NULL && me->kind != YNODE_SEQ)
        perr(ld, me, "policy.schema", "matchExpressions must be a list");
    for (size_t i = 0; me && me->kind == YNODE_SEQ && i < me->n; i++) {
        const ynode *e = me->items[i];
        if (!check_keys(ld, e, "a label requirement", req_keys))
            continue;
        policy_label_req *r = &sel->reqs[sel->n++];
        r->key = required(ld, e, "key", "matchExpressions[]");
        const ynode *op = yaml_get(e, "operator");
        r->op = op ? (enum label_op)choose(ld, op, "operator", ops, 0) : LABEL_IN;
        if (op == NULL)
            perr(ld, e, "policy.schema", "matchExpressions[].operator is required");
        r->values = strs(ld, yaml_get(e, "values"), "values");
        bool wants = r->op == LABEL_IN || r->op == LABEL_NOT_IN;
        if (wants != (r->values.n > 0))
            perr(ld, e, "policy.schema", wants ? "operator In and NotIn need values"
                                               : "operator Exists and DoesNotExist take no values");
    }
}

static void parse_match(loader *ld, const ynode *n, policy_match *m)
{
    static const char *const keys[] = {"resources", "namespaces", "objectSelector",
                                       "excludedUsers", "excludedGroups", NULL};
    static const char *const ns_keys[] = {"include", "exclude", NULL};
    if (n == NULL) {
        perr(ld, NULL, "policy.schema", "spec.match is required");
        return;
    }
    if (!check_keys(ld, n, "spec.match", keys))
        return;
    parse_rules(ld, yaml_get(n, "resources"), m);
    const ynode *ns = yaml_get(n, "namespaces");
    if (ns != NULL && check_keys(ld, ns, "spec.match.namespaces", ns_keys)) {
        m->ns_include = strs(ld, yaml_get(ns, "include"), "namespaces.include");
        m->ns_exclude = strs(ld, yaml_get(ns, "exclude"), "namespaces.exclude");
    }
    parse_selector(ld, yaml_get(n, "objectSelector"), &m->objects);
    m->excluded_users = strs(ld, yaml_get(n, "excludedUsers"), "excludedUsers");
    m->excluded_groups = strs(ld, yaml_get(n, "excludedGroups"), "excludedGroups");
}

static bool is_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* Variables may use the bindings and the variables declared before them, so a variable can
 * never depend on itself. */
static void parse_variables(loader *ld, const ynode *n, policy *p)
{
    static const char *const keys[] = {"name", "expression", NULL};
    if (n == NULL)
        return;
    if (n->kind != YNODE_SEQ || n->n > POLICY_MAX_VARIABLES) {
        perr(ld, n, "policy.schema", "spec.variables must be a list of at most %d", POLICY_MAX_VARIABLES);
        return;
    }
    p->vars = arena_calloc(ld->a, n->n ? n->n : 1, sizeof *p->vars);
    for (size_t i = 0; p->vars && i < n->n; i++) {
        const ynode *v = n->items[i];
        if (!check_keys(ld, v, "a variable", keys))
            continue;
        const char *name = required(ld, v, "name", "spec.variables[]");
        const ynode *ex = yaml_get(v, "expression");
        if (name == NULL)
            continue;
        if (!is_identifier(name)) {
            perr(ld, yaml_get(v, "name"), "policy.schema", "variable name '%s' is not an identifier", name);
            continue;
        }
        for (size_t k = 0; k < p->n_vars; k++)
            if (strcmp(p->vars[k].name, name) == 0)
                perr(ld, yaml_get(v, "name"), "policy.duplicate", "variable '%s' is declared twice", name);
        if (ex == NULL) {
            perr(ld, v, "policy.schema", "variable '%s' needs an expression", name);
            continue;
        }
        const expr_prog *prog = policy_compile(ld, ex, "an expression");
        p->vars[p->n_vars].name = name;
        p->vars[p->n_vars].prog = prog;
        p->n_vars++;
        /* a variable has the type of its expression, so variables.x.y is checked as well */
        ld->types[ld->decls.n_vars] = prog ? expr_prog_type(prog) : NULL;
        ld->names[ld->decls.n_vars++] = arena_sprintf(ld->a, "variables.%s", name);
    }
}

static const char *const actions[] = {"Deny", "Warn", "Audit", NULL};

static void parse_validations(loader *ld, const ynode *n, policy *p)
{
    static const char *const keys[] = {"expression", "message", "messageExpression", "field",
                                       "reason", "action", NULL};
    if (n == NULL)
        return;
    if (n->kind != YNODE_SEQ) {
        perr(ld, n, "policy.schema", "spec.validations must be a list");
        return;
    }
    p->validations = arena_calloc(ld->a, n->n ? n->n : 1, sizeof *p->validations);
    for (size_t i = 0; p->validations && i < n->n; i++) {
        const ynode *v = n->items[i];
        if (!check_keys(ld, v, "a validation", keys))
            continue;
        policy_validation *val = &p->validations[p->n_validations++];
        const ynode *ex = yaml_get(v, "expression");
        /* .path names the rule in evaluation errors (policy/eval.c) */
        val->at = (srcpos){.file = ld->file, .line = v->line, .col = v->col,
                           .path = arena_sprintf(ld->a, "validations[%zu]", i)};
        if (ex == NULL)
            perr(ld, v, "policy.schema", "a validation needs an expression");
        else
            val->expr = policy_compile_bool(ld, ex, "a validation");
        val->message = kept(ld, yaml_get(v, "message"), "message");
        const ynode *me = yaml_get(v, "messageExpression");
        if (me != NULL)
            val->message_expr = policy_compile(ld, me, "messageExpression");
        val->field = kept(ld, yaml_get(v, "field"), "field");
        const ynode *r = yaml_get(v, "reason");
        if (r != NULL)
            val->reason = (enum policy_reason)(1 + choose(ld, r, "reason", policy_reason_names + 1,
                                                          POLICY_REASON_FORBIDDEN - 1));
        const ynode *act = yaml_get(v, "action");
        val->action = act ? (enum policy_action)choose(ld, act, "action", actions, 0) : p->action;
    }
}

static void delete_json(void *p)
{
    cJSON_Delete(p);
}

int policy_defer_json(arena *a, cJSON *j)
{
    if (j == NULL)
        return -1;
    /* A failed arena_defer() has deleted 'j' already: deleting it here too was a double free
     * whenever the request arena was full. */
    return arena_defer(a, delete_json, j);
}

/* A fixed JSON value from YAML, kept until the set is freed. */
static const cJSON *owned_json(loader *ld, const ynode *n)
{
    size_t before = ld->dl->errors;
    cJSON *j = yaml_to_json(n, ld->file, ld->dl);
    if (j == NULL) {
        ld->errors += (int)(ld->dl->errors - before) + (ld->dl->errors == before);
        return NULL;
    }
    if (policy_defer_json(ld->a, j) != 0) {
        ld->errors++;
        return NULL;
    }
    return j;
}

static void parse_patch(loader *ld, const ynode *n, policy_mutation *m)
{
    static const char *const keys[] = {"op", "path", "pathExpression", "value", "valueExpression", NULL};
    static const char *const ops[] = {"add", "replace", "remove", NULL};
    if (n == NULL || n->kind != YNODE_SEQ || n->n == 0) {
        perr(ld, n, "policy.schema", "a mutation needs a non-empty patch list");
        return;
    }
    m->ops = arena_calloc(ld->a, n->n, sizeof *m->ops);
    for (size_t i = 0; m->ops && i < n->n; i++) {
        const ynode *o = n->items[i];
        if (!check_keys(ld, o, "a patch operation", keys))
            continue;
        policy_patch *op = &m->ops[m->n_ops++];
        const ynode *opn = yaml_get(o, "op");
        op->op = opn ? (enum patch_op)choose(ld, opn, "op", ops, 0) : PATCH_ADD;
        if (opn == NULL)
            perr(ld, o, "policy.schema", "a patch operation needs op (add, replace or remove)");
        const ynode *pexpr = yaml_get(o, "pathExpression");
        if (pexpr != NULL && yaml_get(o, "path") != NULL)
            perr(ld, o, "policy.schema", "a patch operation takes path or pathExpression, not both");
        if (pexpr != NULL)
            op->path_expr = policy_compile(ld, pexpr, "pathExpression");
        else
            op->path = required(ld, o, "path", "patch[]");
        if (op->path && op->path[0] != '/')
            perr(ld, yaml_get(o, "path"), "policy.schema", "path must be a JSON Pointer starting with '/', not '%s'", op->path);
        const ynode *val = yaml_get(o, "value"), *vex = yaml_get(o, "valueExpression");
        if (op->op == PATCH_REMOVE && (val || vex))
            perr(ld, o, "policy.schema", "remove takes no value");
        if (op->op != PATCH_REMOVE && (val != NULL) == (vex != NULL))
            perr(ld, o, "policy.schema", "%s needs exactly one of value and valueExpression", ops[op->op]);
        if (val != NULL)
            op->value = owned_json(ld, val);
        if (vex != NULL)
            op->value_expr = policy_compile(ld, vex, "valueExpression");
    }
}

static void parse_mutations(loader *ld, const ynode *n, policy *p)
{
    static const char *const keys[] = {"forEach", "when", "patch", NULL};
    if (n == NULL)
        return;
    if (n->kind != YNODE_SEQ) {
        perr(ld, n, "policy.schema", "spec.mutations must be a list");
        return;
    }
    p->mutations = arena_calloc(ld->a, n->n ? n->n : 1, sizeof *p->mutations);
    for (size_t i = 0; p->mutations && i < n->n; i++) {
        const ynode *m = n->items[i];
        if (!check_keys(ld, m, "a mutation", keys))
            continue;
        policy_mutation *mut = &p->mutations[p->n_mutations++];
        mut->at = (srcpos){.file = ld->file, .line = m->line, .col = m->col,
                           .path = arena_sprintf(ld->a, "mutations[%zu]", i)};
        const ynode *each = yaml_get(m, "forEach");
        if (each != NULL)
            mut->for_each = policy_compile(ld, each, "forEach");
        const ynode *when = yaml_get(m, "when");
        if (when != NULL)
            mut->when = policy_compile_bool(ld, when, "a mutation's when");
        parse_patch(ld, yaml_get(m, "patch"), mut);
    }
}

static void parse_metadata(loader *ld, const ynode *md, policy *p)
{
    static const char *const keys[] = {"name", "annotations", "labels", NULL};
    if (md == NULL) {
        perr(ld, NULL, "policy.schema", "metadata.name is required");
        return;
    }
    if (!check_keys(ld, md, "metadata", keys))
        return;
    p->name = required(ld, md, "name", "metadata");
    const ynode *ann = yaml_get(md, "annotations");
    if (ann != NULL && ann->kind != YNODE_MAP)
        perr(ld, ann, "policy.schema", "metadata.annotations must be a mapping");
    p->description = kept(ld, yaml_get(ann, "streamguard.dev/description"), "the description");
}

int policy_parse(loader *ld, const ydoc *doc, policy *p)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    static const char *const spec_keys[] = {"action", "failurePolicy", "match", "params",
                                            "variables", "validations", "mutations", NULL};
    static const char *const failures[] = {"Fail", "Ignore", NULL};
    int before = ld->errors;
    const ynode *root = doc->root;
    memset(p, 0, sizeof *p);
    p->at = (srcpos){.file = ld->file, .line = doc->line};
    if (!check_keys(ld, root, "a policy document", top))
        return -1;
    const char *api = required(ld, root, "apiVersion", "the document");
    const char *kind = required(ld, root, "kind", "the document");
    if (api && strcmp(api, POLICY_API_VERSION) != 0)
        perr(ld, yaml_get(root, "apiVersion"), "policy.schema", "apiVersion must be %s, not '%s'",
             POLICY_API_VERSION, api);
    if (kind && strcmp(kind, "Policy") != 0)
        perr(ld, yaml_get(root, "kind"), "policy.schema", "kind must be Policy, not '%s'", kind);
    parse_metadata(ld, yaml_get(root, "metadata"), p);
    const ynode *spec = yaml_get(root, "spec");
    if (spec == NULL) {
        perr(ld, root, "policy.schema", "spec is required");
        return -1;
    }
    if (!check_keys(ld, spec, "spec", spec_keys))
        return -1;
    const ynode *act = yaml_get(spec, "action"), *fp = yaml_get(spec, "failurePolicy");
    p->action = act ? (enum policy_action)choose(ld, act, "spec.action", actions, 0) : POLICY_DENY;
    p->failure = fp ? (enum policy_failure)choose(ld, fp, "spec.failurePolicy", failures, 0) : POLICY_FAIL;
    parse_match(ld, yaml_get(spec, "match"), &p->match);
    const ynode *params = yaml_get(spec, "params");
    if (params != NULL)
        p->params = owned_json(ld, params);
    ld->decls.n_vars = PB_COUNT; /* this policy's variables only */
    /* params are what spec.params declares: a name it does not have is a typo */
    ld->types[PB_OBJECT] = ld->types[PB_OLD_OBJECT] =
        ld->check_fields ? policy_object_type(ld, p) : NULL;
    ld->types[PB_PARAMS] = expr_type_of_json(ld->a, p->params ? p->params : &(cJSON){.type =
                                                                             cJSON_Object},
                                             "params");
    parse_variables(ld, yaml_get(spec, "variables"), p);
    parse_validations(ld, yaml_get(spec, "validations"), p);
    parse_mutations(ld, yaml_get(spec, "mutations"), p);
    if (p->n_validations == 0 && p->n_mutations == 0)
        perr(ld, spec, "policy.schema", "a policy needs validations or mutations");
    return ld->errors == before ? 0 : -1;
}

static bool has_str(const policy_strs *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], v) == 0)
            return true;
    return false;
}

/* The type of row 'i' of the loader's schemas, read when first asked for (NULL: dyn). */
static const expr_type *row_type(loader *ld, size_t i)
{
    if (ld->schema_types[i] == NULL)
        ld->schema_types[i] = policy_schema_type(ld->a, ld->schemas[i].text, ld->schemas[i].kind,
                                                 ld->schemas[i].basis);
    return ld->schema_types[i];
}

const expr_type *policy_lookup_type(void *ctx, const char *fn, uint32_t nargs,
                                    const char *const *lits)
{
    loader *ld = ctx;
    bool list = strcmp(fn, "lookupList") == 0;
    if ((!list && strcmp(fn, "lookup") != 0) || nargs != (list ? 3u : 4u) || lits[0] == NULL ||
        lits[1] == NULL)
        return NULL;
    /* apiVersion "v1" is the core group; "storage.k8s.io/v1" a group and its version */
    const char *slash = strchr(lits[0], '/');
    const char *version = slash ? slash + 1 : lits[0];
    size_t glen = slash ? (size_t)(slash - lits[0]) : 0;
    const expr_type *t = NULL;
    bool any = false;
    for (size_t i = 0; i < ld->n_schemas; i++) {
        const policy_schema_row *row = &ld->schemas[i];
        if (strcmp(row->kind, lits[1]) != 0 || strcmp(row->version, version) != 0 ||
            strlen(row->group) != glen || strncmp(row->group, lits[0], glen) != 0)
            continue;
        const expr_type *rt = row_type(ld, i);
        if (rt == NULL)
            return NULL;
        t = any ? expr_type_merge(ld->a, t, rt) : rt; /* one CRD vendored for several operators */
        any = true;
    }
    /* a kind or version no schema here has: the cluster may serve it, lint cannot tell */
    return t != NULL && list ? expr_type_new(ld->a, EXPR_T_LIST, t) : t;
}

const expr_type *policy_object_type(loader *ld, const policy *p)
{
    const expr_type *t = NULL;
    bool any = false;
    for (size_t r = 0; r < p->match.n_rules; r++) {
        const policy_resource_rule *rule = &p->match.rules[r];
        bool all_groups = rule->api_groups.n == 0 || has_str(&rule->api_groups, "*");
        for (size_t k = 0; k < rule->kinds.n; k++) {
            bool found = false;
            for (size_t i = 0; i < ld->n_schemas; i++) {
                const policy_schema_row *row = &ld->schemas[i];
                if (strcmp(row->kind, rule->kinds.v[k]) != 0 ||
                    (!all_groups && !has_str(&rule->api_groups, row->group)))
                    continue;
                const expr_type *rt = row_type(ld, i);
                if (rt == NULL)
                    return NULL;
                t = any ? expr_type_merge(ld->a, t, rt) : rt;
                any = found = true;
            }
            if (!found) /* "*", or a kind with no schema here: nothing to check against */
                return NULL;
        }
    }
    return t;
}
