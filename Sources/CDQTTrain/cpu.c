#include "cpu.h"
#if defined(__x86_64__)
#include <cpuid.h>
#endif

int dqtt_cpu_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;   // accessed only with __atomic builtins
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        // F16C from cpuid leaf 1 (ECX bit 29): clang 17 (Swift 6.0's) rejects
        // __builtin_cpu_supports("f16c").
        unsigned a, b, c, d;
        int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
        v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}
