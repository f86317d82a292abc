/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * plog: one line of APR pool-debug output (apr_pool_log_event) as a
 * record, without copying and without sscanf.
 *
 * APR 1.2-1.7 (memory/unix/apr_pools.c, --enable-pool-debug with verbose)
 * write three kinds of line, all after "POOL DEBUG: ":
 *
 *   [PID/TID] ACTION  (SIZE      /POOL SIZE /TOTAL SIZE) POOL ...   header
 *   [27325/16384]  GLOBAL     <35 spaces>     0x08... <file:func>   short
 *   [27325/16384]  PALLOC (  244/  244/ 256702) 0x080a0568 "plog"
 *        <strings/apr_strings.c:78> 0x... (6/6/1)                   event
 *
 * "/TID" only where APR_HAS_THREADS; the parent address only from 1.6 on;
 * 1.2 prints addresses as 0x%08X (upper case, 32 bits), later ones 0x%pp.
 * The short form (no sizes, no tag) is GLOBAL, LIFE and THREAD: the pool
 * is not dereferenced there. The first size is the pool's own bytes, the
 * second with its descendants, the third the whole process (the global
 * pool with descendants); the counters are allocations since the last
 * clear, allocations ever, and clears.
 *
 * The trap: several processes write to one file, and a write can land in
 * the middle of another's line. plog_parse() parses one record from its
 * start and says where it ended; the caller looks for the next
 * "POOL DEBUG: " in what is left, so a line holding a torn prefix and a
 * whole record still yields the record, and the torn part is counted.
 */
#ifndef PLOG_H
#define PLOG_H

#include <apr.h>

#define PLOG_PREFIX     "POOL DEBUG: "
#define PLOG_PREFIX_LEN 12

typedef enum {
    PLOG_EV_PALLOC = 0,
    PLOG_EV_PCALLOC,
    PLOG_EV_CREATE,
    PLOG_EV_CREATEU,
    PLOG_EV_CLEAR,   /* logged before a clear: sizes as they were */
    PLOG_EV_CLEARED, /* after it */
    PLOG_EV_DESTROY, /* before a destroy (its CLEARED follows) */
    PLOG_EV_GLOBAL,  /* short form */
    PLOG_EV_LIFE,    /* short form: lifetime check */
    PLOG_EV_THREAD,  /* short form: owner thread check */
    PLOG_EV_COUNT
} plog_ev_e;

typedef enum {
    PLOG_BAD = 0,    /* not a record (or a torn one) */
    PLOG_RECORD = 1, /* *ev filled */
    PLOG_HEADER = 2  /* the "[PID/TID] ACTION ..." header */
} plog_kind_e;

typedef struct plog_event_t {
    apr_uint64_t pid;
    apr_uint64_t tid; /* 0 without threads */
    plog_ev_e ev;
    int has_tid;
    int has_sizes;           /* long form */
    int has_parent;          /* APR 1.6 and later */
    apr_uint64_t size;       /* the pool's own bytes */
    apr_uint64_t size_tree;  /* with its descendants */
    apr_uint64_t size_total; /* the process */
    apr_uint64_t pool;       /* address */
    apr_uint64_t parent;
    const char *tag; /* into the line, not terminated */
    apr_size_t tag_len;
    const char *site; /* file:line, or file:function, or "undefined" */
    apr_size_t site_len;
    apr_uint32_t allocs, total_allocs, clears;
} plog_event_t;

/* Parses one record at line[0..len) (which starts with PLOG_PREFIX, or is
 * rejected). *end is set to where the record ended (past its trailing
 * blanks); for PLOG_BAD to where parsing failed. */
plog_kind_e plog_parse(const char *line, apr_size_t len, plog_event_t *ev,
                       const char **end);

/* The next PLOG_PREFIX in p[0..len), or NULL. */
const char *plog_find_prefix(const char *p, apr_size_t len);

const char *plog_ev_name(plog_ev_e ev);

#endif /* PLOG_H */
