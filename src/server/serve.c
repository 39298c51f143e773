/* serve.c - 'streamguard serve'; see serve.h.
 *
 * Start-up checks everything it can before it listens: the certificate and key (parse,
 * match, validity), the policies directory. Signals are blocked in every thread and taken
 * by the main thread with sigwait(), so the handlers are ordinary code. SIGTERM and SIGINT
 * drain: /readyz turns 503, after --drain-delay new connections are refused, every request
 * already received is answered and idle connections are closed (at most --drain-timeout),
 * and the process exits 0. SIGHUP reloads the certificate
 * and the policies, which reload.c also does by itself when their files change. */
#include "serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../admission/decide.h"
#include "../policy/policy.h"
#include "../tls/certs.h"
#include "../util/log.h"
#include "../util/opts.h"
#include "../util/buf.h"
#include "../util/clock.h"
#include "../util/file.h"
#include "../util/mem.h"
#include "cluster.h"
#include "http.h"
#include "metrics.h"
#include "reload.h"
#include "webhook_certs.h"

struct serve_opts {
    server_config cfg;
    const char *cert_file, *key_file, *policies;
    const char *params; /* --params: PolicyParams applied after the policy directory's */
    const char *client_ca, *server_name;
    unsigned drain_delay_s, drain_timeout_s;
    bool allow_empty_policies;
    cluster_opts cluster;
    webhook_certs_opts certs;
    enum log_format log_format;
    enum log_level log_level;
    unsigned log_flush_ms; /* --log-flush-interval; 0: every line written at once */
};

/* What --help prints: each option of serve_rows[] with its default. */
static const char usage_text[] =
    "usage: streamguard serve --tls-cert FILE --tls-key FILE [options]\n"
    "       streamguard serve --manage-webhook-certs [options]\n"
    "\n"
    "Runs the admission webhook over HTTPS (TLS 1.2 and 1.3 only).\n"
    "Endpoints: POST /validate, POST /mutate (AdmissionReview v1 and v1beta1),\n"
    "GET /healthz, GET /readyz, GET /metrics (Prometheus text format).\n"
    "\n"
    "options:\n"
    "  --listen ADDR:PORT       address to listen on (default 0.0.0.0:8443;\n"
    "                           [::]:8443 for IPv6; port 0 picks a free port)\n"
    "  --tls-cert FILE          serving certificate chain, PEM (required unless\n"
    "                           --manage-webhook-certs)\n"
    "  --tls-key FILE           its private key, PEM, unencrypted (the same)\n"
    "  --manage-webhook-certs   make the CA and serving certificate in a Secret, renew\n"
    "                           them, and keep the webhook configurations' caBundle in\n"
    "                           sync (the leader writes; needs a cluster; instead of\n"
    "                           --tls-cert/--tls-key): docs/operations.md\n"
    "  --webhook-secret NAME    its Secret (default streamguard-tls)\n"
    "  --webhook-namespace NS   the Secret's namespace and the Service's (default: the\n"
    "                           pod's, else the kubeconfig context's)\n"
    "  --webhook-service NAME   the Service the certificate names (default streamguard)\n"
    "  --webhook-hosts LIST     more names or addresses for it, comma-separated\n"
    "  --validating-webhook NAME, --mutating-webhook NAME\n"
    "                           the configurations whose caBundle is kept in sync\n"
    "                           (default streamguard; \"\" for none)\n"
    "  --webhook-ca-days N      the CA's lifetime (default 365; renewed at 2/3)\n"
    "  --webhook-cert-days N    the serving certificate's (default 90; renewed at 2/3)\n"
    "  --policies DIR           policy directory (default policies/); a policy with an\n"
    "                           error stops the start, each error is logged\n"
    "  --params FILE            PolicyParams documents that set the policies' params\n"
    "                           (after those in the policy directory; reloaded too)\n"
    "  --allow-empty-policies   serve even when the directory holds no policy (then\n"
    "                           every review is allowed); without it an empty set\n"
    "                           stops the start, and a reload to one is refused\n"
    "  --kubeconfig FILE        the cluster that lookup() and lookupList() ask (default:\n"
    "                           $KUBECONFIG, else the pod's service account; with none\n"
    "                           of them every lookup is an evaluation error, which the\n"
    "                           policy's failurePolicy decides): docs/cluster.md\n"
    "  --no-cluster             run without a cluster on purpose: lookup() finds\n"
    "                           nothing (null), lookupList() gives []\n"
    "  --cache-sync-timeout SECONDS\n"
    "                           /readyz answers 503 until every kind the policies look\n"
    "                           up has been listed, at most this long (default 30)\n"
    "  --lookup-timeout MS      a lookup the cache cannot answer asks the API server\n"
    "                           once, waiting at most this long (default 1000)\n"
    "  --leader-elect           take part in leader election on a coordination.k8s.io\n"
    "                           Lease, as kube-controller-manager does (15 s lease, 10 s\n"
    "                           renew deadline, 2 s retry): one replica at a time leads\n"
    "                           (metric streamguard_leader). Needs a cluster and RBAC\n"
    "                           on leases: docs/cluster.md\n"
    "  --leader-elect-namespace NS\n"
    "                           the Lease's namespace (default: the pod's, else the\n"
    "                           kubeconfig context's)\n"
    "  --leader-elect-name NAME the Lease's name (default streamguard)\n"
    "  --audit                  audit the objects already in the cluster and write the\n"
    "                           results to PolicyReports (only the leader writes: use\n"
    "                           --leader-elect with more than one replica): docs/audit.md\n"
    "  --audit-interval SECONDS audit everything again this often, besides after each\n"
    "                           change and reload (default 3600)\n"
    "  --client-ca FILE         require a client certificate signed by this CA (PEM)\n"
    "                           on /validate and /mutate (kube-apiserver's, see\n"
    "                           docs/operations.md); probes and /metrics stay open\n"
    "  --tls-server-name NAME   warn when a reloaded certificate does not name NAME\n"
    "                           (e.g. streamguard.streamguard-system.svc)\n"
    "  --enforcement deny|warn  warn: every deny becomes a warning, for rollouts\n"
    "                           (default deny)\n"
    "  --threads N              worker threads (default: number of CPUs)\n"
    "  --max-connections N      connections served at once (default 1024)\n"
    "  --idle-timeout SECONDS   close a connection idle this long (default 60)\n"
    "  --header-timeout SECONDS\n"
    "                           cut off a request whose headers are not all in this\n"
    "                           long after its first byte (on a new connection: after\n"
    "                           the connection opened, TLS handshake included)\n"
    "                           (default 10)\n"
    "  --request-timeout SECONDS\n"
    "                           cut off a request whose body takes longer (default 10)\n"
    "  --drain-delay SECONDS    on SIGTERM, answer /readyz 503 this long before\n"
    "                           refusing new connections (default 0)\n"
    "  --drain-timeout SECONDS  on SIGTERM, wait at most this long for the requests\n"
    "                           already received to be answered (default 25)\n"
    "  --log-format logfmt|json (default logfmt)\n"
    "  --log-level debug|info|warn|error (default info)\n"
    "  --log-flush-interval MS  write the log in batches: lines are buffered and\n"
    "                           written when 32 KiB are, at least this often, at once\n"
    "                           for warn and error lines, and at exit; 0 writes every\n"
    "                           line as it is logged (default 100; a crash loses at\n"
    "                           most this long of lines)\n"
    "  -h, --help               show this help\n"
    "\n"
    "The certificate, the key and the policies are reloaded when their files change\n"
    "(Kubernetes Secret and ConfigMap updates included) and on SIGHUP; a certificate or\n"
    "a policy set with errors, or an empty one, is logged and the previous one keeps\n"
    "serving.\n"
    "\n"
    "Signals: SIGTERM or SIGINT drains and exits 0; SIGHUP reloads.\n";

static int opt_log_format(void *opts, const char *arg)
{
    return log_parse_format(arg, &((struct serve_opts *)opts)->log_format);
}

static int opt_log_level(void *opts, const char *arg)
{
    return log_parse_level(arg, &((struct serve_opts *)opts)->log_level);
}

static int opt_enforcement(void *opts, const char *arg)
{
    return admission_parse_enforcement(arg, &((struct serve_opts *)opts)->cfg.warn_only);
}

#define SO struct serve_opts
static const opt_row serve_rows[] = {
    OPT_STRING_ROW("listen", 0, SO, cfg.listen),
    OPT_STRING_ROW("tls-cert", 0, SO, cert_file),
    OPT_STRING_ROW("tls-key", 0, SO, key_file),
    OPT_FLAG_ROW("manage-webhook-certs", 0, SO, certs.on),
    OPT_STRING_ROW("webhook-secret", 0, SO, certs.secret),
    OPT_STRING_ROW("webhook-namespace", 0, SO, certs.namespace_),
    OPT_STRING_ROW("webhook-service", 0, SO, certs.service),
    OPT_STRING_ROW("webhook-hosts", 0, SO, certs.hosts),
    OPT_STRING_ROW("validating-webhook", 0, SO, certs.validating),
    OPT_STRING_ROW("mutating-webhook", 0, SO, certs.mutating),
    OPT_UINT_ROW("webhook-ca-days", SO, certs.ca_days, 1, 3650),
    OPT_UINT_ROW("webhook-cert-days", SO, certs.cert_days, 1, 3650),
    OPT_STRING_ROW("policies", 0, SO, policies),
    OPT_STRING_ROW("params", 0, SO, params),
    OPT_FLAG_ROW("allow-empty-policies", 0, SO, allow_empty_policies),
    OPT_STRING_ROW("kubeconfig", 0, SO, cluster.kubeconfig),
    OPT_FLAG_ROW("no-cluster", 0, SO, cluster.none),
    OPT_UINT_ROW("cache-sync-timeout", SO, cluster.sync_timeout_s, 0, 3600),
    OPT_UINT_ROW("lookup-timeout", SO, cluster.lookup_timeout_ms, 1, 60000),
    OPT_FLAG_ROW("leader-elect", 0, SO, cluster.leader_elect),
    OPT_STRING_ROW("leader-elect-namespace", 0, SO, cluster.lease_namespace),
    OPT_STRING_ROW("leader-elect-name", 0, SO, cluster.lease_name),
    OPT_FLAG_ROW("audit", 0, SO, cluster.audit),
    OPT_UINT_ROW("audit-interval", SO, cluster.audit_interval_s, 10, 604800),
    OPT_STRING_ROW("client-ca", 0, SO, client_ca),
    OPT_STRING_ROW("tls-server-name", 0, SO, server_name),
    OPT_FN_ROW("enforcement", opt_enforcement, "must be deny or warn"),
    OPT_UINT_ROW("threads", SO, cfg.threads, 1, 256),
    OPT_UINT_ROW("max-connections", SO, cfg.max_connections, 1, 100000),
    OPT_UINT_ROW("idle-timeout", SO, cfg.idle_timeout_s, 1, 3600),
    OPT_UINT_ROW("header-timeout", SO, cfg.header_timeout_s, 1, 3600),
    OPT_UINT_ROW("request-timeout", SO, cfg.request_timeout_s, 1, 3600),
    OPT_UINT_ROW("drain-delay", SO, drain_delay_s, 0, 3600),
    OPT_UINT_ROW("drain-timeout", SO, drain_timeout_s, 0, 3600),
    OPT_FN_ROW("log-format", opt_log_format, "must be logfmt or json"),
    OPT_FN_ROW("log-level", opt_log_level, "must be debug, info, warn or error"),
    OPT_UINT_ROW("log-flush-interval", SO, log_flush_ms, 0, 10000),
};
#undef SO

/* The options that exclude or need each other; says which and returns -1. */
static int check_opts(const struct serve_opts *o)
{
    const char *why = NULL;
    if (o->cluster.none && o->cluster.kubeconfig != NULL)
        why = "--no-cluster and --kubeconfig exclude each other";
    else if (!o->cluster.leader_elect &&
             (o->cluster.lease_namespace != NULL || o->cluster.lease_name != NULL))
        why = "--leader-elect-namespace and --leader-elect-name need --leader-elect";
    else if (o->certs.on && (o->cert_file != NULL || o->key_file != NULL))
        why = "--manage-webhook-certs and --tls-cert/--tls-key exclude each other";
    else if (o->certs.on && o->cluster.none)
        why = "--manage-webhook-certs needs a cluster, not --no-cluster";
    else if (!o->certs.on && (o->certs.secret || o->certs.namespace_ || o->certs.service ||
                              o->certs.hosts || o->certs.validating || o->certs.mutating ||
                              o->certs.ca_days || o->certs.cert_days))
        why = "the --webhook-* options need --manage-webhook-certs";
    else if (!o->certs.on && (o->cert_file == NULL || o->key_file == NULL))
        why = "--tls-cert and --tls-key are required";
    if (why != NULL)
        fprintf(stderr, "streamguard serve: %s\n", why);
    return why != NULL ? -1 : 0;
}

/* Returns 0, 1 when --help was asked for (printed), or -1 (said why). */
static int parse_opts(int argc, char **argv, struct serve_opts *o)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (struct serve_opts){
        .cfg = {.listen = "0.0.0.0:8443", .threads = cpus > 0 ? (unsigned)cpus : 1,
                .max_connections = 1024, .idle_timeout_s = 60, .header_timeout_s = 10,
                .request_timeout_s = 10, .max_body = SERVER_MAX_BODY},
        .policies = "policies/", .drain_timeout_s = 25, .log_level = LOG_INFO,
        .log_flush_ms = 100,
        .cluster = {.sync_timeout_s = 30, .lookup_timeout_ms = 1000, .audit_interval_s = 3600}};
    int rc = opts_parse("streamguard serve", serve_rows, sizeof serve_rows / sizeof serve_rows[0],
                        argc, argv, o, NULL);
    if (rc > 0) {
        fputs(usage_text, stdout);
        return 1;
    }
    if (rc == 0)
        rc = check_opts(o);
    if (rc != 0)
        fprintf(stderr, "Run 'streamguard serve --help' for the options.\n");
    return rc;
}

static void log_diags(const diag_list *dl)
{
    char line[2048];
    for (size_t i = 0; i < dl->count; i++)
        log_error("serve", LOG_S("msg", diag_format(&dl->items[i], line, sizeof line)));
}

/* Loads the policies; a set with any error is refused as a whole, and so is an empty one
 * unless --allow-empty-policies (reload_check_policy_set: the same rule as on reload). */
static policy_set *load_policies(const char *dir, const char *params, bool allow_empty,
                                 diag_list *dl)
{
    struct stat st;
    srcpos at = {.file = dir};
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        diag_add(dl, DIAG_ERROR, "policy.dir", &at, "the policy directory does not exist");
        return NULL;
    }
    policy_set *set = policy_set_load(&dir, 1, params ? &params : NULL, params ? 1 : 0, dl);
    mem_release_freed(); /* what only the load needed (docs/server.md, "Memory") */
    if (set != NULL && reload_check_policy_set(set, dir, allow_empty, dl) != 0) {
        policy_set_unref(set);
        return NULL;
    }
    return set;
}

static void drain(server *s, const struct serve_opts *o, int sig)
{
    log_info("serve", LOG_S("msg", "draining"),
             LOG_S("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
             LOG_I("in_flight", server_in_flight(s)), LOG_I("drain_delay_s", o->drain_delay_s));
    int64_t t0 = clock_mono_ms();
    server_begin_drain(s); /* /readyz 503 first: the release below may wait on the API server */
    cluster_release_leadership(o->cfg.cluster); /* another replica leads within ~2 s */
    int64_t left = (int64_t)o->drain_delay_s * 1000 - (clock_mono_ms() - t0);
    if (left > 0) { /* the release counts in the delay, so the drain still ends within the grace */
        struct timespec d = {.tv_sec = (time_t)(left / 1000), .tv_nsec = (long)(left % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
    server_stop_accepting(s);
    log_info("serve", LOG_S("msg", "stopped accepting; answering the requests received"));
    if (!server_drain(s, o->drain_timeout_s * 1000u))
        log_warn("serve", LOG_S("msg", "drain timeout; closing the connections still open"),
                 LOG_I("in_flight", server_in_flight(s)));
    server_free(s);
    log_info("serve", LOG_S("msg", "stopped"));
}

static int wait_for_signals(server *s, reloader *rl, webhook_certs **certs,
                            const struct serve_opts *o, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_info("serve", LOG_S("msg", "SIGHUP: reloading the certificate and the policies"));
            reloader_request(rl, true, true);
            continue;
        }
        reloader_stop(rl); /* no reload races the drain */
        webhook_certs_free(*certs); /* nor a certificate from the Secret */
        *certs = NULL;
        drain(s, o, sig);
        return 0;
    }
}

/* Warnings about the pair the server starts with. */
static void check_pair(const struct serve_opts *o, const tls_pair *pair)
{
    long long days_left = (pair->info.not_after - (long long)time(NULL)) / 86400;
    if (days_left < 7)
        log_warn("serve", LOG_S("msg", "certificate expires soon"), LOG_I("days_left", days_left));
    if (o->server_name != NULL && !tls_cert_covers_host(pair->cert_pem, o->server_name))
        log_warn("serve", LOG_S("msg", "the certificate does not name the service"),
                 LOG_S("server_name", o->server_name));
}

/* What the server starts with, loaded and checked before anything listens. */
struct inputs {
    tls_pair pair; /* from the files, or (--manage-webhook-certs) from the Secret */
    webhook_certs *certs;
    policy_set *policies; /* handed to the server by start() */
    size_t n_policies;
    buf ca; /* --client-ca's PEM */
};

static void inputs_clear(struct inputs *in)
{
    webhook_certs_free(in->certs);
    tls_pair_clear(&in->pair); /* empty when the load itself failed */
    policy_set_unref(in->policies);
    buf_clear(&in->ca);
}

/* The certificate and key, the policies and the client CA; -1 (why in 'dl') when any is bad. */
static int load_inputs(const struct serve_opts *o, struct inputs *in, diag_list *dl)
{
    memset(in, 0, sizeof *in);
    buf_init(&in->ca, (size_t)1 << 20);
    if ((!o->certs.on && tls_pair_load(o->cert_file, o->key_file, &in->pair, dl) != 0) ||
        (in->policies = load_policies(o->policies, o->params, o->allow_empty_policies, dl)) ==
            NULL ||
        (o->client_ca != NULL && file_read(o->client_ca, in->ca.cap, &in->ca, dl) != 0))
        return -1;
    policy_set_items(in->policies, &in->n_policies);
    if (!o->certs.on)
        check_pair(o, &in->pair);
    return 0;
}

/* The cluster (its watches list while the server starts) and the server, which takes the
 * policies over even when it fails to start. NULL (why in 'dl') when either fails. */
static server *start(struct serve_opts *o, struct inputs *in, cluster **cl, diag_list *dl)
{
    *cl = cluster_start(&o->cluster, dl);
    if (*cl == NULL)
        return NULL;
    cluster_set_policies(*cl, in->policies);
    if (o->certs.on) {
        unsigned wait_s = 120; /* a leader elected (a stale Lease: 15 s) and its first pass */
        in->certs = webhook_certs_start(&o->certs, o->cluster.kubeconfig, *cl,
                                        o->cluster.leader_elect, wait_s, &in->pair, dl);
        if (in->certs == NULL) {
            cluster_free(*cl);
            *cl = NULL;
            return NULL;
        }
        check_pair(o, &in->pair);
    }
    o->cfg.cluster = *cl;
    o->cfg.client_ca_pem = o->client_ca ? in->ca.data : NULL;
    o->cfg.cert_pem = in->pair.cert_pem;
    o->cfg.key_pem = in->pair.key_pem;
    o->cfg.policies = in->policies;
    in->policies = NULL;
    server *s = server_start(&o->cfg, dl);
    if (s != NULL && in->certs != NULL && webhook_certs_serve(in->certs, s) != 0)
        log_warn("serve", LOG_S("msg", "the certificate manager's thread did not start; the "
                                       "certificate is fixed"));
    if (s == NULL) {
        webhook_certs_free(in->certs);
        in->certs = NULL;
        cluster_free(*cl);
        *cl = NULL;
    }
    return s;
}

int server_cmd_serve(int argc, char **argv)
{
    struct serve_opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    log_setup(o.log_format, o.log_level, 2);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread exists, so all inherit it */
    signal(SIGPIPE, SIG_IGN);
    if (log_set_flush_interval(o.log_flush_ms) != 0)
        log_warn("serve", LOG_S("msg", "the log's flusher thread did not start; every line is "
                                       "written at once"));

    diag_list dl;
    diag_list_init(&dl);
    struct inputs in;
    cluster *cl = NULL;
    server *s = NULL;
    if (load_inputs(&o, &in, &dl) != 0 || (s = start(&o, &in, &cl, &dl)) == NULL) {
        log_diags(&dl);
        diag_list_clear(&dl);
        inputs_clear(&in);
        log_close();
        return 1;
    }
    metrics_set_cert_not_after(in.pair.info.not_after);
    metrics_reload_done(METRICS_RELOAD_CERT, true);
    metrics_reload_done(METRICS_RELOAD_POLICIES, true);
    metrics_set_policy_count((long)in.n_policies);
    reload_config rc_cfg = {.srv = s, .cert_file = o.cert_file, .key_file = o.key_file,
                            .policy_dir = o.policies, .params_file = o.params,
                            .server_name = o.server_name,
                            .allow_empty = o.allow_empty_policies, .cluster = cl};
    if (o.certs.on)
        rc_cfg.cert_file = rc_cfg.key_file = NULL; /* the Secret, through certmgr, instead */
    reloader *rl = reloader_start(&rc_cfg, in.pair.cert_pem);
    if (rl == NULL)
        log_warn("serve", LOG_S("msg", "the reload thread did not start; certificates and "
                                       "policies are fixed"));
    log_info("serve", LOG_S("msg", "listening"), LOG_S("listen", o.cfg.listen),
             LOG_I("port", server_port(s)), LOG_I("threads", o.cfg.threads),
             LOG_S("policies", o.policies), LOG_I("policy_count", in.n_policies),
             LOG_S("enforcement", o.cfg.warn_only ? "warn" : "deny"),
             LOG_S("cert_serial", in.pair.info.serial),
             LOG_I("cert_not_after", in.pair.info.not_after));
    server_set_ready(s, true);
    int rc = wait_for_signals(s, rl, &in.certs, &o, &set); /* frees the server */
    cluster_free(cl);
    inputs_clear(&in);
    diag_list_clear(&dl);
    log_close(); /* the drain's last lines */
    return rc;
}
