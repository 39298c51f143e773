/* yamldoc.c - libyaml events to position-carrying nodes, and nodes to JSON; see yamldoc.h. */
#include "yamldoc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "../util/keyindex.h"
#include "../util/vec.h"

/* A node being built: its children so far (malloc'd, copied into the arena when done). */
struct frame {
    ynode *node;
    ynode **kids;
    size_t n, cap;
};

struct anchor {
    char *name; /* malloc'd */
    ynode *node;
};

typedef struct loader {
    arena *a;
    const char *file;
    const char *text;
    size_t len;
    diag_list *dl;
    struct frame stack[YAML_MAX_DEPTH + 1];
    int depth;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    ynode *root;
    size_t at_char, at_byte; /* a character index of libyaml's marks and its byte in 'text' */
} loader;

/* The byte of 'text' at libyaml's mark index 'index', which counts characters (after a BOM).
 * Marks come in order, so the walk goes on from the last one. */
static size_t byte_at(loader *ld, size_t index)
{
    if (index < ld->at_char || ld->at_byte == 0) {
        ld->at_char = 0;
        ld->at_byte = ld->len >= 3 && memcmp(ld->text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    }
    while (ld->at_char < index && ld->at_byte < ld->len) {
        ld->at_byte++;
        while (ld->at_byte < ld->len && ((unsigned char)ld->text[ld->at_byte] & 0xC0) == 0x80)
            ld->at_byte++;
        ld->at_char++;
    }
    return ld->at_byte;
}

static void err_at(loader *ld, int line, int col, const char *code, const char *fmt, const char *arg)
{
    srcpos at = {.file = ld->file, .line = line, .col = col};
    diag_add(ld->dl, DIAG_ERROR, code, &at, fmt, arg);
}

static ynode *new_node(loader *ld, enum ynode_kind kind, const yaml_mark_t *m)
{
    ynode *n = arena_calloc(ld->a, 1, sizeof *n);
    if (n != NULL) {
        n->kind = (unsigned char)kind;
        n->line = (int)m->line + 1;
        n->col = (int)m->column + 1;
    }
    return n;
}

static void remember_anchor(loader *ld, const yaml_char_t *name, ynode *n)
{
    if (name == NULL)
        return;
    if (vec_grow(NULL, ld->anchors, ld->n_anchors, ld->cap_anchors, 16) != 0)
        return;
    ld->anchors[ld->n_anchors].name = strdup((const char *)name);
    ld->anchors[ld->n_anchors].node = n;
    ld->n_anchors++;
}

static ynode *find_anchor(loader *ld, const yaml_char_t *name)
{
    for (size_t i = ld->n_anchors; i-- > 0;)
        if (ld->anchors[i].name && strcmp(ld->anchors[i].name, (const char *)name) == 0)
            return ld->anchors[i].node;
    return NULL;
}

static void forget_anchors(loader *ld)
{
    for (size_t i = 0; i < ld->n_anchors; i++)
        free(ld->anchors[i].name);
    ld->n_anchors = 0;
}

/* Adds a finished node to its parent, or makes it the document root. */
static int attach(loader *ld, ynode *n)
{
    if (ld->depth == 0) {
        ld->root = n;
        return 0;
    }
    struct frame *f = &ld->stack[ld->depth - 1];
    if (vec_grow(NULL, f->kids, f->n, f->cap, 8) != 0)
        return -1;
    f->kids[f->n++] = n;
    return 0;
}

/* An explicit tag: go-yaml (kubectl) gives it a meaning this reader does not ('!!binary' is
 * base64-decoded, '!!int 010' is 8), so the object applied would not be the one checked.
 * Only the tags that change nothing here are read: '!!str' (a string, as a quoted scalar),
 * '!!map' and '!!seq'. Returns 0, or -1 with the error. */
static int check_tag(loader *ld, const yaml_event_t *ev, const yaml_char_t *tag, const char *ok)
{
    if (tag == NULL || strcmp((const char *)tag, ok) == 0)
        return 0;
    err_at(ld, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "input.yaml",
           "the YAML tag '%.100s' is not supported: kubectl would read the value differently; "
           "write it without the tag",
           (const char *)tag);
    return -1;
}

static int open_container(loader *ld, enum ynode_kind kind, const yaml_event_t *ev)
{
    const yaml_char_t *tag =
        kind == YNODE_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    if (check_tag(ld, ev, tag, kind == YNODE_MAP ? YAML_MAP_TAG : YAML_SEQ_TAG) != 0)
        return -1;
    if (ld->depth >= YAML_MAX_DEPTH) {
        err_at(ld, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "input.limit",
               "nesting deeper than %s levels", "100");
        return -1;
    }
    ynode *n = new_node(ld, kind, &ev->start_mark);
    if (n == NULL)
        return -1;
    const yaml_char_t *anchor = kind == YNODE_MAP ? ev->data.mapping_start.anchor
                                                  : ev->data.sequence_start.anchor;
    remember_anchor(ld, anchor, n);
    ld->stack[ld->depth++] = (struct frame){.node = n};
    return 0;
}

static int close_container(loader *ld)
{
    struct frame *f = &ld->stack[--ld->depth];
    ynode *n = f->node;
    n->items = arena_alloc(ld->a, (f->n ? f->n : 1) * sizeof *n->items);
    if (n->items == NULL) {
        free(f->kids);
        return -1;
    }
    if (f->n > 0) /* an empty container has no children array at all */
        memcpy(n->items, f->kids, f->n * sizeof *n->items);
    n->n = n->kind == YNODE_MAP ? f->n / 2 : f->n;
    free(f->kids);
    return attach(ld, n);
}

static int on_scalar(loader *ld, const yaml_event_t *ev)
{
    ynode *n = new_node(ld, YNODE_SCALAR, &ev->start_mark);
    if (n == NULL)
        return -1;
    if (check_tag(ld, ev, ev->data.scalar.tag, YAML_STR_TAG) != 0)
        return -1;
    yaml_scalar_style_t st = ev->data.scalar.style;
    n->quoted = st != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag != NULL;
    n->block = st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE;
    if (n->block) { /* the text starts on the line after the | or >, at its indentation */
        size_t i = byte_at(ld, ev->start_mark.index);
        while (i < ld->len && diag_line_break(ld->text, ld->len, i) == 0)
            i++;
        if (i < ld->len) {
            int indent = 0;
            for (i += diag_line_break(ld->text, ld->len, i); i < ld->len && ld->text[i] == ' '; i++)
                indent++;
            n->line++;
            n->col = indent + 1;
        }
    }
    n->len = ev->data.scalar.length;
    /* "\0", "\x00" and "\u0000" in a double-quoted scalar (JSON input too) give a NUL. Every
     * reader after this one takes C strings and would cut the text there, while
     * kube-apiserver keeps it whole: "\u0000/tmp/cp" would be checked as "". */
    if (memchr(ev->data.scalar.value, '\0', n->len) != NULL) {
        err_at(ld, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "input.yaml",
               "a string holds a NUL character (%s), which would cut it short; refused",
               "\\0, \\x00 or \\u0000");
        return -1;
    }
    n->str = arena_strndup(ld->a, (const char *)ev->data.scalar.value, n->len);
    if (n->str == NULL)
        return -1;
    remember_anchor(ld, ev->data.scalar.anchor, n);
    return attach(ld, n);
}

static void unwind(loader *ld)
{
    while (ld->depth > 0)
        free(ld->stack[--ld->depth].kids);
}

/* Appends a finished document; returns -1 when out of memory. */
static int push_doc(loader *ld, ydoc **docs, size_t *n, size_t *cap, const yaml_mark_t *start,
                    const yaml_mark_t *end)
{
    if (vec_grow(ld->a, *docs, *n, *cap, 4) != 0)
        return -1;
    ynode *root = ld->root;
    if (root == NULL) { /* keep the promise of yamldoc.h: a root is never NULL */
        root = new_node(ld, YNODE_SCALAR, start);
        if (root == NULL)
            return -1;
        root->str = "";
    }
    (*docs)[(*n)++] = (ydoc){.root = root, .line = (int)start->line + 1,
                             .size = end->index - start->index};
    return 0;
}

long yaml_load(arena *a, const char *file, const char *text, size_t len, ydoc **docs,
               size_t *partial, diag_list *dl)
{
    loader ld = {.a = a, .file = file, .text = text, .len = len, .dl = dl};
    yaml_parser_t p;
    size_t n = 0, cap = 0;
    long rc = -1;
    yaml_mark_t doc_start = {0, 0, 0};
    *docs = NULL;
    if (!yaml_parser_initialize(&p)) {
        diag_add(dl, DIAG_ERROR, "input.yaml", NULL, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            srcpos at = {.file = file, .line = (int)p.problem_mark.line + 1,
                         .col = (int)p.problem_mark.column + 1};
            diag_add(dl, DIAG_ERROR, "input.yaml", &at, "%s%s%s", p.problem ? p.problem : "invalid YAML",
                     p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        int bad = 0;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: rc = (long)n; break;
        case YAML_DOCUMENT_START_EVENT:
            doc_start = ev.start_mark;
            ld.root = NULL;
            forget_anchors(&ld);
            break;
        case YAML_DOCUMENT_END_EVENT:
            bad = push_doc(&ld, docs, &n, &cap, &doc_start, &ev.end_mark);
            break;
        case YAML_MAPPING_START_EVENT: bad = open_container(&ld, YNODE_MAP, &ev); break;
        case YAML_SEQUENCE_START_EVENT: bad = open_container(&ld, YNODE_SEQ, &ev); break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT: bad = close_container(&ld); break;
        case YAML_SCALAR_EVENT: bad = on_scalar(&ld, &ev); break;
        case YAML_ALIAS_EVENT: {
            ynode *target = find_anchor(&ld, ev.data.alias.anchor);
            if (target == NULL) {
                err_at(&ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                       "input.yaml", "unknown alias '%s'", (const char *)ev.data.alias.anchor);
                bad = -1;
            } else {
                bad = attach(&ld, target);
            }
            break;
        }
        default: break;
        }
        yaml_event_delete(&ev);
        if (bad != 0 || rc >= 0)
            break;
    }
    unwind(&ld);
    forget_anchors(&ld);
    free(ld.anchors);
    yaml_parser_delete(&p);
    *partial = n;
    return rc;
}

const ynode *yaml_get(const ynode *m, const char *key)
{
    if (m == NULL || m->kind != YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++) {
        const ynode *k = m->items[2 * i];
        if (k->kind == YNODE_SCALAR && strcmp(k->str, key) == 0)
            return m->items[2 * i + 1];
    }
    return NULL;
}

/* ---- to JSON ---- */

static bool is_one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

bool yaml_is_null(const ynode *n)
{
    return n->kind == YNODE_SCALAR && !n->quoted && strlen(n->str) == n->len &&
           is_one_of(n->str, nulls, 5);
}

/* A plain scalar as go-yaml v2 resolves it (YAML 1.1): null, bool, int, float, or string. */
static cJSON *resolve_plain(const char *s)
{
    static const char *const trues[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
                                        "on", "On", "ON"};
    static const char *const falses[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE",
                                         "off", "Off", "OFF"};
    if (is_one_of(s, nulls, 5))
        return cJSON_CreateNull();
    if (is_one_of(s, trues, 11))
        return cJSON_CreateTrue();
    if (is_one_of(s, falses, 11))
        return cJSON_CreateFalse();
    char buf[128];
    size_t k = 0;
    for (const char *p = s; *p && k + 1 < sizeof buf; p++)
        if (*p != '_')
            buf[k++] = *p;
    buf[k] = '\0';
    if (k == 0 || strlen(s) >= sizeof buf)
        return cJSON_CreateString(s);
    const char *d = buf + (buf[0] == '-' || buf[0] == '+');
    bool neg = buf[0] == '-';
    char *end;
    errno = 0;
    if (d[0] == '0' && (d[1] == 'b' || d[1] == 'B') && d[2]) {
        unsigned long long v = strtoull(d + 2, &end, 2);
        if (*end == '\0' && errno == 0)
            return cJSON_CreateNumber(neg ? -(double)v : (double)v);
    } else if (d[0] >= '0' && d[0] <= '9') {
        long long v = strtoll(buf, &end, 0);
        if (*end == '\0')
            return cJSON_CreateNumber(errno == ERANGE ? strtod(buf, NULL) : (double)v);
    }
    /* Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    const char *p = d;
    bool digits = false;
    while (*p >= '0' && *p <= '9') {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits = true;
        }
    }
    if (digits && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return cJSON_CreateString(s);
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (digits && *p == '\0')
        return cJSON_CreateNumber(strtod(buf, NULL));
    return cJSON_CreateString(s); /* .inf and .nan have no JSON form: kept as text */
}

/* What converting one document may still produce. Aliases share nodes, so a small file can
 * name a great many of them, and each long scalar again: both are counted. */
typedef struct convert_budget {
    size_t nodes, bytes;
} convert_budget;

/* Spends 'nodes' nodes (a key is not one: it is counted with its value) and 'len' bytes of key
 * or scalar text; false with a diag when the document expands beyond the budget. */
static bool spend(convert_budget *b, size_t nodes, size_t len, const ynode *n, const char *file,
                  diag_list *dl)
{
    if (nodes <= b->nodes && len <= b->bytes) {
        b->nodes -= nodes;
        b->bytes -= len;
        return true;
    }
    srcpos at = {.file = file, .line = n->line, .col = n->col};
    if (nodes > b->nodes)
        diag_add(dl, DIAG_ERROR, "input.limit", &at,
                 "the document expands to more than %d nodes (aliases)", YAML_MAX_NODES);
    else
        diag_add(dl, DIAG_ERROR, "input.limit", &at,
                 "the document expands to more than %zu MiB of text (aliases)",
                 YAML_MAX_EXPANDED >> 20);
    return false;
}

/* Orders key nodes by position in the document. */
static int cmp_pos(const ynode *a, const ynode *b)
{
    return a->line != b->line ? (a->line > b->line) - (a->line < b->line)
                              : (a->col > b->col) - (a->col < b->col);
}

/* Orders key nodes by text, then by position. */
static int cmp_key(const void *x, const void *y)
{
    const ynode *a = *(const ynode *const *)x, *b = *(const ynode *const *)y;
    lookup_steps++; /* counted, so that a test can tell n log n from n^2 */
    int c = strcmp(a->str, b->str);
    return c != 0 ? c : cmp_pos(a, b);
}

/* The first key of mapping 'm' (in document order) that repeats an earlier one, or NULL; all
 * keys must be scalars. Sorting keeps a mapping with many keys at n log n: comparing each key
 * with the ones before it took minutes on a manifest of a few MiB. '*oom' is set when the
 * sort could not allocate. */
static const ynode *duplicate_key(const ynode *m, bool *oom)
{
    const ynode *dup = NULL;
    *oom = false;
    if (m->n <= 8) { /* most mappings: fewer compares than a sort */
        for (size_t i = 1; i < m->n && dup == NULL; i++)
            for (size_t j = 0; j < i && dup == NULL; j++)
                if (strcmp(m->items[2 * i]->str, m->items[2 * j]->str) == 0)
                    dup = m->items[2 * i];
        lookup_steps += m->n * m->n / 2;
        return dup;
    }
    const ynode **keys = malloc(m->n * sizeof *keys);
    if (keys == NULL) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < m->n; i++)
        keys[i] = m->items[2 * i];
    qsort(keys, m->n, sizeof *keys, cmp_key);
    /* In each run of equal keys, the second one is the first repetition of that key. */
    for (size_t i = 1; i < m->n; i++) {
        bool second = strcmp(keys[i - 1]->str, keys[i]->str) == 0 &&
                      (i == 1 || strcmp(keys[i - 2]->str, keys[i]->str) != 0);
        if (second && (dup == NULL || cmp_pos(keys[i], dup) < 0))
            dup = keys[i];
    }
    free(keys);
    return dup;
}

/* Checks the keys of mapping 'n': scalars, each once. Returns 0, or -1 with a diag. */
static int check_keys(const ynode *n, const char *file, diag_list *dl)
{
    for (size_t i = 0; i < n->n; i++) {
        const ynode *k = n->items[2 * i];
        if (k->kind != YNODE_SCALAR) {
            srcpos at = {.file = file, .line = k->line, .col = k->col};
            diag_add(dl, DIAG_ERROR, "input.yaml", &at, "a mapping key must be a scalar");
            return -1;
        }
    }
    bool oom;
    const ynode *dup = duplicate_key(n, &oom);
    if (dup == NULL && !oom)
        return 0;
    srcpos at = {.file = file, .line = dup ? dup->line : n->line, .col = dup ? dup->col : n->col};
    if (dup != NULL)
        diag_add(dl, DIAG_ERROR, "input.yaml", &at, "key '%.100s' is given twice", dup->str);
    else
        diag_add(dl, DIAG_ERROR, "input.limit", &at, "out of memory");
    return -1;
}

static cJSON *convert(const ynode *n, const char *file, diag_list *dl, convert_budget *budget,
                      int depth)
{
    if (depth > YAML_MAX_DEPTH) {
        srcpos at = {.file = file, .line = n->line, .col = n->col};
        diag_add(dl, DIAG_ERROR, "input.limit", &at, "nesting deeper than %d levels",
                 YAML_MAX_DEPTH);
        return NULL;
    }
    if (!spend(budget, 1, n->kind == YNODE_SCALAR ? n->len : 0, n, file, dl))
        return NULL;
    if (n->kind == YNODE_SCALAR) {
        cJSON *j = n->quoted ? cJSON_CreateString(n->str) : resolve_plain(n->str);
        /* 1e999 is infinity to strtod and no number to Go (kubectl refuses it): the object
         * checked would not be one anyone can apply */
        if (j != NULL && cJSON_IsNumber(j) && !isfinite(j->valuedouble)) {
            srcpos at = {.file = file, .line = n->line, .col = n->col};
            diag_add(dl, DIAG_ERROR, "input.yaml", &at,
                     "the number %.40s is beyond the range of a double, which kubectl refuses",
                     n->str);
            cJSON_Delete(j);
            return NULL;
        }
        return j;
    }
    if (n->kind == YNODE_MAP && check_keys(n, file, dl) != 0)
        return NULL;
    cJSON *out = n->kind == YNODE_SEQ ? cJSON_CreateArray() : cJSON_CreateObject();
    for (size_t i = 0; out != NULL && i < n->n; i++) {
        if (n->kind == YNODE_SEQ) {
            cJSON *c = convert(n->items[i], file, dl, budget, depth + 1);
            if (c == NULL || !cJSON_AddItemToArray(out, c))
                goto err;
            continue;
        }
        const ynode *k = n->items[2 * i], *v = n->items[2 * i + 1];
        if (!spend(budget, 0, k->len, k, file, dl))
            goto err;
        /* go-yaml (kubectl, kube-apiserver) merges the mapping of a plain '<<' key into this
         * one, overriding or not by the order of the keys; read as a key of its own it would
         * hide those options from every policy. */
        if (!k->quoted && strcmp(k->str, "<<") == 0) {
            srcpos at = {.file = file, .line = k->line, .col = k->col};
            diag_add(dl, DIAG_ERROR, "input.yaml", &at,
                     "a YAML merge key ('<<') is not supported: kubectl merges its mapping in, "
                     "so the object would not be the one checked; write the keys out");
            goto err;
        }
        cJSON *c = convert(v, file, dl, budget, depth + 1);
        if (c == NULL || !cJSON_AddItemToObject(out, k->str, c)) {
            cJSON_Delete(c);
            goto err;
        }
    }
    return out;
err:
    cJSON_Delete(out);
    return NULL;
}

cJSON *yaml_to_json(const ynode *n, const char *file, diag_list *dl)
{
    convert_budget budget = {YAML_MAX_NODES, YAML_MAX_EXPANDED};
    if (n == NULL)
        return cJSON_CreateNull();
    return convert(n, file, dl, &budget, 0);
}
