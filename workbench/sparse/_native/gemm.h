/* Dense products through a mask packed one bit per weight, for one element type T (included by kernels.c after
 * kernels.h, with the same macros). These are the three products of a masked linear layer on the dense kernel:
 *
 *   forward   y[M, out]   = bias + x[M, in] @ (W * mask).T
 *   backward  gx[M, in]   = g[M, out] @ (W * mask)
 *             gw[out, in] = (g.T @ x) * mask
 *
 * The mask is applied where the operands are packed (the weight) or where the result is stored (its gradient), so a
 * step reads and writes nothing weight-sized beyond what the products themselves do: no masked copy of the weight and
 * no second pass over its gradient. The layout is the usual one of fast matrix products: a block of B packed into
 * panels of GM_NR columns that stay in L1 while tiles of GM_MR rows of A (packed too) run across them, each tile's
 * GM_MR x GM_NR sums held in twelve vector registers.
 *
 * Bits: bit e of the mask (the lowest bit of each byte first) belongs to the element at offset e of the weight (B's
 * storage, or C's for the gradient), so the operand must be the contiguous weight; the caller pads the bits with four
 * bytes, since a row's bits are read four bytes at a time. */

#define GM_MR 6
#define GM_NR (2 * LANES)
#define GM_KC 512 /* measured: 512 a little ahead of 256 and 384 at batch 64 (784x1000) */
#define GM_MC 144
#define GM_NC 1024

static inline V NAME(broadcast)(T s) { /* a literal, which becomes one broadcast (a loop over lanes does not) */
#if LANES == 8
    return (V){s, s, s, s, s, s, s, s};
#else
    return (V){s, s, s, s};
#endif
}

/* The lowest LANES bits of word as lanes of all ones (bit set) or zeros: one load from a table (kernels.c). */
static inline VI NAME(lanes)(uint32_t word) { return NAME(mask_lanes)[word & ((1u << LANES) - 1)]; }

/* The LANES bits of the mask from bit at on, as lanes. */
static inline VI NAME(keep)(const uint8_t *bits, int64_t at) {
    uint32_t word;
    memcpy(&word, bits + (at >> 3), 4);
    return NAME(lanes)(word >> (at & 7));
}

static inline V NAME(masked)(V v, VI keep) { return (V)((VI)v & keep); }

static inline int NAME(bit)(const uint8_t *bits, int64_t at) { return (bits[at >> 3] >> (at & 7)) & 1; }

/* A[i0 : i0 + mc, p0 : p0 + kc] into tiles of GM_MR rows, each [kc][GM_MR] (rows past mc left as they are: the
 * kernel of a short tile does not read them). A[i, k] is a[i * lda + k], or a[k * lda + i] when a_cols. */
static void NAME(pack_a)(const T *a, int64_t lda, int a_cols, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T *ap) {
    for (int64_t t = 0; t < mc; t += GM_MR) {
        const int rows = mc - t < GM_MR ? (int)(mc - t) : GM_MR;
        T *dst = ap + t * kc;
        if (a_cols) {
            for (int64_t k = 0; k < kc; k++) {
                const T *src = a + (p0 + k) * lda + i0 + t;
                for (int r = 0; r < rows; r++) dst[k * GM_MR + r] = src[r];
            }
        } else {
            for (int r = 0; r < rows; r++) {
                const T *src = a + (i0 + t + r) * lda + p0;
                for (int64_t k = 0; k < kc; k++) dst[k * GM_MR + r] = src[k];
            }
        }
    }
}

/* B[p0 : p0 + kc, j0 : j0 + cols] (cols <= GM_NR) into one panel [kc][GM_NR], zero past cols, times the mask when
 * bits is given. B[k, j] is b[k * ldb + j], or b[j * ldb + k] when b_cols (then LANES x LANES blocks are turned in
 * registers). */
static void NAME(pack_b)(const T *b, int64_t ldb, int b_cols, const uint8_t *bits, int64_t p0, int64_t kc, int64_t j0,
                         int cols, T *bp) {
    int64_t k = 0;
    if (!b_cols) {
        if (cols == GM_NR) {
            for (; k < kc; k++) {
                const int64_t at = (p0 + k) * ldb + j0;
                V low = NAME(load)(b + at), high = NAME(load)(b + at + LANES);
                if (bits) low = NAME(masked)(low, NAME(keep)(bits, at)), high = NAME(masked)(high, NAME(keep)(bits, at + LANES));
                NAME(store)(bp + k * GM_NR, low);
                NAME(store)(bp + k * GM_NR + LANES, high);
            }
        }
        for (; k < kc; k++)
            for (int j = 0; j < GM_NR; j++) {
                const int64_t at = (p0 + k) * ldb + j0 + j;
                bp[k * GM_NR + j] = j < cols && (!bits || NAME(bit)(bits, at)) ? b[at] : 0;
            }
        return;
    }
    if (cols == GM_NR) {
        for (; k + LANES <= kc; k += LANES)
            for (int half = 0; half < 2; half++) {
                V rows[LANES], turned[LANES];
                for (int r = 0; r < LANES; r++) {
                    const int64_t at = (j0 + half * LANES + r) * ldb + p0 + k;
                    rows[r] = NAME(load)(b + at);
                    if (bits) rows[r] = NAME(masked)(rows[r], NAME(keep)(bits, at));
                }
                NAME(turn)(rows, turned);
                for (int i = 0; i < LANES; i++) NAME(store)(bp + (k + i) * GM_NR + half * LANES, turned[i]);
            }
    }
    for (; k < kc; k++)
        for (int j = 0; j < GM_NR; j++) {
            const int64_t at = (j0 + j) * ldb + p0 + k;
            bp[k * GM_NR + j] = j < cols && (!bits || NAME(bit)(bits, at)) ? b[at] : 0;
        }
}

/* acc = the product of a packed tile of `rows` rows (rows a constant where this is inlined) and a packed panel. */
static inline __attribute__((always_inline)) void NAME(micro)(const int rows, int64_t kc, const T *restrict ap,
                                                              const T *restrict bp, V acc[GM_MR][2]) {
    for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = (V){0};
    for (int64_t k = 0; k < kc; k++) {
        const V low = NAME(load)(bp + k * GM_NR), high = NAME(load)(bp + k * GM_NR + LANES);
        for (int r = 0; r < rows; r++) {
            const V a = NAME(broadcast)(ap[k * GM_MR + r]);
            acc[r][0] += a * low;
            acc[r][1] += a * high;
        }
    }
}

/* How a tile is stored: C = acc (SET), C = bias + acc (BIAS, the first block of the sum), C += acc (ADD, the later
 * ones), and then times the mask bit of C's element (MASK, the last block). */
#define GM_SET 0
#define GM_BIAS 1
#define GM_ADD 2
#define GM_MASK 4

/* A tile of GM_NR columns (rows and how constants where this is inlined: one lean store per case). */
static inline __attribute__((always_inline)) void NAME(put)(const int rows, const int how, V acc[GM_MR][2], T *c,
                                                            int64_t ldc, int64_t i0, int64_t j0, const T *bias,
                                                            const uint8_t *c_bits) {
    for (int r = 0; r < rows; r++) {
        T *row = c + (i0 + r) * ldc + j0;
        V low = acc[r][0], high = acc[r][1];
        if (how & GM_ADD) low += NAME(load)(row), high += NAME(load)(row + LANES);
        if (how & GM_BIAS) low += NAME(load)(bias + j0), high += NAME(load)(bias + j0 + LANES);
        if (how & GM_MASK) {
            const int64_t at = (i0 + r) * ldc + j0;
            uint32_t word;
            memcpy(&word, c_bits + (at >> 3), 4);
            word >>= at & 7;
            low = NAME(masked)(low, NAME(lanes)(word));
            high = NAME(masked)(high, NAME(lanes)(word >> LANES));
        }
        NAME(store)(row, low);
        NAME(store)(row + LANES, high);
    }
}

/* A tile narrower than GM_NR: the same through a row of sums on the stack. */
static void NAME(put_narrow)(int rows, int cols, const int how, V acc[GM_MR][2], T *c, int64_t ldc, int64_t i0,
                             int64_t j0, const T *bias, const uint8_t *c_bits) {
    for (int r = 0; r < rows; r++) {
        T *row = c + (i0 + r) * ldc + j0, sums[GM_NR];
        NAME(store)(sums, acc[r][0]);
        NAME(store)(sums + LANES, acc[r][1]);
        for (int j = 0; j < cols; j++) {
            T value = sums[j];
            if (how & GM_ADD) value += row[j];
            if (how & GM_BIAS) value += bias[j0 + j];
            row[j] = how & GM_MASK && !NAME(bit)(c_bits, (i0 + r) * ldc + j0 + j) ? 0 : value;
        }
    }
}

/* One tile of C from a packed tile of A and a packed panel of B, stored as `how` says. */
static void NAME(tile)(int rows, int cols, int how, int64_t kc, const T *ap, const T *bp, T *c, int64_t ldc, int64_t i0,
                       int64_t j0, const T *bias, const uint8_t *c_bits) {
    V acc[GM_MR][2];
    if (cols < GM_NR) {
        switch (rows) {
        case 6: NAME(micro)(6, kc, ap, bp, acc); break;
        case 5: NAME(micro)(5, kc, ap, bp, acc); break;
        case 4: NAME(micro)(4, kc, ap, bp, acc); break;
        case 3: NAME(micro)(3, kc, ap, bp, acc); break;
        case 2: NAME(micro)(2, kc, ap, bp, acc); break;
        default: NAME(micro)(1, kc, ap, bp, acc); break;
        }
        NAME(put_narrow)(rows, cols, how, acc, c, ldc, i0, j0, bias, c_bits);
        return;
    }
#define GM_CASE(n, h)                                                                                                 \
    case (n) * 8 + (h):                                                                                               \
        NAME(micro)(n, kc, ap, bp, acc);                                                                              \
        NAME(put)(n, h, acc, c, ldc, i0, j0, bias, c_bits);                                                           \
        break;
#define GM_CASES(h) GM_CASE(6, h) GM_CASE(5, h) GM_CASE(4, h) GM_CASE(3, h) GM_CASE(2, h) GM_CASE(1, h)
    switch (rows * 8 + how) {
        GM_CASES(GM_SET)
        GM_CASES(GM_BIAS)
        GM_CASES(GM_ADD)
        GM_CASES(GM_MASK)
        GM_CASES(GM_ADD | GM_MASK)
    }
#undef GM_CASES
#undef GM_CASE
}

/* C[M, N] = A[M, K] @ B[K, N] (+ bias[N]), B times the mask b_bits and C times the mask c_bits where given (see the
 * top of this file for A's and B's layouts). Returns 0, or -1 when memory for the packed blocks could not be had. */
int NAME(dense_gemm)(int64_t M, int64_t N, int64_t K, const T *a, int64_t lda, int a_cols, const T *b, int64_t ldb,
                     int b_cols, const uint8_t *b_bits, const T *bias, const uint8_t *c_bits, T *c, int64_t ldc) {
    if (K == 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                c[i * ldc + j] = (c_bits && !NAME(bit)(c_bits, i * ldc + j)) || !bias ? 0 : bias[j];
        return 0;
    }
    const int64_t kc_most = K < GM_KC ? K : GM_KC;
    const int64_t mc_most = M < GM_MC ? M : GM_MC;
    const int64_t nc_most = N < GM_NC ? N : GM_NC;
    const int one_block = M <= GM_MC; /* then each panel of B is used once, packed just before (L1-hot) */
    const int64_t panels = one_block ? 1 : (nc_most + GM_NR - 1) / GM_NR;
    T *ap = malloc(sizeof(T) * (((mc_most + GM_MR - 1) / GM_MR) * GM_MR * kc_most + panels * GM_NR * kc_most));
    if (!ap) return -1;
    T *bblock = ap + ((mc_most + GM_MR - 1) / GM_MR) * GM_MR * kc_most;
    for (int64_t jc = 0; jc < N; jc += GM_NC) {
        const int64_t nc = N - jc < GM_NC ? N - jc : GM_NC;
        for (int64_t pc = 0; pc < K; pc += kc_most) {
            const int64_t kc = K - pc < kc_most ? K - pc : kc_most;
            const int how = (pc == 0 ? (bias ? GM_BIAS : GM_SET) : GM_ADD) | (c_bits && pc + kc == K ? GM_MASK : 0);
            for (int64_t ic = 0; ic < M; ic += GM_MC) {
                const int64_t mc = M - ic < GM_MC ? M - ic : GM_MC;
                NAME(pack_a)(a, lda, a_cols, ic, mc, pc, kc, ap);
                if (one_block) { /* each panel packed just before its one sweep of the tiles, so it is L1-hot */
                    for (int64_t jr = 0; jr < nc; jr += GM_NR) {
                        const int cols = nc - jr < GM_NR ? (int)(nc - jr) : GM_NR;
                        NAME(pack_b)(b, ldb, b_cols, b_bits, pc, kc, jc + jr, cols, bblock);
                        for (int64_t ir = 0; ir < mc; ir += GM_MR)
                            NAME(tile)(mc - ir < GM_MR ? (int)(mc - ir) : GM_MR, cols, how, kc, ap + ir * kc, bblock, c,
                                       ldc, ic + ir, jc + jr, bias, c_bits);
                    }
                    continue;
                }
                if (ic == 0) /* the block's panels, used by every block of rows */
                    for (int64_t jr = 0; jr < nc; jr += GM_NR)
                        NAME(pack_b)(b, ldb, b_cols, b_bits, pc, kc, jc + jr, nc - jr < GM_NR ? (int)(nc - jr) : GM_NR,
                                     bblock + (jr / GM_NR) * GM_NR * kc);
                /* a tile of rows across all panels: C is written along its rows */
                for (int64_t ir = 0; ir < mc; ir += GM_MR)
                    for (int64_t jr = 0; jr < nc; jr += GM_NR)
                        NAME(tile)(mc - ir < GM_MR ? (int)(mc - ir) : GM_MR, nc - jr < GM_NR ? (int)(nc - jr) : GM_NR,
                                   how, kc, ap + ir * kc, bblock + (jr / GM_NR) * GM_NR * kc, c, ldc, ic + ir, jc + jr,
                                   bias, c_bits);
            }
        }
    }
    free(ap);
    return 0;
}

#undef GM_MR
#undef GM_NR
#undef GM_KC
#undef GM_MC
#undef GM_NC
#undef GM_SET
#undef GM_BIAS
#undef GM_ADD
#undef GM_MASK
