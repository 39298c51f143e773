/* schema.c - CRDs to the compact schema text and that text to types; see schema.h. */
#include "schema.h"

#include <stdbool.h>
#include <string.h>

#include "../util/buf.h"
#include "yamldoc.h"

#define SCHEMA_MAX_TEXT ((size_t)16 << 20) /* bytes of one version's compact schema */

static bool is_true(const ynode *n)
{
    return n != NULL && n->kind == YNODE_SCALAR && strcmp(n->str, "true") == 0;
}

static const char *str_of(const ynode *n)
{
    return n != NULL && n->kind == YNODE_SCALAR ? n->str : NULL;
}

/* true when property 'name' can be written in the compact form (none of its own characters). */
static bool writable(const char *name)
{
    return name != NULL && name[0] != '\0' && strpbrk(name, ":,{}[]<>") == NULL;
}

/* The definitions of an OpenAPI v2 document, where its "$ref"s point, and the chain of those
 * being written: a definition met again inside itself is written as '*' (Kubernetes' own
 * kinds have no such cycle; JSONSchemaProps, which is not vendored, has). */
#define SCHEMA_MAX_REFS 64
typedef struct refs {
    const ynode *defs; /* NULL: a CRD, which has no $ref */
    const char *chain[SCHEMA_MAX_REFS];
    int n;
} refs;

/* Quantity is `type: string` in OpenAPI v2, but its JSON may as well be a number
 * (resource.Quantity's UnmarshalJSON), and so may the YAML check reads: OpenAPI v3 and the CRDs
 * say x-kubernetes-int-or-string, which is '*'. */
static const char quantity_def[] = "io.k8s.apimachinery.pkg.api.resource.Quantity";

static void emit(buf *b, const ynode *s, refs *r);

/* Writes the definition "$ref" 'ref' names; true when 's' was a reference. */
static bool emit_ref(buf *b, const ynode *s, refs *r)
{
    const char *ref = str_of(yaml_get(s, "$ref"));
    if (ref == NULL)
        return false;
    static const char prefix[] = "#/definitions/";
    const char *name = strncmp(ref, prefix, sizeof prefix - 1) == 0 ? ref + sizeof prefix - 1
                                                                     : NULL;
    const ynode *def = name && r->defs ? yaml_get(r->defs, name) : NULL;
    bool cycle = r->n == SCHEMA_MAX_REFS;
    for (int i = 0; def != NULL && i < r->n && !cycle; i++)
        cycle = strcmp(r->chain[i], name) == 0;
    if (def == NULL || cycle || strcmp(name, quantity_def) == 0) {
        buf_puts(b, "*"); /* a reference it cannot follow is anything: lint must not guess */
        return true;
    }
    r->chain[r->n++] = name;
    emit(b, def, r);
    r->n--;
    return true;
}

/* Writes the compact form of schema 's'. Depth is bounded by YAML's, and through "$ref" by
 * SCHEMA_MAX_REFS definitions. */
static void emit(buf *b, const ynode *s, refs *r)
{
    if (s == NULL || s->kind != YNODE_MAP) {
        buf_puts(b, "*");
        return;
    }
    if (emit_ref(b, s, r))
        return;
    bool preserve = is_true(yaml_get(s, "x-kubernetes-preserve-unknown-fields"));
    const ynode *props = yaml_get(s, "properties");
    const char *type = str_of(yaml_get(s, "type"));
    const char *format = str_of(yaml_get(s, "format"));
    if (is_true(yaml_get(s, "x-kubernetes-int-or-string")) ||
        (format != NULL && strcmp(format, "int-or-string") == 0)) /* OpenAPI v2's IntOrString */
        type = NULL;
    if (props != NULL && props->kind == YNODE_MAP) {
        /* a property the form cannot name is left out, and the object taken as open: lint
         * must not call a field of it wrong */
        bool open = preserve;
        for (size_t i = 0; i < props->n; i++)
            open |= !writable(str_of(props->items[2 * i]));
        buf_puts(b, open ? "{+" : "{");
        bool first = true;
        for (size_t i = 0; i < props->n; i++) {
            const char *name = str_of(props->items[2 * i]);
            if (!writable(name))
                continue;
            buf_printf(b, "%s%s:", first ? "" : ",", name);
            first = false;
            emit(b, props->items[2 * i + 1], r);
        }
        buf_puts(b, "}");
        return;
    }
    if (preserve || type == NULL) { /* free-form: anything goes */
        buf_puts(b, "*");
        return;
    }
    if (strcmp(type, "array") == 0) {
        buf_puts(b, "[");
        emit(b, yaml_get(s, "items"), r);
        buf_puts(b, "]");
        return;
    }
    if (strcmp(type, "object") == 0) {
        const ynode *ap = yaml_get(s, "additionalProperties");
        if (ap != NULL && ap->kind == YNODE_MAP) {
            buf_puts(b, "<");
            emit(b, ap, r);
            buf_puts(b, ">");
            return;
        }
        buf_puts(b, ap != NULL && is_true(ap) ? "<*>" : "*");
        return;
    }
    buf_puts(b, strcmp(type, "string") == 0    ? "s"
                : strcmp(type, "integer") == 0 ? "i"
                : strcmp(type, "boolean") == 0 ? "b"
                                               : "*");
}

static bool well_formed(arena *a, const char *text);

static int crd_error(diag_list *dl, const char *file, const ynode *at, const char *fmt,
                     const char *arg)
{
    srcpos pos = {.file = file, .line = at ? at->line : 0, .col = at ? at->col : 0};
    diag_add(dl, DIAG_ERROR, "policy.crd", &pos, fmt, arg);
    return -1;
}

static int add_row(arena *a, policy_schema_row **rows, size_t *n, const policy_schema_row *r)
{
    policy_schema_row *grown = arena_alloc(a, (*n + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    if (*n > 0)
        memcpy(grown, *rows, *n * sizeof *grown);
    grown[(*n)++] = *r;
    *rows = grown;
    return 0;
}

/* Appends the row of 'kind' in 'group'/'version' whose schema is 's' ('at': where it is, for
 * errors; 'basis': policy_schema_row). */
static int schema_row(arena *a, const char *file, const ynode *at, const char *group,
                      const char *version, const char *kind, const char *basis, const ynode *s,
                      refs *r, policy_schema_row **rows, size_t *n, diag_list *dl)
{
    buf b;
    buf_init(&b, SCHEMA_MAX_TEXT);
    emit(&b, s, r);
    /* a failed append leaves the text cut short, which would not read back */
    if (b.data == NULL || !well_formed(a, b.data)) {
        buf_clear(&b);
        return crd_error(dl, file, at, "%s: the schema is too large to check against", kind);
    }
    policy_schema_row row = {.group = arena_strdup(a, group),
                             .version = arena_strdup(a, version),
                             .kind = arena_strdup(a, kind),
                             .text = arena_strdup(a, b.data),
                             .basis = basis};
    buf_clear(&b);
    if (row.group == NULL || row.version == NULL || row.kind == NULL || row.text == NULL ||
        add_row(a, rows, n, &row) != 0)
        return crd_error(dl, file, at, "%s", "out of memory");
    return 0;
}

static int crd_doc(arena *a, const char *file, const ynode *root, policy_schema_row **rows,
                   size_t *n, diag_list *dl)
{
    const char *kind = str_of(yaml_get(root, "kind"));
    if (kind == NULL || strcmp(kind, "CustomResourceDefinition") != 0)
        return crd_error(dl, file, root, "not a CustomResourceDefinition (kind %s)",
                         kind ? kind : "missing");
    const ynode *spec = yaml_get(root, "spec");
    const char *group = str_of(yaml_get(spec, "group"));
    const char *name = str_of(yaml_get(yaml_get(spec, "names"), "kind"));
    const ynode *versions = yaml_get(spec, "versions");
    if (group == NULL || name == NULL || versions == NULL || versions->kind != YNODE_SEQ)
        return crd_error(dl, file, spec ? spec : root, "%s needs spec.group, spec.names.kind and "
                         "spec.versions", "a CustomResourceDefinition");
    for (size_t i = 0; i < versions->n; i++) {
        const ynode *v = versions->items[i];
        const ynode *served = yaml_get(v, "served");
        if (served != NULL && !is_true(served))
            continue; /* a version no one can write objects of */
        const ynode *schema = yaml_get(yaml_get(v, "schema"), "openAPIV3Schema");
        if (schema == NULL) /* apiextensions v1beta1 kept one schema for every version */
            schema = yaml_get(yaml_get(spec, "validation"), "openAPIV3Schema");
        const char *vname = str_of(yaml_get(v, "name"));
        refs none = {0};
        if (schema_row(a, file, v, group, vname ? vname : "", name, NULL, schema, &none, rows,
                       n, dl) != 0)
            return -1;
    }
    return 0;
}

int policy_crd_rows(arena *a, const char *file, const char *text, size_t len,
                    policy_schema_row **rows, size_t *n, diag_list *dl)
{
    ydoc *docs = NULL;
    size_t partial = 0;
    long nd = yaml_load(a, file, text, len, &docs, &partial, dl);
    if (nd < 0)
        return -1;
    int rc = 0;
    for (long i = 0; i < nd; i++) {
        const ynode *root = docs[i].root;
        if (root->kind == YNODE_SCALAR && yaml_is_null(root))
            continue; /* an empty document */
        if (crd_doc(a, file, root, rows, n, dl) != 0)
            rc = -1;
    }
    return rc;
}

int policy_openapi_rows(arena *a, const char *file, const char *text, size_t len,
                        policy_schema_row **rows, size_t *n, diag_list *dl)
{
    ydoc *docs = NULL;
    size_t partial = 0;
    long nd = yaml_load(a, file, text, len, &docs, &partial, dl);
    if (nd < 0)
        return -1;
    const ynode *root = nd == 1 ? docs[0].root : NULL;
    const char *swagger = str_of(yaml_get(root, "swagger"));
    refs r = {.defs = yaml_get(root, "definitions")};
    if (swagger == NULL || strcmp(swagger, "2.0") != 0 || r.defs == NULL ||
        r.defs->kind != YNODE_MAP)
        return crd_error(dl, file, root, "%s: not an OpenAPI v2 document with definitions",
                         file);
    /* What the document describes, "Kubernetes 1.20.2" from info {title: Kubernetes, version:
     * v1.20.2}: the messages about a field its schemas lack name it. */
    const ynode *info = yaml_get(root, "info");
    const char *title = str_of(yaml_get(info, "title")), *ver = str_of(yaml_get(info, "version"));
    const char *basis =
        arena_sprintf(a, "%s %s", title ? title : "this OpenAPI document's",
                      ver == NULL ? "" : ver[0] == 'v' && ver[1] >= '0' && ver[1] <= '9' ? ver + 1
                                                                                          : ver);
    if (basis == NULL)
        return crd_error(dl, file, root, "%s", "out of memory");
    /* a row for each kind a definition is the schema of; the definitions only referred to
     * (ObjectMeta, PodSpec) are written where they are referred to */
    for (size_t i = 0; i < r.defs->n; i++) {
        const ynode *def = r.defs->items[2 * i + 1];
        const ynode *gvks = yaml_get(def, "x-kubernetes-group-version-kind");
        for (size_t j = 0; gvks != NULL && gvks->kind == YNODE_SEQ && j < gvks->n; j++) {
            const char *group = str_of(yaml_get(gvks->items[j], "group"));
            const char *version = str_of(yaml_get(gvks->items[j], "version"));
            const char *kind = str_of(yaml_get(gvks->items[j], "kind"));
            if (group == NULL || version == NULL || kind == NULL)
                return crd_error(dl, file, gvks->items[j], "%s needs group, version and kind",
                                 "x-kubernetes-group-version-kind");
            r.chain[0] = str_of(r.defs->items[2 * i]);
            r.n = r.chain[0] != NULL;
            if (schema_row(a, file, def, group, version, kind, basis, def, &r, rows, n, dl) !=
                0)
                return -1;
        }
    }
    return 0;
}

/* ---- the compact text to types ---- */

typedef struct reader {
    arena *a;
    const char *p;
    const char *basis; /* every object's (policy_schema_row) */
    bool bad;
} reader;

static const expr_type *read_type(reader *r, const char *what, int depth);

static const expr_type *read_object(reader *r, const char *what, int depth)
{
    expr_type *t = expr_type_new(r->a, EXPR_T_OBJECT, NULL);
    if (t == NULL) {
        r->bad = true;
        return NULL;
    }
    t->what = what;
    t->basis = r->basis;
    if (*r->p == '+') {
        t->open = true;
        r->p++;
    }
    uint32_t cap = 0;
    while (*r->p != '}' && !r->bad) {
        const char *colon = strchr(r->p, ':');
        if (colon == NULL || colon == r->p) {
            r->bad = true;
            break;
        }
        char *name = arena_strndup(r->a, r->p, (size_t)(colon - r->p));
        r->p = colon + 1;
        if (t->n_fields == cap) { /* doubling: objects of hundreds of fields */
            uint32_t nc = cap ? 2 * cap : 8;
            const char **names = arena_alloc(r->a, nc * sizeof *names);
            const expr_type **types = arena_alloc(r->a, nc * sizeof *types);
            if (names == NULL || types == NULL || name == NULL) {
                r->bad = true;
                break;
            }
            if (cap > 0) {
                memcpy(names, t->names, cap * sizeof *names);
                memcpy(types, t->types, cap * sizeof *types);
            }
            t->names = names;
            t->types = types;
            cap = nc;
        }
        /* the root's fields are "Kind spec"; deeper ones "Kind spec.job" */
        const char *sub = arena_sprintf(r->a, depth == 0 ? "%s %s" : "%s.%s", what, name);
        t->names[t->n_fields] = name;
        t->types[t->n_fields++] = read_type(r, sub, depth + 1);
        if (*r->p == ',')
            r->p++;
        else if (*r->p != '}')
            r->bad = true;
    }
    if (*r->p == '}')
        r->p++;
    /* kube-apiserver gives every object these, whether the CRD's schema lists them or not */
    static const char *const implicit[] = {"apiVersion", "kind", "metadata"};
    for (size_t i = 0; depth == 0 && !r->bad && i < 3; i++) {
        const expr_type *f;
        if (expr_type_field(t, implicit[i], &f))
            continue;
        const char **names = arena_alloc(r->a, (t->n_fields + 1) * sizeof *names);
        const expr_type **types = arena_alloc(r->a, (t->n_fields + 1) * sizeof *types);
        if (names == NULL || types == NULL) {
            r->bad = true;
            break;
        }
        if (t->n_fields > 0) {
            memcpy(names, t->names, t->n_fields * sizeof *names);
            memcpy(types, t->types, t->n_fields * sizeof *types);
        }
        names[t->n_fields] = implicit[i];
        types[t->n_fields++] = i < 2 ? expr_type_new(r->a, EXPR_T_STRING, NULL) : NULL;
        t->names = names;
        t->types = types;
    }
    return t;
}

static const expr_type *read_type(reader *r, const char *what, int depth)
{
    if (depth > 2 * YAML_MAX_DEPTH) {
        r->bad = true;
        return NULL;
    }
    char c = *r->p;
    if (c != '\0')
        r->p++;
    switch (c) {
    case 's': return expr_type_new(r->a, EXPR_T_STRING, NULL);
    case 'i': return expr_type_new(r->a, EXPR_T_INT, NULL);
    case 'b': return expr_type_new(r->a, EXPR_T_BOOL, NULL);
    case '*': return NULL;
    case '[':
    case '<': {
        const expr_type *elem = read_type(r, c == '[' ? arena_sprintf(r->a, "%s[]", what) : what,
                                          depth + 1);
        if (*r->p != (c == '[' ? ']' : '>'))
            r->bad = true;
        else
            r->p++;
        return expr_type_new(r->a, c == '[' ? EXPR_T_LIST : EXPR_T_MAP, elem);
    }
    case '{': return read_object(r, what, depth);
    default: r->bad = true; return NULL;
    }
}

static bool well_formed(arena *a, const char *text)
{
    reader r = {.a = a, .p = text};
    read_type(&r, "", 0);
    return !r.bad && *r.p == '\0';
}

const expr_type *policy_schema_type(arena *a, const char *text, const char *kind,
                                    const char *basis)
{
    reader r = {.a = a, .p = text, .basis = basis};
    const expr_type *t = read_type(&r, kind, 0);
    return r.bad || *r.p != '\0' ? NULL : t;
}
