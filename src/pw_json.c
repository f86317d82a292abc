/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_json: the ?json read-out (schema in the README).
 *
 * Small, exact writers: numbers through apr_snprintf with APR's formats,
 * strings through one escaper that also repairs invalid UTF-8, so hostile
 * bytes in tags or keys can never break the document.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "pw_json.h"
#include "pw_detect.h"

static void put(pw_out_t *out, const char *s)
{
    out->emit(out->baton, s, strlen(s));
}

static void putn(pw_out_t *out, const char *s, apr_size_t n)
{
    if (n) {
        out->emit(out->baton, s, n);
    }
}

const char *pw_walk_name(apr_uint32_t walk)
{
    switch (walk) {
        case PW_WALK_EXACT:
            return "exact";
        case PW_WALK_LOCKED:
            return "locked";
        default:
            return "off";
    }
}

const char *pw_state_name(apr_uint32_t state)
{
    switch (state) {
        case PW_SLOT_RUNNING:
            return "running";
        case PW_SLOT_EXITED:
            return "exited";
        default:
            return "free";
    }
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static apr_size_t utf8_len(const unsigned char *s)
{
    apr_size_t n, i;
    apr_uint32_t cp;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0; /* also stops at the terminating NUL */
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        return 0;
    }
    return n;
}

void pw_out_escaped(pw_out_t *out, const char *str, pw_esc_fn *esc,
                    const char *bad)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    const unsigned char *run = s;
    char buf[8];

    while (*s) {
        const char *rep = NULL;
        apr_size_t n = utf8_len(s);

        if (n == 1) {
            rep = esc(*s, buf, sizeof(buf));
        } else if (n == 0) {
            rep = bad;
            n = 1;
        }
        if (rep) {
            /* copy the clean run in one piece, then the replacement */
            putn(out, (const char *)run, (apr_size_t)(s - run));
            put(out, rep);
            s += n;
            run = s;
        } else {
            s += n;
        }
    }
    putn(out, (const char *)run, (apr_size_t)(s - run));
}

static const char *json_esc(unsigned char c, char *buf, apr_size_t len)
{
    switch (c) {
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return "\\t";
        default:
            if (c < 0x20 || c == 0x7f) {
                apr_snprintf(buf, len, "\\u%04x", (unsigned int)c);
                return buf;
            }
            return NULL;
    }
}

void pw_json_string(pw_out_t *out, const char *str)
{
    put(out, "\"");
    pw_out_escaped(out, str, json_esc, "\\ufffd");
    put(out, "\"");
}

static void key(pw_out_t *out, const char *k, int *first)
{
    if (!*first) {
        put(out, ",");
    }
    *first = 0;
    put(out, "\"");
    put(out, k); /* keys are literals of this file */
    put(out, "\":");
}

static void kv_u64(pw_out_t *out, const char *k, apr_uint64_t v, int *first)
{
    char buf[32];

    key(out, k, first);
    apr_snprintf(buf, sizeof(buf), "%" APR_UINT64_T_FMT, v);
    put(out, buf);
}

static void kv_i64(pw_out_t *out, const char *k, apr_int64_t v, int *first)
{
    char buf[32];

    key(out, k, first);
    apr_snprintf(buf, sizeof(buf), "%" APR_INT64_T_FMT, v);
    put(out, buf);
}

void pw_fmt_double(char *buf, apr_size_t len, double v)
{
    if (!isfinite(v)) {
        v = 0.0; /* JSON has no NaN */
    } else if (v > PW_NUM_MAX) {
        v = PW_NUM_MAX;
    } else if (v < -PW_NUM_MAX) {
        v = -PW_NUM_MAX;
    }
    apr_snprintf(buf, len, "%.1f", v);
}

static void kv_dbl(pw_out_t *out, const char *k, double v, int *first)
{
    char buf[48];

    key(out, k, first);
    pw_fmt_double(buf, sizeof(buf), v);
    put(out, buf);
}

static void kv_str(pw_out_t *out, const char *k, const char *v, int *first)
{
    key(out, k, first);
    pw_json_string(out, v);
}

static void kv_bool(pw_out_t *out, const char *k, int v, int *first)
{
    key(out, k, first);
    put(out, v ? "true" : "false");
}

/* apr_time_t as unix seconds with milliseconds. */
static void kv_time(pw_out_t *out, const char *k, apr_int64_t t, int *first)
{
    char buf[40];

    key(out, k, first);
    if (t < 0) {
        t = 0;
    }
    apr_snprintf(buf, sizeof(buf), "%" APR_INT64_T_FMT ".%03d",
                 t / APR_USEC_PER_SEC, (int)((t % APR_USEC_PER_SEC) / 1000));
    put(out, buf);
}

/* Bounded copy of a fixed-size field: slot copies come from shared memory
 * another process wrote, so a missing NUL must not run off the end. */
static const char *field(char *dst, const char *src, apr_size_t len)
{
    memcpy(dst, src, len);
    dst[len - 1] = '\0';
    return dst;
}

static void render_server(pw_out_t *out, const pw_server_info_t *sv)
{
    int f = 1;

    put(out, "\"server\":{");
    kv_str(out, "version", sv->version, &f);
    kv_str(out, "mpm", sv->mpm, &f);
    kv_bool(out, "threaded", sv->threaded, &f);
    kv_u64(out, "generation", sv->generation, &f);
    kv_str(out, "walk", pw_walk_name(sv->walk), &f);
    kv_str(out, "walk_reason", sv->walk_reason, &f);
    kv_str(out, "apr_version", sv->apr_version, &f);
    kv_u64(out, "slots", sv->slots, &f);
    kv_u64(out, "slots_overflow", sv->slots_overflow, &f);
    kv_u64(out, "max_pools", sv->max_pools, &f);
    kv_u64(out, "max_keys", sv->max_keys, &f);
    kv_u64(out, "warmup", sv->warmup, &f);
    kv_str(out, "key_by", sv->key_by, &f);
    kv_u64(out, "shm_bytes", sv->shm_bytes, &f);
    kv_u64(out, "sample_every", sv->sample_every, &f);
    kv_u64(out, "sample_interval_ms", sv->sample_interval_ms, &f);
    kv_u64(out, "rss_interval_ms", sv->rss_interval_ms, &f);
    kv_str(out, "streams", sv->streams ? sv->streams : "off", &f);
    kv_u64(out, "resets", sv->reset_gen, &f);
    kv_u64(out, "pid", sv->pid, &f);
    put(out, "}");
}

static void render_pool(pw_out_t *out, const pw_poolrec_t *pr)
{
    char tag[PW_TAG_MAX], path[PW_PATH_MAX];
    int f = 1;

    put(out, "{");
    kv_str(out, "tag", field(tag, pr->tag, sizeof(tag)), &f);
    kv_str(out, "path", field(path, pr->path, sizeof(path)), &f);
    kv_u64(out, "bytes", pr->bytes, &f);
    kv_u64(out, "reserved_bytes", pr->reserved_bytes, &f);
    kv_u64(out, "nodes", pr->nodes, &f);
    kv_u64(out, "clears", pr->clears, &f);
    kv_i64(out, "growth", pr->growth, &f);
    kv_u64(out, "depth", pr->depth, &f);
    kv_bool(out, "connection", (pr->flags & PW_POOL_CONN) != 0, &f);
    kv_bool(out, "opaque", (pr->flags & PW_POOL_OPAQUE) != 0, &f);
    kv_bool(out, "new", (pr->flags & PW_POOL_NEW) != 0, &f);
    put(out, "}");
}

static void render_sig(pw_out_t *out, const pw_sigres_t *sr, int held)
{
    int f = 1;

    put(out, "{");
    kv_str(out, "verdict", pw_verdict_name((pw_verdict_e)sr->verdict), &f);
    kv_dbl(out, "bytes_per_request", sr->bytes_per_request, &f);
    kv_dbl(out, "low", sr->lo, &f);
    kv_dbl(out, "high", sr->hi, &f);
    kv_u64(out, "points", sr->points, &f);
    kv_bool(out, "held", held, &f);
    put(out, "}");
}

/* Whether a key entry holds a key (copies from shared memory: check). */
static int key_live(const pw_keyrec_t *k)
{
    return k->hash != 0 && k->ready && memchr(k->key, '\0', PW_KEY_MAX);
}

/* The points behind a suspect or leak verdict (the page's graph): x the
 * key's judged requests, y bytes since the first point. Only flagged keys
 * carry them, so that a page of ok keys stays small. */
static void render_series(pw_out_t *out, const pw_keyrec_t *k)
{
    apr_uint32_t n = k->series_n < PW_KEY_SERIES ? k->series_n : PW_KEY_SERIES;
    apr_uint32_t i;
    int f = 0;

    if (k->verdict < PW_VERDICT_SUSPECT || k->verdict > PW_VERDICT_LEAK) {
        n = 0;
    }
    kv_str(out, "series_signal", pw_signal_name(k->series_signal), &f);
    key(out, "series", &f);
    put(out, "[");
    for (i = 0; i < n; i++) {
        char x[48], y[48];

        pw_fmt_double(x, sizeof(x), (double)k->series_x[i]);
        pw_fmt_double(y, sizeof(y), (double)k->series_y[i]);
        put(out, i ? ",[" : "[");
        put(out, x);
        put(out, ",");
        put(out, y);
        put(out, "]");
    }
    put(out, "]");
}

static void render_key(pw_out_t *out, const pw_keyrec_t *k)
{
    char pool[PW_PATH_MAX];
    apr_uint32_t s;
    int f = 1;

    put(out, "{");
    kv_str(out, "key", k->key, &f);
    kv_u64(out, "requests", k->requests, &f);
    kv_str(out, "verdict", pw_verdict_name((pw_verdict_e)k->verdict), &f);
    kv_dbl(out, "bytes_per_request", k->bytes_per_request, &f);
    kv_str(out, "per", k->signal == PW_SIG_STREAM ? "MiB" : "request", &f);
    kv_str(out, "signal", pw_signal_name(k->signal), &f);
    kv_str(out, "pool", field(pool, k->pool, sizeof(pool)), &f);
    kv_str(out, "attribution", k->attribution_exact ? "exact" : "regression",
           &f);
    kv_bool(out, "held", pw_key_held(k), &f);
    kv_dbl(out, "share", k->share, &f);
    kv_u64(out, "points", k->points, &f);
    kv_u64(out, "conn_requests", k->conn_requests, &f);
    key(out, "signals", &f);
    put(out, "{");
    for (s = 0; s < PW_SIG_COUNT; s++) {
        if (s) {
            put(out, ",");
        }
        pw_json_string(out, pw_signal_name(s));
        put(out, ":");
        render_sig(out, &k->sig[s], (k->held >> s) & 1u);
    }
    put(out, "}");
    render_series(out, k);
    put(out, "}");
}

static void render_child(pw_out_t *out, const pw_slot_t *s, apr_uint32_t slot,
                         apr_uint32_t max_pools, apr_uint32_t max_keys)
{
    char tag[PW_TAG_MAX], path[PW_PATH_MAX], reason[PW_REASON_MAX];
    const pw_poolrec_t *pools = (const pw_poolrec_t *)(const void *)(s + 1);
    apr_uint32_t i, n = s->npools < max_pools ? s->npools : max_pools;
    int f = 1;

    put(out, "{");
    kv_u64(out, "pid", s->owner, &f);
    kv_u64(out, "slot", slot, &f);
    kv_u64(out, "generation", s->generation, &f);
    kv_str(out, "state", pw_state_name(s->state), &f);
    kv_bool(out, "torn", s->seq & 1, &f);
    kv_u64(out, "started", (apr_uint64_t)(s->started / APR_USEC_PER_SEC), &f);
    kv_time(out, "updated", s->updated, &f);
    kv_u64(out, "resets", s->resets, &f);
    kv_time(out, "reset_at", s->reset_at, &f);
    kv_u64(out, "requests", s->requests, &f);
    kv_u64(out, "connections", s->connections, &f);
    kv_u64(out, "samples", s->samples, &f);
    kv_u64(out, "rss_bytes", s->rss_bytes, &f);
    kv_u64(out, "heap_bytes", s->heap_bytes, &f);
    kv_u64(out, "pool_bytes", s->pool_bytes, &f);
    kv_u64(out, "pool_reserved_bytes", s->pool_reserved_bytes, &f);
    kv_u64(out, "pools_seen", s->pools_seen, &f);
    kv_u64(out, "pools_opaque", s->pools_opaque, &f);
    kv_u64(out, "pools_new", s->pools_new, &f);
    kv_u64(out, "pools_overflow", s->pools_overflow, &f);
    kv_u64(out, "walk_errors", s->walk_errors, &f);
    kv_str(out, "walk", pw_walk_name(s->walk), &f);
    kv_str(out, "walk_reason", field(reason, s->walk_reason, sizeof(reason)),
           &f);
    kv_u64(out, "walk_ns", s->walk_ns, &f);
    kv_u64(out, "heap_ns", s->heap_ns, &f);
    kv_u64(out, "heap_skipped", s->heap_skipped, &f);
    kv_u64(out, "self_samples", s->self_samples, &f);
    kv_u64(out, "self_ns_mean",
           s->self_samples ? s->self_ns_total / s->self_samples : 0, &f);
    kv_u64(out, "self_ns_max", s->self_ns_max, &f);
    kv_u64(out, "self_ns_p50",
           pw_time_quantile(s->self_hist, PW_TIME_BUCKETS, 0.5), &f);
    kv_u64(out, "self_ns_p99",
           pw_time_quantile(s->self_hist, PW_TIME_BUCKETS, 0.99), &f);
    kv_u64(out, "self_ns_request_p99",
           s->sampler == PW_SAMPLER_THREAD
               ? 0
               : pw_request_p99(s->self_hist, s->self_samples,
                                s->requests > s->self_base
                                    ? s->requests - s->self_base
                                    : 0),
           &f);
    kv_str(out, "sampler",
           s->sampler == PW_SAMPLER_THREAD ? "thread" : "requests", &f);

    key(out, "last_interval", &f);
    {
        int g = 1;

        put(out, "{");
        kv_u64(out, "requests", s->last_requests, &g);
        kv_i64(out, "pool_growth", s->last_pool_growth, &g);
        kv_i64(out, "heap_growth", s->last_heap_growth, &g);
        kv_i64(out, "rss_growth", s->last_rss_growth, &g);
        put(out, "}");
    }
    key(out, "connection", &f);
    {
        int g = 1;

        put(out, "{");
        kv_str(out, "tag", field(tag, s->conn_tag, sizeof(tag)), &g);
        kv_str(out, "path", field(path, s->conn_path, sizeof(path)), &g);
        kv_u64(out, "bytes", s->conn_bytes, &g);
        kv_u64(out, "reserved_bytes", s->conn_reserved_bytes, &g);
        kv_u64(out, "requests", s->conn_requests, &g);
        kv_u64(out, "clears", s->conn_clears, &g);
        put(out, "}");
    }
    key(out, "pools", &f);
    put(out, "[");
    for (i = 0; i < n; i++) {
        if (i) {
            put(out, ",");
        }
        render_pool(out, &pools[i]);
    }
    put(out, "]");

    kv_u64(out, "keys_overflow", s->keys_overflow, &f);
    kv_u64(out, "keys_evicted", s->keys_evicted, &f);
    kv_u64(out, "judged", s->judged, &f);
    key(out, "keys", &f);
    put(out, "[");
    {
        const pw_keyrec_t *keys =
            pw_slot_keys((pw_slot_t *)(void *)s, max_pools);
        int first = 1;

        for (i = 0; i < max_keys; i++) {
            if (key_live(&keys[i])) {
                if (!first) {
                    put(out, ",");
                }
                first = 0;
                render_key(out, &keys[i]);
            }
        }
    }
    put(out, "]");

    key(out, "history", &f);
    put(out, "[");
    for (i = 0; i < s->hist_count && i < PW_HISTORY; i++) {
        const pw_sample_t *h = pw_slot_history_at(s, i);
        char buf[160];

        apr_snprintf(buf, sizeof(buf),
                     "%s[%" APR_UINT64_T_FMT ",%" APR_INT64_T_FMT
                     ",%" APR_UINT64_T_FMT ",%" APR_UINT64_T_FMT
                     ",%" APR_UINT64_T_FMT "]",
                     i ? "," : "", h->requests, h->time / 1000, h->pool_bytes,
                     h->heap_bytes, h->rss_bytes);
        put(out, buf);
    }
    put(out, "]}");
}

void pw_json_render(pw_out_t *out, const pw_snapshot_t *snap)
{
    apr_uint32_t i;

    put(out, "{");
    render_server(out, &snap->server);
    put(out, ",\"keys\":[");
    {
        pw_keyagg_t *agg;
        apr_uint32_t n = pw_keys_aggregate(snap, &agg);

        for (i = 0; i < n; i++) {
            const pw_keyrec_t *k = agg[i].worst;
            char pool[PW_PATH_MAX];
            int f = 1;

            put(out, i ? ",{" : "{");
            kv_str(out, "key", k->key, &f);
            kv_u64(out, "requests", agg[i].requests, &f);
            kv_str(out, "verdict", pw_verdict_name((pw_verdict_e)k->verdict),
                   &f);
            kv_dbl(out, "bytes_per_request", k->bytes_per_request, &f);
            kv_str(out, "per", k->signal == PW_SIG_STREAM ? "MiB" : "request",
                   &f);
            kv_str(out, "signal", pw_signal_name(k->signal), &f);
            kv_str(out, "pool", field(pool, k->pool, sizeof(pool)), &f);
            kv_str(out, "attribution",
                   k->attribution_exact ? "exact" : "regression", &f);
            kv_bool(out, "held", pw_key_held(k), &f);
            kv_u64(out, "pid", agg[i].worst_pid, &f);
            kv_u64(out, "children", agg[i].children, &f);
            kv_u64(out, "children_affected", agg[i].affected, &f);
            put(out, "}");
        }
    }
    put(out, "],\"children\":[");
    for (i = 0; i < snap->nchildren; i++) {
        if (i) {
            put(out, ",");
        }
        render_child(out, snap->children[i], snap->slot_of[i],
                     snap->server.max_pools, snap->server.max_keys);
    }
    put(out, "]}\n");
}

static int agg_cmp(const void *a, const void *b)
{
    const pw_keyagg_t *x = a, *y = b;

    if (x->worst->verdict != y->worst->verdict) {
        return x->worst->verdict > y->worst->verdict ? -1 : 1;
    }
    if (x->requests != y->requests) {
        return x->requests > y->requests ? -1 : 1;
    }
    return strcmp(x->worst->key, y->worst->key);
}

apr_uint32_t pw_keys_aggregate(const pw_snapshot_t *snap, pw_keyagg_t **out)
{
    apr_hash_t *seen = apr_hash_make(snap->pool);
    pw_keyagg_t *agg;
    apr_uint32_t i, j, n = 0, cap = 0;

    for (i = 0; i < snap->nchildren; i++) {
        if (snap->children[i]->state == PW_SLOT_RUNNING) {
            cap += snap->server.max_keys;
        }
    }
    agg = apr_pcalloc(snap->pool, (cap ? cap : 1) * sizeof(*agg));
    for (i = 0; i < snap->nchildren; i++) {
        const pw_slot_t *s = snap->children[i];
        const pw_keyrec_t *keys;

        if (s->state != PW_SLOT_RUNNING) {
            continue;
        }
        keys = pw_slot_keys((pw_slot_t *)(void *)s, snap->server.max_pools);
        for (j = 0; j < snap->server.max_keys; j++) {
            const pw_keyrec_t *k = &keys[j];
            pw_keyagg_t *a;

            if (!key_live(k) || n >= cap) {
                continue;
            }
            a = apr_hash_get(seen, k->key, APR_HASH_KEY_STRING);
            if (a == NULL) {
                a = &agg[n++];
                a->worst = k;
                a->worst_pid = s->owner;
                apr_hash_set(seen, k->key, APR_HASH_KEY_STRING, a);
            } else if (k->verdict > a->worst->verdict ||
                       (k->verdict == a->worst->verdict &&
                        k->bytes_per_request > a->worst->bytes_per_request)) {
                a->worst = k;
                a->worst_pid = s->owner;
            }
            a->requests += k->requests;
            a->children++;
            if (k->verdict >= PW_VERDICT_SUSPECT) {
                a->affected++;
            }
        }
    }
    qsort(agg, n, sizeof(*agg), agg_cmp);
    *out = agg;
    return n;
}
