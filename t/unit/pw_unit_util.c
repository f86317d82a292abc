/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_unit_util: helpers shared by the test files.
 */
#include <sys/mman.h>
#include <unistd.h>

#include <check.h>

#include "pw_unit.h"

static size_t page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);

    return ps > 0 ? (size_t)ps : 4096;
}

char *pw_unit_guard_page(int unmap)
{
    size_t ps = page_size();
    char *base = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    ck_assert_msg(base != MAP_FAILED, "mmap of two pages failed");
    if (unmap) {
        ck_assert_int_eq(munmap(base + ps, ps), 0);
    } else {
        ck_assert_int_eq(mprotect(base + ps, ps, PROT_NONE), 0);
    }
    return base + ps;
}

void pw_unit_guard_free(char *guard, int unmap)
{
    size_t ps = page_size();

    munmap(guard - ps, unmap ? ps : 2 * ps);
}
