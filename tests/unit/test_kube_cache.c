/* test_kube_cache.c - the watch caches: compact objects, the store, the informer's state
 * machine on scripted API answers, the live GET and its invalidation, lookups and metrics,
 * and readers racing the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "kube_fake.h"
#include "util/file.h"
#include "util/log.h"
#include "util/clock.h"

#define PVC_FILE "tests/fixtures/kube-cache/pvc.json"

static cJSON *read_json(const char *path)
{
    buf b;
    buf_init(&b, 1 << 20);
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(file_read(path, 1 << 20, &b, &dl), 0);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    buf_clear(&b);
    diag_list_clear(&dl);
    assert_non_null(j);
    return j;
}

/* A claim as a LIST item (no kind, no apiVersion), as one line of text. */
static char *pvc_item(fake *f, const char *ns, const char *name, const char *rv, const char *mode)
{
    return fake_str(f,
                    "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"resourceVersion\":"
                    "\"%s\",\"managedFields\":[{\"manager\":\"kubectl\",\"fieldsType\":"
                    "\"FieldsV1\",\"fieldsV1\":{\"f:spec\":{}}}]},\"spec\":{\"accessModes\":"
                    "[\"%s\"]},\"status\":{\"phase\":\"Bound\"}}",
                    name, ns, rv, mode);
}

static char *pvc_event(fake *f, const char *type, const char *ns, const char *name, const char *rv,
                       const char *mode)
{
    char *item = pvc_item(f, ns, name, rv, mode);
    /* an event's object carries kind and apiVersion */
    return fake_str(f,
                    "{\"type\":\"%s\",\"object\":{\"kind\":\"PersistentVolumeClaim\","
                    "\"apiVersion\":\"v1\",%s}",
                    type, item + 1);
}

/* The same claim as a GET answers it. */
static char *pvc_object(fake *f, const char *ns, const char *name, const char *rv, const char *mode)
{
    return fake_str(f, "{\"kind\":\"PersistentVolumeClaim\",\"apiVersion\":\"v1\",%s",
                    pvc_item(f, ns, name, rv, mode) + 1);
}

static char *list_page(fake *f, const char *rv, const char *cont, const char *items)
{
    return fake_str(f,
                    "{\"kind\":\"PersistentVolumeClaimList\",\"apiVersion\":\"v1\","
                    "\"metadata\":{\"resourceVersion\":\"%s\"%s%s%s},\"items\":[%s]}",
                    rv, cont ? ",\"continue\":\"" : "", cont ? cont : "", cont ? "\"" : "", items);
}

static const char *mode_of(const kube_obj *o)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(kube_obj_json(o), "spec");
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, "accessModes"), 0);
    return cJSON_IsString(m) ? m->valuestring : "?";
}

/* The mode of 'ns'/'name' in the store, or "-" when absent. */
static const char *stored_mode(kube_store *s, const char *ns, const char *name)
{
    static char out[64];
    kube_obj *o = kube_store_get(s, ns, name);
    snprintf(out, sizeof out, "%s", o != NULL ? mode_of(o) : "-");
    kube_obj_unref(o);
    return out;
}

/* ---- compact objects ---------------------------------------------------------------------- */

/* cJSON's own invariants, which its readers (GetArraySize, Print) rely on. */
static void check_links(const cJSON *n)
{
    const cJSON *last = NULL;
    for (const cJSON *c = n->child; c != NULL; c = c->next) {
        if (last != NULL)
            assert_ptr_equal(c->prev, last);
        last = c;
        check_links(c);
    }
    if (n->child != NULL)
        assert_ptr_equal(n->child->prev, last);
}

static void test_compact_equals_stripped(void **state)
{
    (void)state;
    kube_pool *pool = kube_pool_new();
    for (int shared = 0; shared < 2; shared++) {
        cJSON *src = read_json(PVC_FILE); /* hand-made: a bound claim, as 1.20 sends one */
        kube_obj *o = kube_obj_compact(shared ? pool : NULL, src, "v1", "PersistentVolumeClaim");
        assert_non_null(o);
        cJSON *want = cJSON_Duplicate(src, 1);
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(want, "metadata");
        assert_non_null(cJSON_GetObjectItemCaseSensitive(meta, "managedFields"));
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
        cJSON_DeleteItemFromObjectCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
            "kubectl.kubernetes.io/last-applied-configuration");
        assert_true(cJSON_Compare(want, kube_obj_json(o), 1));
        assert_false(cJSON_Compare(src, kube_obj_json(o), 1));
        check_links(kube_obj_json(o));
        char *a = cJSON_PrintUnformatted(want), *b = cJSON_PrintUnformatted(kube_obj_json(o));
        assert_string_equal(a, b); /* same members in the same order */
        assert_string_equal(o->ns, "flink");
        assert_string_equal(o->name, "flink-ha");
        assert_true(o->size < 2 * strlen(a) + 40 * sizeof(cJSON)); /* one block */
        free(a);
        free(b);
        cJSON_Delete(want);
        cJSON_Delete(src);
        kube_obj_unref(o);
    }
    kube_pool_sweep(pool, true);
    assert_int_equal(kube_pool_count(pool), 0);
    kube_pool_unref(pool);
}

/* Objects of one kind share equal nested lists; a list goes when its last object does. */
static void test_compact_shares_lists(void **state)
{
    (void)state;
    kube_pool *pool = kube_pool_new();
    const char *fmt = "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\",\"labels\":"
                      "{\"app\":\"flink\"}},\"spec\":{\"accessModes\":[\"%s\"],\"resources\":"
                      "{\"requests\":{\"storage\":\"1Gi\"}}},\"status\":{\"phase\":\"Bound\"}}";
    kube_obj *o[3];
    const char *names[] = {"a", "b", "c"},
               *modes[] = {"ReadWriteOnce", "ReadWriteOnce", "ReadWriteMany"};
    for (int i = 0; i < 3; i++) {
        char text[512];
        snprintf(text, sizeof text, fmt, names[i], modes[i]);
        cJSON *j = cJSON_Parse(text);
        o[i] = kube_obj_compact(pool, j, "v1", "PersistentVolumeClaim");
        assert_non_null(o[i]);
        cJSON_AddStringToObject(j, "kind", "PersistentVolumeClaim");
        cJSON_AddStringToObject(j, "apiVersion", "v1");
        assert_true(cJSON_Compare(j, kube_obj_json(o[i]), 1));
        check_links(kube_obj_json(o[i]));
        cJSON_Delete(j);
    }
#define CHILD(i, k) cJSON_GetObjectItem(kube_obj_json(o[i]), k)->child
    assert_ptr_equal(CHILD(0, "spec"), CHILD(1, "spec"));
    assert_ptr_not_equal(CHILD(0, "spec"), CHILD(2, "spec"));
    assert_ptr_equal(CHILD(0, "status"), CHILD(2, "status"));
    /* spec.resources is one list for all three */
    assert_ptr_equal(CHILD(0, "spec")->next->child, CHILD(2, "spec")->next->child);
    /* lists: labels, spec x2, accessModes x2, resources, requests, status */
    assert_int_equal(kube_pool_count(pool), 8);
    kube_obj_unref(o[2]);
    kube_pool_sweep(pool, true);
    assert_int_equal(kube_pool_count(pool), 6); /* its spec and accessModes went */
    kube_obj_unref(o[0]);
    kube_pool_sweep(pool, true);
    assert_int_equal(kube_pool_count(pool), 6); /* o[1] holds them */
    assert_string_equal(mode_of(o[1]), "ReadWriteOnce");
    kube_pool_unref(pool); /* the pool's owner goes first: o[1] keeps the pool */
    assert_string_equal(mode_of(o[1]), "ReadWriteOnce");
    kube_obj_unref(o[1]);
#undef CHILD
}

/* kind and apiVersion are added when the object lacks those exact members: members spelt
 * otherwise ("Kind", "APIVERSION", which a CR may carry) are data, not the object's kind. */
static void test_compact_kind_case_sensitive(void **state)
{
    (void)state;
    kube_pool *pool = kube_pool_new();
    for (int shared = 0; shared < 2; shared++) {
        cJSON *src = cJSON_Parse("{\"Kind\":\"x\",\"APIVERSION\":\"y\","
                                 "\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}}");
        assert_non_null(src);
        kube_obj *o = kube_obj_compact(shared ? pool : NULL, src, "v1", "PersistentVolumeClaim");
        assert_non_null(o);
        char *got = cJSON_PrintUnformatted(kube_obj_json(o));
        assert_string_equal(got, "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
                                 "\"Kind\":\"x\",\"APIVERSION\":\"y\","
                                 "\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}}");
        free(got);
        kube_obj_unref(o);
        cJSON_Delete(src);
    }
    kube_pool_unref(pool);
}

static void test_compact_strips_only_there(void **state)
{
    (void)state;
    /* managedFields and the annotation elsewhere are data, kept; a list item gains kind and
     * apiVersion first; an annotations object left empty stays. */
    cJSON *src = cJSON_Parse(
        "{\"metadata\":{\"name\":\"n\",\"annotations\":{\"kubectl.kubernetes.io/"
        "last-applied-configuration\":\"{}\"},\"managedFields\":[]},\"spec\":{\"managedFields\":1,"
        "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":2}},"
        "\"n\":[1.5,true,null,\"x\",{}]}");
    kube_obj *o = kube_obj_compact(NULL, src, "v1", "Node");
    assert_non_null(o);
    cJSON *want = cJSON_Parse(
        "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n\","
        "\"annotations\":{}},\"spec\":{\"managedFields\":1,\"annotations\":{\"kubectl."
        "kubernetes.io/last-applied-configuration\":2}},\"n\":[1.5,true,null,\"x\",{}]}");
    char *got = cJSON_PrintUnformatted(kube_obj_json(o));
    char *exp = cJSON_PrintUnformatted(want);
    assert_string_equal(got, exp);
    check_links(kube_obj_json(o));
    assert_string_equal(o->ns, "");
    free(got);
    free(exp);
    cJSON_Delete(want);
    cJSON_Delete(src);
    kube_obj_unref(o);

    static const char *bad[] = {"[]",
                                "{}",
                                "{\"metadata\":{}}",
                                "{\"metadata\":{\"name\":1}}",
                                "{\"metadata\":{\"name\":\"a\",\"namespace\":[]}}",
                                "{\"metadata\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        if (kube_obj_compact(NULL, j, "v1", "X") != NULL)
            fail_msg("case %zu: %s accepted", i, bad[i]);
        cJSON_Delete(j);
    }
}

/* ---- the store ------------------------------------------------------------------------------ */

/* The store tests' objects share lists through this pool (the test is its writer). */
static kube_pool *mk_pool;

static kube_obj *mk(const char *ns, const char *name, const char *mode)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},\"spec\":{\"accessModes\":"
             "[\"%s\"]}}",
             name, ns, mode);
    cJSON *j = cJSON_Parse(text);
    kube_obj *o = kube_obj_compact(mk_pool, j, "v1", "PersistentVolumeClaim");
    cJSON_Delete(j);
    assert_non_null(o);
    return o;
}

static void test_store_ops(void **state)
{
    (void)state;
    kube_store s;
    assert_int_equal(kube_store_init(&s), 0);
    assert_int_equal(kube_store_put(&s, mk("a", "x", "ReadWriteOnce")), 0);
    assert_int_equal(kube_store_put(&s, mk("b", "x", "ReadWriteMany")), 0);
    assert_string_equal(stored_mode(&s, "a", "x"), "ReadWriteOnce");
    assert_string_equal(stored_mode(&s, "b", "x"), "ReadWriteMany");
    assert_string_equal(stored_mode(&s, "", "x"), "-");

    /* A reference taken before a replace still reads the old object. */
    kube_obj *held = kube_store_get(&s, "a", "x");
    assert_int_equal(kube_store_put(&s, mk("a", "x", "ReadWriteMany")), 0);
    assert_string_equal(stored_mode(&s, "a", "x"), "ReadWriteMany");
    assert_string_equal(mode_of(held), "ReadWriteOnce");
    assert_int_equal(kube_store_count(&s), 2);
    assert_int_equal(kube_store_remove(&s, "a", "x"), 1);
    assert_int_equal(kube_store_remove(&s, "a", "x"), 0);
    assert_string_equal(stored_mode(&s, "a", "x"), "-");
    assert_string_equal(mode_of(held), "ReadWriteOnce");
    kube_obj_unref(held);

    /* Many keys: growth, then removals in a scrambled order keep every probe path intact. */
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(kube_store_put(&s, mk(i % 3 ? "ns1" : "ns2", name, "ReadWriteOnce")), 0);
    }
    for (int k = 0; k < 2000; k++) {
        int i = (k * 7919) % 2000;
        if (i % 2)
            continue;
        snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(kube_store_remove(&s, i % 3 ? "ns1" : "ns2", name), 1);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "c%d", i);
        const char *m = stored_mode(&s, i % 3 ? "ns1" : "ns2", name);
        if (strcmp(m, i % 2 ? "ReadWriteOnce" : "-") != 0)
            fail_msg("c%d: %s", i, m);
    }
    assert_int_equal(kube_store_count(&s), 1001);

    /* The snapshot: one namespace, sorted, its references held by the arena. */
    kube_obj **v;
    size_t n;
    arena *a = arena_new(1 << 20);
    assert_int_equal(kube_store_snapshot(&s, "ns2", a, &v, &n), 0);
    assert_int_equal(n, 333);
    long before = atomic_load(&v[0]->refs);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(v[i]->ns, "ns2");
        if (i > 0)
            assert_true(strcmp(v[i - 1]->name, v[i]->name) < 0);
    }
    kube_obj *first = kube_obj_ref(v[0]);
    arena_reset(a);
    assert_int_equal(atomic_load(&first->refs), before); /* the arena's reference went */
    /* A full arena: no snapshot, and no reference is kept. */
    while (arena_alloc(a, 64) != NULL)
        ;
    assert_int_equal(kube_store_snapshot(&s, "ns2", a, &v, &n), -1);
    assert_null(v);
    assert_int_equal(atomic_load(&first->refs), before);
    arena_free(a);
    assert_int_equal(atomic_load(&first->refs), before);
    /* An arena with room for the array and a few of the references: those it took go when
     * it is freed, the others at once. */
    a = arena_new(1002 * sizeof *v + 10 * 32); /* the array (the table's 1001 + 1) and ~10 */
    assert_int_equal(kube_store_snapshot(&s, "ns2", a, &v, &n), -1);
    assert_int_equal(atomic_load(&first->refs), before + 1); /* the first one was taken */
    arena_free(a);
    assert_int_equal(atomic_load(&first->refs), before);
    kube_obj_unref(first);

    /* A re-list: the new table replaces everything. */
    kube_table *t = kube_table_new();
    assert_int_equal(kube_table_put(t, mk("z", "only", "ReadOnlyMany")), 0);
    assert_int_equal(kube_table_put(t, mk("z", "only", "ReadWriteMany")), 0);
    kube_store_swap(&s, t);
    assert_int_equal(kube_store_count(&s), 1);
    assert_string_equal(stored_mode(&s, "z", "only"), "ReadWriteMany");
    assert_string_equal(stored_mode(&s, "b", "x"), "-");
    kube_store_clear(&s);
}

/* ---- the informer ---------------------------------------------------------------------------- */

typedef struct drops {
    int all, keys;
    char last[128];
} drops;

static void on_changed(void *arg, const kube_kind_stats *k, const char *ns, const char *name)
{
    drops *d = arg;
    (void)k;
    if (ns == NULL) {
        d->all++;
    } else {
        d->keys++;
        snprintf(d->last, sizeof d->last, "%s/%s", ns, name);
    }
}

static kube_kind_stats *pvc_stats(void)
{
    kube_kind_stats *st = calloc(1, sizeof *st);
    snprintf(st->kind.api_version, sizeof st->kind.api_version, "v1");
    snprintf(st->kind.kind, sizeof st->kind.kind, "PersistentVolumeClaim");
    snprintf(st->label, sizeof st->label, "v1/PersistentVolumeClaim");
    return st;
}

static const kube_cache_opts test_opts = {.live_timeout_ms = 1000,
                                          .live_ttl_ms = 60000,
                                          .request_timeout_ms = 1000,
                                          .watch_timeout_s = 60,
                                          .backoff_min_ms = 100,
                                          .backoff_max_ms = 1000};

/* The key announced after a change, as long as the object's (the fuzz target's oracle). */
static void on_changed_key(void *arg, const kube_kind_stats *k, const char *ns, const char *name)
{
    (void)k;
    if (ns != NULL)
        snprintf(arg, 1024, "%s/%s", ns, name);
}

/* A change is announced under the stored object's whole key, however long: a key cut short
 * would leave the live answer of the real key in place (fuzz-kube's oracle, on a 300-byte name). */
static void test_informer_announces_whole_key(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    char ns[301], name[301];
    memset(ns, 'n', 300);
    memset(name, 'm', 300);
    ns[300] = name[300] = '\0';
    f.lists[0].pages[0] = list_page(&f, "10", NULL, "");
    f.n_lists = 1;
    f.streams[0].body =
        fake_str(&f, "%s\n", pvc_event(&f, "ADDED", ns, name, "11", "ReadWriteOnce"));
    f.n_streams = 1;
    kube_api api = fake_api(&f);
    kube_kind_stats *st = pvc_stats();
    char last[1024] = "", want[1024];
    kube_informer *inf = kube_informer_new(&api, &test_opts, st, on_changed_key, last);
    assert_int_equal(kube_informer_step(inf), 0); /* discovery */
    assert_int_equal(kube_informer_step(inf), 0); /* LIST */
    kube_informer_step(inf);                      /* the watch */
    kube_obj *o = kube_store_get(kube_informer_store(inf), ns, name);
    assert_non_null(o);
    kube_obj_unref(o);
    snprintf(want, sizeof want, "%s/%s", ns, name);
    assert_string_equal(last, want);
    kube_informer_free(inf);
    free(st);
    fake_free(&f);
}

static void test_informer_steps(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.discover_fail = 1;
    /* the first LIST: two pages joined by continue */
    f.lists[0].pages[0] =
        list_page(&f, "99", "c1",
                  fake_str(&f, "%s,%s", pvc_item(&f, "ns", "a", "10", "ReadWriteOnce"),
                           pvc_item(&f, "ns", "b", "11", "ReadWriteOnce")));
    f.lists[0].pages[1] =
        list_page(&f, "100", NULL, pvc_item(&f, "ns", "c", "12", "ReadWriteMany"));
    /* the second LIST (after 410) fails once with no answer, then a continue expires */
    f.lists[1].no_answer = true;
    f.lists[2].pages[0] =
        list_page(&f, "200", "c2", pvc_item(&f, "ns", "c", "12", "ReadWriteMany"));
    f.lists[2].pages[1] = list_page(&f, "201", NULL, "");
    f.lists[2].fail_after = 1;
    f.lists[2].http = 410;
    f.lists[3].pages[0] =
        list_page(&f, "300", NULL, pvc_item(&f, "ns", "c", "12", "ReadWriteMany"));
    f.n_lists = 4;
    /* watch 1: ADDED, MODIFIED, DELETED, BOOKMARK, then the server ends it */
    f.streams[0].body = fake_str(
        &f, "%s\n%s\n%s\n%s\n", pvc_event(&f, "ADDED", "ns", "d", "101", "ReadWriteOnce"),
        pvc_event(&f, "MODIFIED", "ns", "a", "102", "ReadWriteMany"),
        pvc_event(&f, "DELETED", "ns", "b", "103", "ReadWriteOnce"),
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"PersistentVolumeClaim\",\"apiVersion\":"
        "\"v1\",\"metadata\":{\"resourceVersion\":\"104\"}}}");
    /* watch 2: an event, then the stream is cut in the middle of the next one */
    f.streams[1].body = fake_str(&f, "%s\n{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"na",
                                 pvc_event(&f, "ADDED", "ns", "e", "105", "ReadWriteOnce"));
    f.streams[1].rc = -1;
    /* watch 3: 410 Gone (etcd compacted past 105) */
    f.streams[2].body = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                        "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource "
                        "version: 105 (150)\",\"reason\":\"Expired\",\"code\":410}}\n";
    /* watch 4: another ERROR: backoff and list again */
    f.streams[3].body = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,"
                        "\"message\":\"etcd unavailable\"}}\n";
    /* watch 5: a line that is not an event */
    f.streams[4].body = "not json\n";
    /* watch 6: an event whose resourceVersion would change the watch's query: not kept */
    f.streams[5].body =
        fake_str(&f, "%s\n", pvc_event(&f, "ADDED", "ns", "q", "1&watch=0", "ReadWriteOnce"));
    f.streams[6].body = "";
    f.n_streams = 7;

    kube_api api = fake_api(&f);
    kube_kind_stats *st = pvc_stats();
    drops d = {0};
    kube_informer *inf = kube_informer_new(&api, &test_opts, st, on_changed, &d);
    kube_store *s = kube_informer_store(inf);

    long ms = kube_informer_step(inf); /* discovery fails: backoff */
    assert_true(ms >= 50 && ms <= 100);
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_FAILED]), 1);
    assert_int_equal(kube_informer_step(inf), 0); /* discovery */
    assert_false(kube_informer_synced(inf));
    assert_int_equal(kube_informer_step(inf), 0); /* LIST, two pages */
    assert_true(kube_informer_synced(inf));
    assert_int_equal(kube_store_count(s), 3);
    assert_int_equal(d.all, 1);
    assert_int_equal(atomic_load(&st->objects), 3);
    assert_true(atomic_load(&st->last_list_ms) > 0);
    kube_obj *c = kube_store_get(s, "ns", "c");
    /* a list item gets the kind and apiVersion a GET would give */
    assert_string_equal(cJSON_GetObjectItem(kube_obj_json(c), "kind")->valuestring,
                        "PersistentVolumeClaim");
    assert_null(
        cJSON_GetObjectItem(cJSON_GetObjectItem(kube_obj_json(c), "metadata"), "managedFields"));
    kube_obj_unref(c);

    assert_int_equal(kube_informer_step(inf), 0); /* watch 1 */
    assert_non_null(strstr(f.stream_path[0], "/api/v1/persistentvolumeclaims?watch=1&"
                                             "resourceVersion=100&allowWatchBookmarks=true&"
                                             "timeoutSeconds="));
    assert_string_equal(stored_mode(s, "ns", "d"), "ReadWriteOnce");
    assert_string_equal(stored_mode(s, "ns", "a"), "ReadWriteMany");
    assert_string_equal(stored_mode(s, "ns", "b"), "-");
    assert_int_equal(d.keys, 3);
    assert_string_equal(d.last, "ns/b");
    assert_int_equal(atomic_load(&st->objects), 3);
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_CLOSED]), 1);

    ms = kube_informer_step(inf); /* watch 2 from the bookmark; cut mid-object */
    assert_non_null(strstr(f.stream_path[1], "resourceVersion=104&"));
    assert_true(ms > 0);
    assert_string_equal(stored_mode(s, "ns", "e"), "ReadWriteOnce");
    assert_int_equal(kube_store_count(s), 4);
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_FAILED]), 2);

    assert_int_equal(kube_informer_step(inf), 0); /* watch 3 from 105: 410 */
    assert_non_null(strstr(f.stream_path[2], "resourceVersion=105&"));
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_GONE]), 1);
    assert_true(kube_informer_step(inf) > 0);     /* LIST: no answer, backoff */
    assert_int_equal(kube_informer_step(inf), 0); /* LIST: continue expired: again at once */
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_GONE]), 2);
    assert_int_equal(kube_store_count(s), 4);     /* the old store served meanwhile */
    assert_int_equal(kube_informer_step(inf), 0); /* LIST: one claim left */
    assert_int_equal(kube_store_count(s), 1);
    assert_string_equal(stored_mode(s, "ns", "a"), "-"); /* gone from the list: gone */
    assert_string_equal(stored_mode(s, "ns", "c"), "ReadWriteMany");
    assert_int_equal(d.all, 2);

    ms = kube_informer_step(inf); /* watch 4 from 300: ERROR 500 */
    assert_non_null(strstr(f.stream_path[3], "resourceVersion=300&"));
    assert_true(ms > 0);
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_ERROR]), 1);
    assert_int_equal(kube_informer_step(inf), 0); /* listed again */
    assert_true(kube_informer_step(inf) > 0);     /* watch 5: garbage: error */
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_ERROR]), 2);
    assert_int_equal(kube_informer_step(inf), 0); /* listed again (rv 300) */
    kube_informer_step(inf);                      /* watch 6 */
    assert_string_equal(stored_mode(s, "ns", "q"), "ReadWriteOnce");
    kube_informer_step(inf); /* watch 7: from 300 still */
    assert_non_null(strstr(f.stream_path[6], "resourceVersion=300&"));

    kube_informer_free(inf);
    free(st);
    fake_free(&f);
}

/* The watch must list again (an ERROR event; a 410 likewise) and the LIST is refused (403) by
 * an API server that answers: objects may change meanwhile, so the kind stops answering from
 * its old objects (live GETs answer instead) until a list succeeds. With no answer at all the
 * old objects keep answering (the API server is down: nothing changes them). */
static void test_unlistable_kind_is_not_stale(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.lists[0].pages[0] =
        list_page(&f, "100", NULL, pvc_item(&f, "ns", "data", "1", "ReadWriteMany"));
    f.lists[1].no_answer = true;
    f.lists[2].http = 403;
    f.lists[3].pages[0] =
        list_page(&f, "200", NULL, pvc_item(&f, "ns", "data", "2", "ReadWriteMany"));
    f.n_lists = 4;
    f.streams[0].body = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,"
                        "\"message\":\"etcd unavailable\"}}\n";
    f.streams[1].body = "";
    f.n_streams = 2;
    kube_api api = fake_api(&f);
    kube_kind_stats *st = pvc_stats();
    kube_informer *inf = kube_informer_new(&api, &test_opts, st, NULL, NULL);
    assert_int_equal(kube_informer_step(inf), 0); /* discovery */
    assert_int_equal(kube_informer_step(inf), 0); /* LIST */
    assert_true(kube_informer_synced(inf));
    assert_true(kube_informer_step(inf) > 0); /* watch: ERROR: list again */
    assert_true(kube_informer_step(inf) > 0); /* LIST: no answer: the old objects answer */
    assert_true(kube_informer_synced(inf));
    assert_true(kube_informer_step(inf) > 0); /* LIST: 403 from a live API server */
    assert_false(kube_informer_synced(inf));
    assert_int_equal(kube_informer_step(inf), 0); /* LIST succeeds */
    assert_true(kube_informer_synced(inf));
    kube_informer_free(inf);
    free(st);
    fake_free(&f);
}

/* A watch refused for our credentials (403: RBAC allows list, not watch) lists again once the
 * refusal persists (5 in a row: a restarting kube-apiserver refuses for a moment, and a watch
 * from the old resourceVersion is what learns of a compaction): the objects are then refreshed
 * by each LIST, never left to go stale behind a watch that cannot run. A watch failing for
 * another reason (a 500) watches again and starts the count anew. */
static void test_refused_watch_lists_again(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.lists[0].pages[0] =
        list_page(&f, "100", NULL, pvc_item(&f, "ns", "data", "1", "ReadWriteMany"));
    f.lists[1].pages[0] =
        list_page(&f, "200", NULL, pvc_item(&f, "ns", "data", "2", "ReadWriteOnce"));
    f.n_lists = 2;
    fake_stream refused = {.body = "", .rc = -1, .http = 403};
    fake_stream failed = {.body = "", .rc = -1, .http = 500};
    fake_stream script[] = {refused, refused, failed, refused, refused, refused, refused,
                            refused, failed};
    f.n_streams = (int)(sizeof script / sizeof script[0]);
    for (int i = 0; i < f.n_streams; i++)
        f.streams[i] = script[i];
    kube_api api = fake_api(&f);
    kube_kind_stats *st = pvc_stats();
    kube_informer *inf = kube_informer_new(&api, &test_opts, st, NULL, NULL);
    kube_store *s = kube_informer_store(inf);
    assert_int_equal(kube_informer_step(inf), 0); /* discovery */
    assert_int_equal(kube_informer_step(inf), 0); /* LIST: RWX */
    for (int i = 0; i < 7; i++) {                 /* 2 refusals, a 500, 4 refusals */
        assert_true(kube_informer_step(inf) > 0);
        assert_int_equal(f.list_at, 1);           /* each watched again */
        assert_non_null(strstr(f.stream_path[i], "resourceVersion=100&"));
    }
    assert_true(kube_informer_step(inf) > 0);     /* the 5th refusal in a row: list again */
    assert_int_equal(kube_informer_step(inf), 0); /* LIST: the claim changed meanwhile */
    assert_int_equal(f.list_at, 2);
    assert_string_equal(stored_mode(s, "ns", "data"), "ReadWriteOnce");
    kube_informer_free(inf);
    free(st);
    fake_free(&f);
}

static void test_informer_backoff(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.discover_fail = 100;
    kube_api api = fake_api(&f);
    kube_kind_stats *st = pvc_stats();
    kube_informer *inf = kube_informer_new(&api, &test_opts, st, NULL, NULL);
    /* 100, 200, 400, 800, 1000, 1000 ms: each jittered into its upper half */
    long want[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        long ms = kube_informer_step(inf);
        if (ms < want[i] / 2 || ms > want[i])
            fail_msg("retry %zu: %ld ms, want %ld/2..%ld", i, ms, want[i], want[i]);
    }
    kube_informer_free(inf);
    free(st);
    fake_free(&f);
}

/* ---- recorded answers (tests/fixtures/kube/, from kube-apiserver 1.20) ------------------------
 */

#define REC "tests/fixtures/kube/"

/* A recorded file's text, owned by 'f'. */
static char *read_lines(fake *f, const char *path)
{
    buf b;
    buf_init(&b, 1 << 20);
    diag_list dl;
    diag_list_init(&dl);
    assert_int_equal(file_read(path, 1 << 20, &b, &dl), 0);
    diag_list_clear(&dl);
    char *text = fake_str(f, "%s", b.data);
    buf_clear(&b);
    return text;
}

static char *read_text(fake *f, const char *path)
{
    cJSON_Delete(read_json(path)); /* it is one JSON document */
    return read_lines(f, path);
}

static bool wait_synced(kube_cache *c);

static void test_recorded_informer(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.lists[0].pages[0] = read_text(&f, REC "pvc-list-page1.json");
    f.lists[0].pages[1] = read_text(&f, REC "pvc-list-page2.json");
    f.lists[1] = f.lists[0];
    f.n_lists = 2;
    const char *watch = read_lines(&f, REC "pvc-watch.jsonl");
    f.streams[0].body = watch;
    /* the same stream cut in the middle of its second event */
    const char *second = strchr(watch, '\n') + 1;
    f.streams[1].body = fake_str(&f, "%.*s", (int)(second - watch) + 200, watch);
    f.streams[1].rc = -1;
    f.streams[2].body = read_lines(&f, REC "pvc-watch-410.jsonl");
    f.n_streams = 3;

    kube_api api = fake_api(&f);
    kube_kind_stats *st = pvc_stats();
    drops d = {0};
    kube_informer *inf = kube_informer_new(&api, &test_opts, st, on_changed, &d);
    kube_store *s = kube_informer_store(inf);
    assert_int_equal(kube_informer_step(inf), 0); /* discovery from /api/v1 */
    assert_int_equal(kube_informer_step(inf), 0); /* the two pages */
    assert_int_equal(kube_store_count(s), 3);

    /* Each claim is the recorded item without the stripped fields, with kind and apiVersion. */
    cJSON *page = read_json(REC "pvc-list-page1.json");
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(page, "items"))
    {
        cJSON *m = cJSON_GetObjectItemCaseSensitive(item, "metadata");
        kube_obj *o = kube_store_get(s, "flink", cJSON_GetObjectItem(m, "name")->valuestring);
        assert_non_null(o);
        cJSON_DeleteItemFromObjectCaseSensitive(m, "managedFields");
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "annotations"),
                                                "kubectl.kubernetes.io/last-applied-configuration");
        cJSON_AddStringToObject(item, "kind", "PersistentVolumeClaim");
        cJSON_AddStringToObject(item, "apiVersion", "v1");
        assert_true(cJSON_Compare(item, kube_obj_json(o), 1));
        kube_obj_unref(o);
    }
    cJSON_Delete(page);

    assert_int_equal(kube_informer_step(inf), 0); /* the recorded watch */
    assert_non_null(strstr(f.stream_path[0], "/api/v1/persistentvolumeclaims?watch=1&"
                                             "resourceVersion=211&allowWatchBookmarks=true"));
    assert_int_equal(d.keys, 3); /* ADDED, MODIFIED, DELETED of flink/watched */
    assert_string_equal(d.last, "flink/watched");
    assert_string_equal(stored_mode(s, "flink", "watched"), "-");
    assert_int_equal(kube_store_count(s), 3);
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_CLOSED]), 1);

    assert_true(kube_informer_step(inf) > 0); /* cut: the complete ADDED applied, then backoff */
    assert_non_null(strstr(f.stream_path[1], "resourceVersion=214&")); /* from the bookmark */
    assert_string_equal(stored_mode(s, "flink", "watched"), "ReadWriteOnce");
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_FAILED]), 1);

    assert_int_equal(kube_informer_step(inf), 0); /* ERROR 410 Expired */
    assert_int_equal(atomic_load(&st->restarts[KUBE_RESTART_GONE]), 1);
    assert_int_equal(kube_informer_step(inf), 0); /* listed again: flink/watched is gone */
    assert_int_equal(kube_store_count(s), 3);
    assert_string_equal(stored_mode(s, "flink", "watched"), "-");
    kube_informer_free(inf);
    free(st);
    fake_free(&f);
}

/* A cache watching Nodes whose LIST answers the recorded node list (synced). */
static kube_cache *recorded_nodes(fake *f)
{
    fake_init(f);
    f->lists[0].pages[0] = read_text(f, REC "node-list.json");
    f->n_lists = 1;
    kube_api api = fake_api(f);
    kube_cache *c = kube_cache_new_api(&api, &test_opts);
    kube_kind k = {.api_version = "v1", .kind = "Node"};
    assert_int_equal(kube_cache_set_kinds(c, &k, 1), 0);
    assert_true(wait_synced(c));
    return c;
}

static void test_recorded_nodes(void **state)
{
    (void)state;
    fake f;
    kube_cache *c = recorded_nodes(&f);
    kube_obj **v;
    size_t n;
    char why[256];
    arena *a = arena_new(1 << 20);
    assert_int_equal(kube_cache_list(c, "v1", "Node", "", a, &v, &n, why), KUBE_FOUND);
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->name, "worker-1");
    assert_string_equal(v[1]->name, "worker-2");
    assert_string_equal(v[0]->ns, "");
    const cJSON *alloc =
        cJSON_GetObjectItem(cJSON_GetObjectItem(kube_obj_json(v[1]), "status"), "allocatable");
    assert_string_equal(cJSON_GetObjectItem(alloc, "memory")->valuestring, "64Gi");
    assert_string_equal(cJSON_GetObjectItem(kube_obj_json(v[1]), "kind")->valuestring, "Node");
    arena_free(a); /* the references with it */
    kube_obj *o;
    assert_int_equal(kube_cache_get(c, "v1", "Node", "", "worker-2", &o, why), KUBE_FOUND);
    kube_obj_unref(o);
    assert_int_equal(f.get_calls, 0);
    kube_cache_free(c);
    fake_free(&f);
}

/* ---- the cache: lookups, the live GET, kinds, metrics -----------------------------------------
 */

static bool wait_synced(kube_cache *c)
{
    for (int i = 0; i < 500 && !kube_cache_synced(c); i++)
        usleep(2000);
    return kube_cache_synced(c);
}

static const kube_kind pvc_kind = {.api_version = "v1", .kind = "PersistentVolumeClaim"};

static enum kube_lookup get(kube_cache *c, const char *ns, const char *name, const char **mode)
{
    kube_obj *o;
    char why[256];
    enum kube_lookup r = kube_cache_get(c, "v1", "PersistentVolumeClaim", ns, name, &o, why);
    *mode = o != NULL ? mode_of(o) : why;
    static char keep[256];
    snprintf(keep, sizeof keep, "%s", *mode);
    *mode = keep;
    kube_obj_unref(o);
    return r;
}

/* One object of a kind watched alone (kube_kind with a name): the LIST and the WATCH ask its
 * namespace with a field selector on its name (what RBAC's resourceNames authorises), the
 * lookup of it is answered from the store and sees its updates, and a lookup of any other
 * object of the kind is a live GET, never "not found" from a store that cannot hold it. */
static void test_cache_scoped(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.lists[0].pages[0] =
        list_page(&f, "100", NULL, pvc_item(&f, "ops", "conf", "1", "ReadWriteOnce"));
    f.n_lists = 1;
    kube_api api = fake_api(&f);
    kube_cache *c = kube_cache_new_api(&api, &test_opts);
    kube_kind one = {"v1", "PersistentVolumeClaim", "ops", "conf"};
    kube_kind twice[] = {one, one};
    assert_int_equal(kube_cache_set_kinds(c, twice, 2), 0);
    assert_true(wait_synced(c));
    assert_string_equal(f.list_path[0], "/api/v1/namespaces/ops/persistentvolumeclaims"
                                        "?fieldSelector=metadata.name%3Dconf");
    const char *m;
    assert_int_equal(get(c, "ops", "conf", &m), KUBE_FOUND);
    assert_string_equal(m, "ReadWriteOnce");
    assert_int_equal(f.get_calls, 0);
    fake_feed(&f, pvc_event(&f, "MODIFIED", "ops", "conf", "101", "ReadWriteMany"));
    assert_int_equal(get(c, "ops", "conf", &m), KUBE_FOUND);
    assert_string_equal(m, "ReadWriteMany");
    assert_non_null(strstr(f.block_path, "/api/v1/namespaces/ops/persistentvolumeclaims"
                                         "?fieldSelector=metadata.name%3Dconf&watch=1&"
                                         "resourceVersion=100&allowWatchBookmarks=true&"));
    assert_int_equal(f.get_calls, 0);
    /* outside the scope: asked live (here the API server has it), not answered from the store */
    f.get_http = 200;
    f.get_body = pvc_object(&f, "ops", "other", "7", "ReadOnlyMany");
    assert_int_equal(get(c, "ops", "other", &m), KUBE_FOUND);
    assert_string_equal(m, "ReadOnlyMany");
    assert_int_equal(f.get_calls, 1);
    f.get_http = 403; /* RBAC grants only the watched name: could not be asked, not null */
    assert_int_equal(get(c, "team", "conf", &m), KUBE_UNAVAILABLE);
    assert_int_equal(f.get_calls, 2);
    /* lookupList needs the whole kind */
    kube_obj **v;
    size_t n;
    char why[256];
    arena *a = arena_new(1 << 16);
    assert_int_equal(kube_cache_list(c, "v1", "PersistentVolumeClaim", "ops", a, &v, &n, why),
                     KUBE_UNAVAILABLE);
    assert_string_equal(why, "v1/PersistentVolumeClaim is not watched");
    arena_free(a);
    buf mb;
    buf_init(&mb, 1 << 20);
    assert_int_equal(kube_cache_metrics(c, &mb), 0);
    assert_non_null(
        strstr(mb.data, "streamguard_kube_objects{kind=\"v1/PersistentVolumeClaim\"} 1\n"));
    buf_clear(&mb);
    /* the whole kind named too: its watch alone, which holds the object as well */
    f.lists[1].pages[0] =
        list_page(&f, "200", NULL,
                  fake_str(&f, "%s,%s", pvc_item(&f, "ops", "conf", "1", "ReadWriteOnce"),
                           pvc_item(&f, "ops", "other", "2", "ReadOnlyMany")));
    f.n_lists = 2;
    kube_kind both[] = {one, pvc_kind};
    assert_int_equal(kube_cache_set_kinds(c, both, 2), 0);
    assert_true(wait_synced(c));
    assert_string_equal(f.list_path[1], "/api/v1/persistentvolumeclaims");
    assert_int_equal(f.list_at, 2); /* no third LIST: the object's own watch stopped */
    assert_int_equal(get(c, "ops", "other", &m), KUBE_FOUND);
    assert_int_equal(f.get_calls, 2);
    buf_init(&mb, 1 << 20);
    assert_int_equal(kube_cache_metrics(c, &mb), 0);
    assert_non_null(
        strstr(mb.data, "streamguard_kube_objects{kind=\"v1/PersistentVolumeClaim\"} 2\n"));
    buf_clear(&mb);
    /* a name the field selector's syntax would read otherwise is percent-encoded whole */
    f.lists[2].pages[0] = list_page(&f, "300", NULL, "");
    f.n_lists = 3;
    kube_kind odd = {"v1", "PersistentVolumeClaim", "", "a,b=c"};
    assert_int_equal(kube_cache_set_kinds(c, &odd, 1), 0);
    assert_true(wait_synced(c));
    assert_string_equal(f.list_path[2],
                        "/api/v1/persistentvolumeclaims?fieldSelector=metadata.name%3Da%2Cb%3Dc");
    kube_cache_free(c);
    fake_free(&f);
}

static void test_cache_outcomes(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    kube_api api = fake_api(&f);
    kube_cache *c = kube_cache_new_api(&api, &test_opts);
    const char *m;

    /* Not watched: live GETs. 200 kept, 404 kept, no answer not kept. */
    f.get_http = 200;
    f.get_body = pvc_object(&f, "ns", "live", "1", "ReadWriteMany");
    assert_int_equal(get(c, "ns", "live", &m), KUBE_FOUND);
    assert_string_equal(m, "ReadWriteMany");
    assert_int_equal(get(c, "ns", "live", &m), KUBE_FOUND);
    assert_int_equal(f.get_calls, 1);
    f.get_http = 404;
    assert_int_equal(get(c, "ns", "none", &m), KUBE_NOT_FOUND);
    assert_int_equal(get(c, "ns", "none", &m), KUBE_NOT_FOUND);
    assert_int_equal(f.get_calls, 2);
    f.get_http = 0;
    assert_int_equal(get(c, "ns", "down", &m), KUBE_UNAVAILABLE);
    assert_string_equal(m, "connect to 127.0.0.1:6443: Connection refused");
    assert_int_equal(get(c, "ns", "down", &m), KUBE_UNAVAILABLE);
    assert_int_equal(f.get_calls, 4);
    f.get_http = 500;
    assert_int_equal(get(c, "ns", "err", &m), KUBE_UNAVAILABLE);
    assert_string_equal(m, "HTTP 500: scripted");
    /* a kind the API server does not serve: the discovery's error */
    kube_obj *o;
    char why[256];
    assert_int_equal(
        kube_cache_get(c, "flink.apache.org/v1beta1", "FlinkSessionJob", "ns", "x", &o, why),
        KUBE_UNAVAILABLE);
    assert_string_equal(why, "no kind FlinkSessionJob in flink.apache.org/v1beta1");
    /* a name no object can have */
    assert_int_equal(get(c, "ns", "a/b", &m), KUBE_NOT_FOUND);
    /* names longer than a kind can be: refused, not truncated into another kind's counters */
    char longer[400];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(kube_cache_get(c, longer, "K", "", "n", &o, why), KUBE_UNAVAILABLE);
    assert_non_null(strstr(why, "at most 319 bytes"));
    assert_int_equal(kube_cache_get(c, "v1", longer, "", "n", &o, why), KUBE_UNAVAILABLE);
    kube_kind bad = {.api_version = "", .kind = "Node"};
    assert_int_equal(kube_cache_set_kinds(c, &bad, 1), -1);

    kube_obj **v;
    size_t n;
    arena *a = arena_new(1 << 16);
    assert_int_equal(kube_cache_list(c, "v1", "PersistentVolumeClaim", "", a, &v, &n, why),
                     KUBE_UNAVAILABLE);
    assert_string_equal(why, "v1/PersistentVolumeClaim is not watched");
    arena_free(a);

    buf mb;
    buf_init(&mb, 1 << 20);
    assert_int_equal(kube_cache_metrics(c, &mb), 0);
    const char *want[] = {
        "streamguard_kube_lookups_total{kind=\"v1/PersistentVolumeClaim\",outcome=\"live_hit\"} "
        "2\n",
        "streamguard_kube_lookups_total{kind=\"v1/PersistentVolumeClaim\",outcome=\"not_found\"} "
        "3\n",
        "streamguard_kube_lookups_total{kind=\"v1/PersistentVolumeClaim\",outcome=\"unavailable\"} "
        "4\n",
        "streamguard_kube_lookups_total{kind=\"flink.apache.org/v1beta1/FlinkSessionJob\","
        "outcome=\"unavailable\"} 1\n",
        "streamguard_kube_live_get_seconds_count 5\n",
        "# TYPE streamguard_kube_watch_restarts_total counter\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(mb.data, want[i]) == NULL)
            fail_msg("metrics lack %s in:\n%s", want[i], mb.data);
    }
    buf_clear(&mb);
    kube_cache_free(c);
    fake_free(&f);
}

/* "Not found" is only the API server saying that the object does not exist. A 404 of a path it
 * does not route (a kind that is gone, a proxy's page, a Status naming something else) is the
 * cluster that could not be asked, never a null that lets a claim pass. A namespaced kind
 * asked without a namespace has no object (and no path to ask). */
static void test_cache_not_found_is_an_answer(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    kube_api api = fake_api(&f);
    kube_cache *c = kube_cache_new_api(&api, &test_opts);
    const char *m;
    static const char *const not_answers[] = {
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"the server could not find the requested resource\",\"reason\":"
        "\"NotFound\",\"details\":{},\"code\":404}",
        "<html><body>404 page not found</body></html>",
        "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"details\":{\"name\":\"other\"}}",
        "{\"kind\":\"Pod\",\"reason\":\"NotFound\",\"details\":{\"name\":\"c0\"}}",
    };
    f.get_http = 404;
    for (size_t i = 0; i < sizeof not_answers / sizeof not_answers[0]; i++) {
        char name[8];
        snprintf(name, sizeof name, "c%zu", i);
        f.get_404_body = not_answers[i];
        assert_int_equal(get(c, "ns", name, &m), KUBE_UNAVAILABLE);
        assert_non_null(strstr(m, "404"));
    }
    f.get_404_body = NULL; /* the API server's own answer for a missing object */
    assert_int_equal(get(c, "ns", "gone", &m), KUBE_NOT_FOUND);
    int calls = f.get_calls;
    assert_int_equal(get(c, "", "no-namespace", &m), KUBE_NOT_FOUND);
    assert_int_equal(get(c, "ns", "", &m), KUBE_NOT_FOUND); /* an empty claimName */
    assert_int_equal(f.get_calls, calls);
    kube_cache_free(c);
    fake_free(&f);
}

/* A cluster-scoped kind ignores the namespace asked, as the API server's path does: lookupList
 * of Nodes "in" a namespace lists the Nodes (not none), and lookup() answers from the cache. */
static void test_cache_cluster_scoped_namespace(void **state)
{
    (void)state;
    fake f;
    kube_cache *c = recorded_nodes(&f);
    kube_obj **v;
    size_t n;
    char why[256];
    arena *a = arena_new(1 << 16);
    assert_int_equal(kube_cache_list(c, "v1", "Node", "team", a, &v, &n, why), KUBE_FOUND);
    assert_int_equal(n, 2);
    arena_free(a);
    kube_obj *o;
    assert_int_equal(kube_cache_get(c, "v1", "Node", "team", "worker-2", &o, why), KUBE_FOUND);
    kube_obj_unref(o);
    assert_int_equal(f.get_calls, 0);
    kube_cache_free(c);
    fake_free(&f);
}

/* A kind dropped while its LIST waits on a stalled API server stops at once (the informer's
 * thread gives the client its stop flag), not after the request's timeout: a policy reload
 * or a shutdown is not held up by the API server. */
static void test_stop_during_stalled_list(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.lists[0].stall = true;
    f.n_lists = 1;
    kube_api api = fake_api(&f);
    kube_cache *c = kube_cache_new_api(&api, &test_opts);
    assert_int_equal(kube_cache_set_kinds(c, &pvc_kind, 1), 0);
    for (int i = 0; i < 500; i++) { /* until the LIST has begun */
        pthread_mutex_lock(&f.mu);
        int began = f.list_at;
        pthread_mutex_unlock(&f.mu);
        if (began)
            break;
        usleep(2000);
    }
    usleep(50000);
    long long t0 = clock_mono_ms();
    assert_int_equal(kube_cache_set_kinds(c, NULL, 0), 0);
    long long ms = clock_mono_ms() - t0;
    if (ms > 1000)
        fail_msg("stopping took %lld ms", ms);
    kube_cache_free(c);
    fake_free(&f);
}

static void test_cache_watched(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.lists[0].pages[0] =
        list_page(&f, "100", NULL,
                  fake_str(&f, "%s,%s,%s", pvc_item(&f, "b", "y", "1", "ReadWriteOnce"),
                           pvc_item(&f, "a", "z", "2", "ReadWriteMany"),
                           pvc_item(&f, "a", "y", "3", "ReadOnlyMany")));
    f.n_lists = 1;
    kube_api api = fake_api(&f);
    kube_cache *c = kube_cache_new_api(&api, &test_opts);
    kube_kind two[] = {pvc_kind, pvc_kind}; /* named twice: watched once */
    assert_int_equal(kube_cache_set_kinds(c, two, 2), 0);
    assert_true(wait_synced(c));
    const char *m;
    assert_int_equal(get(c, "a", "z", &m), KUBE_FOUND);
    assert_string_equal(m, "ReadWriteMany");
    assert_int_equal(f.get_calls, 0);

    kube_obj **v;
    size_t n;
    char why[256];
    arena *a = arena_new(1 << 16);
    assert_int_equal(kube_cache_list(c, "v1", "PersistentVolumeClaim", "", a, &v, &n, why),
                     KUBE_FOUND);
    assert_int_equal(n, 3);
    const char *order[] = {"a/y", "a/z", "b/y"};
    for (size_t i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s/%s", v[i]->ns, v[i]->name);
        assert_string_equal(key, order[i]);
    }
    assert_int_equal(kube_cache_list(c, "v1", "PersistentVolumeClaim", "b", a, &v, &n, why),
                     KUBE_FOUND);
    assert_int_equal(n, 1);
    arena_reset(a);

    /* A miss in a synced store: the live GET answers (a claim applied a moment ago). Then the
     * claim is deleted: the watch's DELETED drops the live answer, and the next lookup asks
     * again instead of answering the deleted claim for live_ttl_ms (60 s here). */
    f.get_http = 200;
    f.get_body = pvc_object(&f, "a", "new", "5", "ReadWriteOnce");
    assert_int_equal(get(c, "a", "new", &m), KUBE_FOUND);
    assert_int_equal(get(c, "a", "new", &m), KUBE_FOUND);
    assert_int_equal(f.get_calls, 1);
    fake_feed(&f, pvc_event(&f, "DELETED", "a", "new", "6", "ReadWriteOnce"));
    f.get_http = 404;
    assert_int_equal(get(c, "a", "new", &m), KUBE_NOT_FOUND);
    assert_int_equal(f.get_calls, 2);
    /* ... and re-created as RWX: the ADDED event puts it in the store, which wins over the
     * live "not found" (and drops it). */
    fake_feed(&f, pvc_event(&f, "ADDED", "a", "new", "7", "ReadWriteMany"));
    assert_int_equal(get(c, "a", "new", &m), KUBE_FOUND);
    assert_string_equal(m, "ReadWriteMany");
    fake_feed(&f, pvc_event(&f, "DELETED", "a", "new", "8", "ReadWriteMany"));
    assert_int_equal(get(c, "a", "new", &m), KUBE_NOT_FOUND);
    assert_int_equal(f.get_calls, 3);

    buf mb;
    buf_init(&mb, 1 << 20);
    assert_int_equal(kube_cache_metrics(c, &mb), 0);
    assert_non_null(
        strstr(mb.data, "streamguard_kube_objects{kind=\"v1/PersistentVolumeClaim\"} 3\n"));
    assert_non_null(strstr(mb.data, "streamguard_kube_last_list_timestamp_seconds{kind=\"v1/"
                                    "PersistentVolumeClaim\"} "));
    assert_non_null(strstr(mb.data, "streamguard_kube_last_event_timestamp_seconds{kind=\"v1/"
                                    "PersistentVolumeClaim\"} "));
    assert_non_null(strstr(mb.data, "{kind=\"v1/PersistentVolumeClaim\",outcome=\"hit\"} 4\n"));
    buf_clear(&mb);

    /* Dropping the kind stops its watch promptly and forgets its objects. */
    long long t0 = clock_mono_ms();
    assert_int_equal(kube_cache_set_kinds(c, NULL, 0), 0);
    assert_true(clock_mono_ms() - t0 < 1000);
    assert_true(kube_cache_synced(c)); /* nothing watched: nothing to wait for */
    assert_int_equal(kube_cache_list(c, "v1", "PersistentVolumeClaim", "", a, &v, &n, why),
                     KUBE_UNAVAILABLE);
    arena_free(a);
    buf_init(&mb, 1 << 20);
    assert_int_equal(kube_cache_metrics(c, &mb), 0);
    assert_null(strstr(mb.data, "streamguard_kube_objects{"));
    buf_clear(&mb);
    kube_cache_free(c);
    fake_free(&f);
}

/* The race the tickets close: the claim is deleted while a live GET of it is in flight, so
 * the GET's answer (the claim as it was) must not be kept. */
static kube_cache *race_cache;
static void delete_during_get(fake *f)
{
    f->get_hook = NULL;
    fake_feed(f, pvc_event(f, "DELETED", "a", "racy", "9", "ReadWriteOnce"));
    /* another request asks after the delete: its GET (404) is kept */
    f->get_http = 404;
    const char *m;
    assert_int_equal(get(race_cache, "a", "racy", &m), KUBE_NOT_FOUND);
    f->get_http = 200; /* the first GET still answers what it saw before the delete */
}

/* The cache's user is told of each change a watch brings, once the cache holds it (the
 * background audit re-audits on it): a re-list as a whole (NULL key), then each event's key. */
typedef struct told {
    pthread_mutex_t mu;
    int n, relists;
    char last[256];
} told;

static void on_change(void *arg, const kube_kind *k, const char *ns, const char *name)
{
    told *t = arg;
    pthread_mutex_lock(&t->mu);
    t->n++;
    if (ns == NULL)
        t->relists++;
    else
        snprintf(t->last, sizeof t->last, "%s %s/%s", k->kind, ns, name);
    pthread_mutex_unlock(&t->mu);
}

static int told_count(told *t)
{
    pthread_mutex_lock(&t->mu);
    int n = t->n;
    pthread_mutex_unlock(&t->mu);
    return n;
}

static bool wait_told(told *t, int n)
{
    for (int i = 0; i < 500 && told_count(t) < n; i++)
        usleep(2000);
    return told_count(t) >= n;
}

static void test_cache_tells_changes(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.lists[0].pages[0] =
        list_page(&f, "100", NULL, pvc_item(&f, "a", "y", "1", "ReadWriteOnce"));
    f.n_lists = 1;
    kube_api api = fake_api(&f);
    told t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    kube_cache_opts o = test_opts;
    o.on_change = on_change;
    o.on_change_arg = &t;
    kube_cache *c = kube_cache_new_api(&api, &o);
    assert_int_equal(kube_cache_set_kinds(c, &pvc_kind, 1), 0);
    assert_true(wait_synced(c));
    assert_true(wait_told(&t, 1));
    assert_int_equal(t.relists, 1);
    fake_feed(&f, pvc_event(&f, "ADDED", "b", "new", "7", "ReadWriteMany"));
    assert_true(wait_told(&t, 2));
    assert_string_equal(t.last, "PersistentVolumeClaim b/new");
    const char *m;
    assert_int_equal(get(c, "b", "new", &m), KUBE_FOUND); /* held before it was told */
    fake_feed(&f, pvc_event(&f, "DELETED", "a", "y", "8", "ReadWriteOnce"));
    assert_true(wait_told(&t, 3));
    assert_string_equal(t.last, "PersistentVolumeClaim a/y");
    kube_cache_free(c);
    fake_free(&f);
}

static void test_cache_live_race(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.lists[0].pages[0] = list_page(&f, "100", NULL, "");
    f.n_lists = 1;
    kube_api api = fake_api(&f);
    race_cache = kube_cache_new_api(&api, &test_opts);
    assert_int_equal(kube_cache_set_kinds(race_cache, &pvc_kind, 1), 0);
    assert_true(wait_synced(race_cache));
    f.get_http = 200;
    f.get_body = pvc_object(&f, "a", "racy", "5", "ReadWriteOnce");
    f.get_hook = delete_during_get;
    const char *m;
    assert_int_equal(get(race_cache, "a", "racy", &m), KUBE_FOUND); /* what the GET saw */
    /* The later "not found" stays; the earlier GET's answer did not replace it. */
    assert_int_equal(get(race_cache, "a", "racy", &m), KUBE_NOT_FOUND);
    assert_int_equal(f.get_calls, 2);
    kube_cache_free(race_cache);
    fake_free(&f);
}

static void test_cache_unsynced_and_labels(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.discover_fail = 1000000; /* the CRD is not installed: retried with backoff, never synced */
    kube_api api = fake_api(&f);
    kube_cache *c = kube_cache_new_api(&api, &test_opts);
    kube_kind k = {.api_version = "v1", .kind = "PersistentVolumeClaim"};
    assert_int_equal(kube_cache_set_kinds(c, &k, 1), 0);
    usleep(20000);
    assert_false(kube_cache_synced(c));
    kube_obj **v;
    size_t n;
    char why[256];
    arena *a = arena_new(1 << 16);
    assert_int_equal(kube_cache_list(c, "v1", "PersistentVolumeClaim", "", a, &v, &n, why),
                     KUBE_UNAVAILABLE);
    assert_string_equal(why, "v1/PersistentVolumeClaim is not yet listed");
    arena_free(a);
    /* Label values are escaped. */
    kube_obj *o;
    assert_int_equal(kube_cache_get(c, "x\"y\\z\n", "K", "", "n", &o, why), KUBE_UNAVAILABLE);
    buf mb;
    buf_init(&mb, 1 << 20);
    assert_int_equal(kube_cache_metrics(c, &mb), 0);
    assert_non_null(strstr(mb.data, "{kind=\"x\\\"y\\\\z\\n/K\",outcome=\"unavailable\"} 1\n"));
    assert_non_null(strstr(mb.data, "streamguard_kube_watch_restarts_total{kind=\"v1/"
                                    "PersistentVolumeClaim\",reason=\"failed\"} "));
    buf_clear(&mb);
    long long t0 = clock_mono_ms();
    kube_cache_free(c); /* stops the informer in its backoff sleep */
    assert_true(clock_mono_ms() - t0 < 1000);
    fake_free(&f);
}

/* ---- readers against the writer -------------------------------------------------------------- */

typedef struct hammer {
    kube_store *s;
    atomic_bool *done;
    long reads, found, wrong; /* counted: cmocka's asserts belong to the main thread */
} hammer;

static void *reader(void *arg)
{
    hammer *h = arg;
    char name[16];
    /* until the writer is done, then 2,000 more (a loaded machine may run the readers before
     * the writer starts, or stop them while it works) */
    for (long i = 0, after = 0; !atomic_load(h->done) || after++ < 2000; i++) {
        snprintf(name, sizeof name, "c%ld", i % 64);
        kube_obj *o = kube_store_get(h->s, "ns", name);
        if (o != NULL) {
            /* read it all while the writer replaces and frees */
            h->wrong += strcmp(o->name, name) != 0 || strstr(mode_of(o), "Read") == NULL;
            h->found++;
        }
        kube_obj_unref(o);
        h->reads++;
        if (i % 512 == 0) {
            kube_obj **v;
            size_t n;
            arena *a = arena_new(1 << 20);
            h->wrong += a == NULL || kube_store_snapshot(h->s, "", a, &v, &n) != 0;
            for (size_t k = 0; a != NULL && k < n; k++)
                h->wrong += strcmp(v[k]->ns, "ns") != 0;
            arena_free(a); /* the references with it, while the writer goes on */
        }
    }
    return NULL;
}

static void test_store_readers_race_writer(void **state)
{
    (void)state;
    kube_store s;
    assert_int_equal(kube_store_init(&s), 0);
    atomic_bool done;
    atomic_init(&done, false);
    hammer h[2] = {{.s = &s, .done = &done}, {.s = &s, .done = &done}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &h[i]), 0);
    char name[16];
    for (int round = 0; round < 3000; round++) {
        snprintf(name, sizeof name, "c%d", round % 64);
        if (round % 500 == 499) {
            kube_table *tab = kube_table_new(); /* a re-list */
            for (int k = 0; k < 64; k += 2) {
                snprintf(name, sizeof name, "c%d", k);
                assert_int_equal(kube_table_put(tab, mk("ns", name, "ReadWriteMany")), 0);
            }
            kube_store_swap(&s, tab);
        } else if (round % 3 == 2) {
            kube_store_remove(&s, "ns", name);
            kube_pool_sweep(mk_pool, round % 64 == 2); /* while readers drop references */
        } else {
            assert_int_equal(
                kube_store_put(&s, mk("ns", name, round % 2 ? "ReadWriteOnce" : "ReadOnlyMany")),
                0);
        }
    }
    atomic_store(&done, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(h[i].wrong, 0);
        assert_true(h[i].reads >= 2000);
        assert_true(h[i].found > 0);
    }
    kube_store_clear(&s);
}

int main(void)
{
    log_setup(LOG_FORMAT_LOGFMT, LOG_ERROR, 2); /* the informers' logs are not the tests' */
    mk_pool = kube_pool_new();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_equals_stripped),
        cmocka_unit_test(test_compact_shares_lists),
        cmocka_unit_test(test_compact_kind_case_sensitive),
        cmocka_unit_test(test_compact_strips_only_there),
        cmocka_unit_test(test_store_ops),
        cmocka_unit_test(test_informer_steps),
        cmocka_unit_test(test_informer_announces_whole_key),
        cmocka_unit_test(test_informer_backoff),
        cmocka_unit_test(test_unlistable_kind_is_not_stale),
        cmocka_unit_test(test_refused_watch_lists_again),
        cmocka_unit_test(test_recorded_informer),
        cmocka_unit_test(test_recorded_nodes),
        cmocka_unit_test(test_cache_outcomes),
        cmocka_unit_test(test_cache_not_found_is_an_answer),
        cmocka_unit_test(test_cache_cluster_scoped_namespace),
        cmocka_unit_test(test_stop_during_stalled_list),
        cmocka_unit_test(test_cache_watched),
        cmocka_unit_test(test_cache_scoped),
        cmocka_unit_test(test_cache_tells_changes),
        cmocka_unit_test(test_cache_live_race),
        cmocka_unit_test(test_cache_unsynced_and_labels),
        cmocka_unit_test(test_store_readers_race_writer),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    kube_pool_unref(mk_pool);
    return rc;
}
