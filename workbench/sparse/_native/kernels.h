/* The kernels for one element type T, included by kernels.c with T, V (a vector of LANES T), VI (integers of T's
 * size in V's shape), LANES and NAME(x). */

static inline V NAME(load)(const T *p) { V v; memcpy(&v, p, sizeof v); return v; }
static inline void NAME(store)(T *p, V v) { memcpy(p, &v, sizeof v); }
static inline V NAME(splat)(T s) { return (V){0} + s; }

/* A strip of the batch: eight vectors, held in registers across a row's kept weights. */
#define STRIP (8 * LANES)
/* The product kernels take "ahead": how many entries ahead they prefetch the dense row an entry reads or writes
 * (0: none). No hardware prefetcher guesses these addresses, which come from the column indices; across rows too,
 * since a DAN's rows hold two or three edges. Measured: 8 saves 5-15% of a layer's forward product, whose blocks
 * sit in L2, and costs its backward kernels; 16 saves a quarter of a million-edge DAN's products. */

/* Prefetch the n elements of the row at p (for writing when write is 1), one cache line at a time. */
#define PREFETCH_ROW(p, n, write)                                                                                    \
    for (int64_t line = 0; line < (n); line += 64 / (int64_t)sizeof(T)) __builtin_prefetch((p) + line, (write))
#define EIGHT(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7)

/* Entry p's kept weight: read from the dense row wr (and written to val[p] when val is given) when from_w, else
 * val[p]. */
static inline T NAME(kept)(int from_w, const T *wr, T *val, const int32_t *col, int32_t p) {
    if (!from_w) return val[p];
    const T value = wr[col[p]];
    if (val) val[p] = value;
    return value;
}

/* y[r, :width] = (accumulate ? y[r, :width] : bias ? bias[r] : 0) + sum over p of value[p] * x[col[p], :width],
 * then ReLU when relu is set (NaN stays NaN).
 *
 * The values: with w, the kept weights are read from the dense w[r * ldw + col[p]] (a gather while the product
 * runs) and, when val is given too, written to val[p] for later use; without w they are val[p]. */
void NAME(spmm)(int64_t rows, int64_t width, const int32_t *crow, const int32_t *col, T *val, const T *w,
                int64_t ldw, const T *x, int64_t ldx, const T *bias, T *y, int64_t ldy, int accumulate, int relu,
                int64_t ahead) {
    const int32_t last = crow[rows];
    for (int64_t s = 0; s < width; s += STRIP) {
        const int from_w = w && (s == 0 || !val); /* later strips read what the first one gathered */
        const int64_t n = width - s < STRIP ? width - s : STRIP;
        for (int64_t r = 0; r < rows; r++) {
            const T *wr = w ? w + r * ldw : 0;
            T *yr = y + r * ldy + s;
            const int32_t end = crow[r + 1];
            const T start = bias ? bias[r] : 0;
            if (n == STRIP) {
#define DECLARE(i) V a##i = accumulate ? NAME(load)(yr + i * LANES) : NAME(splat)(start);
                EIGHT(DECLARE)
                for (int32_t p = crow[r]; p < end; p++) {
                    const V v = NAME(splat)(NAME(kept)(from_w, wr, val, col, p));
                    const T *xr = x + (int64_t)col[p] * ldx + s;
                    if (ahead && p + ahead < last) PREFETCH_ROW(x + (int64_t)col[p + ahead] * ldx + s, STRIP, 0);
#define FMA(i) a##i += v * NAME(load)(xr + i * LANES);
                    EIGHT(FMA)
                }
#define RECTIFY(i) a##i = (V)((VI)a##i & ~(a##i < 0)); /* all bits cleared where negative; NaN kept */
                if (relu) {
                    EIGHT(RECTIFY)
                }
#define STORE(i) NAME(store)(yr + i * LANES, a##i);
                EIGHT(STORE)
            } else {
                T acc[STRIP];
                for (int64_t k = 0; k < n; k++) acc[k] = accumulate ? yr[k] : start;
                for (int32_t p = crow[r]; p < end; p++) {
                    const T value = NAME(kept)(from_w, wr, val, col, p);
                    const T *xr = x + (int64_t)col[p] * ldx + s;
                    for (int64_t k = 0; k < n; k++) acc[k] += value * xr[k];
                }
                for (int64_t k = 0; k < n; k++) yr[k] = relu && acc[k] < 0 ? 0 : acc[k];
            }
        }
    }
}

/* out[c, :width] = sum over the kept (r, c) of val[p] * g[r, :width], for c < cols: the transposed product, with
 * every kept weight's share added into its column's row of out (the first cols rows zeroed first; cols 0 adds to
 * what is there). */
void NAME(spmm_t)(int64_t rows, int64_t cols, int64_t width, const int32_t *crow, const int32_t *col, const T *val,
                  const T *g, int64_t ldg, T *out, int64_t ldo, int64_t ahead) {
    for (int64_t c = 0; c < cols; c++) memset(out + c * ldo, 0, width * sizeof(T));
    const int32_t last = crow[rows];
    for (int64_t s = 0; s < width; s += STRIP) {
        const int64_t n = width - s < STRIP ? width - s : STRIP;
        for (int64_t r = 0; r < rows; r++) {
            const T *gr = g + r * ldg + s;
            const int32_t end = crow[r + 1];
            if (n == STRIP) {
#define ROW(i) const V g##i = NAME(load)(gr + i * LANES);
                EIGHT(ROW)
                for (int32_t p = crow[r]; p < end; p++) {
                    const V v = NAME(splat)(val[p]);
                    T *o = out + (int64_t)col[p] * ldo + s;
                    if (ahead && p + ahead < last) PREFETCH_ROW(out + (int64_t)col[p + ahead] * ldo + s, STRIP, 1);
#define ADD(i) NAME(store)(o + i * LANES, NAME(load)(o + i * LANES) + v * g##i);
                    EIGHT(ADD)
                }
            } else {
                for (int32_t p = crow[r]; p < end; p++) {
                    const T value = val[p];
                    T *o = out + (int64_t)col[p] * ldo + s;
                    for (int64_t k = 0; k < n; k++) o[k] += value * gr[k];
                }
            }
        }
    }
}

/* The sum over k < width of a[k] * b[k], two vectors of partial sums wide. */
static inline T NAME(dot)(const T *a, const T *b, int64_t width) {
    const int64_t whole = width / LANES * LANES;
    V acc0 = NAME(splat)(0), acc1 = NAME(splat)(0);
    int64_t k = 0;
    for (; k + 2 * LANES <= whole; k += 2 * LANES) {
        acc0 += NAME(load)(a + k) * NAME(load)(b + k);
        acc1 += NAME(load)(a + k + LANES) * NAME(load)(b + k + LANES);
    }
    for (; k < whole; k += LANES) acc0 += NAME(load)(a + k) * NAME(load)(b + k);
    acc0 += acc1;
    T sum = 0;
    for (int i = 0; i < LANES; i++) sum += acc0[i];
    for (; k < width; k++) sum += a[k] * b[k];
    return sum;
}

/* The sum of a[:width], in vector lanes (a sequential sum would wait on every addition). */
static inline T NAME(total)(const T *a, int64_t width) {
    const int64_t whole = width / LANES * LANES;
    V acc = NAME(splat)(0);
    int64_t k = 0;
    for (; k < whole; k += LANES) acc += NAME(load)(a + k);
    T sum = 0;
    for (int i = 0; i < LANES; i++) sum += acc[i];
    for (; k < width; k++) sum += a[k];
    return sum;
}

/* grad[r, :cols] = 0, then grad[r, col[p]] = sum over k < width of g[r, k] * x[col[p], k] at every kept position:
 * a pattern's weight gradient, written whole into the dense gradient (masked positions zero). */
void NAME(sddmm)(int64_t rows, int64_t cols, int64_t width, const int32_t *crow, const int32_t *col, const T *g,
                 int64_t ldg, const T *x, int64_t ldx, T *grad, int64_t ldgrad, int64_t ahead) {
    const int32_t last = crow[rows];
    for (int64_t r = 0; r < rows; r++) {
        T *out = grad + r * ldgrad;
        memset(out, 0, cols * sizeof(T));
        const int32_t end = crow[r + 1];
        for (int32_t p = crow[r]; p < end; p++) {
            if (ahead && p + ahead < last) PREFETCH_ROW(x + (int64_t)col[p + ahead] * ldx, width, 0);
            out[col[p]] = NAME(dot)(g + r * ldg, x + (int64_t)col[p] * ldx, width);
        }
    }
}

/* val[p] = sum over k < width of g[r, k] * x[col[p], k] for every entry p of row r: the same, for a pattern whose
 * gradient is its values (a DAN's edges); and, when sums is given, sums[r] = the sum of g[r, :width] (the rows'
 * bias gradients), while the row is in cache. */
void NAME(sddmm_values)(int64_t rows, int64_t width, const int32_t *crow, const int32_t *col, const T *g, int64_t ldg,
                        const T *x, int64_t ldx, T *val, T *sums, int64_t ahead) {
    const int32_t last = crow[rows];
    for (int64_t r = 0; r < rows; r++) {
        if (sums) sums[r] = NAME(total)(g + r * ldg, width);
        const int32_t end = crow[r + 1];
        for (int32_t p = crow[r]; p < end; p++) {
            if (ahead && p + ahead < last) PREFETCH_ROW(x + (int64_t)col[p + ahead] * ldx, width, 0);
            val[p] = NAME(dot)(g + r * ldg, x + (int64_t)col[p] * ldx, width);
        }
    }
}

/* A pattern's column blocks, as the layer functions below take them: per block {first column, last column + 1,
 * first value, address of its crow, address of its col}. */
#define BLOCK_FIELDS 5

/* Flags of linear: x is given as x_t [in, M] (row stride ldx); y is wanted as y_t [out, M] (row stride ldy); ReLU
 * on the result (NaN stays NaN, as torch.relu keeps it). */
#define GIVEN_T 1
#define WANT_T 2
#define RELU 4

/* y[M, out] = bias + x[M, in] @ W.T for the block-CSR pattern W (the whole forward pass of a sparse layer: the batch
 * is turned into x_t [in, M] (the caller's, to keep for the backward pass, or a temporary), the blocks' products
 * run into [out, M], which is turned into y). val and w as in spmm; flags as above, so that layers in a chain can
 * pass [features, M] to each other with no turning in between. Returns 0, or -1 when memory for a temporary could
 * not be had. */
int NAME(linear)(int64_t batch, int64_t n_in, int64_t n_out, int64_t nblocks, const int64_t *blocks, T *val,
                 const T *w, int64_t ldw, const T *x, int64_t ldx, T *x_t, const T *bias, T *y, int64_t ldy,
                 int flags) {
    const int64_t need = (flags & WANT_T ? 0 : n_out * batch) + (x_t || flags & GIVEN_T ? 0 : n_in * batch);
    T *scratch = need ? malloc(sizeof(T) * need) : 0;
    if (need && !scratch) return -1;
    T *y_t = flags & WANT_T ? y : scratch;
    const int64_t ld_out = flags & WANT_T ? ldy : batch;
    const T *in_t;
    int64_t ld_in;
    if (flags & GIVEN_T) {
        in_t = x, ld_in = ldx;
    } else {
        if (!x_t) x_t = scratch + (flags & WANT_T ? 0 : n_out * batch);
        NAME(transpose)(batch, n_in, x, ldx, x_t, batch);
        in_t = x_t, ld_in = batch;
    }
    if (nblocks == 0) {
        for (int64_t r = 0; r < n_out; r++) {
            const T start = bias ? bias[r] : 0;
            for (int64_t k = 0; k < batch; k++) y_t[r * ld_out + k] = flags & RELU && start < 0 ? 0 : start;
        }
    }
    for (int64_t b = 0; b < nblocks; b++) {
        const int64_t *block = blocks + b * BLOCK_FIELDS;
        const int64_t first = block[0], start = block[2];
        NAME(spmm)(n_out, batch, (const int32_t *)(intptr_t)block[3], (const int32_t *)(intptr_t)block[4],
                   val ? val + start : 0, w + first, ldw, in_t + first * ld_in, ld_in, b == 0 ? bias : 0, y_t, ld_out,
                   b != 0, flags & RELU && b == nblocks - 1, 8); /* ReLU as the last block stores its rows */
    }
    if (!(flags & WANT_T)) NAME(transpose)(n_out, batch, y_t, batch, y, ldy);
    free(scratch);
    return 0;
}

/* The backward pass of linear for g = dL/dy [M, out]: grad_x [M, in] (if not null) and the dense weight gradient
 * grad_w [out, in] with row stride ldgw (if not null; masked positions zero). val and x_t are what linear kept. */
int NAME(linear_backward)(int64_t batch, int64_t n_in, int64_t n_out, int64_t nblocks, const int64_t *blocks,
                          const T *val, const T *g, int64_t ldg, const T *x_t, T *grad_x, int64_t ldgx, T *grad_w,
                          int64_t ldgw) {
    T *g_t = malloc(sizeof(T) * (n_out * batch + (grad_x ? n_in * batch : 0)) + 1);
    if (!g_t) return -1;
    T *grad_x_t = g_t + n_out * batch;
    NAME(transpose)(batch, n_out, g, ldg, g_t, batch);
    for (int64_t b = 0; b < nblocks; b++) {
        const int64_t *block = blocks + b * BLOCK_FIELDS;
        const int64_t first = block[0], cols = block[1] - block[0], start = block[2];
        const int32_t *crow = (const int32_t *)(intptr_t)block[3], *col = (const int32_t *)(intptr_t)block[4];
        if (grad_x)
            NAME(spmm_t)(n_out, cols, batch, crow, col, val + start, g_t, batch, grad_x_t + first * batch, batch, 0);
        if (grad_w)
            NAME(sddmm)(n_out, cols, batch, crow, col, g_t, batch, x_t + first * batch, batch, grad_w + first, ldgw,
                        0);
    }
    if (grad_x) NAME(transpose)(n_in, batch, grad_x_t, batch, grad_x, ldgx);
    free(g_t);
    return 0;
}

#undef BLOCK_FIELDS
#undef PREFETCH_ROW
#undef GIVEN_T
#undef WANT_T
#undef RELU
#undef STRIP
#undef EIGHT
#undef DECLARE
#undef FMA
#undef STORE
#undef RECTIFY
#undef ROW
#undef ADD
