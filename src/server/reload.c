/* reload.c - certificate and policy reload while serving; see reload.h.
 *
 * One thread waits on inotify (the directories of the certificate, the key, the policies and
 * serve --params: Kubernetes updates Secret and ConfigMap volumes by swapping a "..data"
 * symlink, which shows as a rename in the directory, never as a write to the file) and on a
 * pipe (SIGHUP, stop).
 * Changes are collected until the directory has been quiet for DEBOUNCE_MS, so a swap of
 * several files is one reload. A reload loads and checks everything first and swaps only
 * then; anything wrong keeps what is serving, is logged with its reasons and is counted. */
#include "reload.h"

#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../tls/certs.h"
#include "../util/log.h"
#include "cluster.h"
#include "metrics.h"
#include "../util/clock.h"
#include "../util/mem.h"

#define DEBOUNCE_MS 200
#define MAX_WATCHES 4

enum { WANT_CERT = 1, WANT_POLICIES = 2, WANT_STOP = 4 };

struct reloader {
    reload_config cfg;
    pthread_t thread;
    int ino;          /* inotify, or -1 when it could not be set up */
    int wake[2];      /* a pipe: a byte of WANT_* flags per request */
    int wd[MAX_WATCHES];
    unsigned wd_kind[MAX_WATCHES];
    char *dir[MAX_WATCHES]; /* real paths of the watched directories */
    char *cert_pem;   /* what is serving, to tell a real change from a touch */
};

static void log_diags(const char *what, const diag_list *dl)
{
    char msg[128];
    snprintf(msg, sizeof msg, "%s reload failed; still serving the previous one", what);
    for (size_t i = 0; i < dl->count; i++) {
        const diag *d = &dl->items[i];
        char where[300] = "";
        int line, col;
        srcpos_line_col(&d->at, &line, &col);
        if (d->at.file != NULL)
            snprintf(where, sizeof where, "%s:%d:%d", d->at.file, line, col);
        log_warn("reload", LOG_S("msg", msg), LOG_S("at", where[0] ? where : "-"),
                 LOG_S("code", d->code), LOG_S("reason", d->msg));
    }
}

static void reload_cert(reloader *r)
{
    if (r->cfg.cert_file == NULL)
        return; /* --manage-webhook-certs: the pair comes from the Secret (certmgr.c) */
    diag_list dl;
    diag_list_init(&dl);
    tls_pair pair;
    if (tls_pair_load(r->cfg.cert_file, r->cfg.key_file, &pair, &dl) != 0) {
        log_diags("certificate", &dl);
        metrics_reload_done(METRICS_RELOAD_CERT, false);
        diag_list_clear(&dl);
        return;
    }
    if (r->cert_pem != NULL && strcmp(r->cert_pem, pair.cert_pem) == 0) {
        /* touched, not changed: not a reload, but the files are good again if the last one
         * was refused (the serving pair put back after a broken one) */
        metrics_reload_outcome(METRICS_RELOAD_CERT, true);
        tls_pair_clear(&pair);
        diag_list_clear(&dl);
        return;
    }
    if (server_set_certificate(r->cfg.srv, pair.cert_pem, pair.key_pem, &dl) != 0) {
        log_diags("certificate", &dl);
        metrics_reload_done(METRICS_RELOAD_CERT, false);
    } else {
        free(r->cert_pem);
        r->cert_pem = strdup(pair.cert_pem);
        metrics_reload_done(METRICS_RELOAD_CERT, true);
        metrics_set_cert_not_after(pair.info.not_after);
        log_info("reload", LOG_S("msg", "certificate reloaded"),
                 LOG_S("cert_serial", pair.info.serial),
                 LOG_I("cert_not_after", pair.info.not_after));
        if (r->cfg.server_name != NULL && !tls_cert_covers_host(pair.cert_pem, r->cfg.server_name))
            log_warn("reload", LOG_S("msg", "the new certificate does not name the service"),
                     LOG_S("server_name", r->cfg.server_name));
        long long days_left = (pair.info.not_after - (long long)time(NULL)) / 86400;
        if (days_left < 7)
            log_warn("reload", LOG_S("msg", "certificate expires soon"),
                     LOG_I("days_left", days_left));
    }
    tls_pair_clear(&pair);
    diag_list_clear(&dl);
}

int reload_check_policy_set(const policy_set *set, const char *dir, bool allow_empty, diag_list *dl)
{
    size_t n;
    policy_set_items(set, &n);
    if (n > 0)
        return 0;
    metrics_empty_policy_set(allow_empty);
    if (allow_empty) {
        log_warn("policy", LOG_S("msg", "serving an empty policy set: every review is allowed"),
                 LOG_S("dir", dir), LOG_S("why", "--allow-empty-policies"));
        return 0;
    }
    srcpos at = {.file = dir};
    diag_add(dl, DIAG_ERROR, "policy.empty", &at,
             "the policy directory holds no policy, so every review would be allowed; "
             "refused (pass --allow-empty-policies if that is intended)");
    return -1;
}

static void reload_policies(reloader *r)
{
    diag_list dl;
    diag_list_init(&dl);
    const char *dir = r->cfg.policy_dir, *params = r->cfg.params_file;
    policy_set *set = policy_set_load(&dir, 1, params ? &params : NULL, params ? 1 : 0, &dl);
    if (set != NULL &&
        reload_check_policy_set(set, r->cfg.policy_dir, r->cfg.allow_empty, &dl) != 0) {
        policy_set_unref(set);
        set = NULL;
    }
    if (set == NULL) {
        log_diags("policy", &dl);
        metrics_reload_done(METRICS_RELOAD_POLICIES, false);
        diag_list_clear(&dl);
        mem_release_freed(); /* what the failed load needed */
        return;
    }
    size_t n;
    policy_set_items(set, &n);
    cluster_set_policies(r->cfg.cluster, set); /* new kinds start listing before they are asked */
    server_set_policies(r->cfg.srv, set);
    metrics_reload_done(METRICS_RELOAD_POLICIES, true);
    metrics_set_policy_count((long)n);
    log_info("reload", LOG_S("msg", "policies reloaded"), LOG_I("policy_count", n));
    diag_list_clear(&dl);
    mem_release_freed(); /* what the load needed, and the old set when no request holds it */
}

/* Reads inotify events: which of the watched directories changed. */
static unsigned drain_inotify(reloader *r)
{
    char b[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    unsigned kinds = 0;
    for (;;) {
        ssize_t n = read(r->ino, b, sizeof b);
        if (n <= 0)
            return kinds;
        for (char *p = b; p < b + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            for (int i = 0; i < MAX_WATCHES; i++)
                if (r->wd[i] >= 0 && r->wd[i] == ev->wd)
                    kinds |= r->wd_kind[i];
            p += sizeof *ev + ev->len;
        }
    }
}

/* The thread. It can be cancelled (reloader_stop() when the wake pipe fails) only while it
 * waits in poll(): cancelled in a reload, it would leave a lock held (the log's, the
 * server's) or a half-loaded set behind. */
static void *watch(void *arg)
{
    reloader *r = arg;
    unsigned pending = 0;
    long long last = 0;
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    for (;;) {
        struct pollfd fds[2] = {{.fd = r->wake[0], .events = POLLIN}, {.fd = r->ino, .events = POLLIN}};
        int timeout = pending ? (int)(DEBOUNCE_MS - (clock_mono_ms() - last)) : -1;
        if (pending && timeout < 0)
            timeout = 0;
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &cancel_state);
        int rc = poll(fds, r->ino >= 0 ? 2 : 1, timeout);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && (fds[0].revents & POLLIN)) {
            unsigned char flags[64];
            ssize_t n = read(r->wake[0], flags, sizeof flags);
            unsigned now = 0;
            for (ssize_t i = 0; i < n; i++)
                now |= flags[i];
            if (now & WANT_STOP)
                break;
            /* SIGHUP: at once, no debounce */
            if (now & WANT_CERT)
                reload_cert(r);
            if (now & WANT_POLICIES)
                reload_policies(r);
        }
        if (rc > 0 && r->ino >= 0 && (fds[1].revents & POLLIN)) {
            unsigned k = drain_inotify(r);
            if (k) {
                pending |= k;
                last = clock_mono_ms();
            }
        }
        if (pending && clock_mono_ms() - last >= DEBOUNCE_MS) {
            if (pending & WANT_CERT)
                reload_cert(r);
            if (pending & WANT_POLICIES)
                reload_policies(r);
            pending = 0;
        }
    }
    return NULL;
}

/* Watches the directory of 'path' (or 'path' itself when it is a directory) for 'kind'. */
static void add_watch(reloader *r, int slot, const char *path, bool is_dir, unsigned kind)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = is_dir ? copy : dirname(copy);
    char *real = realpath(dir, NULL);
    for (int i = 0; real != NULL && i < slot; i++) {
        if (r->dir[i] != NULL && strcmp(r->dir[i], real) == 0) {
            r->wd_kind[i] |= kind; /* the same directory (the key next to the certificate) */
            free(real);
            return;
        }
    }
    r->dir[slot] = real;
    r->wd[slot] = inotify_add_watch(r->ino, dir,
                                    IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
                                        IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                        IN_ONLYDIR);
    r->wd_kind[slot] = kind;
    if (r->wd[slot] < 0)
        log_warn("reload", LOG_S("msg", "cannot watch a directory; reload it with SIGHUP"),
                 LOG_S("dir", dir), LOG_S("error", strerror(errno)));
}

reloader *reloader_start(const reload_config *cfg, const char *serving_cert_pem)
{
    reloader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->cfg = *cfg;
    r->cert_pem = serving_cert_pem ? strdup(serving_cert_pem) : NULL;
    for (int i = 0; i < MAX_WATCHES; i++)
        r->wd[i] = -1;
    if (pipe(r->wake) != 0) {
        free(r->cert_pem);
        free(r);
        return NULL;
    }
    r->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->ino < 0) {
        log_warn("reload", LOG_S("msg", "inotify is not available; reload with SIGHUP"),
                 LOG_S("error", strerror(errno)));
    } else {
        if (cfg->cert_file != NULL) {
            add_watch(r, 0, cfg->cert_file, false, WANT_CERT);
            add_watch(r, 1, cfg->key_file, false, WANT_CERT);
        }
        add_watch(r, 2, cfg->policy_dir, true, WANT_POLICIES);
        struct stat st; /* --params: a file (its directory is watched) or a directory */
        if (cfg->params_file != NULL)
            add_watch(r, 3, cfg->params_file,
                      stat(cfg->params_file, &st) == 0 && S_ISDIR(st.st_mode), WANT_POLICIES);
    }
    if (pthread_create(&r->thread, NULL, watch, r) != 0) {
        if (r->ino >= 0)
            close(r->ino);
        close(r->wake[0]);
        close(r->wake[1]);
        free(r->cert_pem);
        free(r);
        return NULL;
    }
    return r;
}

void reloader_request(reloader *r, bool cert, bool policies)
{
    unsigned char f = (unsigned char)((cert ? WANT_CERT : 0) | (policies ? WANT_POLICIES : 0));
    if (r != NULL && f != 0 && write(r->wake[1], &f, 1) != 1)
        log_warn("reload", LOG_S("msg", "cannot signal the reload thread"));
}

void reloader_stop(reloader *r)
{
    if (r == NULL)
        return;
    unsigned char f = WANT_STOP;
    if (write(r->wake[1], &f, 1) != 1)
        pthread_cancel(r->thread); /* it cannot be told: cancelled in its wait instead */
    /* Either way it has ended before 'r', which it reads, is freed. */
    pthread_join(r->thread, NULL);
    if (r->ino >= 0)
        close(r->ino);
    close(r->wake[0]);
    close(r->wake[1]);
    for (int i = 0; i < MAX_WATCHES; i++)
        free(r->dir[i]);
    free(r->cert_pem);
    free(r);
}
