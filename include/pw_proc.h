/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_proc: process-wide memory signals that pools cannot see.
 *
 * Heap: glibc's mallinfo2() (malloc'd bytes in use, exact; blind to pool
 * memory, which Debian's APR maps with mmap). RSS: /proc/self/statm read
 * with pread() on a descriptor opened once (1.8 us instead of 6 us for
 * open+read+close), in 4 KiB pages: coarse and late, but it sees both.
 *
 * The descriptor must be opened in the process that reads it: a child
 * reading its parent's statm would report the parent.
 */
#ifndef PW_PROC_H
#define PW_PROC_H

#include <apr.h>
#include <apr_errno.h>

typedef struct pw_proc_t {
    int statm_fd; /* -1 until pw_proc_open() */
    apr_uint32_t pid;
    apr_size_t page_size;
} pw_proc_t;

/* Opens /proc/self/statm for the calling process. */
apr_status_t pw_proc_open(pw_proc_t *pp);
void pw_proc_close(pw_proc_t *pp);

/* Resident set size in bytes; APR_ENOTIMPL where statm is unavailable. */
apr_status_t pw_proc_rss(pw_proc_t *pp, apr_uint64_t *rss);

/* Bytes handed out by malloc and still in use (arena + mmapped chunks). */
apr_uint64_t pw_proc_heap(void);

/* Parses the text of /proc/PID/statm: its second field, in pages. */
apr_status_t pw_proc_parse_statm(const char *buf, apr_size_t len,
                                 apr_uint64_t *resident_pages);

#endif /* PW_PROC_H */
