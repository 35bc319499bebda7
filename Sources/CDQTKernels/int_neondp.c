// NEON integer kernels with SDOT (ARMv8.2 dotprod), enabled per function so the binary still
// runs on cores without it; dispatch selects them only if HWCAP_ASIMDDP is set.
#if defined(__aarch64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
#define DQT_DP 1
#define SFX neondp
#include "neon_int_template.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
