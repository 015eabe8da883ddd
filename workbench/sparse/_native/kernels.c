/* The sparse products of workbench.sparse, compiled on first use (see workbench/sparse/native.py).
 *
 * A pattern is a CSR matrix of rows x cols with int32 row pointers crow[rows + 1] and columns col[nnz]. Dense
 * operands are row-major with a leading dimension (ld*): row r of x is x[r * ldx : r * ldx + width]. The batch is
 * the dense operands' column dimension ("width"), so every kept weight multiplies a contiguous row of them: the
 * loops over it are vector loops.
 *
 * The body (kernels.h) is compiled once per element type: float (8 lanes) and double (4 lanes) in 32-byte GCC
 * vectors, which the compiler lowers to the widest units the machine has (two halves where a unit is 16 bytes).
 * No fast-math: the sums are those of the obvious loops, so NaNs and infinities propagate as in torch.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h> /* the mask bytes widened to lanes in gemm.h */
#endif

typedef float vf32 __attribute__((vector_size(32)));
typedef double vf64 __attribute__((vector_size(32)));

static inline vf32 load_v8(const float *p) { vf32 v; memcpy(&v, p, sizeof v); return v; }
static inline void store_v8(float *p, vf32 v) { memcpy(p, &v, sizeof v); }
static inline vf64 load_v4(const double *p) { vf64 v; memcpy(&v, p, sizeof v); return v; }
static inline void store_v4(double *p, vf64 v) { memcpy(p, &v, sizeof v); }

typedef int32_t vi32 __attribute__((vector_size(32)));
typedef int64_t vi64 __attribute__((vector_size(32)));

/* out[i][r] = a[r][i]: a block of 8x8 floats (4x4 doubles) turned in registers, for the transposes below and the
 * packing of the dense products (gemm.h). */
static inline void turn_f32(const vf32 a[8], vf32 out[8]) {
    const vi32 low = {0, 8, 1, 9, 4, 12, 5, 13}, high = {2, 10, 3, 11, 6, 14, 7, 15};
    const vi32 pairs_low = {0, 1, 8, 9, 4, 5, 12, 13}, pairs_high = {2, 3, 10, 11, 6, 7, 14, 15};
    const vi32 halves_low = {0, 1, 2, 3, 8, 9, 10, 11}, halves_high = {4, 5, 6, 7, 12, 13, 14, 15};
    vf32 b[8], c[8];
    for (int i = 0; i < 8; i += 2) {
        b[i] = __builtin_shuffle(a[i], a[i + 1], low);
        b[i + 1] = __builtin_shuffle(a[i], a[i + 1], high);
    }
    for (int i = 0; i < 8; i += 4) {
        c[i] = __builtin_shuffle(b[i], b[i + 2], pairs_low);
        c[i + 1] = __builtin_shuffle(b[i], b[i + 2], pairs_high);
        c[i + 2] = __builtin_shuffle(b[i + 1], b[i + 3], pairs_low);
        c[i + 3] = __builtin_shuffle(b[i + 1], b[i + 3], pairs_high);
    }
    for (int i = 0; i < 4; i++) {
        out[i] = __builtin_shuffle(c[i], c[i + 4], halves_low);
        out[i + 4] = __builtin_shuffle(c[i], c[i + 4], halves_high);
    }
}

static inline void turn_f64(const vf64 a[4], vf64 out[4]) {
    const vi64 low = {0, 4, 2, 6}, high = {1, 5, 3, 7}, halves_low = {0, 1, 4, 5}, halves_high = {2, 3, 6, 7};
    const vf64 b0 = __builtin_shuffle(a[0], a[1], low), b1 = __builtin_shuffle(a[0], a[1], high);
    const vf64 b2 = __builtin_shuffle(a[2], a[3], low), b3 = __builtin_shuffle(a[2], a[3], high);
    out[0] = __builtin_shuffle(b0, b2, halves_low);
    out[1] = __builtin_shuffle(b1, b3, halves_low);
    out[2] = __builtin_shuffle(b0, b2, halves_high);
    out[3] = __builtin_shuffle(b1, b3, halves_high);
}

/* dst[c, r] = src[r, c] for r < rows, c < cols: tiles of 8x8 floats (4x4 doubles) turned in registers. */
void transpose_f32(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst, int64_t ldd) {
    int64_t r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int64_t c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8) {
            vf32 a[8], turned[8];
            for (int i = 0; i < 8; i++) a[i] = load_v8(src + (r0 + i) * lds + c0);
            turn_f32(a, turned);
            for (int i = 0; i < 8; i++) store_v8(dst + (c0 + i) * ldd + r0, turned[i]);
        }
        for (; c0 < cols; c0++)
            for (int64_t k = 0; k < 8; k++) dst[c0 * ldd + r0 + k] = src[(r0 + k) * lds + c0];
    }
    for (; r0 < rows; r0++)
        for (int64_t c = 0; c < cols; c++) dst[c * ldd + r0] = src[r0 * lds + c];
}

void transpose_f64(int64_t rows, int64_t cols, const double *src, int64_t lds, double *dst, int64_t ldd) {
    int64_t r0 = 0;
    for (; r0 + 4 <= rows; r0 += 4) {
        int64_t c0 = 0;
        for (; c0 + 4 <= cols; c0 += 4) {
            vf64 a[4], turned[4];
            for (int i = 0; i < 4; i++) a[i] = load_v4(src + (r0 + i) * lds + c0);
            turn_f64(a, turned);
            for (int i = 0; i < 4; i++) store_v4(dst + (c0 + i) * ldd + r0, turned[i]);
        }
        for (; c0 < cols; c0++)
            for (int64_t k = 0; k < 4; k++) dst[c0 * ldd + r0 + k] = src[(r0 + k) * lds + c0];
    }
    for (; r0 < rows; r0++)
        for (int64_t c = 0; c < cols; c++) dst[c * ldd + r0] = src[r0 * lds + c];
}





#define T float
#define V vf32
#define VI vi32
#define LANES 8
#define NAME(x) x##_f32
#include "kernels.h"
#include "gemm.h"
#undef T
#undef V
#undef VI
#undef LANES
#undef NAME

#define T double
#define V vf64
#define VI vi64
#define LANES 4
#define NAME(x) x##_f64
#include "kernels.h"
#include "gemm.h"
#undef T
#undef V
#undef VI
#undef LANES
#undef NAME

/* dst[i] = src[i] where bit i of bits is set, else 0 (bits: one per element, the lowest bit of each byte first):
 * a weight-sized tensor times a mask with a sixteenth of the memory traffic of a float factor for the mask. In place
 * when dst is src. */
void mask_bits_f32(int64_t n, const float *src, const uint8_t *bits, float *dst) {
    const vi32 lanes = {1, 2, 4, 8, 16, 32, 64, 128};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const vi32 keep = (((vi32){0} + (int32_t)bits[i >> 3]) & lanes) != 0;
        vi32 x;
        memcpy(&x, src + i, sizeof x);
        x &= keep;
        memcpy(dst + i, &x, sizeof x);
    }
    for (; i < n; i++) dst[i] = (bits[i >> 3] >> (i & 7)) & 1 ? src[i] : 0.0f;
}

void mask_bits_f64(int64_t n, const double *src, const uint8_t *bits, double *dst) {
    const vi64 low = {1, 2, 4, 8}, high = {16, 32, 64, 128};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const vi64 byte = (vi64){0} + (int64_t)bits[i >> 3];
        vi64 a, b;
        memcpy(&a, src + i, sizeof a);
        memcpy(&b, src + i + 4, sizeof b);
        a &= (byte & low) != 0;
        b &= (byte & high) != 0;
        memcpy(dst + i, &a, sizeof a);
        memcpy(dst + i + 4, &b, sizeof b);
    }
    for (; i < n; i++) dst[i] = (bits[i >> 3] >> (i & 7)) & 1 ? src[i] : 0.0;
}

/* The version of this file's interface; native.py checks it after loading. */
int workbench_kernels_version(void) { return 9; }
