/* client_int.h - what client.c and api.c share; never included from outside src/kube/. */
#ifndef SG_KUBE_CLIENT_INT_H
#define SG_KUBE_CLIENT_INT_H

#include "client.h"

/* The discovery cache of a client (api.c): kinds per group version, guarded by its own
 * mutex. */
typedef struct kube_disc kube_disc;

/* Returns an empty cache, or NULL when out of memory. */
kube_disc *kube_disc_new(void);

/* Frees 'd' and what it holds. NULL is accepted. */
void kube_disc_free(kube_disc *d);

/* The cache of 'c' (borrowed: it lives as long as 'c'). */
kube_disc *kube_client_disc(kube_client *c);

#endif
