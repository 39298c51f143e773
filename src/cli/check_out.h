/* check_out.h - the report of 'streamguard check': text, JSON, JUnit or SARIF. */
#ifndef SG_CLI_CHECK_OUT_H
#define SG_CLI_CHECK_OUT_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "../policy/engine.h"
#include "../policy/yamldoc.h"
#include "manifests.h"


enum check_format { CHECK_TEXT, CHECK_JSON, CHECK_JUNIT, CHECK_SARIF };

typedef struct check_report check_report;

/* Parses "text", "json", "junit" or "sarif". Returns 0, or -1. */
int check_parse_format(const char *s, enum check_format *out);

check_report *check_report_new(enum check_format fmt);

/* Text: 'quiet' prints only denials and input errors, then the summary (no patches, no
 * warnings, no skipped documents). SARIF: artifact URIs are relative to 'sarif_root' (NULL:
 * the working directory) for files under it, and a rule's helpUri is 'help_base' + "/" + the
 * path of its policy file under that root (NULL: a file:// URI of the file). */
void check_report_options(check_report *r, bool quiet, const char *sarif_root,
                          const char *help_base);

/* The policies checked with ('s' is borrowed and must outlive the report): SARIF lists a rule
 * for each, whether it fired or not. */
void check_report_policies(check_report *r, const policy_set *s);

/* A document left out because it is not a Kubernetes object (or a kustomization file, 'doc'
 * 0): counted as skipped, a skipped test case in JUnit. */
void check_report_skipped(check_report *r, const char *file, int doc, int line, const char *why);

/* Policy 'p' applied to the document being decided (before check_report_document on it):
 * JUnit has a test case per document and policy, passed ones included. */
void check_report_matched(check_report *r, const check_doc *d, const policy *p);

/* An input that could not be checked: file, document number (0: the file), line. */
void check_report_error(check_report *r, const char *file, int doc, int line, const char *msg);

/* A rule that fired on 'd' (a row of the report; the counts come from the verdict). Its line is the line of the finding's field in the manifest,
 * when the field is given and found, else the document's. */
void check_report_finding(check_report *r, const check_doc *d, const policy_finding *f);

/* A mutation of 'd' by policy 'policy' ('patch' is a JSON Patch text). */
void check_report_patch(check_report *r, const check_doc *d, const char *policy, const char *patch);

/* 'd' was checked, and decided 'v': the summary counts and the exit code come from the
 * decision, not from the findings again. */
void check_report_document(check_report *r, const check_doc *d, const check_verdict *v);

/* Prints the report to 'f', frees it, and returns the exit code: 1 when a document was
 * denied (whatever else went wrong: a deny must not hide behind an input error), else 2 when
 * there were input errors, else 0. */
int check_report_finish(check_report *r, FILE *f);

/* Writes 's' as XML text or attribute content (&, <, >, " escaped; control characters other
 * than newline and tab dropped; a byte that is not valid UTF-8, and U+FFFE and U+FFFF, which
 * XML 1.0 does not allow, written as U+FFFD). Shared by the JUnit reports of check and test. */
void cli_xml_escape(FILE *f, const char *s);

/* Writes 's' with every byte that is not valid UTF-8 as U+FFFD: JSON (RFC 8259) and SARIF are
 * UTF-8, while a file name, which the reports quote, may be any bytes. */
void cli_put_utf8(FILE *f, const char *s);

/* Where 'field' ("spec.flinkConfiguration.high-availability.storageDir",
 * "spec.containers[0].image", "metadata.annotations['a.b/c']") is under 'root': the line and
 * column of the deepest node of the path that exists (its key in a mapping, its item in a
 * sequence), so a missing field points at its parent; keys holding dots are matched whole.
 * When not even the first step exists, 'dflt' and column 0. */
int check_field_pos(const ynode *root, const char *field, int dflt, int *col);
int check_field_line(const ynode *root, const char *field, int dflt);

#endif
