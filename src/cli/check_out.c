/* check_out.c - the report of streamguard check: what was found, the text and JSON forms,
 * the exit code; see check_out.h. The JUnit and SARIF forms are in check_ci.c. */
#include "check_out.h"

#include <stdlib.h>
#include <string.h>

#include "../util/utf8.h"
#include "check_out_int.h"

int check_parse_format(const char *s, enum check_format *out)
{
    static const char *const names[] = {"text", "json", "junit", "sarif"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum check_format)i;
            return 0;
        }
    return -1;
}

check_report *check_report_new(enum check_format fmt)
{
    check_report *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->fmt = fmt;
    r->results = cJSON_CreateArray();
    r->errors = cJSON_CreateArray();
    r->patches = cJSON_CreateArray();
    r->docs = cJSON_CreateArray();
    r->skipped = cJSON_CreateArray();
    r->pending = cJSON_CreateArray();
    return r;
}

void check_report_options(check_report *r, bool quiet, const char *sarif_root,
                          const char *help_base)
{
    r->quiet = quiet;
    free(r->sarif_root);
    free(r->sarif_help_base);
    r->sarif_root = sarif_root ? strdup(sarif_root) : NULL;
    r->sarif_help_base = help_base ? strdup(help_base) : NULL;
    /* "https://github.com/o/r/blob/sha/" and ".../sha" give the same links */
    size_t n = r->sarif_help_base ? strlen(r->sarif_help_base) : 0;
    while (n > 0 && r->sarif_help_base[n - 1] == '/')
        r->sarif_help_base[--n] = '\0';
}

void check_report_policies(check_report *r, const policy_set *s)
{
    r->set = s;
}

void check_report_skipped(check_report *r, const char *file, int doc, int line, const char *why)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "file", file);
    cJSON_AddNumberToObject(e, "document", doc);
    cJSON_AddNumberToObject(e, "line", line);
    cJSON_AddStringToObject(e, "reason", why);
    cJSON_AddItemToArray(r->skipped, e);
}

/* Adds 'name' to the array of strings 'a' unless it is there. */
static void add_once(cJSON *a, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
        if (strcmp(it->valuestring, name) == 0)
            return;
    cJSON_AddItemToArray(a, cJSON_CreateString(name));
}

void check_report_matched(check_report *r, const check_doc *d, const policy *p)
{
    (void)d;
    add_once(r->pending, p->name);
}

void check_report_error(check_report *r, const char *file, int doc, int line, const char *msg)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "file", file);
    cJSON_AddNumberToObject(e, "document", doc);
    cJSON_AddNumberToObject(e, "line", line);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddItemToArray(r->errors, e);
    /* what was found before the error belongs to no document */
    cJSON_Delete(r->pending);
    r->pending = cJSON_CreateArray();
    r->first_result = cJSON_GetArraySize(r->results);
}

/* Of the keys of mapping 'm' that start 'path' and end there, at '.' or at '[', the longest
 * (a key may hold dots: "high-availability.storageDir"); advances '*path' past it. */
static const ynode *longest_key(const ynode *m, const char **path, const ynode **key)
{
    const ynode *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < m->n; i++) {
        const ynode *k = m->items[2 * i];
        size_t len = k->kind == YNODE_SCALAR ? k->len : 0;
        if (len <= best_len || strncmp(*path, k->str, len) != 0 || memchr(k->str, 0, len))
            continue;
        char next = (*path)[len];
        if (next == '\0' || next == '.' || next == '[') {
            best = m->items[2 * i + 1];
            *key = k;
            best_len = len;
        }
    }
    *path += best_len;
    return best;
}

/* The value of the key written ['...'] or ["..."] at '*path' in mapping 'm'; advances past it. */
static const ynode *quoted_key(const ynode *m, const char **path, const ynode **key)
{
    const char *p = *path;
    const char *end = strchr(p + 2, p[1]);
    if (end == NULL || end[1] != ']')
        return NULL;
    size_t len = (size_t)(end - (p + 2));
    *path = end + 2;
    for (size_t i = 0; i < m->n; i++) {
        const ynode *k = m->items[2 * i];
        if (k->kind == YNODE_SCALAR && k->len == len && memcmp(k->str, p + 2, len) == 0) {
            *key = k;
            return m->items[2 * i + 1];
        }
    }
    return NULL;
}

/* One step of a field path from 'n': a key, a quoted key or an index. Returns the node it
 * leads to (and in '*at' the node whose position names it), or NULL when there is none. */
static const ynode *field_step(const ynode *n, const char **p, const ynode **at)
{
    if (**p == '[' && ((*p)[1] == '\'' || (*p)[1] == '"'))
        return n->kind == YNODE_MAP ? quoted_key(n, p, at) : NULL;
    if (**p == '[') {
        char *end;
        long i = strtol(*p + 1, &end, 10);
        if (end == *p + 1 || *end != ']' || n->kind != YNODE_SEQ || i < 0 || (size_t)i >= n->n)
            return NULL;
        *p = end + 1;
        *at = n->items[i];
        return *at;
    }
    return n->kind == YNODE_MAP ? longest_key(n, p, at) : NULL;
}

int check_field_pos(const ynode *root, const char *field, int dflt, int *col)
{
    const ynode *n = root;
    const char *p = field;
    int line = dflt;
    *col = 0;
    while (n != NULL && *p) {
        if (*p == '.') {
            p++;
            continue;
        }
        const ynode *at = NULL;
        n = field_step(n, &p, &at);
        if (n != NULL) {
            line = at->line;
            *col = at->col;
        }
    }
    return line;
}

int check_field_line(const ynode *root, const char *field, int dflt)
{
    int col;
    return check_field_pos(root, field, dflt, &col);
}

static const char *action_name(enum policy_action a)
{
    return a == POLICY_DENY ? "deny" : a == POLICY_WARN ? "warn" : "audit";
}

static void add_doc_fields(cJSON *o, const check_doc *d)
{
    cJSON_AddStringToObject(o, "file", d->file);
    cJSON_AddNumberToObject(o, "document", d->index);
}

void check_report_finding(check_report *r, const check_doc *d, const policy_finding *f)
{
    cJSON *o = cJSON_CreateObject();
    add_doc_fields(o, d);
    int col = 0;
    cJSON_AddNumberToObject(o, "line", f->field ? check_field_pos(d->root, f->field, d->line, &col)
                                                : d->line);
    cJSON_AddNumberToObject(o, "column", col);
    cJSON_AddStringToObject(o, "apiVersion", d->api_version);
    cJSON_AddStringToObject(o, "kind", d->kind);
    cJSON_AddStringToObject(o, "namespace", d->namespace_);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "policy", f->policy->name);
    cJSON_AddStringToObject(o, "action", action_name(f->action));
    cJSON_AddStringToObject(o, "message", f->message);
    if (f->field)
        cJSON_AddStringToObject(o, "field", f->field);
    else
        cJSON_AddNullToObject(o, "field");
    cJSON_AddItemToArray(r->results, o);
    add_once(r->pending, f->policy->name);
}

void check_report_patch(check_report *r, const check_doc *d, const char *policy, const char *patch)
{
    cJSON *o = cJSON_CreateObject(), *p = cJSON_Parse(patch);
    add_doc_fields(o, d);
    cJSON_AddStringToObject(o, "policy", policy);
    cJSON_AddItemToObject(o, "patch", p ? p : cJSON_CreateNull());
    cJSON_AddItemToArray(r->patches, o);
}

void check_report_document(check_report *r, const check_doc *d, const check_verdict *v)
{
    cJSON *o = cJSON_CreateObject();
    add_doc_fields(o, d);
    cJSON_AddNumberToObject(o, "line", d->line);
    cJSON_AddStringToObject(o, "kind", d->kind);
    cJSON_AddStringToObject(o, "namespace", d->namespace_);
    cJSON_AddStringToObject(o, "name", d->name);
    int n = cJSON_GetArraySize(r->results);
    cJSON_AddNumberToObject(o, "first", r->first_result);
    cJSON_AddNumberToObject(o, "count", n - r->first_result);
    cJSON_AddNumberToObject(o, "seconds", v->seconds);
    cJSON_AddBoolToObject(o, "allowed", v->allowed);
    cJSON_AddItemToObject(o, "policies", r->pending);
    r->pending = cJSON_CreateArray();
    r->first_result = n;
    cJSON_AddItemToArray(r->docs, o);
    r->documents++;
    r->matched += v->matched;
    r->denied += (int)v->n_denials;
    r->warned += (int)v->n_warnings;
    r->audited += (int)v->n_audit;
    r->refused += !v->allowed;
}

const char *check_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int check_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const char *plural(int n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The exit code and, for the summary, why it is that. */
static int exit_code(const check_report *r, char *why, size_t cap)
{
    int errors = cJSON_GetArraySize(r->errors);
    if (r->refused > 0) {
        snprintf(why, cap, "exit 1: %d %s denied%s", r->refused,
                 plural(r->refused, "document", "documents"),
                 errors ? " (the input errors above did not stop the check of the others)" : "");
        return 1;
    }
    if (errors > 0) {
        snprintf(why, cap, "exit 2: nothing denied, but %d %s could not be checked", errors,
                 plural(errors, "input", "inputs"));
        return 2;
    }
    snprintf(why, cap, "exit 0: nothing denied");
    return 0;
}

static void print_text(const check_report *r, FILE *f)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, r->errors)
        fprintf(f, "%s:%d: error: %s\n", check_str(it, "file"), check_num(it, "line"),
                check_str(it, "message"));
    cJSON_ArrayForEach(it, r->results)
        if (!r->quiet || strcmp(check_str(it, "action"), "deny") == 0)
            fprintf(f, "%s:%d: %s %s\n", check_str(it, "file"), check_num(it, "line"),
                    check_str(it, "action"), check_str(it, "message"));
    if (!r->quiet) {
        cJSON_ArrayForEach(it, r->patches) {
            char *p = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(it, "patch"));
            fprintf(f, "%s: document %d: patch [%s] %s\n", check_str(it, "file"),
                    check_num(it, "document"), check_str(it, "policy"), p ? p : "");
            free(p);
        }
        cJSON_ArrayForEach(it, r->skipped)
            fprintf(f, "%s:%d: skipped: %s\n", check_str(it, "file"), check_num(it, "line"),
                    check_str(it, "reason"));
    }
    int errors = cJSON_GetArraySize(r->errors), skipped = cJSON_GetArraySize(r->skipped);
    fprintf(f, "%d %s checked, %d matched by a policy: %d denied (%d %s), %d warned, "
               "%d audited, %d %s, %d skipped\n",
            r->documents, plural(r->documents, "document", "documents"), r->matched, r->refused,
            r->denied, plural(r->denied, "denial", "denials"), r->warned, r->audited, errors,
            plural(errors, "error", "errors"), skipped);
    char why[160];
    exit_code(r, why, sizeof why);
    fprintf(f, "%s\n", why);
}

static cJSON *summary(const check_report *r)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "documents", r->documents);
    cJSON_AddNumberToObject(s, "matched", r->matched);
    cJSON_AddNumberToObject(s, "deniedDocuments", r->refused);
    cJSON_AddNumberToObject(s, "denied", r->denied);
    cJSON_AddNumberToObject(s, "warned", r->warned);
    cJSON_AddNumberToObject(s, "audited", r->audited);
    cJSON_AddNumberToObject(s, "errors", cJSON_GetArraySize(r->errors));
    cJSON_AddNumberToObject(s, "skipped", cJSON_GetArraySize(r->skipped));
    char why[160];
    cJSON_AddNumberToObject(s, "exitCode", exit_code(r, why, sizeof why));
    return s;
}

static void print_json(check_report *r, FILE *f)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "summary", summary(r));
    cJSON_AddItemReferenceToObject(root, "results", r->results);
    cJSON_AddItemReferenceToObject(root, "errors", r->errors);
    cJSON_AddItemReferenceToObject(root, "patches", r->patches);
    cJSON_AddItemReferenceToObject(root, "skipped", r->skipped);
    char *s = cJSON_Print(root);
    cli_put_utf8(f, s ? s : "{}");
    fputc('\n', f);
    free(s);
    cJSON_Delete(root);
}

/* U+FFFD, for a byte that is not UTF-8 (Go's encoders, which CI tools' readers follow,
 * write it so too) */
static const char replacement[] = "\xEF\xBF\xBD";

void cli_xml_escape(FILE *f, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(s + i, len - i);
        /* a file name or a message may hold any bytes: one that is not UTF-8 would make the
         * whole report unreadable to an XML parser */
        if (n == 0 || (n == 3 && memcmp(s + i, "\xEF\xBF", 2) == 0 &&
                       ((unsigned char)s[i + 2] == 0xBE || (unsigned char)s[i + 2] == 0xBF))) {
            fputs(replacement, f);
            i += n ? n : 1;
            continue;
        }
        switch (s[i]) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)s[i] >= 0x20 || s[i] == '\n' || s[i] == '\t')
                fwrite(s + i, 1, n, f);
        }
        i += n;
    }
}

void cli_put_utf8(FILE *f, const char *s)
{
    size_t len = strlen(s), bad;
    while (!utf8_is_valid(s, len, &bad)) {
        fwrite(s, 1, bad, f);
        fputs(replacement, f);
        s += bad + 1;
        len -= bad + 1;
    }
    fwrite(s, 1, len, f);
}

int check_report_finish(check_report *r, FILE *f)
{
    switch (r->fmt) {
    case CHECK_TEXT: print_text(r, f); break;
    case CHECK_JSON: print_json(r, f); break;
    case CHECK_JUNIT: check_print_junit(r, f); break;
    case CHECK_SARIF: check_print_sarif(r, f); break;
    }
    if (r->fmt != CHECK_TEXT && r->fmt != CHECK_JSON) {
        const cJSON *e;
        cJSON_ArrayForEach(e, r->errors)
            fprintf(stderr, "%s:%d: error: %s\n", check_str(e, "file"), check_num(e, "line"),
                    check_str(e, "message"));
    }
    char why[160];
    int rc = exit_code(r, why, sizeof why);
    cJSON_Delete(r->results);
    cJSON_Delete(r->errors);
    cJSON_Delete(r->patches);
    cJSON_Delete(r->docs);
    cJSON_Delete(r->skipped);
    cJSON_Delete(r->pending);
    free(r->sarif_root);
    free(r->sarif_help_base);
    free(r);
    return rc;
}
