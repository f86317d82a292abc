/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_pool: byte-exact sizes of APR pools on a stock release libapr.
 *
 * A release libapr exports no pool size or walk functions, so this reads
 * the pool through a mirror of the release `struct apr_pool_t` layout.
 * The mirror is trusted only after pw_pool_validate() has checked it
 * against APR's public accessors and against the effects of allocations
 * on a probe pool; until then every other call here is refused.
 *
 * Pure APR: no httpd headers, so it is unit-tested in a plain program.
 */
#ifndef PW_POOL_H
#define PW_POOL_H

#include <apr_pools.h>
#include <apr_allocator.h>

#define PW_TAG_MAX  32  /* tag copy, NUL included */
#define PW_PATH_MAX 160 /* "process/pconf/pchild/...", NUL included */

/* Sizes of one pool's own memory (not its children). */
typedef struct pw_pool_size_t {
    apr_size_t bytes;    /* in use: handed out by apr_palloc and friends */
    apr_size_t reserved; /* sum of node sizes held by the pool */
    apr_size_t nodes;    /* nodes in the pool's ring */
} pw_pool_size_t;

/* Validates the layout mirror once per process. `scratch` is a pool the
 * probe pools are created under (they are destroyed again; a failure's
 * reason is allocated from it). Returns APR_SUCCESS
 * when the mirror may be used; otherwise *why says why, in a sentence that
 * is safe to show to an admin. Safe on a foreign layout: pointer values are
 * compared before anything is dereferenced. */
apr_status_t pw_pool_validate(apr_pool_t *scratch, const char **why);

/* Non-zero once pw_pool_validate() has succeeded in this process. */
int pw_pool_usable(void);

/* Forget a previous validation (tests). */
void pw_pool_reset(void);

/* Sizes of `p`'s own ring. The caller must own `p` or hold the mutex of
 * its allocator: another thread may grow or clear it otherwise. */
apr_status_t pw_pool_size(apr_pool_t *p, pw_pool_size_t *out);

/* What pw_pool_size_cached() remembers of one pool. */
typedef struct pw_pool_sizecache_t {
    const void *active;      /* the pool's current node */
    const char *first_avail; /* and where its free space began */
    pw_pool_size_t size;
} pw_pool_sizecache_t;

/* pw_pool_size(), skipping the walk of the node ring when the pool's
 * current node and its fill mark are where they were: every apr_palloc
 * moves one or the other, and a clear moves the fill mark back. O(1) for
 * a pool that did not change, whatever its number of nodes. Same rules of
 * ownership as pw_pool_size(); zero the cache for a new pool. */
apr_status_t pw_pool_size_cached(apr_pool_t *p, pw_pool_sizecache_t *c);

/* Asks the CPU for the lines pw_pool_size_cached() reads first: the pool's
 * mirror fields (deep 0), or the current node's header (deep 1; reads the
 * pool's node pointer, so ask for deep 0 some time before). A prefetch
 * never faults; same ownership rules as pw_pool_size(). */
void pw_pool_prefetch(apr_pool_t *p, int deep);

/* Link fields, read through the mirror (NULL when unusable). */
apr_pool_t *pw_pool_first_child(apr_pool_t *p);
apr_pool_t *pw_pool_next_sibling(apr_pool_t *p);
const char *pw_pool_tag_ptr(apr_pool_t *p);

/* The root of `p`'s tree (apr's global pool in a normal process). */
apr_pool_t *pw_pool_root(apr_pool_t *p);

/* Copies a tag string without trusting the pointer: tags often point into
 * DSOs or pool memory, so an unmapped page gives "?" instead of SIGSEGV.
 * Non-printable characters and '/' become '_'. Returns dst. */
char *pw_tag_copy(char *dst, apr_size_t dstlen, const char *tag);

/* One pool met during a walk. */
typedef struct pw_walk_item_t {
    apr_pool_t *pool;
    const char *tag;  /* sanitized copy (from the walker's cache) */
    const char *path; /* tags from below the root, joined by '/' */
    int depth;        /* 1 for the root's children */
    int opaque;       /* on another allocator: not measured, not entered */
    pw_pool_size_t size;
} pw_walk_item_t;

/* Return non-zero from the callback to skip the pool's children. */
typedef int pw_walk_fn(void *baton, const pw_walk_item_t *item);

#define PW_TAGCACHE_SIZE 128

/* Remembers tag copies by address, so a walk does not re-copy every tag. */
typedef struct pw_tagcache_t {
    const void *addr[PW_TAGCACHE_SIZE];
    char text[PW_TAGCACHE_SIZE][PW_TAG_MAX];
} pw_tagcache_t;

typedef struct pw_walk_t {
    apr_pool_t *root;       /* pools below it are reported */
    apr_allocator_t *only;  /* non-NULL: pools on other allocators are
                                 opaque (threaded MPMs) */
    unsigned int max_depth; /* guards against a corrupt tree */
    unsigned int max_pools; /* stop after this many items */
    pw_tagcache_t *tags;    /* may be NULL: copy every time */
    int lazy_sizes;         /* leave item.size zero: the callback measures
                               (e.g. with pw_pool_size_cached) */
    pw_walk_fn *fn;
    void *baton;
    /* results */
    unsigned int visited;
    unsigned int opaque;
    int truncated; /* max_pools or max_depth was hit */
} pw_walk_t;

/* Depth-first walk of the pools below w->root, parents before children.
 * Single-threaded processes may walk any tree; threaded ones only while
 * holding the mutex of w->only and with w->only set (see the facts note:
 * unlocked walks of other threads' pools crash worker and event). */
apr_status_t pw_pool_walk(pw_walk_t *w);

#endif /* PW_POOL_H */
