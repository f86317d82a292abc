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
#include <apr_time.h>

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

/* When to read the heap. glibc's mallinfo2() walks every free chunk of
 * every arena, each under its arena's lock: microseconds on a young heap,
 * milliseconds or more on a large fragmented one (measured: 0.1 ms with
 * one thread's 25000 holes, 29 ms with 25 threads'). So a read slower
 * than PW_HEAP_FAST_NS of CPU time makes the next one wait PW_HEAP_DUTY
 * times its duration: a slow heap costs a child at most 1/PW_HEAP_DUTY of
 * its time. Faster reads are never paced: a sample without a heap reading
 * weakens the heap signal's attribution (at 50 us, ordinary heaps of
 * event children were paced and a malloc leak judged only "suspect").
 *
 * Reads are timed by the wall clock (27 ns a reading here), not in thread
 * CPU time (a system call: 1.3 us on this machine, twice per sample). A
 * read that looks slow by the wall clock may only have been preempted: it
 * makes the next read timed in CPU time, and only a read slow in CPU time
 * is paced; while paced, reads stay timed in CPU time. */
#define PW_HEAP_FAST_NS 500000
#define PW_HEAP_DUTY    200

typedef struct pw_heap_pace_t {
    apr_time_t at;        /* when it was last read */
    apr_uint64_t ns;      /* how long that took (wall or CPU time) */
    apr_uint64_t pace_ns; /* CPU time of a slow read, or 0: the pace */
    apr_uint64_t value;   /* what it said */
    apr_uint64_t skipped; /* samples that kept the last value */
    int read;             /* read at least once */
    int cpu;              /* time the next read in thread CPU time */
} pw_heap_pace_t;

/* Whether a sample at now reads the heap. */
int pw_heap_due(const pw_heap_pace_t *p, apr_time_t now);

/* Records a read at now that took ns (thread CPU time if p->cpu was set
 * for it, else wall time) and returned value. */
void pw_heap_took(pw_heap_pace_t *p, apr_time_t now, apr_uint64_t ns,
                  apr_uint64_t value);

/* Parses the text of /proc/PID/statm: its second field, in pages. */
apr_status_t pw_proc_parse_statm(const char *buf, apr_size_t len,
                                 apr_uint64_t *resident_pages);

#endif /* PW_PROC_H */
