/* lookup.c - the watch caches as the policy engine asks them (kube_cache_lookup, cache.h). */
#include "cache.h"

/* The request keeps each object it was given until its arena is freed (the engine borrows
 * them until the answer is encoded). */
static void unref_obj(void *o)
{
    kube_obj_unref(o);
}

/* Returns -1 when the arena's cleanups are full: the reference is then dropped already. */
static int hold(arena *a, kube_obj *o)
{
    return arena_defer(a, unref_obj, o);
}

static enum policy_lookup_result unavailable(arena *a, const char *why, const char **out_why)
{
    *out_why = arena_strdup(a, why);
    if (*out_why == NULL)
        *out_why = "out of memory";
    return LOOKUP_UNAVAILABLE;
}

static enum policy_lookup_result find(void *data, const char *av, const char *kind,
                                      const char *ns, const char *name, arena *a,
                                      const cJSON **out, const char **why)
{
    kube_obj *o = NULL;
    char text[256] = "";
    *out = NULL;
    switch (kube_cache_get(data, av, kind, ns, name, &o, text)) {
    case KUBE_FOUND:
        if (hold(a, o) != 0)
            return unavailable(a, "out of memory", why);
        *out = kube_obj_json(o);
        return LOOKUP_FOUND;
    case KUBE_NOT_FOUND: return LOOKUP_NOT_FOUND;
    default: return unavailable(a, text, why);
    }
}

static enum policy_lookup_result list(void *data, const char *av, const char *kind,
                                      const char *ns, arena *a, const cJSON ***out, size_t *n,
                                      const char **why)
{
    kube_obj **objs = NULL;
    size_t count = 0;
    char text[256] = "";
    *out = NULL;
    *n = 0;
    /* The array and the references are the arena's already. */
    if (kube_cache_list(data, av, kind, ns, a, &objs, &count, text) == KUBE_UNAVAILABLE)
        return unavailable(a, text, why);
    const cJSON **items = count > 0 ? arena_alloc(a, count * sizeof *items) : NULL;
    if (count > 0 && items == NULL)
        return unavailable(a, "out of memory", why);
    for (size_t i = 0; i < count; i++)
        items[i] = kube_obj_json(objs[i]);
    *out = items;
    *n = count;
    return count > 0 ? LOOKUP_FOUND : LOOKUP_NOT_FOUND;
}

policy_lookup kube_cache_lookup(kube_cache *c)
{
    return (policy_lookup){.find = find, .list = list, .data = c};
}
