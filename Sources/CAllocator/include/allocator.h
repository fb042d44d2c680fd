#ifndef TASKGATE_ALLOCATOR_H
#define TASKGATE_ALLOCATOR_H

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

/// Fixes glibc's mmap threshold at 128 KiB (it is otherwise raised after the first large free),
/// so large blocks always get mappings of their own. A no-op elsewhere.
static inline void taskgate_keep_large_allocations_mapped(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

#endif
