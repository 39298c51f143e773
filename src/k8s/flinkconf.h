/* flinkconf.h - how each Flink version reads a flinkConfiguration entry back from the file
 * the Flink operator writes for it.
 *
 * For Flink 1.x the operator writes flink-conf.yaml as raw "key: value" lines
 * (ConfigurationUtils.convertConfigToWritableLines, in HashMap order), and Flink reads them
 * back line by line (GlobalConfiguration's legacy parser): a line ends at '\n', '\r' or
 * "\r\n", a '#' starts a comment, the first ": " splits key from value, both are trimmed with
 * String.trim() (every character <= U+0020), and a line without a key, a ": " or a value is
 * skipped; the last line of a key wins. For Flink 2.x it writes config.yaml with a YAML
 * dumper (the key split at '.' into nested maps, Java's split() dropping empty parts at the
 * end) and Flink reads it with a YAML parser, joining the keys with '.' again.
 *
 * So a line break in a key or value adds options for Flink 1.x, a key padded with characters
 * <= U+0020 or holding '#' or ": " is another option to it, a blank value makes it skip the
 * key (a deprecated key or the default then applies), and a key ending in '.' is another
 * option to Flink 2.x. A policy that reads the entry as written is dodged by all of these;
 * k8s_flink_conf_entry_check() finds them. The operator also writes some spec fields as
 * options (spec.job.entryClass, args, initialSavepointPath): a line break in them adds options
 * too, which k8s_flink_conf_value_check() finds. */
#ifndef SG_K8S_FLINKCONF_H
#define SG_K8S_FLINKCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/arena.h"

/* Checks that every Flink version reads the flinkConfiguration entry 'key' ('klen' bytes) =
 * 'val' ('vlen' bytes) as the one option 'key': Flink 2.x with the value 'val', Flink 1.x with
 * the value k8s_flink_conf_value() gives, which is not blank. Sets '*why' to NULL when they
 * do; otherwise to an arena-owned sentence saying which options each version reads from it
 * (keys quoted with control characters escaped; values are never shown, they may be secrets).
 * Returns 0, or -1 when 'a' is out of memory. */
int k8s_flink_conf_entry_check(arena *a, const char *key, size_t klen, const char *val,
                               size_t vlen, const char **why);

/* Returns true when Flink 1.x and 2.x both read the value 'val' ('vlen' bytes) as blank: every
 * character is <= U+0020 and none is a line break. Flink 1.x skips such a line (a deprecated
 * key or the default then applies), Flink 2.x reads a blank string, which no option that the
 * policies read accepts (a path, an enum or a size fails the start). flinkConfig() leaves
 * such an entry out, as Flink 1.x does, so the key it falls back to is the one judged. */
bool k8s_flink_conf_is_blank(const char *val, size_t vlen);

/* Checks a value the operator writes under a key of its own for Flink 1.x: 'what' names it
 * ("spec.job.args", written as $internal.application.program-args). Sets '*why' to NULL when
 * Flink 1.x reads no option from after a line break in it, else to an arena-owned sentence
 * naming the options it reads there. Returns 0, or -1 when 'a' is out of memory. */
int k8s_flink_conf_value_check(arena *a, const char *what, const char *val, size_t vlen,
                               const char **why);

#endif
