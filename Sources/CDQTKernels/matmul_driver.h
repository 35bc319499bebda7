// The matmul driver shared by the AVX2 and AVX-512 VNNI paths, included with MM_TARGET (the
// function attribute), MM_ROWS × MM_TOKENS (the tile), MM_TILE (the tile function:
// out[rr·MM_TOKENS + k] = Σ_{i<len} cw[rr][i]·qp[k][i]) and MM_DRIVER (the function's name).
// Ternary rows are decoded to code bytes (w+1) once per column chunk and token group, then
// every tile of MM_TOKENS tokens reuses them. A missing row / token of a partial tile repeats
// the last one and its results are dropped.
#ifndef MM_BLOCK_ROWS
// Results of a block of 16 rows × up to 64 tokens are summed in a local int32 buffer and written
// to y once per block, a 64-byte line per token: writing y per row pair touched 128 lines at a
// large stride for every two rows (L1 set conflicts) and cost ~20% on 4096-row matrices.
#define MM_BLOCK_ROWS 16
#define MM_GROUP_TOKENS 64
#endif

static MM_TARGET void MM_DRIVER(int t1, const uint8_t *w, int64_t row_bytes, int64_t cols,
                                         const int8_t *q, int64_t q_stride, const int32_t *qsum,
                                         const float *mult, int64_t n, int64_t r0, int64_t r1,
                                         float *y, int64_t y_stride) {
    _Alignas(64) uint8_t codes[MM_ROWS][DQT_MM_CHUNK];
    int32_t acc[MM_GROUP_TOKENS][MM_BLOCK_ROWS];
    const int64_t padded = dqt_ternary_cols(t1, cols);
    for (int64_t t0 = 0; t0 < n; t0 += MM_GROUP_TOKENS) {
        const int64_t tn = n - t0 < MM_GROUP_TOKENS ? n - t0 : MM_GROUP_TOKENS;
        for (int64_t rb = r0; rb < r1; rb += MM_BLOCK_ROWS) {
            const int nr = r1 - rb < MM_BLOCK_ROWS ? (int)(r1 - rb) : MM_BLOCK_ROWS;
            memset(acc, 0, sizeof acc);
            for (int64_t c0 = 0; c0 < padded; c0 += DQT_MM_CHUNK) {
                const int64_t len = padded - c0 < DQT_MM_CHUNK ? padded - c0 : DQT_MM_CHUNK;
                for (int p = 0; p < nr; p += MM_ROWS) {
                    const int R = nr - p < MM_ROWS ? nr - p : MM_ROWS;
                    for (int rr = 0; rr < R; rr++) {   // decoded once per chunk and token group
                        const uint8_t *row = w + (rb + p + rr) * row_bytes;
                        if (t1) dqt_decode_t1_codes_avx2(row, row_bytes, cols, c0, len, codes[rr]);
                        else dqt_decode_t2_codes_avx2(row, cols, c0, len, codes[rr]);
                    }
                    const uint8_t *cw[MM_ROWS];
                    for (int rr = 0; rr < MM_ROWS; rr++) cw[rr] = codes[rr < R ? rr : R - 1];
                    for (int64_t t = 0; t < tn; t += MM_TOKENS) {
                        const int T = tn - t < MM_TOKENS ? (int)(tn - t) : MM_TOKENS;
                        const int8_t *qp[MM_TOKENS];
                        for (int k = 0; k < MM_TOKENS; k++) qp[k] = q + (t0 + t + (k < T ? k : T - 1)) * q_stride + c0;
                        int32_t out[MM_ROWS * MM_TOKENS];
                        MM_TILE(cw, qp, len, out);
                        for (int k = 0; k < T; k++)
                            for (int rr = 0; rr < R; rr++) acc[t + k][p + rr] += out[rr * MM_TOKENS + k];
                    }
                }
            }
            for (int64_t t = 0; t < tn; t++) {
                float *yt = y + (t0 + t) * y_stride + rb;
                for (int i = 0; i < nr; i++) yt[i] = (float)(acc[t][i] - qsum[t0 + t]) * mult[t0 + t];
            }
        }
    }
}

#undef MM_TARGET
#undef MM_TILE
#undef MM_DRIVER
#undef MM_ROWS
#undef MM_TOKENS
