/* kube_write.c KUBECONFIG - every write of the API client (src/kube/client.h, kube_write)
 * against the real kube-apiserver, on a ConfigMap "streamguard-e2e-write" in default: prints
 * one line per call, "NAME HTTP", and the ConfigMap's data after the patches. Run by
 * tests/e2e/e2e_test.sh, which compares the lines with what kube-apiserver must answer (the
 * Content-Type of each PATCH accepted, 409 on a stale resourceVersion or precondition, 404
 * once deleted). Exits 2 when the client cannot be made. */
#include <stdio.h>
#include <string.h>

#include "kube/client.h"
#include "kube/config.h"

#define COLL "/api/v1/namespaces/default/configmaps"
#define OBJ COLL "/streamguard-e2e-write"
#define CM "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":" \
           "\"streamguard-e2e-write\""

static const struct {
    const char *name;
    enum kube_method m;
    const char *path, *body;
} calls[] = {
    {"post", KUBE_POST, COLL, CM "},\"data\":{\"a\":\"1\"}}"},
    {"post-again", KUBE_POST, COLL, CM "}}"},
    {"put-stale", KUBE_PUT, OBJ, CM ",\"resourceVersion\":\"1\"},\"data\":{\"a\":\"2\"}}"},
    {"put", KUBE_PUT, OBJ, CM "},\"data\":{\"a\":\"2\"}}"},
    {"patch-merge", KUBE_PATCH_MERGE, OBJ, "{\"data\":{\"b\":\"3\"}}"},
    {"patch-json", KUBE_PATCH_JSON, OBJ, "[{\"op\":\"add\",\"path\":\"/data/c\",\"value\":\"4\"}]"},
    {"patch-strategic", KUBE_PATCH_STRATEGIC, OBJ, "{\"data\":{\"d\":\"5\"}}"},
    {"patch-apply", KUBE_PATCH_APPLY, OBJ "?fieldManager=streamguard-e2e&force=true",
     CM "},\"data\":{\"e\":\"6\"}}"},
    {"delete-stale", KUBE_DELETE, OBJ, "{\"preconditions\":{\"resourceVersion\":\"1\"}}"},
    {"delete", KUBE_DELETE, OBJ, NULL},
    {"delete-again", KUBE_DELETE, OBJ, NULL},
};

int main(int argc, char **argv)
{
    diag_list dl;
    diag_list_init(&dl);
    kube_config cfg;
    kube_client *c = NULL;
    if (argc != 2 || kube_config_load(argv[1], NULL, &cfg, &dl) != 0) {
        fprintf(stderr, "usage: kube_write KUBECONFIG\n");
        return 2;
    }
    c = kube_client_new(&cfg, &dl);
    kube_config_free(&cfg);
    if (c == NULL) {
        fprintf(stderr, "kube_write: %s\n", dl.count ? dl.items[0].msg : "no client");
        diag_list_clear(&dl);
        return 2;
    }
    kube_response r;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const char *b = calls[i].body;
        kube_write(c, calls[i].m, calls[i].path, b, b ? strlen(b) : 0, 10000, &r);
        printf("%s %ld\n", calls[i].name, r.http);
        if (r.http == 0 || r.http >= 300)
            fprintf(stderr, "%s: %s\n", calls[i].name, r.error);
        kube_response_free(&r);
        if (strcmp(calls[i].name, "patch-apply") == 0) {
            /* What the patches made, before it is deleted. */
            kube_get(c, OBJ, 10000, &r);
            const char *d = r.body ? strstr(r.body, "\"data\":") : NULL;
            const char *end = d ? strchr(d, '}') : NULL;
            printf("data %.*s\n", end ? (int)(end - d + 1) : 1, d ? d : "-");
            kube_response_free(&r);
        }
    }
    kube_client_free(c);
    diag_list_clear(&dl);
    return 0;
}
