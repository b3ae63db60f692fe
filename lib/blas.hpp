// The only code that touches OpenBLAS: one single-precision GEMM entry point and the description of the BLAS.
#pragma once

#include <convkit/convkit.hpp>
#include <cstdint>

namespace convkit::detail {

// The BLAS indexes with 32-bit int; a GEMM whose sizes or leading dimensions exceed this cannot be called.
bool fits_blas_index(std::int64_t value);

// Row-major C[m x n] = op(A)[m x k] * op(B)[k x n] + beta * C, on the calling thread only: convkit's own workers are
// the one level of parallelism, so OpenBLAS never starts threads of its own.
// op(A) is A (lda >= k) or, with transpose_a, A^T of a k x m matrix (lda >= m); likewise B.
void sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
           std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc);

// Cached on first use; thread-safe.
const BlasInfo& cached_blas_info();

}  // namespace convkit::detail
