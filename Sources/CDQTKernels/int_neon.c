// NEON integer kernels without dotprod (any aarch64): see neon_int_template.h.
#if defined(__aarch64__)
#define DQT_DP 0
#define SFX neon
#include "neon_int_template.h"
#endif
