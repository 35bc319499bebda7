// The one CPU check of the tuner's C kernels (dqt_train.h: "which path the dqtt_ kernels use").
#ifndef DQTT_CPU_H
#define DQTT_CPU_H

/// 1 when this x86-64 CPU has AVX2, FMA and F16C (as CDQTKernels detects them for its AVX2
/// path); 0 elsewhere. Cached; racing first calls store the same value.
int dqtt_cpu_avx2(void);

#endif
