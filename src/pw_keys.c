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

const char *pw_signal_name(apr_uint32_t sig)
{
    static const char *const names[PW_SIG_COUNT] = {"pool", "conn", "heap",
                                                    "rss", "stream"};

    return sig < PW_SIG_COUNT ? names[sig] : "none";
}

/* Appends src to buf at *len, replacing bytes that would make a key hard
 * to read or log; stops at the end of the buffer. */
static void append(char *buf, apr_size_t *len, const char *src)
{
    while (src && *src && *len < PW_KEY_MAX - 1) {
        unsigned char c = (unsigned char)*src++;

        buf[(*len)++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    buf[*len] = '\0';
}

apr_uint32_t pw_key_make(char *buf, const char *method, const char *host,
                         const char *path, const char *query, const char *alt)
{
    apr_size_t len = 0, i;
    apr_uint32_t h = 2166136261u; /* FNV-1a */

    buf[0] = '\0';
    append(buf, &len, method ? method : "-");
    append(buf, &len, " ");
    append(buf, &len, host && *host ? host : "-");
    append(buf, &len, " ");
    if (alt) {
        append(buf, &len, "$");
        append(buf, &len, alt);
    } else {
        append(buf, &len, path && *path ? path : "-");
        if (query) {
            append(buf, &len, "?");
            append(buf, &len, query);
        }
    }
    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)buf[i]) * 16777619u;
    }
    return h ? h : 1;
}

pw_keyrec_t *pw_key_get(pw_keyrec_t *recs, apr_uint32_t n, const char *key,
                        apr_uint32_t hash)
{
    apr_uint32_t i, start;

    if (n == 0) {
        return NULL;
    }
    start = hash % n;
    for (i = 0; i < n; i++) {
        pw_keyrec_t *r = &recs[(start + i) % n];
        apr_uint32_t h = apr_atomic_read32(&r->hash);

        if (h == 0) {
            if (apr_atomic_cas32(&r->hash, hash, 0) == 0) {
                apr_cpystrn(r->key, key, sizeof(r->key));
                apr_atomic_inc32(&r->gen);
                apr_atomic_set32(&r->ready, 1);
                return r;
            }
            h = apr_atomic_read32(&r->hash); /* lost the race: look again */
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
    apr_atomic_set64(&rec->requests, 0);
    apr_atomic_set64(&rec->conn_requests, 0);
    apr_atomic_set64(&rec->conn_growth, 0);
    apr_atomic_set64(&rec->stream_bytes, 0);
    apr_atomic_set32(&rec->stream_verdict, 0);
    apr_atomic_set32(&rec->stream_points, 0);
    apr_atomic_set64(&rec->stream_per_mib, 0);
    apr_atomic_set64(&rec->last_used, 0);
    apr_atomic_set32(&rec->hash, 0); /* last: now it may be claimed */
}

int pw_key_victim(const pw_keyrec_t *recs, apr_uint32_t n)
{
    apr_uint32_t i;
    int pick = -1;
    apr_uint64_t oldest = 0;

    for (i = 0; i < n; i++) {
        const pw_keyrec_t *r = &recs[i];

        if (r->hash == 0 || !r->ready || r->verdict == PW_VERDICT_LEAK) {
            continue; /* keep leaks: they are what the table is for */
        }
        if (pick < 0 || r->last_used < oldest) {
            pick = (int)i;
            oldest = r->last_used;
        }
    }
    return pick;
}
