/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_auto: ?auto lines and the shared summary (pw_auto.h).
 *
 *   PoolWatchMPM: event
 *   PoolWatchLeaks: 1
 *   ...
 *   PoolWatchKey: leak 1000.0 request pool process/pconf/pchild 1 GET h /x
 *
 * One line per fact, as mod_status's ?auto: a monitoring script splits
 * at the first ": ". The summary walks the snapshot once; the figures of
 * exited children are left out of the sums (their slot is kept until it
 * is reused, but they serve nothing).
 */
#include <math.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "pw_auto.h"
#include "pw_detect.h"

#define PW_AUTO_KEYS 64 /* PoolWatchKey lines at most */

static void put(pw_out_t *out, const char *s)
{
    out->emit(out->baton, s, strlen(s));
}

int pw_key_live(const pw_keyrec_t *k)
{
    return k->hash > 1 && k->ready && memchr(k->key, '\0', PW_KEY_MAX);
}

void pw_summary_make(const pw_snapshot_t *snap, pw_summary_t *s)
{
    apr_hash_t *pools = apr_hash_make(snap->pool);
    apr_uint32_t i, j;

    memset(s, 0, sizeof(*s));
    s->flagged_pids =
        apr_pcalloc(snap->pool, (snap->nchildren + 1) * sizeof(apr_uint32_t));
    for (i = 0; i < snap->nchildren; i++) {
        const pw_slot_t *c = snap->children[i];
        const pw_keyrec_t *keys;
        int flagged = 0;

        if (c->state != PW_SLOT_RUNNING) {
            s->exited++;
            continue;
        }
        s->children++;
        s->requests += c->requests;
        s->pool_bytes += c->pool_bytes;
        s->heap_bytes += c->heap_bytes;
        s->rss_bytes += c->rss_bytes;
        keys = pw_slot_keys((pw_slot_t *)(void *)c, snap->server.max_pools);
        for (j = 0; j < snap->server.max_keys; j++) {
            const pw_keyrec_t *k = &keys[j];

            if (!pw_key_live(k) || k->verdict < PW_VERDICT_SUSPECT) {
                continue;
            }
            flagged = 1;
            if (k->pool[0] && memchr(k->pool, '\0', sizeof(k->pool))) {
                apr_hash_set(pools, k->pool, APR_HASH_KEY_STRING, k->pool);
            }
        }
        if (flagged) {
            s->flagged_pids[s->nflagged_pids++] = c->owner;
        }
    }
    s->nflagged_pools = apr_hash_count(pools);
    s->flagged_pools =
        apr_pcalloc(snap->pool, (s->nflagged_pools + 1) * sizeof(char *));
    {
        apr_hash_index_t *hi;
        apr_uint32_t n = 0;

        for (hi = apr_hash_first(snap->pool, pools);
             hi && n < s->nflagged_pools; hi = apr_hash_next(hi)) {
            const void *k;

            apr_hash_this(hi, &k, NULL, NULL);
            s->flagged_pools[n++] = k;
        }
        /* a stable order: the hash's is not */
        for (i = 1; i < n; i++) {
            for (j = i; j > 0 && strcmp(s->flagged_pools[j - 1],
                                        s->flagged_pools[j]) > 0;
                 j--) {
                const char *t = s->flagged_pools[j];

                s->flagged_pools[j] = s->flagged_pools[j - 1];
                s->flagged_pools[j - 1] = t;
            }
        }
    }
    s->nagg = pw_keys_aggregate(snap, &s->agg);
    s->keys = s->nagg;
    for (i = 0; i < s->nagg; i++) {
        if (s->agg[i].worst->verdict == PW_VERDICT_LEAK) {
            s->leaks++;
        } else if (s->agg[i].worst->verdict == PW_VERDICT_SUSPECT) {
            s->suspects++;
        }
    }
}

void pw_auto_text(pw_out_t *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    const unsigned char *run = s;
    char esc[8];

    for (; *s; s++) {
        if (*s >= 0x20 && *s < 0x7f && *s != '\\') {
            continue;
        }
        if (s > run) {
            out->emit(out->baton, (const char *)run, (apr_size_t)(s - run));
        }
        apr_snprintf(esc, sizeof(esc), "\\x%02x", (unsigned int)*s);
        put(out, esc);
        run = s + 1;
    }
    if (s > run) {
        out->emit(out->baton, (const char *)run, (apr_size_t)(s - run));
    }
}

static void line_u64(pw_out_t *out, const char *name, apr_uint64_t v)
{
    char buf[96];

    apr_snprintf(buf, sizeof(buf), "%s: %" APR_UINT64_T_FMT "\n", name, v);
    put(out, buf);
}

static void line_str(pw_out_t *out, const char *name, const char *v)
{
    put(out, name);
    put(out, ": ");
    pw_auto_text(out, v);
    put(out, "\n");
}

void pw_auto_render(pw_out_t *out, const pw_snapshot_t *snap, int brief)
{
    const pw_server_info_t *sv = &snap->server;
    pw_summary_t s;
    apr_uint32_t i;

    pw_summary_make(snap, &s);
    if (!brief) {
        /* mod_status prints these itself in /server-status?auto */
        line_str(out, "PoolWatchServerVersion", sv->version);
        line_str(out, "PoolWatchMPM", sv->mpm);
        line_u64(out, "PoolWatchGeneration", sv->generation);
        line_u64(out, "PoolWatchUptime",
                 sv->now > sv->restart_time && sv->restart_time > 0
                     ? (apr_uint64_t)((sv->now - sv->restart_time) /
                                      APR_USEC_PER_SEC)
                     : 0);
    }
    line_str(out, "PoolWatchWalk", pw_walk_name(sv->walk));
    line_u64(out, "PoolWatchChildren", s.children);
    line_u64(out, "PoolWatchChildrenExited", s.exited);
    line_u64(out, "PoolWatchSlots", sv->slots);
    line_u64(out, "PoolWatchSlotsOverflow", sv->slots_overflow);
    line_u64(out, "PoolWatchRequests", s.requests);
    line_u64(out, "PoolWatchPoolBytes", s.pool_bytes);
    line_u64(out, "PoolWatchHeapBytes", s.heap_bytes);
    line_u64(out, "PoolWatchRSSBytes", s.rss_bytes);
    line_u64(out, "PoolWatchKeys", s.keys);
    line_u64(out, "PoolWatchLeaks", s.leaks);
    line_u64(out, "PoolWatchSuspects", s.suspects);
    line_u64(out, "PoolWatchFlaggedChildren", s.nflagged_pids);
    line_u64(out, "PoolWatchResets", sv->reset_gen);
    if (brief) {
        return;
    }
    for (i = 0; i < s.nagg && i < PW_AUTO_KEYS; i++) {
        const pw_keyrec_t *k = s.agg[i].worst;
        char buf[160], pool[PW_PATH_MAX];
        double bpr =
            isfinite(k->bytes_per_request) ? k->bytes_per_request : 0.0;

        if (k->verdict < PW_VERDICT_SUSPECT) {
            break; /* worst first: the rest are not flagged */
        }
        memcpy(pool, k->pool, sizeof(pool));
        pool[sizeof(pool) - 1] = '\0';
        apr_snprintf(buf, sizeof(buf), "PoolWatchKey: %s %.1f %s %s ",
                     pw_verdict_name((pw_verdict_e)k->verdict), bpr,
                     k->signal == PW_SIG_STREAM ? "MiB" : "request",
                     pw_signal_name(k->signal));
        put(out, buf);
        pw_auto_text(out, pool[0] ? pool : "-");
        apr_snprintf(buf, sizeof(buf), " %u ", (unsigned int)s.agg[i].affected);
        put(out, buf);
        pw_auto_text(out, k->key);
        put(out, "\n");
    }
}
