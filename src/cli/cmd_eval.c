/* cmd_eval.c - 'streamguard eval': evaluate one expression against JSON inputs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../expr/expr.h"
#include "../policy/functions.h"
#include "../policy/yamldoc.h"
#include "../util/buf.h"
#include "../util/file.h"
#include "../util/utf8.h"
#include "cli.h"
#include "diagprint.h"

#define INPUT_MAX ((size_t)8 << 20)
#define MAX_BINDINGS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: streamguard eval EXPR [--object FILE] [--old-object FILE] [--params FILE]\n"
            "                            [--bindings FILE] [--typed]\n"
            "\n"
            "Evaluates one CEL expression and prints its value as JSON.\n"
            "Bindings: object, oldObject, params (files; absent ones are null), request\n"
            "(null) and variables (an empty map), plus those of --bindings. Functions: standard\n"
            "CEL, two-variable comprehensions, format(), and the Kubernetes string, list,\n"
            "quantity, url, ip and cidr libraries (docs/cel-compat.md);\n"
            "flinkMemory, flinkResourceMemory, jvmMemory, flinkConfig, and Flink's reading of\n"
            "paths and option values: flinkPath, flinkConfValue, javaTrim, javaUpper,\n"
            "flinkHaModes\n"
            "(docs/expr.md).\n"
            "\n"
            "options:\n"
            "  --object FILE      the object: JSON, or YAML of one document\n"
            "  --old-object FILE  the old object, likewise\n"
            "  --params FILE      the policy parameters, likewise\n"
            "  --bindings FILE    more variables: a JSON object of name -> value in the tagged\n"
            "                     form of the cel-spec vectors, e.g. {\"x\": {\"int\": \"5\"}}\n"
            "                     (a name such as object replaces its default; a name given\n"
            "                     twice is an error)\n"
            "  --typed            print the value in that tagged form ({\"int\":\"5\"})\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit codes: 0 a value, 1 an evaluation error, 2 a syntax, usage or input error.\n");
}

/* Reads a JSON file, or else a YAML file of one document. */
static cJSON *read_input(const char *path, diag_list *dl)
{
    buf b;
    buf_init(&b, INPUT_MAX);
    if (file_read(path, INPUT_MAX, &b, dl) != 0)
        return NULL;
    const char *end = NULL;
    cJSON *j = NULL;
    /* cJSON would cut a string at a NUL (a byte or a \u0000 escape); the YAML reader (JSON is
     * YAML) refuses it with its line. */
    if (utf8_json_find_nul(b.data, b.len) < 0)
        j = cJSON_ParseWithLengthOpts(b.data, b.len + 1, &end, 1);
    if (j == NULL) {
        arena *a = arena_new(ARENA_REQUEST_BUDGET);
        ydoc *docs = NULL;
        size_t partial;
        long n = a ? yaml_load(a, path, b.data, b.len, &docs, &partial, dl) : -1;
        srcpos at = {.file = path};
        if (n == 0 || n > 1)
            diag_add(dl, DIAG_ERROR, "input.yaml", &at,
                     "expected one YAML or JSON document, found %ld", n);
        else if (n == 1)
            j = yaml_to_json(docs[0].root, path, dl);
        arena_free(a);
    }
    buf_clear(&b);
    return j;
}

struct inputs {
    cJSON *object, *old_object, *params, *bindings;
};

static void inputs_free(struct inputs *in)
{
    cJSON_Delete(in->object);
    cJSON_Delete(in->old_object);
    cJSON_Delete(in->params);
    cJSON_Delete(in->bindings);
}

/* true when 'name' can be written in an expression: a CEL identifier, or several joined by
 * dots (a qualified name such as "a.b", which CEL resolves as one binding). */
static bool is_binding_name(const char *name)
{
    const char *s = name;
    for (;;) {
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return false;
        while (*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
               (*s >= '0' && *s <= '9'))
            s++;
        if (*s == '\0')
            return true;
        if (*s++ != '.')
            return false;
    }
}

/* Fills the bindings; returns their count, or -1 with diags. The five built-in names start
 * with their defaults (files, or null and an empty map); a --bindings entry of the same name
 * replaces its default in place, as docs/cli.md says, rather than being shadowed by it (the
 * evaluator takes the first binding of a name). A name given both as a file option and in
 * --bindings, given twice, or that no expression could refer to is an input error. */
static int bind(const struct inputs *in, arena *a, const char **names, expr_binding *vars,
                diag_list *dl)
{
    static cJSON empty_map = {.type = cJSON_Object};
    const cJSON *files[] = {in->object, in->old_object, in->params};
    int n = 0;
    vars[n++] = (expr_binding){"object", expr_from_json(in->object)};
    vars[n++] = (expr_binding){"oldObject", expr_from_json(in->old_object)};
    vars[n++] = (expr_binding){"params", expr_from_json(in->params)};
    vars[n++] = (expr_binding){"request", expr_from_json(NULL)};
    vars[n++] = (expr_binding){"variables", expr_from_json(&empty_map)};
    const int n_defaults = n;
    bool given[5] = {false, false, false, false, false};
    if (in->bindings != NULL && !cJSON_IsObject(in->bindings)) {
        diag_add(dl, DIAG_ERROR, "input.bindings", NULL, "--bindings must hold a JSON object");
        return -1;
    }
    for (const cJSON *b = in->bindings ? in->bindings->child : NULL; b; b = b->next) {
        if (!is_binding_name(b->string)) {
            diag_add(dl, DIAG_ERROR, "input.bindings", NULL,
                     "binding '%s': not a name an expression can use (letters, digits and '_', "
                     "not starting with a digit, or such names joined by '.')", b->string);
            return -1;
        }
        int slot = n;
        for (int i = 0; i < n; i++) {
            if (strcmp(vars[i].name, b->string) != 0)
                continue;
            if (i >= n_defaults || given[i] || (i < 3 && files[i] != NULL)) {
                diag_add(dl, DIAG_ERROR, "input.bindings", NULL, "binding '%s' is given twice%s",
                         b->string, i < 3 && files[i] != NULL && !given[i]
                                        ? " (by its file option and by --bindings)" : "");
                return -1;
            }
            slot = i;
            given[i] = true;
        }
        if (slot == n && n == MAX_BINDINGS) {
            diag_add(dl, DIAG_ERROR, "input.bindings", NULL, "more than %d bindings", MAX_BINDINGS);
            return -1;
        }
        expr_value v = expr_from_typed_json(b, a);
        if (v.kind == EXPR_ERROR) {
            diag_add(dl, DIAG_ERROR, "input.bindings", NULL, "binding '%s': %s", b->string,
                     v.v.err->msg);
            return -1;
        }
        vars[slot] = (expr_binding){b->string, v};
        if (slot == n)
            n++;
    }
    for (int i = 0; i < n; i++)
        names[i] = vars[i].name;
    return n;
}

static int run(const char *src, const struct inputs *in, bool typed)
{
    int rc = 2;
    size_t len = strlen(src);
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    diag_list dl;
    diag_list_init(&dl);
    const char *names[MAX_BINDINGS];
    expr_binding vars[MAX_BINDINGS];
    int nv = a ? bind(in, a, names, vars, &dl) : -1;
    expr_decls decls = {.vars = names, .n_vars = nv > 0 ? (size_t)nv : 0,
                        .fns = policy_lib.functions, .n_fns = policy_lib.n_functions};
    /* the expression is its own source: its errors are offsets into it */
    diag_source *text = diag_source_new(src, len);
    srcpos at = {.file = "<expr>", .source = text};
    expr_prog *p = nv >= 0 && text ? expr_compile(a, src, len, &decls, &at, &dl) : NULL;
    if (p == NULL) {
        if (text == NULL)
            diag_add(&dl, DIAG_ERROR, "expr.limit", NULL, "out of memory");
        cli_print_diags(&dl, NULL, NULL, stderr);
        goto done;
    }
    expr_env env = {.vars = vars, .n_vars = (size_t)nv, .fn_ctx = policy_lib.ctx_init(a, NULL)};
    expr_value v = expr_eval(p, &env, a);
    if (v.kind == EXPR_ERROR) {
        diag_list_clear(&dl);
        at.offset = v.v.err->span.start;
        diag_add(&dl, DIAG_ERROR, v.v.err->code, &at, "%s", v.v.err->msg);
        cli_print_diags(&dl, NULL, NULL, stderr);
        rc = 1;
        goto done;
    }
    char *out = expr_to_json(&v, typed);
    if (out == NULL) {
        const char *why = expr_json_problem(&v, typed);
        fprintf(stderr, "streamguard eval: the value has no JSON form: %s\n",
                why ? why : "out of memory");
        rc = 1;
        goto done;
    }
    printf("%s\n", out);
    free(out);
    rc = 0;
done:
    diag_list_clear(&dl);
    diag_source_unref(text);
    arena_free(a);
    return rc;
}

int cli_cmd_eval(int argc, char **argv)
{
    static const struct option longs[] = {{"object", required_argument, NULL, 'o'},
                                           {"old-object", required_argument, NULL, 'O'},
                                           {"params", required_argument, NULL, 'p'},
                                           {"bindings", required_argument, NULL, 'b'},
                                           {"typed", no_argument, NULL, 't'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
    const char *files[4] = {NULL, NULL, NULL, NULL};
    bool typed = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'o': files[0] = optarg; break;
        case 'O': files[1] = optarg; break;
        case 'p': files[2] = optarg; break;
        case 'b': files[3] = optarg; break;
        case 't': typed = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "streamguard eval: give exactly one expression\n\n");
        usage(stderr);
        return 2;
    }
    struct inputs in = {0};
    cJSON **slots[4] = {&in.object, &in.old_object, &in.params, &in.bindings};
    diag_list dl;
    diag_list_init(&dl);
    for (int i = 0; i < 4; i++) {
        if (files[i] != NULL && (*slots[i] = read_input(files[i], &dl)) == NULL) {
            cli_print_diags(&dl, NULL, NULL, stderr);
            diag_list_clear(&dl);
            inputs_free(&in);
            return 2;
        }
    }
    int rc = run(argv[optind], &in, typed);
    inputs_free(&in);
    return rc;
}
