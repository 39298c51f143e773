/* reload.h - the certificate and the policies reloaded while serving.
 *
 * A thread watches the directories of the certificate, the key and the policies with
 * inotify (which sees Kubernetes' "..data" symlink swaps) and reloads on change; SIGHUP asks
 * for the same through reloader_request(). A new certificate is checked with OpenSSL (it
 * parses, its key matches, it is valid now) before new handshakes get it; a new policy set
 * must load without errors before it replaces the old one. Anything wrong keeps what is
 * serving, and is logged (each problem with its position) and counted in the metrics. */
#ifndef SG_SERVER_RELOAD_H
#define SG_SERVER_RELOAD_H

#include <stdbool.h>

#include "http.h"

typedef struct reload_config {
    server *srv;
    const char *cert_file, *key_file; /* as given to serve */
    const char *policy_dir;
    const char *server_name; /* warn when a new certificate does not name it; NULL: no check */
} reload_config;

typedef struct reloader reloader;

/* Starts watching ('serving_cert_pem' is what the server started with). Returns NULL when
 * the thread cannot start; without inotify it still answers reloader_request(). */
reloader *reloader_start(const reload_config *cfg, const char *serving_cert_pem);

/* Reloads now (SIGHUP): the certificate, the policies, or both. */
void reloader_request(reloader *r, bool cert, bool policies);

/* Stops the thread and frees 'r'. NULL is accepted. */
void reloader_stop(reloader *r);

#endif
