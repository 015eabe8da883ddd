/* Dense products through a mask, for one element type T (included by kernels.c after kernels.h, with the same
 * macros). These are the three products of a masked linear layer on the dense kernel:
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
 * The mask: one byte per weight, -1 where the weight is kept and 0 where it is not, at the weight's own offsets (B's
 * storage, or C's for the gradient), so the operand must be the contiguous weight. Bytes rather than bits: a vector's
 * lanes come from its bytes in one instruction (sign extension), which made the forward product 4% faster at 784x1000
 * than a table lookup per eight bits; the rest of the mask's cost is hidden under the products. */

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

/* The mask of LANES weights from `at` on, as lanes of all ones (kept) or zeros; the mask is one byte per weight,
 * -1 (kept) or 0, so that widening the bytes with their sign gives the lanes. */
static inline VI NAME(keep)(const int8_t *mask, int64_t at) {
#if defined(__AVX2__) && LANES == 8
    const __m256i wide = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(mask + at)));
#elif defined(__AVX2__) && LANES == 4
    int32_t four;
    memcpy(&four, mask + at, sizeof four);
    const __m256i wide = _mm256_cvtepi8_epi64(_mm_cvtsi32_si128(four));
#endif
#if defined(__AVX2__)
    VI lanes;
    memcpy(&lanes, &wide, sizeof lanes);
    return lanes;
#else /* GCC's own widening of a byte vector: correct everywhere, slower where it has no single instruction */
    typedef int8_t bytes __attribute__((vector_size(LANES)));
    bytes b;
    memcpy(&b, mask + at, sizeof b);
    return __builtin_convertvector(b, VI);
#endif
}

static inline int NAME(on)(const int8_t *mask, int64_t at) { return mask[at] != 0; }

static inline V NAME(masked)(V v, VI keep) { return (V)((VI)v & keep); }

/* A[i0 : i0 + mc, p0 : p0 + kc] into tiles of GM_MR rows, each [kc][GM_MR] (rows past mc left as they are: the
 * kernel of a short tile does not read them). A[i, k] is a[i * lda + k], or a[k * lda + i] when a_cols. */
static void NAME(pack_a)(const T *a, int64_t lda, int a_cols, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T *ap) {
    for (int64_t t = 0; t < mc; t += GM_MR) {
        const int rows = mc - t < GM_MR ? (int)(mc - t) : GM_MR;
        T *dst = ap + t * kc;
        if (a_cols) {
            if (rows == GM_MR)
                for (int64_t k = 0; k < kc; k++) memcpy(dst + k * GM_MR, a + (p0 + k) * lda + i0 + t, sizeof(T) * GM_MR);
            else
                for (int64_t k = 0; k < kc; k++)
                    for (int r = 0; r < rows; r++) dst[k * GM_MR + r] = a[(p0 + k) * lda + i0 + t + r];
            continue;
        }
        int64_t k = 0;
#if LANES >= GM_MR
        if (rows == GM_MR) /* LANES rows turned at a time (the last LANES - GM_MR of them repeat row 0 and are
                            * overwritten by the next k, or land in the buffer's padding) */
            for (; k + LANES <= kc; k += LANES) {
                V in[LANES], turned[LANES];
                for (int r = 0; r < LANES; r++) in[r] = NAME(load)(a + (i0 + t + (r < GM_MR ? r : 0)) * lda + p0 + k);
                NAME(turn)(in, turned);
                for (int i = 0; i < LANES; i++) NAME(store)(dst + (k + i) * GM_MR, turned[i]);
            }
#endif
        for (; k < kc; k++)
            for (int r = 0; r < rows; r++) dst[k * GM_MR + r] = a[(i0 + t + r) * lda + p0 + k];
    }
}

/* B[p0 : p0 + kc, j0 : j0 + cols] (cols <= GM_NR) into one panel [kc][GM_NR], zero past cols, times the mask when
 * mask is given. B[k, j] is b[k * ldb + j], or b[j * ldb + k] when b_cols (then LANES x LANES blocks are turned in
 * registers). */
static void NAME(pack_b)(const T *b, int64_t ldb, int b_cols, const int8_t *mask, int64_t p0, int64_t kc, int64_t j0,
                         int cols, T *bp) {
    int64_t k = 0;
    if (cols == GM_NR && !b_cols) {
        for (; k < kc; k++) {
            const int64_t at = (p0 + k) * ldb + j0;
            V low = NAME(load)(b + at), high = NAME(load)(b + at + LANES);
            if (mask) low = NAME(masked)(low, NAME(keep)(mask, at)), high = NAME(masked)(high, NAME(keep)(mask, at + LANES));
            NAME(store)(bp + k * GM_NR, low);
            NAME(store)(bp + k * GM_NR + LANES, high);
        }
    } else if (cols == GM_NR) {
        for (; k + LANES <= kc; k += LANES)
            for (int half = 0; half < 2; half++) {
                V rows[LANES], turned[LANES];
                for (int r = 0; r < LANES; r++) {
                    const int64_t at = (j0 + half * LANES + r) * ldb + p0 + k;
                    rows[r] = NAME(load)(b + at);
                    if (mask) rows[r] = NAME(masked)(rows[r], NAME(keep)(mask, at));
                }
                NAME(turn)(rows, turned);
                for (int i = 0; i < LANES; i++) NAME(store)(bp + (k + i) * GM_NR + half * LANES, turned[i]);
            }
    }
    /* what the vector loops left: a narrow panel, or the last k of turned blocks */
    const int64_t step_k = b_cols ? 1 : ldb, step_j = b_cols ? ldb : 1;
    for (; k < kc; k++)
        for (int j = 0; j < GM_NR; j++) {
            const int64_t at = (p0 + k) * step_k + (j0 + j) * step_j;
            bp[k * GM_NR + j] = j < cols && (!mask || NAME(on)(mask, at)) ? b[at] : 0;
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
                                                            const int8_t *c_mask) {
    for (int r = 0; r < rows; r++) {
        T *row = c + (i0 + r) * ldc + j0;
        V low = acc[r][0], high = acc[r][1];
        if (how & GM_ADD) low += NAME(load)(row), high += NAME(load)(row + LANES);
        if (how & GM_BIAS) low += NAME(load)(bias + j0), high += NAME(load)(bias + j0 + LANES);
        if (how & GM_MASK) {
            const int64_t at = (i0 + r) * ldc + j0;
            low = NAME(masked)(low, NAME(keep)(c_mask, at));
            high = NAME(masked)(high, NAME(keep)(c_mask, at + LANES));
        }
        NAME(store)(row, low);
        NAME(store)(row + LANES, high);
    }
}

/* A tile narrower than GM_NR: the same through a row of sums on the stack. */
static void NAME(put_narrow)(int rows, int cols, const int how, V acc[GM_MR][2], T *c, int64_t ldc, int64_t i0,
                             int64_t j0, const T *bias, const int8_t *c_mask) {
    for (int r = 0; r < rows; r++) {
        T *row = c + (i0 + r) * ldc + j0, sums[GM_NR];
        NAME(store)(sums, acc[r][0]);
        NAME(store)(sums + LANES, acc[r][1]);
        for (int j = 0; j < cols; j++) {
            T value = sums[j];
            if (how & GM_ADD) value += row[j];
            if (how & GM_BIAS) value += bias[j0 + j];
            row[j] = how & GM_MASK && !NAME(on)(c_mask, (i0 + r) * ldc + j0 + j) ? 0 : value;
        }
    }
}

/* One tile of C from a packed tile of A and a packed panel of B, stored as `how` says. */
static void NAME(tile)(int rows, int cols, int how, int64_t kc, const T *ap, const T *bp, T *c, int64_t ldc, int64_t i0,
                       int64_t j0, const T *bias, const int8_t *c_mask) {
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
        NAME(put_narrow)(rows, cols, how, acc, c, ldc, i0, j0, bias, c_mask);
        return;
    }
#define GM_CASE(n, h)                                                                                                 \
    case (n) * 8 + (h):                                                                                               \
        NAME(micro)(n, kc, ap, bp, acc);                                                                              \
        NAME(put)(n, h, acc, c, ldc, i0, j0, bias, c_mask);                                                           \
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

/* C[M, N] = A[M, K] @ B[K, N] (+ bias[N]), B times the mask b_mask and C times the mask c_mask where given (see the
 * top of this file for A's and B's layouts). Returns 0, or -1 when memory for the packed blocks could not be had. */
int NAME(dense_gemm)(int64_t M, int64_t N, int64_t K, const T *a, int64_t lda, int a_cols, const T *b, int64_t ldb,
                     int b_cols, const int8_t *b_mask, const T *bias, const int8_t *c_mask, T *c, int64_t ldc) {
    if (K == 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                c[i * ldc + j] = (c_mask && !NAME(on)(c_mask, i * ldc + j)) || !bias ? 0 : bias[j];
        return 0;
    }
    const int64_t kc_most = K < GM_KC ? K : GM_KC;
    const int64_t mc_most = M < GM_MC ? M : GM_MC;
    const int64_t nc_most = N < GM_NC ? N : GM_NC;
    const int one_block = M <= GM_MC; /* then each panel of B is used once, packed just before (L1-hot) */
    const int64_t panels = one_block ? 1 : (nc_most + GM_NR - 1) / GM_NR;
    T *ap = malloc(sizeof(T) * (((mc_most + GM_MR - 1) / GM_MR) * GM_MR * kc_most + LANES + panels * GM_NR * kc_most));
    if (!ap) return -1;
    T *bblock = ap + ((mc_most + GM_MR - 1) / GM_MR) * GM_MR * kc_most + LANES; /* LANES: pack_a's overhang */
    for (int64_t jc = 0; jc < N; jc += GM_NC) {
        const int64_t nc = N - jc < GM_NC ? N - jc : GM_NC;
        for (int64_t pc = 0; pc < K; pc += kc_most) {
            const int64_t kc = K - pc < kc_most ? K - pc : kc_most;
            const int how = (pc == 0 ? (bias ? GM_BIAS : GM_SET) : GM_ADD) | (c_mask && pc + kc == K ? GM_MASK : 0);
            for (int64_t ic = 0; ic < M; ic += GM_MC) {
                const int64_t mc = M - ic < GM_MC ? M - ic : GM_MC;
                NAME(pack_a)(a, lda, a_cols, ic, mc, pc, kc, ap);
                if (one_block) { /* each panel packed just before its one sweep of the tiles, so it is L1-hot */
                    for (int64_t jr = 0; jr < nc; jr += GM_NR) {
                        const int cols = nc - jr < GM_NR ? (int)(nc - jr) : GM_NR;
                        NAME(pack_b)(b, ldb, b_cols, b_mask, pc, kc, jc + jr, cols, bblock);
                        for (int64_t ir = 0; ir < mc; ir += GM_MR)
                            NAME(tile)(mc - ir < GM_MR ? (int)(mc - ir) : GM_MR, cols, how, kc, ap + ir * kc, bblock, c,
                                       ldc, ic + ir, jc + jr, bias, c_mask);
                    }
                    continue;
                }
                if (ic == 0) /* the block's panels, used by every block of rows */
                    for (int64_t jr = 0; jr < nc; jr += GM_NR)
                        NAME(pack_b)(b, ldb, b_cols, b_mask, pc, kc, jc + jr, nc - jr < GM_NR ? (int)(nc - jr) : GM_NR,
                                     bblock + (jr / GM_NR) * GM_NR * kc);
                /* a tile of rows across all panels: C is written along its rows */
                for (int64_t ir = 0; ir < mc; ir += GM_MR)
                    for (int64_t jr = 0; jr < nc; jr += GM_NR)
                        NAME(tile)(mc - ir < GM_MR ? (int)(mc - ir) : GM_MR, nc - jr < GM_NR ? (int)(nc - jr) : GM_NR,
                                   how, kc, ap + ir * kc, bblock + (jr / GM_NR) * GM_NR * kc, c, ldc, ic + ir, jc + jr,
                                   bias, c_mask);
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
