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

int pw_key_held(const pw_keyrec_t *rec)
{
    return rec->verdict == PW_VERDICT_SUSPECT && rec->signal < PW_SIG_COUNT &&
           ((rec->held >> rec->signal) & 1u);
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

apr_uint64_t pw_key_seed_ = 0x243f6a8885a308d3ull;

void pw_key_seed(apr_uint64_t s)
{
    pw_key_seed_ = s;
}

/* Non-zero when a byte of x is a control byte (< 0x20 or 0x7f). */
static APR_INLINE apr_uint64_t has_control(apr_uint64_t x)
{
    apr_uint64_t del = x ^ (0x7f * PW_ONES);

    return ((x - 0x20 * PW_ONES) & ~x & PW_HIGHS) |
           ((del - PW_ONES) & ~del & PW_HIGHS);
}

/* Non-zero when a byte of x is a space. */
static APR_INLINE apr_uint64_t has_space(apr_uint64_t x)
{
    apr_uint64_t sp = x ^ (0x20 * PW_ONES);

    return (sp - PW_ONES) & ~sp & PW_HIGHS;
}

/* Whether a part has a control byte or, with nospace, a space: such a key
 * is built by pw_key_make(), which replaces them and splits at spaces. */
static int part_unclean(const char *p, apr_size_t len, int nospace)
{
    apr_uint64_t w, seen = 0;
    apr_size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        seen |= has_control(w) | (nospace ? has_space(w) : 0);
    }
    if (i < len) {
        /* the padding counts as letters, neither control nor space */
        w = pw_kh_tail(p + i, len - i) | ((0x41 * PW_ONES) << (8 * (len - i)));
        seen |= has_control(w) | (nospace ? has_space(w) : 0);
    }
    return seen != 0;
}

/* A key "M H P" hashes as M's words, H's hash (a server's, computed once:
 * pw_key_host), P's words, and the length. */
apr_uint64_t pw_key_hash64(const char *key, apr_size_t len)
{
    const char *sp1 = memchr(key, ' ', len), *sp2 = NULL;
    apr_size_t ml = sp1 ? (apr_size_t)(sp1 - key) : len, hl = 0, pl = 0;
    apr_uint64_t h;

    if (sp1) {
        const char *host = sp1 + 1;

        sp2 = memchr(host, ' ', len - ml - 1);
        hl = sp2 ? (apr_size_t)(sp2 - host) : len - ml - 1;
        pl = sp2 ? len - ml - 1 - hl - 1 : 0;
    }
    h = pw_kh_part(pw_key_seed_, key, ml);
    h = pw_kh_mix(h, pw_kh_part(pw_key_seed_, sp1 ? sp1 + 1 : key, hl));
    h = pw_kh_part(h, sp2 ? sp2 + 1 : key, pl);
    return pw_kh_finish(h, len);
}

apr_uint32_t pw_key_hash(const char *key, apr_size_t len)
{
    return pw_kh_fold(pw_key_hash64(key, len));
}

void pw_key_host(pw_keyhost_t *kh, const char *host)
{
    kh->name = host;
    kh->len = host ? strlen(host) : 0;
    kh->hash = pw_kh_part(pw_key_seed_, host, kh->len);
    kh->get = pw_kh_mix(pw_kh_part(pw_key_seed_, "GET", 3), kh->hash);
    kh->plain = kh->len > 0 && kh->len < PW_KEY_MAX / 2 &&
                !part_unclean(host, kh->len, 1);
}

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
    sanitize(buf, len);
    return pw_key_hash(buf, len);
}

static void write_parts(char *key, const pw_keyparts_t *kp)
{
    char *at = key;

    memcpy(at, kp->method, kp->method_len);
    at += kp->method_len;
    *at++ = ' ';
    memcpy(at, kp->host->name, kp->host->len);
    at += kp->host->len;
    *at++ = ' ';
    memcpy(at, kp->path, kp->path_len);
    at[kp->path_len] = '\0';
}

volatile apr_uint32_t pw_key_claims;

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

/* A key as text, or as parts (kp non-NULL). */
static pw_keyrec_t *claim(pw_keyrec_t *r, apr_uint32_t was, const char *key,
                          const pw_keyparts_t *kp, apr_uint32_t hash)
{
    if (apr_atomic_cas32(&r->hash, hash, was) != was) {
        return NULL;
    }
    if (kp) {
        write_parts(r->key, kp);
        r->hash64 = kp->hash64;
    } else {
        apr_cpystrn(r->key, key, sizeof(r->key));
        r->hash64 = pw_key_hash64(r->key, strlen(r->key));
    }
    apr_atomic_inc32(&r->gen);
    apr_atomic_set32(&r->ready, 1);
    __atomic_add_fetch(&pw_key_claims, 1, __ATOMIC_RELEASE);
    return r;
}

static pw_keyrec_t *get_unclean(pw_keyrec_t *recs, apr_uint32_t n,
                                const pw_keyparts_t *kp);

static int parts_unclean(const pw_keyparts_t *kp)
{
    return part_unclean(kp->method, kp->method_len, 1) ||
           part_unclean(kp->path, kp->path_len, 0);
}

static pw_keyrec_t *get(pw_keyrec_t *recs, apr_uint32_t n, const char *key,
                        const pw_keyparts_t *kp, apr_uint32_t hash)
{
    apr_uint32_t i, start, round;

    if (n == 0) {
        return NULL;
    }
    start = hash % n;
    /* another round only when a claim was lost to another thread: each
     * loss means an entry was taken, so after n of them the table is full
     * and the loop ends (with two rounds only, a thread that lost twice
     * under contention counted a miss in a table with room: seen once in
     * test_threads_claim_and_count, all keys on one hash) */
    for (round = 0; round <= n; round++) {
        pw_keyrec_t *tomb = NULL, *got;

        for (i = 0; i < n; i++) {
            pw_keyrec_t *r = &recs[(start + i) % n];
            /* not apr_atomic_read32(): a library call, per request */
            apr_uint32_t h = __atomic_load_n(&r->hash, __ATOMIC_ACQUIRE);

            if (h == PW_KEY_TOMB) {
                if (tomb == NULL) {
                    tomb = r;
                }
                continue;
            }
            if (h == 0) {
                /* the end of the chain: the key is not in the table */
                if (kp && parts_unclean(kp)) {
                    return get_unclean(recs, n, kp);
                }
                got = tomb ? claim(tomb, PW_KEY_TOMB, key, kp, hash)
                           : claim(r, 0, key, kp, hash);
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
                if (!__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE)) {
                    wait_ready(r, h);
                }
                if (__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE) &&
                    (kp ? r->hash64 == kp->hash64 : !strcmp(r->key, key))) {
                    return r;
                }
            }
        }
        if (i == n && tomb) {
            /* no free entry left, but an evicted one */
            if (kp && parts_unclean(kp)) {
                return get_unclean(recs, n, kp);
            }
            if ((got = claim(tomb, PW_KEY_TOMB, key, kp, hash)) != NULL) {
                return got;
            }
        } else if (i == n) {
            return NULL; /* full */
        }
    }
    return NULL;
}

pw_keyrec_t *pw_key_get(pw_keyrec_t *recs, apr_uint32_t n, const char *key,
                        apr_uint32_t hash)
{
    return get(recs, n, key, NULL, hash);
}

pw_keyrec_t *pw_key_get_parts_slow(pw_keyrec_t *recs, apr_uint32_t n,
                                   const pw_keyparts_t *kp, apr_uint32_t hash)
{
    return get(recs, n, NULL, kp, hash);
}

/* A new key whose parts hold bytes pw_key_make() replaces, or a method
 * with a space: its entry is found by the text pw_key_make() builds. */
static pw_keyrec_t *get_unclean(pw_keyrec_t *recs, apr_uint32_t n,
                                const pw_keyparts_t *kp)
{
    char text[PW_KEY_MAX];
    apr_uint32_t hash;

    write_parts(text, kp); /* what pw_key_make() would build */
    sanitize(text, kp->len);
    hash = pw_key_hash(text, kp->len);
    return get(recs, n, text, NULL, hash);
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
    rec->held = 0;
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
