/* metrics.h - process-wide counters rendered in the Prometheus text format.
 *
 * Lock-free: every counter is a relaxed atomic, so recording costs a few atomic adds on the
 * request path. Rendering reads them without stopping writers; a scrape may see a request
 * in the counter and not yet in the histogram, which Prometheus tolerates. */
#ifndef SG_SERVER_METRICS_H
#define SG_SERVER_METRICS_H

#include <stdbool.h>

#include "../admission/decide.h"
#include "../util/buf.h"
#include "routes.h"

/* Records one finished request, counted under its row's label. 'decision' is < 0 for
 * requests that carry no review (probes, errors before the body was read). 'seconds' feeds
 * the latency histogram of the review rows. */
void metrics_request_done(enum server_endpoint ep, int http_code, int decision, double seconds);

/* Counts a review answered 200 on endpoint 'ep' under what its answer did ('effect'), and
 * the server's enforcement ('warn_only': --enforcement warn). */
void metrics_review_done(enum server_endpoint ep, enum admission_effect effect, bool warn_only);

/* Adds 'delta' to the in-flight requests gauge (published only; the drain counts its own
 * server's requests, server_in_flight()). */
void metrics_in_flight_add(int delta);

/* Adds 'delta' to the open connections gauge. */
void metrics_connections_add(int delta);

/* Publishes the serving certificate's notAfter (Unix seconds). */
void metrics_set_cert_not_after(long long t);

/* Publishes whether the server reports ready (certificates and policies loaded, not
 * draining). */
void metrics_set_ready(bool ready);

enum metrics_reload { METRICS_RELOAD_CERT, METRICS_RELOAD_POLICIES };

/* Counts a reload (or the load at start) of the certificate or the policies, and records its
 * outcome (metrics_reload_outcome). */
void metrics_reload_done(enum metrics_reload what, bool ok);

/* Records the outcome of the latest reload without counting one: for files that checked out
 * and equal what is serving, which make a refused reload's outcome good again. */
void metrics_reload_outcome(enum metrics_reload what, bool ok);

/* Counts a policy set that loaded with no policy in it: refused (at start or on a reload,
 * the usual cause being a ConfigMap mistake) or served (--allow-empty-policies). */
void metrics_empty_policy_set(bool served);

/* The number of policies being served. */
void metrics_set_policy_count(long n);

/* Appends the text exposition of every metric to 'out'. Returns 0, or -1 when 'out' is
 * full. */
int metrics_render(buf *out);

#endif
