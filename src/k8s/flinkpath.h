/* flinkpath.h - reading a path or URI string the way Flink does, and Java's String.trim()
 * and String.toUpperCase(Locale.ROOT) for comparing Flink option values.
 *
 * Flink turns a directory option (high-availability.storageDir, checkpoint and savepoint
 * dirs) into org.apache.flink.core.fs.Path: scheme and authority split off by hand, '\'
 * made '/', runs of '/' collapsed, a trailing '/' dropped, then java.net.URI.normalize()
 * resolves "." and "..". A policy that reads the string any other way can be dodged
 * (file:///mnt/vol/a\..\..\..\tmp is /tmp), so every policy reads paths through this. */
#ifndef SG_K8S_FLINKPATH_H
#define SG_K8S_FLINKPATH_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/arena.h"

typedef struct k8s_flink_path {
    const char *scheme;    /* ASCII lower case; "" when the string has none */
    const char *authority; /* "" when none */
    /* The path the file system opens: Flink's normalisation and URI.normalize(), then the
     * ".." segments that URI.normalize() leaves at the root of an absolute path dropped, as
     * the kernel does (/.. is /). No trailing '/' except for "/" itself. Percent escapes are
     * not decoded: Flink's URI constructor quotes every '%', so "%2e%2e" is a file name. */
    const char *path;
    bool absolute; /* as Path.isAbsolute(): "C:x" (a drive without a '/') is relative */
    /* NULL, or why the string is not one path for every Flink version (a static string):
     * blank, padded with characters <= U+0020 (Flink 1.x trims them, Flink 2.x keeps them,
     * so the versions read different paths or Flink 2.x rejects it), a '#' or a line break
     * (Flink 1.x's flink-conf.yaml parser ends the value there), an invalid URI scheme, or a
     * scheme with a relative or empty path (java.net.URI rejects both). The other fields
     * then hold Path's reading of the trimmed string. */
    const char *error;
} k8s_flink_path;

/* Reads 's' ('len' bytes, UTF-8) as Flink's Path(String) does, into 'out'; the strings are
 * allocated from 'a'. Returns 0 (with out->error set when Flink would not read it as one
 * path), or -1 when 'a' is out of memory. */
int k8s_flink_path_parse(arena *a, const char *s, size_t len, k8s_flink_path *out);

/* Java's String.trim(): the span of 's' without the leading and trailing characters
 * <= U+0020 (controls, space, NUL). Sets '*start' and returns the length; no copy. */
size_t k8s_java_trim(const char *s, size_t len, size_t *start);

/* The value Flink 1.x reads back from the flink-conf.yaml the operator writes ("key: value"
 * lines, GlobalConfiguration.loadYAMLResource): the text before the first '#' (a comment) or
 * line break (the end of the line), trimmed as String.trim() does. Flink 2.x's config.yaml
 * keeps the whole value. Sets '*start' and returns the length; no copy. */
size_t k8s_flink_conf_value(const char *s, size_t len, size_t *start);

/* Java's String.toUpperCase(Locale.ROOT) for comparing with ASCII constants (enum names):
 * ASCII letters, and every other character whose upper case contains an ASCII letter, get
 * Java's full mapping (SpecialCasing): 'ı' -> "I", 'ſ' -> "S", 'ß' -> "SS", the ligatures
 * U+FB00-U+FB06 ("FF", "FI", "FL", "FFI", "FFL", "ST", "ST"), 'ŉ' -> "ʼN", 'ǰ' -> "J̌",
 * U+1E96-U+1E9A ("H̱", "T̈", "W̊", "Y̊", "Aʾ"). Other non-ASCII characters are copied
 * as they are: their upper case has no ASCII letter, so it never equals an ASCII constant
 * either way. Returns an arena-owned string of '*out_len' bytes, or NULL (out of memory). */
char *k8s_java_upper(arena *a, const char *s, size_t len, size_t *out_len);

#endif
