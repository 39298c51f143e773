/* bench_expr.c - nanoseconds per evaluation of realistic policy expressions.
 *
 * Each expression is compiled once and evaluated N times (default 10^6) against a
 * FlinkDeployment-shaped object with 50 containers; the evaluation arena is reset between
 * runs, as a request's would be. Prints a Markdown table. Usage: bench_expr [N]
 *
 * An expression the library cannot compile (a function an older build lacks) prints "n/a"
 * and the others still run, so that one source measures an old and a new build side by side.
 * The last three take an HA storage directory apart three ways: by hand in CEL (as
 * flink-ha-storage-rwx did before flinkPath()), with Kubernetes' url(), and with flinkPath(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expr/expr.h"
#include "policy/functions.h"

static cJSON *make_object(void)
{
    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"basic-checkpoint-ha-example\"},"
                           "\"spec\":{\"jobManager\":{\"resource\":{\"memory\":\"2048m\",\"cpu\":1}},"
                           "\"resources\":{\"limits\":{\"memory\":\"8Gi\"}},"
                           "\"ha\":{\"storageDir\":\"file:///opt/flink/volume/./flink-ha\"},"
                           "\"podTemplate\":{\"spec\":{\"containers\":[]}}}}");
    cJSON *containers = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
        cJSON_GetObjectItem(o, "spec"), "podTemplate"), "spec"), "containers");
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, i == 49 ? "flink-main-container" : "sidecar-%d", i);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", name);
        cJSON_AddStringToObject(c, "image", "flink:1.20");
        cJSON_AddItemToArray(containers, c);
    }
    return o;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    static const struct { const char *what, *src; } exprs[] = {
        {"field access", "object.spec.jobManager.resource.memory == '2048m'"},
        {"exists over 50 containers",
         "object.spec.podTemplate.spec.containers.exists(c, c.name == 'flink-main-container')"},
        {"regex (DNS-1123 name)", "object.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')"},
        {"quantity comparison",
         "quantity(object.spec.resources.limits.memory).compareTo(quantity('64Gi')) <= 0"},
        {"Flink memory vs quantity",
         "flinkMemory(object.spec.jobManager.resource.memory).isLessThan(quantity('1024Mi'))"},
        {"optional chain with default",
         "object.spec.?flinkConfiguration['scheduler-mode'].orValue('').upperAscii() == 'REACTIVE'"},
        {"URI split by hand (scheme, path)",
         "cel.bind(uri, object.spec.ha.storageDir, cel.bind(abs, uri.startsWith('/'),"
         " cel.bind(rest, abs ? uri : uri.substring(uri.indexOf(':') + 1),"
         " cel.bind(parts, (!rest.startsWith('//') ? rest : cel.bind(auth, rest.substring(2),"
         " auth.indexOf('/') < 0 ? '/' : auth.substring(auth.indexOf('/'))))"
         ".split('/').filter(s, s != '' && s != '.'),"
         " [abs ? 'file' : uri.matches('^[A-Za-z][A-Za-z0-9+.-]*:')"
         " ? uri.substring(0, uri.indexOf(':')).lowerAscii() : '', '/' + parts.join('/')]))))"},
        {"URI by url() (scheme, path)",
         "cel.bind(u, url(object.spec.ha.storageDir), [u.getScheme(), u.getEscapedPath()])"},
        {"URI by flinkPath() (scheme, path)",
         "cel.bind(p, flinkPath(object.spec.ha.storageDir), [p.scheme, p.path])"},
    };
    static const char *const vars[] = {"object"};
    expr_decls decls = {.vars = vars, .n_vars = 1, .fns = policy_functions,
                        .n_fns = policy_n_functions};
    cJSON *obj = make_object();
    expr_binding b[] = {{"object", expr_from_json(obj)}};
    expr_env env = {.vars = b, .n_vars = 1};
    printf("| expression | ns per evaluation | result |\n|---|---:|---|\n");
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        arena *pa = arena_new(1 << 20), *a = arena_new(ARENA_REQUEST_BUDGET);
        diag_list dl;
        diag_list_init(&dl);
        expr_prog *p = expr_compile(pa, exprs[i].src, strlen(exprs[i].src), &decls, NULL, &dl);
        if (p == NULL) {
            printf("| %s | n/a | not compiled: %s |\n", exprs[i].what,
                   dl.count ? dl.items[0].msg : "?");
            diag_list_clear(&dl);
            arena_free(a);
            arena_free(pa);
            continue;
        }
        char *result = NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long k = 0; k < n; k++) {
            expr_value v = expr_eval(p, &env, a);
            if (k == 0)
                result = expr_to_json(&v, false);
            arena_reset(a);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n;
        printf("| %s: `%s` | %.0f | %s |\n", exprs[i].what, exprs[i].src, ns, result ? result : "error");
        free(result);
        diag_list_clear(&dl);
        arena_free(a);
        arena_free(pa);
    }
    cJSON_Delete(obj);
    return 0;
}
