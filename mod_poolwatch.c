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
 *   src/pw_*.c                    pure core (APR only, unit-tested)
 *   src/mod_poolwatch_sample.c    lifecycle hooks and the sampler
 *   src/mod_poolwatch_handler.c   the /poolwatch handler and the
 *                                 /server-status section
 */
#include <errno.h>

#include <apr_lib.h>
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
    return c;
}

static pw_config_t *conf_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &poolwatch_module);
}

/* Parses a whole number in [lo, hi] or says why not, naming the
 * directive and the range. */
static const char *parse_int(cmd_parms *cmd, const char *arg, int lo, int hi,
                             int *out)
{
    char *end;
    apr_int64_t v;

    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno || v < lo || v > hi) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not a whole number from %d to %d",
                            cmd->cmd->name, arg, lo, hi);
    }
    *out = (int)v;
    return NULL;
}

/* Whole-number directives: where the value goes and its range. */
typedef struct pw_int_directive_t {
    apr_size_t offset; /* in pw_config_t */
    int lo, hi;
} pw_int_directive_t;

static pw_int_directive_t d_sample_every = {
    APR_OFFSETOF(pw_config_t, sample_every), 1, 1000000};
static pw_int_directive_t d_max_pools = {APR_OFFSETOF(pw_config_t, max_pools),
                                         8, 4096};
static pw_int_directive_t d_slots = {APR_OFFSETOF(pw_config_t, slots), 0,
                                     65536};
static pw_int_directive_t d_max_keys = {APR_OFFSETOF(pw_config_t, max_keys), 4,
                                        1024};
static pw_int_directive_t d_warmup = {APR_OFFSETOF(pw_config_t, warmup), 0,
                                      100000};

static const char *set_int(cmd_parms *cmd, void *dummy, const char *arg)
{
    const pw_int_directive_t *d = cmd->info;
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    return err ? err
               : parse_int(cmd, arg, d->lo, d->hi,
                           (int *)(void *)((char *)conf_of(cmd) + d->offset));
}

/* On|Off directives: cmd->info is the field's offset in pw_config_t. */
static const char *set_flag(cmd_parms *cmd, void *dummy, int on)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    *(int *)(void *)((char *)conf_of(cmd) + (apr_size_t)cmd->info) = on;
    return NULL;
}

/* Times: cmd->info is the apr_interval_time_t field's offset. */
static const char *set_interval(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_interval_time_t t;

    if (err) {
        return err;
    }
    /* ap_timeout_parameter_parse reads "soon" as 0 s: want a digit */
    if (!apr_isdigit(*arg) ||
        ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS || t < 0 ||
        t > apr_time_from_sec(3600)) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not a time from 0 to 3600s "
                            "(e.g. 1s, 500ms, 0)",
                            cmd->cmd->name, arg);
    }
    *(apr_interval_time_t *)(void *)((char *)conf_of(cmd) +
                                     (apr_size_t)cmd->info) = t;
    return NULL;
}

static const char *set_walk(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    if (!strcasecmp(arg, "auto")) {
        conf_of(cmd)->walk = 1;
    } else if (!strcasecmp(arg, "off")) {
        conf_of(cmd)->walk = 0;
    } else {
        return apr_psprintf(cmd->pool, "%s: '%s' is not one of auto, off",
                            cmd->cmd->name, arg);
    }
    return NULL;
}

/* PoolWatchKey path | query | env=NAME | note=NAME */
static const char *set_key(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    pw_config_t *c = conf_of(cmd);

    if (err) {
        return err;
    }
    if (!strcasecmp(arg, "path")) {
        c->key_by = PW_KEYBY_PATH;
    } else if (!strcasecmp(arg, "query")) {
        c->key_by = PW_KEYBY_QUERY;
    } else if (!strncasecmp(arg, "env=", 4) && arg[4]) {
        c->key_by = PW_KEYBY_ENV;
        c->key_name = arg + 4;
    } else if (!strncasecmp(arg, "note=", 5) && arg[5]) {
        c->key_by = PW_KEYBY_NOTE;
        c->key_name = arg + 5;
    } else {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not one of path, query, env=NAME, "
                            "note=NAME",
                            cmd->cmd->name, arg);
    }
    return NULL;
}

static const command_rec pw_cmds[] = {
    AP_INIT_FLAG("PoolWatch", set_flag,
                 (void *)APR_OFFSETOF(pw_config_t, enabled), RSRC_CONF,
                 "On (default) or Off: sample this server's memory"),
    AP_INIT_TAKE1("PoolWatchSampleEvery", set_int, &d_sample_every, RSRC_CONF,
                  "requests between samples of long-lived pools and heap, "
                  "1-1000000 (default 4; 1 under -X)"),
    AP_INIT_TAKE1("PoolWatchSampleInterval", set_interval,
                  (void *)APR_OFFSETOF(pw_config_t, sample_interval), RSRC_CONF,
                  "least time between samples, 0-3600s (default 10ms; 0 "
                  "under -X)"),
    AP_INIT_TAKE1("PoolWatchRSSInterval", set_interval,
                  (void *)APR_OFFSETOF(pw_config_t, rss_interval), RSRC_CONF,
                  "least time between RSS readings, 0-3600s (default 1s)"),
    AP_INIT_TAKE1("PoolWatchMaxPools", set_int, &d_max_pools, RSRC_CONF,
                  "pool records kept per child, 8-4096 (default 64)"),
    AP_INIT_TAKE1("PoolWatchSlots", set_int, &d_slots, RSRC_CONF,
                  "child slots in shared memory, 0 = ServerLimit + 2"),
    AP_INIT_TAKE1("PoolWatchWalk", set_walk, NULL, RSRC_CONF,
                  "auto (default) or off: walk APR pools"),
    AP_INIT_TAKE1("PoolWatchKey", set_key, NULL, RSRC_CONF,
                  "what makes requests identical: path (default), query, "
                  "env=NAME or note=NAME (replaces the path when set)"),
    AP_INIT_TAKE1("PoolWatchMaxKeys", set_int, &d_max_keys, RSRC_CONF,
                  "request keys kept per child, 4-1024 (default 32)"),
    AP_INIT_TAKE1("PoolWatchWarmup", set_int, &d_warmup, RSRC_CONF,
                  "requests of a key per child not judged, 0-100000 "
                  "(default 10)"),
    AP_INIT_FLAG("PoolWatchTrace", set_flag,
                 (void *)APR_OFFSETOF(pw_config_t, trace), RSRC_CONF,
                 "On: log what grew after every request (for httpd -X)"),
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
    ap_hook_post_read_request(pw_stream_post_read_request, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
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
