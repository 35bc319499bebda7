// The one CPU check of the tuner's C kernels (dqt_train.h: "which path the dqtt_ kernels use").
#ifndef DQTT_CPU_H
#define DQTT_CPU_H

#include "dqt_kernels.h"

/// CDQTKernels' AVX2 table when this x86-64 CPU has AVX2, FMA and F16C (its AVX2 path's
/// needs, and ours); NULL elsewhere. Checked once (cpuid); racing first calls store the same.
const dqt_kernel_table *dqtt_avx2_kernels(void);

/// 1 when dqtt_avx2_kernels() is not NULL.
int dqtt_cpu_avx2(void);

#endif
