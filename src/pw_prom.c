/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_prom: the ?format=prometheus read-out (text exposition format 0.0.4).
 *
 * Every family is written whole (HELP, TYPE, then all its samples), as the
 * format requires, so the loops run family-outer, child-inner. Names
 * follow Prometheus conventions: poolwatch_ prefix, base units (_bytes,
 * _seconds), _total on counters only.
 *
 * The one idea: a label value is escaped into a string first and series
 * are deduplicated on that string. Keys differ only in bytes that are not
 * UTF-8 (a client can send "\xff" or "\xfe"); both become U+FFFD, and two
 * samples of one series would make Prometheus drop the scrape's samples
 * as duplicates. The later one is dropped and counted instead.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "pw_prom.h"
#include "pw_detect.h"

static void put(pw_out_t *out, const char *s)
{
    out->emit(out->baton, s, strlen(s));
}

/* ---- label values ------------------------------------------------------ */

typedef struct strbuf_t {
    char *buf;
    apr_size_t len, cap;
} strbuf_t;

static void strbuf_emit(void *baton, const char *data, apr_size_t len)
{
    strbuf_t *b = baton;

    /* cap is sized for the worst case; the check is belt and braces */
    if (len > b->cap - 1 - b->len) {
        len = b->cap - 1 - b->len;
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    b->buf[b->len] = '\0';
}

static const char *label_esc(unsigned char c, char *buf, apr_size_t len)
{
    switch (c) {
        case '\\':
            return "\\\\";
        case '"':
            return "\\\"";
        case '\n':
            return "\\n";
        default:
            return NULL;
    }
}

const char *pw_prom_label(apr_pool_t *p, const char *s)
{
    strbuf_t b;
    pw_out_t out = {strbuf_emit, &b};

    s = s ? s : "";
    /* each input byte becomes at most 3 (U+FFFD for an invalid byte) */
    b.cap = 3 * strlen(s) + 1;
    b.buf = apr_palloc(p, b.cap);
    b.buf[0] = '\0';
    b.len = 0;
    pw_out_escaped(&out, s, label_esc, "\xef\xbf\xbd");
    return b.buf;
}

/* ---- writers ----------------------------------------------------------- */

static void family(pw_out_t *out, const char *name, const char *type,
                   const char *help)
{
    /* help texts are literals of this file: no backslash, no newline */
    put(out, "# HELP ");
    put(out, name);
    put(out, " ");
    put(out, help);
    put(out, "\n# TYPE ");
    put(out, name);
    put(out, " ");
    put(out, type);
    put(out, "\n");
}

/* name{labels} value: labels already escaped and braced, or "". */
static void sample(pw_out_t *out, const char *name, const char *labels,
                   const char *value)
{
    put(out, name);
    put(out, labels);
    put(out, " ");
    put(out, value);
    put(out, "\n");
}

static void sample_u64(pw_out_t *out, const char *name, const char *labels,
                       apr_uint64_t v)
{
    char buf[32];

    apr_snprintf(buf, sizeof(buf), "%" APR_UINT64_T_FMT, v);
    sample(out, name, labels, buf);
}

static void sample_dbl(pw_out_t *out, const char *name, const char *labels,
                       double v)
{
    char buf[64];

    /* NaN becomes 0 (the judge never means NaN; keep alert arithmetic
     * sane), and the value is clamped as in the JSON */
    pw_fmt_double(buf, sizeof(buf), v);
    sample(out, name, labels, buf);
}

/* apr_time_t as unix seconds with microseconds. */
static void sample_time(pw_out_t *out, const char *name, const char *labels,
                        apr_int64_t t)
{
    char buf[48];

    if (t < 0) {
        t = 0;
    }
    apr_snprintf(buf, sizeof(buf), "%" APR_INT64_T_FMT ".%06" APR_INT64_T_FMT,
                 t / APR_USEC_PER_SEC, t % APR_USEC_PER_SEC);
    sample(out, name, labels, buf);
}

/* ---- server ------------------------------------------------------------ */

static void render_server(pw_out_t *out, const pw_snapshot_t *snap)
{
    const pw_server_info_t *sv = &snap->server;
    apr_pool_t *p = snap->pool;
    apr_uint32_t i, running = 0, exited = 0;

    family(out, "poolwatch_info", "gauge",
           "Always 1; the labels describe the server and the pool walk of "
           "the child that served the scrape.");
    sample(out, "poolwatch_info",
           apr_pstrcat(p, "{version=\"", pw_prom_label(p, sv->version),
                       "\",mpm=\"", pw_prom_label(p, sv->mpm), "\",walk=\"",
                       pw_walk_name(sv->walk), "\",apr_version=\"",
                       pw_prom_label(p, sv->apr_version), "\",key_by=\"",
                       pw_prom_label(p, sv->key_by), "\"}", NULL),
           "1");

    family(out, "poolwatch_generation", "gauge",
           "Configuration generation of the server (graceful restarts).");
    sample_u64(out, "poolwatch_generation", "", sv->generation);

    for (i = 0; i < snap->nchildren; i++) {
        if (snap->children[i]->state == PW_SLOT_RUNNING) {
            running++;
        } else {
            exited++;
        }
    }
    family(out, "poolwatch_children", "gauge",
           "Children in the shared segment, by state (exited ones stay "
           "until their slot is reused).");
    sample_u64(out, "poolwatch_children", "{state=\"running\"}", running);
    sample_u64(out, "poolwatch_children", "{state=\"exited\"}", exited);

    family(out, "poolwatch_slots", "gauge",
           "Child slots in shared memory (PoolWatchSlots).");
    sample_u64(out, "poolwatch_slots", "", sv->slots);
    family(out, "poolwatch_slots_overflow_total", "counter",
           "Children that found no free slot and are not watched.");
    sample_u64(out, "poolwatch_slots_overflow_total", "", sv->slots_overflow);
    family(out, "poolwatch_shm_bytes", "gauge", "Size of the shared segment.");
    sample_u64(out, "poolwatch_shm_bytes", "", sv->shm_bytes);
}

/* ---- children ---------------------------------------------------------- */

/* Counters and gauges that are a plain apr_uint64_t of the slot. */
typedef struct child_metric_t {
    const char *name;
    const char *type;
    const char *help;
    apr_size_t offset; /* of the apr_uint64_t in pw_slot_t */
} child_metric_t;

#define SLOT_U64(f) offsetof(pw_slot_t, f)

static const child_metric_t child_metrics[] = {
    {"poolwatch_child_requests_total", "counter", "Requests the child served.",
     SLOT_U64(requests)},
    {"poolwatch_child_connections_total", "counter",
     "Connections the child accepted.", SLOT_U64(connections)},
    {"poolwatch_child_samples_total", "counter",
     "Samples the child took of its pools, heap and RSS.", SLOT_U64(samples)},
    {"poolwatch_child_pool_bytes", "gauge",
     "Bytes in use in the child's measured long-lived APR pools.",
     SLOT_U64(pool_bytes)},
    {"poolwatch_child_pool_reserved_bytes", "gauge",
     "Bytes of the nodes of the child's measured long-lived APR pools.",
     SLOT_U64(pool_reserved_bytes)},
    {"poolwatch_child_heap_bytes", "gauge",
     "Bytes of malloc in use in the child (mallinfo2).", SLOT_U64(heap_bytes)},
    {"poolwatch_child_rss_bytes", "gauge",
     "Resident set size of the child at its last RSS reading.",
     SLOT_U64(rss_bytes)},
    {"poolwatch_child_pools", "gauge", "Pools met by the child's last walk.",
     SLOT_U64(pools_seen)},
    {"poolwatch_child_pools_opaque", "gauge",
     "Pools of the last walk on other threads' allocators (not measured).",
     SLOT_U64(pools_opaque)},
    {"poolwatch_child_pools_new", "gauge",
     "Long-lived pools that appeared after the child's first sample.",
     SLOT_U64(pools_new)},
    {"poolwatch_child_pools_overflow_total", "counter",
     "Samples that met more pools than PoolWatchMaxPools.",
     SLOT_U64(pools_overflow)},
    {"poolwatch_child_walk_errors_total", "counter",
     "Pool walks that stopped on an inconsistent pool.", SLOT_U64(walk_errors)},
    {"poolwatch_child_keys_overflow_total", "counter",
     "Requests that found the child's key table full.",
     SLOT_U64(keys_overflow)},
    {"poolwatch_child_keys_evicted_total", "counter",
     "Keys evicted from the child's key table.", SLOT_U64(keys_evicted)},
    {NULL, NULL, NULL, 0}};

static apr_uint64_t slot_u64(const pw_slot_t *s, apr_size_t offset)
{
    apr_uint64_t v;

    memcpy(&v, (const char *)s + offset, sizeof(v));
    return v;
}

static void render_children(pw_out_t *out, const pw_snapshot_t *snap,
                            const char **labels)
{
    const child_metric_t *m;
    apr_uint32_t i;

    family(out, "poolwatch_child_state", "gauge",
           "1 for the child's state (running or exited), 0 for the other.");
    for (i = 0; i < snap->nchildren; i++) {
        const pw_slot_t *s = snap->children[i];
        int run = s->state == PW_SLOT_RUNNING;
        /* labels[i] is {pid="..",slot=".."}: add state inside the braces */
        apr_size_t n = strlen(labels[i]) - 1;
        const char *base = apr_pstrndup(snap->pool, labels[i], n);

        sample(out, "poolwatch_child_state",
               apr_pstrcat(snap->pool, base, ",state=\"running\"}", NULL),
               run ? "1" : "0");
        sample(out, "poolwatch_child_state",
               apr_pstrcat(snap->pool, base, ",state=\"exited\"}", NULL),
               run ? "0" : "1");
    }
    for (m = child_metrics; m->name; m++) {
        family(out, m->name, m->type, m->help);
        for (i = 0; i < snap->nchildren; i++) {
            sample_u64(out, m->name, labels[i],
                       slot_u64(snap->children[i], m->offset));
        }
    }
    family(out, "poolwatch_child_start_time_seconds", "gauge",
           "Start time of the child since the unix epoch.");
    for (i = 0; i < snap->nchildren; i++) {
        sample_time(out, "poolwatch_child_start_time_seconds", labels[i],
                    snap->children[i]->started);
    }
    family(out, "poolwatch_child_last_sample_timestamp_seconds", "gauge",
           "Time of the child's last sample since the unix epoch.");
    for (i = 0; i < snap->nchildren; i++) {
        sample_time(out, "poolwatch_child_last_sample_timestamp_seconds",
                    labels[i], snap->children[i]->updated);
    }
    family(out, "poolwatch_child_walk_duration_seconds", "gauge",
           "Duration of the child's last pool walk.");
    for (i = 0; i < snap->nchildren; i++) {
        char buf[48];
        apr_uint64_t ns = snap->children[i]->walk_ns;

        apr_snprintf(buf, sizeof(buf),
                     "%" APR_UINT64_T_FMT ".%09" APR_UINT64_T_FMT,
                     ns / 1000000000, ns % 1000000000);
        sample(out, "poolwatch_child_walk_duration_seconds", labels[i], buf);
    }
}

/* ---- keys -------------------------------------------------------------- */

/* A flagged key chosen for export, its labels escaped. */
typedef struct flagged_t {
    const pw_keyagg_t *agg;
    const char *key_label; /* {key=".."} */
    const char *labels;    /* {key="..",signal="..",pool=".."} */
} flagged_t;

/* Bounded copy of a fixed-size field of a slot copy (see pw_json.c). */
static const char *field(apr_pool_t *p, const char *src, apr_size_t len)
{
    char *dst = apr_palloc(p, len);

    memcpy(dst, src, len);
    dst[len - 1] = '\0';
    return dst;
}

/* The running child whose pid is pid: its index in the snapshot, or -1. */
static int child_index(const pw_snapshot_t *snap, apr_uint32_t pid)
{
    apr_uint32_t i;

    for (i = 0; i < snap->nchildren; i++) {
        if (snap->children[i]->owner == pid &&
            snap->children[i]->state == PW_SLOT_RUNNING) {
            return (int)i;
        }
    }
    return -1;
}

static void render_pools(pw_out_t *out, const pw_snapshot_t *snap,
                         const flagged_t *fl, apr_uint32_t nfl)
{
    apr_hash_t *seen = apr_hash_make(snap->pool);
    apr_uint32_t i, j;

    family(out, "poolwatch_pool_bytes", "gauge",
           "Bytes in use in a pool that a flagged key names, in the child "
           "that flagged it.");
    for (i = 0; i < nfl; i++) {
        const pw_keyrec_t *k = fl[i].agg->worst;
        const pw_slot_t *s;
        const pw_poolrec_t *pools;
        const char *path;
        int c;
        apr_uint32_t n;

        if (k->signal != PW_SIG_POOL) {
            continue;
        }
        path = field(snap->pool, k->pool, sizeof(k->pool));
        c = child_index(snap, fl[i].agg->worst_pid);
        if (*path == '\0' || c < 0) {
            continue;
        }
        s = snap->children[c];
        pools = (const pw_poolrec_t *)(const void *)(s + 1);
        n = s->npools < snap->server.max_pools ? s->npools
                                               : snap->server.max_pools;
        for (j = 0; j < n; j++) {
            const char *labels;

            if (strncmp(pools[j].path, path, sizeof(pools[j].path))) {
                continue;
            }
            labels = apr_psprintf(
                snap->pool, "{pid=\"%u\",slot=\"%u\",pool=\"%s\"}",
                (unsigned int)s->owner, (unsigned int)snap->slot_of[c],
                pw_prom_label(snap->pool, path));
            if (apr_hash_get(seen, labels, APR_HASH_KEY_STRING) == NULL) {
                apr_hash_set(seen, labels, APR_HASH_KEY_STRING, labels);
                sample_u64(out, "poolwatch_pool_bytes", labels, pools[j].bytes);
            }
            break;
        }
    }
}

static void render_keys(pw_out_t *out, const pw_snapshot_t *snap)
{
    apr_pool_t *p = snap->pool;
    pw_keyagg_t *agg;
    apr_uint32_t i, n = pw_keys_aggregate(snap, &agg), nfl = 0, dropped = 0;
    apr_uint64_t by_verdict[PW_VERDICT_LEAK + 1] = {0};
    apr_hash_t *seen = apr_hash_make(p);
    flagged_t fl[PW_PROM_MAX_KEYS];
    static const pw_verdict_e verdicts[] = {PW_VERDICT_LEAK, PW_VERDICT_SUSPECT,
                                            PW_VERDICT_OK, PW_VERDICT_WARMUP};

    /* agg is worst first: the flagged keys that fit are the worst ones */
    for (i = 0; i < n; i++) {
        const pw_keyrec_t *k = agg[i].worst;
        const char *key;

        if (k->verdict <= PW_VERDICT_LEAK) {
            by_verdict[k->verdict]++;
        }
        if (k->verdict < PW_VERDICT_SUSPECT) {
            continue;
        }
        key = pw_prom_label(p, k->key);
        if (nfl == PW_PROM_MAX_KEYS ||
            apr_hash_get(seen, key, APR_HASH_KEY_STRING)) {
            dropped++;
            continue;
        }
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, key);
        fl[nfl].agg = &agg[i];
        fl[nfl].key_label = apr_pstrcat(p, "{key=\"", key, "\"}", NULL);
        fl[nfl].labels = apr_pstrcat(
            p, "{key=\"", key, "\",signal=\"", pw_signal_name(k->signal),
            "\",pool=\"", pw_prom_label(p, field(p, k->pool, sizeof(k->pool))),
            "\"}", NULL);
        nfl++;
    }

    family(out, "poolwatch_keys", "gauge",
           "Request keys over running children, by their worst verdict.");
    for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
        sample_u64(out, "poolwatch_keys",
                   apr_pstrcat(p, "{verdict=\"", pw_verdict_name(verdicts[i]),
                               "\"}", NULL),
                   by_verdict[verdicts[i]]);
    }
    family(out, "poolwatch_keys_flagged_dropped", "gauge",
           "Flagged keys (suspect or leak) left out of the per-key series "
           "of this scrape (over the cap, or equal once escaped).");
    sample_u64(out, "poolwatch_keys_flagged_dropped", "", dropped);

    family(out, "poolwatch_key_leak", "gauge",
           "1 if the flagged key leaks, 0 if it is suspect (worst child).");
    for (i = 0; i < nfl; i++) {
        sample(out, "poolwatch_key_leak", fl[i].labels,
               fl[i].agg->worst->verdict == PW_VERDICT_LEAK ? "1" : "0");
    }
    family(out, "poolwatch_key_growth_bytes_per_request", "gauge",
           "Estimated growth per request of the flagged key's signal "
           "(worst child).");
    for (i = 0; i < nfl; i++) {
        const pw_keyrec_t *k = fl[i].agg->worst;

        if (k->signal != PW_SIG_STREAM) {
            sample_dbl(out, "poolwatch_key_growth_bytes_per_request",
                       fl[i].labels, k->bytes_per_request);
        }
    }
    family(out, "poolwatch_key_stream_growth_bytes_per_mebibyte", "gauge",
           "Growth of the connection pool per MiB sent during one response "
           "of the flagged key (stream signal).");
    for (i = 0; i < nfl; i++) {
        const pw_keyrec_t *k = fl[i].agg->worst;

        if (k->signal == PW_SIG_STREAM) {
            sample_dbl(out, "poolwatch_key_stream_growth_bytes_per_mebibyte",
                       fl[i].labels, k->bytes_per_request);
        }
    }
    family(out, "poolwatch_key_requests_total", "counter",
           "Requests of the flagged key, summed over running children.");
    for (i = 0; i < nfl; i++) {
        sample_u64(out, "poolwatch_key_requests_total", fl[i].key_label,
                   fl[i].agg->requests);
    }
    family(out, "poolwatch_key_children_affected", "gauge",
           "Running children where the flagged key is suspect or leak.");
    for (i = 0; i < nfl; i++) {
        sample_u64(out, "poolwatch_key_children_affected", fl[i].key_label,
                   fl[i].agg->affected);
    }
    render_pools(out, snap, fl, nfl);
}

void pw_prom_render(pw_out_t *out, const pw_snapshot_t *snap)
{
    const char **labels;
    apr_uint32_t i;

    labels = apr_palloc(snap->pool, (snap->nchildren ? snap->nchildren : 1) *
                                        sizeof(*labels));
    for (i = 0; i < snap->nchildren; i++) {
        /* pid alone may repeat (an exited child's pid reused): the slot
         * makes every series unique */
        labels[i] = apr_psprintf(snap->pool, "{pid=\"%u\",slot=\"%u\"}",
                                 (unsigned int)snap->children[i]->owner,
                                 (unsigned int)snap->slot_of[i]);
    }
    render_server(out, snap);
    render_children(out, snap, labels);
    render_keys(out, snap);
}
