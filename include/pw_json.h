/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_json: renders a snapshot (copies of the shared slots) as JSON.
 *
 * Rendering never reads shared memory: the glue copies slots out first,
 * so no lock is held while the response is written. Output goes through
 * a callback, so the core needs no httpd headers (the glue passes one that
 * appends to a brigade). Every string is escaped here: tags and paths come
 * from other modules' memory and keys from clients.
 */
#ifndef PW_JSON_H
#define PW_JSON_H

#include <apr.h>
#include <apr_pools.h>
#include "pw_shm.h"

typedef void pw_emit_fn(void *baton, const char *data, apr_size_t len);

typedef struct pw_out_t {
    pw_emit_fn *emit;
    void *baton;
} pw_out_t;

/* What the server says about itself, beside the children. */
typedef struct pw_server_info_t {
    const char *version;
    const char *mpm;
    int threaded;
    apr_uint32_t generation;
    apr_uint32_t walk; /* pw_walk_mode_e */
    const char *walk_reason;
    const char *apr_version;
    apr_uint32_t slots;
    apr_uint32_t slots_overflow;
    apr_uint32_t max_pools;
    apr_uint32_t max_keys;
    apr_uint32_t warmup;
    const char *key_by;
    apr_uint64_t shm_bytes;
    apr_uint32_t sample_every;
    apr_uint64_t sample_interval_ms;
    apr_uint64_t rss_interval_ms;
    const char *streams; /* PoolWatchStreams: "auto", "on", "off" */
    apr_uint32_t pid;
    apr_int64_t now;          /* apr_time_t of the snapshot */
    apr_int64_t restart_time; /* apr_time_t the server (re)started */
    apr_uint32_t reset_gen;   /* resets asked for (shm header) */
} pw_server_info_t;

typedef struct pw_snapshot_t {
    pw_server_info_t server;
    apr_uint32_t nchildren;
    const pw_slot_t **children;  /* copies, each with its pool records */
    const apr_uint32_t *slot_of; /* slot index of each child */
    apr_pool_t *pool;            /* scratch for the renderers */
} pw_snapshot_t;

const char *pw_walk_name(apr_uint32_t walk);
const char *pw_state_name(apr_uint32_t state);

/* Escapes one byte below 0x80: a replacement (a literal, or written into
 * buf of len bytes), or NULL to keep the byte. */
typedef const char *pw_esc_fn(unsigned char c, char *buf, apr_size_t len);

/* Writes s through out as valid UTF-8: every byte that starts no valid
 * UTF-8 sequence (overlong forms and surrogates included) becomes bad, and
 * every ASCII byte esc() names becomes its replacement. The one UTF-8
 * check behind the JSON and Prometheus writers (client keys are hostile). */
void pw_out_escaped(pw_out_t *out, const char *s, pw_esc_fn *esc,
                    const char *bad);

/* Writes s as a JSON string, quotes included. Control characters become
 * \u00XX, invalid UTF-8 becomes U+FFFD: output is always valid JSON. */
void pw_json_string(pw_out_t *out, const char *s);

void pw_json_render(pw_out_t *out, const pw_snapshot_t *snap);

/* Largest magnitude a rendered number takes: beyond it APR's "%.1f" runs
 * out of digits (1e300 printed "000...0", not a number; found by
 * t/fuzz/fuzz_json.c). A petabyte per request is no figure to lose. */
#define PW_NUM_MAX 1e15

/* v as "%.1f" for JSON and Prometheus: NaN and infinities become 0, the
 * magnitude is clamped to PW_NUM_MAX. buf holds at least 24 bytes. */
void pw_fmt_double(char *buf, apr_size_t len, double v);

/* A key over all running children: the worst verdict wins. */
typedef struct pw_keyagg_t {
    const pw_keyrec_t *worst; /* the record that gave the verdict */
    apr_uint32_t worst_pid;
    apr_uint64_t requests; /* summed */
    apr_uint32_t children; /* children that served it */
    apr_uint32_t affected; /* children where it is suspect or leak */
} pw_keyagg_t;

/* Aggregates keys of running children, most severe first (then most
 * requested). Allocates from snap->pool. */
apr_uint32_t pw_keys_aggregate(const pw_snapshot_t *snap, pw_keyagg_t **out);

#endif /* PW_JSON_H */
