/* check_ci.c - the report of streamguard check in the forms CI tools read: JUnit XML (GitLab,
 * Jenkins) and SARIF 2.1.0 (GitHub code scanning); see check_out.h.
 *
 * JUnit readers count what they are given: GitLab shows one line per <testcase> and Jenkins
 * takes a suite's tests/failures/errors as they are, so every count is computed from the
 * test cases that are printed, one per document and policy (a document no policy matched is
 * one passing case, an input error an <error> case, a skipped document a <skipped> case).
 * GitHub reads a SARIF rule's texts for its alert pages and resolves a result's artifact URI
 * against the repository root, so every loaded policy is a rule and a file under the SARIF
 * root is named relative to it. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/version.h"
#include "check_out_int.h"

/* ---- JUnit ---- */

/* One test case: a document and a policy, an input error, or a skipped document. */
typedef struct junit_case {
    const cJSON *doc;    /* the document's entry, or NULL */
    const char *policy;  /* NULL: the document as a whole */
    const cJSON *error;  /* an input error, or NULL */
    const cJSON *skip;   /* a skipped document, or NULL */
    double seconds;
    bool failed;
} junit_case;

typedef struct junit_suite {
    junit_case *cases;
    size_t n, cap;
    int failures, errors, skipped;
    double seconds;
} junit_suite;

static void suite_add(junit_suite *s, junit_case c)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        junit_case *p = realloc(s->cases, cap * sizeof *p);
        if (p == NULL)
            return; /* out of memory: the case is left out, and so are its counts */
        s->cases = p;
        s->cap = cap;
    }
    s->cases[s->n++] = c;
    s->failures += c.failed;
    s->errors += c.error != NULL;
    s->skipped += c.skip != NULL;
    s->seconds += c.seconds;
}

/* True when the document entry 'd' has a deny of 'policy' among its results. */
static bool denied_by(const check_report *r, const cJSON *d, const char *policy)
{
    int first = check_num(d, "first"), count = check_num(d, "count");
    for (int i = first; i < first + count; i++) {
        const cJSON *res = cJSON_GetArrayItem(r->results, i);
        if (strcmp(check_str(res, "policy"), policy) == 0 &&
            strcmp(check_str(res, "action"), "deny") == 0)
            return true;
    }
    return false;
}

/* The test cases of 'file', in the order of its documents, then its errors and skips. */
static void suite_of(const check_report *r, const char *file, junit_suite *s)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, r->docs) {
        if (strcmp(check_str(it, "file"), file) != 0)
            continue;
        const cJSON *pols = cJSON_GetObjectItemCaseSensitive(it, "policies");
        int n = cJSON_GetArraySize(pols);
        double each = cJSON_GetObjectItemCaseSensitive(it, "seconds")->valuedouble / (n ? n : 1);
        if (n == 0)
            suite_add(s, (junit_case){.doc = it, .seconds = each});
        const cJSON *p;
        cJSON_ArrayForEach(p, pols)
            suite_add(s, (junit_case){.doc = it, .policy = p->valuestring, .seconds = each,
                                      .failed = denied_by(r, it, p->valuestring)});
    }
    cJSON_ArrayForEach(it, r->errors)
        if (strcmp(check_str(it, "file"), file) == 0)
            suite_add(s, (junit_case){.error = it});
    cJSON_ArrayForEach(it, r->skipped)
        if (strcmp(check_str(it, "file"), file) == 0)
            suite_add(s, (junit_case){.skip = it});
}

/* The test case's name: "document 2: FlinkDeployment team-a/web [policy]". */
static void case_name(FILE *f, const junit_case *c)
{
    const cJSON *d = c->doc ? c->doc : c->error ? c->error : c->skip;
    int index = check_num(d, "document");
    if (index > 0)
        fprintf(f, "document %d", index);
    else
        fputs("file", f);
    if (c->doc != NULL) {
        fprintf(f, ": ");
        cli_xml_escape(f, check_str(d, "kind"));
        fputc(' ', f);
        if (check_str(d, "namespace")[0]) {
            cli_xml_escape(f, check_str(d, "namespace"));
            fputc('/', f);
        }
        cli_xml_escape(f, check_str(d, "name"));
    }
    if (c->policy != NULL) {
        fputs(" [", f);
        cli_xml_escape(f, c->policy);
        fputc(']', f);
    }
}

/* The findings of the case's policy on its document: denies in one <failure>, the others
 * in <system-out>. */
static void case_findings(const check_report *r, FILE *f, const junit_case *c)
{
    int first = check_num(c->doc, "first"), count = check_num(c->doc, "count");
    for (int pass = 0; pass < 2; pass++) {
        bool open = false;
        for (int i = first; i < first + count; i++) {
            const cJSON *res = cJSON_GetArrayItem(r->results, i);
            bool deny = strcmp(check_str(res, "action"), "deny") == 0;
            if (strcmp(check_str(res, "policy"), c->policy) != 0 || deny != (pass == 0))
                continue;
            if (!open && deny) {
                fprintf(f, "      <failure type=\"deny\" message=\"");
                cli_xml_escape(f, check_str(res, "message"));
                fprintf(f, "\">");
            } else if (!open) {
                fprintf(f, "      <system-out>");
            }
            open = true;
            cli_xml_escape(f, check_str(res, "file")); /* any bytes, '<' and '&' included */
            fprintf(f, ":%d: %s ", check_num(res, "line"), check_str(res, "action"));
            cli_xml_escape(f, check_str(res, "message"));
            fputc('\n', f);
        }
        if (open)
            fprintf(f, pass == 0 ? "</failure>\n" : "</system-out>\n");
    }
}

static void print_case(const check_report *r, FILE *f, const char *file, const junit_case *c)
{
    fprintf(f, "    <testcase classname=\"");
    cli_xml_escape(f, file);
    fprintf(f, "\" name=\"");
    case_name(f, c);
    fprintf(f, "\" file=\"");
    cli_xml_escape(f, file);
    fprintf(f, "\" time=\"%.6f\">\n", c->seconds);
    if (c->error != NULL) {
        fprintf(f, "      <error type=\"input\" message=\"");
        cli_xml_escape(f, check_str(c->error, "message"));
        fprintf(f, "\">line %d: ", check_num(c->error, "line"));
        cli_xml_escape(f, check_str(c->error, "message"));
        fprintf(f, "</error>\n");
    } else if (c->skip != NULL) {
        fprintf(f, "      <skipped message=\"not a Kubernetes object: ");
        cli_xml_escape(f, check_str(c->skip, "reason"));
        fprintf(f, "\"/>\n");
    } else if (c->policy != NULL) {
        case_findings(r, f, c);
    }
    fprintf(f, "    </testcase>\n");
}

/* A test suite per file (in the order files were first reported), a test case per document
 * and policy; every count is that of the cases printed. */
void check_print_junit(const check_report *r, FILE *f)
{
    cJSON *files = cJSON_CreateArray();
    const cJSON *lists[] = {r->docs, r->errors, r->skipped}, *it;
    for (size_t l = 0; l < 3; l++)
        cJSON_ArrayForEach(it, lists[l]) {
            const cJSON *seen;
            bool known = false;
            cJSON_ArrayForEach(seen, files)
                known |= strcmp(seen->valuestring, check_str(it, "file")) == 0;
            if (!known)
                cJSON_AddItemToArray(files, cJSON_CreateString(check_str(it, "file")));
        }
    size_t nf = (size_t)cJSON_GetArraySize(files), i = 0;
    junit_suite *suites = calloc(nf ? nf : 1, sizeof *suites);
    junit_suite all = {0};
    cJSON_ArrayForEach(it, files) {
        if (suites == NULL)
            break;
        suite_of(r, it->valuestring, &suites[i]);
        all.n += suites[i].n;
        all.failures += suites[i].failures;
        all.errors += suites[i].errors;
        all.skipped += suites[i].skipped;
        all.seconds += suites[i].seconds;
        i++;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"streamguard check\" "
               "tests=\"%zu\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.6f\">\n",
            all.n, all.failures, all.errors, all.skipped, all.seconds);
    i = 0;
    cJSON_ArrayForEach(it, files) {
        if (suites == NULL)
            break;
        const junit_suite *s = &suites[i++];
        fprintf(f, "  <testsuite name=\"");
        cli_xml_escape(f, it->valuestring);
        fprintf(f, "\" tests=\"%zu\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.6f\">\n",
                s->n, s->failures, s->errors, s->skipped, s->seconds);
        for (size_t k = 0; k < s->n; k++)
            print_case(r, f, it->valuestring, &s->cases[k]);
        fprintf(f, "  </testsuite>\n");
        free(s->cases);
    }
    fprintf(f, "</testsuites>\n");
    free(suites);
    cJSON_Delete(files);
}

/* ---- SARIF ---- */

/* Appends 's' to 'b' percent-encoded as a URI path: unreserved characters and '/' stay, every
 * other byte (':', ' ', '<', '%', UTF-8) becomes %XX, so that no name can read as a scheme,
 * a query or a fragment. */
static void uri_encode(buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
            buf_append(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 3);
        }
    }
}

/* The artifact URI of 'file' (malloc'd): relative to 'root' (a real path, or NULL when it
 * could not be resolved) when the file is under it, with uriBaseId %SRCROOT% ('*relative');
 * else a file:// URI of its real path; a name that is no file ("<stdin>", an API path of the
 * audit) is encoded as it is. */
static char *artifact_uri(const char *root, const char *file, bool *relative)
{
    buf b;
    buf_init(&b, (size_t)1 << 20);
    char real[PATH_MAX];
    *relative = false;
    if (realpath(file, real) == NULL) {
        while (file[0] == '.' && file[1] == '/')
            file += 2;
        uri_encode(&b, file);
    } else {
        size_t rl = root ? strlen(root) : 0;
        if (root != NULL && strncmp(real, root, rl) == 0 && (real[rl] == '/' || rl == 1)) {
            uri_encode(&b, real + rl + (real[rl] == '/'));
            *relative = true;
        } else {
            buf_append(&b, "file://", 7);
            uri_encode(&b, real);
        }
    }
    char *s = b.data ? strdup(b.data) : strdup("");
    buf_clear(&b);
    return s;
}

/* FNV-1a over the parts, as 16 hex digits: a result's identity that survives a move of its
 * line (GitHub matches alerts across commits by partialFingerprints). */
static void fingerprint(const char *const *parts, size_t n, char out[17])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        for (const char *p = parts[i];; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
            if (*p == '\0')
                break;
        }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static const char *level_of(enum policy_action a)
{
    return a == POLICY_DENY ? "error" : a == POLICY_WARN ? "warning" : "note";
}

static const char *level_of_action(const char *action)
{
    return strcmp(action, "deny") == 0 ? "error" : strcmp(action, "warn") == 0 ? "warning" : "note";
}

static void add_text(cJSON *o, const char *key, const char *text)
{
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, key), "text", text);
}

/* A rule for policy 'p': its description, what it checks and how to fix it (the messages its
 * validations give), a link to its source. */
static cJSON *policy_rule(const policy *p, const char *root, const char *help_base)
{
    cJSON *rule = cJSON_CreateObject();
    const char *desc = p->description ? p->description : p->name;
    cJSON_AddStringToObject(rule, "id", p->name);
    cJSON_AddStringToObject(rule, "name", p->name);
    add_text(rule, "shortDescription", desc);
    buf b;
    buf_init(&b, (size_t)1 << 20);
    /* a policy without validations only mutates: its action never applies */
    const char *does = p->n_validations == 0   ? "mutates"
                       : p->action == POLICY_DENY ? "denies"
                       : p->action == POLICY_WARN ? "warns"
                                                  : "audits";
    buf_printf(&b, "%s (%s, policy %s)", desc, does, p->name);
    add_text(rule, "fullDescription", b.data ? b.data : desc);
    buf_clear(&b);
    buf_printf(&b, "%s\n\nHow to fix:\n", desc);
    size_t fixes = 0;
    for (size_t i = 0; i < p->n_validations; i++)
        if (p->validations[i].message != NULL) {
            buf_printf(&b, "- %s\n", p->validations[i].message);
            fixes++;
        }
    if (fixes == 0 && p->n_validations > 0)
        buf_printf(&b, "- change the object so that the policy's validations hold (%s)\n",
                   p->at.file ? p->at.file : p->name);
    if (p->n_validations == 0)
        buf_printf(&b, "- nothing: the policy fills in defaults (%s)\n",
                   p->at.file ? p->at.file : p->name);
    cJSON *help = cJSON_AddObjectToObject(rule, "help");
    cJSON_AddStringToObject(help, "text", b.data ? b.data : desc);
    cJSON_AddStringToObject(help, "markdown", b.data ? b.data : desc);
    buf_clear(&b);
    bool rel = false;
    char *src = p->at.file ? artifact_uri(root, p->at.file, &rel) : NULL;
    buf_init(&b, (size_t)1 << 20);
    if (src != NULL && rel && help_base != NULL)
        buf_printf(&b, "%s/%s", help_base, src);
    else if (src != NULL && rel) {
        buf_puts(&b, "file://");
        uri_encode(&b, root);
        buf_printf(&b, "%s%s", strcmp(root, "/") != 0 ? "/" : "", src);
    }
    else if (src != NULL && strncmp(src, "file://", 7) == 0)
        buf_printf(&b, "%s", src);
    if (b.data != NULL && b.len > 0)
        cJSON_AddStringToObject(rule, "helpUri", b.data);
    buf_clear(&b);
    free(src);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(rule, "defaultConfiguration"), "level",
                            level_of(p->action));
    cJSON *props = cJSON_AddObjectToObject(rule, "properties");
    cJSON *tags = cJSON_AddArrayToObject(props, "tags");
    cJSON_AddItemToArray(tags, cJSON_CreateString("kubernetes"));
    cJSON_AddItemToArray(tags, cJSON_CreateString("streamguard"));
    cJSON_AddStringToObject(props, "precision", "very-high");
    return rule;
}

/* The index of rule 'id' in 'rules', added (with only its name) when no policy has it. */
static int rule_index(cJSON *rules, const char *id)
{
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, rules) {
        if (strcmp(check_str(it, "id"), id) == 0)
            return i;
        i++;
    }
    cJSON *rule = cJSON_CreateObject();
    cJSON_AddStringToObject(rule, "id", id);
    cJSON_AddStringToObject(rule, "name", id);
    add_text(rule, "shortDescription", id);
    add_text(rule, "fullDescription", id);
    add_text(rule, "help", id);
    cJSON_AddItemToArray(rules, rule);
    return i;
}

/* A location: the artifact of 'file' and a region starting at 'line' (and 'col' when known). */
static cJSON *location(const char *root, const char *file, int line, int col)
{
    cJSON *loc = cJSON_CreateObject(), *phys = cJSON_AddObjectToObject(loc, "physicalLocation");
    cJSON *art = cJSON_AddObjectToObject(phys, "artifactLocation");
    bool rel;
    char *uri = artifact_uri(root, file, &rel);
    cJSON_AddStringToObject(art, "uri", uri ? uri : "");
    if (rel)
        cJSON_AddStringToObject(art, "uriBaseId", "%SRCROOT%");
    free(uri);
    cJSON *region = cJSON_AddObjectToObject(phys, "region");
    cJSON_AddNumberToObject(region, "startLine", line > 0 ? line : 1);
    if (col > 0)
        cJSON_AddNumberToObject(region, "startColumn", col);
    return loc;
}

static cJSON *sarif_result(const char *root, cJSON *rules, const cJSON *it)
{
    cJSON *res = cJSON_CreateObject();
    const char *pol = check_str(it, "policy");
    cJSON_AddStringToObject(res, "ruleId", pol);
    cJSON_AddNumberToObject(res, "ruleIndex", rule_index(rules, pol));
    cJSON_AddStringToObject(res, "level", level_of_action(check_str(it, "action")));
    add_text(res, "message", check_str(it, "message"));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(res, "locations"),
                         location(root, check_str(it, "file"), check_num(it, "line"),
                                  check_num(it, "column")));
    const char *parts[] = {pol, check_str(it, "file"), check_str(it, "kind"),
                           check_str(it, "namespace"), check_str(it, "name"),
                           check_str(it, "message")};
    char fp[17];
    fingerprint(parts, sizeof parts / sizeof parts[0], fp);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(res, "partialFingerprints"),
                            "streamguardFinding/v1", fp);
    return res;
}

/* The run's invocation: successful when every input could be checked; each input error is a
 * notification with its place. */
static cJSON *invocation(const check_report *r, const char *root)
{
    cJSON *inv = cJSON_CreateObject();
    cJSON_AddBoolToObject(inv, "executionSuccessful", cJSON_GetArraySize(r->errors) == 0);
    cJSON *notes = cJSON_AddArrayToObject(inv, "toolExecutionNotifications");
    const cJSON *it;
    cJSON_ArrayForEach(it, r->errors) {
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "level", "error");
        add_text(n, "message", check_str(it, "message"));
        cJSON_AddItemToArray(cJSON_AddArrayToObject(n, "locations"),
                             location(root, check_str(it, "file"), check_num(it, "line"), 0));
        cJSON_AddItemToArray(notes, n);
    }
    return inv;
}

/* SARIF 2.1.0: one run, a rule per loaded policy, a result per finding, input errors as the
 * invocation's notifications. */
void check_print_sarif(const check_report *r, FILE *f)
{
    char root[PATH_MAX];
    const char *rootp = realpath(r->sarif_root ? r->sarif_root : ".", root);
    cJSON *top = cJSON_CreateObject();
    cJSON_AddStringToObject(top, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    cJSON_AddStringToObject(top, "version", "2.1.0");
    cJSON *run = cJSON_CreateObject(), *driver = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(top, "runs"), run);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(run, "tool"), "driver", driver);
    cJSON_AddStringToObject(driver, "name", "streamguard");
    cJSON_AddStringToObject(driver, "version", STREAMGUARD_VERSION);
    cJSON_AddStringToObject(driver, "semanticVersion", STREAMGUARD_VERSION);
    cJSON *rules = cJSON_AddArrayToObject(driver, "rules");
    size_t np = 0;
    const policy *pols = r->set ? policy_set_items(r->set, &np) : NULL;
    for (size_t i = 0; i < np; i++)
        cJSON_AddItemToArray(rules, policy_rule(&pols[i], rootp, r->sarif_help_base));
    if (rootp != NULL) {
        buf b;
        buf_init(&b, (size_t)1 << 20);
        buf_append(&b, "file://", 7);
        uri_encode(&b, rootp);
        if (strcmp(rootp, "/") != 0)
            buf_append(&b, "/", 1);
        cJSON *base = cJSON_AddObjectToObject(cJSON_AddObjectToObject(run, "originalUriBaseIds"),
                                              "%SRCROOT%");
        cJSON_AddStringToObject(base, "uri", b.data ? b.data : "file:///");
        buf_clear(&b);
    }
    cJSON_AddItemToArray(cJSON_AddArrayToObject(run, "invocations"), invocation(r, rootp));
    cJSON *results = cJSON_AddArrayToObject(run, "results");
    const cJSON *it;
    cJSON_ArrayForEach(it, r->results)
        cJSON_AddItemToArray(results, sarif_result(rootp, rules, it));
    char *s = cJSON_Print(top);
    cli_put_utf8(f, s ? s : "{}");
    fputc('\n', f);
    free(s);
    cJSON_Delete(top);
}
