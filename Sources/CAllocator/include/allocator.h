#ifndef TASKGATE_ALLOCATOR_H
#define TASKGATE_ALLOCATOR_H

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

/// Keeps glibc from moving large blocks onto the heap. By default glibc raises its mmap threshold
/// after the first large block is freed (a dictionary outgrowing its storage, say); from then on
/// the memory layer's 1 MiB slabs are carved from the heap between short-lived request buffers,
/// and freed space around them is never given back. A fixed threshold of 128 KiB keeps every
/// large block in a mapping of its own, returned whole when freed. Measured (bench/run.sh): RSS
/// after scenario 4 115 -> 96 MiB. Called once at start (serve, demo); a no-op without glibc.
static inline void taskgate_keep_large_allocations_mapped(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

#endif
