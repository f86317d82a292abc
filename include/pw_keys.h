/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_keys: which requests are "identical", and a lock-free table of them
 * per child in shared memory.
 *
 * A key is "METHOD host path" by default; the query string is left out
 * unless configured, and an environment variable or request note (set by
 * mod_setenvif or mod_rewrite) can stand for the path so that /user/123 and
 * /user/7 share one key. Keys come from clients: they are cut to
 * PW_KEY_MAX-1 bytes and control bytes are replaced, so a key is always a
 * printable, bounded string (renderers still escape it).
 *
 * The table is written by every request thread of a child: an entry is
 * claimed by compare-and-swap of its hash, its counters are atomics, and
 * only the sampler thread evicts (then judges) entries. A request that
 * finds the table full is counted, never blocked.
 */
#ifndef PW_KEYS_H
#define PW_KEYS_H

#include <string.h>

#include <apr.h>
#include <apr_errno.h>

#include "pw_pool.h"

#define PW_KEY_MAX    128
#define PW_KEY_SERIES 32 /* points of the deciding signal kept for graphs */

typedef enum {
    PW_SIG_POOL = 0, /* long-lived pools: bytes in use */
    PW_SIG_CONN,     /* the request's connection pool, on a reused conn */
    PW_SIG_HEAP,     /* malloc in use */
    PW_SIG_RSS,      /* resident set */
    PW_SIG_STREAM,   /* connection pool during one long response, per MiB */
    PW_SIG_COUNT
} pw_signal_e;

/* What the judge says about one signal of one key. */
typedef struct pw_sigres_t {
    apr_uint32_t verdict; /* pw_verdict_e */
    apr_uint32_t points;
    double bytes_per_request; /* per MiB for PW_SIG_STREAM */
    double lo, hi;
} pw_sigres_t;

typedef struct pw_keyrec_t {
    volatile apr_uint32_t hash;  /* 0: free; claimed by CAS */
    volatile apr_uint32_t ready; /* key text complete */
    volatile apr_uint32_t gen;   /* bumped at every claim */
    apr_uint32_t warned;         /* the leak warning was logged */
    apr_uint64_t hash64;         /* pw_key_hash64() of key, set before ready */
    char key[PW_KEY_MAX];

    /* atomics, bumped by request threads */
    volatile apr_uint64_t requests;
    volatile apr_uint64_t conn_requests; /* measured on a reused connection */
    volatile apr_uint64_t conn_growth;   /* two's complement sum, bytes */
    volatile apr_uint64_t last_used;     /* child request number */
    /* the last long response's verdict, from the connection filter */
    volatile apr_uint32_t stream_verdict;
    volatile apr_uint32_t stream_points;
    volatile apr_uint64_t stream_per_mib; /* c->pool bytes per MiB */

    /* written by the judge under the slot's seqlock */
    apr_uint32_t verdict; /* worst over the signals */
    apr_uint32_t signal;  /* pw_signal_e that decided it */
    double bytes_per_request;
    double share; /* of the key's intervals' requests: 1 = exact */
    apr_uint32_t attribution_exact;
    apr_uint32_t points;
    /* bit per pw_signal_e: its series rose, but the key shared its
     * intervals and its regression estimate did not stand clear of its
     * error (pw_attr.h, PW_ATTR_Z): held at suspect */
    apr_uint32_t held;
    char pool[PW_PATH_MAX]; /* for PW_SIG_POOL: the pool that grew */
    pw_sigres_t sig[PW_SIG_COUNT];
    /* the last points of the series behind the verdict (x = the key's
     * judged requests, y = bytes attributed to it since its first point),
     * for graphs; floats keep the record small: a graph needs no more */
    apr_uint32_t series_n;
    apr_uint32_t series_signal; /* pw_signal_e */
    float series_x[PW_KEY_SERIES];
    float series_y[PW_KEY_SERIES];
} pw_keyrec_t;

typedef enum {
    PW_KEYBY_PATH = 0,  /* method host path */
    PW_KEYBY_QUERY = 1, /* method host path?query */
    PW_KEYBY_ENV = 2,   /* method host $ENV (path if unset) */
    PW_KEYBY_NOTE = 3   /* method host r->notes (path if unset) */
} pw_keyby_e;

/* Builds the key into buf (PW_KEY_MAX bytes): control bytes become '?',
 * and it is cut at PW_KEY_MAX - 1 bytes. alt replaces the path when
 * non-NULL (env/note); query is appended when non-NULL. Returns its hash,
 * pw_key_hash() of the text. */
apr_uint32_t pw_key_make(char *buf, const char *method, const char *host,
                         const char *path, const char *query, const char *alt);

/* The 64-bit hash of a key's text. The text is hashed as its parts (up to
 * the first space, to the second, the rest), so that pw_key_parts() gets
 * the same hash without building the text. Seeded: pw_key_seed(). */
apr_uint64_t pw_key_hash64(const char *key, apr_size_t len);

/* Its short form, the table's probe and claim word: never 0 (free) or 1
 * (evicted). */
apr_uint32_t pw_key_hash(const char *key, apr_size_t len);

/* Sets the seed of every hash above (once, before any key is hashed: the
 * parent's post_config, so that children agree). A seed unknown outside
 * the server keeps clients from choosing URLs whose hashes collide. */
void pw_key_seed(apr_uint64_t seed);

/* A server's host name, measured once (per-request keys reuse it). */
typedef struct pw_keyhost_t {
    const char *name;
    apr_size_t len;
    apr_uint64_t hash;
    /* the hash of "GET host " so far: most requests are GETs, and their
     * method's words and the host's mix are then the same every time */
    apr_uint64_t get;
    int plain; /* non-empty, short, no space or control byte */
} pw_keyhost_t;

void pw_key_host(pw_keyhost_t *kh, const char *host);

/* A default key ("METHOD HOST PATH") given by its parts, not built. */
typedef struct pw_keyparts_t {
    const char *method, *path;
    const pw_keyhost_t *host;
    apr_size_t method_len, path_len, len;
    apr_uint64_t hash64; /* pw_key_hash64() of the text */
} pw_keyparts_t;

/* The per-request path, inline: the request hook calls it once per
 * request, and a call into pw_keys.c cost as much as the hashing. */
extern apr_uint64_t pw_key_seed_; /* pw_key_seed() */

static APR_INLINE apr_uint64_t pw_kh_mix(apr_uint64_t h, apr_uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static APR_INLINE apr_uint64_t pw_kh_finish(apr_uint64_t h, apr_size_t len)
{
    return pw_kh_mix(h, (apr_uint64_t)len) * 0xff51afd7ed558ccdull;
}

/* The table's word: never 0 (free) or 1 (evicted). */
static APR_INLINE apr_uint32_t pw_kh_fold(apr_uint64_t h)
{
    apr_uint32_t v = (apr_uint32_t)(h ^ (h >> 32));

    return v > 1 ? v : v + 2;
}

/* The last 1..7 bytes of a part, zero-padded: fixed-size loads, no byte
 * loop and no memcpy call. */
static APR_INLINE apr_uint64_t pw_kh_tail(const char *p, apr_size_t n)
{
    apr_uint64_t w = 0;
    apr_uint32_t v4;
    apr_uint16_t v2;
    apr_size_t at = 0;

    if (n & 4) {
        memcpy(&v4, p, 4);
        w = v4;
        at = 4;
    }
    if (n & 2) {
        memcpy(&v2, p + at, 2);
        w |= (apr_uint64_t)v2 << (8 * at);
        at += 2;
    }
    if (n & 1) {
        w |= (apr_uint64_t)(unsigned char)p[at] << (8 * at);
    }
    return w;
}

/* h mixed with the words of a part, then its zero-padded rest. */
static APR_INLINE apr_uint64_t pw_kh_part(apr_uint64_t h, const char *p,
                                          apr_size_t len)
{
    apr_uint64_t w;
    apr_size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = pw_kh_mix(h, w);
    }
    if (i < len) {
        h = pw_kh_mix(h, pw_kh_tail(p + i, len - i));
    }
    return h;
}

/* Fills kp and *hash, the hash pw_key_make() would return, and returns 1
 * when the key needs no "-" and no cut; else returns 0 and the caller
 * uses pw_key_make(). The strings must outlive kp. Control bytes and
 * spaces are looked for only when the key is new (pw_key_get_parts): no
 * entry's text holds them, so such a key never matches one by its parts. */
static APR_INLINE int pw_key_parts(pw_keyparts_t *kp, const char *method,
                                   const pw_keyhost_t *host, const char *path,
                                   apr_uint32_t *hash)
{
    apr_uint64_t h;

    if (method == NULL || path == NULL || !host->plain) {
        return 0;
    }
    /* byte by byte: a shorter method ends at its NUL, never read past */
    if (method[0] == 'G' && method[1] == 'E' && method[2] == 'T' &&
        method[3] == '\0') {
        kp->method_len = 3;
        h = host->get;
    } else {
        kp->method_len = strlen(method);
        h = pw_kh_mix(pw_kh_part(pw_key_seed_, method, kp->method_len),
                      host->hash);
    }
    kp->method = method;
    kp->host = host;
    kp->path = path;
    kp->path_len = strlen(path);
    kp->len = kp->method_len + 1 + host->len + 1 + kp->path_len;
    if (kp->method_len == 0 || kp->path_len == 0 || kp->len > PW_KEY_MAX - 1) {
        return 0;
    }
    kp->hash64 = pw_kh_finish(pw_kh_part(h, path, kp->path_len), kp->len);
    *hash = pw_kh_fold(kp->hash64);
    return 1;
}

/* Finds or claims the entry for key in recs[0..n). NULL when the table is
 * full (the caller counts it). Safe from any thread of the owning child. */
pw_keyrec_t *pw_key_get(pw_keyrec_t *recs, apr_uint32_t n, const char *key,
                        apr_uint32_t hash);

pw_keyrec_t *pw_key_get_parts_slow(pw_keyrec_t *recs, apr_uint32_t n,
                                   const pw_keyparts_t *kp, apr_uint32_t hash);

/* pw_key_get() for a key given by pw_key_parts(): the text is built only
 * when the key is new. An entry is the key's when its 64-bit hash is the
 * key's: like pg_stat_statements' query ids, without comparing texts (two
 * of a child's keys share one with odds of about keys^2 / 2^65). Most
 * requests find their key at its first place: that test is inline. */
static APR_INLINE pw_keyrec_t *pw_key_get_parts(pw_keyrec_t *recs,
                                                apr_uint32_t n,
                                                const pw_keyparts_t *kp,
                                                apr_uint32_t hash)
{
    pw_keyrec_t *r;

    if (n == 0) {
        return NULL;
    }
    r = &recs[hash % n];
    if (__atomic_load_n(&r->hash, __ATOMIC_ACQUIRE) == hash &&
        __atomic_load_n(&r->ready, __ATOMIC_ACQUIRE) &&
        r->hash64 == kp->hash64) {
        return r;
    }
    return pw_key_get_parts_slow(recs, n, kp, hash);
}

/* Bumped (release) after every claim, once the entry is ready: a sampler
 * that keeps a list of the ready entries rebuilds it only when this moved,
 * instead of reading every entry of the table at every sample. */
extern volatile apr_uint32_t pw_key_claims;

/* Frees an entry (sampler thread only): readers see it gone, and a request
 * thread still holding it counts into whatever claims it next. */
void pw_key_evict(pw_keyrec_t *rec);

/* Picks the entry to evict: the least recently used one that is not a
 * leak. Returns its index or -1. */
int pw_key_victim(const pw_keyrec_t *recs, apr_uint32_t n);

const char *pw_signal_name(apr_uint32_t sig);

/* Whether the key is a suspect only because its signal was held (see
 * pw_keyrec_t.held): a rising series the regression could not pin on it. */
int pw_key_held(const pw_keyrec_t *rec);

#endif /* PW_KEYS_H */
