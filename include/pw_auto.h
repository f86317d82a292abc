/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_auto: the ?auto read-out, mod_status style "Key: value" lines for
 * scripts, and the summary both the HTML page and the lines share.
 *
 * Names are stable (documented in the README) and all start with
 * "PoolWatch", so that they never collide with mod_status's own lines in
 * /server-status?auto. Values are numbers or words, except the last field
 * of a PoolWatchKey line (the key, from clients): bytes outside printable
 * ASCII and '\' are written as \xHH, so a line is always one line of
 * ASCII.
 *
 * Pure APR (no httpd headers), like pw_json: unit-tested and fuzzed.
 */
#ifndef PW_AUTO_H
#define PW_AUTO_H

#include "pw_json.h"

/* What the page's header line and ?auto summarise. */
typedef struct pw_summary_t {
    apr_uint32_t children; /* running */
    apr_uint32_t exited;   /* kept in shared memory */
    apr_uint64_t requests, pool_bytes, heap_bytes, rss_bytes; /* running */
    apr_uint32_t keys; /* distinct keys over running children */
    apr_uint32_t leaks, suspects;
    apr_uint32_t nflagged_pids; /* children with a suspect or leak key */
    apr_uint32_t *flagged_pids;
    apr_uint32_t nflagged_pools; /* distinct pools named by those keys */
    const char **flagged_pools;
    apr_uint32_t nagg; /* pw_keys_aggregate(), worst first */
    pw_keyagg_t *agg;
} pw_summary_t;

/* Computes s from snap (allocates from snap->pool). */
void pw_summary_make(const pw_snapshot_t *snap, pw_summary_t *s);

/* Whether a key entry of a slot copy holds a key (the copy may be torn:
 * it checks the text is terminated). */
int pw_key_live(const pw_keyrec_t *k);

/* brief: the summary lines only (the /server-status?auto section);
 * otherwise also one PoolWatchKey line per suspect or leaking key. */
void pw_auto_render(pw_out_t *out, const pw_snapshot_t *snap, int brief);

/* Writes s with bytes outside 0x20-0x7e and '\' as \xHH. */
void pw_auto_text(pw_out_t *out, const char *s);

#endif /* PW_AUTO_H */
