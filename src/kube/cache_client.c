/* cache_client.c - kube_cache_new: the watch caches on the API client of client.h.
 *
 * Apart from cache.c so that the cache's tests link without the client: they give
 * kube_cache_new_api a table answering from recorded API answers. */
#include "cache_int.h"

static int client_discover(void *arg, const char *api_version, const char *kind, long timeout_ms,
                           kube_resource *out, char error[512])
{
    return kube_discover(arg, api_version, kind, timeout_ms, out, error);
}

static int client_get(void *arg, const char *path, long timeout_ms, kube_response *r)
{
    return kube_get(arg, path, timeout_ms, r);
}

static int client_list(void *arg, const char *path, long limit, long timeout_ms,
                       int (*on_item)(void *a, cJSON *item), void *item_arg, char *rv,
                       size_t rv_cap, kube_response *r)
{
    return kube_list(arg, path, limit, timeout_ms, on_item, item_arg, rv, rv_cap, r);
}

static int client_stream(void *arg, const char *path, long idle_timeout_ms,
                         int (*on_line)(void *a, const char *line, size_t len), void *line_arg,
                         const atomic_bool *stop, kube_response *r)
{
    return kube_stream(arg, path, idle_timeout_ms, on_line, line_arg, stop, r);
}

kube_cache *kube_cache_new(kube_client *client, const kube_cache_opts *o)
{
    kube_api api = {.arg = client,
                    .discover = client_discover,
                    .path = kube_path,
                    .get = client_get,
                    .list = client_list,
                    .stream = client_stream,
                    .thread_stop = kube_thread_stop};
    return kube_cache_new_api(&api, o);
}
