/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_pool: reads pool sizes through a validated mirror of the release
 * `struct apr_pool_t`.
 *
 * The idea: a release pool keeps its memory in a ring of apr_memnode_t
 * (public, apr_allocator.h); the bytes a pool has handed out are, summed
 * over the ring, first_avail minus the start of the node's payload. That is
 * exact to the byte, where RSS moves in pages and reserved memory in 8 KiB
 * nodes.
 *
 * The trap: the mirror is a guess about a private struct. Under a
 * pool-debug libapr the same fields hold other things, and dereferencing
 * them crashes. So validation is staged: (1) compare pointer VALUES with
 * what public accessors return and with where the pool must sit in its own
 * first node, touching nothing but the pool struct itself; (2) only then
 * dereference nodes, and check the effects of allocations and a clear on a
 * probe pool. Any mismatch disables the walker for the life of the process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* process_vm_readv, RTLD_DEFAULT */
#endif
#include <sys/uio.h>
#include <unistd.h>
#include <dlfcn.h>
#include <string.h>

#include <apr_strings.h>

#include "pw_pool.h"

/* Mirror of the release (APR_POOL_DEBUG == 0) layout of struct apr_pool_t,
 * APR 1.6 to 1.8 and trunk. Only the field order matters here. */
typedef struct pw_mirror_t pw_mirror_t;
struct pw_mirror_t {
    pw_mirror_t *parent;
    pw_mirror_t *child;
    pw_mirror_t *sibling;
    pw_mirror_t **ref;
    void *cleanups;
    void *free_cleanups;
    apr_allocator_t *allocator;
    void *subprocesses;
    apr_abortfunc_t abort_fn;
    void *user_data;
    const char *tag;
    apr_memnode_t *active;
    apr_memnode_t *self;
    char *self_first_avail;
    void *pre_cleanups;
};

#define PW_MIRROR_SIZE APR_ALIGN_DEFAULT(sizeof(pw_mirror_t))

/* A pool with more nodes than this is taken as a corrupt ring. 64 Ki nodes
 * of 8 KiB is 512 MiB in one pool. */
#define PW_MAX_NODES 65536

/* Distinct sibling tags counted per level to number duplicates. */
#define PW_SIBLINGS_NAMED 16

static int pw_usable = 0;

int pw_pool_usable(void)
{
    return pw_usable;
}

void pw_pool_reset(void)
{
    pw_usable = 0;
}

#define M(p) ((pw_mirror_t *)(void *)(p))

apr_pool_t *pw_pool_first_child(apr_pool_t *p)
{
    return pw_usable && p ? (apr_pool_t *)M(p)->child : NULL;
}

apr_pool_t *pw_pool_next_sibling(apr_pool_t *p)
{
    return pw_usable && p ? (apr_pool_t *)M(p)->sibling : NULL;
}

const char *pw_pool_tag_ptr(apr_pool_t *p)
{
    return pw_usable && p ? M(p)->tag : NULL;
}

apr_pool_t *pw_pool_root(apr_pool_t *p)
{
    apr_pool_t *up;
    unsigned int n = 0;

    /* apr_pool_parent_get is public: no mirror needed */
    while (p && (up = apr_pool_parent_get(p)) != NULL && n++ < 1024) {
        p = up;
    }
    return p;
}

/* Sizes of one ring, no checks: callers have validated the mirror. */
static apr_status_t ring_size(pw_mirror_t *m, pw_pool_size_t *out)
{
    apr_memnode_t *start = m->active, *node = start;
    apr_size_t bytes = 0, reserved = 0, nodes = 0;

    if (node == NULL) {
        return APR_EINVAL;
    }
    do {
        char *payload = (node == m->self) ? m->self_first_avail
                                          : (char *)node + APR_MEMNODE_T_SIZE;

        if (node->first_avail < payload || node->endp < node->first_avail) {
            return APR_EGENERAL; /* not a node we understand */
        }
        bytes += (apr_size_t)(node->first_avail - payload);
        reserved += (apr_size_t)(node->endp - (char *)node);
        node = node->next;
    } while (node != start && node != NULL && ++nodes < PW_MAX_NODES);

    if (node != start) {
        return APR_EGENERAL; /* ring broken or too long */
    }
    out->bytes = bytes;
    out->reserved = reserved;
    out->nodes = nodes + 1;
    return APR_SUCCESS;
}

apr_status_t pw_pool_size(apr_pool_t *p, pw_pool_size_t *out)
{
    if (!pw_usable || p == NULL) {
        return APR_ENOTIMPL;
    }
    return ring_size(M(p), out);
}

apr_status_t pw_pool_size_cached(apr_pool_t *p, pw_pool_sizecache_t *c)
{
    pw_mirror_t *m;
    apr_status_t rv;

    if (!pw_usable || p == NULL) {
        return APR_ENOTIMPL;
    }
    m = M(p);
    if (m->active == NULL) {
        return APR_EINVAL;
    }
    if (c->active == (const void *)m->active &&
        c->first_avail == m->active->first_avail) {
        return APR_SUCCESS; /* nothing allocated or cleared since */
    }
    rv = ring_size(m, &c->size);
    if (rv == APR_SUCCESS) {
        c->active = m->active;
        c->first_avail = m->active->first_avail;
    } else {
        c->active = NULL;
    }
    return rv;
}

void pw_pool_prefetch(apr_pool_t *p, int deep)
{
    pw_mirror_t *m;

    if (!pw_usable || p == NULL) {
        return;
    }
    m = M(p);
    if (!deep) {
        __builtin_prefetch(&m->active);
    } else if (m->active != NULL) {
        __builtin_prefetch(&m->active->first_avail);
    }
}

char *pw_tag_copy(char *dst, apr_size_t dstlen, const char *tag)
{
    struct iovec local, remote;
    ssize_t got;
    apr_size_t i;

    if (dstlen == 0) {
        return dst;
    }
    if (tag == NULL) {
        apr_cpystrn(dst, "(untagged)", dstlen);
        return dst;
    }
    /* process_vm_readv on ourselves fails with EFAULT on an unmapped page
     * (and stops short at the first one) where a plain read would SIGSEGV. */
    local.iov_base = dst;
    local.iov_len = dstlen - 1;
    remote.iov_base = (void *)tag;
    remote.iov_len = dstlen - 1;
    got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (got <= 0) {
        /* the remote range may cross into an unmapped page: retry short */
        remote.iov_len = local.iov_len =
            (apr_size_t)(4096 - ((apr_uintptr_t)tag & 4095));
        if (local.iov_len > dstlen - 1) {
            local.iov_len = remote.iov_len = dstlen - 1;
        }
        got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    }
    if (got <= 0) {
        apr_cpystrn(dst, "?", dstlen);
        return dst;
    }
    dst[got] = '\0';
    for (i = 0; dst[i]; i++) {
        unsigned char c = (unsigned char)dst[i];

        if (c < 0x20 || c > 0x7e || c == '/' || c == '"' || c == '\\') {
            dst[i] = '_';
        }
    }
    if (i == 0) {
        apr_cpystrn(dst, "(empty)", dstlen);
    }
    return dst;
}

static const char *cached_tag(pw_tagcache_t *tc, const char *tag, char *tmp)
{
    unsigned int h;

    if (tc == NULL) {
        return pw_tag_copy(tmp, PW_TAG_MAX, tag);
    }
    h = (unsigned int)(((apr_uintptr_t)tag >> 3) % PW_TAGCACHE_SIZE);
    if (tc->addr[h] != tag || tc->text[h][0] == '\0') {
        pw_tag_copy(tc->text[h], PW_TAG_MAX, tag);
        tc->addr[h] = tag;
    }
    return tc->text[h];
}

/* FNV-1a of a tag copy (at most PW_TAG_MAX bytes). */
static apr_uint32_t tag_hash(const char *t)
{
    apr_uint32_t h = 2166136261u;

    while (*t) {
        h = (h ^ (unsigned char)*t++) * 16777619u;
    }
    return h;
}

static void walk_level(pw_walk_t *w, pw_mirror_t *parent, char *path,
                       apr_size_t plen, int depth)
{
    pw_mirror_t *c;
    char tmp[PW_TAG_MAX], suffix[16];
    /* distinct sibling tags met so far: by tag pointer (siblings of one
     * kind share a literal), else by a hash of the text. Not the cached
     * text itself: a later tag may take over its cache slot */
    const char *sibraw[PW_SIBLINGS_NAMED];
    apr_uint32_t sibhash[PW_SIBLINGS_NAMED];
    unsigned int sibn[PW_SIBLINGS_NAMED];
    unsigned int nsib = 0, k, dup, pos = 0;
    apr_uint32_t hash;

    if ((unsigned int)depth > w->max_depth) {
        w->truncated = 1;
        return;
    }
    for (c = parent->child; c != NULL; c = c->sibling) {
        pw_walk_item_t item;
        apr_size_t tlen, slen, nlen;
        const char *raw;
        int skip = 0;

        if (w->visited >= w->max_pools) {
            w->truncated = 1;
            return;
        }
        w->visited++;
        memset(&item, 0, sizeof(item));
        item.pool = (apr_pool_t *)c;
        item.depth = depth;
        if (w->only && c->allocator != w->only) {
            /* another thread's allocator: its nodes and children may be
             * freed under us, so read nothing but the link fields */
            item.opaque = 1;
            item.tag = "(opaque)";
            raw = item.tag;
            w->opaque++;
        } else {
            raw = c->tag;
            item.tag = cached_tag(w->tags, raw, tmp);
            if (!w->lazy_sizes && ring_size(c, &item.size) != APR_SUCCESS) {
                item.opaque = 1;
                w->opaque++;
            }
        }
        /* siblings with one tag (per-thread pools, untagged ones) get
         * "#2", "#3"... so that each path names one pool; once the table
         * is full, a tag it does not hold is named by its position, which
         * is unique too */
        dup = 0;
        hash = tag_hash(item.tag);
        for (k = 0; k < nsib; k++) {
            if (sibraw[k] == raw || sibhash[k] == hash) {
                dup = ++sibn[k];
                break;
            }
        }
        if (k == nsib) {
            if (nsib < PW_SIBLINGS_NAMED) {
                sibraw[nsib] = raw;
                sibhash[nsib] = hash;
                sibn[nsib++] = dup = 1;
            } else {
                dup = 0;
            }
        }
        pos++;
        suffix[0] = '\0';
        if (dup > 1) {
            apr_snprintf(suffix, sizeof(suffix), "#%u", dup);
        } else if (dup == 0) {
            apr_snprintf(suffix, sizeof(suffix), "@%u", pos);
        }
        tlen = strlen(item.tag);
        slen = strlen(suffix);
        nlen = plen + (plen ? 1 : 0) + tlen + slen;
        if (nlen < PW_PATH_MAX) {
            char *at = path + plen;

            if (plen) {
                *at++ = '/';
            }
            memcpy(at, item.tag, tlen);
            memcpy(at + tlen, suffix, slen + 1);
        } else {
            nlen = plen; /* too deep to name: keep the parent's path */
            w->truncated = 1;
        }
        item.path = path;
        if (w->fn) {
            skip = w->fn(w->baton, &item);
        }
        if (!skip && !item.opaque && c->child) {
            walk_level(w, c, path, nlen, depth + 1);
        }
        path[plen] = '\0';
    }
}

apr_status_t pw_pool_walk(pw_walk_t *w)
{
    char path[PW_PATH_MAX];

    w->visited = w->opaque = 0;
    w->truncated = 0;
    if (!pw_usable || w->root == NULL) {
        return APR_ENOTIMPL;
    }
    if (w->max_depth == 0) {
        w->max_depth = 32;
    }
    if (w->max_pools == 0) {
        w->max_pools = 100000;
    }
    path[0] = '\0';
    walk_level(w, M(w->root), path, 0, 1);
    return APR_SUCCESS;
}

static apr_status_t probe_abort(int retcode)
{
    return retcode;
}

/* Stage 1: pointer values only. Reads nothing but the pool structs. */
static const char *check_values(apr_pool_t *p, apr_pool_t *c, const char *tag)
{
    pw_mirror_t *m = M(p), *mc = M(c);

    if ((apr_pool_t *)m->parent != apr_pool_parent_get(p)) {
        return "parent field does not match apr_pool_parent_get()";
    }
    if (m->allocator != apr_pool_allocator_get(p)) {
        return "allocator field does not match apr_pool_allocator_get()";
    }
    if (m->abort_fn != apr_pool_abort_get(p) || m->abort_fn != probe_abort) {
        return "abort_fn field does not match apr_pool_abort_get()";
    }
    if (m->tag != tag) {
        return "tag field does not hold the pointer given to apr_pool_tag()";
    }
    if ((apr_pool_t *)m->child != c || (apr_pool_t *)mc->parent != p ||
        mc->sibling != NULL || mc->child != NULL) {
        return "child/sibling links do not match the probe's tree";
    }
    /* the fields above sit at the same offsets in the pool-debug layout;
     * these below do not, and they prove the release layout */
    if (m->active != m->self) {
        return "fresh pool: active node is not the pool's own node";
    }
    if ((char *)m->self + APR_MEMNODE_T_SIZE != (char *)p) {
        return "pool struct does not follow its own memnode";
    }
    if (m->self_first_avail != (char *)p + PW_MIRROR_SIZE) {
        return "self_first_avail does not follow the pool struct";
    }
    if (mc->active != mc->self ||
        (char *)mc->self + APR_MEMNODE_T_SIZE != (char *)c) {
        return "child pool's own node is not where the layout puts it";
    }
    return NULL;
}

/* Stage 2: nodes, and the effects of allocating and clearing. */
static const char *check_effects(apr_pool_t *p)
{
    pw_mirror_t *m = M(p);
    pw_pool_size_t s0, s1, s2, s3;
    char *a, *big;
    apr_size_t want;

    if (m->self->first_avail != m->self_first_avail ||
        m->self->endp <= m->self->first_avail || m->self->next != m->self) {
        return "fresh pool's node is not empty and alone in its ring";
    }
    if (ring_size(m, &s0) != APR_SUCCESS || s0.bytes != 0 || s0.nodes != 1) {
        return "fresh pool does not measure 0 bytes in 1 node";
    }
    a = apr_palloc(p, 100);
    if (ring_size(m, &s1) != APR_SUCCESS ||
        s1.bytes != APR_ALIGN_DEFAULT(100) || a != m->self_first_avail) {
        return "apr_palloc(100) did not advance first_avail by 104";
    }
    /* more than the pool's own node has left: the allocator may have
     * handed the probe a recycled node bigger than 8 KiB */
    want = (apr_size_t)(m->self->endp - m->self->first_avail);
    want = APR_ALIGN_DEFAULT(want < 20000 ? 20000 : want + 4096);
    big = apr_palloc(p, want);
    if (ring_size(m, &s2) != APR_SUCCESS || s2.nodes != 2 ||
        s2.bytes != s1.bytes + want || m->active == m->self ||
        (char *)m->active + APR_MEMNODE_T_SIZE != big ||
        s2.reserved < s1.reserved + want + APR_MEMNODE_T_SIZE) {
        return "an apr_palloc larger than the free space did not add a "
               "node to the ring";
    }
    apr_pool_clear(p);
    if (ring_size(m, &s3) != APR_SUCCESS || s3.bytes != 0 || s3.nodes != 1 ||
        m->active != m->self) {
        return "apr_pool_clear() did not reset the ring to the pool's node";
    }
    return NULL;
}

apr_status_t pw_pool_validate(apr_pool_t *scratch, const char **why)
{
    static const char probe_tag[] = "poolwatch-probe";
    apr_pool_t *p = NULL, *c = NULL;
    const char *err;

    pw_usable = 0;
    if (dlsym(RTLD_DEFAULT, "apr_pool_num_bytes") != NULL ||
        dlsym(RTLD_DEFAULT, "apr_pool_walk_tree") != NULL) {
        *why = "libapr is a pool-debug build (it exports apr_pool_num_bytes)";
        return APR_ENOTIMPL;
    }
    if (apr_pool_create_ex(&p, scratch, probe_abort, NULL) != APR_SUCCESS) {
        *why = "could not create a probe pool";
        return APR_ENOMEM;
    }
    apr_pool_tag(p, probe_tag);
    if (apr_pool_create(&c, p) != APR_SUCCESS) {
        apr_pool_destroy(p);
        *why = "could not create a probe pool";
        return APR_ENOMEM;
    }
    err = check_values(p, c, probe_tag);
    if (err == NULL) {
        apr_pool_destroy(c);
        if (M(p)->child != NULL) {
            err = "apr_pool_destroy() did not unlink the child";
        } else {
            err = check_effects(p);
        }
    }
    apr_pool_destroy(p);
    if (err) {
        *why = apr_pstrcat(scratch, "pool layout not recognised: ", err, NULL);
        return APR_EGENERAL;
    }
    pw_usable = 1;
    *why = "release apr_pool_t layout validated";
    return APR_SUCCESS;
}
