/* reload.h - the certificate and the policies reloaded while serving.
 *
 * A thread watches the directories of the certificate, the key and the policies with
 * inotify (which sees Kubernetes' "..data" symlink swaps) and reloads on change; SIGHUP asks
 * for the same through reloader_request(). A new certificate is checked with GnuTLS (it
 * parses, its key matches, it is valid now) before new handshakes get it; a new policy set
 * must load without errors before it replaces the old one. Anything wrong keeps what is
 * serving, and is logged (each problem with its position) and counted in the metrics. */
#ifndef SG_SERVER_RELOAD_H
#define SG_SERVER_RELOAD_H

#include <stdbool.h>

#include "../policy/policy.h"
#include "../util/diag.h"
#include "http.h"

typedef struct reload_config {
    server *srv;
    const char *cert_file, *key_file; /* as given to serve; NULL with --manage-webhook-certs
                                         (the Secret is read through the API instead) */
    const char *policy_dir;
    const char *params_file;  /* serve --params, or NULL; its directory is watched too */
    const char *server_name; /* warn when a new certificate does not name it; NULL: no check */
    bool allow_empty;        /* --allow-empty-policies: a set with no policy may be served */
    struct cluster *cluster; /* told the kinds each new set looks up; NULL: none */
} reload_config;

/* The rule for a policy set with no policy in it, at start and on every reload: an empty set
 * would allow every review, and is far more often a ConfigMap or mount mistake than a wish.
 * Returns 0 when 'set' may be served; -1 with a "policy.empty" error in 'dl' when it is empty
 * and 'allow_empty' is false. Either way an empty set is logged and counted. */
int reload_check_policy_set(const policy_set *set, const char *dir, bool allow_empty,
                            diag_list *dl);

typedef struct reloader reloader;

/* Starts watching ('serving_cert_pem' is what the server started with). Returns NULL when
 * the thread cannot start; without inotify it still answers reloader_request(). */
reloader *reloader_start(const reload_config *cfg, const char *serving_cert_pem);

/* Reloads now (SIGHUP): the certificate, the policies, or both. */
void reloader_request(reloader *r, bool cert, bool policies);

/* Stops the thread (told through its pipe; cancelled in its wait when the pipe fails), waits
 * until it has ended, and frees 'r'. NULL is accepted. */
void reloader_stop(reloader *r);

#endif
