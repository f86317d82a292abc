/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_keys: request keys and their lock-free per-child table (pw_keys.h).
 *
 * Open addressing, linear probing, claimed by CAS of the hash. The trap is
 * the window between a claim and the key text being complete: a thread
 * that meets an entry with its hash but not yet ready waits a moment for
 * it, so two threads with the same new key end in one entry, not two.
 */
#include <string.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include "pw_detect.h"
#include "pw_keys.h"

/* An evicted entry: probing goes on past it (a key further down the
 * chain must stay reachable), and a new key may take it. */
#define PW_KEY_TOMB 1u

const char *pw_signal_name(apr_uint32_t sig)
{
    static const char *const names[PW_SIG_COUNT] = {"pool", "conn", "heap",
                                                    "rss", "stream"};

    return sig < PW_SIG_COUNT ? names[sig] : "none";
}

/* Appends src to buf[0..len), replacing bytes that would make a key hard
 * to read or log and folding them into the FNV-1a hash *h; stops at the
 * end of the buffer. Returns the new length. Locals, not pointers, in the
 * loop: a char store may alias anything, and would reload them per byte. */
static apr_size_t append(char *buf, apr_size_t len, const char *src,
                         apr_uint32_t *h)
{
    apr_uint32_t hh = *h;

    while (src && *src && len < PW_KEY_MAX - 1) {
        unsigned char c = (unsigned char)*src++;

        if (c < 0x20 || c == 0x7f) {
            c = '?';
        }
        buf[len++] = (char)c;
        hh = (hh ^ c) * 16777619u;
    }
    buf[len] = '\0';
    *h = hh;
    return len;
}

apr_uint32_t pw_key_make(char *buf, const char *method, const char *host,
                         const char *path, const char *query, const char *alt)
{
    apr_size_t len = 0;
    apr_uint32_t h = 2166136261u; /* FNV-1a */

    buf[0] = '\0';
    len = append(buf, len, method ? method : "-", &h);
    len = append(buf, len, " ", &h);
    len = append(buf, len, host && *host ? host : "-", &h);
    len = append(buf, len, " ", &h);
    if (alt) {
        len = append(buf, len, "$", &h);
        append(buf, len, alt, &h);
    } else {
        len = append(buf, len, path && *path ? path : "-", &h);
        if (query) {
            len = append(buf, len, "?", &h);
            append(buf, len, query, &h);
        }
    }
    return h > PW_KEY_TOMB ? h : h + 2; /* 0 is free, 1 a tombstone */
}

static pw_keyrec_t *claim(pw_keyrec_t *r, apr_uint32_t was, const char *key,
                          apr_uint32_t hash)
{
    if (apr_atomic_cas32(&r->hash, hash, was) != was) {
        return NULL;
    }
    apr_cpystrn(r->key, key, sizeof(r->key));
    apr_atomic_inc32(&r->gen);
    apr_atomic_set32(&r->ready, 1);
    return r;
}

pw_keyrec_t *pw_key_get(pw_keyrec_t *recs, apr_uint32_t n, const char *key,
                        apr_uint32_t hash)
{
    apr_uint32_t i, start, round;

    if (n == 0) {
        return NULL;
    }
    start = hash % n;
    /* a second round only when a claim was lost to another thread */
    for (round = 0; round < 2; round++) {
        pw_keyrec_t *tomb = NULL, *got;

        for (i = 0; i < n; i++) {
            pw_keyrec_t *r = &recs[(start + i) % n];
            apr_uint32_t h = apr_atomic_read32(&r->hash);

            if (h == PW_KEY_TOMB) {
                if (tomb == NULL) {
                    tomb = r;
                }
                continue;
            }
            if (h == 0) {
                /* the end of the chain: the key is not in the table */
                got = tomb ? claim(tomb, PW_KEY_TOMB, key, hash)
                           : claim(r, 0, key, hash);
                if (got) {
                    return got;
                }
                break; /* lost the race: look again */
            }
            if (h == hash) {
                int spin;

                for (spin = 0; spin < 10000 && !apr_atomic_read32(&r->ready);
                     spin++) {
                    ; /* the claimer is copying the key: a few instructions */
                }
                if (apr_atomic_read32(&r->ready) && !strcmp(r->key, key)) {
                    return r;
                }
            }
        }
        if (i == n && tomb) {
            /* no free entry left, but an evicted one */
            if ((got = claim(tomb, PW_KEY_TOMB, key, hash)) != NULL) {
                return got;
            }
        } else if (i == n) {
            return NULL; /* full */
        }
    }
    return NULL;
}

void pw_key_evict(pw_keyrec_t *rec)
{
    apr_atomic_set32(&rec->ready, 0);
    rec->warned = 0;
    rec->verdict = 0;
    rec->signal = 0;
    rec->bytes_per_request = 0;
    rec->points = 0;
    rec->pool[0] = '\0';
    memset(rec->sig, 0, sizeof(rec->sig));
    rec->series_n = 0;
    apr_atomic_set64(&rec->requests, 0);
    apr_atomic_set64(&rec->conn_requests, 0);
    apr_atomic_set64(&rec->conn_growth, 0);
    apr_atomic_set64(&rec->stream_bytes, 0);
    apr_atomic_set32(&rec->stream_verdict, 0);
    apr_atomic_set32(&rec->stream_points, 0);
    apr_atomic_set64(&rec->stream_per_mib, 0);
    apr_atomic_set64(&rec->last_used, 0);
    rec->share = 0.0;
    rec->attribution_exact = 0;
    /* last: a tombstone, so that keys further down its chain stay
     * reachable; a new key may claim it */
    apr_atomic_set32(&rec->hash, PW_KEY_TOMB);
}

int pw_key_victim(const pw_keyrec_t *recs, apr_uint32_t n)
{
    apr_uint32_t i;
    int pick = -1;
    apr_uint64_t oldest = 0;

    for (i = 0; i < n; i++) {
        const pw_keyrec_t *r = &recs[i];

        if (r->hash <= PW_KEY_TOMB || !r->ready ||
            r->verdict == PW_VERDICT_LEAK) {
            continue; /* keep leaks: they are what the table is for */
        }
        if (pick < 0 || r->last_used < oldest) {
            pick = (int)i;
            oldest = r->last_used;
        }
    }
    return pick;
}
