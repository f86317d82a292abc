/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * mod_poolwatch sampler: what each child measures, when, and where it puts
 * it.
 *
 *   post_config (parent, real pass)  validate the pool mirror, create or
 *                                    reuse the shared segment
 *   child_init                       claim a slot, validate again, first
 *                                    sample
 *   pre_connection                   count, watch the connection pool's
 *                                    clear
 *   log_transaction                  count the request, measure its c->pool;
 *                                    every PoolWatchSampleEvery requests,
 *                                    sample long-lived pools, heap, RSS
 *
 * Threads decide what may be read (facts note): a single-threaded child
 * walks its whole pool tree ("exact"). A threaded child never reads pools
 * that other threads own: it walks only pools on APR's global allocator
 * while holding that allocator's mutex, treats pools on other allocators
 * (connections) as opaque, and measures a connection's pool only from the
 * thread running its request ("locked"). One thread at a time samples: the
 * others skip (trylock), so no request ever waits for the sampler.
 *
 * Who samples: a threaded child with a PoolWatchSampleInterval has a
 * thread of its own for it (sampler_main), so that no request pays for a
 * sample or a judgement in its latency; its request threads only count
 * (and note their connection's pool). A single-threaded child (prefork)
 * samples on the request path, in log_transaction: its whole tree may be
 * walked only by the thread that owns it. So does every child sampling by
 * request count alone (PoolWatchSampleInterval 0, PoolWatchTrace): there
 * the interval must end exactly at a request's end.
 *
 * Nothing here allocates per request from a long-lived pool: the tables
 * are malloc'd once per child, per-connection state lives in c->pool.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_version.h>

#include "http_core.h"
#include "http_main.h"
#include "http_protocol.h"
#include "ap_mpm.h"
#include "scoreboard.h"

#include "mod_poolwatch.h"
#include "pw_pool.h"
#include "pw_conf.h"
#include "pw_proc.h"

APLOG_USE_MODULE(poolwatch);

#define PW_SHM_USERDATA "mod_poolwatch-shm"

/* A pool met by this child, in private memory: growth is computed against
 * the previous walk and clears are counted by a cleanup we register. */
typedef struct pw_follow_t {
    apr_pool_t *pool;
    apr_uint64_t bytes;
    apr_uint64_t clears;
    apr_uint32_t token;      /* ties a registered cleanup to this entry */
    apr_uint32_t registered; /* our cleanup is on the pool */
    apr_uint32_t flags;      /* PW_POOL_* */
    apr_uint32_t seen;       /* walk number that last met it */
    apr_uint32_t foreign;    /* outlives pconf: no cleanup of ours on it */
    apr_uint32_t quick;      /* may be measured without a walk (see
                                quick_sample) */
    pw_pool_sizecache_t cache;
} pw_follow_t;

/* Everything one child process keeps for itself. */
typedef struct pw_child_t {
    int active;
    int slot;
    pw_slot_t *me;
    apr_uint32_t walk;
    int threaded;
    /* new connections get the stream filter (PoolWatchStreams): set once,
     * from any request thread, read by pre_connection */
    volatile apr_uint32_t streams;
    char walk_reason[PW_REASON_MAX];
    apr_pool_t *root;
    apr_pool_t *pchild;
    apr_allocator_t *global_alloc;
    apr_thread_mutex_t *global_mutex; /* APR's, not ours: the walk lock */
    apr_thread_mutex_t *sampler;      /* one sampling thread at a time */
    /* the child's sampling thread (see the top of this file), or NULL */
    apr_thread_t *thread;
    apr_thread_mutex_t *wake_mutex;
    apr_thread_cond_t *wake;
    int stop;            /* under wake_mutex */
    apr_pool_t *scratch; /* the thread's, for log lines; unmanaged */
    volatile apr_uint64_t conn_noted_at; /* apr_time_t, read unlocked */
    pw_proc_t proc;
    apr_time_t last_rss_at;
    volatile apr_uint64_t last_sample_at; /* apr_time_t, read unlocked */
    apr_uint64_t rss;
    apr_uint32_t walks;
    apr_uint32_t token_seq;
    volatile apr_uint32_t conn_clears;
    pw_tagcache_t *tags;
    pw_follow_t *follow; /* max_pools entries */
    apr_uint32_t nfollow;
    pw_poolrec_t *table;        /* scratch: the walk writes here first */
    apr_pool_t **table_pool;    /* the pool each table entry names */
    apr_uint32_t *table_follow; /* its follow entry in the last walk */
    apr_uint32_t table_n;       /* entries of the last full walk */
    apr_uint64_t prev_requests;
    /* request-path samples timed, not yet in the slot (see pw_slot_t) */
    apr_uint64_t self_samples, self_ns_total, self_ns_max;
    /* the histogram bucket (+1; 0: none) of the last timed sample: every
     * timed sample is a sample, so at most one is ever pending */
    apr_uint32_t hist_pending;
    apr_uint64_t prev_pool, prev_heap, prev_rss;
    pw_heap_pace_t heap;                        /* mallinfo2(), paced */
    apr_size_t (*num_bytes)(apr_pool_t *, int); /* pool-debug libapr */
} pw_child_t;

/* Per generation (parent and children). */
static pw_config_t eff;
static apr_shm_t *shm;
static void *shm_base;
static apr_size_t shm_size;
static apr_uint32_t generation;
static char parent_reason[PW_REASON_MAX] = "not yet validated";
static apr_uint32_t parent_walk = PW_WALK_OFF;
static apr_uint32_t parent_pid;
/* PW_PATH_SAMPLE_SHARE when it applies (apply_defaults), else 1 */
static apr_uint64_t path_share = 1;

/* Per child: one static instance, touched only by its own process. */
static pw_child_t child;

const pw_config_t *pw_effective_config(void)
{
    return &eff;
}

static int mpm_threaded(void)
{
    int t = 0;

    return ap_mpm_query(AP_MPMQ_IS_THREADED, &t) == APR_SUCCESS &&
           t != AP_MPMQ_NOT_SUPPORTED;
}

static void apply_defaults(server_rec *s)
{
    pw_config_t *c = ap_get_module_config(s->module_config, &poolwatch_module);
    int one;

    eff = *c;
    if (eff.enabled == PW_UNSET) {
        eff.enabled = 1;
    }
    /* under -X a developer reloads one URL: sample every request */
    /* -X defines DEBUG; -DONE_PROCESS is its long form */
    one = ap_exists_config_define("DEBUG") ||
          ap_exists_config_define("ONE_PROCESS");
    if (eff.sample_every == PW_UNSET) {
        eff.sample_every = one ? 1 : PW_DEFAULT_SAMPLE_EVERY;
    }
    if (eff.sample_interval < 0) {
        eff.sample_interval = one ? 0 : PW_DEFAULT_SAMPLE_INTERVAL;
    }
    /* at the defaults only, and for timed sampling: an interval of 0
     * asks for exact counts */
    path_share = c->sample_every == PW_UNSET && !one && eff.sample_interval > 0
                     ? PW_PATH_SAMPLE_SHARE
                     : 1;
    if (eff.rss_interval < 0) {
        eff.rss_interval = PW_DEFAULT_RSS_INTERVAL;
    }
    if (eff.max_pools == PW_UNSET) {
        eff.max_pools = PW_DEFAULT_MAX_POOLS;
    }
    if (eff.slots == PW_UNSET) {
        eff.slots = 0;
    }
    if (eff.walk == PW_UNSET) {
        eff.walk = 1;
    }
    if (eff.key_by == PW_UNSET) {
        eff.key_by = PW_KEYBY_PATH;
    }
    if (eff.max_keys == PW_UNSET) {
        eff.max_keys = PW_DEFAULT_MAX_KEYS;
    }
    if (eff.warmup == PW_UNSET) {
        eff.warmup = PW_DEFAULT_WARMUP;
    }
    if (eff.trace == PW_UNSET) {
        eff.trace = 0;
    }
    if (eff.streams == PW_UNSET) {
        eff.streams = PW_STREAMS_AUTO;
    }
}

static apr_uint32_t slot_count(void)
{
    int limit = 0;

    if (eff.slots > 0) {
        return (apr_uint32_t)eff.slots;
    }
    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS ||
        limit <= 0) {
        limit = 16;
    }
    /* a graceful restart can overlap old and new children: leave room */
    return (apr_uint32_t)limit + 2;
}

int pw_sample_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    apr_pool_t *keep = s->process->pool;
    server_rec *sv;
    apr_uint64_t seed;
    apr_uint32_t nslots;
    apr_size_t need;
    const char *why;
    apr_status_t rv;
    void *data = NULL;

    apply_defaults(s);
    parent_pid = (apr_uint32_t)getpid();
    /* the first pass only checks the config; pconf is cleared after it */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    /* a seed per generation, then each server's name hashed with it: keys
     * are hashed on every request, from these */
    if (apr_generate_random_bytes((unsigned char *)&seed, sizeof(seed)) ==
        APR_SUCCESS) {
        pw_key_seed(seed);
    }
    for (sv = s; sv; sv = sv->next) {
        pw_config_t *sc =
            ap_get_module_config(sv->module_config, &poolwatch_module);

        pw_key_host(&sc->host, sv->server_hostname);
    }
    generation = (apr_uint32_t)ap_state_query(AP_SQ_CONFIG_GEN);
    if (!eff.enabled) {
        return OK;
    }

    if (!eff.walk) {
        parent_walk = PW_WALK_OFF;
        apr_cpystrn(parent_reason, "PoolWatchWalk off", sizeof(parent_reason));
    } else if (pw_pool_validate(ptemp, &why) == APR_SUCCESS) {
        parent_walk = mpm_threaded() ? PW_WALK_LOCKED : PW_WALK_EXACT;
        apr_cpystrn(parent_reason, why, sizeof(parent_reason));
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "PW00001: pool walker on (%s): %s, APR %s",
                     parent_walk == PW_WALK_EXACT ? "exact" : "locked", why,
                     apr_version_string());
    } else {
        parent_walk = PW_WALK_OFF;
        apr_cpystrn(parent_reason, why, sizeof(parent_reason));
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "PW00002: pool walker off: %s (APR %s); heap and RSS "
                     "are still sampled",
                     why, apr_version_string());
    }

    /* The segment outlives pconf so that a graceful restart keeps the
     * figures of children still finishing their requests. */
    nslots = slot_count();
    need = pw_shm_size(nslots, (apr_uint32_t)eff.max_pools,
                       (apr_uint32_t)eff.max_keys);
    apr_pool_userdata_get(&data, PW_SHM_USERDATA, keep);
    if (data) {
        apr_shm_t *old = data;

        if (pw_shm_compatible(apr_shm_baseaddr_get(old), apr_shm_size_get(old),
                              nslots, (apr_uint32_t)eff.max_pools,
                              (apr_uint32_t)eff.max_keys)) {
            shm = old;
        } else {
            /* geometry changed: old children keep their own mapping */
            apr_shm_destroy(old);
            apr_pool_userdata_set(NULL, PW_SHM_USERDATA, NULL, keep);
            shm = NULL;
        }
    } else {
        shm = NULL;
    }
    if (shm == NULL) {
        rv = apr_shm_create(&shm, need, NULL, keep);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "PW00003: cannot create %" APR_SIZE_T_FMT
                         " bytes of anonymous shared memory",
                         need);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        pw_shm_init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), nslots,
                    (apr_uint32_t)eff.max_pools, (apr_uint32_t)eff.max_keys);
        apr_pool_userdata_set(shm, PW_SHM_USERDATA, NULL, keep);
    }
    shm_base = apr_shm_baseaddr_get(shm);
    shm_size = apr_shm_size_get(shm);
    ((pw_shm_header_t *)shm_base)->generation = generation;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "PW00004: shared memory %" APR_SIZE_T_FMT " bytes: %u slots "
                 "of %d pools",
                 shm_size, nslots, eff.max_pools);
    return OK;
}

static int pid_alive(apr_uint32_t pid)
{
    return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

static apr_status_t release_slot(void *data)
{
    pw_child_t *ch = data;

    if (ch->active) {
        pw_shm_release(shm_base, ch->slot, ch->proc.pid, apr_time_now());
        ch->active = 0;
    }
    pw_proc_close(&ch->proc);
    return APR_SUCCESS;
}

/* Frees the child's tables (calloc'd once in child_init). Registered on
 * pconf in child_init, so it runs after pchild and its subpools are gone
 * and after every cleanup of ours on pconf (registered later, run first),
 * but before mod_so unloads this DSO (registered earlier, run later).
 * Cleanups that would still fire find child.follow NULL and do nothing;
 * valgrind then finds nothing of ours lost at exit. */
/* calloc that also counts what it asked for, for the footprint line */
static void *table_alloc(apr_size_t *total, apr_size_t n, apr_size_t size)
{
    *total += n * size;
    return calloc(n, size);
}

static apr_status_t free_tables(void *data)
{
    pw_child_t *ch = data;

    ch->active = 0;
    ch->walk = PW_WALK_OFF;
    ch->nfollow = 0;
    free(ch->follow);
    free(ch->table);
    free(ch->table_pool);
    free(ch->table_follow);
    free(ch->tags);
    ch->follow = NULL;
    ch->table = NULL;
    ch->table_pool = NULL;
    ch->table_follow = NULL;
    ch->tags = NULL;
    pw_verdict_child_exit();
    return APR_SUCCESS;
}

/* Cleanup on a followed pool: the data packs the entry index and a token,
 * so a stale registration (the entry was reused) counts nothing. */
static apr_status_t pool_cleared(void *data)
{
    apr_uintptr_t v = (apr_uintptr_t)data;
    apr_uint32_t idx = (apr_uint32_t)(v & 0xffff);
    apr_uint32_t token = (apr_uint32_t)(v >> 16);

    if (child.follow && idx < child.nfollow &&
        child.follow[idx].token == token) {
        child.follow[idx].clears++;
        child.follow[idx].registered = 0;
    }
    return APR_SUCCESS;
}

static apr_status_t conn_cleared(void *data)
{
    apr_atomic_inc32(&child.conn_clears);
    return APR_SUCCESS;
}

/* Registers our clear counter on a pool we may write to right now. */
/* Whether p is pconf or below it. Only those pools may carry our
 * cleanups: pconf's destruction unloads this DSO (mod_so), so a cleanup of
 * ours on the process pool or APR's global pool would be called at exit
 * after the code is gone (seen under apache2 -X). */
static int below_pconf(apr_pool_t *p)
{
    apr_pool_t *pconf = child.pchild ? apr_pool_parent_get(child.pchild) : NULL;
    unsigned int n = 0;

    for (; p && n < 64; p = apr_pool_parent_get(p), n++) {
        if (p == pconf) {
            return 1;
        }
    }
    return 0;
}

static void follow_register(pw_follow_t *f, apr_uint32_t idx)
{
    apr_uintptr_t v;

    if (f->registered || f->foreign || idx > 0xffff) {
        return;
    }
    if (!below_pconf(f->pool)) {
        f->foreign = 1; /* clears are seen by observation only */
        return;
    }
    f->token = (++child.token_seq) & 0xffff;
    v = ((apr_uintptr_t)f->token << 16) | idx;
    apr_pool_cleanup_register(f->pool, (void *)v, pool_cleared,
                              apr_pool_cleanup_null);
    f->registered = 1;
}

/* State of one walk, passed to the callback. */
typedef struct walk_ctx_t {
    pw_child_t *ch;
    apr_pool_t *conn_pool; /* the current request's c->pool, if any */
    int conn_depth;        /* inside a connection subtree below this */
    apr_uint32_t n;        /* records written to ch->table */
    apr_uint64_t pool_bytes, pool_reserved;
    int may_register;       /* we own every pool: single-threaded */
    int first;              /* the child's first walk */
    unsigned int new_count; /* long-lived pools born since the last walk */
    int changed; /* quick_sample: a record differs from the slot's copy */
    char new_path[PW_PATH_MAX];
} walk_ctx_t;

static pw_follow_t *follow_find(pw_child_t *ch, apr_pool_t *p,
                                apr_uint32_t hint, apr_uint32_t *idx)
{
    apr_uint32_t i;

    if (hint < ch->nfollow && ch->follow[hint].pool == p) {
        *idx = hint;
        return &ch->follow[hint];
    }
    for (i = 0; i < ch->nfollow; i++) {
        if (ch->follow[i].pool == p) {
            *idx = i;
            return &ch->follow[i];
        }
    }
    return NULL;
}

static pw_follow_t *follow_add(pw_child_t *ch, apr_pool_t *p, apr_uint32_t *idx)
{
    apr_uint32_t i;

    /* reuse an entry the previous walk did not meet: that pool is gone */
    for (i = 0; i < ch->nfollow; i++) {
        if (ch->follow[i].seen + 1 < ch->walks) {
            break;
        }
    }
    if (i == ch->nfollow) {
        if (ch->nfollow >= (apr_uint32_t)eff.max_pools) {
            return NULL;
        }
        ch->nfollow++;
    }
    memset(&ch->follow[i], 0, sizeof(ch->follow[i]));
    ch->follow[i].pool = p;
    /* a new token: a cleanup still registered for the old pool is stale */
    ch->follow[i].token = (++child.token_seq) & 0xffff;
    *idx = i;
    return &ch->follow[i];
}

static int walk_cb(void *baton, const pw_walk_item_t *it)
{
    walk_ctx_t *w = baton;
    pw_child_t *ch = w->ch;
    pw_follow_t *f;
    pw_poolrec_t *rec;
    pw_pool_size_t sz;
    apr_uint32_t idx = 0, flags = 0;
    int fresh = 0;

    if (w->conn_depth && it->depth <= w->conn_depth) {
        w->conn_depth = 0; /* left the connection subtree */
    }
    if (!w->conn_depth &&
        (it->pool == w->conn_pool || !strcmp(it->tag, "transaction"))) {
        w->conn_depth = it->depth;
    }
    if (w->conn_depth) {
        flags |= PW_POOL_CONN;
    }
    if (it->opaque) {
        flags |= PW_POOL_OPAQUE;
    }
    if (w->n >= (apr_uint32_t)eff.max_pools) {
        return 0; /* counted by pools_seen - npools */
    }
    rec = &ch->table[w->n];
    /* the follow entry this table position had last time: almost always
     * the same pool, so no search */
    f = follow_find(ch, it->pool, ch->table_follow[w->n], &idx);
    if (f == NULL) {
        f = follow_add(ch, it->pool, &idx);
        fresh = 1;
        if (f && !w->first && !(flags & (PW_POOL_CONN | PW_POOL_OPAQUE))) {
            f->flags |= PW_POOL_NEW;
            ch->me->pools_new++;
            /* logged after the walk: a threaded walk holds APR's
             * allocator mutex, and logging may allocate */
            if (w->new_path[0] == '\0') {
                apr_cpystrn(w->new_path, it->path, sizeof(w->new_path));
            }
            w->new_count++;
        }
    }
    /* sizes: O(1) for a followed pool that did not change (the walk is
     * lazy); a pool we cannot follow is measured in full */
    memset(&sz, 0, sizeof(sz));
    if (!it->opaque) {
        apr_status_t rv;

        if (f) {
            rv = pw_pool_size_cached(it->pool, &f->cache);
            sz = f->cache.size;
        } else {
            rv = pw_pool_size(it->pool, &sz);
        }
        if (rv != APR_SUCCESS) {
            flags |= PW_POOL_OPAQUE; /* a ring we do not understand */
            memset(&sz, 0, sizeof(sz));
        }
        if (f && fresh) {
            f->bytes = sz.bytes;
        }
    }
    /* the same pool (address and tag) at the same place as in the last
     * walk has the same name: skip the copies, two per pool per sample */
    if (ch->table_pool[w->n] != it->pool || strcmp(rec->tag, it->tag)) {
        apr_cpystrn(rec->tag, it->tag, sizeof(rec->tag));
        apr_cpystrn(rec->path, it->path, sizeof(rec->path));
        ch->table_pool[w->n] = it->pool;
    }
    rec->bytes = sz.bytes;
    rec->reserved_bytes = sz.reserved;
    rec->nodes = sz.nodes;
    rec->depth = (apr_uint32_t)it->depth;
    rec->growth = 0;
    rec->clears = 0;
    if (f) {
        if (!(flags & PW_POOL_OPAQUE)) {
            if (sz.bytes < f->bytes && !f->registered) {
                f->clears++; /* pools never shrink but by a clear */
            }
            rec->growth = (apr_int64_t)sz.bytes - (apr_int64_t)f->bytes;
            f->bytes = sz.bytes;
            if (w->may_register && !(flags & PW_POOL_CONN) && !f->registered) {
                pw_pool_size_t after;

                /* the cleanup record is allocated from the pool itself:
                 * measure again so it does not show up as growth */
                follow_register(f, idx);
                if (pw_pool_size(it->pool, &after) == APR_SUCCESS) {
                    f->bytes = after.bytes;
                }
            }
        }
        f->seen = ch->walks;
        /* a pool whose end we would see (our cleanup is on it) or that
         * lives as long as the process; in a threaded child only pconf,
         * pchild and the pools above pconf, which no thread destroys */
        if (flags & (PW_POOL_CONN | PW_POOL_OPAQUE)) {
            f->quick = 0;
        } else if (ch->walk == PW_WALK_EXACT) {
            f->quick = f->registered || f->foreign;
        } else {
            f->quick = it->pool == ch->pchild ||
                       it->pool == apr_pool_parent_get(ch->pchild) ||
                       !below_pconf(it->pool);
        }
        flags |= f->flags & PW_POOL_NEW;
        rec->clears = f->clears;
    }
    if (flags & PW_POOL_CONN) {
        rec->clears = apr_atomic_read32(&ch->conn_clears);
    }
    rec->flags = flags;
    if (!(flags & (PW_POOL_CONN | PW_POOL_OPAQUE))) {
        w->pool_bytes += sz.bytes;
        w->pool_reserved += sz.reserved;
    }
    if (f) {
        ch->table_follow[w->n] = idx;
    }
    w->n++;
    /* a ring we do not understand: do not trust its links either */
    return (flags & PW_POOL_OPAQUE) && !it->opaque;
}

/* The pools a pool-debug libapr can measure for us: pconf and pchild. */
static void sample_debug_pools(pw_child_t *ch, walk_ctx_t *w)
{
    apr_pool_t *known[2];
    const char *names[2] = {"process/pconf", "process/pconf/pchild"};
    int i;

    known[0] = apr_pool_parent_get(ch->pchild);
    known[1] = ch->pchild;
    for (i = 0; i < 2 && w->n < (apr_uint32_t)eff.max_pools; i++) {
        pw_poolrec_t *rec = &ch->table[w->n++];
        apr_size_t b = known[i] ? ch->num_bytes(known[i], 0) : 0;

        memset(rec, 0, sizeof(*rec));
        apr_cpystrn(rec->tag, i ? "pchild" : "pconf", sizeof(rec->tag));
        apr_cpystrn(rec->path, names[i], sizeof(rec->path));
        rec->bytes = b;
        rec->depth = (apr_uint32_t)i + 2;
        w->pool_bytes += b;
    }
}

/* One sample. The caller holds ch->sampler (threaded) or is alone. */
/* The pools that grew most in the last walk, for the verdicts. */
static apr_uint32_t top_growth(pw_child_t *ch, apr_uint32_t n,
                               pw_verdict_sample_t *vs)
{
    apr_uint32_t i, j, k = 0;

    for (i = 0; i < n; i++) {
        const pw_poolrec_t *rec = &ch->table[i];

        if (rec->growth <= 0 ||
            (rec->flags & (PW_POOL_CONN | PW_POOL_OPAQUE))) {
            continue;
        }
        for (j = k; j > 0 && vs->pool_growth_of[j - 1] < rec->growth; j--) {
            if (j < PW_SAMPLE_POOLS) {
                vs->pool_growth_of[j] = vs->pool_growth_of[j - 1];
                vs->pool_path[j] = vs->pool_path[j - 1];
            }
        }
        if (j < PW_SAMPLE_POOLS) {
            vs->pool_growth_of[j] = rec->growth;
            vs->pool_path[j] = rec->path;
            if (k < PW_SAMPLE_POOLS) {
                k++;
            }
        }
    }
    return k;
}

/* Between full walks: re-measure only the pools known to be alive (see
 * pw_follow_t.quick), in place in the last walk's table; O(1) for a pool
 * that did not change. Other pools keep their last figures until the next
 * full walk, which also finds new pools. */
#define PW_FULL_WALK_EVERY 8

/* The connection's own ring, written as "the last connection that ended a
 * request". The caller is the connection's thread. */
static void note_connection(pw_child_t *ch, conn_rec *c, pw_conn_t *pc,
                            const pw_pool_size_t *sz)
{
    pw_slot_t *me = ch->me;

    pw_slot_write_begin(me);
    if (me->conn_tag[0] == '\0') {
        /* a connection pool's tag and place are the same for every
         * connection of a child: name it once */
        apr_pool_t *p;
        char path[PW_PATH_MAX] = "", tmp[PW_PATH_MAX];

        pw_tag_copy(me->conn_tag, sizeof(me->conn_tag),
                    pw_pool_tag_ptr(c->pool));
        for (p = c->pool; p && apr_pool_parent_get(p);
             p = apr_pool_parent_get(p)) {
            char tag[PW_TAG_MAX];

            pw_tag_copy(tag, sizeof(tag), pw_pool_tag_ptr(p));
            apr_snprintf(tmp, sizeof(tmp), "%s%s%s", tag, path[0] ? "/" : "",
                         path);
            apr_cpystrn(path, tmp, sizeof(path));
        }
        apr_cpystrn(me->conn_path, path, sizeof(me->conn_path));
    }
    me->conn_bytes = sz->bytes;
    me->conn_reserved_bytes = sz->reserved;
    me->conn_requests = pc ? pc->requests : 0;
    me->conn_clears = apr_atomic_read32(&ch->conn_clears);
    pw_slot_write_end(me);
}

/* Whether quick_sample() may re-measure table entry i in place: not a
 * connection or opaque pool, its pool the one the last walk met, known
 * alive (pw_follow_t.quick) and, where no lock guards the tree, watched by
 * our cleanup. */
static int quick_ok(const pw_child_t *ch, apr_uint32_t i, const pw_follow_t *f)
{
    return !(ch->table[i].flags & (PW_POOL_CONN | PW_POOL_OPAQUE)) &&
           f->pool == ch->table_pool[i] && f->quick &&
           (ch->walk != PW_WALK_EXACT || f->registered || f->foreign);
}

static void quick_sample(pw_child_t *ch, walk_ctx_t *w)
{
    apr_uint32_t i;

    for (i = 0; i < ch->table_n; i++) {
        pw_poolrec_t *rec = &ch->table[i];
        pw_follow_t *f = &ch->follow[ch->table_follow[i]];

        if (rec->growth != 0) {
            w->changed = 1; /* the slot shows the last growth */
            rec->growth = 0;
        }
        if (rec->flags & (PW_POOL_CONN | PW_POOL_OPAQUE)) {
            continue;
        }
        if (quick_ok(ch, i, f) &&
            pw_pool_size_cached(f->pool, &f->cache) == APR_SUCCESS) {
            rec->growth =
                (apr_int64_t)f->cache.size.bytes - (apr_int64_t)f->bytes;
            if (rec->growth != 0 ||
                rec->reserved_bytes != f->cache.size.reserved ||
                rec->nodes != f->cache.size.nodes) {
                w->changed = 1;
            }
            f->bytes = f->cache.size.bytes;
            rec->bytes = f->cache.size.bytes;
            rec->reserved_bytes = f->cache.size.reserved;
            rec->nodes = f->cache.size.nodes;
        }
        w->pool_bytes += rec->bytes;
        w->pool_reserved += rec->reserved_bytes;
    }
    w->n = ch->table_n;
}

/* A quick sample in a prefork child meets cold lines: the request in
 * between evicted them, and each pool costs a chain of misses (its follow
 * record, the pool, its current node). Asked for in stages, each a step
 * further down the chain, while the heap read and the connection's note
 * run, those misses overlap instead of queueing in quick_sample(). */
static void prefetch_pools(pw_child_t *ch, int stage)
{
    apr_uint32_t i;

    /* past our own records only where quick_sample() itself reads the
     * pools without a lock: the one thread that owns them (prefork) */
    if (stage > 0 && ch->walk != PW_WALK_EXACT) {
        return;
    }
    for (i = 0; i < ch->table_n; i++) {
        pw_follow_t *f = &ch->follow[ch->table_follow[i]];

        if (stage == 0) {
            __builtin_prefetch(f);
            __builtin_prefetch(&ch->table[i]);
        } else if (quick_ok(ch, i, f)) {
            pw_pool_prefetch(f->pool, stage - 1);
        }
    }
}

/* Nanoseconds from a to b (clock_gettime readings). */
static apr_uint64_t ns_between(const struct timespec *a,
                               const struct timespec *b)
{
    return (apr_uint64_t)(b->tv_sec - a->tv_sec) * 1000000000u +
           (apr_uint64_t)b->tv_nsec - (apr_uint64_t)a->tv_nsec;
}

/* The heap, read when pw_heap_due() says so or a reader asks (force: what
 * it is shown is current), else its last value: an interval without a
 * read shows no heap growth, the next one all of it (as RSS at
 * PoolWatchRSSInterval). Timed as pw_heap_pace_t says: by the wall clock,
 * in thread CPU time only after a read that looked slow. */
static apr_uint64_t read_heap(pw_child_t *ch, apr_time_t now, int force)
{
    struct timespec t0, t1;
    clockid_t clock = ch->heap.cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    apr_uint64_t v;

    if (!force && !pw_heap_due(&ch->heap, now)) {
        ch->heap.skipped++;
        return ch->heap.value;
    }
    clock_gettime(clock, &t0);
    v = pw_proc_heap();
    clock_gettime(clock, &t1);
    pw_heap_took(&ch->heap, now, ns_between(&t0, &t1), v);
    return v;
}

static void sample(pw_child_t *ch, request_rec *r, apr_uint64_t requests,
                   int force)
{
    conn_rec *c = r ? r->connection : NULL;
    pw_slot_t *me = ch->me;
    walk_ctx_t w;
    pw_walk_t walk;
    apr_time_t now = apr_time_now();
    /* what decides a quick sample below, ahead of the walk count's bump */
    int quick = ch->walk != PW_WALK_OFF && !force && ch->walks != 0 &&
                ch->table_n && (ch->walks + 1) % PW_FULL_WALK_EVERY != 0;
    apr_uint64_t heap;
    apr_uint64_t took_ns = 0;
    struct timespec t0, t1;

    /* the heap read sits between the stages: its 1-3 us give the pools'
     * lines time to arrive (see prefetch_pools) */
    if (quick) {
        prefetch_pools(ch, 0);
    }
    __atomic_store_n(&ch->last_sample_at, (apr_uint64_t)now, __ATOMIC_RELAXED);

    memset(&w, 0, sizeof(w));
    w.ch = ch;
    w.conn_pool = c ? c->pool : NULL;
    w.may_register = (ch->walk == PW_WALK_EXACT);
    w.first = (ch->walks == 0);
    ch->walks++;

    if (eff.rss_interval == 0 || now - ch->last_rss_at >= eff.rss_interval) {
        apr_uint64_t rss;

        if (pw_proc_rss(&ch->proc, &rss) == APR_SUCCESS) {
            ch->rss = rss;
        }
        ch->last_rss_at = now;
    }

    if (c && !c->master && ch->walk != PW_WALK_OFF) {
        pw_pool_size_t sz;

        /* the caller runs this connection: its pool is ours to read */
        if (pw_pool_size(c->pool, &sz) == APR_SUCCESS) {
            note_connection(
                ch, c, ap_get_module_config(c->conn_config, &poolwatch_module),
                &sz);
        }
    }
    if (quick) {
        prefetch_pools(ch, 1);
        pw_verdict_prefetch();
    }
    heap = read_heap(ch, now, force);
    if (quick) {
        prefetch_pools(ch, 2);
    }
    pw_slot_write_begin(me);
    {
        apr_uint32_t rgen;

        /* a reader asked for a reset: this child, the slot's one writer,
         * applies it to its own figures */
        if (pw_slot_reset_due(shm_base, me, &rgen)) {
            pw_verdict_reset();
            me->hist_count = 0;
            me->hist_next = 0;
            me->pools_overflow = 0;
            me->walk_errors = 0;
            me->reset_seen = rgen;
            me->resets++;
            me->reset_at = now;
            me->self_samples = me->self_ns_total = me->self_ns_max = 0;
            me->self_base = requests;
            ch->self_samples = ch->self_ns_total = ch->self_ns_max = 0;
            memset(me->self_hist, 0, sizeof(me->self_hist));
            ch->hist_pending = 0;
        }
    }
    memset(&walk, 0, sizeof(walk));
    if (quick) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (ch->walk == PW_WALK_LOCKED) {
            apr_thread_mutex_lock(ch->global_mutex);
            quick_sample(ch, &w);
            apr_thread_mutex_unlock(ch->global_mutex);
        } else {
            quick_sample(ch, &w);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        took_ns = ns_between(&t0, &t1);
    } else if (ch->walk != PW_WALK_OFF) {
        apr_status_t rv;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        walk.root = ch->root;
        walk.tags = ch->tags;
        walk.fn = walk_cb;
        walk.baton = &w;
        walk.lazy_sizes = 1;
        walk.max_pools = 100000;
        if (ch->walk == PW_WALK_LOCKED) {
            walk.only = ch->global_alloc;
            apr_thread_mutex_lock(ch->global_mutex);
            rv = pw_pool_walk(&walk);
            apr_thread_mutex_unlock(ch->global_mutex);
        } else {
            rv = pw_pool_walk(&walk);
        }
        if (rv != APR_SUCCESS) {
            me->walk_errors++;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        took_ns = ns_between(&t0, &t1);
        me->pools_seen = walk.visited;
        me->pools_opaque = walk.opaque;
        if (walk.visited > w.n) {
            me->pools_overflow++;
        }
        ch->table_n = w.n;
    } else if (ch->num_bytes) {
        sample_debug_pools(ch, &w);
    }
    if (w.new_count) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ap_server_conf,
                     "PW00010: pid %u: %u new long-lived pool(s), first %s",
                     ch->proc.pid, w.new_count, w.new_path);
    }
    /* the table is some KiB: copied to the slot's cold lines only when a
     * re-measure changed it, or after a walk */
    if (!quick || w.changed) {
        memcpy(pw_slot_pools(me), ch->table, w.n * sizeof(pw_poolrec_t));
    }
    me->npools = w.n;
    me->walk_ns = took_ns;
    me->heap_ns = ch->heap.ns;
    me->heap_skipped = ch->heap.skipped;
    me->self_samples += ch->self_samples;
    me->self_ns_total += ch->self_ns_total;
    if (ch->self_ns_max > me->self_ns_max) {
        me->self_ns_max = ch->self_ns_max;
    }
    ch->self_samples = ch->self_ns_total = ch->self_ns_max = 0;
    if (ch->hist_pending) {
        me->self_hist[ch->hist_pending - 1]++;
        ch->hist_pending = 0;
    }
    me->samples++;
    me->updated = now;
    me->heap_bytes = heap;
    me->rss_bytes = ch->rss;
    me->pool_bytes = w.pool_bytes;
    me->pool_reserved_bytes = w.pool_reserved;
    me->conn_clears = apr_atomic_read32(&ch->conn_clears);
    if (ch->walks > 1) {
        me->last_requests = requests - ch->prev_requests;
        me->last_pool_growth = (apr_int64_t)(w.pool_bytes - ch->prev_pool);
        me->last_heap_growth = (apr_int64_t)(heap - ch->prev_heap);
        me->last_rss_growth = (apr_int64_t)(ch->rss - ch->prev_rss);
    }
    {
        pw_sample_t smp;

        smp.requests = requests;
        smp.time = now;
        smp.pool_bytes = w.pool_bytes;
        smp.heap_bytes = heap;
        smp.rss_bytes = ch->rss;
        pw_slot_history_add(me, &smp);
    }
    if (ch->walks > 1) {
        pw_verdict_sample_t vs;

        memset(&vs, 0, sizeof(vs));
        vs.requests = requests - ch->prev_requests;
        vs.pool_growth = (apr_int64_t)(w.pool_bytes - ch->prev_pool);
        vs.heap_growth = (apr_int64_t)(heap - ch->prev_heap);
        vs.rss_growth = (apr_int64_t)(ch->rss - ch->prev_rss);
        vs.npools = top_growth(ch, w.n, &vs);
        vs.conn_path = me->conn_path[0] ? me->conn_path : NULL;
        vs.now = now;
        vs.force = force;
        vs.pool = r ? r->pool : ch->scratch ? ch->scratch : ch->pchild;
        pw_verdict_sample(&vs);
    }
    pw_slot_write_end(me);

    ch->prev_requests = requests;
    ch->prev_pool = w.pool_bytes;
    ch->prev_heap = heap;
    ch->prev_rss = ch->rss;
}

/* A sample by a request or the sampling thread, timed: two clock reads
 * per sample, kept until the next sample puts them in the slot. */
static void timed_sample(pw_child_t *ch, request_rec *r, apr_uint64_t n)
{
    struct timespec t0, t1;
    apr_uint64_t ns;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    sample(ch, r, n, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = ns_between(&t0, &t1);
    ch->self_samples++;
    ch->hist_pending = pw_time_bucket(ns) + 1;
    ch->self_ns_total += ns;
    if (ns > ch->self_ns_max) {
        ch->self_ns_max = ns;
    }
}

/* Whether this child samples from a thread of its own (see the top). */
static int wants_thread(const pw_child_t *ch)
{
    return ch->threaded && eff.sample_interval > 0 && !eff.trace;
}

/* A sample every PoolWatchSampleEvery requests, at most one per
 * PoolWatchSampleInterval: the thread wakes once an interval and samples
 * if enough requests came. An idle child's thread sleeps longer each time
 * (up to a second, or the interval if longer) instead of waking 100 times
 * a second for nothing. Timed as the request path's samples were. */
static void *APR_THREAD_FUNC sampler_main(apr_thread_t *t, void *data)
{
    pw_child_t *ch = data;
    apr_interval_time_t wait = eff.sample_interval;
    apr_interval_time_t idle_max = eff.sample_interval > APR_USEC_PER_SEC
                                       ? eff.sample_interval
                                       : APR_USEC_PER_SEC;
    apr_uint64_t seen = 0;

    apr_thread_mutex_lock(ch->wake_mutex);
    while (!ch->stop) {
        apr_uint64_t n;

        apr_thread_cond_timedwait(ch->wake, ch->wake_mutex, wait);
        if (ch->stop) {
            break;
        }
        apr_thread_mutex_unlock(ch->wake_mutex);
        n = apr_atomic_read64(&ch->me->requests);
        if (n == seen) {
            wait = wait * 2 < idle_max ? wait * 2 : idle_max;
        } else {
            wait = eff.sample_interval;
            seen = n;
            apr_thread_mutex_lock(ch->sampler);
            /* prev_requests: the last sample's, maybe a reader's */
            if (n - ch->prev_requests >= (apr_uint64_t)eff.sample_every) {
                timed_sample(ch, NULL, n);
                apr_pool_clear(ch->scratch);
            }
            apr_thread_mutex_unlock(ch->sampler);
        }
        apr_thread_mutex_lock(ch->wake_mutex);
    }
    apr_thread_mutex_unlock(ch->wake_mutex);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* Pre-cleanup of pchild: the thread is stopped and joined before pchild's
 * subpools and cleanups go (the mutexes, the slot). */
static apr_status_t stop_sampler(void *data)
{
    pw_child_t *ch = data;
    apr_status_t rv;

    if (ch->thread) {
        apr_thread_mutex_lock(ch->wake_mutex);
        ch->stop = 1;
        apr_thread_cond_signal(ch->wake);
        apr_thread_mutex_unlock(ch->wake_mutex);
        apr_thread_join(&rv, ch->thread);
        ch->thread = NULL;
    }
    if (ch->scratch) {
        apr_pool_destroy(ch->scratch);
        ch->scratch = NULL;
    }
    return APR_SUCCESS;
}

/* The child's sampling thread. Started after the first sample; if it
 * cannot be, requests sample as in a single-threaded child. Its scratch
 * pool has an allocator of its own: not on APR's global allocator (not
 * walked, no lock shared with the requests) and cleared after each
 * sample. Worker and event block all signals before child_init, so the
 * thread takes none of the MPM's. */
static void start_sampler(pw_child_t *ch, apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    rv = apr_pool_create_unmanaged_ex(&ch->scratch, NULL, NULL);
    if (rv == APR_SUCCESS) {
        apr_pool_tag(ch->scratch, "poolwatch-sampler");
        rv = apr_thread_mutex_create(&ch->wake_mutex, APR_THREAD_MUTEX_DEFAULT,
                                     pchild);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&ch->wake, pchild);
    }
    apr_pool_pre_cleanup_register(pchild, ch, stop_sampler);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_create(&ch->thread, NULL, sampler_main, ch, pchild);
    }
    if (rv != APR_SUCCESS) {
        ch->thread = NULL;
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "PW00012: pid %u: no sampling thread: requests sample "
                     "(they pay for it in latency)",
                     ch->proc.pid);
    }
    if (ch->thread == NULL) {
        pw_slot_write_begin(ch->me);
        ch->me->sampler = PW_SAMPLER_REQUESTS;
        pw_slot_write_end(ch->me);
    }
}

void pw_sample_child_init(apr_pool_t *pchild, server_rec *s)
{
    pw_child_t *ch = &child;
    const char *why = NULL;
    int idx;
    apr_size_t tables = 0; /* bytes malloc'd for this child */

    memset(ch, 0, sizeof(*ch));
    if (!eff.enabled || shm_base == NULL) {
        return;
    }
    pw_proc_open(&ch->proc);
    ch->threaded = mpm_threaded();
    ch->pchild = pchild;
    idx = pw_shm_claim(shm_base, ch->proc.pid, generation, pid_alive,
                       apr_time_now());
    if (idx < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "PW00005: pid %u: no free slot in "
                     "%u; this child is not watched (raise PoolWatchSlots)",
                     ch->proc.pid, ((pw_shm_header_t *)shm_base)->nslots);
        pw_proc_close(&ch->proc);
        return;
    }
    ch->slot = idx;
    ch->me = pw_shm_slot(shm_base, (apr_uint32_t)idx);
    ch->active = 1;
    ch->streams = eff.streams == PW_STREAMS_ON;

    /* once per child, freed when pconf is destroyed (apache2 -X, or a
     * child that exits through pconf): see free_tables() */
    apr_pool_cleanup_register(apr_pool_parent_get(pchild), ch, free_tables,
                              apr_pool_cleanup_null);
    ch->follow =
        table_alloc(&tables, (apr_size_t)eff.max_pools, sizeof(pw_follow_t));
    ch->table =
        table_alloc(&tables, (apr_size_t)eff.max_pools, sizeof(pw_poolrec_t));
    ch->table_pool =
        table_alloc(&tables, (apr_size_t)eff.max_pools, sizeof(apr_pool_t *));
    ch->table_follow =
        table_alloc(&tables, (apr_size_t)eff.max_pools, sizeof(apr_uint32_t));
    ch->tags = table_alloc(&tables, 1, sizeof(pw_tagcache_t));
    if (!ch->follow || !ch->table || !ch->table_pool || !ch->table_follow ||
        !ch->tags) {
        ch->walk = PW_WALK_OFF;
        why = "out of memory for the pool tables";
    } else if (parent_walk == PW_WALK_OFF) {
        why = parent_reason;
        ch->num_bytes = (apr_size_t(*)(apr_pool_t *, int))dlsym(
            RTLD_DEFAULT, "apr_pool_num_bytes");
        if (ch->num_bytes) {
            why = "pool-debug libapr: pconf and pchild measured with "
                  "apr_pool_num_bytes(), no walk";
        }
    } else if (pw_pool_validate(pchild, &why) != APR_SUCCESS) {
        ch->walk = PW_WALK_OFF; /* why says why */
    } else if (!ch->threaded) {
        ch->walk = PW_WALK_EXACT;
        why = "single-threaded child: whole pool tree";
    } else {
        ch->global_alloc = apr_pool_allocator_get(pchild);
        ch->global_mutex =
            ch->global_alloc ? apr_allocator_mutex_get(ch->global_alloc) : NULL;
        if (ch->global_mutex == NULL) {
            ch->walk = PW_WALK_OFF;
            why = "threaded child whose pools have an allocator without "
                  "a mutex: walking would race";
        } else {
            ch->walk = PW_WALK_LOCKED;
            why = "threaded child: long-lived pools under the allocator "
                  "mutex, connection pools from their own threads";
        }
    }
    apr_cpystrn(ch->walk_reason, why ? why : "", sizeof(ch->walk_reason));
    ch->root = pw_pool_root(pchild);
    if (ch->threaded &&
        apr_thread_mutex_create(&ch->sampler, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS) {
        ch->walk = PW_WALK_OFF;
        ch->active = 0;
        return;
    }

    pw_slot_write_begin(ch->me);
    ch->me->walk = ch->walk;
    /* what start_sampler() will start, so that a reader of a child still
     * in child_init is not told otherwise (it says so if it fails) */
    ch->me->sampler =
        wants_thread(ch) ? PW_SAMPLER_THREAD : PW_SAMPLER_REQUESTS;
    apr_cpystrn(ch->me->walk_reason, ch->walk_reason,
                sizeof(ch->me->walk_reason));
    pw_slot_write_end(ch->me);

    apr_pool_cleanup_register(pchild, ch, release_slot, apr_pool_cleanup_null);
    tables += pw_verdict_child_init(ch->me, (apr_uint32_t)eff.max_pools,
                                    (apr_uint32_t)eff.max_keys);
    /* the module's own footprint per child, for admins who must budget
     * it: private tables (malloc, once) and the slot (shared) */
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "PW00011: pid %u: %" APR_SIZE_T_FMT
                 " bytes of private tables, "
                 "%" APR_SIZE_T_FMT " bytes of shared slot",
                 ch->proc.pid, tables,
                 pw_shm_size(1, (apr_uint32_t)eff.max_pools,
                             (apr_uint32_t)eff.max_keys) -
                     pw_shm_size(0, (apr_uint32_t)eff.max_pools,
                                 (apr_uint32_t)eff.max_keys));
    sample(ch, NULL, 0, 0);
    if (wants_thread(ch)) {
        start_sampler(ch, pchild, s);
    }
}

int pw_sample_pre_connection(conn_rec *c, void *csd)
{
    pw_conn_t *pc;

    if (!child.active || c->master) {
        return DECLINED;
    }
    apr_atomic_inc64(&child.me->connections);
    /* once per connection, from the connection's own pool */
    pc = apr_pcalloc(c->pool, sizeof(*pc));
    ap_set_module_config(c->conn_config, &poolwatch_module, pc);
    apr_pool_cleanup_register(c->pool, NULL, conn_cleared,
                              apr_pool_cleanup_null);
    if (child.walk != PW_WALK_OFF &&
        __atomic_load_n(&child.streams, __ATOMIC_RELAXED)) {
        pc->streams = 1;
        pw_stream_add_filter(c, pc);
    }
    return DECLINED;
}

/* PoolWatchTrace: what grew across this request, Apache::Leak style. */
static void trace_request(pw_child_t *ch, request_rec *r, int conn_measured,
                          apr_int64_t conn_growth)
{
    const pw_slot_t *me = ch->me;
    const pw_poolrec_t *pools = pw_slot_pools(ch->me);
    apr_uint32_t i, shown = 0;
    char key[PW_KEY_MAX];
    char *grew = "";

    for (i = 0; i < me->npools; i++) {
        /* connection pools: their own line item (conn) says it right;
         * a request pool compared with the last request's says nothing */
        if (pools[i].growth != 0 && shown < 8 &&
            !(pools[i].flags & PW_POOL_CONN)) {
            grew = apr_psprintf(r->pool, "%s %s %+" APR_INT64_T_FMT, grew,
                                pools[i].path, pools[i].growth);
            shown++;
        }
    }
    pw_request_key(r, key);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  "PW00030: trace pid %u key \"%s\": pool %+" APR_INT64_T_FMT
                  " heap %+" APR_INT64_T_FMT " rss %+" APR_INT64_T_FMT
                  " conn %s%" APR_INT64_T_FMT "%s%s",
                  (unsigned int)me->owner, ap_escape_logitem(r->pool, key),
                  me->last_pool_growth, me->last_heap_growth,
                  me->last_rss_growth, conn_measured ? "+" : "(first) ",
                  conn_growth, shown ? ";" : "", grew);
}

/* Whether request n closes an interval: every PoolWatchSampleEvery
 * requests, but not sooner than PoolWatchSampleInterval after the last
 * sample, and at the defaults not sooner than PW_PATH_SAMPLE_SHARE
 * requests after it unless PW_PATH_SAMPLE_SPAN has passed. The clock is
 * read only at those multiples. */
static int sample_due(pw_child_t *ch, apr_uint64_t n)
{
    apr_interval_time_t since;

    if (eff.trace) {
        return 1;
    }
    if (n % (apr_uint64_t)eff.sample_every != 0) {
        return 0;
    }
    if (eff.sample_interval == 0) {
        return 1;
    }
    since = apr_time_now() -
            (apr_time_t)__atomic_load_n(&ch->last_sample_at, __ATOMIC_RELAXED);
    return since >= eff.sample_interval &&
           (n - ch->prev_requests >= path_share ||
            since >= PW_PATH_SAMPLE_SPAN);
}

/* With a sampling thread: the connection that ended a request is shown
 * at most once per PoolWatchSampleInterval, by the thread that runs it
 * (no other may read its pool), never waiting for the sampler. */
static void __attribute__((noinline))
note_connection_due(pw_child_t *ch, conn_rec *c, pw_conn_t *pc,
                    const pw_pool_size_t *sz)
{
    apr_time_t now = apr_time_now();

    if (now -
            (apr_time_t)__atomic_load_n(&ch->conn_noted_at, __ATOMIC_RELAXED) <
        eff.sample_interval) {
        return;
    }
    if (apr_thread_mutex_trylock(ch->sampler) != APR_SUCCESS) {
        return;
    }
    __atomic_store_n(&ch->conn_noted_at, (apr_uint64_t)now, __ATOMIC_RELAXED);
    note_connection(ch, c, pc, sz);
    apr_thread_mutex_unlock(ch->sampler);
}

/* PoolWatchStreams auto: the first response of a child long enough for a
 * stream to be measured turns the filter on for its new connections. Small
 * responses only never pay for it (a filter call per brigade). */
static void __attribute__((noinline)) streams_on(pw_child_t *ch, request_rec *r)
{
    if (__atomic_exchange_n(&ch->streams, 1, __ATOMIC_RELAXED) == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "PW00042: pid %u: a response of %" APR_OFF_T_FMT
                      " bytes: connections from now on are watched during "
                      "long responses (PoolWatchStreams auto)",
                      (unsigned int)ch->proc.pid, r->bytes_sent);
    }
}

/* The request's key for counting: by its parts (pw_key_parts) when it
 * can be, else built by pw_request_key() into buf. Returns 1 for parts. */
static APR_INLINE int request_key(request_rec *r, pw_keyparts_t *kp, char *buf,
                                  apr_uint32_t *hash)
{
    if (eff.key_by == PW_KEYBY_PATH && r->server) {
        const pw_config_t *sc =
            ap_get_module_config(r->server->module_config, &poolwatch_module);

        /* the name hashed in post_config, unless a module changed it */
        if (sc->host.name == r->server->server_hostname &&
            pw_key_parts(kp, r->method, &sc->host,
                         r->parsed_uri.path ? r->parsed_uri.path : r->uri,
                         hash)) {
            return 1;
        }
    }
    *hash = pw_request_key(r, buf);
    return 0;
}

int pw_sample_log_transaction(request_rec *r)
{
    pw_child_t *ch = &child;
    conn_rec *c = r->connection;
    pw_conn_t *pc;
    pw_keyrec_t *rec = NULL;
    pw_keyparts_t kp;
    int fast = 0;
    apr_uint64_t n;
    apr_int64_t growth = 0;
    int measured = 0, sized = 0;
    apr_uint32_t hash = 0;
    char key[PW_KEY_MAX];
    int reader;

    if (!ch->active || r->main) {
        return DECLINED;
    }
    n = __atomic_add_fetch(&ch->me->requests, 1, __ATOMIC_RELAXED);
    /* readers of /poolwatch are not traffic: as a key they would share
     * every interval with the key being watched and take part of its
     * growth in the regression */
    reader =
        r->handler && r->handler[0] == 'p' && !strcmp(r->handler, "poolwatch");
    if (!reader) {
        fast = request_key(r, &kp, key, &hash);
    }
    if (c->master) {
        /* HTTP/2 streams: their pools belong to h2, count the key only */
        if (!reader) {
            pw_verdict_count(fast ? &kp : NULL, key, hash, n, 0, 0);
        }
        return DECLINED;
    }
    pc = ap_get_module_config(c->conn_config, &poolwatch_module);
    /* this thread runs the connection: its pool is ours to read */
    if (pc && ch->walk != PW_WALK_OFF &&
        pw_pool_size_cached(c->pool, &pc->size) == APR_SUCCESS) {
        const pw_pool_size_t *sz = &pc->size.size;

        sized = 1;
        if (++pc->requests >= 2) {
            apr_int64_t g =
                (apr_int64_t)sz->bytes - (apr_int64_t)pc->last_bytes;

            /* a key's first growth on a connection may be set-up: count
             * from its second growth on. Keyed, so that other URLs served
             * in between change nothing */
            measured = 1;
            if (g > 0 && pc->grew_hash != hash) {
                pc->grew_hash = hash;
            } else {
                growth = g;
            }
        }
        pc->last_bytes = sz->bytes;
    } else if (pc) {
        pc->requests++;
    }
    if (!reader) {
        rec =
            pw_verdict_count(fast ? &kp : NULL, key, hash, n, measured, growth);
    }
    if (pc && pc->streams) {
        if (pc->stream.bytes >= PW_STREAM_STEP) {
            pw_stream_end(r, pc, rec); /* a long response: rare */
        }
        pc->stream.bytes = 0; /* the next response starts */
    } else if (r->bytes_sent >= PW_STREAM_STEP && !ch->streams &&
               eff.streams == PW_STREAMS_AUTO) {
        streams_on(ch, r);
    }
    if (ch->thread) {
        /* the sampling thread samples; this thread only can name and
         * measure its connection's pool for the page */
        if (sized && n % (apr_uint64_t)eff.sample_every == 0) {
            note_connection_due(ch, c, pc, &pc->size.size);
        }
        return DECLINED;
    }
    if (!sample_due(ch, n)) {
        return DECLINED;
    }
    if (ch->sampler && apr_thread_mutex_trylock(ch->sampler) != APR_SUCCESS) {
        return DECLINED; /* another thread samples: never wait */
    }
    timed_sample(ch, r, n);
    if (eff.trace) {
        trace_request(ch, r, measured, growth);
    }
    if (ch->sampler) {
        apr_thread_mutex_unlock(ch->sampler);
    }
    return DECLINED;
}

void pw_sample_now(request_rec *r)
{
    pw_child_t *ch = &child;

    if (!ch->active) {
        return;
    }
    /* not the hot path: a reader may wait for the sampling thread */
    if (ch->sampler) {
        apr_thread_mutex_lock(ch->sampler);
    }
    sample(ch, r, apr_atomic_read64(&ch->me->requests), 1);
    if (ch->sampler) {
        apr_thread_mutex_unlock(ch->sampler);
    }
}

apr_uint32_t pw_sample_request_reset(void)
{
    /* the one thing a reader writes: a counter in the header. Each child
     * applies it to its own slot at its next sample */
    return shm_base ? pw_shm_request_reset(shm_base) : 0;
}

apr_status_t pw_sample_snapshot(request_rec *r, pw_snapshot_t *snap)
{
    pw_shm_header_t *h = shm_base;
    apr_uint32_t i, n = 0;
    const pw_slot_t **kids;
    apr_uint32_t *slot_of;
    int threaded = mpm_threaded();

    memset(snap, 0, sizeof(*snap));
    snap->server.version = ap_get_server_description();
    snap->server.mpm = ap_show_mpm();
    snap->server.threaded = threaded;
    snap->server.generation = generation;
    snap->server.walk = child.active ? child.walk : parent_walk;
    snap->server.walk_reason = child.active ? child.walk_reason : parent_reason;
    snap->server.apr_version = apr_version_string();
    snap->server.sample_every = (apr_uint32_t)eff.sample_every;
    snap->server.streams = eff.streams == PW_STREAMS_AUTO ? "auto"
                           : eff.streams == PW_STREAMS_ON ? "on"
                                                          : "off";
    snap->server.sample_interval_ms =
        (apr_uint64_t)(eff.sample_interval / 1000);
    snap->server.rss_interval_ms = (apr_uint64_t)(eff.rss_interval / 1000);
    snap->server.max_pools = (apr_uint32_t)eff.max_pools;
    snap->server.pid = parent_pid;
    snap->server.warmup = (apr_uint32_t)eff.warmup;
    snap->server.key_by = eff.key_by == PW_KEYBY_QUERY  ? "query"
                          : eff.key_by == PW_KEYBY_ENV  ? "env"
                          : eff.key_by == PW_KEYBY_NOTE ? "note"
                                                        : "path";
    snap->pool = r->pool;
    snap->server.now = apr_time_now();
    snap->server.restart_time =
        ap_scoreboard_image ? ap_scoreboard_image->global->restart_time : 0;
    if (h == NULL) {
        return APR_ENOTIMPL;
    }
    snap->server.reset_gen = apr_atomic_read32(&h->reset_gen);
    snap->server.slots = h->nslots;
    snap->server.slots_overflow = apr_atomic_read32(&h->slot_overflow);
    snap->server.shm_bytes = shm_size;
    snap->server.max_pools = h->max_pools;
    snap->server.max_keys = h->max_keys;

    kids = apr_pcalloc(r->pool, h->nslots * sizeof(*kids));
    slot_of = apr_pcalloc(r->pool, h->nslots * sizeof(*slot_of));
    for (i = 0; i < h->nslots; i++) {
        pw_slot_t *s = pw_shm_slot(shm_base, i);
        pw_slot_t *copy;

        if (apr_atomic_read32(&s->owner) == 0) {
            continue;
        }
        copy = apr_palloc(r->pool, h->slot_size);
        if (child.active && (int)i == child.slot && child.sampler) {
            /* our own slot: no writer while we hold the sampler mutex */
            apr_thread_mutex_lock(child.sampler);
            pw_shm_copy_slot(shm_base, i, copy);
            apr_thread_mutex_unlock(child.sampler);
        } else {
            /* a torn copy is still shown (and marked), never dropped: the
             * renderers bound every string they read from it */
            pw_shm_copy_slot(shm_base, i, copy);
        }
        if (copy->owner == 0 || copy->state == PW_SLOT_FREE) {
            continue; /* freed meanwhile */
        }
        if (copy->state == PW_SLOT_RUNNING && !pid_alive(copy->owner)) {
            /* killed (SIGKILL, OOM killer) or crashed: its pchild cleanup
             * never ran, so the slot still says running. Show it as it is,
             * exited at its last sample; the slot is reused as before. */
            copy->state = PW_SLOT_EXITED;
            copy->exited = copy->updated;
        }
        kids[n] = copy;
        slot_of[n] = i;
        n++;
    }
    snap->children = kids;
    snap->slot_of = slot_of;
    snap->nchildren = n;
    return APR_SUCCESS;
}
