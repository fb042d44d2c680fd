// The header's one function is inline; this file only makes the target buildable.
#include "allocator.h"
