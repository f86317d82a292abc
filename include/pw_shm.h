/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_shm: the per-child figures, in one fixed-size shared segment.
 *
 *   +--------------------+  offset 0
 *   | pw_shm_header_t    |  magic, version, geometry, generation
 *   +--------------------+  hdr->header_size
 *   | slot 0             |  pw_slot_t, hdr->max_pools pw_poolrec_t,
 *   |                    |  then hdr->max_keys pw_keyrec_t
 *   +--------------------+  header_size + 1 * slot_size
 *   | slot 1             |
 *   |  ...               |
 *   +--------------------+  header_size + nslots * slot_size
 *
 *   size = header_size + nslots * (sizeof(pw_slot_t)
 *                                  + max_pools * sizeof(pw_poolrec_t)
 *                                  + max_keys * sizeof(pw_keyrec_t))
 *
 * Offsets, never pointers: every process maps the segment at its own
 * address. One child process owns a slot (claimed by compare-and-swap of
 * its pid); inside a threaded child one thread at a time writes the
 * sampled figures (it holds the child's sampler mutex) under a sequence
 * counter, and readers copy a slot out and retry while the counter was
 * odd or moved (a seqlock). Counters that every request bumps are atomics
 * outside the seqlock.
 *
 * Pure APR, no httpd headers: unit-tested in a plain program.
 */
#ifndef PW_SHM_H
#define PW_SHM_H

#include <apr.h>
#include <apr_time.h>
#include <apr_pools.h>

#include "pw_pool.h"
#include "pw_keys.h"

#define PW_SHM_MAGIC   0x50574154u /* "PWAT" */
#define PW_SHM_VERSION 6u

/* A histogram of durations for percentiles without keeping samples:
 * bucket 0 is under 256 ns, then four buckets per power of two (each at
 * most 25 % wide) up to 2^24 ns (16.8 ms), the last takes everything
 * longer. */
#define PW_TIME_BUCKETS 66

apr_uint32_t pw_time_bucket(apr_uint64_t ns);

/* The bucket's upper bound in ns (its lower bound for the last one). */
apr_uint64_t pw_time_bucket_upper(apr_uint32_t i);

/* The upper bound of the bucket that holds the q-quantile (0 < q <= 1) of
 * the n buckets' counts: at least that fraction of the durations are no
 * longer. 0 when the histogram is empty. */
apr_uint64_t pw_time_quantile(const apr_uint32_t *hist, apr_uint32_t n,
                              double q);

/* The 99th percentile of what a request paid for samples, when `samples`
 * of `requests` took one whose times are in hist (PW_TIME_BUCKETS): 0
 * when fewer than 1 % did (a request's 99th percentile is then the
 * every-request path's, which is not timed), else the samples' quantile
 * at 1 - 0.01 x requests / samples. */
apr_uint64_t pw_request_p99(const apr_uint32_t *hist, apr_uint64_t samples,
                            apr_uint64_t requests);

/* pw_slot_t.sampler */
#define PW_SAMPLER_REQUESTS 0   /* log_transaction, in the request's time */
#define PW_SAMPLER_THREAD   1   /* the child's own thread */
#define PW_HISTORY          128 /* samples kept per child for graphs */
#define PW_REASON_MAX       128

typedef enum {
    PW_SLOT_FREE = 0,
    PW_SLOT_RUNNING = 1,
    PW_SLOT_EXITED = 2
} pw_slot_state_e;

typedef enum {
    PW_WALK_OFF = 0,
    PW_WALK_EXACT = 1, /* single-threaded: whole tree */
    PW_WALK_LOCKED = 2 /* threaded: long-lived pools under the allocator
                           mutex, connections from their own threads */
} pw_walk_mode_e;

/* One sample of a child's totals, for graphs and verdicts. */
typedef struct pw_sample_t {
    apr_uint64_t requests;   /* child's request count at the sample */
    apr_int64_t time;        /* apr_time_t */
    apr_uint64_t pool_bytes; /* sum over measured long-lived pools */
    apr_uint64_t heap_bytes; /* malloc in use (mallinfo2 uordblks+hblkhd) */
    apr_uint64_t rss_bytes;  /* last RSS reading */
} pw_sample_t;

/* One pool as last sampled. */
typedef struct pw_poolrec_t {
    char tag[PW_TAG_MAX];
    char path[PW_PATH_MAX];
    apr_uint64_t bytes;
    apr_uint64_t reserved_bytes;
    apr_uint64_t nodes;
    apr_uint64_t clears; /* clears/destroys seen by our cleanup */
    apr_int64_t growth;  /* bytes since the previous sample */
    apr_uint32_t depth;
    apr_uint32_t flags; /* PW_POOL_* */
} pw_poolrec_t;

#define PW_POOL_CONN   0x1 /* a connection's pool (or below it) */
#define PW_POOL_OPAQUE 0x2 /* on another thread's allocator: not measured */
#define PW_POOL_NEW    0x4 /* appeared after the child's first sample */

typedef struct pw_slot_t {
    volatile apr_uint32_t seq;   /* seqlock: odd while the writer works */
    volatile apr_uint32_t owner; /* pid that claimed the slot, 0 if none */
    apr_uint32_t state;          /* pw_slot_state_e */
    apr_uint32_t generation;
    apr_uint32_t walk;   /* pw_walk_mode_e in this child */
    apr_uint32_t npools; /* valid entries in the pool table */
    apr_int64_t started; /* apr_time_t */
    apr_int64_t updated; /* last sample */
    apr_int64_t exited;

    /* atomics, bumped by any thread (apr_atomic_inc64) */
    volatile apr_uint64_t requests;
    volatile apr_uint64_t connections;

    /* written under the seqlock */
    apr_uint64_t samples;
    apr_uint64_t rss_bytes;
    apr_uint64_t heap_bytes;
    apr_uint64_t pool_bytes; /* long-lived pools, measured */
    apr_uint64_t pool_reserved_bytes;
    apr_uint64_t pools_seen; /* pools met by the last walk */
    apr_uint64_t pools_opaque;
    apr_uint64_t pools_new;      /* long-lived pools born after start */
    apr_uint64_t pools_overflow; /* walks that met more than max_pools */
    apr_uint64_t walk_errors;
    apr_uint64_t walk_ns;      /* duration of the last walk */
    apr_uint64_t heap_ns;      /* the last mallinfo2(): wall time, or CPU time
                             after a read that looked slow (pw_proc.h) */
    apr_uint64_t heap_skipped; /* samples that kept the last heap figure */
    /* what sampling cost, up to the previous sample: the samples that
     * requests (log_transaction) or the sampling thread took, not readers'
     * own; the module's own latency where `sampler` is requests */
    apr_uint64_t self_samples;  /* timed */
    apr_uint64_t self_ns_total; /* their time, summed */
    apr_uint64_t self_ns_max;   /* the longest (a judgement included) */
    apr_uint64_t sampler;       /* PW_SAMPLER_*: who takes those samples */
    apr_uint64_t self_base;     /* requests when self_* last began (0, or a
                                   reset): they are over requests - this */
    apr_uint32_t self_hist[PW_TIME_BUCKETS]; /* their times: pw_time_bucket */

    /* growth over the last sample interval */
    apr_uint64_t last_requests; /* requests in the interval */
    apr_int64_t last_pool_growth;
    apr_int64_t last_heap_growth;
    apr_int64_t last_rss_growth;

    /* the connection pool of the last request that ended */
    char conn_tag[PW_TAG_MAX];
    char conn_path[PW_PATH_MAX];
    apr_uint64_t conn_bytes;
    apr_uint64_t conn_reserved_bytes;
    apr_uint64_t conn_requests; /* requests so far on that connection */
    apr_uint64_t conn_clears;   /* connection pools cleared/destroyed */

    char walk_reason[PW_REASON_MAX];

    apr_uint32_t hist_next; /* next history entry to write */
    apr_uint32_t hist_count;
    pw_sample_t hist[PW_HISTORY];
    /* keys: see pw_keyrec_t */
    volatile apr_uint64_t keys_overflow; /* requests that found no entry */
    apr_uint64_t keys_evicted;
    apr_uint64_t judged;     /* judge passes */
    apr_uint32_t reset_seen; /* hdr->reset_gen this child last applied */
    apr_uint32_t resets;     /* resets applied */
    apr_int64_t reset_at;    /* apr_time_t of the last, 0 if none */

    /* followed by max_pools pw_poolrec_t, then max_keys pw_keyrec_t */
} pw_slot_t;

typedef struct pw_shm_header_t {
    apr_uint32_t magic;
    apr_uint32_t version;
    apr_uint32_t header_size;
    apr_uint32_t slot_size;
    apr_uint32_t nslots;
    apr_uint32_t max_pools;
    apr_uint32_t max_keys;
    apr_uint32_t generation;             /* of the server that last set it up */
    volatile apr_uint32_t slot_overflow; /* children that found no slot */
    /* bumped by a reader that asks for a reset (POST /poolwatch): each
     * child compares it with its slot's reset_seen at its next sample and
     * clears its own figures. Readers never write into a child's slot. */
    volatile apr_uint32_t reset_gen;
    apr_int64_t created;
} pw_shm_header_t;

/* Bytes needed for nslots slots of max_pools pools and max_keys keys. */
apr_size_t pw_shm_size(apr_uint32_t nslots, apr_uint32_t max_pools,
                       apr_uint32_t max_keys);

/* Lays out a segment whose slots are zero (a fresh anonymous mapping, or
 * calloc): only the header is written. APR_EINVAL if len is too small. */
apr_status_t pw_shm_init(void *base, apr_size_t len, apr_uint32_t nslots,
                         apr_uint32_t max_pools, apr_uint32_t max_keys);

/* Non-zero if base holds a segment of exactly this geometry. */
int pw_shm_compatible(const void *base, apr_size_t len, apr_uint32_t nslots,
                      apr_uint32_t max_pools, apr_uint32_t max_keys);

pw_slot_t *pw_shm_slot(void *base, apr_uint32_t i);
pw_poolrec_t *pw_slot_pools(pw_slot_t *slot);

/* The key table of a slot (or of a copy of one). */
pw_keyrec_t *pw_slot_keys(pw_slot_t *slot, apr_uint32_t max_pools);

/* Decides whether a process still runs (kill(pid, 0) in the module). */
typedef int pw_alive_fn(apr_uint32_t pid);

/* Claims a slot for pid: a free one first, else the one whose child exited
 * longest ago, else one whose owner is dead. Returns the slot index, or -1
 * (and counts slot_overflow) when every slot is held by a live child. */
int pw_shm_claim(void *base, apr_uint32_t pid, apr_uint32_t generation,
                 pw_alive_fn *alive, apr_time_t now);

/* Marks the slot exited; its figures stay readable until reused. */
void pw_shm_release(void *base, int idx, apr_uint32_t pid, apr_time_t now);

/* Seqlock, writer side (one writer per slot at a time). */
void pw_slot_write_begin(pw_slot_t *slot);
void pw_slot_write_end(pw_slot_t *slot);

/* Copies slot i (with its pools) into dst, which holds hdr->slot_size
 * bytes. Retries while a writer is busy (yielding after a short spin);
 * returns APR_EAGAIN if it never got a stable copy: dst then holds the last
 * attempt with an odd seq, for the renderer to mark as torn. */
apr_status_t pw_shm_copy_slot(const void *base, apr_uint32_t i, void *dst);

/* Asks every child to reset its statistics (reader side: bumps the
 * header's reset_gen, nothing else). Returns the new generation. */
apr_uint32_t pw_shm_request_reset(void *base);

/* Writer side, at a sample: non-zero if a reset was asked for since the
 * slot last applied one; *gen is the generation to record as applied. */
int pw_slot_reset_due(const void *base, const pw_slot_t *slot,
                      apr_uint32_t *gen);

/* Appends a sample to the slot's history ring (writer side). */
void pw_slot_history_add(pw_slot_t *slot, const pw_sample_t *s);

/* The n-th oldest retained sample, n < hist_count. */
const pw_sample_t *pw_slot_history_at(const pw_slot_t *slot, apr_uint32_t n);

#endif /* PW_SHM_H */
