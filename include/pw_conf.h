/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_conf: the values of the PoolWatch* directives, parsed without httpd.
 *
 * mod_poolwatch.c keeps the directive table and where each value goes;
 * this file decides what a value means and, when it means nothing, says
 * so in one sentence that names the directive AND what it accepts, e.g.
 *
 *   PoolWatchSampleEvery: '0' is not a whole number from 1 to 1000000
 *
 * Values come from an admin, but through includes, macros and templates:
 * every byte of the argument is checked, numbers cannot overflow, and the
 * argument is echoed cut and with non-printable bytes replaced, so a bad
 * value cannot garble the message either. Pure APR: unit-tested in
 * t/unit/test_conf.c and fuzzed in t/fuzz/fuzz_directives.c.
 */
#ifndef PW_CONF_H
#define PW_CONF_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_time.h>

typedef enum {
    PW_CONF_FLAG = 0, /* On | Off: num 1 | 0 */
    PW_CONF_INT,      /* whole number in [lo, hi] */
    PW_CONF_INTERVAL, /* time in [lo, hi] microseconds: 0, 500ms, 2s, 1mi */
    PW_CONF_WALK,     /* auto | off: num 1 | 0 */
    PW_CONF_KEY,      /* path | query | env=NAME | note=NAME: pw_keyby_e */
    PW_CONF_STREAMS   /* on | off | auto: pw_streams_e */
} pw_conf_kind_e;

/* One directive: its name, the kind of value, its range. */
/* PoolWatchStreams: when connections get the stream filter */
typedef enum {
    PW_STREAMS_OFF = 0,
    PW_STREAMS_ON = 1,
    PW_STREAMS_AUTO = 2 /* once the child has sent a long response */
} pw_streams_e;

typedef struct pw_conf_spec_t {
    const char *name;
    pw_conf_kind_e kind;
    apr_int64_t lo, hi; /* PW_CONF_INT; PW_CONF_INTERVAL in microseconds */
} pw_conf_spec_t;

typedef struct pw_conf_value_t {
    apr_int64_t num;  /* the value (see pw_conf_kind_e) */
    const char *name; /* PW_CONF_KEY env=/note=: the NAME, into arg */
} pw_conf_value_t;

/* Longest NAME of PoolWatchKey env=NAME / note=NAME. */
#define PW_CONF_NAME_MAX 64

/* Longest part of a bad argument echoed in a message. */
#define PW_CONF_ECHO_MAX 64

/* Parses arg for spec into *out. Returns NULL, or the message (from p)
 * naming the directive and the accepted values; *out is then unchanged. */
const char *pw_conf_parse(apr_pool_t *p, const pw_conf_spec_t *spec,
                          const char *arg, pw_conf_value_t *out);

/* What spec accepts, as the messages say it: "a whole number from 1 to
 * 1000000", "a time from 0 to 3600s (e.g. 500ms, 2s, 0)", ... From p. */
const char *pw_conf_accepts(apr_pool_t *p, const pw_conf_spec_t *spec);

/* The message for a directive in the wrong place: httpd's own reason
 * (ap_check_cmd_context) followed by what the directive accepts. */
const char *pw_conf_misplaced(apr_pool_t *p, const pw_conf_spec_t *spec,
                              const char *why);

#endif /* PW_CONF_H */
