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

/* Writes the compact form of schema 's'. Depth is bounded by YAML's. */
static void emit(buf *b, const ynode *s)
{
    if (s == NULL || s->kind != YNODE_MAP) {
        buf_puts(b, "*");
        return;
    }
    bool preserve = is_true(yaml_get(s, "x-kubernetes-preserve-unknown-fields"));
    const ynode *props = yaml_get(s, "properties");
    const char *type = str_of(yaml_get(s, "type"));
    if (is_true(yaml_get(s, "x-kubernetes-int-or-string")))
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
            emit(b, props->items[2 * i + 1]);
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
        emit(b, yaml_get(s, "items"));
        buf_puts(b, "]");
        return;
    }
    if (strcmp(type, "object") == 0) {
        const ynode *ap = yaml_get(s, "additionalProperties");
        if (ap != NULL && ap->kind == YNODE_MAP) {
            buf_puts(b, "<");
            emit(b, ap);
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
        buf b;
        buf_init(&b, SCHEMA_MAX_TEXT);
        emit(&b, schema);
        /* a failed append leaves the text cut short, which would not read back */
        if (b.data == NULL || !well_formed(a, b.data)) {
            buf_clear(&b);
            return crd_error(dl, file, v, "%s: the schema is too large to check against",
                             name);
        }
        const char *vname = str_of(yaml_get(v, "name"));
        policy_schema_row r = {.group = arena_strdup(a, group),
                               .version = arena_strdup(a, vname ? vname : ""),
                               .kind = arena_strdup(a, name),
                               .text = arena_strdup(a, b.data)};
        buf_clear(&b);
        if (r.group == NULL || r.version == NULL || r.kind == NULL || r.text == NULL ||
            add_row(a, rows, n, &r) != 0)
            return crd_error(dl, file, v, "%s", "out of memory");
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

/* ---- the compact text to types ---- */

typedef struct reader {
    arena *a;
    const char *p;
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

const expr_type *policy_schema_type(arena *a, const char *text, const char *kind)
{
    reader r = {.a = a, .p = text};
    const expr_type *t = read_type(&r, kind, 0);
    return r.bad || *r.p != '\0' ? NULL : t;
}
