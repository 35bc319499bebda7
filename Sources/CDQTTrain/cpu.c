#include "cpu.h"

const dqt_kernel_table *dqtt_avx2_kernels(void) {
#if defined(__x86_64__)
    static const dqt_kernel_table *table;   // both accessed only with __atomic builtins
    static int checked;
    if (!__atomic_load_n(&checked, __ATOMIC_ACQUIRE)) {
        // CDQTKernels' detection (cpuid + xgetbv).
        __atomic_store_n(&table, dqt_kernels_for_isa(DQT_ISA_AVX2), __ATOMIC_RELAXED);
        __atomic_store_n(&checked, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&table, __ATOMIC_RELAXED);
#else
    return 0;
#endif
}

int dqtt_cpu_avx2(void) { return dqtt_avx2_kernels() != 0; }
