/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * mod_poolwatch verdicts: the reload test, automated.
 *
 * Every request is counted against its key (PoolWatchKey) in the child's
 * key table, lock-free. Its connection pool is measured by its own thread:
 * growth on a reused connection is exact per request and per key. Every
 * sample closes an interval (requests per key, growth of pools, heap and
 * RSS) into a window; the judge (pw_attr + pw_detect) turns the window
 * into a verdict per key and signal, and the child logs one warning when
 * a key first turns "leak".
 *
 * Warm-up: the first PoolWatchWarmup requests of a key in a child add no
 * points to its series, but they stay the key's own in the regression:
 * counted as "other", a leak's warm-up growth would be charged to whatever
 * else shares the intervals (a /poolwatch reader, say).
 *
 * A connection's first request sets it up; after that, a key's first
 * growth of c->pool on the connection is taken as set-up too and counts
 * from its second on, so a one-off lazy set-up is not a leak while a pool
 * that grows request after request on one connection is. Keyed, so other
 * URLs on the same connection in between change nothing.
 *
 * Cost: per request a key (a copy of at most 127 bytes and an FNV hash),
 * a probe of the table and four atomic adds. The judge runs in the
 * sampling thread, every 1 to 2 seconds, and when /poolwatch is read.
 */
#include <string.h>
#include <stdlib.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include "http_core.h"
#include "http_main.h"
#include "http_protocol.h"

#include "mod_poolwatch.h"
#include "pw_attr.h"
#include "pw_detect.h"

APLOG_USE_MODULE(poolwatch);

#define PW_CONN_POINTS    64
#define PW_JUDGE_INTERVAL apr_time_from_sec(1)
#define PW_JUDGE_MAX      apr_time_from_sec(2)
#define PW_NAMES          64

/* What the child keeps about one key, in private memory. */
typedef struct pw_keystate_t {
    apr_uint32_t gen;
    apr_uint64_t prev_requests;
    apr_uint64_t prev_conn_requests;
    apr_uint64_t prev_conn_growth;
    double cx, cy; /* the connection signal's level */
    pw_point_t conn[PW_CONN_POINTS];
    apr_uint32_t nconn, conn_next;
    apr_uint32_t last_active; /* vd.intervals when it last had requests */
} pw_keystate_t;

typedef struct pw_verdict_t {
    int active;
    pw_slot_t *me;
    pw_keyrec_t *keys;
    apr_uint32_t nkeys;
    pw_keystate_t *ks;
    /* the ready entries, in table order: a sample reads only these (a
     * read of every entry is a cache line each, at every sample) */
    apr_uint32_t *live;
    apr_uint32_t nlive;
    apr_uint32_t live_claims; /* pw_key_claims when live was built */
    int live_stale;           /* an entry was evicted since */
    pw_window_t *window;
    pw_attr_key_t *results;
    char (*names)[PW_PATH_MAX]; /* pool paths by id */
    apr_uint32_t nnames, name_next;
    apr_uint64_t prev_overflow;
    apr_uint32_t intervals;
    apr_uint32_t judged_intervals; /* vd.intervals at the last judgement */
    apr_time_t judged_at;
    pw_detect_params_t params[PW_SIG_COUNT];
} pw_verdict_t;

static pw_verdict_t vd;

apr_size_t pw_verdict_child_init(pw_slot_t *me, apr_uint32_t max_pools,
                                 apr_uint32_t max_keys)
{
    apr_uint32_t s;
    apr_size_t bytes = max_keys * (sizeof(*vd.ks) + sizeof(*vd.live)) +
                       sizeof(*vd.window) + PW_ATTR_KEYS * sizeof(*vd.results) +
                       PW_NAMES * sizeof(*vd.names);

    memset(&vd, 0, sizeof(vd));
    /* once per child, freed by pw_verdict_child_exit() */
    vd.ks = calloc(max_keys, sizeof(*vd.ks));
    vd.live = calloc(max_keys, sizeof(*vd.live));
    vd.live_stale = 1;
    vd.window = calloc(1, sizeof(*vd.window));
    vd.results = calloc(PW_ATTR_KEYS, sizeof(*vd.results));
    vd.names = calloc(PW_NAMES, sizeof(*vd.names));
    if (!vd.ks || !vd.live || !vd.window || !vd.results || !vd.names) {
        return 0;
    }
    vd.me = me;
    vd.keys = pw_slot_keys(me, max_pools);
    vd.nkeys = max_keys;
    for (s = 0; s < PW_SIG_COUNT; s++) {
        pw_detect_defaults(&vd.params[s]);
    }
    /* exact signals judge a few bytes; the heap also moves with other
     * threads' transient mallocs; RSS moves in pages */
    vd.params[PW_SIG_POOL].min_slope = 4.0;
    vd.params[PW_SIG_CONN].min_slope = 4.0;
    vd.params[PW_SIG_HEAP].min_slope = 16.0;
    vd.params[PW_SIG_RSS].min_slope = 512.0;
    vd.params[PW_SIG_STREAM].min_slope = 64.0;
    vd.active = 1;
    return bytes;
}

void pw_verdict_child_exit(void)
{
    vd.active = 0;
    free(vd.ks);
    free(vd.live);
    free(vd.window);
    free(vd.results);
    free(vd.names);
    vd.ks = NULL;
    vd.live = NULL;
    vd.window = NULL;
    vd.results = NULL;
    vd.names = NULL;
}

apr_uint32_t pw_request_key(request_rec *r, char *buf)
{
    const pw_config_t *c = pw_effective_config();
    const char *alt = NULL, *query = NULL;

    if (c->key_by == PW_KEYBY_ENV) {
        alt = apr_table_get(r->subprocess_env, c->key_name);
    } else if (c->key_by == PW_KEYBY_NOTE) {
        alt = apr_table_get(r->notes, c->key_name);
    } else if (c->key_by == PW_KEYBY_QUERY) {
        query = r->args;
    }
    return pw_key_make(
        buf, r->method, r->server ? r->server->server_hostname : NULL,
        r->parsed_uri.path ? r->parsed_uri.path : r->uri, query, alt);
}

pw_keyrec_t *pw_verdict_count(const pw_keyparts_t *kp, const char *key,
                              apr_uint32_t hash, apr_uint64_t n,
                              int conn_measured, apr_int64_t conn_growth)
{
    pw_keyrec_t *rec;

    if (!vd.active) {
        return NULL;
    }
    rec = kp ? pw_key_get_parts(vd.keys, vd.nkeys, kp, hash)
             : pw_key_get(vd.keys, vd.nkeys, key, hash);
    if (rec == NULL) {
        apr_atomic_inc64(&vd.me->keys_overflow);
        return NULL;
    }
    /* compiler atomics, not apr_atomic_*(): this runs per request, and
     * the libapr calls cost more than the operations */
    __atomic_store_n(&rec->last_used, n, __ATOMIC_RELAXED);
    if (conn_measured) {
        __atomic_add_fetch(&rec->conn_requests, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&rec->conn_growth, (apr_uint64_t)conn_growth,
                           __ATOMIC_RELAXED);
    }
    /* last, and released: the sampler reads requests first, then the
     * conn figures */
    __atomic_add_fetch(&rec->requests, 1, __ATOMIC_RELEASE);
    return rec;
}

/* Id of a pool path in the names table (interned, oldest replaced). */
static apr_uint32_t name_id(const char *path)
{
    apr_uint32_t i;

    for (i = 0; i < vd.nnames; i++) {
        if (!strcmp(vd.names[i], path)) {
            return i;
        }
    }
    if (vd.nnames < PW_NAMES) {
        i = vd.nnames++;
    } else {
        i = vd.name_next;
        vd.name_next = (vd.name_next + 1) % PW_NAMES;
    }
    apr_cpystrn(vd.names[i], path, PW_PATH_MAX);
    return i;
}

static void conn_point(pw_keystate_t *k, double dx, double dy)
{
    k->cx += dx;
    k->cy += dy;
    k->conn[k->conn_next].x = k->cx;
    k->conn[k->conn_next].y = k->cy;
    k->conn_next = (k->conn_next + 1) % PW_CONN_POINTS;
    if (k->nconn < PW_CONN_POINTS) {
        k->nconn++;
    }
}

/* Copies the last PW_KEY_SERIES points of the deciding signal's series
 * into the key record, for the page's graphs. y is taken relative to the
 * first point kept, so that floats hold it to the byte for any leak a
 * graph can show. */
/* The index into pw_attr's per-signal arrays of a signal judged from
 * intervals (pool, heap, RSS), or -1 for the others. */
static int ivl_of(apr_uint32_t sig)
{
    return sig == PW_SIG_POOL   ? PW_IVL_POOL
           : sig == PW_SIG_HEAP ? PW_IVL_HEAP
           : sig == PW_SIG_RSS  ? PW_IVL_RSS
                                : -1;
}

static void keep_series(pw_keyrec_t *rec, apr_uint32_t sig,
                        const pw_attr_key_t *a, const pw_point_t *conn,
                        apr_uint32_t nconn)
{
    const pw_point_t *pts = NULL;
    apr_uint32_t n = 0, i, first;

    if (sig == PW_SIG_CONN) {
        pts = conn;
        n = nconn;
    } else if (a && ivl_of(sig) >= 0) {
        pts = a->pts[ivl_of(sig)];
        n = a->npts[ivl_of(sig)];
    }
    rec->series_signal = sig < PW_SIG_COUNT ? sig : PW_SIG_POOL;
    first = n > PW_KEY_SERIES ? n - PW_KEY_SERIES : 0;
    for (i = first; i < n; i++) {
        rec->series_x[i - first] = (float)pts[i].x;
        rec->series_y[i - first] = (float)(pts[i].y - pts[first].y);
    }
    rec->series_n = n - first;
}

/* At LogLevel poolwatch:debug, after a leak warning on a signal judged
 * from intervals: the numbers behind it, so that a verdict can be checked
 * (and a wrong one reproduced in a unit test) from the error_log alone.
 * PW00021: the regression's estimate and error, and the series judged;
 * PW00022: the window, interval by interval ("this key's requests/all
 * requests:growth"). Once per warning. */
static void explain(const pw_keyrec_t *rec, const pw_attr_key_t *a,
                    apr_uint32_t sig, apr_pool_t *pool)
{
    unsigned int s = (unsigned int)ivl_of(sig);
    /* fixed buffers, cut if ever full: no allocation but the key's escape */
    char pts[PW_DETECT_MAX_POINTS * 32], ivs[PW_WINDOW * 32];
    apr_size_t np = 0, ni = 0;
    apr_uint32_t i, j;

    pts[0] = ivs[0] = '\0';
    for (i = 0; i < a->npts[s] && i < PW_DETECT_MAX_POINTS; i++) {
        np += apr_snprintf(pts + np, sizeof(pts) - np, " (%.0f,%.0f)",
                           a->pts[s][i].x, a->pts[s][i].y);
    }
    for (i = 0; i < vd.window->count; i++) {
        const pw_interval_t *iv = pw_window_at(vd.window, i);
        apr_uint32_t mine = 0;

        for (j = 0; j < iv->nk && j < PW_IVL_KEYS; j++) {
            if (iv->key[j] == a->key && iv->kgen[j] == a->gen) {
                mine += iv->cnt[j];
            }
        }
        ni += apr_snprintf(ivs + ni, sizeof(ivs) - ni,
                           " %u/%u:%" APR_INT64_T_FMT, (unsigned int)mine,
                           (unsigned int)iv->requests, iv->g[s]);
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ap_server_conf,
                 "PW00021: pid %u: key \"%s\", signal %s: estimate %.1f "
                 "bytes/request, standard error %g (-1: not computed, "
                 "exact), share %.3f, %u points judged (requests, bytes):%s",
                 (unsigned int)vd.me->owner, ap_escape_logitem(pool, rec->key),
                 pw_signal_name(sig), a->coef[s], a->se[s], a->share,
                 (unsigned int)a->npts[s], pts);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ap_server_conf,
                 "PW00022: pid %u: key \"%s\": window, oldest first (its "
                 "requests/all requests:growth):%s",
                 (unsigned int)vd.me->owner, ap_escape_logitem(pool, rec->key),
                 ivs);
}

/* Signals in order of what they tell: a pool names the culprit. */
static const apr_uint32_t sig_order[] = {
    PW_SIG_POOL, PW_SIG_CONN, PW_SIG_STREAM, PW_SIG_HEAP, PW_SIG_RSS};

static void write_result(pw_keyrec_t *rec, pw_keystate_t *k,
                         const pw_attr_key_t *a, const char *conn_path,
                         apr_pool_t *pool)
{
    pw_detect_result_t conn;
    pw_point_t pts[PW_CONN_POINTS];
    apr_uint32_t i, best = PW_SIG_COUNT, v = PW_VERDICT_WARMUP;
    apr_uint32_t fresh = 0; /* bit i: a said something of signal i */

    for (i = 0; i < k->nconn; i++) {
        pts[i] = k->conn[(k->conn_next + PW_CONN_POINTS - k->nconn + i) %
                         PW_CONN_POINTS];
    }
    pw_detect(pts, k->nconn, &vd.params[PW_SIG_CONN], &conn);

    if (a) {
        static const apr_uint32_t map[PW_IVL_SIGNALS] = {
            PW_SIG_POOL, PW_SIG_HEAP, PW_SIG_RSS};

        for (i = 0; i < PW_IVL_SIGNALS; i++) {
            pw_sigres_t *sr = &rec->sig[map[i]];

            if (a->res[i].verdict == PW_VERDICT_WARMUP &&
                sr->verdict != PW_VERDICT_WARMUP) {
                /* too few of its points left in the window to say
                 * anything: keep what was said while they were there */
                continue;
            }
            fresh |= 1u << i;
            rec->held =
                (rec->held & ~(1u << map[i])) | ((a->held >> i & 1u) << map[i]);
            sr->verdict = a->res[i].verdict;
            sr->points = a->res[i].points;
            sr->bytes_per_request = a->res[i].slope;
            sr->lo = a->res[i].slope_lo;
            sr->hi = a->res[i].slope_hi;
        }
        if (fresh) {
            rec->share = a->share;
            rec->attribution_exact = (apr_uint32_t)a->exact;
        }
    }
    rec->sig[PW_SIG_STREAM].verdict = apr_atomic_read32(&rec->stream_verdict);
    rec->sig[PW_SIG_STREAM].points = apr_atomic_read32(&rec->stream_points);
    rec->sig[PW_SIG_STREAM].bytes_per_request =
        (double)apr_atomic_read64(&rec->stream_per_mib);
    rec->sig[PW_SIG_CONN].verdict = conn.verdict;
    rec->sig[PW_SIG_CONN].points = conn.points;
    rec->sig[PW_SIG_CONN].bytes_per_request = conn.slope;
    rec->sig[PW_SIG_CONN].lo = conn.slope_lo;
    rec->sig[PW_SIG_CONN].hi = conn.slope_hi;

    /* the worst verdict, named by the most telling signal */
    for (i = 0; i < sizeof(sig_order) / sizeof(sig_order[0]); i++) {
        apr_uint32_t s = sig_order[i];

        if (rec->sig[s].verdict > v) {
            v = rec->sig[s].verdict;
            best = s;
        }
    }
    rec->verdict = v;
    rec->signal = best < PW_SIG_COUNT ? best : PW_SIG_POOL;
    rec->bytes_per_request =
        best < PW_SIG_COUNT ? rec->sig[best].bytes_per_request : 0.0;
    rec->points = best < PW_SIG_COUNT ? rec->sig[best].points : 0;
    /* the graph's points: only from a judgement that saw them */
    if (best == PW_SIG_CONN || (best == PW_SIG_POOL && (fresh & 1u)) ||
        (best == PW_SIG_HEAP && (fresh & 2u)) ||
        (best == PW_SIG_RSS && (fresh & 4u)) || v < PW_VERDICT_SUSPECT) {
        keep_series(rec, best, a, pts, k->nconn);
    }
    if (v < PW_VERDICT_SUSPECT) {
        rec->pool[0] = '\0'; /* nothing grew: name no pool */
    } else if (best == PW_SIG_POOL && !(fresh & 1u)) {
        ; /* the key left the window: keep the pool its verdict named */
    } else if (best == PW_SIG_POOL && a->top_pool >= 0 &&
               (apr_uint32_t)a->top_pool < vd.nnames) {
        apr_cpystrn(rec->pool, vd.names[a->top_pool], sizeof(rec->pool));
    } else if ((best == PW_SIG_CONN || best == PW_SIG_STREAM) && conn_path) {
        apr_cpystrn(rec->pool, conn_path, sizeof(rec->pool));
    } else {
        rec->pool[0] = '\0';
    }

    if (v == PW_VERDICT_LEAK && !rec->warned) {
        rec->warned = 1;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                     "PW00020: pid %u: key \"%s\" leaks about %.0f bytes "
                     "per request (signal %s%s%s, %u points, %s)",
                     (unsigned int)vd.me->owner,
                     ap_escape_logitem(pool, rec->key), rec->bytes_per_request,
                     pw_signal_name(best), rec->pool[0] ? ", pool " : "",
                     rec->pool, rec->points,
                     rec->attribution_exact ? "exact" : "regression");
        if (a && APLOGdebug(ap_server_conf) && ivl_of(best) >= 0) {
            explain(rec, a, best, pool);
        }
    } else if (v != PW_VERDICT_LEAK && v != PW_VERDICT_SUSPECT) {
        rec->warned = 0; /* warn again if it comes back */
    }
}

void pw_verdict_prefetch(void)
{
    apr_uint32_t j;

    if (!vd.active || vd.live_stale) {
        return;
    }
    for (j = 0; j < vd.nlive; j++) {
        __builtin_prefetch((const void *)&vd.keys[vd.live[j]].requests);
        __builtin_prefetch(&vd.ks[vd.live[j]]);
    }
}

void pw_verdict_sample(const pw_verdict_sample_t *in)
{
    pw_interval_t iv;
    apr_uint32_t i, j, claims;
    apr_uint32_t warmup = (apr_uint32_t)pw_effective_config()->warmup;
    apr_uint64_t ovf;
    int leaving = 0;

    if (!vd.active) {
        return;
    }
    memset(&iv, 0, sizeof(iv));
    iv.requests = (apr_uint32_t)in->requests;
    iv.g[PW_IVL_POOL] = in->pool_growth;
    iv.g[PW_IVL_HEAP] = in->heap_growth;
    iv.g[PW_IVL_RSS] = in->rss_growth;

    claims = __atomic_load_n(&pw_key_claims, __ATOMIC_ACQUIRE);
    if (vd.live_stale || claims != vd.live_claims) {
        vd.live_claims = claims;
        vd.live_stale = 0;
        vd.nlive = 0;
        for (i = 0; i < vd.nkeys; i++) {
            if (__atomic_load_n(&vd.keys[i].ready, __ATOMIC_ACQUIRE)) {
                vd.live[vd.nlive++] = i;
            }
        }
    }
    for (j = 0; j < vd.nlive; j++) {
        pw_keyrec_t *rec = &vd.keys[i = vd.live[j]];
        pw_keystate_t *k = &vd.ks[i];
        apr_uint64_t req, creq, cgrow, d, judged;

        /* compiler atomics here too: every key, every sample */
        if (!__atomic_load_n(&rec->ready, __ATOMIC_ACQUIRE)) {
            continue;
        }
        if (k->gen != rec->gen) {
            memset(k, 0, sizeof(*k)); /* a new key in this entry */
            k->gen = rec->gen;
        }
        req = __atomic_load_n(&rec->requests, __ATOMIC_RELAXED);
        creq = __atomic_load_n(&rec->conn_requests, __ATOMIC_RELAXED);
        cgrow = __atomic_load_n(&rec->conn_growth, __ATOMIC_RELAXED);
        d = req - k->prev_requests;
        judged = req > warmup ? req - warmup : 0;
        if (judged > d) {
            judged = d;
        }
        if (d) {
            k->last_active = vd.intervals + 1; /* the interval added below */
        } else if (k->last_active > vd.judged_intervals &&
                   vd.intervals - k->last_active >= PW_WINDOW / 2) {
            /* quiet for half a window since it was last judged: its
             * intervals begin to leave the window */
            leaving = 1;
        }
        if (d) {
            if (iv.nk < PW_IVL_KEYS) {
                iv.key[iv.nk] = i;
                iv.kgen[iv.nk] = rec->gen;
                iv.cnt[iv.nk] = (apr_uint32_t)d;
                /* requests still in warm-up: the key's own growth in the
                 * regression, but no point in its series */
                iv.warm[iv.nk] = (apr_uint32_t)(d - judged);
                iv.nk++;
            } else {
                iv.other += (apr_uint32_t)d;
            }
        }
        if (creq != k->prev_conn_requests && req > warmup) {
            conn_point(k, (double)(creq - k->prev_conn_requests),
                       (double)(apr_int64_t)(cgrow - k->prev_conn_growth));
        }
        k->prev_requests = req;
        k->prev_conn_requests = creq;
        k->prev_conn_growth = cgrow;
    }
    /* requests the key table could not hold */
    ovf = apr_atomic_read64(&vd.me->keys_overflow);
    if (ovf != vd.prev_overflow) {
        int victim = pw_key_victim(vd.keys, vd.nkeys);

        /* make room for the keys that found none: the least recently
         * used entry that is not a leak goes */
        if (victim >= 0) {
            pw_key_evict(&vd.keys[victim]);
            vd.me->keys_evicted++;
            vd.live_stale = 1;
        }
        vd.prev_overflow = ovf;
    }
    for (i = 0; i < in->npools && i < PW_IVL_POOLS; i++) {
        iv.pool[i] = name_id(in->pool_path[i]);
        iv.pgrowth[i] = in->pool_growth_of[i];
    }
    iv.npool = i;
    if (iv.requests || iv.g[0] || iv.g[1] || iv.g[2]) {
        pw_window_add(vd.window, &iv);
        vd.intervals++;
    }

    /* a judgement costs 10^4 to 10^5 instructions (more when series are
     * noisy): judge when half the window is new, so that every interval
     * is judged twice, neither more (a busy child's window is 3 s of
     * samples: judged each second, each interval was judged three times
     * over) nor less; but at least every PW_JUDGE_MAX, for a warning in
     * the error_log of a quiet child, and at most every
     * PW_JUDGE_INTERVAL. A reader of /poolwatch forces one (force) so
     * that what it shows is current. And a key whose intervals leave the
     * window unjudged (keys served one after another) would be lost:
     * judge too when a key active since the last judgement has been quiet
     * for half a window, at most every eighth of one */
    if (in->force ||
        (leaving && vd.intervals - vd.judged_intervals >= PW_WINDOW / 8) ||
        (vd.intervals != vd.judged_intervals &&
         in->now - vd.judged_at >= PW_JUDGE_INTERVAL &&
         (vd.intervals - vd.judged_intervals >= PW_WINDOW / 2 ||
          in->now - vd.judged_at >= PW_JUDGE_MAX))) {
        unsigned int n =
            pw_attr_judge(vd.window, vd.params, vd.results, PW_ATTR_KEYS);
        unsigned char seen[1024];

        memset(seen, 0, sizeof(seen));
        vd.judged_at = in->now;
        vd.judged_intervals = vd.intervals;
        vd.me->judged++;
        for (i = 0; i < n; i++) {
            const pw_attr_key_t *a = &vd.results[i];

            if (a->key < vd.nkeys && vd.keys[a->key].gen == a->gen &&
                vd.keys[a->key].ready) {
                write_result(&vd.keys[a->key], &vd.ks[a->key], a, in->conn_path,
                             in->pool);
                if (a->key < sizeof(seen)) {
                    seen[a->key] = 1;
                }
            }
        }
        /* keys with connection or stream points but no judged interval
         * (still in warm-up, or a single long response) */
        for (i = 0; i < vd.nkeys && i < sizeof(seen); i++) {
            if (!seen[i] && vd.keys[i].ready &&
                (vd.ks[i].nconn ||
                 apr_atomic_read32(&vd.keys[i].stream_verdict))) {
                write_result(&vd.keys[i], &vd.ks[i], NULL, in->conn_path,
                             in->pool);
            }
        }
    }
}

void pw_verdict_reset(void)
{
    apr_uint32_t i;

    if (!vd.active) {
        return;
    }
    /* request threads may hold an entry: evict() is the way to free one
     * under them (their counts go to whatever claims it next). An entry
     * still being claimed (not ready) is new anyway: left alone, so that
     * its claimer never completes a tombstone */
    for (i = 0; i < vd.nkeys; i++) {
        if (apr_atomic_read32(&vd.keys[i].ready) &&
            apr_atomic_read32(&vd.keys[i].hash) > 1) {
            pw_key_evict(&vd.keys[i]);
        }
    }
    memset(vd.ks, 0, vd.nkeys * sizeof(*vd.ks));
    vd.live_stale = 1;
    memset(vd.window, 0, sizeof(*vd.window));
    apr_atomic_set64(&vd.me->keys_overflow, 0);
    vd.prev_overflow = 0;
    vd.me->keys_evicted = 0;
    vd.judged_at = 0;
}
