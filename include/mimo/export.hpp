// Symbol visibility for libmimo's public API: everything else in the library is hidden.
#pragma once

#if defined(MIMO_BUILDING_LIBRARY)
#define MIMO_API __attribute__((visibility("default")))
#else
#define MIMO_API
#endif
