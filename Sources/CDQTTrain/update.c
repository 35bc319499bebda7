// The coded update of one row (see dqt_train.h): direction, decay, step, rounding, clamp.
// Mirrors Update.codedRowReference in DQTTrain (the oracle) operation for operation; the
// pragma keeps the compiler from fusing a multiply and an add the reference keeps separate.
#include "dqt_train.h"
#include "cpu.h"
#include "dqt_kernels.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline int8_t place(const dqtt_update_params *p, float u, int8_t old, uint64_t e) {
    const float q = (float)old;
    if (p->decay) u = u + p->wd * (q * p->s);
    const float x = q - p->k * u;
    if (!isfinite(x)) return old;
    float xc = x < (float)(p->lo - 1) ? (float)(p->lo - 1) : x;
    xc = xc > (float)(p->hi + 1) ? (float)(p->hi + 1) : xc;
    int32_t y;
    if (p->nearest) {
        y = (int32_t)((xc + 12582912.0f) - 12582912.0f);   // 1.5·2^23: round half to even
    } else {
        const int32_t t = (int32_t)xc;
        const int32_t f = t - ((float)t > xc);
        const float r = (float)(mix64(p->key + e * 0x9E3779B97F4A7C15ull) >> 40) * 0x1p-24f;
        y = f + (r < xc - (float)f);
    }
    y = y < p->lo ? p->lo : y;
    y = y > p->hi ? p->hi : y;
    return (int8_t)y;
}

// The optimizer's direction u for element i from its gradient gi, advancing the element's
// state: kind 0 SGD (u = g), 1 momentum (one moment), otherwise AdamW (two moments).
static inline float direction_sgd(float gi) { return gi; }

static inline float direction_momentum(const dqtt_update_params *p, float gi, float *st) {
    const float b = st[0] * p->mu + gi;
    st[0] = b;
    return b;
}

// kind 3: the direction was computed beforehand (the factored optimizer): st holds u.
static inline float direction_given(const float *st) { return st[0]; }

static inline float direction_adamw(const dqtt_update_params *p, float gi, float *st) {
    const float m = fmaf(gi, p->omb1, st[0] * p->b1);
    const float v = st[1] * p->b2 + (p->omb2 * gi) * gi;
    st[0] = m;
    st[1] = v;
    return (m / (sqrtf(v) + p->eps)) * p->step_size;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,f16c")))

// a·c mod 2⁶⁴ for four u64 lanes (AVX2 has no 64-bit multiply): three 32×32→64 products.
AVX2 static inline __m256i mul64(__m256i a, __m256i c) {
    const __m256i lo = _mm256_mul_epu32(a, c);
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), c),
                                           _mm256_mul_epu32(a, _mm256_srli_epi64(c, 32)));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

AVX2 static inline __m256i mix64_avx2(__m256i z) {
    z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), _mm256_set1_epi64x((long long)0xBF58476D1CE4E5B9ull));
    z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), _mm256_set1_epi64x((long long)0x94D049BB133111EBull));
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

// r = (mix64(z) >> 40)·2⁻²⁴ of eight counters (z0: elements 0-3, z1: 4-7) as floats in element order.
AVX2 static inline __m256 uniform8(__m256i z0, __m256i z1) {
    const __m256i a = _mm256_srli_epi64(mix64_avx2(z0), 40), b = _mm256_srli_epi64(mix64_avx2(z1), 40);
    // low 32 bits of each u64 lane: a0 a1 a2 a3 b0 b1 b2 b3
    const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m256i pa = _mm256_permutevar8x32_epi32(a, idx), pb = _mm256_permutevar8x32_epi32(b, idx);
    const __m256i r = _mm256_blend_epi32(pa, pb, 0xF0);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(r), _mm256_set1_ps(0x1p-24f));
}

// Eight elements at a time, every gradient finite (the caller checked): the same operations as
// place() and the direction_* functions above, lane by lane, so the codes and moments are
// bit-identical to the scalar loop (no contraction: the pragma above covers the intrinsics).
AVX2 static int64_t update_avx2(const dqtt_update_params *p, const float *g, float *st, const int8_t *old, int8_t *out,
                                int64_t n) {
    const __m256 k = _mm256_set1_ps(p->k), s = _mm256_set1_ps(p->s), wd = _mm256_set1_ps(p->wd);
    const __m256 lo1 = _mm256_set1_ps((float)(p->lo - 1)), hi1 = _mm256_set1_ps((float)(p->hi + 1));
    const __m256i lo = _mm256_set1_epi32(p->lo), hi = _mm256_set1_epi32(p->hi);
    const __m256 mu = _mm256_set1_ps(p->mu), b1 = _mm256_set1_ps(p->b1), omb1 = _mm256_set1_ps(p->omb1);
    const __m256 b2 = _mm256_set1_ps(p->b2), omb2 = _mm256_set1_ps(p->omb2), eps = _mm256_set1_ps(p->eps);
    const __m256 stepSize = _mm256_set1_ps(p->step_size), magic = _mm256_set1_ps(12582912.0f);
    const __m256 inf = _mm256_set1_ps(INFINITY), absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const uint64_t G = 0x9E3779B97F4A7C15ull;
    __m256i z0 = _mm256_setr_epi64x((long long)(p->key + (p->base + 0) * G), (long long)(p->key + (p->base + 1) * G),
                                    (long long)(p->key + (p->base + 2) * G), (long long)(p->key + (p->base + 3) * G));
    __m256i z1 = _mm256_add_epi64(z0, _mm256_set1_epi64x((long long)(4 * G)));
    const __m256i step8 = _mm256_set1_epi64x((long long)(8 * G));
    int64_t changed = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 gi = _mm256_loadu_ps(g + i);
        const __m256i q32 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(old + i)));
        const __m256 q = _mm256_cvtepi32_ps(q32);
        __m256 u;
        if (p->kind == 0) {
            u = gi;
        } else if (p->kind == 3) {
            u = _mm256_loadu_ps(st + i);
        } else if (p->kind == 1) {
            u = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(st + i), mu), gi);
            _mm256_storeu_ps(st + i, u);
        } else {
            const __m256 a = _mm256_loadu_ps(st + 2 * i), b = _mm256_loadu_ps(st + 2 * i + 8);
            __m256 m = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
            __m256 v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
            m = _mm256_fmadd_ps(gi, omb1, _mm256_mul_ps(m, b1));
            v = _mm256_add_ps(_mm256_mul_ps(v, b2), _mm256_mul_ps(_mm256_mul_ps(omb2, gi), gi));
            const __m256 l = _mm256_unpacklo_ps(m, v), h = _mm256_unpackhi_ps(m, v);
            _mm256_storeu_ps(st + 2 * i, _mm256_permute2f128_ps(l, h, 0x20));
            _mm256_storeu_ps(st + 2 * i + 8, _mm256_permute2f128_ps(l, h, 0x31));
            u = _mm256_mul_ps(_mm256_div_ps(m, _mm256_add_ps(_mm256_sqrt_ps(v), eps)), stepSize);
        }
        if (p->decay) u = _mm256_add_ps(u, _mm256_mul_ps(wd, _mm256_mul_ps(q, s)));
        const __m256 x = _mm256_sub_ps(q, _mm256_mul_ps(k, u));
        const __m256 finite = _mm256_cmp_ps(_mm256_and_ps(x, absMask), inf, _CMP_LT_OQ);
        const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo1), hi1);
        __m256i y;
        if (p->nearest) {
            y = _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_add_ps(xc, magic), magic));
        } else {
            const __m256i t = _mm256_cvttps_epi32(xc);
            const __m256i f = _mm256_add_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(t), xc, _CMP_GT_OQ)));
            const __m256 r = uniform8(z0, z1);
            const __m256 frac = _mm256_sub_ps(xc, _mm256_cvtepi32_ps(f));
            y = _mm256_sub_epi32(f, _mm256_castps_si256(_mm256_cmp_ps(r, frac, _CMP_LT_OQ)));
        }
        y = _mm256_min_epi32(_mm256_max_epi32(y, lo), hi);
        y = _mm256_blendv_epi8(q32, y, _mm256_castps_si256(finite));   // a non-finite target keeps the code
        const __m256i diff = _mm256_xor_si256(_mm256_cmpeq_epi32(y, q32), _mm256_set1_epi32(-1));
        changed += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(diff)));
        // int32 → int8: pack to 16 then 8 bits (values are in −128…127) and fix the lane order.
        const __m128i y16 = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
        _mm_storel_epi64((__m128i *)(out + i), _mm_packs_epi16(y16, y16));
        z0 = _mm256_add_epi64(z0, step8);
        z1 = _mm256_add_epi64(z1, step8);
    }
    return changed;
}
#endif

static int64_t update_scalar(const dqtt_update_params *p, const float *g, float *st, const int8_t *old, int8_t *out,
                             int64_t i0, int64_t n) {
    int64_t changed = 0;
    switch (p->kind) {
    case 0:
        for (int64_t i = i0; i < n; i++) {
            out[i] = place(p, direction_sgd(g[i]), old[i], p->base + (uint64_t)i);
            changed += out[i] != old[i];
        }
        break;
    case 1:
        for (int64_t i = i0; i < n; i++) {
            out[i] = place(p, direction_momentum(p, g[i], st + i), old[i], p->base + (uint64_t)i);
            changed += out[i] != old[i];
        }
        break;
    case 3:
        for (int64_t i = i0; i < n; i++) {
            out[i] = place(p, direction_given(st + i), old[i], p->base + (uint64_t)i);
            changed += out[i] != old[i];
        }
        break;
    default:
        for (int64_t i = i0; i < n; i++) {
            out[i] = place(p, direction_adamw(p, g[i], st + 2 * i), old[i], p->base + (uint64_t)i);
            changed += out[i] != old[i];
        }
        break;
    }
    return changed;
}

int64_t dqtt_update_coded_row_path(int path, const dqtt_update_params *p, const float *g, float *st,
                                   const int8_t *old, int8_t *out, int64_t n) {
    // A non-finite gradient leaves the element and its moments alone (it would poison them).
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(g[i])) goto guarded;
    }
    // All finite: one loop per kind, with no per-element branch.
#if defined(__x86_64__)
    if (path != 0 && dqtt_cpu_avx2()) {
        const int64_t n8 = n / 8 * 8;
        return update_avx2(p, g, st, old, out, n8) + update_scalar(p, g, st, old, out, n8, n);
    }
#endif
    if (path == 1) return -1;
    return update_scalar(p, g, st, old, out, 0, n);
guarded:
    if (path == 1 && !dqtt_cpu_avx2()) return -1;
    {
        int64_t changed = 0;
        for (int64_t i = 0; i < n; i++) {
            if (!isfinite(g[i])) { out[i] = old[i]; continue; }
            const float u = p->kind == 0 ? direction_sgd(g[i])
                          : p->kind == 1 ? direction_momentum(p, g[i], st + i)
                          : p->kind == 3 ? direction_given(st + i)
                                         : direction_adamw(p, g[i], st + 2 * i);
            out[i] = place(p, u, old[i], p->base + (uint64_t)i);
            changed += out[i] != old[i];
        }
        return changed;
    }
}

int64_t dqtt_update_coded_row(const dqtt_update_params *p, const float *g, float *state,
                              const int8_t *old_codes, int8_t *new_codes, int64_t n) {
    return dqtt_update_coded_row_path(2, p, g, state, old_codes, new_codes, n);
}

// MARK: - float rows (f32 / f16 / bf16 tensors): torch's SGD / AdamW in f32, then the tensor's own grid

static inline float f16_to_f32(uint16_t h) { return dqt_half_to_f32(h); }
static inline float bf16_to_f32(uint16_t h) { uint32_t b = (uint32_t)h << 16; float f; memcpy(&f, &b, 4); return f; }

static inline uint16_t f32_to_f16(float x) {   // round to nearest even, overflow to ±inf
    uint16_t h;
    dqt_f32_to_f16(&x, &h, 1);
    return h;
}

static inline uint16_t f32_to_bf16(float f) {   // round to nearest even; NaN stays a quiet NaN
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if (isnan(f)) return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

static inline int ordinal16(uint16_t b) { return (b & 0x8000) ? -(int)(b & 0x7fff) : (int)b; }
static inline uint16_t pattern16(int o) { return o >= 0 ? (uint16_t)o : (uint16_t)(0x8000 | (uint16_t)(-o)); }

// x onto a 16-bit grid (to nearest even; with r ≥ 0, the upper of the two neighbours with
// probability (x − lo)/(hi − lo)), as Half16.round in DQTTrain.
static inline uint16_t round16(float x, float r, int bf16) {
    const uint16_t h = bf16 ? f32_to_bf16(x) : f32_to_f16(x);
    if (r < 0 || !isfinite(x)) return h;
    const float v = bf16 ? bf16_to_f32(h) : f16_to_f32(h);
    if (v == x || !isfinite(v)) return h;
    uint16_t lo, hi;
    if (v < x) { lo = h; hi = pattern16(ordinal16(h) + 1); } else { hi = h; lo = pattern16(ordinal16(h) - 1); }
    const float vl = bf16 ? bf16_to_f32(lo) : f16_to_f32(lo), vh = bf16 ? bf16_to_f32(hi) : f16_to_f32(hi);
    if (!isfinite(vl) || !isfinite(vh) || !(vh > vl)) return h;
    return r < (x - vl) / (vh - vl) ? hi : lo;
}

// One element of a float row (index i): the scalar definition every path follows.
static inline int64_t float_element(const dqtt_float_params *p, const float *g, float *st, const void *src, void *dst,
                                    int64_t i) {
    const int size = p->encoding == 0 ? 4 : 2;
    float w;
    uint16_t hw = 0;
    if (p->encoding == 0) memcpy(&w, (const uint8_t *)src + 4 * i, 4);
    else {
        memcpy(&hw, (const uint8_t *)src + 2 * i, 2);
        w = p->encoding == 1 ? f16_to_f32(hw) : bf16_to_f32(hw);
    }
    const float gi = g[i];
    if (!isfinite(gi)) {   // keep the value and its moments
        memcpy((uint8_t *)dst + size * i, (const uint8_t *)src + size * i, (size_t)size);
        return 0;
    }
    float nw;
    if (p->kind == 0) {
        const float d = p->decay ? fmaf(w, p->wd, gi) : gi;
        nw = fmaf(d, -p->lr, w);
    } else if (p->kind == 3) {   // given direction (factored): decoupled decay, then the step
        const float wdv = p->decay ? w * p->float_decay : w;
        nw = fmaf(st[i], -p->lr, wdv);
    } else if (p->kind == 1) {
        const float d = p->decay ? fmaf(w, p->wd, gi) : gi;
        const float b = st[i] * p->mu + d;
        st[i] = b;
        nw = fmaf(b, -p->lr, w);
    } else {
        const float wdv = p->decay ? w * p->float_decay : w;
        const float m0 = st[2 * i];
        const float m = fmaf(p->omb1, gi - m0, m0);
        const float v = st[2 * i + 1] * p->b2 + (p->omb2 * gi) * gi;
        st[2 * i] = m;
        st[2 * i + 1] = v;
        const float denom = sqrtf(v) / p->bc2_sqrt + p->eps;
        nw = wdv + (-p->step_size * m) / denom;
    }
    if (!isfinite(nw)) nw = w;
    const float r = p->nearest ? -1.0f : (float)(mix64(p->key + (p->base + (uint64_t)i) * 0x9E3779B97F4A7C15ull) >> 40) * 0x1p-24f;
    if (p->encoding == 0) {
        memcpy((uint8_t *)dst + 4 * i, &nw, 4);
        return nw != w;
    }
    const uint16_t h = round16(nw, r, p->encoding == 2);
    memcpy((uint8_t *)dst + 2 * i, &h, 2);
    return (p->encoding == 1 ? f16_to_f32(h) : bf16_to_f32(h)) != w;
}

#if defined(__x86_64__)
// f32 and f16 rows, eight elements at a time (blocks with a non-finite gradient go through
// float_element): the lane-wise operations of float_element, bit-identical to it.
AVX2 static int64_t float_row_avx2(const dqtt_float_params *p, const float *g, float *st, const void *src, void *dst,
                                   int64_t n) {
    const __m256 wd = _mm256_set1_ps(p->wd), nlr = _mm256_set1_ps(-p->lr), mu = _mm256_set1_ps(p->mu);
    const __m256 fdec = _mm256_set1_ps(p->float_decay), omb1 = _mm256_set1_ps(p->omb1), b2 = _mm256_set1_ps(p->b2);
    const __m256 omb2 = _mm256_set1_ps(p->omb2), bc2 = _mm256_set1_ps(p->bc2_sqrt), eps = _mm256_set1_ps(p->eps);
    const __m256 nstep = _mm256_set1_ps(-p->step_size);
    const __m256 inf = _mm256_set1_ps(INFINITY), absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i sign = _mm256_set1_epi32(0x8000), mag = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    const uint64_t G = 0x9E3779B97F4A7C15ull;
    __m256i z0 = _mm256_setr_epi64x((long long)(p->key + (p->base + 0) * G), (long long)(p->key + (p->base + 1) * G),
                                    (long long)(p->key + (p->base + 2) * G), (long long)(p->key + (p->base + 3) * G));
    __m256i z1 = _mm256_add_epi64(z0, _mm256_set1_epi64x((long long)(4 * G)));
    const __m256i step8 = _mm256_set1_epi64x((long long)(8 * G));
    const int f16 = p->encoding == 1;
    int64_t changed = 0, i = 0;
    for (; i + 8 <= n; i += 8, z0 = _mm256_add_epi64(z0, step8), z1 = _mm256_add_epi64(z1, step8)) {
        const __m256 gi = _mm256_loadu_ps(g + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(gi, absMask), inf, _CMP_LT_OQ)) != 0xff) {
            for (int64_t j = i; j < i + 8; j++) changed += float_element(p, g, st, src, dst, j);
            continue;
        }
        __m128i h16w = _mm_setzero_si128();
        __m256 w;
        if (f16) {
            h16w = _mm_loadu_si128((const __m128i *)((const uint16_t *)src + i));
            w = _mm256_cvtph_ps(h16w);
        } else {
            w = _mm256_loadu_ps((const float *)src + i);
        }
        __m256 nw;
        if (p->kind == 0) {
            const __m256 d = p->decay ? _mm256_fmadd_ps(w, wd, gi) : gi;
            nw = _mm256_fmadd_ps(d, nlr, w);
        } else if (p->kind == 3) {
            const __m256 wdv = p->decay ? _mm256_mul_ps(w, fdec) : w;
            nw = _mm256_fmadd_ps(_mm256_loadu_ps(st + i), nlr, wdv);
        } else if (p->kind == 1) {
            const __m256 d = p->decay ? _mm256_fmadd_ps(w, wd, gi) : gi;
            const __m256 b = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(st + i), mu), d);
            _mm256_storeu_ps(st + i, b);
            nw = _mm256_fmadd_ps(b, nlr, w);
        } else {
            const __m256 wdv = p->decay ? _mm256_mul_ps(w, fdec) : w;
            const __m256 a = _mm256_loadu_ps(st + 2 * i), b = _mm256_loadu_ps(st + 2 * i + 8);
            const __m256 m0 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
            __m256 v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
            const __m256 m = _mm256_fmadd_ps(omb1, _mm256_sub_ps(gi, m0), m0);
            v = _mm256_add_ps(_mm256_mul_ps(v, b2), _mm256_mul_ps(_mm256_mul_ps(omb2, gi), gi));
            const __m256 l = _mm256_unpacklo_ps(m, v), h = _mm256_unpackhi_ps(m, v);
            _mm256_storeu_ps(st + 2 * i, _mm256_permute2f128_ps(l, h, 0x20));
            _mm256_storeu_ps(st + 2 * i + 8, _mm256_permute2f128_ps(l, h, 0x31));
            const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), bc2), eps);
            nw = _mm256_add_ps(wdv, _mm256_div_ps(_mm256_mul_ps(nstep, m), denom));
        }
        const __m256 nwFinite = _mm256_cmp_ps(_mm256_and_ps(nw, absMask), inf, _CMP_LT_OQ);
        nw = _mm256_blendv_ps(w, nw, nwFinite);
        if (!f16) {
            _mm256_storeu_ps((float *)dst + i, nw);
            changed += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(nw, w, _CMP_NEQ_UQ)));
            continue;
        }
        const __m128i h16 = _mm256_cvtps_ph(nw, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m128i out16 = h16;
        if (!p->nearest) {
            const __m256 v = _mm256_cvtph_ps(h16);
            const __m256i h = _mm256_cvtepu16_epi32(h16);
            const __m256 xFinite = _mm256_cmp_ps(_mm256_and_ps(nw, absMask), inf, _CMP_LT_OQ);
            const __m256 vFinite = _mm256_cmp_ps(_mm256_and_ps(v, absMask), inf, _CMP_LT_OQ);
            const __m256 need = _mm256_and_ps(_mm256_and_ps(xFinite, vFinite), _mm256_cmp_ps(v, nw, _CMP_NEQ_UQ));
            // ordinal ± 1 of a sign-magnitude pattern
            const __m256i neg = _mm256_cmpeq_epi32(_mm256_and_si256(h, sign), sign);
            const __m256i zeroMag = _mm256_cmpeq_epi32(_mm256_and_si256(h, mag), _mm256_setzero_si256());
            const __m256i hp = _mm256_add_epi32(h, one), hm = _mm256_sub_epi32(h, one);
            // next: negative → h−1 (−0 → 0x0001, and 0x8001 → +0: ordinal −1 + 1 = 0); positive → h+1
            const __m256i mag1 = _mm256_cmpeq_epi32(_mm256_and_si256(h, mag), one);
            const __m256i nextNeg = _mm256_blendv_epi8(_mm256_blendv_epi8(hm, _mm256_setzero_si256(), mag1), one, zeroMag);
            const __m256i next = _mm256_blendv_epi8(hp, nextNeg, neg);
            // prev: positive → h−1 (+0 → 0x8001); negative → h+1
            const __m256i prev = _mm256_blendv_epi8(_mm256_blendv_epi8(hm, _mm256_set1_epi32(0x8001), zeroMag), hp, neg);
            const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(v, nw, _CMP_LT_OQ));
            const __m256i lo = _mm256_blendv_epi8(prev, h, up), hi = _mm256_blendv_epi8(h, next, up);
            const __m128i lo16 = _mm_packus_epi32(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
            const __m128i hi16 = _mm_packus_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
            const __m256 vl = _mm256_cvtph_ps(lo16), vh = _mm256_cvtph_ps(hi16);
            const __m256 ok = _mm256_and_ps(_mm256_and_ps(need, _mm256_cmp_ps(vh, vl, _CMP_GT_OQ)),
                                            _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(vl, absMask), inf, _CMP_LT_OQ),
                                                          _mm256_cmp_ps(_mm256_and_ps(vh, absMask), inf, _CMP_LT_OQ)));
            const __m256 r = uniform8(z0, z1);
            const __m256 prob = _mm256_div_ps(_mm256_sub_ps(nw, vl), _mm256_sub_ps(vh, vl));
            const __m128i pickUp = _mm_packs_epi32(_mm256_castsi256_si128(_mm256_castps_si256(_mm256_cmp_ps(r, prob, _CMP_LT_OQ))),
                                                   _mm256_extracti128_si256(_mm256_castps_si256(_mm256_cmp_ps(r, prob, _CMP_LT_OQ)), 1));
            const __m128i okMask = _mm_packs_epi32(_mm256_castsi256_si128(_mm256_castps_si256(ok)),
                                                   _mm256_extracti128_si256(_mm256_castps_si256(ok), 1));
            const __m128i pick = _mm_blendv_epi8(lo16, hi16, pickUp);
            out16 = _mm_blendv_epi8(h16, pick, okMask);
        }
        _mm_storeu_si128((__m128i *)((uint16_t *)dst + i), out16);
        changed += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_cvtph_ps(out16), w, _CMP_NEQ_UQ)));
        (void)h16w;
    }
    for (; i < n; i++) changed += float_element(p, g, st, src, dst, i);
    return changed;
}
#endif

int64_t dqtt_update_float_row_path(int path, const dqtt_float_params *p, const float *g, float *st, const void *src,
                                   void *dst, int64_t n) {
#if defined(__x86_64__)
    if (path != 0 && dqtt_cpu_avx2() && p->encoding != 2) return float_row_avx2(p, g, st, src, dst, n);
#endif
    if (path == 1 && !dqtt_cpu_avx2()) return -1;
    int64_t changed = 0;
    for (int64_t i = 0; i < n; i++) changed += float_element(p, g, st, src, dst, i);
    return changed;
}

int64_t dqtt_update_float_row(const dqtt_float_params *p, const float *g, float *st, const void *src, void *dst, int64_t n) {
    return dqtt_update_float_row_path(2, p, g, st, src, dst, n);
}

// MARK: - the factored direction (formats/dqt-tune.md §4.2, adafactor)

// Σ of x[j]² over finite x[j], in eight fixed lanes combined in a fixed order: the same sum on
// every CPU and compiler (no reassociation is needed to vectorize it).
static float sum_squares(const float *x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) {
            const float v = x[j + l];
            acc[l] += isfinite(v) ? v * v : 0.0f;
        }
    for (; j < n; j++) acc[j & 7] += isfinite(x[j]) ? x[j] * x[j] : 0.0f;
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static float factored_row_scalar(const float *g, int64_t n, float rho, const float *shape, const dqtt_factored_params *p,
                                 float *u, float *col, int first) {
    const float mean = sum_squares(g, n) / (float)n;
    const float r = p->b2 * rho + p->omb2 * (mean + p->eps1);
    const float rb = r / p->bc2;   // bias-corrected row statistic
    for (int64_t j = 0; j < n; j++) u[j] = g[j] / (sqrtf(rb * shape[j]) + p->eps);
    const float rms = sqrtf(sum_squares(u, n) / (float)n);
    if (rms > p->clip) {
        const float f = p->clip / rms;
        for (int64_t j = 0; j < n; j++) u[j] = u[j] * f;
    }
    if (first) {
        for (int64_t j = 0; j < n; j++) col[j] = isfinite(g[j]) ? g[j] * g[j] : 0.0f;
    } else {
        for (int64_t j = 0; j < n; j++) col[j] = col[j] + (isfinite(g[j]) ? g[j] * g[j] : 0.0f);
    }
    return r;
}

#if defined(__x86_64__)
// The same operations eight lanes at a time. Lane l of the sums is sum_squares' acc[l] (8-aligned
// blocks, then the tail), and sqrt, ÷, ×, + are correctly rounded per lane, so every result is
// the scalar one bit for bit. Measured (perf, 160M model, 1 thread): the scalar row was 8.5% of
// a step's cycles (the baseline x86-64 build does not vectorize sqrt/÷ under isfinite).
AVX2 static inline __m256 finite_squares(__m256 v) {
    const __m256 abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
    const __m256 finite = _mm256_cmp_ps(abs, _mm256_set1_ps(INFINITY), _CMP_LT_OQ);   // NaN: false
    return _mm256_and_ps(_mm256_mul_ps(v, v), finite);
}

AVX2 static float sum_squares_avx2(const float *x, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) acc = _mm256_add_ps(acc, finite_squares(_mm256_loadu_ps(x + j)));
    float a[8];
    _mm256_storeu_ps(a, acc);
    for (; j < n; j++) a[j & 7] += isfinite(x[j]) ? x[j] * x[j] : 0.0f;
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

AVX2 static float factored_row_avx2(const float *g, int64_t n, float rho, const float *shape, const dqtt_factored_params *p,
                                    float *u, float *col, int first) {
    const float mean = sum_squares_avx2(g, n) / (float)n;
    const float r = p->b2 * rho + p->omb2 * (mean + p->eps1);
    const float rb = r / p->bc2;
    const __m256 vrb = _mm256_set1_ps(rb), veps = _mm256_set1_ps(p->eps);
    const int64_t n8 = n / 8 * 8;
    for (int64_t j = 0; j < n8; j += 8) {
        const __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vrb, _mm256_loadu_ps(shape + j))), veps);
        _mm256_storeu_ps(u + j, _mm256_div_ps(_mm256_loadu_ps(g + j), den));
    }
    for (int64_t j = n8; j < n; j++) u[j] = g[j] / (sqrtf(rb * shape[j]) + p->eps);
    const float rms = sqrtf(sum_squares_avx2(u, n) / (float)n);
    if (rms > p->clip) {
        const float f = p->clip / rms;
        const __m256 vf = _mm256_set1_ps(f);
        for (int64_t j = 0; j < n8; j += 8) _mm256_storeu_ps(u + j, _mm256_mul_ps(_mm256_loadu_ps(u + j), vf));
        for (int64_t j = n8; j < n; j++) u[j] = u[j] * f;
    }
    for (int64_t j = 0; j < n8; j += 8) {
        const __m256 sq = finite_squares(_mm256_loadu_ps(g + j));
        _mm256_storeu_ps(col + j, first ? sq : _mm256_add_ps(_mm256_loadu_ps(col + j), sq));
    }
    for (int64_t j = n8; j < n; j++) {
        const float sq = isfinite(g[j]) ? g[j] * g[j] : 0.0f;
        col[j] = first ? sq : col[j] + sq;
    }
    return r;
}
#endif

float dqtt_factored_row_path(int path, const float *g, int64_t n, float rho, const float *shape,
                             const dqtt_factored_params *p, float *u, float *col, int first) {
#if defined(__x86_64__)
    if (path != 0 && dqtt_cpu_avx2()) return factored_row_avx2(g, n, rho, shape, p, u, col, first);
#endif
    if (path == 1) return NAN;
    return factored_row_scalar(g, n, rho, shape, p, u, col, first);
}

float dqtt_factored_row(const float *g, int64_t n, float rho, const float *shape, const dqtt_factored_params *p, float *u,
                        float *col, int first) {
    return dqtt_factored_row_path(2, g, n, rho, shape, p, u, col, first);
}
