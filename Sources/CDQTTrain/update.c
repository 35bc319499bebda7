// The coded update of one row (see dqt_train.h): direction, decay, step, rounding, clamp.
// Mirrors Update.codedRowReference in DQTTrain (the oracle) operation for operation; the
// pragma keeps the compiler from fusing a multiply and an add the reference keeps separate.
#include "dqt_train.h"
#include <math.h>

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

static inline float direction_adamw(const dqtt_update_params *p, float gi, float *st) {
    const float m = fmaf(gi, p->omb1, st[0] * p->b1);
    const float v = st[1] * p->b2 + (p->omb2 * gi) * gi;
    st[0] = m;
    st[1] = v;
    return (m / (sqrtf(v) + p->eps)) * p->step_size;
}

int64_t dqtt_update_coded_row(const dqtt_update_params *p, const float *g, float *st,
                              const int8_t *old, int8_t *out, int64_t n) {
    int64_t changed = 0;
    // A non-finite gradient leaves the element and its moments alone (it would poison them).
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(g[i])) goto guarded;
    }
    // All finite: one loop per kind, with no per-element branch.
    switch (p->kind) {
    case 0:
        for (int64_t i = 0; i < n; i++) {
            out[i] = place(p, direction_sgd(g[i]), old[i], p->base + (uint64_t)i);
            changed += out[i] != old[i];
        }
        break;
    case 1:
        for (int64_t i = 0; i < n; i++) {
            out[i] = place(p, direction_momentum(p, g[i], st + i), old[i], p->base + (uint64_t)i);
            changed += out[i] != old[i];
        }
        break;
    default:
        for (int64_t i = 0; i < n; i++) {
            out[i] = place(p, direction_adamw(p, g[i], st + 2 * i), old[i], p->base + (uint64_t)i);
            changed += out[i] != old[i];
        }
        break;
    }
    return changed;
guarded:
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(g[i])) { out[i] = old[i]; continue; }
        const float u = p->kind == 0 ? direction_sgd(g[i])
                      : p->kind == 1 ? direction_momentum(p, g[i], st + i)
                                     : direction_adamw(p, g[i], st + 2 * i);
        out[i] = place(p, u, old[i], p->base + (uint64_t)i);
        changed += out[i] != old[i];
    }
    return changed;
}
