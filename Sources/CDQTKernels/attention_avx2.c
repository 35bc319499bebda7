// AVX2 float helpers of the forward pass: attention of one head over the KV cache (f32 or
// f16 elements), f32 -> f16 conversion for that cache, and the gated FFN activation. Swift code is compiled for baseline x86-64 (SSE2, no FMA): there a
// SIMD8 fused multiply-add becomes eight libm fmaf calls and expf is scalar, which made
// attention and SiLU cost more than the ternary matvecs they sit between.
#include "avx2_common.h"
#if defined(__x86_64__)
#include <math.h>

// e^x for x in [−87.3, 88] within 2 ulp (Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6
// polynomial for e^r, 2^n built in the exponent bits, n ∈ [−126, 127]). Inputs are clamped to
// that range, so e^x bottoms out at ~1e−38 instead of 0, and tops out at ~1.7e38 instead of inf.
DQT_AVX2_INLINE __m256 exp_ps(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);   // ln2 split in two parts
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // n + 127 is in [1, 255] here, so the exponent field is always a normal one.
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// x[p] = e^(x[p] − m), and their sum (8 lanes, then the tail in order).
DQT_AVX2_INLINE float exp_sum(float *x, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 vs = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= n; p += 8) {
        const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + p), vm));
        _mm256_storeu_ps(x + p, e);
        vs = _mm256_add_ps(vs, e);
    }
    float total = dqt_hsum_ps(vs);
    for (; p < n; p++) {
        _Alignas(32) float t[8] = {x[p] - m};
        _mm256_store_ps(t, exp_ps(_mm256_load_ps(t)));
        x[p] = t[0];
        total += t[0];
    }
    return total;
}

DQT_AVX2 float dqt_exp_sum_avx2(float *x, int64_t n, float m) { return exp_sum(x, n, m); }

// Loads 8 cached values as floats: f32 as is, f16 through F16C.
DQT_AVX2_INLINE __m256 kv_load(const void *p, int half) {
    return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)) : _mm256_loadu_ps((const float *)p);
}
DQT_AVX2_INLINE float kv_scalar(const void *p, int64_t i, int half) {
    return half ? dqt_half_to_float(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

// Σ q[i]·k[i], k of f32 or f16 elements.
DQT_AVX2_INLINE float dot_kv(const float *a, const void *b, int64_t n, int half) {
    const int64_t es = half ? 2 : 4;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load((const char *)b + es * i, half), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), kv_load((const char *)b + es * (i + 8), half), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load((const char *)b + es * i, half), s0);
    float s = dqt_hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * kv_scalar(b, i, half);
    return s;
}

// out[i0 + j] = Σ_p w[p]·v_p[i0 + j] for j < 8·k (k ≤ 12, a constant at each call site, so the
// accumulators are registers).
DQT_AVX2_INLINE void accumulate_values(const float *w, const void *values, int64_t kv_stride, int64_t n, int64_t i0,
                                       float *out, int half, int k) {
    const int64_t es = half ? 2 : 4;
    __m256 a[12];
    for (int j = 0; j < k; j++) a[j] = _mm256_setzero_ps();
    for (int64_t t = 0; t < n; t++) {
        const char *v = (const char *)values + es * (t * kv_stride + i0);
        const __m256 wt = _mm256_set1_ps(w[t]);
        for (int j = 0; j < k; j++) a[j] = _mm256_fmadd_ps(wt, kv_load(v + 8 * j * es, half), a[j]);
    }
    for (int j = 0; j < k; j++) _mm256_storeu_ps(out + i0 + 8 * j, a[j]);
}

// The attention of one head over a cache of f32 (half = 0) or f16 (half = 1) elements.
DQT_AVX2_INLINE void attention_head(const float *q, const void *keys, const void *values, int64_t kv_stride,
                                    int64_t n, int64_t head_dim, float scale, float *scores, float *out, int half) {
    const int64_t es = half ? 2 : 4;   // bytes per cached element
    // scores[p] = scale · q·k_p, and their max.
    float m = -INFINITY;
    for (int64_t p = 0; p < n; p++) {
        const float v = dot_kv(q, (const char *)keys + es * p * kv_stride, head_dim, half) * scale;
        scores[p] = v;
        m = v > m ? v : m;
    }
    const float total = exp_sum(scores, n, m);
    int64_t p;
    // Probabilities first (as softmax-then-matmul references do), then out = Σ_p scores[p]·v_p.
    const float invTotal = 1 / total;
    for (p = 0; p + 8 <= n; p += 8) _mm256_storeu_ps(scores + p, _mm256_mul_ps(_mm256_loadu_ps(scores + p), _mm256_set1_ps(invTotal)));
    for (; p < n; p++) scores[p] *= invTotal;
    // Chunks of up to 96 outputs stay in registers while every position's slice is read in
    // order: with a head-major cache a head's values are one sequential stream (per-element
    // sums run over p in order whatever the chunking).
    int64_t i = 0;
    for (; i + 96 <= head_dim; i += 96) accumulate_values(scores, values, kv_stride, n, i, out, half, 12);
    for (; i + 32 <= head_dim; i += 32) accumulate_values(scores, values, kv_stride, n, i, out, half, 4);
    for (; i + 8 <= head_dim; i += 8) accumulate_values(scores, values, kv_stride, n, i, out, half, 1);
    for (; i < head_dim; i++) {
        float a = 0;
        for (int64_t t = 0; t < n; t++) a += scores[t] * kv_scalar(values, t * kv_stride + i, half);
        out[i] = a;
    }
}

DQT_AVX2 void dqt_attention_head_avx2(const float *q, const float *keys, const float *values, int64_t kv_stride,
                                      int64_t n, int64_t head_dim, float scale, float *scores, float *out) {
    attention_head(q, keys, values, kv_stride, n, head_dim, scale, scores, out, 0);
}

DQT_AVX2 void dqt_attention_head_f16_avx2(const float *q, const uint16_t *keys, const uint16_t *values, int64_t kv_stride,
                                          int64_t n, int64_t head_dim, float scale, float *scores, float *out) {
    attention_head(q, keys, values, kv_stride, n, head_dim, scale, scores, out, 1);
}

DQT_AVX2 void dqt_f32_to_f16_avx2(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (i < n) {   // the tail through a local copy (the same rounding)
        _Alignas(32) float t[8] = {0};
        _Alignas(16) uint16_t h[8];
        memcpy(t, x + i, (size_t)(n - i) * 4);
        _mm_store_si128((__m128i *)h, _mm256_cvtps_ph(_mm256_load_ps(t), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        memcpy(y + i, h, (size_t)(n - i) * 2);
    }
}

DQT_AVX2 void dqt_gated_activation_avx2(int relu2, float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    if (relu2) {
        for (; i + 8 <= n; i += 8) {
            const __m256 r = _mm256_max_ps(_mm256_loadu_ps(gate + i), _mm256_setzero_ps());
            _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_mul_ps(r, r), _mm256_loadu_ps(up + i)));
        }
        for (; i < n; i++) { const float r = gate[i] > 0 ? gate[i] : 0; gate[i] = r * r * up[i]; }
        return;
    }
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, exp_ps(_mm256_xor_ps(g, neg))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1 + expf(-gate[i])) * up[i];
}
#endif
