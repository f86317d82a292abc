/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_pool: pw_pool on real pools of the installed release libapr.
 *
 * Every test gets a fresh root pool (a child of APR's global pool) and a
 * validated mirror. Sizes are checked against what apr_palloc() promises:
 * each allocation takes APR_ALIGN_DEFAULT(n) bytes, nodes are multiples of
 * 4 KiB. A node may come off the allocator's free list bigger than asked
 * (APR hands out the smallest free node that fits), so reserved sizes are
 * checked for steps and bounds, never for one exact figure.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_version.h>

#include "pw_pool.h"
#include "pw_unit.h"

#define NODE_STEP 4096 /* APR's BOUNDARY_SIZE */

static apr_pool_t *root;

static void setup(void)
{
    const char *why = NULL;

    ck_assert_int_eq(apr_pool_create(&root, NULL), APR_SUCCESS);
    apr_pool_tag(root, "unit-root");
    ck_assert_msg(pw_pool_validate(root, &why) == APR_SUCCESS,
                  "pw_pool_validate: %s", why);
}

static void teardown(void)
{
    pw_unit_corrupt_disarm();
    apr_pool_destroy(root);
    root = NULL;
}

static apr_pool_t *new_pool(apr_pool_t *parent, const char *tag)
{
    apr_pool_t *p = NULL;

    ck_assert_int_eq(apr_pool_create(&p, parent), APR_SUCCESS);
    if (tag) {
        apr_pool_tag(p, tag);
    }
    return p;
}

static pw_pool_size_t size_of(apr_pool_t *p)
{
    pw_pool_size_t s;

    memset(&s, 0xff, sizeof(s));
    ck_assert_int_eq(pw_pool_size(p, &s), APR_SUCCESS);
    return s;
}

/* Invariants of any release pool's figures. */
static void check_shape(const pw_pool_size_t *s)
{
    ck_assert_uint_ge(s->nodes, 1);
    ck_assert_uint_eq(s->reserved % NODE_STEP, 0);
    /* each node holds its own memnode header, the first one the pool */
    ck_assert_uint_ge(s->reserved, s->bytes + s->nodes * APR_MEMNODE_T_SIZE +
                                       APR_ALIGN_DEFAULT(sizeof(void *) * 15));
}

/* ---- validation ------------------------------------------------------ */

START_TEST(test_validate_release_apr)
{
    const char *why = NULL;
    pw_pool_size_t before, after;

    ck_assert_int_eq(APR_MAJOR_VERSION, 1);
    ck_assert_int_eq(pw_pool_usable(), 1);

    pw_pool_reset();
    ck_assert_int_eq(pw_pool_usable(), 0);
    ck_assert_int_eq(pw_pool_validate(root, &why), APR_SUCCESS);
    ck_assert_int_eq(pw_pool_usable(), 1);
    ck_assert_ptr_nonnull(why);
    ck_assert_str_eq(why, "release apr_pool_t layout validated");

    /* the scratch pool is left as it was: no bytes, no probe left below */
    before = size_of(root);
    ck_assert_int_eq(pw_pool_validate(root, &why), APR_SUCCESS);
    after = size_of(root);
    ck_assert_uint_eq(after.bytes, before.bytes);
    ck_assert_uint_eq(after.nodes, before.nodes);
    ck_assert_ptr_null(pw_pool_first_child(root));
}
END_TEST

/* APR's allocator hands a new pool the smallest FREE node that fits, which
 * may be larger than 8 KiB. Here the only free node is 20 KiB, so the probe
 * pool gets it as its own node, and a 20000-byte apr_palloc() then fits in
 * that node: the layout is the release one all the same. */
START_TEST(test_validate_with_big_free_node)
{
    apr_allocator_t *al = NULL;
    apr_pool_t *scratch = NULL, *probe;
    const char *why = NULL;
    apr_status_t rv;

    ck_assert_int_eq(apr_allocator_create(&al), APR_SUCCESS);
    ck_assert_int_eq(apr_pool_create_ex(&scratch, root, NULL, al), APR_SUCCESS);
    apr_allocator_owner_set(al, scratch);
    apr_pool_tag(scratch, "scratch");
    apr_palloc(scratch, 20000); /* a second node, of 20 KiB */
    apr_pool_clear(scratch);    /* back to the allocator's free list */

    /* the premise: a new pool below scratch gets the 20 KiB node */
    probe = new_pool(scratch, "premise");
    ck_assert_uint_gt(size_of(probe).reserved, 8192);
    apr_pool_destroy(probe); /* and gives it back */

    rv = pw_pool_validate(scratch, &why);
    ck_assert_msg(rv == APR_SUCCESS, "validate after a big free node: %s", why);
    ck_assert_int_eq(pw_pool_usable(), 1);
}
END_TEST

/* Mirrors that must be refused, each as a foreign layout would present
 * it. The pointers lead to a PROT_NONE page: refusing must not touch it. */
static const struct {
    const char *name;
    unsigned int mask;
    int to_guard; /* value: the guard page; else shift by delta */
    apr_ssize_t delta;
    const char *why;
} bad_layouts[] = {
    {"allocator accessor", 0, 1, 0, "allocator field"},
    {"self", 1u << PW_UNIT_F_SELF, 1, 0,
     "active node is not the pool's own node"},
    {"active", 1u << PW_UNIT_F_ACTIVE, 1, 0,
     "active node is not the pool's own node"},
    {"active+self", (1u << PW_UNIT_F_ACTIVE) | (1u << PW_UNIT_F_SELF), 1, 0,
     "pool struct does not follow its own memnode"},
    {"self_first_avail+8", 1u << PW_UNIT_F_SELF_FIRST_AVAIL, 0, 8,
     "self_first_avail does not follow the pool struct"},
    {"self_first_avail-8", 1u << PW_UNIT_F_SELF_FIRST_AVAIL, 0, -8,
     "self_first_avail does not follow the pool struct"},
};

START_TEST(test_validate_refuses_foreign_layout)
{
    pw_unit_corruption_t c;
    const char *why = NULL;
    char *guard = pw_unit_guard_page(0);
    pw_pool_size_t s;
    pw_walk_t w;
    apr_status_t rv;

    memset(&c, 0, sizeof(c));
    c.mask = bad_layouts[_i].mask;
    c.value = bad_layouts[_i].to_guard ? guard : NULL;
    c.delta = bad_layouts[_i].delta;
    c.lie_allocator = bad_layouts[_i].mask == 0;

    ck_assert_int_eq(pw_pool_usable(), 1); /* a refusal must also revoke */
    pw_unit_corrupt_arm(&c);
    rv = pw_pool_validate(root, &why);
    pw_unit_corrupt_disarm();

    ck_assert_msg(pw_unit_corrupt_hits() == 1, "%s: probe pool not seen",
                  bad_layouts[_i].name);
    ck_assert_msg(!pw_unit_corrupt_pending(), "%s: probe pool not destroyed",
                  bad_layouts[_i].name);
    ck_assert_msg(rv == APR_EGENERAL, "%s: validate returned %d (%s)",
                  bad_layouts[_i].name, rv, why ? why : "NULL");
    ck_assert_int_eq(pw_pool_usable(), 0);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "pool layout not recognised: ") == why &&
                      strstr(why, bad_layouts[_i].why) != NULL,
                  "%s: unexpected reason \"%s\"", bad_layouts[_i].name, why);

    /* refused: nothing reads through the mirror any more */
    ck_assert_int_eq(pw_pool_size(root, &s), APR_ENOTIMPL);
    memset(&w, 0, sizeof(w));
    w.root = root;
    ck_assert_int_eq(pw_pool_walk(&w), APR_ENOTIMPL);

    /* and a later validation on the real layout recovers */
    ck_assert_int_eq(pw_pool_validate(root, &why), APR_SUCCESS);
    ck_assert_int_eq(pw_pool_usable(), 1);
    pw_unit_guard_free(guard, 0);
}
END_TEST

static int count_item(void *baton, const pw_walk_item_t *item)
{
    (*(int *)baton)++;
    return 0;
}

START_TEST(test_unusable_refuses)
{
    apr_pool_t *a = new_pool(root, "a");
    pw_pool_size_t s;
    pw_walk_t w;
    char tag[PW_TAG_MAX];
    int calls = 0;

    pw_pool_reset();
    ck_assert_int_eq(pw_pool_usable(), 0);
    ck_assert_int_eq(pw_pool_size(a, &s), APR_ENOTIMPL);
    ck_assert_ptr_null(pw_pool_first_child(root));
    ck_assert_ptr_null(pw_pool_next_sibling(a));
    ck_assert_ptr_null(pw_pool_tag_ptr(a));

    memset(&w, 0, sizeof(w));
    w.root = root;
    w.fn = count_item;
    w.baton = &calls;
    w.visited = 7;
    w.truncated = 1;
    ck_assert_int_eq(pw_pool_walk(&w), APR_ENOTIMPL);
    ck_assert_int_eq(calls, 0);
    ck_assert_uint_eq(w.visited, 0);
    ck_assert_int_eq(w.truncated, 0);

    /* what needs no mirror still works */
    ck_assert_ptr_eq(pw_pool_root(a), pw_pool_root(root));
    ck_assert_str_eq(pw_tag_copy(tag, sizeof(tag), "x"), "x");
}
END_TEST

START_TEST(test_null_arguments)
{
    pw_pool_size_t s;
    pw_walk_t w;

    ck_assert_int_eq(pw_pool_size(NULL, &s), APR_ENOTIMPL);
    ck_assert_ptr_null(pw_pool_first_child(NULL));
    ck_assert_ptr_null(pw_pool_next_sibling(NULL));
    ck_assert_ptr_null(pw_pool_tag_ptr(NULL));
    ck_assert_ptr_null(pw_pool_root(NULL));
    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(pw_pool_walk(&w), APR_ENOTIMPL);
}
END_TEST

/* ---- sizes ----------------------------------------------------------- */

static const apr_size_t palloc_sizes[] = {1,    7,    8,     100,   1000,
                                          4000, 8000, 20000, 100000};
#define NSIZES (sizeof(palloc_sizes) / sizeof(palloc_sizes[0]))

START_TEST(test_size_exact)
{
    apr_size_t n = palloc_sizes[_i];
    apr_pool_t *p = new_pool(root, "exact");
    pw_pool_size_t s0, s1, s2;
    char *mem;

    s0 = size_of(p);
    ck_assert_uint_eq(s0.bytes, 0);
    ck_assert_uint_eq(s0.nodes, 1);
    check_shape(&s0);

    mem = apr_palloc(p, n);
    ck_assert_ptr_nonnull(mem);
    memset(mem, 0xa5, n);
    s1 = size_of(p);
    ck_assert_msg(s1.bytes == APR_ALIGN_DEFAULT(n),
                  "palloc %zu: bytes %zu, want %zu", (size_t)n,
                  (size_t)s1.bytes, (size_t)APR_ALIGN_DEFAULT(n));
    check_shape(&s1);
    ck_assert_uint_ge(s1.reserved, s0.reserved);
    ck_assert_uint_eq((s1.reserved - s0.reserved) % NODE_STEP, 0);

    /* the same again: exact sums, whatever node it lands in */
    mem = apr_palloc(p, n);
    memset(mem, 0x5a, n);
    s2 = size_of(p);
    ck_assert_uint_eq(s2.bytes, 2 * APR_ALIGN_DEFAULT(n));
    check_shape(&s2);

    /* a clear leaves the pool's own node, empty */
    apr_pool_clear(p);
    s2 = size_of(p);
    ck_assert_uint_eq(s2.bytes, 0);
    ck_assert_uint_eq(s2.nodes, 1);
    ck_assert_uint_eq(s2.reserved, s0.reserved);
}
END_TEST

/* The size cache: a pool that nothing touched is answered from it; an
 * allocation, a new node or a clear moves the pool's mark and the next
 * answer is measured again, exactly. */
START_TEST(test_size_cached)
{
    apr_pool_t *p = new_pool(root, "cached");
    pw_pool_sizecache_t c;
    pw_pool_size_t s;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(pw_pool_size_cached(p, &c), APR_SUCCESS);
    ck_assert_uint_eq(c.size.bytes, 0);
    ck_assert_ptr_nonnull(c.active);
    ck_assert_int_eq(pw_pool_size_cached(p, &c), APR_SUCCESS);
    ck_assert_uint_eq(c.size.bytes, 0);

    apr_palloc(p, 100);
    ck_assert_int_eq(pw_pool_size_cached(p, &c), APR_SUCCESS);
    ck_assert_uint_eq(c.size.bytes, 104);

    apr_palloc(p, 3 * NODE_STEP); /* a node of its own */
    ck_assert_int_eq(pw_pool_size_cached(p, &c), APR_SUCCESS);
    s = size_of(p);
    ck_assert_uint_eq(c.size.bytes, s.bytes);
    ck_assert_uint_eq(c.size.nodes, s.nodes);
    ck_assert_uint_eq(c.size.reserved, s.reserved);

    apr_pool_clear(p);
    ck_assert_int_eq(pw_pool_size_cached(p, &c), APR_SUCCESS);
    ck_assert_uint_eq(c.size.bytes, 0);
    ck_assert_uint_eq(c.size.nodes, 1);
    ck_assert_int_eq(pw_pool_size_cached(NULL, &c), APR_ENOTIMPL);
}
END_TEST

START_TEST(test_size_sums)
{
    apr_pool_t *p = new_pool(root, "sums");
    apr_size_t want = 0, prev_reserved;
    pw_pool_size_t s;
    unsigned int i, round;

    s = size_of(p);
    prev_reserved = s.reserved;
    for (round = 0; round < 3; round++) {
        for (i = 0; i < NSIZES; i++) {
            apr_size_t n = palloc_sizes[(i + round) % NSIZES];

            memset(apr_palloc(p, n), 1, n);
            want += APR_ALIGN_DEFAULT(n);
            s = size_of(p);
            ck_assert_uint_eq(s.bytes, want);
            check_shape(&s);
            /* reserved only grows, in node steps */
            ck_assert_uint_ge(s.reserved, prev_reserved);
            ck_assert_uint_eq((s.reserved - prev_reserved) % NODE_STEP, 0);
            prev_reserved = s.reserved;
        }
    }
    ck_assert_uint_gt(s.nodes, 1);

    /* other allocating calls count the same way */
    apr_pstrdup(p, "hello");        /* 6 -> 8 */
    apr_pcalloc(p, 13);             /* 13 -> 16 */
    apr_psprintf(p, "%d", 1234567); /* 8 -> 8 */
    want += 8 + 16 + 8;
    s = size_of(p);
    ck_assert_uint_eq(s.bytes, want);

    apr_pool_clear(p);
    s = size_of(p);
    ck_assert_uint_eq(s.bytes, 0);
    ck_assert_uint_eq(s.nodes, 1);
    check_shape(&s);
}
END_TEST

START_TEST(test_size_own_memory_only)
{
    apr_pool_t *p = new_pool(root, "parent");
    apr_pool_t *c = new_pool(p, "child");

    apr_palloc(p, 100);
    apr_palloc(c, 50000);
    ck_assert_uint_eq(size_of(p).bytes, 104);
    ck_assert_uint_eq(size_of(c).bytes, 50000);
    /* destroying the child gives nothing back to the parent's figures */
    apr_pool_destroy(c);
    ck_assert_uint_eq(size_of(p).bytes, 104);
}
END_TEST

/* ---- links ----------------------------------------------------------- */

START_TEST(test_links)
{
    static const char tag_a[] = "a", tag_b[] = "b";
    apr_pool_t *a = new_pool(root, tag_a);
    apr_pool_t *b = new_pool(root, tag_b);
    apr_pool_t *c = new_pool(a, NULL);
    apr_pool_t *top;

    /* APR puts a new child first in its parent's list */
    ck_assert_ptr_eq(pw_pool_first_child(root), b);
    ck_assert_ptr_eq(pw_pool_next_sibling(b), a);
    ck_assert_ptr_null(pw_pool_next_sibling(a));
    ck_assert_ptr_eq(pw_pool_first_child(a), c);
    ck_assert_ptr_null(pw_pool_first_child(c));
    ck_assert_ptr_eq(pw_pool_tag_ptr(a), tag_a);
    ck_assert_ptr_eq(pw_pool_tag_ptr(b), tag_b);
    ck_assert_ptr_null(pw_pool_tag_ptr(c));

    top = pw_pool_root(c);
    ck_assert_ptr_nonnull(top);
    ck_assert_ptr_null(apr_pool_parent_get(top));
    ck_assert_ptr_eq(apr_pool_parent_get(root), top); /* APR's global pool */
    ck_assert_ptr_eq(pw_pool_root(root), top);
    ck_assert_ptr_eq(pw_pool_root(top), top);
}
END_TEST

/* ---- walk ------------------------------------------------------------ */

#define MAX_ITEMS 64

typedef struct seen_t {
    apr_pool_t *pool;
    char tag[PW_TAG_MAX];
    char path[PW_PATH_MAX];
    int depth;
    int opaque;
    pw_pool_size_t size;
} seen_t;

typedef struct walklog_t {
    int n;
    const char *skip; /* path whose children the callback skips */
    seen_t items[MAX_ITEMS];
} walklog_t;

static int log_item(void *baton, const pw_walk_item_t *item)
{
    walklog_t *log = baton;
    seen_t *s;

    ck_assert_int_lt(log->n, MAX_ITEMS);
    ck_assert_ptr_nonnull(item->tag);
    ck_assert_ptr_nonnull(item->path);
    ck_assert_uint_lt(strlen(item->tag), PW_TAG_MAX);
    ck_assert_uint_lt(strlen(item->path), PW_PATH_MAX);
    s = &log->items[log->n++];
    s->pool = item->pool;
    strcpy(s->tag, item->tag);
    strcpy(s->path, item->path);
    s->depth = item->depth;
    s->opaque = item->opaque;
    s->size = item->size;
    return log->skip && strcmp(item->path, log->skip) == 0;
}

static int find_path(const walklog_t *log, const char *path)
{
    int i;

    for (i = 0; i < log->n; i++) {
        if (strcmp(log->items[i].path, path) == 0) {
            return i;
        }
    }
    return -1;
}

static void walk_init(pw_walk_t *w, walklog_t *log)
{
    memset(w, 0, sizeof(*w));
    memset(log, 0, sizeof(*log));
    w->root = root;
    w->fn = log_item;
    w->baton = log;
}

/* root
 *  +- a          104 B
 *  |   +- b      1000 B
 *  |   |   +- c  8 B
 *  |   +- b2     0 B
 *  +- x/y        20000 B   (tag sanitized to "x_y")
 *  +- (untagged) 24 B
 */
static struct {
    apr_pool_t *a, *b, *c, *b2, *xy, *untagged;
} tree;

static void build_tree(void)
{
    tree.a = new_pool(root, "a");
    tree.b = new_pool(tree.a, "b");
    tree.c = new_pool(tree.b, "c");
    tree.b2 = new_pool(tree.a, "b2");
    tree.xy = new_pool(root, "x/y");
    tree.untagged = new_pool(root, NULL);
    apr_palloc(tree.a, 100);
    apr_palloc(tree.b, 1000);
    apr_palloc(tree.c, 7);
    apr_palloc(tree.xy, 20000);
    apr_palloc(tree.untagged, 20);
}

static const struct {
    const char *path;
    int depth;
    apr_size_t bytes;
} tree_want[] = {
    {"a", 1, 104},  {"a/b", 2, 1000},  {"a/b/c", 3, 8},
    {"a/b2", 2, 0}, {"x_y", 1, 20000}, {"(untagged)", 1, 24},
};
#define TREE_POOLS ((int)(sizeof(tree_want) / sizeof(tree_want[0])))

static void check_tree_log(const walklog_t *log)
{
    int i;

    for (i = 0; i < TREE_POOLS; i++) {
        int k = find_path(log, tree_want[i].path);

        ck_assert_msg(k >= 0, "path %s not reported", tree_want[i].path);
        ck_assert_int_eq(log->items[k].depth, tree_want[i].depth);
        ck_assert_int_eq(log->items[k].opaque, 0);
        ck_assert_uint_eq(log->items[k].size.bytes, tree_want[i].bytes);
        /* the walk measures each pool as pw_pool_size() does */
        ck_assert_uint_eq(log->items[k].size.reserved,
                          size_of(log->items[k].pool).reserved);
        ck_assert_uint_eq(log->items[k].size.nodes,
                          size_of(log->items[k].pool).nodes);
    }
    /* parents before children */
    ck_assert_int_lt(find_path(log, "a"), find_path(log, "a/b"));
    ck_assert_int_lt(find_path(log, "a/b"), find_path(log, "a/b/c"));
    ck_assert_int_lt(find_path(log, "a"), find_path(log, "a/b2"));
    ck_assert_ptr_eq(log->items[find_path(log, "a/b/c")].pool, tree.c);
    ck_assert_str_eq(log->items[find_path(log, "a/b/c")].tag, "c");
    ck_assert_str_eq(log->items[find_path(log, "x_y")].tag, "x_y");
}

START_TEST(test_walk_tree)
{
    pw_walk_t w;
    walklog_t log;

    build_tree();
    walk_init(&w, &log);
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, TREE_POOLS);
    ck_assert_uint_eq(w.visited, TREE_POOLS);
    ck_assert_uint_eq(w.opaque, 0);
    ck_assert_int_eq(w.truncated, 0);
    check_tree_log(&log);
}
END_TEST

START_TEST(test_walk_tag_cache)
{
    pw_tagcache_t *tc = apr_pcalloc(root, sizeof(*tc));
    pw_walk_t w;
    walklog_t log;
    int round;

    build_tree();
    for (round = 0; round < 2; round++) { /* fill, then hit the cache */
        walk_init(&w, &log);
        w.tags = tc;
        ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
        ck_assert_int_eq(log.n, TREE_POOLS);
        check_tree_log(&log);
    }
}
END_TEST

START_TEST(test_walk_max_pools)
{
    pw_walk_t w;
    walklog_t log;

    build_tree();
    walk_init(&w, &log);
    w.max_pools = 3;
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 3);
    ck_assert_uint_eq(w.visited, 3);
    ck_assert_int_eq(w.truncated, 1);

    /* exactly enough is not truncated */
    walk_init(&w, &log);
    w.max_pools = TREE_POOLS;
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, TREE_POOLS);
    ck_assert_int_eq(w.truncated, 0);
}
END_TEST

START_TEST(test_walk_max_depth)
{
    pw_walk_t w;
    walklog_t log;

    build_tree();
    walk_init(&w, &log);
    w.max_depth = 2;
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, TREE_POOLS - 1);
    ck_assert_int_lt(find_path(&log, "a/b/c"), 0);
    ck_assert_int_ge(find_path(&log, "a/b"), 0);
    ck_assert_int_eq(w.truncated, 1);

    walk_init(&w, &log);
    w.max_depth = 1;
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 3); /* a, x_y, (untagged) */
    ck_assert_int_eq(w.truncated, 1);

    walk_init(&w, &log);
    w.max_depth = 3;
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, TREE_POOLS);
    ck_assert_int_eq(w.truncated, 0);
}
END_TEST

START_TEST(test_walk_skip_children)
{
    pw_walk_t w;
    walklog_t log;

    build_tree();
    walk_init(&w, &log);
    log.skip = "a";
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 3);
    ck_assert_int_ge(find_path(&log, "a"), 0); /* reported itself */
    ck_assert_int_lt(find_path(&log, "a/b"), 0);
    ck_assert_int_lt(find_path(&log, "a/b2"), 0);
    ck_assert_int_ge(find_path(&log, "x_y"), 0);
    ck_assert_int_eq(w.truncated, 0);

    walk_init(&w, &log);
    log.skip = "a/b";
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, TREE_POOLS - 1);
    ck_assert_int_lt(find_path(&log, "a/b/c"), 0);
    ck_assert_int_ge(find_path(&log, "a/b2"), 0);
}
END_TEST

START_TEST(test_walk_only_allocator)
{
    apr_allocator_t *al = NULL;
    apr_pool_t *own = NULL, *inner;
    pw_walk_t w;
    walklog_t log;
    int k;

    build_tree();
    /* a pool on its own allocator, as a threaded MPM's ptrans */
    ck_assert_int_eq(apr_allocator_create(&al), APR_SUCCESS);
    ck_assert_int_eq(apr_pool_create_ex(&own, root, NULL, al), APR_SUCCESS);
    apr_allocator_owner_set(al, own);
    apr_pool_tag(own, "own");
    inner = new_pool(own, "inner");
    apr_palloc(own, 500);
    apr_palloc(inner, 500);

    /* without `only` it is measured and entered like the rest */
    walk_init(&w, &log);
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, TREE_POOLS + 2);
    ck_assert_int_ge(find_path(&log, "own/inner"), 0);
    ck_assert_uint_eq(log.items[find_path(&log, "own")].size.bytes, 504);

    walk_init(&w, &log);
    w.only = apr_pool_allocator_get(root);
    ck_assert_ptr_ne(w.only, al);
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, TREE_POOLS + 1);
    ck_assert_uint_eq(w.visited, TREE_POOLS + 1);
    ck_assert_uint_eq(w.opaque, 1);
    ck_assert_int_eq(w.truncated, 0);
    check_tree_log(&log);
    for (k = 0; k < log.n; k++) {
        ck_assert_ptr_ne(log.items[k].pool, inner); /* not entered */
        if (log.items[k].pool == own) {
            break;
        }
    }
    ck_assert_int_lt(k, log.n);
    ck_assert_int_eq(log.items[k].opaque, 1);
    ck_assert_uint_eq(log.items[k].size.bytes, 0); /* not measured */
    ck_assert_uint_eq(log.items[k].size.nodes, 0);
    ck_assert_int_eq(log.items[k].depth, 1);
}
END_TEST

START_TEST(test_walk_long_paths)
{
    static const char *tags[] = {
        "0123456789012345678901234567890", "1123456789012345678901234567890",
        "2123456789012345678901234567890", "3123456789012345678901234567890",
        "4123456789012345678901234567890", "5123456789012345678901234567890",
        "6123456789012345678901234567890", "7123456789012345678901234567890",
    };
    apr_pool_t *p = root;
    pw_walk_t w;
    walklog_t log;
    int i;

    for (i = 0; i < 8; i++) {
        p = new_pool(p, tags[i]);
    }
    walk_init(&w, &log);
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 8); /* all met, even those too deep to name */
    ck_assert_int_eq(w.truncated, 1);
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(log.items[i].depth, i + 1);
        ck_assert_str_eq(log.items[i].tag, tags[i]);
    }
    /* 5 tags of 31 plus 4 slashes fit in 160; the 6th does not */
    ck_assert_uint_eq(strlen(log.items[4].path), 5 * 31 + 4);
    ck_assert_uint_lt(strlen(log.items[5].path), PW_PATH_MAX);
}
END_TEST

static void check_paths_unique(const walklog_t *log)
{
    int i, j;

    for (i = 0; i < log->n; i++) {
        for (j = 0; j < i; j++) {
            ck_assert_msg(strcmp(log->items[i].path, log->items[j].path),
                          "items %d and %d share the path \"%s\"", j, i,
                          log->items[i].path);
        }
    }
}

START_TEST(test_walk_duplicate_tags)
{
    apr_pool_t *dup[3], *kid;
    pw_walk_t w;
    walklog_t log;
    int i;

    for (i = 0; i < 3; i++) {
        dup[i] = new_pool(root, "dup");
    }
    new_pool(root, NULL);
    new_pool(root, NULL);
    kid = new_pool(dup[1], "kid");
    walk_init(&w, &log);
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 6);
    check_paths_unique(&log);
    ck_assert_int_ge(find_path(&log, "dup"), 0);
    ck_assert_int_ge(find_path(&log, "dup#2"), 0);
    ck_assert_int_ge(find_path(&log, "dup#3"), 0);
    ck_assert_int_ge(find_path(&log, "(untagged)"), 0);
    ck_assert_int_ge(find_path(&log, "(untagged)#2"), 0);
    /* the tag stays the pool's own; the number is only in the path */
    ck_assert_str_eq(log.items[find_path(&log, "dup#2")].tag, "dup");
    /* a child is named below its numbered parent */
    for (i = 0; i < log.n && log.items[i].pool != kid; i++) {
    }
    ck_assert_int_lt(i, log.n);
    ck_assert_str_eq(log.items[i - 1].tag, "dup");
    ck_assert_int_eq(strncmp(log.items[i].path, log.items[i - 1].path,
                             strlen(log.items[i - 1].path)),
                     0);
    ck_assert_str_eq(log.items[i].path + strlen(log.items[i - 1].path), "/kid");
}
END_TEST

/* pw_pool.c: duplicate tags are numbered "so that each path names one
 * pool". A threaded MPM keeps one "transaction" pool per connection under
 * pconf: far more than 16 siblings with one tag. */
START_TEST(test_walk_many_duplicates_unique)
{
    pw_walk_t w;
    walklog_t log;
    int i;

    for (i = 0; i < 12; i++) {
        new_pool(root, "other");
    }
    for (i = 0; i < 24; i++) {
        new_pool(root, "transaction");
    }
    walk_init(&w, &log);
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 36);
    check_paths_unique(&log);
}
END_TEST

/* More distinct tags on one level than the walker counts per level (16),
 * each twice: every path still names one pool. */
START_TEST(test_walk_many_distinct_tags_unique)
{
    static const char *tags[] = {
        "t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09",
        "t10", "t11", "t12", "t13", "t14", "t15", "t16", "t17", "t18", "t19"};
    pw_walk_t w;
    walklog_t log;
    int i, round;

    for (round = 0; round < 2; round++) {
        for (i = 0; i < 20; i++) {
            new_pool(root, tags[i]);
        }
    }
    walk_init(&w, &log);
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 40);
    check_paths_unique(&log);
    for (i = 0; i < log.n; i++) {
        /* each path starts with its pool's own tag */
        ck_assert_int_eq(strncmp(log.items[i].path, log.items[i].tag, 3), 0);
    }
}
END_TEST

/* ---- fake pools: a ring the walker does not understand ---------------- */

/* A stand-in for struct apr_pool_t (release layout: 15 pointers). */
typedef struct fake_pool_t {
    void *f[PW_UNIT_NFIELDS];
} fake_pool_t;

#define FAKE_NODE 4096

typedef struct fake_t {
    fake_pool_t pool;
    union {
        apr_memnode_t node;
        char bytes[FAKE_NODE];
        double align;
    } n[3];
} fake_t;

static apr_memnode_t *fake_node(fake_t *f, int i, apr_size_t used)
{
    apr_memnode_t *node = &f->n[i].node;

    node->next = node;
    node->ref = &node->next;
    node->first_avail = f->n[i].bytes + APR_MEMNODE_T_SIZE + used;
    node->endp = f->n[i].bytes + FAKE_NODE;
    return node;
}

/* Node 0 is the pool's own node (pool struct "inside" it: 120 bytes). */
static void fake_init(fake_t *f)
{
    apr_memnode_t *a, *b;

    memset(f, 0, sizeof(*f));
    a = fake_node(f, 0, 120 + 40);
    b = fake_node(f, 1, 300);
    a->next = b;
    b->next = a;
    f->pool.f[PW_UNIT_F_ACTIVE] = a;
    f->pool.f[PW_UNIT_F_SELF] = a;
    f->pool.f[PW_UNIT_F_SELF_FIRST_AVAIL] = f->n[0].bytes + 40 + 120;
    f->pool.f[PW_UNIT_F_TAG] = (void *)"fake";
}

enum {
    BREAK_NONE,
    BREAK_NULL_NEXT,
    BREAK_CYCLE,
    BREAK_BELOW_PAYLOAD,
    BREAK_PAST_END,
    BREAK_NO_ACTIVE
};

static const struct {
    const char *name;
    int how;
    apr_status_t rv;
} fake_cases[] = {
    {"intact", BREAK_NONE, APR_SUCCESS},
    {"next is NULL", BREAK_NULL_NEXT, APR_EGENERAL},
    {"cycle that misses the start", BREAK_CYCLE, APR_EGENERAL},
    {"first_avail below payload", BREAK_BELOW_PAYLOAD, APR_EGENERAL},
    {"first_avail past endp", BREAK_PAST_END, APR_EGENERAL},
    {"no active node", BREAK_NO_ACTIVE, APR_EINVAL},
};

static void fake_break(fake_t *f, int how)
{
    apr_memnode_t *b = &f->n[1].node, *c;

    switch (how) {
        case BREAK_NULL_NEXT:
            b->next = NULL;
            break;
        case BREAK_CYCLE:
            c = fake_node(f, 2, 0);
            b->next = c;
            c->next = b; /* b <-> c forever, never back to a */
            break;
        case BREAK_BELOW_PAYLOAD:
            b->first_avail = f->n[1].bytes + 8;
            break;
        case BREAK_PAST_END:
            b->first_avail = b->endp + 1;
            break;
        case BREAK_NO_ACTIVE:
            f->pool.f[PW_UNIT_F_ACTIVE] = NULL;
            break;
        default:
            break;
    }
}

START_TEST(test_size_fake_ring)
{
    fake_t *f = apr_palloc(root, sizeof(*f));
    pw_pool_size_t s;
    apr_status_t rv;

    fake_init(f);
    fake_break(f, fake_cases[_i].how);
    memset(&s, 0, sizeof(s));
    rv = pw_pool_size((apr_pool_t *)(void *)&f->pool, &s);
    ck_assert_msg(rv == fake_cases[_i].rv, "%s: got %d, want %d",
                  fake_cases[_i].name, rv, fake_cases[_i].rv);
    if (rv == APR_SUCCESS) {
        ck_assert_uint_eq(s.bytes, 40 + 300); /* self: beyond the struct */
        ck_assert_uint_eq(s.reserved, 2 * FAKE_NODE);
        ck_assert_uint_eq(s.nodes, 2);
    }
}
END_TEST

START_TEST(test_walk_fake_broken_ring)
{
    fake_t *f = apr_palloc(root, sizeof(*f));
    fake_pool_t *top = apr_pcalloc(root, sizeof(*top));
    char *guard = pw_unit_guard_page(0);
    pw_walk_t w;
    walklog_t log;

    /* top -> f (broken ring) -> a "child" on the guard page: entering a
     * pool whose ring made no sense would crash */
    fake_init(f);
    fake_break(f, BREAK_CYCLE);
    f->pool.f[PW_UNIT_F_CHILD] = guard;
    top->f[PW_UNIT_F_CHILD] = &f->pool;

    walk_init(&w, &log);
    w.root = (apr_pool_t *)(void *)top;
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 1);
    ck_assert_int_eq(log.items[0].opaque, 1);
    ck_assert_str_eq(log.items[0].path, "fake");
    ck_assert_uint_eq(w.opaque, 1);
    pw_unit_guard_free(guard, 0);
}
END_TEST

/* ---- tags ------------------------------------------------------------ */

START_TEST(test_tag_copy_basic)
{
    char dst[PW_TAG_MAX];
    char small[4];
    char long_tag[PW_TAG_MAX * 2];

    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), NULL), "(untagged)");
    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), "pconf"), "pconf");
    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), ""), "(empty)");
    ck_assert_ptr_eq(pw_tag_copy(dst, sizeof(dst), "x"), dst);

    /* nothing that could break a path, a JSON string or a log line */
    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), "a/b\"c\\d\te\nf\x7fg"),
                     "a_b_c_d_e_f_g");
    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), "\x01\x1f caf\xc3\xa9"),
                     "__ caf__");

    memset(long_tag, 'x', sizeof(long_tag) - 1);
    long_tag[sizeof(long_tag) - 1] = '\0';
    long_tag[0] = 'A';
    pw_tag_copy(dst, sizeof(dst), long_tag);
    ck_assert_uint_eq(strlen(dst), PW_TAG_MAX - 1);
    ck_assert_int_eq(strncmp(dst, long_tag, PW_TAG_MAX - 1), 0);

    ck_assert_str_eq(pw_tag_copy(small, sizeof(small), "abcdef"), "abc");
    ck_assert_str_eq(pw_tag_copy(small, sizeof(small), NULL), "(un");
    small[0] = 'z';
    pw_tag_copy(small, 0, "abc"); /* no room: untouched */
    ck_assert_int_eq(small[0], 'z');
}
END_TEST

/* _i: 0 = PROT_NONE page, 1 = unmapped page */
START_TEST(test_tag_copy_unmapped)
{
    char *guard = pw_unit_guard_page(_i);
    char dst[PW_TAG_MAX];
    char *tag;

    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), guard), "?");
    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), guard + 100), "?");

    /* a short tag right before the hole reads fine */
    tag = guard - 6;
    memcpy(tag, "short", 6);
    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), tag), "short");

    /* a tag running into the hole: the mapped part */
    tag = guard - 5;
    memcpy(tag, "hello", 5);
    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), tag), "hello");
    tag = guard - 1;
    tag[0] = 'z';
    ck_assert_str_eq(pw_tag_copy(dst, sizeof(dst), tag), "z");
    pw_unit_guard_free(guard, _i);
}
END_TEST

START_TEST(test_walk_unmapped_tag)
{
    char *guard = pw_unit_guard_page(1);
    apr_pool_t *p = new_pool(root, NULL);
    pw_walk_t w;
    walklog_t log;

    /* a tag pointing into an unloaded DSO, say */
    apr_pool_tag(p, guard + 16);
    walk_init(&w, &log);
    ck_assert_int_eq(pw_pool_walk(&w), APR_SUCCESS);
    ck_assert_int_eq(log.n, 1);
    ck_assert_str_eq(log.items[0].tag, "?");
    ck_assert_str_eq(log.items[0].path, "?");
    ck_assert_uint_eq(log.items[0].size.nodes, 1);
    pw_unit_guard_free(guard, 1);
}
END_TEST

Suite *pw_pool_suite(void)
{
    Suite *s = suite_create("pw_pool");
    TCase *tc;

    tc = tcase_create("validate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_validate_release_apr);
    tcase_add_test(tc, test_validate_with_big_free_node);
    tcase_add_loop_test(tc, test_validate_refuses_foreign_layout, 0,
                        sizeof(bad_layouts) / sizeof(bad_layouts[0]));
    tcase_add_test(tc, test_unusable_refuses);
    tcase_add_test(tc, test_null_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("size");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_size_exact, 0, NSIZES);
    tcase_add_test(tc, test_size_sums);
    tcase_add_test(tc, test_size_cached);
    tcase_add_test(tc, test_size_own_memory_only);
    tcase_add_loop_test(tc, test_size_fake_ring, 0,
                        sizeof(fake_cases) / sizeof(fake_cases[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("walk");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_links);
    tcase_add_test(tc, test_walk_tree);
    tcase_add_test(tc, test_walk_tag_cache);
    tcase_add_test(tc, test_walk_max_pools);
    tcase_add_test(tc, test_walk_max_depth);
    tcase_add_test(tc, test_walk_skip_children);
    tcase_add_test(tc, test_walk_only_allocator);
    tcase_add_test(tc, test_walk_long_paths);
    tcase_add_test(tc, test_walk_duplicate_tags);
    tcase_add_test(tc, test_walk_many_duplicates_unique);
    tcase_add_test(tc, test_walk_many_distinct_tags_unique);
    tcase_add_test(tc, test_walk_fake_broken_ring);
    suite_add_tcase(s, tc);

    tc = tcase_create("tag");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tag_copy_basic);
    tcase_add_loop_test(tc, test_tag_copy_unmapped, 0, 2);
    tcase_add_test(tc, test_walk_unmapped_tag);
    suite_add_tcase(s, tc);
    return s;
}
