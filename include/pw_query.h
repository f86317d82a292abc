/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_query: the /poolwatch query string (and the reset form's body),
 * parsed strictly from one table of arguments.
 *
 *   json | auto                  output format (flags, as mod_status)
 *   format=html|json|prometheus|auto
 *   refresh=N                    Refresh: N seconds, 1-3600
 *   pid=N                        the pool tree of child N
 *   notable                      plain HTML, no tables, graphs or style
 *   reset | reset=1              reset the statistics (POST only: the
 *                                handler refuses it on GET)
 *
 * Anything else is an error with a short message for a 400: an unknown or
 * empty name, a value on a flag or none on an argument that needs one, a
 * number out of range, an argument given twice, two formats, more than
 * PW_QUERY_MAX bytes. Messages name only the table's own words, never the
 * client's bytes, so they need no escaping.
 *
 * Pure APR (no httpd headers): unit-tested in t/unit and fuzzed.
 */
#ifndef PW_QUERY_H
#define PW_QUERY_H

#include <apr.h>

#define PW_QUERY_MAX     1024 /* longer query strings are refused */
#define PW_REFRESH_MAX   3600
#define PW_QUERY_PID_MAX 2147483647

typedef enum {
    PW_FORMAT_HTML = 0,
    PW_FORMAT_JSON,
    PW_FORMAT_PROMETHEUS,
    PW_FORMAT_AUTO /* mod_status style "Key: value" lines */
} pw_format_e;

typedef struct pw_query_t {
    pw_format_e format;
    int format_given; /* a format was named (json, auto or format=) */
    int refresh;      /* seconds, 0 = none */
    apr_uint32_t pid; /* 0 = none */
    int notable;
    int reset;
} pw_query_t;

/* Parses args (r->args, or a form body; NULL or "" is no argument) into q,
 * in place: no allocation, no copy. Returns NULL, or a static message for
 * the 400. */
const char *pw_query_parse(const char *args, pw_query_t *q);

const char *pw_format_name(pw_format_e f);

#endif /* PW_QUERY_H */
