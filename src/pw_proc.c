/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_proc: heap and RSS of the calling process (see pw_proc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include "pw_proc.h"

apr_status_t pw_proc_open(pw_proc_t *pp)
{
    long ps = sysconf(_SC_PAGESIZE);

    pp->page_size = ps > 0 ? (apr_size_t)ps : 4096;
    pp->pid = (apr_uint32_t)getpid();
    pp->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    return pp->statm_fd < 0 ? APR_FROM_OS_ERROR(errno) : APR_SUCCESS;
}

void pw_proc_close(pw_proc_t *pp)
{
    if (pp->statm_fd >= 0) {
        close(pp->statm_fd);
        pp->statm_fd = -1;
    }
}

apr_status_t pw_proc_parse_statm(const char *buf, apr_size_t len,
                                 apr_uint64_t *resident_pages)
{
    apr_size_t i = 0;
    apr_uint64_t v = 0;
    int digits = 0;

    /* "size resident shared text lib data dt": skip the first field */
    while (i < len && buf[i] >= '0' && buf[i] <= '9') {
        i++;
    }
    if (i == 0 || i >= len || buf[i] != ' ') {
        return APR_EINVAL;
    }
    i++;
    while (i < len && buf[i] >= '0' && buf[i] <= '9' && digits < 19) {
        v = v * 10 + (apr_uint64_t)(buf[i] - '0');
        i++;
        digits++;
    }
    if (digits == 0 || digits == 19 ||
        (i < len && buf[i] != ' ' && buf[i] != '\n')) {
        return APR_EINVAL;
    }
    *resident_pages = v;
    return APR_SUCCESS;
}

apr_status_t pw_proc_rss(pw_proc_t *pp, apr_uint64_t *rss)
{
    char buf[128];
    ssize_t n;
    apr_uint64_t pages;
    apr_status_t rv;

    if (pp->statm_fd < 0 || pp->pid != (apr_uint32_t)getpid()) {
        return APR_ENOTIMPL;
    }
    n = pread(pp->statm_fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) {
        return n < 0 ? APR_FROM_OS_ERROR(errno) : APR_EOF;
    }
    buf[n] = '\0';
    rv = pw_proc_parse_statm(buf, (apr_size_t)n, &pages);
    if (rv == APR_SUCCESS) {
        *rss = pages * pp->page_size;
    }
    return rv;
}

/* Under AddressSanitizer (make sanitize) malloc is ASan's own allocator
 * and mallinfo2() reads 0; ASan counts the bytes in use itself. Weak: NULL
 * in a normal process, where glibc's figures are the ones to read. */
extern size_t __sanitizer_get_current_allocated_bytes(void)
    __attribute__((weak));

int pw_heap_due(const pw_heap_pace_t *p, apr_time_t now)
{
    if (!p->read || p->pace_ns < PW_HEAP_FAST_NS) {
        return 1;
    }
    /* pace_ns / 1000 microseconds of reading, PW_HEAP_DUTY times over */
    return now - p->at >= (apr_time_t)(p->pace_ns / 1000 * PW_HEAP_DUTY);
}

void pw_heap_took(pw_heap_pace_t *p, apr_time_t now, apr_uint64_t ns,
                  apr_uint64_t value)
{
    int slow = ns >= PW_HEAP_FAST_NS;

    p->at = now;
    p->ns = ns;
    p->value = value;
    p->read = 1;
    if (p->cpu) {
        p->pace_ns = slow ? ns : 0; /* CPU time: the heap's own cost */
    }
    /* wall-slow: maybe preempted; CPU-timed next. CPU-slow: stay so */
    p->cpu = slow;
}

apr_uint64_t pw_proc_heap(void)
{
    struct mallinfo2 mi;

    if (__sanitizer_get_current_allocated_bytes) {
        return (apr_uint64_t)__sanitizer_get_current_allocated_bytes();
    }
    mi = mallinfo2();

    return (apr_uint64_t)mi.uordblks + (apr_uint64_t)mi.hblkhd;
}
