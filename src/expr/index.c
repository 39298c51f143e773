/* index.c - looking keys up in maps: a scan for small maps, a hash index for large ones.
 *
 * A policy asks many names of the same maps (flinkConfiguration, labels, its own variables),
 * so a scan per lookup makes a review cost O(keys^2). The first EV_SCAN_MAX entries of a map
 * are scanned as before (faster than hashing, and all a typical map has); a lookup that gets
 * past them uses a keyindex (util/keyindex.h) of the whole map, built the first time and
 * kept in an expr_index for the rest of the request, by the address of the map. The index
 * answers what the scan would: the first of two equal keys (cJSON keeps both; the scan finds
 * the first).
 *
 * The addresses are only valid while the maps they name are unchanged: whoever changes JSON
 * that evaluations read (a mutation) calls expr_index_clear(). Out of arena, a map is
 * scanned, as it was before there were indexes: slower, never a different answer. */
#include "expr_int.h"

#include <string.h>

#include "../util/keyindex.h"

/* What is cached of one map (a cJSON object or an expr_map) or JSON list, each part made
 * on first need: the index of its keys (NULL when it could not be built: the map is then
 * scanned, without trying again), and for JSON, its size and, for a list, its elements. */
typedef struct ix_slot {
    const void *map;
    const keyindex *ix;
    const cJSON **items; /* JSON list: element i; NULL when not made (or no memory) */
    uint32_t n;          /* JSON: the number of children, when 'has_n' */
    bool has_ix, has_n;
} ix_slot;

void expr_index_init(expr_index *x, arena *a)
{
    x->a = a;
    x->slots = NULL;
    x->mask = 0;
    x->n = 0;
}

expr_index *expr_index_new(arena *a)
{
    expr_index *x = arena_alloc(a, sizeof *x);
    if (x != NULL)
        expr_index_init(x, a);
    return x;
}

void expr_index_clear(expr_index *x)
{
    if (x == NULL || x->slots == NULL)
        return;
    memset(x->slots, 0, (x->mask + 1) * sizeof(ix_slot));
    x->n = 0;
}

static size_t ptr_hash(const void *p)
{
    return (size_t)(((uint64_t)(uintptr_t)p >> 4) * 0x9E3779B97F4A7C15u >> 20);
}

/* The slot of 'map' in 'x': where it is, or the empty one where it goes. */
static ix_slot *slot_of(const expr_index *x, const void *map)
{
    ix_slot *t = x->slots;
    size_t i = ptr_hash(map) & x->mask;
    while (t[i].map != NULL && t[i].map != map)
        i = (i + 1) & x->mask;
    return &t[i];
}

/* Makes room for one more map (the table stays at most half full); false when out of arena. */
static bool reserve(expr_index *x)
{
    size_t cap = x->slots ? x->mask + 1 : 0;
    if (2 * (x->n + 1) <= cap)
        return true;
    size_t ncap = cap ? 2 * cap : 16;
    ix_slot *old = x->slots, *t = arena_calloc(x->a, ncap, sizeof *t);
    if (t == NULL)
        return false;
    x->slots = t;
    x->mask = ncap - 1;
    for (size_t i = 0; i < cap; i++)
        if (old[i].map != NULL)
            *slot_of(x, old[i].map) = old[i];
    return true;
}

/* Builds the index of a JSON object or of the string keys of a built map. */
static const keyindex *build(arena *a, const void *map, bool json)
{
    if (json) {
        const cJSON *obj = map;
        size_t n = 0;
        for (const cJSON *c = obj->child; c != NULL; c = c->next)
            n++;
        keyindex *k = keyindex_new(a, n);
        for (const cJSON *c = obj->child; k != NULL && c != NULL; c = c->next)
            keyindex_add(k, c->string, strlen(c->string), c);
        return k;
    }
    const expr_map *m = map;
    keyindex *k = keyindex_new(a, m->n);
    for (uint32_t i = 0; k != NULL && i < m->n; i++)
        if (m->kv[2 * i].kind == EXPR_STRING)
            keyindex_add(k, m->kv[2 * i].v.s, m->kv[2 * i].len, &m->kv[2 * i]);
    return k;
}

/* The cache entry of 'map', added empty on first use; NULL when out of arena. */
static ix_slot *slot_for(expr_index *x, const void *map)
{
    if (x == NULL)
        return NULL;
    if (x->slots != NULL) {
        ix_slot *s = slot_of(x, map);
        if (s->map != NULL)
            return s;
    }
    if (!reserve(x))
        return NULL;
    ix_slot *s = slot_of(x, map);
    *s = (ix_slot){.map = map};
    x->n++;
    return s;
}

/* The index of 'map', built on first use; NULL when there is none (scan instead). */
static const keyindex *index_of(expr_index *x, const void *map, bool json)
{
    ix_slot *s = slot_for(x, map);
    if (s == NULL)
        return NULL;
    if (!s->has_ix) {
        s->ix = build(x->a, map, json);
        s->has_ix = true;
    }
    return s->ix;
}

/* The number of children of JSON list or map 'j': counted up to EV_SCAN_MAX, beyond that
 * once per request (a comprehension asking size() each time would cost O(n^2)). */
static uint32_t json_size(expr_index *x, const cJSON *j)
{
    uint32_t n = 0;
    const cJSON *c = j->child;
    for (; c != NULL && n <= EV_SCAN_MAX; c = c->next)
        n++;
    lookup_steps += n;
    if (c == NULL)
        return n;
    ix_slot *s = slot_for(x, j);
    if (s != NULL && s->has_n)
        return s->n;
    for (; c != NULL; c = c->next)
        n++;
    lookup_steps += n;
    if (s != NULL) {
        s->n = n;
        s->has_n = true;
    }
    return n;
}

uint32_t ev_size_ix(expr_index *x, const expr_value *v)
{
    if (v->json)
        return json_size(x, v->v.j);
    return v->kind == EXPR_LIST ? v->v.list->n : v->v.map->n;
}

expr_value ev_list_at_ix(expr_index *x, const expr_value *v, uint32_t i)
{
    if (!v->json)
        return v->v.list->items[i];
    const cJSON *c = v->v.j->child;
    if (i >= EV_SCAN_MAX) { /* element i without walking the i before it, after the first time */
        ix_slot *s = slot_for(x, v->v.j);
        if (s != NULL && s->items == NULL) {
            uint32_t n = json_size(x, v->v.j);
            s->items = arena_alloc(x->a, (size_t)n * sizeof *s->items);
            for (uint32_t k = 0; s->items != NULL && k < n; k++, c = c->next)
                s->items[k] = c;
            lookup_steps += n;
            c = v->v.j->child;
        }
        if (s != NULL && s->items != NULL)
            return ev_from_json(s->items[i]);
    }
    for (uint32_t k = 0; c != NULL && k < i; k++)
        c = c->next;
    lookup_steps += i;
    return ev_from_json(c);
}

/* Whether the member name 'name' (NUL-terminated) is 'key' ('len' bytes, no NUL in them): the
 * first byte inline, as most names differ there, then the rest; no strlen. When the bytes
 * up to 'len' are equal the name has at least that many, so reading name[len] is safe. */
static inline bool json_key_is(const char *name, const char *key, uint32_t len)
{
    if (len == 0)
        return name[0] == '\0';
    return name[0] == key[0] && strncmp(name + 1, key + 1, len - 1) == 0 && name[len] == '\0';
}

bool ev_json_find(expr_index *x, const cJSON *obj, const char *ks, uint32_t kl, expr_value *out)
{
    uint32_t seen = 0;
    const cJSON *c = obj->child;
    for (; c != NULL && seen < EV_SCAN_MAX; c = c->next, seen++) {
        if (json_key_is(c->string, ks, kl)) {
            lookup_steps += seen + 1;
            *out = ev_from_json(c);
            return true;
        }
    }
    lookup_steps += seen;
    if (c == NULL)
        return false;
    const keyindex *k = index_of(x, obj, true);
    if (k != NULL) {
        const cJSON *hit = keyindex_find(k, ks, kl);
        if (hit != NULL)
            *out = ev_from_json(hit);
        return hit != NULL;
    }
    for (; c != NULL; c = c->next, seen++) { /* no index (no memory for one): scan on */
        if (json_key_is(c->string, ks, kl)) {
            lookup_steps += seen + 1;
            *out = ev_from_json(c);
            return true;
        }
    }
    lookup_steps += seen;
    return false;
}

bool expr_map_get(const expr_call *c, const expr_value *m, const char *key, size_t len,
                  expr_value *out)
{
    expr_value k = {.kind = EXPR_STRING, .len = (uint32_t)len};
    k.v.s = key;
    return m->kind == EXPR_MAP && ev_map_find(c->index, m, &k, out);
}

bool ev_map_find_name(expr_index *x, const expr_value *m, const expr_value *key, expr_value *out)
{
    if (m->json)
        return ev_json_find(x, m->v.j, key->v.s, key->len, out);
    return ev_map_find(x, m, key, out);
}

bool ev_map_find(expr_index *x, const expr_value *m, const expr_value *key, expr_value *out)
{
    if (m->json) {
        if (key->kind != EXPR_STRING || memchr(key->v.s, '\0', key->len) != NULL)
            return false;
        return ev_json_find(x, m->v.j, key->v.s, key->len, out);
    }
    const expr_map *map = m->v.map;
    if (key->kind == EXPR_STRING) { /* the usual case: compare strings directly */
        const keyindex *k = map->n > EV_SCAN_MAX ? index_of(x, map, false) : NULL;
        if (k != NULL) {
            const expr_value *hit = keyindex_find(k, key->v.s, key->len);
            if (hit != NULL)
                *out = hit[1];
            return hit != NULL;
        }
        uint32_t i = ev_str_key_scan(map->kv, map->n, key->v.s, key->len);
        lookup_steps += i + (i < map->n);
        if (i < map->n)
            *out = map->kv[2 * i + 1];
        return i < map->n;
    }
    for (uint32_t i = 0; i < map->n; i++) {
        if (ev_equal(x, &map->kv[2 * i], key)) {
            *out = map->kv[2 * i + 1];
            return true;
        }
    }
    return false;
}
