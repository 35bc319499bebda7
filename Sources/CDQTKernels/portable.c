// Portable kernels: plain C, int32 accumulation, the bit-exact baseline for every CPU.
// SIMD paths must produce exactly these outputs for the integer kernels.
#include "internal.h"
#include <math.h>

// MARK: - quantize

float dqt_quantize_i8_portable(const float *x, int64_t n, int8_t *q, int64_t n_padded, int32_t *sum) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    const float alpha = 127.0f / fmaxf(amax, 1e-5f);
    int32_t s = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * alpha;
        v = fminf(fmaxf(v, -128.0f), 127.0f);   // fmaxf(NaN, -128) = -128, as the SIMD paths
        int32_t c = (int32_t)nearbyintf(v);      // default rounding mode: half to even
        q[i] = (int8_t)c;
        s += c;
    }
    for (int64_t i = n; i < n_padded; i++) q[i] = 0;
    *sum = s;
    return alpha;
}

// MARK: - ternary matvec

// Σ_i code(w[r,i])·q[i] over one t2 row: byte j of block b holds weights 128b + 32i + j in bits 2i+1..2i.
static int32_t t2_row_dot(const uint8_t *row, int64_t cols, const int8_t *q) {
    const int64_t nb = (cols + DQT_T2_BLOCK - 1) / DQT_T2_BLOCK;
    int32_t acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + 32 * b;
        const int8_t *qb = q + DQT_T2_BLOCK * b;
        for (int j = 0; j < 32; j++) {
            const uint8_t byte = blk[j];
            acc += (byte & 3) * qb[j] + ((byte >> 2) & 3) * qb[32 + j]
                 + ((byte >> 4) & 3) * qb[64 + j] + (byte >> 6) * qb[96 + j];
        }
    }
    return acc;
}

void dqt_matvec_t2_portable(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                            int32_t qsum, float mult, int64_t r0, int64_t r1, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const int32_t acc = t2_row_dot(w + r * row_bytes, cols, q);
        y[r] = (float)(acc - qsum) * mult;   // Σ (c−1)·q = Σ c·q − Σ q
    }
}

// Σ_i d_i·q[i] over one t1 row (d = w + 1): full blocks then the tail (formats/dqt.md §8).
static int32_t t1_row_dot(const uint8_t *row, int64_t cols, const int8_t *q) {
    const int64_t nf = cols / DQT_T1_BLOCK;
    const int64_t m = (cols - DQT_T1_BLOCK * nf + 4) / 5;
    int32_t acc = 0;
    for (int64_t b = 0; b < nf; b++) {
        const int8_t *qb = q + DQT_T1_BLOCK * b;
        for (int j = 0; j < 32; j++) {
            unsigned v = row[32 * b + j];
            for (int n = 0; n < 5; n++) {        // d_n = ((byte·3ⁿ mod 256)·3) >> 8
                acc += (int32_t)((v * 3) >> 8) * qb[32 * n + j];
                v = (v * 3) & 0xff;
            }
        }
    }
    const int8_t *qt = q + DQT_T1_BLOCK * nf;
    for (int64_t j = 0; j < m; j++) {
        unsigned v = row[32 * nf + j];
        for (int n = 0; n < 5; n++) {
            acc += (int32_t)((v * 3) >> 8) * qt[m * n + j];
            v = (v * 3) & 0xff;
        }
    }
    return acc;
}

void dqt_matvec_t1_portable(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                            int32_t qsum, float mult, int64_t r0, int64_t r1, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const int32_t acc = t1_row_dot(w + r * row_bytes, cols, q);
        y[r] = (float)(acc - qsum) * mult;
    }
}

// MARK: - int8 matvec

static int32_t i8_row_dot(const int8_t *row, int64_t cols, const int8_t *q) {
    int32_t acc = 0;
    for (int64_t i = 0; i < cols; i++) acc += row[i] * q[i];
    return acc;
}

void dqt_matvec_i8_portable(const int8_t *w, int64_t cols, const int8_t *q, float mult,
                            int64_t r0, int64_t r1, float *y) {
    for (int64_t r = r0; r < r1; r++) y[r] = (float)i8_row_dot(w + r * cols, cols, q) * mult;
}

void dqt_matvec_i8r_portable(const int8_t *w, const float *rowscale, int64_t cols, const int8_t *q,
                             float mult, int64_t r0, int64_t r1, float *y) {
    for (int64_t r = r0; r < r1; r++)
        y[r] = (float)i8_row_dot(w + r * cols, cols, q) * (rowscale[r] * mult);
}

// MARK: - float matvec (8 partial sums, combined pairwise)

static float sum8(const float s[8]) {
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

void dqt_matvec_f16_portable(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *row = w + r * cols;
        float s[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int k = 0; k < 8; k++) s[k] += dqt_half_to_float(row[i + k]) * x[i + k];
        for (; i < cols; i++) s[0] += dqt_half_to_float(row[i]) * x[i];
        y[r] = sum8(s);
    }
}

void dqt_matvec_bf16_portable(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *row = w + r * cols;
        float s[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int k = 0; k < 8; k++) s[k] += dqt_bf16_to_float(row[i + k]) * x[i + k];
        for (; i < cols; i++) s[0] += dqt_bf16_to_float(row[i]) * x[i];
        y[r] = sum8(s);
    }
}

void dqt_matvec_f32_portable(const float *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const float *row = w + r * cols;
        float s[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int k = 0; k < 8; k++) s[k] += row[i + k] * x[i + k];
        for (; i < cols; i++) s[0] += row[i] * x[i];
        y[r] = sum8(s);
    }
}

// MARK: - code decoding for matmul

void dqt_decode_t2_codes_portable(const uint8_t *row, int64_t cols, int64_t c0, int64_t len, uint8_t *codes) {
    const int64_t nb = (cols + DQT_T2_BLOCK - 1) / DQT_T2_BLOCK;
    for (int64_t i = 0; i < len; i += DQT_T2_BLOCK) {
        const int64_t b = (c0 + i) / DQT_T2_BLOCK;
        if (b >= nb) { memset(codes + i, 0, (size_t)(len - i)); break; }
        const uint8_t *blk = row + 32 * b;
        for (int j = 0; j < 32; j++)
            for (int k = 0; k < 4; k++) codes[i + 32 * k + j] = (blk[j] >> (2 * k)) & 3;
    }
}

void dqt_decode_t1_codes_portable(const uint8_t *row, int64_t row_bytes, int64_t cols, int64_t c0, int64_t len,
                                  uint8_t *codes) {
    (void)row_bytes;
    const int64_t nf = cols / DQT_T1_BLOCK;
    const int64_t m = (cols - DQT_T1_BLOCK * nf + 4) / 5;
    memset(codes, 0, (size_t)len);
    for (int64_t i = 0; i < len; i += DQT_T1_BLOCK) {
        const int64_t b = (c0 + i) / DQT_T1_BLOCK;
        if (b < nf) {
            for (int j = 0; j < 32; j++) {
                unsigned v = row[32 * b + j];
                for (int n = 0; n < 5; n++) { codes[i + 32 * n + j] = (uint8_t)((v * 3) >> 8); v = (v * 3) & 0xff; }
            }
        } else {
            if (b == nf) {   // the tail: byte j holds weights 160·nf + m·n + j
                for (int64_t j = 0; j < m; j++) {
                    unsigned v = row[32 * nf + j];
                    for (int n = 0; n < 5; n++) { codes[i + m * n + j] = (uint8_t)((v * 3) >> 8); v = (v * 3) & 0xff; }
                }
            }
            break;
        }
    }
}

// MARK: - matmul: decode a row chunk once, reuse it for every token

static int32_t codes_dot(const uint8_t *codes, const int8_t *q, int64_t len) {
    int32_t acc = 0;
    for (int64_t i = 0; i < len; i++) acc += codes[i] * q[i];
    return acc;
}

static void matmul_ternary_portable(int t1, const uint8_t *w, int64_t row_bytes, int64_t cols,
                                    const int8_t *q, int64_t q_stride, const int32_t *qsum, const float *mult,
                                    int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride) {
    uint8_t codes[DQT_MM_CHUNK];
    const int64_t padded = dqt_padded_cols(cols);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * row_bytes;
        for (int64_t c0 = 0; c0 < padded; c0 += DQT_MM_CHUNK) {
            const int64_t len = padded - c0 < DQT_MM_CHUNK ? padded - c0 : DQT_MM_CHUNK;
            if (t1) dqt_decode_t1_codes_portable(row, row_bytes, cols, c0, len, codes);
            else dqt_decode_t2_codes_portable(row, cols, c0, len, codes);
            for (int64_t t = 0; t < n; t++) {
                int32_t acc = codes_dot(codes, q + t * q_stride + c0, len);
                if (c0 > 0) acc += dqt_load_i32(y + t * y_stride + r);
                dqt_store_i32(y + t * y_stride + r, acc);
            }
        }
        for (int64_t t = 0; t < n; t++) {
            const int32_t acc = dqt_load_i32(y + t * y_stride + r);
            y[t * y_stride + r] = (float)(acc - qsum[t]) * mult[t];
        }
    }
}

void dqt_matmul_t2_portable(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                            const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                            float *y, int64_t y_stride) {
    matmul_ternary_portable(0, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}

void dqt_matmul_t1_portable(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                            const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                            float *y, int64_t y_stride) {
    matmul_ternary_portable(1, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}

void dqt_matmul_i8_portable(const int8_t *w, int64_t cols, const int8_t *q, int64_t q_stride,
                            const float *mult, int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride) {
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < n; t++)
            y[t * y_stride + r] = (float)i8_row_dot(w + r * cols, cols, q + t * q_stride) * mult[t];
}

// MARK: - float helpers of the forward pass

float dqt_exp_sum_portable(float *x, int64_t n, float m) {
    float total = 0;
    for (int64_t p = 0; p < n; p++) { const float e = expf(x[p] - m); x[p] = e; total += e; }
    return total;
}

void dqt_attention_head_portable(const float *q, const float *keys, const float *values, int64_t kv_stride,
                                 int64_t n, int64_t head_dim, float scale, float *scores, float *out) {
    float m = -INFINITY;
    for (int64_t p = 0; p < n; p++) {
        const float *k = keys + p * kv_stride;
        float s[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= head_dim; i += 8)
            for (int j = 0; j < 8; j++) s[j] += q[i + j] * k[i + j];
        for (; i < head_dim; i++) s[0] += q[i] * k[i];
        const float v = sum8(s) * scale;
        scores[p] = v;
        m = v > m ? v : m;
    }
    const float total = dqt_exp_sum_portable(scores, n, m);
    const float inv = 1 / total;   // probabilities first, as softmax-then-matmul references do
    for (int64_t p = 0; p < n; p++) scores[p] *= inv;
    for (int64_t i = 0; i < head_dim; i++) out[i] = 0;
    for (int64_t p = 0; p < n; p++) {
        const float *v = values + p * kv_stride, w = scores[p];
        for (int64_t i = 0; i < head_dim; i++) out[i] += w * v[i];
    }
}

// binary32 -> binary16, round to nearest even; overflow gives ±inf, NaN a quiet NaN.
static inline uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);   // ≥ 65520 rounds to inf
    if (ax < 0x38800000u) {                                       // < 2^-14: a subnormal half (or 0)
        const float m = fabsf(f) * 16777216.0f;                   // units of 2^-24, exact
        return (uint16_t)(sign | (uint32_t)nearbyintf(m));        // 1024 is the smallest normal: right
    }
    uint32_t h = ((ax >> 23) - 112) << 10 | ((ax >> 13) & 0x3ffu);   // rebias 127 -> 15
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;          // a carry rounds into the exponent
    return (uint16_t)(sign | h);
}

void dqt_f32_to_f16_portable(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = float_to_half(x[i]);
}

void dqt_attention_head_f16_portable(const float *q, const uint16_t *keys, const uint16_t *values, int64_t kv_stride,
                                     int64_t n, int64_t head_dim, float scale, float *scores, float *out) {
    float m = -INFINITY;
    for (int64_t p = 0; p < n; p++) {
        const uint16_t *k = keys + p * kv_stride;
        float s[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= head_dim; i += 8)
            for (int j = 0; j < 8; j++) s[j] += q[i + j] * dqt_half_to_float(k[i + j]);
        for (; i < head_dim; i++) s[0] += q[i] * dqt_half_to_float(k[i]);
        const float v = sum8(s) * scale;
        scores[p] = v;
        m = v > m ? v : m;
    }
    const float total = dqt_exp_sum_portable(scores, n, m);
    const float inv = 1 / total;
    for (int64_t p = 0; p < n; p++) scores[p] *= inv;
    for (int64_t i = 0; i < head_dim; i++) out[i] = 0;
    for (int64_t p = 0; p < n; p++) {
        const uint16_t *v = values + p * kv_stride;
        const float w = scores[p];
        for (int64_t i = 0; i < head_dim; i++) out[i] += w * dqt_half_to_float(v[i]);
    }
}

void dqt_gated_activation_portable(int relu2, float *gate, const float *up, int64_t n) {
    if (relu2) {
        for (int64_t i = 0; i < n; i++) { const float r = gate[i] > 0 ? gate[i] : 0; gate[i] = r * r * up[i]; }
    } else {
        for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1 + expf(-gate[i])) * up[i];
    }
}
