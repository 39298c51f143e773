/* yamldoc.h - YAML documents as nodes with file:line:col, and their JSON form.
 *
 * libyaml reads the stream; every node keeps where it starts (and, for block scalars, the
 * line its text starts on), so that a policy's expression errors and a manifest's findings
 * point into the file. to_json resolves plain scalars the way Kubernetes' YAML decoder
 * (go-yaml v2, YAML 1.1) does: null, booleans including yes/no/on/off, integers, floats;
 * quoted scalars are strings. Hostile input is bounded: nesting depth, alias expansion and
 * document size each have a cap, and each problem is a diag with its position. */
#ifndef SG_POLICY_YAMLDOC_H
#define SG_POLICY_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "../util/arena.h"
#include "../util/diag.h"

#define YAML_MAX_DEPTH    100      /* nesting of mappings and sequences */
#define YAML_MAX_NODES    1000000  /* nodes one document may expand to through aliases */
#define YAML_MAX_DOCUMENT ((size_t)3 << 20) /* bytes of one document: kube-apiserver's cap */
/* Bytes of key and scalar text one document may expand to through aliases. kubectl sends the
 * expanded form, which kube-apiserver caps as above; without this cap a 30 KiB manifest of
 * aliases of a long string expanded to gigabytes. Never reached without aliases: the text of
 * the keys and scalars is part of the document. */
#define YAML_MAX_EXPANDED YAML_MAX_DOCUMENT

enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

typedef struct ynode ynode;
struct ynode {
    unsigned char kind;   /* enum ynode_kind */
    bool quoted;          /* scalar written in quotes or as a block: always a string */
    bool block;           /* scalar written as | or > */
    int line, col;        /* 1-based position of the node; for a block scalar, of its text */
    const char *str;      /* scalar text, NUL-terminated (may hold NULs: see len) */
    size_t len;
    ynode **items;        /* sequence items; mapping keys at 2i and values at 2i+1 */
    size_t n;             /* items (sequence) or pairs (mapping) */
};

typedef struct ydoc {
    ynode *root;     /* never NULL; an empty document is an empty plain scalar (JSON null) */
    int line;        /* where the document starts */
    size_t size;     /* bytes of the document in the stream */
} ydoc;

/* Parses every document of 'len' bytes of 'text' ('file' names it in diags). Nodes come
 * from 'a'. Returns the number of documents (and the array in '*docs'), or -1 when the
 * stream is not valid YAML ("input.yaml", with the position libyaml reports); documents
 * before the error are still returned through '*docs' with their count in '*partial'. */
long yaml_load(arena *a, const char *file, const char *text, size_t len, ydoc **docs,
               size_t *partial, diag_list *dl);

/* Converts a node to JSON (malloc-owned; cJSON_Delete it). Returns NULL with a diag when the
 * document has a key that is not a scalar, a key given twice, or expands (through aliases) to
 * more than YAML_MAX_NODES nodes or YAML_MAX_EXPANDED bytes of text. */
cJSON *yaml_to_json(const ynode *n, const char *file, diag_list *dl);

/* The value of 'key' in mapping 'm', or NULL. */
const ynode *yaml_get(const ynode *m, const char *key);

/* True when 'n' is a plain scalar that YAML 1.1 (go-yaml v2, kubectl's reader) reads as null:
 * empty, ~, null, Null or NULL. */
bool yaml_is_null(const ynode *n);

#endif
