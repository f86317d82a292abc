/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * mod_poolwatch glue: what mod_poolwatch.c (directives, hooks), the
 * sampler and the handler share. Only glue includes httpd headers.
 */
#ifndef MOD_POOLWATCH_H
#define MOD_POOLWATCH_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "pw_shm.h"
#include "pw_json.h"

/* The one symbol the module exports: it is built with
 * -fvisibility=hidden, so that its functions neither clash with another
 * module's (httpd loads modules RTLD_GLOBAL) nor go through the PLT. */
extern module __attribute__((visibility("default")))
AP_MODULE_DECLARE_DATA poolwatch_module;

#define PW_UNSET (-1)

/* Server-wide configuration (directives are allowed in the main server
 * only: there is one sampler per child, not one per virtual host). */
typedef struct pw_config_t {
    int enabled;                         /* PoolWatch */
    int sample_every;                    /* PoolWatchSampleEvery */
    apr_interval_time_t sample_interval; /* PoolWatchSampleInterval */
    apr_interval_time_t rss_interval;    /* PoolWatchRSSInterval */
    int max_pools;                       /* PoolWatchMaxPools */
    int slots;                           /* PoolWatchSlots, 0 = auto */
    int walk;                            /* PoolWatchWalk: 1 auto, 0 off */
    int key_by;                          /* PoolWatchKey: pw_keyby_e */
    const char *key_name;                /* its env or note name */
    int max_keys;                        /* PoolWatchMaxKeys */
    int warmup;                          /* PoolWatchWarmup */
    int trace;                           /* PoolWatchTrace */
    int streams;                         /* PoolWatchStreams: pw_streams_e */
    pw_keyhost_t host; /* this server's name, for keys (post_config) */
} pw_config_t;

#define PW_DEFAULT_SAMPLE_EVERY 4
#define PW_DEFAULT_RSS_INTERVAL apr_time_from_sec(1)
/* A busy child samples at most this often, whatever PoolWatchSampleEvery
 * says: the cost per request then falls as the request rate rises (20
 * samples a second at most). And a judgement sees the last PW_WINDOW (64)
 * intervals: 3.2 s of a busy child's traffic, in which a key served a few
 * times a second still has its points. At 10 ms (0.64 s) such a key beside
 * thousands of requests a second never left warm-up. */
#define PW_DEFAULT_SAMPLE_INTERVAL apr_time_from_msec(50)
/* A child that samples on its request path (prefork) at the defaults
 * takes at most one sample per PW_PATH_SAMPLE_SHARE requests while busy,
 * or one once PW_PATH_SAMPLE_SPAN has passed (at its next
 * PoolWatchSampleEvery'th request) while it serves few: the request that
 * takes a sample waits for it (6-8 us), and under 1 % of requests doing so
 * keeps a request's p99 the hot path's. 20 samples a second at 1000
 * requests/s were 2 %. An explicit PoolWatchSampleEvery is taken as
 * said. */
#define PW_PATH_SAMPLE_SHARE 128
#define PW_PATH_SAMPLE_SPAN  apr_time_from_sec(1)

#define PW_DEFAULT_MAX_POOLS 64
#define PW_DEFAULT_MAX_KEYS  32
/* Requests of a key a child serves before they are judged: the mod_perl
 * book's reload test finds most children stop growing after the second
 * request; per-connection and per-thread set-up (event runs a request on
 * any of its threads) needs a few more. 10 keeps a 50-request test
 * decisive. */
#define PW_DEFAULT_WARMUP 10

/* Effective settings of this server generation (defaults applied). */
const pw_config_t *pw_effective_config(void);

/* What a connection carries for us (from c->pool, once per connection). */
#define PW_STREAM_POINTS 32
#define PW_STREAM_STEP   (256 * 1024)
typedef struct pw_stream_t {
    apr_uint64_t bytes;   /* response bytes so far */
    apr_uint64_t next_at; /* measure again at this many bytes */
    apr_uint32_t n, next, since_judge, warned;
    apr_uint32_t verdict, points; /* the last judgement, 0: none yet */
    apr_uint64_t per_mib;
    struct {
        double x, y; /* MiB sent, c->pool bytes */
    } pts[PW_STREAM_POINTS];
} pw_stream_t;

typedef struct pw_conn_t {
    apr_uint64_t requests;   /* ended on this connection */
    apr_uint64_t last_bytes; /* c->pool at the end of the previous request */
    apr_uint32_t grew_hash;  /* key hash of the last request that grew it */
    int streams;             /* the stream filter is on this connection */
    /* c->pool's size as last measured: most requests allocate nothing
     * from it, and then its node ring is not walked again */
    pw_pool_sizecache_t size;
    pw_stream_t stream;
} pw_conn_t;

/* mod_poolwatch_stream.c: c->pool growth during one long response */
void pw_stream_register(void);
void pw_stream_add_filter(conn_rec *c, pw_conn_t *pc);
/* At the end of a request whose response passed PW_STREAM_STEP bytes:
 * hands a stream verdict to its key (rec may be NULL), names the request
 * if PW00040 was logged, and starts counting the next response. */
void pw_stream_end(request_rec *r, pw_conn_t *pc, pw_keyrec_t *rec);

/* mod_poolwatch_sample.c: lifecycle hooks */
int pw_sample_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s);
void pw_sample_child_init(apr_pool_t *pchild, server_rec *s);
int pw_sample_pre_connection(conn_rec *c, void *csd);
int pw_sample_log_transaction(request_rec *r);

/* The key of a request as configured (PoolWatchKey), built into buf
 * (PW_KEY_MAX bytes); returns its hash. */
apr_uint32_t pw_request_key(request_rec *r, char *buf);

/* Samples the calling child now (the handler does this before it renders,
 * so a reader sees its own child as of this moment). */
void pw_sample_now(request_rec *r);

/* Asks every child to reset its statistics (see pw_shm_request_reset).
 * Returns the reset generation, 0 when there is no segment. */
apr_uint32_t pw_sample_request_reset(void);

/* Copies the segment out into r->pool: no lock is held afterwards. */
apr_status_t pw_sample_snapshot(request_rec *r, pw_snapshot_t *snap);

/* mod_poolwatch_verdict.c: keys and verdicts */
#define PW_SAMPLE_POOLS 4
typedef struct pw_verdict_sample_t {
    apr_uint64_t requests; /* in the interval */
    apr_int64_t pool_growth, heap_growth, rss_growth;
    apr_uint32_t npools; /* pools that grew most, most first */
    const char *pool_path[PW_SAMPLE_POOLS];
    apr_int64_t pool_growth_of[PW_SAMPLE_POOLS];
    const char *conn_path;
    apr_time_t now;
    int force;        /* judge now */
    apr_pool_t *pool; /* scratch for log lines */
} pw_verdict_sample_t;

/* Returns the bytes it allocated (0 when out of memory: verdicts off). */
apr_size_t pw_verdict_child_init(pw_slot_t *me, apr_uint32_t max_pools,
                                 apr_uint32_t max_keys);
/* Frees what pw_verdict_child_init() allocated (pconf cleanup). */
void pw_verdict_child_exit(void);
/* Counts a request of the key (kp when non-NULL, else key); returns its table entry, or NULL when the
 * table is full or verdicts are off. */
pw_keyrec_t *pw_verdict_count(const pw_keyparts_t *kp, const char *key,
                              apr_uint32_t hash, apr_uint64_t n,
                              int conn_measured, apr_int64_t conn_growth);
/* Closes an interval; the caller samples and holds the slot's seqlock. */
void pw_verdict_sample(const pw_verdict_sample_t *in);

/* Asks the CPU for the lines pw_verdict_sample() reads of each key in use
 * (see prefetch_pools() in mod_poolwatch_sample.c). */
void pw_verdict_prefetch(void);
/* Forgets every key, series and verdict of this child (sampler thread,
 * under the slot's seqlock). */
void pw_verdict_reset(void);

/* mod_poolwatch_handler.c */
int pw_handler(request_rec *r);
/* mod_status's status_hook: a section in /server-status (and ?auto) */
int pw_status_hook(request_rec *r, int flags);

#endif /* MOD_POOLWATCH_H */
