// Inner loops of dqt-tune's backward pass: a float GEMM (C += A·B) with an AVX2+FMA path
// picked at run time, and converters between packed tensor rows and plain arrays
// (formats/dqt.md §8). No function allocates; all are safe to call from several threads on
// disjoint outputs.
//
// Determinism: every output element of dqtt_gemm_acc is summed over k in ascending order,
// whatever M, N or the caller's split of the columns, as long as column splits start at
// multiples of 16. So results do not depend on the thread count.
#ifndef DQT_TRAIN_H
#define DQT_TRAIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// C[m, n] += Σ_k A[m, k] · B[k, n] for m < M, n < N; row-major with strides lda, ldb, ldc (floats).
void dqtt_gemm_acc(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                   const float *B, int64_t ldb, float *C, int64_t ldc);

/// Which path the dqtt_ kernels use: "avx2" or "portable".
const char *dqtt_path(void);

/// Explicit paths (tests compare them): path 0 = portable, 1 = AVX2 (returns -1 without running
/// if this CPU or build lacks it), otherwise automatic. Same semantics as the functions above/below.
int dqtt_gemm_acc_path(int path, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float *C, int64_t ldc);

// MARK: - packed rows -> int8 codes / floats

/// Codes of weights c0..<c1 of one t2 row (row bytes from formats/dqt.md §8) into out[0..<c1-c0].
void dqtt_unpack_t2(const uint8_t *row, int64_t c0, int64_t c1, int8_t *out);
/// Codes of all `cols` weights of one t1 row into out[0..<cols].
void dqtt_unpack_t1(const uint8_t *row, int64_t cols, int8_t *out);

/// Values of weights c0..<c1 of rows r0..<r1 as floats (code·scale for grid encodings,
/// code·rowscale[r] for i8r), into out[(r - r0)·ldo + (c - c0)].
/// encoding: 0 f32, 1 f16, 2 bf16, 3 i8, 4 t2, 5 t1, 6 i8r (rowscale used only for 6).
void dqtt_decode_rows(int encoding, const void *w, int64_t row_bytes, int64_t cols,
                      int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                      float scale, const float *rowscale, float *out, int64_t ldo);

// MARK: - int8 codes -> packed rows

/// One t2 row of `cols` ternary codes (each −1, 0 or 1) into row_bytes = 32·ceil(cols/128) bytes.
void dqtt_pack_t2(const int8_t *codes, int64_t cols, uint8_t *out);
/// One t1 row of `cols` ternary codes into 32·floor(cols/160) + ceil((cols mod 160)/5) bytes.
void dqtt_pack_t1(const int8_t *codes, int64_t cols, uint8_t *out);

// MARK: - attention

/// Backward of causal softmax attention for one query head over one sequence of T tokens.
/// q, dout: rows of stride ldq (this head's hd values at the row start); k, v: rows of stride
/// ldkv (the KV head's values). Recomputes p_t = softmax(q_t·k_j·scale, j ≤ t), then adds
///   dq_t += Σ_j ds_tj·k_j,  dk_j += ds_tj·q_t,  dv_j += p_tj·dout_t,  ds_tj = p_tj·(dp_tj − Σ_i p_ti·dp_ti)·scale,
/// with dp_tj = dout_t·v_j. P and dP are scratch of T floats.
void dqtt_attention_backward(int64_t T, int64_t hd, float scale,
                             const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                             float *dq, float *dk, float *dv, float *P, float *dP);
int dqtt_attention_backward_path(int path, int64_t T, int64_t hd, float scale,
                                 const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                                 float *dq, float *dk, float *dv, float *P, float *dP);

// MARK: - the coded update (formats/dqt-tune.md §4.2–4.3)

/// Constants of one row's update. kind: 0 sgd, 1 momentum, 2 adamw.
typedef struct dqtt_update_params {
    int32_t kind;
    int32_t nearest;        // 1: round half to even; 0: stochastic rounding
    int32_t decay;          // 1: u += wd·(q·s)
    int32_t lo, hi;         // the grid
    float k;                // lr / s as f32
    float s, wd, mu, b1, omb1, b2, omb2, eps, step_size;
    uint64_t key;           // the tensor's random stream at this step
    uint64_t base;          // element index of code 0 of the row
} dqtt_update_params;

/// New codes of one row: new[i] from old[i], gradient g[i] and the moments in state
/// ([n, K] interleaved, updated in place; unused for sgd). Returns how many codes changed.
/// Float operations are not contracted: results equal DQTTrain's Swift reference bit for bit.
int64_t dqtt_update_coded_row(const dqtt_update_params *p, const float *g, float *state,
                              const int8_t *old_codes, int8_t *new_codes, int64_t n);

// MARK: - 16-bit floats

float dqtt_half_to_float(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
