// Inner loops of dqt-tune's backward pass: a float GEMM (C += A·B) with an AVX2+FMA path
// picked at run time, and converters between packed tensor rows and plain arrays
// (formats/dqt.md §8). No function allocates; all are safe to call from several threads on
// disjoint outputs.
//
// Determinism: every output element of dqtt_gemm is one multiply-add chain over k in
// ascending order, whatever M, N or the caller's split of the work, so results do not depend
// on the thread count.
#ifndef DQT_TRAIN_H
#define DQT_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - GEMM

/// How a GEMM reads its operand X[i][j] (the logical matrix of the product):
typedef enum {
    DQTT_F32 = 0,     ///< X[i][j] = p[(row0 + i)·ld + col0 + j]  (float, row-major)
    DQTT_F32_T = 1,   ///< X[i][j] = p[(row0 + j)·ld + col0 + i]  (the transpose of a row-major float matrix; A only)
    DQTT_CODED = 2,   ///< X[i][j] = value of weight (row0 + i, col0 + j) of a packed tensor (B only):
                      ///< `encoding` as dqtt_decode_rows, ld = row bytes, wcols = the tensor's columns
} dqtt_operand_kind;

typedef struct dqtt_operand {
    int32_t kind;
    int32_t encoding;
    const void *p;
    int64_t ld;
    int64_t row0, col0;
    int64_t wcols;
    float scale;
    const float *rowscale;
} dqtt_operand;

/// C[M, N] = (accumulate ? C : 0) + A[M, K]·B[K, N], C row-major with stride ldc. Every C element
/// is one fused multiply-add chain over k ascending (from C's old value, or from 0), on every
/// path and for any M, N, K or split of the work: results are bit-identical across paths and
/// thread counts. B is read through `B`, or, if `packed_b` is not NULL, from a whole K×N B
/// packed by dqtt_pack_b (B is then ignored). scratch: dqtt_gemm_scratch_floats() floats,
/// 32-byte aligned, one per concurrent caller.
void dqtt_gemm(int64_t M, int64_t N, int64_t K, const dqtt_operand *A, const dqtt_operand *B, const float *packed_b,
               float *C, int64_t ldc, int accumulate, float *scratch);
size_t dqtt_gemm_scratch_floats(void);

/// Packs panels p0..<p1 (16 columns each) of a K×N operand B for dqtt_gemm's packed_b;
/// `packed` holds dqtt_packed_b_floats(K, N) floats (32-byte aligned). Threads may pack disjoint
/// panel ranges at once. tmp: 1024 floats of scratch (decoded row segments).
void dqtt_pack_b(int64_t K, int64_t N, const dqtt_operand *B, int64_t p0, int64_t p1, float *packed, float *tmp);
size_t dqtt_packed_b_floats(int64_t K, int64_t N);

/// Which path the dqtt_ kernels use: "avx2" or "portable".
const char *dqtt_path(void);

/// Explicit paths (tests compare them): path 0 = portable, 1 = AVX2 (returns -1 without running
/// if this CPU or build lacks it), otherwise automatic. Same semantics as the function above.
int dqtt_gemm_path(int path, int64_t M, int64_t N, int64_t K, const dqtt_operand *A, const dqtt_operand *B,
                   const float *packed_b, float *C, int64_t ldc, int accumulate, float *scratch);

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

// MARK: - the undo journal

/// The masked form of a journal record for bytes old[0..<n] about to become new_[0..<n]: bit j
/// of mask[j / 8] (least significant first; ceil(n/8) bytes, the unused high bits of the last
/// byte 0) is set where old[j] != new_[j], and kept[] receives those old bytes in ascending j.
/// Returns their count (kept must hold n bytes) — or, as soon as it exceeds `limit`, a count
/// above `limit` with mask and kept incomplete (the caller then writes a plain record).
size_t dqtt_undo_mask(const uint8_t *old, const uint8_t *new_, size_t n, uint8_t *mask, uint8_t *kept, size_t limit);
/// Explicit path (0 portable, 1 AVX2: SIZE_MAX without running if unavailable, −1 automatic).
size_t dqtt_undo_mask_path(int path, const uint8_t *old, const uint8_t *new_, size_t n, uint8_t *mask, uint8_t *kept,
                           size_t limit);

// MARK: - attention

/// Backward of causal softmax attention for one query head over one sequence of T tokens.
/// q, dout: rows of stride ldq (this head's hd values at the row start); k, v: rows of stride
/// ldkv (the KV head's values). Recomputes p_t = softmax(q_t·k_j·scale, j ≤ t), then adds
///   dq_t += Σ_j ds_tj·k_j,  dk_j += ds_tj·q_t,  dv_j += p_tj·dout_t,  ds_tj = p_tj·(dp_tj − Σ_i p_ti·dp_ti)·scale,
/// with dp_tj = dout_t·v_j. scratch: dqtt_attention_scratch_floats(T, hd) floats.
/// Paths agree to float rounding (sums run in blocks), not bit for bit.
void dqtt_attention_backward(int64_t T, int64_t hd, float scale,
                             const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                             float *dq, float *dk, float *dv, float *scratch);
int dqtt_attention_backward_path(int path, int64_t T, int64_t hd, float scale,
                                 const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                                 float *dq, float *dk, float *dv, float *scratch);
size_t dqtt_attention_scratch_floats(int64_t T, int64_t hd);

// MARK: - the coded update (formats/dqt-tune.md §4.2–4.3)

/// Constants of one row's update. kind: 0 sgd, 1 momentum, 2 adamw, 3 a given direction
/// (state holds u, read only: the factored optimizer's, from dqtt_factored_row).
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
/// Explicit path (0 portable, 1 AVX2: -1 if unavailable); same results on every path.
int64_t dqtt_update_coded_row_path(int path, const dqtt_update_params *p, const float *g, float *state,
                                   const int8_t *old_codes, int8_t *new_codes, int64_t n);

/// Constants of one float row's update (torch.optim.SGD / AdamW in f32; formats/dqt-tune.md §4.2).
/// kind: 0 sgd, 1 momentum, 2 adamw, 3 a given direction u in state (w ← w·(1 − lr·wd) − lr·u);
/// encoding: 0 f32, 1 f16, 2 bf16.
typedef struct dqtt_float_params {
    int32_t kind;
    int32_t nearest;
    int32_t decay;
    int32_t encoding;
    float lr, wd, mu, b1, omb1, b2, omb2, eps;
    float float_decay;      // 1 − lr·wd (adamw)
    float step_size;        // lr / (1 − β₁ᵗ)
    float bc2_sqrt;         // √(1 − β₂ᵗ)
    uint64_t key;
    uint64_t base;
} dqtt_float_params;

/// New values of one float row from `src` (n values of the encoding) into `dst`, moments in
/// `state` ([n, K] interleaved). Returns how many stored values changed. Equals DQTTrain's
/// Swift reference (Update.floatRowReference) bit for bit.
int64_t dqtt_update_float_row(const dqtt_float_params *p, const float *g, float *state, const void *src, void *dst,
                              int64_t n);
int64_t dqtt_update_float_row_path(int path, const dqtt_float_params *p, const float *g, float *state, const void *src,
                                   void *dst, int64_t n);

// MARK: - the factored optimizer (adafactor; formats/dqt-tune.md §4.2)

typedef struct dqtt_factored_params {
    float b2, omb2;   // β₂ and 1 − β₂ as f32
    float eps1;       // added to the mean square (1e-30)
    float bc2;        // 1 − β₂ᵗ
    float eps;        // added to √v̂
    float clip;       // RMS bound of a row's direction (1)
} dqtt_factored_params;

/// Direction u[0..<n] of one row of a factored tensor from its gradient g: the row statistic
/// ρ' = β₂ρ + (1−β₂)(mean_j g_j² + ε₁) (returned), v̂_j = ρ'/(1−β₂ᵗ) · shape[j],
/// u_j = g_j / (√v̂_j + ε), scaled down to an RMS of `clip` if above. col[j] receives g_j² (first)
/// or has it added (non-finite gradients count 0). Sums run in a fixed order on every CPU.
float dqtt_factored_row(const float *g, int64_t n, float rho, const float *shape, const dqtt_factored_params *p, float *u,
                        float *col, int first);
/// Explicit path (0 portable, 1 AVX2: NaN without running if unavailable); the same bits on every path.
float dqtt_factored_row_path(int path, const float *g, int64_t n, float rho, const float *shape,
                             const dqtt_factored_params *p, float *u, float *col, int first);

// MARK: - overlapped I/O (io.c)

/// Starts writeback of [offset, offset + count) of fd's dirty pages without waiting (Linux
/// sync_file_range with SYNC_FILE_RANGE_WRITE; a hint: durability still needs fsync/msync).
/// Returns 0 or errno; 0 where the call does not exist.
int dqtt_start_writeback(int fd, int64_t offset, int64_t count);

/// One helper thread that runs fdatasync(fd) on request, so the caller computes meanwhile.
typedef struct dqtt_syncer dqtt_syncer;
/// NULL if the thread cannot be started.
dqtt_syncer *dqtt_syncer_create(void);
/// Asks for fdatasync(fd) (after the previous request finished); returns at once.
void dqtt_syncer_start(dqtt_syncer *s, int fd);
/// Waits for the last request: 0, or its errno (reported once).
int dqtt_syncer_wait(dqtt_syncer *s);
/// Finishes a pending request, stops and joins the thread.
void dqtt_syncer_destroy(dqtt_syncer *s);

#ifdef __cplusplus
}
#endif
#endif
