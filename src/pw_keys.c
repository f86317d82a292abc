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
#include <apr_thread_proc.h>

#include "pw_detect.h"
#include "pw_keys.h"

/* An evicted entry: probing goes on past it (a key further down the
 * chain must stay reachable), and a new key may take it. */
#define PW_KEY_TOMB 1u

/* Waiting for a claimer to finish: busy reads, then yields. */
#define PW_KEY_SPIN 1000
#define PW_KEY_WAIT apr_time_from_msec(100)

const char *pw_signal_name(apr_uint32_t sig)
{
    static const char *const names[PW_SIG_COUNT] = {"pool", "conn", "heap",
                                                    "rss", "stream"};

    return sig < PW_SIG_COUNT ? names[sig] : "none";
}

/* Appends src to buf[0..len), cut at the end of the buffer. Returns the
 * new length. memcpy, not a byte loop: this runs on every request. */
static apr_size_t append(char *buf, apr_size_t len, const char *src)
{
    apr_size_t n;

    if (src == NULL || len >= PW_KEY_MAX - 1) {
        return len;
    }
    n = strlen(src);
    if (n > PW_KEY_MAX - 1 - len) {
        n = PW_KEY_MAX - 1 - len;
    }
    memcpy(buf + len, src, n);
    return len + n;
}

#define PW_ONES  0x0101010101010101ull
#define PW_HIGHS 0x8080808080808080ull

/* Nonzero when a byte of x is below 0x20 or is 0x7f (SWAR: the borrow of
 * a subtraction reaches a byte's top bit only where that byte was small). */
static APR_INLINE apr_uint64_t has_control(apr_uint64_t x)
{
    apr_uint64_t del = x ^ (0x7f * PW_ONES);

    return ((x - 0x20 * PW_ONES) & ~x & PW_HIGHS) |
           ((del - PW_ONES) & ~del & PW_HIGHS);
}

static APR_INLINE apr_uint64_t mix(apr_uint64_t h, apr_uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static apr_uint32_t finish(apr_uint64_t h, apr_size_t len)
{
    apr_uint32_t v;

    h = mix(h, (apr_uint64_t)len);
    h *= 0xff51afd7ed558ccdull;
    v = (apr_uint32_t)(h ^ (h >> 32));
    return v > PW_KEY_TOMB ? v : v + 2; /* 0 is free, 1 a tombstone */
}

/* Replaces bytes that would make a key hard to read or log, in the n
 * bytes at s. */
static void sanitize(char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f) {
            s[i] = '?';
        }
    }
}

/* Sanitizes buf[0..len) and hashes it eight bytes at a time: the same
 * text always gives the same hash (pw_key_hash). */
static apr_uint32_t sanitize_hash(char *buf, apr_size_t len)
{
    apr_uint64_t h = 0x243f6a8885a308d3ull, w;
    apr_size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, buf + i, 8);
        if (has_control(w)) {
            sanitize(buf + i, 8);
            memcpy(&w, buf + i, 8);
        }
        h = mix(h, w);
    }
    if (i < len) {
        w = 0;
        sanitize(buf + i, len - i);
        memcpy(&w, buf + i, len - i);
        h = mix(h, w);
    }
    return finish(h, len);
}

apr_uint32_t pw_key_hash(const char *key, apr_size_t len)
{
    apr_uint64_t h = 0x243f6a8885a308d3ull, w;
    apr_size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, key + i, 8);
        h = mix(h, w);
    }
    if (i < len) {
        w = 0;
        memcpy(&w, key + i, len - i);
        h = mix(h, w);
    }
    return finish(h, len);
}

/* A separator byte, if there is room. */
static APR_INLINE apr_size_t put_char(char *buf, apr_size_t len, char c)
{
    if (len < PW_KEY_MAX - 1) {
        buf[len++] = c;
    }
    return len;
}

apr_uint32_t pw_key_make(char *buf, const char *method, const char *host,
                         const char *path, const char *query, const char *alt)
{
    apr_size_t len;

    len = append(buf, 0, method ? method : "-");
    len = put_char(buf, len, ' ');
    len = append(buf, len, host && *host ? host : "-");
    len = put_char(buf, len, ' ');
    if (alt) {
        len = put_char(buf, len, '$');
        len = append(buf, len, alt);
    } else {
        len = append(buf, len, path && *path ? path : "-");
        if (query) {
            len = put_char(buf, len, '?');
            len = append(buf, len, query);
        }
    }
    buf[len] = '\0';
    return sanitize_hash(buf, len);
}

static void wait_ready(pw_keyrec_t *r, apr_uint32_t h)
{
    apr_time_t until = 0;
    unsigned int spin;

    for (spin = 0;
         !apr_atomic_read32(&r->ready) && apr_atomic_read32(&r->hash) == h;
         spin++) {
        if (spin >= PW_KEY_SPIN) {
            apr_time_t now = apr_time_now();

            if (until == 0) {
                until = now + PW_KEY_WAIT;
            } else if (now > until) {
                return;
            }
            apr_thread_yield();
        }
    }
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
                /* the claimer is copying the key: a few instructions,
                 * unless it was preempted between its CAS and `ready`
                 * (seen once under ASan on 2 loaded cores: giving up
                 * after a busy spin counted the request as a table miss,
                 * or claimed a second entry for the key). So spin, then
                 * yield to it for at most PW_KEY_WAIT; stop early if the
                 * entry is evicted meanwhile (its hash changes). */
                wait_ready(r, h);
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
