// Innermost loops of dqt: packed-weight dot products and activation quantization.
// AVX2 and NEON paths with runtime dispatch, and a portable path that gives the same
// results on any CPU. Layouts are defined in formats/dqt.md §8; the Swift reference
// kernels in Sources/DQTKernels/Reference*.swift are the oracle every path is tested against.
//
// Conventions: row-major weights; `row_bytes` is the byte stride between rows;
// rows [r0, r1) are computed so threads can split a matrix; int8 activation
// buffers hold `dqt_padded_cols(cols)` elements, zeros past `cols`.
// No function allocates; all are safe to call from several threads on disjoint outputs.
//
// Exactness: every integer path (t2, t1, i8, i8r) computes the dot product Σ c·q exactly
// in int32 (valid for cols ≤ 131071, so |Σ| < 2^31 even for i8 codes -128·-128), then
// y = (float)Σ * mult, rounded to nearest, the same on every path. So all paths give
// bit-identical outputs for the same inputs. f16/bf16/f32 kernels sum floats in a
// path-dependent order: results agree to float rounding, not bitwise.
#ifndef DQT_KERNELS_H
#define DQT_KERNELS_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DQT_ISA_PORTABLE = 0,
    DQT_ISA_AVX2 = 1,          // x86-64 AVX2 + FMA + F16C
    DQT_ISA_NEON = 2,          // aarch64 Advanced SIMD
    DQT_ISA_NEON_DOTPROD = 3,  // aarch64 Advanced SIMD + SDOT (ARMv8.2 dotprod)
    DQT_ISA_AVX512_VNNI = 4,   // x86-64 AVX2 path + AVX512F/BW/VL + VNNI (vpdpbusd) t1 matvec and matmul
} dqt_isa;

#define DQT_ISA_COUNT 5

/// The best path this CPU supports (cpuid + xgetbv / getauxval).
dqt_isa dqt_detect_isa(void);
/// The path the dqt_* functions below use (fixed for the life of the process): the one named
/// by the environment variable DQT_ISA ("portable", "avx2", "avx512-vnni", "neon",
/// "neon-dotprod") if this CPU supports it, else dqt_detect_isa(). An unknown or unsupported
/// DQT_ISA is ignored here; front ends refuse it with an error (DQTKernels' Kernels.defaultISA()).
/// There is no process-wide setter: code that needs another path takes its table from
/// dqt_kernels_for_isa() (the runtime holds one per model).
dqt_isa dqt_default_isa(void);
/// 0 and *isa set if `name` is one of the names dqt_isa_name() returns; -1 otherwise (NULL too).
int dqt_isa_from_name(const char *name, dqt_isa *isa);
/// "portable", "avx2", "neon", "neon-dotprod", "avx512-vnni"; "?" for an unknown value.
const char *dqt_isa_name(dqt_isa isa);

/// Elements an int8 activation buffer for `cols` inputs must hold (zero padded past cols)
/// so that every kernel may read whole blocks without bounds checks:
/// max(align(cols, 128), align(cols, 160)). Weight rows are never read past row_bytes.
int64_t dqt_padded_cols(int64_t cols);

/// Per-token absmax quantization (formats/dqt.md §6):
/// alpha = 127 / max(max|x|, 1e-5); q[i] = clamp(round_half_even(x[i]*alpha), -128, 127)
/// (x[i]*alpha is one f32 multiply; the clamp is applied before rounding, so a NaN
/// product gives -128 on every path). Writes q[0..n), zeros q[n..n_padded).
/// Returns alpha; *sum = Σ q[i] (for the code+1 trick). Inputs must be finite for the
/// result to be path-independent.
float dqt_quantize_i8(const float *x, int64_t n, int8_t *q, int64_t n_padded, int32_t *sum);

// MARK: matrix-vector (generation): y[r] = (float)(Σ_i w[r,i]·q[i]) * mult, r in [r0, r1)

/// t2: ternary, 2-bit codes (w+1) in 128-weight blocks. qsum = Σ q.
void dqt_matvec_t2(const uint8_t *w, int64_t row_bytes, int64_t cols,
                   const int8_t *q, int32_t qsum, float mult,
                   int64_t r0, int64_t r1, float *y);
/// t1: ternary, base-3, 5 trits per byte, 160-weight blocks plus tail.
void dqt_matvec_t1(const uint8_t *w, int64_t row_bytes, int64_t cols,
                   const int8_t *q, int32_t qsum, float mult,
                   int64_t r0, int64_t r1, float *y);
/// i8: signed codes, one per byte, row_bytes = cols.
void dqt_matvec_i8(const int8_t *w, int64_t cols,
                   const int8_t *q, float mult,
                   int64_t r0, int64_t r1, float *y);
/// i8r head: y[r] = (float)(Σ w[r,i]·q[i]) * (rowscale[r] * mult).
void dqt_matvec_i8r(const int8_t *w, const float *rowscale, int64_t cols,
                    const int8_t *q, float mult,
                    int64_t r0, int64_t r1, float *y);
/// f16 head (float activations): y[r] = Σ half(w[r,i])·x[i]. x needs only `cols` elements.
void dqt_matvec_f16(const uint16_t *w, int64_t cols, const float *x,
                    int64_t r0, int64_t r1, float *y);
/// n positions against the same rows: y[t·ldy + r] for t < n, r in [r0, r1), each equal bit for bit
/// to dqt_matvec_f16 / _bf16 / _f32 on x + t·ldx (the tuner's head forward; faster where rows
/// are reused).
void dqt_matvecs_f16(const uint16_t *w, int64_t cols, const float *x, int64_t ldx, int64_t n,
                     int64_t r0, int64_t r1, float *y, int64_t ldy);
void dqt_matvecs_bf16(const uint16_t *w, int64_t cols, const float *x, int64_t ldx, int64_t n,
                      int64_t r0, int64_t r1, float *y, int64_t ldy);
void dqt_matvecs_f32(const float *w, int64_t cols, const float *x, int64_t ldx, int64_t n,
                     int64_t r0, int64_t r1, float *y, int64_t ldy);
/// bf16: y[r] = Σ bf16(w[r,i])·x[i] (bf16 = upper half of an f32).
void dqt_matvec_bf16(const uint16_t *w, int64_t cols, const float *x,
                     int64_t r0, int64_t r1, float *y);
/// f32: y[r] = Σ w[r,i]·x[i].
void dqt_matvec_f32(const float *w, int64_t cols, const float *x,
                    int64_t r0, int64_t r1, float *y);

// MARK: matrix-matrix (prompt batches): n tokens at once, weights decoded once per block.
// q is n rows of q_stride int8 (each padded as above), qsum[n], mult[n];
// y is n rows of y_stride floats: y[t*y_stride + r] = (float)(Σ_i w[r,i]·q[t,i]) * mult[t].
// Results are bit-identical to n calls of the matching matvec.

void dqt_matmul_t2(const uint8_t *w, int64_t row_bytes, int64_t cols,
                   const int8_t *q, int64_t q_stride, const int32_t *qsum, const float *mult, int64_t n,
                   int64_t r0, int64_t r1, float *y, int64_t y_stride);
void dqt_matmul_t1(const uint8_t *w, int64_t row_bytes, int64_t cols,
                   const int8_t *q, int64_t q_stride, const int32_t *qsum, const float *mult, int64_t n,
                   int64_t r0, int64_t r1, float *y, int64_t y_stride);
void dqt_matmul_i8(const int8_t *w, int64_t cols,
                   const int8_t *q, int64_t q_stride, const float *mult, int64_t n,
                   int64_t r0, int64_t r1, float *y, int64_t y_stride);

// MARK: float helpers of the forward pass (float32; paths agree to float rounding, not bitwise)

/// Attention of one query head over cached positions 0..n−1 (n ≥ 1):
/// out[i] = Σ_p softmax_p(scale · q·k_p) · v_p[i], i < head_dim,
/// with k_p = keys + p·kv_stride and v_p = values + p·kv_stride. scores: n floats of scratch.
/// exp is computed to within 2 ulp (a polynomial on the SIMD paths).
void dqt_attention_head(const float *q, const float *keys, const float *values, int64_t kv_stride,
                        int64_t n, int64_t head_dim, float scale, float *scores, float *out);
/// dqt_attention_head over a binary16 KV cache (keys/values hold IEEE half values).
void dqt_attention_head_f16(const float *q, const uint16_t *keys, const uint16_t *values, int64_t kv_stride,
                            int64_t n, int64_t head_dim, float scale, float *scores, float *out);
/// y[i] = binary16(x[i]), round to nearest even (overflow to ±inf), i < n; the same bits on every path
/// for finite inputs.
void dqt_f32_to_f16(const float *x, uint16_t *y, int64_t n);
/// One IEEE binary16 value as binary32 (exact, subnormals, inf and nan included; the scalar
/// conversion every path uses).
float dqt_half_to_f32(uint16_t h);
/// x[i] = e^(x[i] − m) for i < n, returning Σ x[i] (the softmax numerators of the attention
/// kernels above, with the same exp and the same order of the sum).
float dqt_exp_sum(float *x, int64_t n, float m);
/// Gated FFN activation in place: gate[i] = act(gate[i]) · up[i], act = SiLU x/(1+e^−x)
/// (relu2 = 0) or squared ReLU max(x,0)² (relu2 = 1).
void dqt_gated_activation(int relu2, float *gate, const float *up, int64_t n);

/// A spin-wait hint for busy loops (x86 `pause`, arm `yield`): keeps the core, lets a sibling run.
static inline void dqt_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// MARK: explicit paths (tests and benchmarks compare paths without the global selection)

/// One path's kernels; same signatures and semantics as the dqt_* functions above.
typedef struct dqt_kernel_table {
    dqt_isa isa;
    float (*quantize_i8)(const float *x, int64_t n, int8_t *q, int64_t n_padded, int32_t *sum);
    void (*matvec_t2)(const uint8_t *w, int64_t row_bytes, int64_t cols,
                      const int8_t *q, int32_t qsum, float mult,
                      int64_t r0, int64_t r1, float *y);
    void (*matvec_t1)(const uint8_t *w, int64_t row_bytes, int64_t cols,
                      const int8_t *q, int32_t qsum, float mult,
                      int64_t r0, int64_t r1, float *y);
    void (*matvec_i8)(const int8_t *w, int64_t cols, const int8_t *q, float mult,
                      int64_t r0, int64_t r1, float *y);
    void (*matvec_i8r)(const int8_t *w, const float *rowscale, int64_t cols,
                       const int8_t *q, float mult, int64_t r0, int64_t r1, float *y);
    void (*matvec_f16)(const uint16_t *w, int64_t cols, const float *x,
                       int64_t r0, int64_t r1, float *y);
    void (*matvec_bf16)(const uint16_t *w, int64_t cols, const float *x,
                        int64_t r0, int64_t r1, float *y);
    void (*matvec_f32)(const float *w, int64_t cols, const float *x,
                       int64_t r0, int64_t r1, float *y);
    void (*matmul_t2)(const uint8_t *w, int64_t row_bytes, int64_t cols,
                      const int8_t *q, int64_t q_stride, const int32_t *qsum, const float *mult, int64_t n,
                      int64_t r0, int64_t r1, float *y, int64_t y_stride);
    void (*matmul_t1)(const uint8_t *w, int64_t row_bytes, int64_t cols,
                      const int8_t *q, int64_t q_stride, const int32_t *qsum, const float *mult, int64_t n,
                      int64_t r0, int64_t r1, float *y, int64_t y_stride);
    void (*matmul_i8)(const int8_t *w, int64_t cols,
                      const int8_t *q, int64_t q_stride, const float *mult, int64_t n,
                      int64_t r0, int64_t r1, float *y, int64_t y_stride);
    void (*attention_head)(const float *q, const float *keys, const float *values, int64_t kv_stride,
                           int64_t n, int64_t head_dim, float scale, float *scores, float *out);
    void (*gated_activation)(int relu2, float *gate, const float *up, int64_t n);
    void (*attention_head_f16)(const float *q, const uint16_t *keys, const uint16_t *values, int64_t kv_stride,
                               int64_t n, int64_t head_dim, float scale, float *scores, float *out);
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
    float (*exp_sum)(float *x, int64_t n, float m);
} dqt_kernel_table;

/// The kernels of one path, or NULL if this CPU lacks it or it is not compiled in.
const dqt_kernel_table *dqt_kernels_for_isa(dqt_isa isa);

#ifdef __cplusplus
}
#endif
#endif
