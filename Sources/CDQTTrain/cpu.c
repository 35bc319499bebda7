#include "cpu.h"
#include "dqt_kernels.h"

int dqtt_cpu_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;   // accessed only with __atomic builtins
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        // CDQTKernels' detection (cpuid + xgetbv): its AVX2 path needs AVX2, FMA and F16C, as ours.
        v = dqt_kernels_for_isa(DQT_ISA_AVX2) != 0;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}
