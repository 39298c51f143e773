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

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../policy/policy.h"
#include "../tls/certs.h"
#include "../util/log.h"
#include "../util/num.h"
#include "../util/buf.h"
#include "../util/file.h"
#include "cluster.h"
#include "http.h"
#include "metrics.h"
#include "reload.h"

struct serve_opts {
    server_config cfg;
    const char *cert_file, *key_file, *policies;
    const char *client_ca, *server_name;
    unsigned drain_delay_s, drain_timeout_s;
    bool allow_empty_policies;
    cluster_opts cluster;
    enum log_format log_format;
    enum log_level log_level;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: streamguard serve --tls-cert FILE --tls-key FILE [options]\n"
            "\n"
            "Runs the admission webhook over HTTPS (TLS 1.2 and 1.3 only).\n"
            "Endpoints: POST /validate, POST /mutate (AdmissionReview v1 and v1beta1),\n"
            "GET /healthz, GET /readyz, GET /metrics (Prometheus text format).\n"
            "\n"
            "options:\n"
            "  --listen ADDR:PORT       address to listen on (default 0.0.0.0:8443;\n"
            "                           [::]:8443 for IPv6; port 0 picks a free port)\n"
            "  --tls-cert FILE          serving certificate chain, PEM (required)\n"
            "  --tls-key FILE           its private key, PEM, unencrypted (required)\n"
            "  --policies DIR           policy directory (default policies/); a policy with an\n"
            "                           error stops the start, each error is logged\n"
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
            "  -h, --help               show this help\n"
            "\n"
            "The certificate, the key and the policies are reloaded when their files change\n"
            "(Kubernetes Secret and ConfigMap updates included) and on SIGHUP; a certificate or\n"
            "a policy set with errors, or an empty one, is logged and the previous one keeps\n"
            "serving.\n"
            "\n"
            "Signals: SIGTERM or SIGINT drains and exits 0; SIGHUP reloads.\n");
}

/* Parses a bounded number option; prints the problem and returns -1 when it is bad. */
static int opt_uint(const char *name, const char *arg, unsigned long long min,
                    unsigned long long max, unsigned *out)
{
    unsigned long long v;
    if (num_parse_uint(arg, min, max, &v) != 0) {
        fprintf(stderr, "streamguard serve: %s must be a whole number from %llu to %llu, not '%s'\n",
                name, min, max, arg);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct serve_opts *o)
{
    static const struct option longs[] = {
        {"listen", required_argument, NULL, 'l'},       {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},      {"policies", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},      {"max-connections", required_argument, NULL, 'm'},
        {"idle-timeout", required_argument, NULL, 'i'}, {"request-timeout", required_argument, NULL, 'r'},
        {"drain-delay", required_argument, NULL, 'd'},  {"drain-timeout", required_argument, NULL, 'D'},
        {"log-format", required_argument, NULL, 'f'},   {"log-level", required_argument, NULL, 'L'},
        {"enforcement", required_argument, NULL, 'e'},  {"client-ca", required_argument, NULL, 'C'},
        {"tls-server-name", required_argument, NULL, 'n'},
        {"allow-empty-policies", no_argument, NULL, 'E'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"kubeconfig", required_argument, NULL, 'K'},
        {"no-cluster", no_argument, NULL, 'N'},
        {"cache-sync-timeout", required_argument, NULL, 'S'},
        {"lookup-timeout", required_argument, NULL, 'T'},
        {"leader-elect", no_argument, NULL, 'V'},
        {"leader-elect-namespace", required_argument, NULL, 'W'},
        {"leader-elect-name", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},               {NULL, 0, NULL, 0}};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (struct serve_opts){
        .cfg = {.listen = "0.0.0.0:8443", .threads = cpus > 0 ? (unsigned)cpus : 1,
                .max_connections = 1024, .idle_timeout_s = 60, .header_timeout_s = 10,
                .request_timeout_s = 10,
                .max_body = SERVER_MAX_BODY},
        .policies = "policies/", .drain_timeout_s = 25, .log_level = LOG_INFO,
        .cluster = {.sync_timeout_s = 30, .lookup_timeout_ms = 1000}};
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'l': o->cfg.listen = optarg; break;
        case 'c': o->cert_file = optarg; break;
        case 'k': o->key_file = optarg; break;
        case 'p': o->policies = optarg; break;
        case 'C': o->client_ca = optarg; break;
        case 'n': o->server_name = optarg; break;
        case 'E': o->allow_empty_policies = true; break;
        case 'K': o->cluster.kubeconfig = optarg; break;
        case 'N': o->cluster.none = true; break;
        case 'V': o->cluster.leader_elect = true; break;
        case 'W': o->cluster.lease_namespace = optarg; break;
        case 'X': o->cluster.lease_name = optarg; break;
        case 'S':
            rc = opt_uint("--cache-sync-timeout", optarg, 0, 3600, &o->cluster.sync_timeout_s);
            break;
        case 'T':
            rc = opt_uint("--lookup-timeout", optarg, 1, 60000, &o->cluster.lookup_timeout_ms);
            break;
        case 't': rc = opt_uint("--threads", optarg, 1, 256, &o->cfg.threads); break;
        case 'm': rc = opt_uint("--max-connections", optarg, 1, 100000, &o->cfg.max_connections); break;
        case 'i': rc = opt_uint("--idle-timeout", optarg, 1, 3600, &o->cfg.idle_timeout_s); break;
        case 'H': rc = opt_uint("--header-timeout", optarg, 1, 3600, &o->cfg.header_timeout_s); break;
        case 'r': rc = opt_uint("--request-timeout", optarg, 1, 3600, &o->cfg.request_timeout_s); break;
        case 'd': rc = opt_uint("--drain-delay", optarg, 0, 3600, &o->drain_delay_s); break;
        case 'D': rc = opt_uint("--drain-timeout", optarg, 0, 3600, &o->drain_timeout_s); break;
        case 'f':
            if (log_parse_format(optarg, &o->log_format) != 0) {
                fprintf(stderr, "streamguard serve: --log-format must be logfmt or json\n");
                rc = -1;
            }
            break;
        case 'L':
            if (log_parse_level(optarg, &o->log_level) != 0) {
                fprintf(stderr, "streamguard serve: --log-level must be debug, info, warn or error\n");
                rc = -1;
            }
            break;
        case 'e':
            if (strcmp(optarg, "warn") != 0 && strcmp(optarg, "deny") != 0) {
                fprintf(stderr, "streamguard serve: --enforcement must be deny or warn\n");
                rc = -1;
            }
            o->cfg.warn_only = strcmp(optarg, "warn") == 0;
            break;
        case 'h': usage(stdout); return 1;
        default: rc = -1; break;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "streamguard serve: unexpected argument '%s'\n", argv[optind]);
        rc = -1;
    }
    if (rc == 0 && o->cluster.none && o->cluster.kubeconfig != NULL) {
        fprintf(stderr, "streamguard serve: --no-cluster and --kubeconfig exclude each other\n");
        rc = -1;
    }
    if (rc == 0 && !o->cluster.leader_elect &&
        (o->cluster.lease_namespace != NULL || o->cluster.lease_name != NULL)) {
        fprintf(stderr, "streamguard serve: --leader-elect-namespace and --leader-elect-name "
                        "need --leader-elect\n");
        rc = -1;
    }
    if (rc == 0 && (o->cert_file == NULL || o->key_file == NULL)) {
        fprintf(stderr, "streamguard serve: --tls-cert and --tls-key are required\n");
        rc = -1;
    }
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
static policy_set *load_policies(const char *dir, bool allow_empty, diag_list *dl)
{
    struct stat st;
    srcpos at = {.file = dir};
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        diag_add(dl, DIAG_ERROR, "policy.dir", &at, "the policy directory does not exist");
        return NULL;
    }
    policy_set *set = policy_set_load_dir(dir, dl);
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
    server_begin_drain(s);
    if (o->drain_delay_s > 0)
        sleep(o->drain_delay_s);
    server_stop_accepting(s);
    log_info("serve", LOG_S("msg", "stopped accepting; answering the requests received"));
    if (!server_drain(s, o->drain_timeout_s * 1000u))
        log_warn("serve", LOG_S("msg", "drain timeout; closing the connections still open"),
                 LOG_I("in_flight", server_in_flight(s)));
    server_free(s);
    log_info("serve", LOG_S("msg", "stopped"));
}

static int wait_for_signals(server *s, reloader *rl, const struct serve_opts *o, const sigset_t *set)
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
        cluster_release_leadership(o->cfg.cluster); /* another replica leads within ~2 s */
        drain(s, o, sig);
        return 0;
    }
}

int server_cmd_serve(int argc, char **argv)
{
    struct serve_opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    log_setup(o.log_format, o.log_level, 2);
    diag_list dl;
    diag_list_init(&dl);
    tls_pair pair;
    policy_set *policies = NULL;
    if (tls_pair_load(o.cert_file, o.key_file, &pair, &dl) != 0 ||
        (policies = load_policies(o.policies, o.allow_empty_policies, &dl)) == NULL) {
        log_diags(&dl);
        diag_list_clear(&dl);
        tls_pair_clear(&pair); /* empty when the load itself failed */
        return 1;
    }
    size_t n_policies;
    policy_set_items(policies, &n_policies);
    long long days_left = (pair.info.not_after - (long long)time(NULL)) / 86400;
    if (days_left < 7)
        log_warn("serve", LOG_S("msg", "certificate expires soon"), LOG_I("days_left", days_left));
    metrics_set_cert_not_after(pair.info.not_after);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread exists, so all inherit it */
    signal(SIGPIPE, SIG_IGN);

    buf ca;
    buf_init(&ca, (size_t)1 << 20);
    if (o.client_ca != NULL && file_read(o.client_ca, ca.cap, &ca, &dl) != 0) {
        log_diags(&dl);
        diag_list_clear(&dl);
        tls_pair_clear(&pair);
        policy_set_unref(policies);
        return 1;
    }
    cluster *cl = cluster_start(&o.cluster, &dl);
    if (cl == NULL) {
        log_diags(&dl);
        diag_list_clear(&dl);
        tls_pair_clear(&pair);
        policy_set_unref(policies);
        buf_clear(&ca);
        return 1;
    }
    cluster_set_policies(cl, policies); /* the watches list while the server starts */
    o.cfg.cluster = cl;
    o.cfg.client_ca_pem = o.client_ca ? ca.data : NULL;
    o.cfg.cert_pem = pair.cert_pem;
    o.cfg.key_pem = pair.key_pem;
    o.cfg.policies = policies; /* taken over by the server, even when it fails to start */
    server *s = server_start(&o.cfg, &dl);
    if (s == NULL) {
        log_diags(&dl);
        diag_list_clear(&dl);
        cluster_free(cl);
        tls_pair_clear(&pair);
        buf_clear(&ca);
        return 1;
    }
    metrics_reload_done(METRICS_RELOAD_CERT, true);
    metrics_reload_done(METRICS_RELOAD_POLICIES, true);
    metrics_set_policy_count((long)n_policies);
    if (o.server_name != NULL && !tls_cert_covers_host(pair.cert_pem, o.server_name))
        log_warn("serve", LOG_S("msg", "the certificate does not name the service"),
                 LOG_S("server_name", o.server_name));
    reload_config rc_cfg = {.srv = s, .cert_file = o.cert_file, .key_file = o.key_file,
                            .policy_dir = o.policies, .server_name = o.server_name,
                            .allow_empty = o.allow_empty_policies, .cluster = cl};
    reloader *rl = reloader_start(&rc_cfg, pair.cert_pem);
    if (rl == NULL)
        log_warn("serve", LOG_S("msg", "the reload thread did not start; certificates and "
                                       "policies are fixed"));
    log_info("serve", LOG_S("msg", "listening"), LOG_S("listen", o.cfg.listen),
             LOG_I("port", server_port(s)), LOG_I("threads", o.cfg.threads),
             LOG_S("policies", o.policies), LOG_I("policy_count", n_policies),
             LOG_S("enforcement", o.cfg.warn_only ? "warn" : "deny"),
             LOG_S("cert_serial", pair.info.serial), LOG_I("cert_not_after", pair.info.not_after));
    server_set_ready(s, true);
    int rc = wait_for_signals(s, rl, &o, &set); /* frees the server */
    cluster_free(cl);
    tls_pair_clear(&pair);
    buf_clear(&ca);
    diag_list_clear(&dl);
    return rc;
}
