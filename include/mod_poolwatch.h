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

extern module AP_MODULE_DECLARE_DATA poolwatch_module;

#define PW_UNSET (-1)

/* Server-wide configuration (directives are allowed in the main server
 * only: there is one sampler per child, not one per virtual host). */
typedef struct pw_config_t {
    int enabled;                      /* PoolWatch */
    int sample_every;                 /* PoolWatchSampleEvery */
    apr_interval_time_t rss_interval; /* PoolWatchRSSInterval */
    int max_pools;                    /* PoolWatchMaxPools */
    int slots;                        /* PoolWatchSlots, 0 = auto */
    int walk;                         /* PoolWatchWalk: 1 auto, 0 off */
} pw_config_t;

#define PW_DEFAULT_SAMPLE_EVERY 4
#define PW_DEFAULT_RSS_INTERVAL apr_time_from_sec(1)
#define PW_DEFAULT_MAX_POOLS    64

/* Effective settings of this server generation (defaults applied). */
const pw_config_t *pw_effective_config(void);

/* mod_poolwatch_sample.c: lifecycle hooks */
int pw_sample_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s);
void pw_sample_child_init(apr_pool_t *pchild, server_rec *s);
int pw_sample_pre_connection(conn_rec *c, void *csd);
int pw_sample_log_transaction(request_rec *r);

/* Samples the calling child now (the handler does this before it renders,
 * so a reader sees its own child as of this moment). */
void pw_sample_now(request_rec *r);

/* Copies the segment out into r->pool: no lock is held afterwards. */
apr_status_t pw_sample_snapshot(request_rec *r, pw_snapshot_t *snap);

/* mod_poolwatch_handler.c */
int pw_handler(request_rec *r);

#endif /* MOD_POOLWATCH_H */
