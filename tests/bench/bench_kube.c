/* bench_kube.c - the watch cache's budgets: memory of 10,000 cached claims, one watch event
 * applied, one lookup.
 *
 * A cache (kube_cache_new_api) watches PersistentVolumeClaims through an API table of this
 * file: its LIST answers N claims (default 10,000) in pages of 500, each made from the claim
 * ha-rwx recorded from kube-apiserver 1.20 (tests/fixtures/kube/pvc-list-page1.json: labels,
 * the last-applied annotation, managedFields of two managers; 1.3 KB as sent) with its name,
 * namespace, uid and resourceVersion (and volumeName, when bound) varied, and without kind and
 * apiVersion as LIST items come. Its WATCH then sends
 * MODIFIED events of the same claims, and times each event's handling by the informer (parse,
 * strip, compact copy, swap into the store, live-cache drop). Then lookups of random claims
 * through kube_cache_get, timed in batches of 100.
 *
 *   RSS added: VmRSS after the LIST minus VmRSS before it (the cache already made), both after
 *   the allocator returned what it could (mi_collect, malloc_trim). Budget 24 MiB.
 *   event applied: median over the events. Budget 100 us.
 *   lookup: median of the batches / 100. Budget 1 us.
 * For comparison it also prints the RSS the same claims take as plain cJSON trees, read from
 * the same pages and stripped the same way (in a child process, so that neither measurement
 * reuses memory the other freed).
 * Exit status 1 when a budget is exceeded.
 *
 * Usage: bench_kube [N_CLAIMS] [N_EVENTS] [N_LOOKUPS] [CLAIM.json] (another claim to copy:
 * one object as a GET answers it, e.g. tests/fixtures/kube-cache/pvc.json, a bound claim) */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kube/cache_int.h"
#include "util/diag.h"
#include "util/file.h"
#include "util/log.h"
#include "bench_util.h"

void mi_collect(bool force) __attribute__((weak)); /* when mimalloc is the allocator */

#define PAGE 500

static cJSON *template;
static long n_claims = 10000, n_events = 20000;
static double *event_us;
static atomic_int phase; /* 0 listing, 1 events may start, 2 events done */

static long rss_kib(void)
{
    if (mi_collect != NULL)
        mi_collect(true);
    malloc_trim(0);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return kib;
}

/* Claim 'i' as text: a LIST item (no kind/apiVersion) or a whole object. */
static char *claim(long i, long rv, bool item)
{
    cJSON *c = cJSON_Duplicate(template, 1);
    cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "metadata");
    char s[96];
    snprintf(s, sizeof s, "data-flink-job-%05ld", i);
    cJSON_ReplaceItemInObjectCaseSensitive(m, "name", cJSON_CreateString(s));
    snprintf(s, sizeof s, "team-%02ld", i % 20);
    cJSON_ReplaceItemInObjectCaseSensitive(m, "namespace", cJSON_CreateString(s));
    snprintf(s, sizeof s, "%08lx-8a4b-4c1e-9d7a-%012lx", i * 2654435761u % 0xffffffffu, rv);
    cJSON_ReplaceItemInObjectCaseSensitive(m, "uid", cJSON_CreateString(s));
    snprintf(s, sizeof s, "%ld", rv);
    cJSON_ReplaceItemInObjectCaseSensitive(m, "resourceVersion", cJSON_CreateString(s));
    snprintf(s, sizeof s, "pvc-%08lx-5b1c-4f0e-a0d4-%012ld", i * 40503u % 0xffffffffu, i);
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(c, "spec");
    if (cJSON_HasObjectItem(spec, "volumeName")) /* a bound claim: its volume is its own */
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "volumeName", cJSON_CreateString(s));
    if (item) {
        cJSON_DeleteItemFromObjectCaseSensitive(c, "kind");
        cJSON_DeleteItemFromObjectCaseSensitive(c, "apiVersion");
    }
    char *text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return text;
}

/* The LIST page of the claims from 'start' (PAGE of them, as the API server sends items:
 * without kind and apiVersion), parsed; its text is made one page at a time, so the text of
 * the whole list never sits in memory. */
static cJSON *list_page(long start)
{
    buf page;
    buf_init(&page, 1 << 26);
    buf_puts(&page, "{\"kind\":\"PersistentVolumeClaimList\",\"apiVersion\":\"v1\","
                    "\"metadata\":{\"resourceVersion\":\"1000\"},\"items\":[");
    for (long i = start; i < start + PAGE && i < n_claims; i++) {
        char *t = claim(i, 100 + i, true);
        buf_printf(&page, "%s%s", i > start ? "," : "", t);
        free(t);
    }
    buf_puts(&page, "]}");
    cJSON *doc = cJSON_ParseWithLength(page.data, page.len);
    buf_clear(&page);
    return doc;
}

static int api_discover(void *arg, const char *api_version, const char *kind, long timeout_ms,
                        kube_resource *out, char error[512])
{
    (void)arg, (void)api_version, (void)kind, (void)timeout_ms, (void)error;
    memset(out, 0, sizeof *out);
    snprintf(out->base, sizeof out->base, "/api/v1");
    snprintf(out->plural, sizeof out->plural, "persistentvolumeclaims");
    out->namespaced = true;
    return 0;
}

static int api_path(const kube_resource *res, const char *ns, const char *name, char *out,
                    size_t cap)
{
    (void)ns, (void)name;
    return snprintf(out, cap, "%s/%s", res->base, res->plural);
}

static int api_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    (void)arg, (void)path, (void)timeout_ms;
    memset(r, 0, sizeof *r);
    r->http = 404;
    return -1;
}

static int api_list(void *arg, const char *path, long limit, long timeout_ms,
                    int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv, size_t rv_cap,
                    kube_response *r)
{
    (void)arg, (void)path, (void)limit, (void)timeout_ms;
    memset(r, 0, sizeof *r);
    for (long start = 0; start < n_claims; start += PAGE) {
        cJSON *doc = list_page(start);
        cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
        while (cJSON_GetArraySize(items) > 0) {
            if (on_item(item_arg, cJSON_DetachItemFromArray(items, 0)) != 0) {
                cJSON_Delete(doc);
                return -1;
            }
        }
        cJSON_Delete(doc);
    }
    snprintf(rv, rv_cap, "1000");
    r->http = 200;
    return 0;
}

/* The first watch sends the events, each timed; then it waits to be stopped. */
static int api_stream(void *arg, const char *path, long idle_timeout_ms,
                      int (*on_line)(void *a, const char *line, size_t len), void *line_arg,
                      const atomic_bool *stop, kube_response *r)
{
    (void)arg, (void)path, (void)idle_timeout_ms;
    memset(r, 0, sizeof *r);
    r->http = 200;
    while (atomic_load(&phase) == 0 && !atomic_load(stop))
        usleep(1000);
    if (atomic_load(&phase) == 1) {
        /* Events made before timing; each timed alone. */
        char **lines = malloc((size_t)n_events * sizeof *lines);
        for (long e = 0; e < n_events; e++) {
            char *obj = claim(e * 7919 % n_claims, 2000 + e, false);
            if (asprintf(&lines[e], "{\"type\":\"MODIFIED\",\"object\":%s}", obj) < 0)
                lines[e] = NULL;
            free(obj);
        }
        for (long e = 0; e < n_events; e++) {
            double t0 = now_us();
            on_line(line_arg, lines[e], strlen(lines[e]));
            event_us[e] = now_us() - t0;
            free(lines[e]);
        }
        free(lines);
        atomic_store(&phase, 2);
    }
    while (!atomic_load(stop))
        usleep(1000);
    return 0;
}

/* The second claim of the recorded LIST page, as a GET or a watch event sends it. */
static cJSON *load_template(const char *path)
{
    buf b;
    buf_init(&b, 1 << 20);
    diag_list dl;
    diag_list_init(&dl);
    cJSON *page = NULL, *c = NULL;
    if (file_read(path, 1 << 20, &b, &dl) == 0)
        page = cJSON_ParseWithLength(b.data, b.len);
    buf_clear(&b);
    diag_list_clear(&dl);
    cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
    if (items == NULL && cJSON_IsObject(page))
        return page; /* one object, as sent */
    if (cJSON_GetArraySize(items) >= 2) {
        c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "kind", "PersistentVolumeClaim");
        cJSON_AddStringToObject(c, "apiVersion", "v1");
        cJSON *item = cJSON_DetachItemFromArray(items, 1);
        while (item->child != NULL) {
            cJSON *m = cJSON_DetachItemViaPointer(item, item->child);
            cJSON_AddItemToObject(c, m->string, m);
        }
        cJSON_Delete(item);
    }
    cJSON_Delete(page);
    return c;
}

/* RSS of the same claims as plain cJSON trees, stripped the same way, measured in a child
 * process so that neither measurement reuses memory the other freed. */
static long plain_trees_kib(void)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0) {
        long kib = -1;
        close(fd[1]);
        if (pid < 0 || read(fd[0], &kib, sizeof kib) != (ssize_t)sizeof kib)
            kib = -1;
        close(fd[0]);
        waitpid(pid, NULL, 0);
        return kib;
    }
    close(fd[0]);
    /* The same pages as api_list, each item detached, stripped and kept. */
    cJSON **v = calloc((size_t)n_claims, sizeof *v);
    long before = rss_kib(), k = 0;
    for (long start = 0; start < n_claims; start += PAGE) {
        cJSON *doc = list_page(start);
        cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
        while (cJSON_GetArraySize(items) > 0) {
            cJSON *it = v[k++] = cJSON_DetachItemFromArray(items, 0);
            cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "metadata");
            cJSON_DeleteItemFromObjectCaseSensitive(m, "managedFields");
            cJSON_DeleteItemFromObjectCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(m, "annotations"),
                "kubectl.kubernetes.io/last-applied-configuration");
        }
        cJSON_Delete(doc);
    }
    long kib = rss_kib() - before;
    ssize_t w = write(fd[1], &kib, sizeof kib);
    _exit(w == (ssize_t)sizeof kib ? 0 : 1);
}

int main(int argc, char **argv)
{
    long n_lookups = 1000000;
    if (argc > 1)
        n_claims = atol(argv[1]);
    if (argc > 2)
        n_events = atol(argv[2]);
    if (argc > 3)
        n_lookups = atol(argv[3]);
    template = load_template(argc > 4 ? argv[4] : "tests/fixtures/kube/pvc-list-page1.json");
    if (template == NULL || n_claims < 1 || n_events < 1 || n_lookups < 100) {
        fprintf(stderr, "usage: bench_kube [N_CLAIMS] [N_EVENTS] [N_LOOKUPS] [CLAIM.json] (run "
                        "from the repository's root)\n");
        return 2;
    }
    char *one = claim(0, 100, false);
    size_t sent = strlen(one);
    free(one);
    event_us = malloc((size_t)n_events * sizeof *event_us);
    long plain = plain_trees_kib();
    log_setup(LOG_FORMAT_LOGFMT, LOG_WARN, 2);

    kube_api api = {.discover = api_discover,
                    .path = api_path,
                    .get = api_get,
                    .list = api_list,
                    .stream = api_stream};
    kube_cache *c = kube_cache_new_api(&api, NULL);
    long rss0 = rss_kib();
    kube_kind k = {.api_version = "v1", .kind = "PersistentVolumeClaim"};
    kube_cache_set_kinds(c, &k, 1);
    while (!kube_cache_synced(c))
        usleep(1000);
    long rss1 = rss_kib();
    kube_obj **v;
    size_t n;
    char why[256];
    size_t bytes = 0;
    arena *la = arena_new(ARENA_REQUEST_BUDGET);
    if (la == NULL ||
        kube_cache_list(c, "v1", "PersistentVolumeClaim", "", la, &v, &n, why) != KUBE_FOUND)
        n = 0;
    for (size_t i = 0; i < n; i++)
        bytes += v[i]->size;
    arena_free(la); /* the array and its references */

    atomic_store(&phase, 1);
    while (atomic_load(&phase) != 2)
        usleep(1000);
    double ev = bench_median(event_us, n_events, NULL);

    long batches = n_lookups / 100;
    double *batch_us = malloc((size_t)batches * sizeof *batch_us);
    uint64_t x = 88172645463325252ull;
    long found = 0;
    for (long b = 0; b < batches; b++) {
        char names[100][32], nss[100][16];
        for (int i = 0; i < 100; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            long id = (long)(x % (uint64_t)n_claims);
            snprintf(names[i], sizeof names[i], "data-flink-job-%05ld", id);
            snprintf(nss[i], sizeof nss[i], "team-%02ld", id % 20);
        }
        double t0 = now_us();
        for (int i = 0; i < 100; i++) {
            kube_obj *o;
            found += kube_cache_get(c, "v1", "PersistentVolumeClaim", nss[i], names[i], &o, why) ==
                     KUBE_FOUND;
            kube_obj_unref(o);
        }
        batch_us[b] = (now_us() - t0) / 100;
    }
    double lk = bench_median(batch_us, batches, NULL);
    kube_cache_free(c);

    double added_mib = (double)(rss1 - rss0) / 1024;
    printf("| measure | value | budget |\n|---|---|---|\n");
    printf("| claim as sent (JSON bytes) | %zu | ~1 KB |\n", sent);
    printf("| object block (bytes, mean; nested lists shared) | %zu | |\n", n ? bytes / n : 0);
    printf("| RSS added by %ld claims | %.1f MiB | 24 MiB |\n", n_claims, added_mib);
    printf("| same claims as plain cJSON trees (stripped) | %.1f MiB | |\n", (double)plain / 1024);
    printf("| watch event applied (median of %ld) | %.1f us | 100 us |\n", n_events, ev);
    printf("| cache lookup (median of %ld batches of 100) | %.3f us | 1 us |\n", batches, lk);
    bool over =
        (n_claims == 10000 && added_mib > 24) || ev > 100 || lk > 1 || found != batches * 100;
    if (found != batches * 100)
        printf("only %ld of %ld lookups found their claim\n", found, batches * 100);
    free(batch_us);
    free(event_us);
    cJSON_Delete(template);
    return over ? 1 : 0;
}
