/* certmgr_int.h - what the files of the certificate manager share: the manager, the Secret's
 * content, the plan, the process-wide counters. Internal to src/server/.
 *
 *   certmgr.c           the pass (read the Secret, write it, serve it), the thread, the metrics
 *   certmgr_plan.c      pure: the Secret's data <-> JSON, and what it should hold now
 *   certmgr_webhooks.c  the webhook configurations' caBundle, and since when they trust the CA */
#ifndef SG_SERVER_CERTMGR_INT_H
#define SG_SERVER_CERTMGR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "certmgr.h"

#define CM_TIMEOUT_MS 5000 /* each API request */

enum { CFG_VALIDATING, CFG_MUTATING, CFG_COUNT };
extern const char *const cm_cfg_label[CFG_COUNT]; /* "validating", "mutating" */

enum sync_err {
    ERR_SECRET_READ,
    ERR_SECRET_WRITE,
    ERR_WEBHOOK_READ,
    ERR_WEBHOOK_PATCH,
    ERR_SERVE,
    ERR_COUNT
};

/* Process-wide, as metrics.c's: one manager per process. Defined in certmgr.c. */
typedef struct cm_counters {
    atomic_bool on;
    atomic_llong ca_not_after, cert_not_after;
    atomic_long bundle_size;
    atomic_long issued_ca, issued_cert;
    atomic_long patches[CFG_COUNT];
    atomic_long errors[ERR_COUNT];
} cm_counters;
extern cm_counters cm_stats;

struct certmgr {
    lease_api api;
    certmgr_opts o;
    char *ns, *secret, *names[CFG_COUNT]; /* copies */
    char **hosts;
    char secret_path[600], cfg_path[CFG_COUNT][400];
    pthread_mutex_t lock; /* 'serving' */
    tls_pair serving;     /* what the Secret holds, checked; empty until then */
    bool offered;         /* 'serving' has been taken by the server */
    /* The newest CA seen in every webhook entry, and since when (Unix seconds). */
    char trusted_serial[100];
    long long trusted_since;
    char last_error[256]; /* logged once until it changes or a pass goes well */
    int errors;           /* cm_note_error() calls */
    int (*serve)(void *arg, const tls_pair *p);
    void *serve_arg;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
};

/* The Secret's four entries, decoded; NULL when absent or not base64. malloc-owned. */
typedef struct secret_data {
    char *ca_crt, *ca_key, *tls_crt, *tls_key;
} secret_data;

enum { PLAN_CA = 1, PLAN_PRUNE = 2, PLAN_CERT = 4, PLAN_WAIT = 8 };

typedef struct plan_result {
    unsigned what;
    const char *why; /* of the CA or certificate change, for the log */
    secret_data out; /* set when 'what' has PLAN_CA, PLAN_PRUNE or PLAN_CERT */
} plan_result;

/* ---- certmgr.c ---- */

/* Whether this replica may write now. */
bool cm_is_writer(const certmgr *m);

/* Logs an error once until a different one (or a pass without error) comes; counts each. */
void cm_note_error(certmgr *m, enum sync_err e, const char *what, const char *why);

/* ---- certmgr_plan.c ---- */

/* Wipes (keys) and frees the entries of 'd'; they are NULL after. */
void cm_secret_data_clear(secret_data *d);

/* Decodes data[KEY] of 'secret' into 'd' (free with cm_secret_data_clear). Borrows 'secret'. */
void cm_secret_decode(const cJSON *secret, secret_data *d);

/* Sets data[KEY] of 'secret' from 'd' (base64), keeping any other key. Returns 0 or -1. */
int cm_secret_encode(cJSON *secret, const secret_data *d);

/* Decides what the Secret 'in' should hold at 'now'. 'trusted' tells that every webhook
 * entry has carried the newest CA for CERTMGR_TRUST_SETTLE_S. Returns 0 ('r' says what
 * changes; r->out set when anything does, free with cm_secret_data_clear), or -1 with the
 * reason in 'dl'. */
int cm_plan(const certmgr *m, const secret_data *in, long long now,
            bool (*trusted)(const certmgr *, const char *serial, long long now), plan_result *r,
            diag_list *dl);

/* ---- certmgr_webhooks.c ---- */

/* Whether every webhook entry has carried the CA 'serial' for CERTMGR_TRUST_SETTLE_S. */
bool cm_trusted(const certmgr *m, const char *serial, long long now);

/* Brings every configuration's caBundle in line with 'ca_crt' (PEM); records since when the
 * newest CA is trusted, or forgets it when a configuration could not be read or patched. */
void cm_sync_webhooks(certmgr *m, const char *ca_crt, long long now);

#endif
