/* functions.h - the functions streamguard adds to CEL for policies: Kubernetes quantities
 * (quantity, isQuantity and the methods of kubernetes.Quantity), flinkMemory,
 * flinkResourceMemory and jvmMemory. Pass them to expr_compile() in expr_decls.fns. */
#ifndef SG_POLICY_FUNCTIONS_H
#define SG_POLICY_FUNCTIONS_H

#include "../expr/expr.h"

extern const expr_fn_def policy_functions[];
extern const size_t policy_n_functions;

#endif
