/* schema.h - the OpenAPI schemas of the kinds policies match, for lint's field-path checks.
 *
 * A CustomResourceDefinition's openAPIV3Schema of each served version becomes a compact text
 * (policy_crd_rows): at build time for the CRDs vendored in schemas/ (scripts/schemagen.c
 * writes them as the table policy_builtin_schemas), at lint time for `lint --crd FILE`. So do
 * Kubernetes' own kinds, from the part of its OpenAPI v2 document vendored in schemas/kube/
 * (policy_openapi_rows, at build time only; "$ref"s are written out where they stand). The
 * text, read back by policy_schema_type(), is the expr/ type lint gives 'object' and what
 * lookup() answers:
 *
 *   T := 's' | 'i' | 'b' | '*'          string, integer, boolean, anything (dyn)
 *      | '[' T ']' | '<' T '>'          list of T, map of string to T (additionalProperties)
 *      | '{' ['+'] [name ':' T {',' name ':' T}] '}'   an object; '+': other fields may exist
 *
 * 'number' is '*' (a JSON number is an int or a double at run time), and so are
 * x-kubernetes-int-or-string (OpenAPI v2: format int-or-string; and resource.Quantity, a string
 * in v2 that JSON may give as a number) and x-kubernetes-preserve-unknown-fields without
 * properties (a free-form value such as flinkConfiguration in newer operators). */
#ifndef SG_POLICY_SCHEMA_H
#define SG_POLICY_SCHEMA_H

#include <stddef.h>

#include "../expr/expr.h"
#include "../util/arena.h"
#include "../util/diag.h"

/* Bytes of a CRD file lint --crd reads (k8ssandra's is 2.5 MB; YAML_MAX_DOCUMENT caps each
 * document of it at 3 MiB). */
#define POLICY_MAX_CRD_FILE ((size_t)16 << 20)

typedef struct policy_schema_row {
    const char *group;   /* "flink.apache.org"; "" for the core group */
    const char *version; /* "v1beta1" */
    const char *kind;    /* "FlinkDeployment" */
    const char *text;    /* the compact schema */
    /* NULL for a CRD's row, whose schema is the one the cluster enforces. For a kind of an
     * OpenAPI document (Kubernetes' own kinds), the release it describes, "Kubernetes 1.20.2"
     * (its info.title and info.version): a cluster may serve a newer one, whose objects have
     * fields this schema lacks, so lint only warns about a field not in it. */
    const char *basis;
} policy_schema_row;

/* The vendored CRDs, every served version (generated: build/gen/schemas.c). */
extern const policy_schema_row policy_builtin_schemas[];
extern const size_t policy_n_builtin_schemas;

/* Appends to '*rows' (an array from 'a' of '*n', grown as needed) a row for every served
 * version of every CustomResourceDefinition among the YAML documents of 'text' ('file' names
 * it in diags). Documents of other kinds are errors ("policy.crd"). Returns 0, or -1 with
 * diags. */
int policy_crd_rows(arena *a, const char *file, const char *text, size_t len,
                    policy_schema_row **rows, size_t *n, diag_list *dl);

/* Appends to '*rows' a row for every kind an OpenAPI v2 document (Kubernetes' swagger.json, or
 * the part of it vendored in schemas/kube/) has a definition of (x-kubernetes-group-version-kind),
 * following "$ref" through its definitions. Returns 0, or -1 with diags ("policy.crd"). */
int policy_openapi_rows(arena *a, const char *file, const char *text, size_t len,
                        policy_schema_row **rows, size_t *n, diag_list *dl);

/* The type of objects of 'kind' from the compact text of a row; NULL (dyn) when the text is
 * not in the compact form. Objects are named "Kind path.to.field" in messages, and carry the
 * row's 'basis' (NULL for a CRD), which makes a field they lack a warning (expr_type). */
const expr_type *policy_schema_type(arena *a, const char *text, const char *kind,
                                    const char *basis);

#endif
