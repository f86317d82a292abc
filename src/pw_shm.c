/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_shm: geometry, slot claims and the seqlock of the shared segment
 * (layout drawn in pw_shm.h).
 *
 * The trap: readers are other processes that may copy a slot while its
 * writer is half way through. The sequence counter is bumped to odd before
 * and to even after a write; a reader keeps a copy only if it saw the same
 * even value before and after copying. apr_atomic_* are full barriers on
 * every platform APR supports, which is what orders the plain stores.
 */
#include <stddef.h>
#include <sched.h>
#include <string.h>

#include <apr_atomic.h>

#include "pw_shm.h"

#define PW_ALIGN64(n) (((n) + 63u) & ~(apr_size_t)63u)

static apr_size_t header_size(void)
{
    return PW_ALIGN64(sizeof(pw_shm_header_t));
}

static apr_size_t slot_size(apr_uint32_t max_pools, apr_uint32_t max_keys)
{
    return PW_ALIGN64(sizeof(pw_slot_t) +
                      (apr_size_t)max_pools * sizeof(pw_poolrec_t) +
                      (apr_size_t)max_keys * sizeof(pw_keyrec_t));
}

apr_size_t pw_shm_size(apr_uint32_t nslots, apr_uint32_t max_pools,
                       apr_uint32_t max_keys)
{
    return header_size() + (apr_size_t)nslots * slot_size(max_pools, max_keys);
}

apr_status_t pw_shm_init(void *base, apr_size_t len, apr_uint32_t nslots,
                         apr_uint32_t max_pools, apr_uint32_t max_keys)
{
    pw_shm_header_t *h = base;

    if (base == NULL || nslots == 0 ||
        len < pw_shm_size(nslots, max_pools, max_keys)) {
        return APR_EINVAL;
    }
    /* only the header: the slots of a fresh mapping are zero already, and
     * leaving them untouched keeps unused slots out of RSS */
    memset(base, 0, header_size());
    h->version = PW_SHM_VERSION;
    h->header_size = (apr_uint32_t)header_size();
    h->slot_size = (apr_uint32_t)slot_size(max_pools, max_keys);
    h->nslots = nslots;
    h->max_pools = max_pools;
    h->max_keys = max_keys;
    h->created = apr_time_now();
    /* magic last: a reader that sees it sees the geometry too */
    apr_atomic_set32(&h->magic, PW_SHM_MAGIC);
    return APR_SUCCESS;
}

int pw_shm_compatible(const void *base, apr_size_t len, apr_uint32_t nslots,
                      apr_uint32_t max_pools, apr_uint32_t max_keys)
{
    const pw_shm_header_t *h = base;

    return base != NULL && len >= pw_shm_size(nslots, max_pools, max_keys) &&
           h->magic == PW_SHM_MAGIC && h->version == PW_SHM_VERSION &&
           h->header_size == header_size() &&
           h->slot_size == slot_size(max_pools, max_keys) &&
           h->nslots == nslots && h->max_pools == max_pools &&
           h->max_keys == max_keys;
}

pw_slot_t *pw_shm_slot(void *base, apr_uint32_t i)
{
    pw_shm_header_t *h = base;

    if (base == NULL || i >= h->nslots) {
        return NULL;
    }
    return (pw_slot_t *)(void *)((char *)base + h->header_size +
                                 (apr_size_t)i * h->slot_size);
}

pw_poolrec_t *pw_slot_pools(pw_slot_t *slot)
{
    return (pw_poolrec_t *)(void *)(slot + 1);
}

pw_keyrec_t *pw_slot_keys(pw_slot_t *slot, apr_uint32_t max_pools)
{
    return (pw_keyrec_t *)(void *)(pw_slot_pools(slot) + max_pools);
}

/* Resets a freshly claimed slot; the owner field is already ours. */
static void slot_reset(pw_shm_header_t *h, pw_slot_t *s, apr_uint32_t gen,
                       apr_time_t now)
{
    /* A writer killed inside its write section (SIGKILL, a crash, the OOM
     * killer) left seq odd: continue that section instead of opening one,
     * or the parity flips for good and readers take copies made during
     * every later write for consistent ones (build/soak saw a new child
     * shown with its predecessor's request count). */
    if (!(apr_atomic_read32(&s->seq) & 1)) {
        pw_slot_write_begin(s);
    }
    memset((char *)s + offsetof(pw_slot_t, state), 0,
           h->slot_size - offsetof(pw_slot_t, state));
    s->state = PW_SLOT_RUNNING;
    s->generation = gen;
    s->started = s->updated = now;
    /* a new child has nothing to reset: only later requests apply */
    s->reset_seen = apr_atomic_read32(&h->reset_gen);
    pw_slot_write_end(s);
}

apr_uint32_t pw_shm_request_reset(void *base)
{
    pw_shm_header_t *h = base;

    return h ? apr_atomic_inc32(&h->reset_gen) + 1 : 0;
}

int pw_slot_reset_due(const void *base, const pw_slot_t *slot,
                      apr_uint32_t *gen)
{
    const pw_shm_header_t *h = base;

    if (h == NULL) {
        return 0;
    }
    *gen = apr_atomic_read32((volatile apr_uint32_t *)&h->reset_gen);
    return *gen != slot->reset_seen;
}

int pw_shm_claim(void *base, apr_uint32_t pid, apr_uint32_t generation,
                 pw_alive_fn *alive, apr_time_t now)
{
    pw_shm_header_t *h = base;
    apr_uint32_t i, tries;

    if (base == NULL || pid == 0) {
        return -1;
    }
    /* a few rounds: another child may win the slot we picked */
    for (tries = 0; tries < 4; tries++) {
        int pick = -1, pick_rank = 2;
        apr_int64_t oldest = 0;
        apr_uint32_t seen = 0;

        for (i = 0; i < h->nslots; i++) {
            pw_slot_t *s = pw_shm_slot(base, i);
            apr_uint32_t o = apr_atomic_read32(&s->owner);

            if (o == 0) {
                pick = (int)i;
                seen = 0;
                break;
            }
            if (s->state == PW_SLOT_EXITED || (alive && !alive(o))) {
                /* exited slots before dead owners' (a crashed child's
                 * figures are worth keeping longest), then the one that
                 * stopped longest ago */
                int rank = s->state == PW_SLOT_EXITED ? 0 : 1;
                apr_int64_t t = rank == 0 ? s->exited : s->updated;

                if (pick < 0 || rank < pick_rank ||
                    (rank == pick_rank && t < oldest)) {
                    pick = (int)i;
                    pick_rank = rank;
                    oldest = t;
                    seen = o;
                }
            }
        }
        if (pick < 0) {
            break;
        }
        if (apr_atomic_cas32(&pw_shm_slot(base, (apr_uint32_t)pick)->owner, pid,
                             seen) == seen) {
            slot_reset(h, pw_shm_slot(base, (apr_uint32_t)pick), generation,
                       now);
            return pick;
        }
    }
    apr_atomic_inc32(&h->slot_overflow);
    return -1;
}

void pw_shm_release(void *base, int idx, apr_uint32_t pid, apr_time_t now)
{
    pw_slot_t *s;

    if (base == NULL || idx < 0 ||
        (s = pw_shm_slot(base, (apr_uint32_t)idx)) == NULL ||
        apr_atomic_read32(&s->owner) != pid) {
        return;
    }
    pw_slot_write_begin(s);
    s->state = PW_SLOT_EXITED;
    s->exited = now;
    pw_slot_write_end(s);
}

void pw_slot_write_begin(pw_slot_t *slot)
{
    apr_atomic_inc32(&slot->seq); /* odd: readers retry */
}

void pw_slot_write_end(pw_slot_t *slot)
{
    apr_atomic_inc32(&slot->seq); /* even again */
}

apr_status_t pw_shm_copy_slot(const void *base, apr_uint32_t i, void *dst)
{
    const pw_shm_header_t *h = base;
    pw_slot_t *s = pw_shm_slot((void *)base, i);
    int tries;

    if (s == NULL) {
        return APR_EINVAL;
    }
    /* a writer holds the counter odd for a few microseconds, unless it is
     * preempted: spin a little, then give the CPU away between tries */
    for (tries = 0; tries < 1200; tries++) {
        apr_uint32_t before = apr_atomic_read32(&s->seq);

        if (!(before & 1)) {
            memcpy(dst, s, h->slot_size);
            if (apr_atomic_read32(&s->seq) == before) {
                return APR_SUCCESS;
            }
        }
        if (tries >= 200) {
            sched_yield();
        }
    }
    /* still moving: the caller gets the last copy, marked by an odd seq */
    ((pw_slot_t *)dst)->seq |= 1;
    return APR_EAGAIN;
}

void pw_slot_history_add(pw_slot_t *slot, const pw_sample_t *smp)
{
    slot->hist[slot->hist_next % PW_HISTORY] = *smp;
    slot->hist_next = (slot->hist_next + 1) % PW_HISTORY;
    if (slot->hist_count < PW_HISTORY) {
        slot->hist_count++;
    }
}

const pw_sample_t *pw_slot_history_at(const pw_slot_t *slot, apr_uint32_t n)
{
    apr_uint32_t first;

    if (n >= slot->hist_count) {
        return NULL;
    }
    first = (slot->hist_next + PW_HISTORY - slot->hist_count) % PW_HISTORY;
    return &slot->hist[(first + n) % PW_HISTORY];
}

apr_uint32_t pw_time_bucket(apr_uint64_t ns)
{
    apr_uint32_t e, i;

    if (ns < 256) {
        return 0;
    }
    e = 63 - (apr_uint32_t)__builtin_clzll(ns); /* ns in [2^e, 2^(e+1)) */
    i = 1 + (e - 8) * 4 + (apr_uint32_t)((ns >> (e - 2)) & 3);
    return i < PW_TIME_BUCKETS - 1 ? i : PW_TIME_BUCKETS - 1;
}

apr_uint64_t pw_time_bucket_upper(apr_uint32_t i)
{
    apr_uint32_t e;

    if (i == 0) {
        return 256;
    }
    if (i >= PW_TIME_BUCKETS - 1) {
        return (apr_uint64_t)1 << (8 + (PW_TIME_BUCKETS - 2) / 4);
    }
    e = 8 + (i - 1) / 4;
    return (apr_uint64_t)(5 + (i - 1) % 4) << (e - 2);
}

apr_uint64_t pw_time_quantile(const apr_uint32_t *hist, apr_uint32_t n,
                              double q)
{
    apr_uint64_t total = 0, seen = 0;
    apr_uint32_t i;

    for (i = 0; i < n; i++) {
        total += hist[i];
    }
    if (total == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        seen += hist[i];
        if ((double)seen >= q * (double)total) {
            return pw_time_bucket_upper(i);
        }
    }
    return pw_time_bucket_upper(n - 1);
}

apr_uint64_t pw_request_p99(const apr_uint32_t *hist, apr_uint64_t samples,
                            apr_uint64_t requests)
{
    if (samples == 0 || requests == 0 || samples * 100 <= requests) {
        return 0;
    }
    if (samples > requests) {
        samples = requests; /* a reading's race: counted apart */
    }
    return pw_time_quantile(hist, PW_TIME_BUCKETS,
                            1.0 - 0.01 * (double)requests / (double)samples);
}
