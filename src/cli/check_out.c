/* check_out.c - rendering the report of streamguard check; see check_out.h. */
#include "check_out.h"

#include <stdlib.h>
#include <string.h>

#include "../util/version.h"

struct check_report {
    enum check_format fmt;
    cJSON *results, *errors, *patches, *docs;
    int documents, matched, denied, warned, audited;
    int refused; /* documents whose decision was a denial: the exit code */
};

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
    return r;
}

void check_report_error(check_report *r, const char *file, int doc, int line, const char *msg)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "file", file);
    cJSON_AddNumberToObject(e, "document", doc);
    cJSON_AddNumberToObject(e, "line", line);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddItemToArray(r->errors, e);
}

/* Matches the longest key of mapping 'm' that starts 'path' and ends at '.', '[' or the end. */
static const ynode *longest_key(const ynode *m, const char **path)
{
    const ynode *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < m->n; i++) {
        const ynode *k = m->items[2 * i];
        size_t len = k->kind == YNODE_SCALAR ? strlen(k->str) : 0;
        char next = len ? (*path)[len] : 'x';
        if (len > best_len && strncmp(*path, k->str, len) == 0 && (next == '\0' || next == '.' || next == '['))
            best = m->items[2 * i + 1], best_len = len;
    }
    *path += best_len;
    return best;
}

int check_field_line(const ynode *root, const char *field, int dflt)
{
    const ynode *n = root;
    const char *p = field;
    while (n != NULL && *p) {
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '[') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            if (*end != ']' || n->kind != YNODE_SEQ || i < 0 || (size_t)i >= n->n)
                return dflt;
            n = n->items[i];
            p = end + 1;
            continue;
        }
        if (n->kind != YNODE_MAP)
            return dflt;
        n = longest_key(n, &p);
    }
    return n != NULL ? n->line : dflt;
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
    cJSON_AddNumberToObject(o, "line", f->field ? check_field_line(d->root, f->field, d->line) : d->line);
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
    cJSON_AddItemToArray(r->docs, o);
    r->documents++;
    r->matched += v->matched;
    r->denied += (int)v->n_denials;
    r->warned += (int)v->n_warnings;
    r->audited += (int)v->n_audit;
    r->refused += !v->allowed;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int num(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k)->valueint;
}

static void print_text(const check_report *r, FILE *f)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, r->errors)
        fprintf(f, "%s:%d: error: %s\n", str(it, "file"), num(it, "line"), str(it, "message"));
    cJSON_ArrayForEach(it, r->results)
        fprintf(f, "%s:%d: %s %s\n", str(it, "file"), num(it, "line"), str(it, "action"), str(it, "message"));
    cJSON_ArrayForEach(it, r->patches) {
        char *p = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(it, "patch"));
        fprintf(f, "%s: document %d: patch [%s] %s\n", str(it, "file"), num(it, "document"),
                str(it, "policy"), p ? p : "");
        free(p);
    }
    fprintf(f, "%d document%s checked, %d matched by a policy: %d denied, %d warned, %d audited, "
               "%d error%s\n",
            r->documents, r->documents == 1 ? "" : "s", r->matched, r->denied, r->warned,
            r->audited, cJSON_GetArraySize(r->errors), cJSON_GetArraySize(r->errors) == 1 ? "" : "s");
}

static cJSON *summary(const check_report *r)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "documents", r->documents);
    cJSON_AddNumberToObject(s, "matched", r->matched);
    cJSON_AddNumberToObject(s, "denied", r->denied);
    cJSON_AddNumberToObject(s, "warned", r->warned);
    cJSON_AddNumberToObject(s, "audited", r->audited);
    cJSON_AddNumberToObject(s, "errors", cJSON_GetArraySize(r->errors));
    return s;
}

static void print_json(check_report *r, FILE *f)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "summary", summary(r));
    cJSON_AddItemReferenceToObject(root, "results", r->results);
    cJSON_AddItemReferenceToObject(root, "errors", r->errors);
    cJSON_AddItemReferenceToObject(root, "patches", r->patches);
    char *s = cJSON_Print(root);
    fprintf(f, "%s\n", s ? s : "{}");
    free(s);
    cJSON_Delete(root);
}

void cli_xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                fputc(*s, f);
        }
    }
}

/* JUnit: a test suite per file, a test case per document, a failure per deny. */
static void print_junit(const check_report *r, FILE *f)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"streamguard check\" "
               "tests=\"%d\" failures=\"%d\" errors=\"%d\">\n",
            r->documents, r->denied, cJSON_GetArraySize(r->errors));
    const cJSON *d, *res;
    const char *file = NULL;
    cJSON_ArrayForEach(d, r->docs) {
        if (file == NULL || strcmp(file, str(d, "file")) != 0) {
            if (file != NULL)
                fprintf(f, "  </testsuite>\n");
            file = str(d, "file");
            fprintf(f, "  <testsuite name=\"");
            cli_xml_escape(f, file);
            fprintf(f, "\">\n");
        }
        fprintf(f, "    <testcase classname=\"");
        cli_xml_escape(f, file);
        fprintf(f, "\" name=\"document %d: %s ", num(d, "document"), str(d, "kind"));
        cli_xml_escape(f, str(d, "namespace"));
        fprintf(f, "%s", str(d, "namespace")[0] ? "/" : "");
        cli_xml_escape(f, str(d, "name"));
        fprintf(f, "\">\n");
        cJSON_ArrayForEach(res, r->results) {
            if (strcmp(str(res, "file"), file) != 0 || num(res, "document") != num(d, "document") ||
                strcmp(str(res, "name"), str(d, "name")) != 0)
                continue;
            bool deny = strcmp(str(res, "action"), "deny") == 0;
            fprintf(f, deny ? "      <failure message=\"" : "      <system-out>");
            cli_xml_escape(f, str(res, "message"));
            fprintf(f, deny ? "\" type=\"%s\">line %d</failure>\n" : " (%s, line %d)</system-out>\n",
                    str(res, "policy"), num(res, "line"));
        }
        fprintf(f, "    </testcase>\n");
    }
    if (file != NULL)
        fprintf(f, "  </testsuite>\n");
    cJSON_ArrayForEach(res, r->errors) {
        fprintf(f, "  <testsuite name=\"input errors\"><testcase name=\"");
        cli_xml_escape(f, str(res, "file"));
        fprintf(f, "\"><error message=\"");
        cli_xml_escape(f, str(res, "message"));
        fprintf(f, "\">line %d</error></testcase></testsuite>\n", num(res, "line"));
    }
    fprintf(f, "</testsuites>\n");
}

/* SARIF 2.1.0: one run, a rule per policy, a result per finding and per input error. */
static void print_sarif(const check_report *r, FILE *f)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    cJSON_AddStringToObject(root, "version", "2.1.0");
    cJSON *run = cJSON_CreateObject(), *driver = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "runs"), run);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(run, "tool"), "driver", driver);
    cJSON_AddStringToObject(driver, "name", "streamguard");
    cJSON_AddStringToObject(driver, "version", STREAMGUARD_VERSION);
    cJSON *rules = cJSON_AddArrayToObject(driver, "rules"), *results = cJSON_AddArrayToObject(run, "results");
    const cJSON *it;
    cJSON_ArrayForEach(it, r->results) {
        const char *pol = str(it, "policy");
        bool known = false;
        const cJSON *rule;
        cJSON_ArrayForEach(rule, rules) known |= strcmp(str(rule, "id"), pol) == 0;
        if (!known) {
            cJSON *nr = cJSON_CreateObject();
            cJSON_AddStringToObject(nr, "id", pol);
            cJSON_AddItemToArray(rules, nr);
        }
        cJSON *res = cJSON_CreateObject();
        const char *act = str(it, "action");
        cJSON_AddStringToObject(res, "ruleId", pol);
        cJSON_AddStringToObject(res, "level", strcmp(act, "deny") == 0 ? "error" : strcmp(act, "warn") == 0 ? "warning" : "note");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(res, "message"), "text", str(it, "message"));
        cJSON *loc = cJSON_CreateObject(), *phys = cJSON_AddObjectToObject(loc, "physicalLocation");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(phys, "artifactLocation"), "uri", str(it, "file"));
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(phys, "region"), "startLine",
                                num(it, "line") > 0 ? num(it, "line") : 1);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(res, "locations"), loc);
        cJSON_AddItemToArray(results, res);
    }
    char *s = cJSON_Print(root);
    fprintf(f, "%s\n", s ? s : "{}");
    free(s);
    cJSON_Delete(root);
}

int check_report_finish(check_report *r, FILE *f)
{
    switch (r->fmt) {
    case CHECK_TEXT: print_text(r, f); break;
    case CHECK_JSON: print_json(r, f); break;
    case CHECK_JUNIT: print_junit(r, f); break;
    case CHECK_SARIF: print_sarif(r, f); break;
    }
    if (r->fmt != CHECK_TEXT && r->fmt != CHECK_JSON) {
        const cJSON *e;
        cJSON_ArrayForEach(e, r->errors)
            fprintf(stderr, "%s:%d: error: %s\n", str(e, "file"), num(e, "line"), str(e, "message"));
    }
    int rc = cJSON_GetArraySize(r->errors) > 0 ? 2 : r->refused > 0 ? 1 : 0;
    cJSON_Delete(r->results);
    cJSON_Delete(r->errors);
    cJSON_Delete(r->patches);
    cJSON_Delete(r->docs);
    free(r);
    return rc;
}
