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

/* Prints the report to 'f', frees it, and returns the exit code: 2 when there were input
 * errors, 1 when a document was denied, 0 otherwise. */
int check_report_finish(check_report *r, FILE *f);

/* Writes 's' as XML text or attribute content (&, <, >, " escaped; control characters other
 * than newline and tab dropped). Shared by the JUnit reports of check and test. */
void cli_xml_escape(FILE *f, const char *s);

/* The line of 'field' ("spec.flinkConfiguration.high-availability.storageDir",
 * "spec.containers[0].image") under 'root', or 'dflt' when it is not there. */
int check_field_line(const ynode *root, const char *field, int dflt);

#endif
