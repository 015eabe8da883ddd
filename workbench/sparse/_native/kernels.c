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
#include <string.h>

typedef float vf32 __attribute__((vector_size(32)));
typedef double vf64 __attribute__((vector_size(32)));

#define T float
#define V vf32
#define LANES 8
#define NAME(x) x##_f32
#include "kernels.h"
#undef T
#undef V
#undef LANES
#undef NAME

#define T double
#define V vf64
#define LANES 4
#define NAME(x) x##_f64
#include "kernels.h"
#undef T
#undef V
#undef LANES
#undef NAME

/* The version of this file's interface; native.py checks it after loading. */
int workbench_kernels_version(void) { return 1; }
