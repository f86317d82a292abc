/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * mod_poolwatch: finds memory leaks in a running httpd, live.
 *
 *   LoadModule poolwatch_module modules/mod_poolwatch.so
 *   <Location /poolwatch>
 *       SetHandler poolwatch
 *       Require local
 *   </Location>
 *
 * Every child samples its own memory three ways, because each signal is
 * blind to what another sees: APR pool bytes (byte-exact, through a
 * validated mirror of the release apr_pool_t), the malloc heap (mallinfo2)
 * and RSS. Figures go to one shared segment, a slot per child, and
 * /poolwatch?json reads them all.
 *
 * This file is the map: the module record, the directives and the hooks.
 *   src/pw_*.c                    pure core (APR only, unit-tested);
 *                                 src/pw_conf.c parses directive values
 *   src/mod_poolwatch_sample.c    lifecycle hooks and the sampler
 *   src/mod_poolwatch_handler.c   the /poolwatch handler and the
 *                                 /server-status section
 */
#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_connection.h"
#include "mod_status.h"

#include "mod_poolwatch.h"
#include "pw_conf.h"

static void *create_server_config(apr_pool_t *p, server_rec *s)
{
    pw_config_t *c = apr_pcalloc(p, sizeof(*c));

    c->enabled = PW_UNSET;
    c->sample_every = PW_UNSET;
    c->rss_interval = PW_UNSET;
    c->sample_interval = PW_UNSET;
    c->max_pools = PW_UNSET;
    c->slots = PW_UNSET;
    c->walk = PW_UNSET;
    c->key_by = PW_UNSET;
    c->max_keys = PW_UNSET;
    c->warmup = PW_UNSET;
    c->trace = PW_UNSET;
    c->streams = PW_UNSET;
    return c;
}

static pw_config_t *conf_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &poolwatch_module);
}

/* Every directive: how its value is parsed (src/pw_conf.c), where it goes
 * in pw_config_t and in which field type. */
typedef enum { PW_FIELD_INT, PW_FIELD_TIME, PW_FIELD_KEY } pw_field_e;

typedef struct pw_directive_t {
    pw_conf_spec_t spec;
    apr_size_t offset; /* in pw_config_t */
    pw_field_e field;
} pw_directive_t;

#define PW_OFF(f) APR_OFFSETOF(pw_config_t, f)

static const pw_directive_t d_enabled = {
    {"PoolWatch", PW_CONF_FLAG, 0, 1}, PW_OFF(enabled), PW_FIELD_INT};
static const pw_directive_t d_sample_every = {
    {"PoolWatchSampleEvery", PW_CONF_INT, 1, 1000000},
    PW_OFF(sample_every),
    PW_FIELD_INT};
static const pw_directive_t d_sample_interval = {
    {"PoolWatchSampleInterval", PW_CONF_INTERVAL, 0,
     APR_INT64_C(3600) * APR_USEC_PER_SEC},
    PW_OFF(sample_interval),
    PW_FIELD_TIME};
static const pw_directive_t d_rss_interval = {
    {"PoolWatchRSSInterval", PW_CONF_INTERVAL, 0,
     APR_INT64_C(3600) * APR_USEC_PER_SEC},
    PW_OFF(rss_interval),
    PW_FIELD_TIME};
static const pw_directive_t d_max_pools = {
    {"PoolWatchMaxPools", PW_CONF_INT, 8, 4096},
    PW_OFF(max_pools),
    PW_FIELD_INT};
static const pw_directive_t d_slots = {
    {"PoolWatchSlots", PW_CONF_INT, 0, 65536}, PW_OFF(slots), PW_FIELD_INT};
static const pw_directive_t d_walk = {
    {"PoolWatchWalk", PW_CONF_WALK, 0, 1}, PW_OFF(walk), PW_FIELD_INT};
static const pw_directive_t d_key = {
    {"PoolWatchKey", PW_CONF_KEY, 0, 0}, PW_OFF(key_by), PW_FIELD_KEY};
static const pw_directive_t d_max_keys = {
    {"PoolWatchMaxKeys", PW_CONF_INT, 4, 1024}, PW_OFF(max_keys), PW_FIELD_INT};
static const pw_directive_t d_warmup = {
    {"PoolWatchWarmup", PW_CONF_INT, 0, 100000}, PW_OFF(warmup), PW_FIELD_INT};
static const pw_directive_t d_trace = {
    {"PoolWatchTrace", PW_CONF_FLAG, 0, 1}, PW_OFF(trace), PW_FIELD_INT};
static const pw_directive_t d_streams = {
    {"PoolWatchStreams", PW_CONF_STREAMS, 0, 2}, PW_OFF(streams), PW_FIELD_INT};

/* One setter for all: main server config only (one sampler per child),
 * and every refusal names the directive and what it accepts. A repeated
 * directive overrides the earlier one, as httpd's own do. */
static const char *set_value(cmd_parms *cmd, void *dummy, const char *arg)
{
    const pw_directive_t *d = cmd->info;
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *field = (char *)conf_of(cmd) + d->offset;
    pw_conf_value_t v;

    if (err) {
        return pw_conf_misplaced(cmd->pool, &d->spec, err);
    }
    if ((err = pw_conf_parse(cmd->pool, &d->spec, arg, &v)) != NULL) {
        return err;
    }
    switch (d->field) {
        case PW_FIELD_INT:
            *(int *)(void *)field = (int)v.num;
            break;
        case PW_FIELD_TIME:
            *(apr_interval_time_t *)(void *)field = (apr_interval_time_t)v.num;
            break;
        case PW_FIELD_KEY:
            conf_of(cmd)->key_by = (int)v.num;
            conf_of(cmd)->key_name = v.name;
            break;
    }
    return NULL;
}

/* Where httpd lets a directive through to set_value(): the main config
 * and, so that set_value() can refuse it there with the accepted values,
 * <Directory>/<Location>/<Files> (httpd's own refusal would name only the
 * directive). Never .htaccess: no override class is given. */
#define PW_WHERE (RSRC_CONF | ACCESS_CONF)

static const command_rec pw_cmds[] = {
    AP_INIT_TAKE1("PoolWatch", set_value, (void *)&d_enabled, PW_WHERE,
                  "On (default) or Off: sample this server's memory"),
    AP_INIT_TAKE1("PoolWatchSampleEvery", set_value, (void *)&d_sample_every,
                  PW_WHERE,
                  "requests between samples of long-lived pools and heap, "
                  "1-1000000 (default 4; 1 under -X)"),
    AP_INIT_TAKE1("PoolWatchSampleInterval", set_value,
                  (void *)&d_sample_interval, PW_WHERE,
                  "least time between samples, 0-3600s (default 50ms; 0 "
                  "under -X)"),
    AP_INIT_TAKE1("PoolWatchRSSInterval", set_value, (void *)&d_rss_interval,
                  PW_WHERE,
                  "least time between RSS readings, 0-3600s (default 1s)"),
    AP_INIT_TAKE1("PoolWatchMaxPools", set_value, (void *)&d_max_pools,
                  PW_WHERE, "pool records kept per child, 8-4096 (default 64)"),
    AP_INIT_TAKE1("PoolWatchSlots", set_value, (void *)&d_slots, PW_WHERE,
                  "child slots in shared memory, 0-65536 (default 0 = "
                  "ServerLimit + 2)"),
    AP_INIT_TAKE1("PoolWatchWalk", set_value, (void *)&d_walk, PW_WHERE,
                  "auto (default) or off: walk APR pools"),
    AP_INIT_TAKE1("PoolWatchKey", set_value, (void *)&d_key, PW_WHERE,
                  "what makes requests identical: path (default), query, "
                  "env=NAME or note=NAME (replaces the path when set)"),
    AP_INIT_TAKE1("PoolWatchMaxKeys", set_value, (void *)&d_max_keys, PW_WHERE,
                  "request keys kept per child, 4-1024 (default 32)"),
    AP_INIT_TAKE1("PoolWatchWarmup", set_value, (void *)&d_warmup, PW_WHERE,
                  "requests of a key per child not judged, 0-100000 "
                  "(default 10)"),
    AP_INIT_TAKE1("PoolWatchTrace", set_value, (void *)&d_trace, PW_WHERE,
                  "On or Off (default): log what grew after every request "
                  "(for httpd -X)"),
    AP_INIT_TAKE1("PoolWatchStreams", set_value, (void *)&d_streams, PW_WHERE,
                  "auto (default), on or off: watch the connection pool "
                  "during long responses (auto: once a child has sent one)"),
    {NULL}};

static void register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(pw_sample_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pw_sample_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_pre_connection(pw_sample_pre_connection, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    /* last, so allocations made by loggers count for the request */
    ap_hook_log_transaction(pw_sample_log_transaction, NULL, NULL,
                            APR_HOOK_REALLY_LAST);
    ap_hook_handler(pw_handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* optional: called only when mod_status is loaded */
    APR_OPTIONAL_HOOK(ap, status_hook, pw_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    pw_stream_register();
}

AP_DECLARE_MODULE(poolwatch) = {
    STANDARD20_MODULE_STUFF,
    NULL,                 /* per-directory config: none */
    NULL,                 /* merge per-directory: none */
    create_server_config, /* server config */
    NULL,                 /* directives are global: nothing to merge */
    pw_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE};
