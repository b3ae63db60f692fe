// Bare OpenBLAS baselines for convkit_bench: the machine's practical peak, and the ceiling of the im2col design on a
// layer's own GEMM shape. Both call cblas_sgemm directly, not through convkit, so that they measure OpenBLAS alone.
//
// Threads: Debian's OpenBLAS is the OpenMP build, which sizes each call's team from the calling thread's
// omp_get_max_threads() -- unless openblas_set_num_threads(1) was called last, after which it stays single-threaded
// whatever OpenMP says. use_threads() therefore sets both, and convkit_bench calls it before every baseline.
#ifndef CONVKIT_BENCH_BARE_SGEMM_HPP
#define CONVKIT_BENCH_BARE_SGEMM_HPP

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "layer_suite.hpp"
#include "measure.hpp"

namespace convkit_bench {

/// Makes OpenMP and OpenBLAS (and oneDNN, which follows OpenMP) use `threads` threads for calls from this thread.
inline void use_threads(int threads) {
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

/// GFLOP/s of one cblas_sgemm of size^3 (row-major, no transposes) on `threads` threads: the best of `runs` after one
/// warm-up. The best rather than the median: this is the machine's practical peak, the denominator of "of peak".
inline double measure_sgemm_peak_gflops(int threads, int size = 2048, int runs = 3) {
  use_threads(threads);
  const std::size_t elements = static_cast<std::size_t>(size) * static_cast<std::size_t>(size);
  const AlignedArray<float> a = random_array(elements, 11);
  const AlignedArray<float> b = random_array(elements, 12);
  AlignedArray<float> c(elements);
  const auto multiply = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a.data(), size, b.data(), size, 0.0f,
                c.data(), size);
  };
  multiply();
  double best = 0.0;
  for (int run = 0; run < runs; ++run) {
    const auto start = std::chrono::steady_clock::now();
    multiply();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    best = std::max(best, gflops_per_second(2.0 * static_cast<double>(size) * size * size, elapsed.count()));
  }
  return best;
}

/// The GEMMs an im2col convolution of `layer` performs: `count` = N * groups products, one per image and group, of
/// out[M x N] = W[M x K] * col[K x N] with M = Co/groups, N = Ho*Wo, K = Ci/groups*Kh*Kw. Together they do exactly
/// layer.flops().
struct GemmShape {
  std::int64_t m, n, k, count;
};

inline GemmShape im2col_gemm_shape(const Layer& layer) {
  const convkit::Conv2dDesc& d = layer.desc;
  return GemmShape{d.out_channels / d.groups, layer.out_height() * layer.out_width(),
                   d.in_channels / d.groups * d.kernel_height * d.kernel_width, d.batch * d.groups};
}

/// The two ways to lay a convolution out as a GEMM. NCHW im2col computes out[M x N] = W[M x K] * X[K x N]; NHWC
/// im2row computes its transpose, out[N x M] = X'[N x K] * W'[K x M] where W' is the weights read transposed
/// (cblas transB on W as stored). Same flops, different blocking in OpenBLAS, and either may be the faster.
enum class GemmOrientation { WX, XtWt };

inline const char* orientation_name(GemmOrientation orientation) {
  return orientation == GemmOrientation::WX ? "W*X" : "X^T*W^T";
}

/// Times the layer's GEMMs (im2col_gemm_shape) with bare cblas_sgemm on `threads` threads, by time_calls's rule; one
/// call does all N * groups products, back to back. Each group has its own weights, columns and output matrix (the
/// images of a group reuse them, as an im2col convolution reuses its column buffer), filled with random data
/// outside the timing. The threads are used as convkit's GEMM path uses them (docs/embedding.md, "Threads"), so that
/// this is the ceiling of that design: with at least as many products as threads, each thread runs whole products on a
/// single-threaded OpenBLAS; otherwise the products run one after another on a threaded OpenBLAS.
inline Timing time_layer_sgemm(const Layer& layer, GemmOrientation orientation, int threads, double min_seconds) {
  const GemmShape shape = im2col_gemm_shape(layer);
  constexpr std::int64_t kBlasIndexMax = 2147483647;  // cblas takes int sizes
  if (std::max({shape.m, shape.n, shape.k}) > kBlasIndexMax || shape.m * shape.k > kBlasIndexMax ||
      shape.k * shape.n > kBlasIndexMax || shape.m * shape.n > kBlasIndexMax)
    throw std::runtime_error("the GEMM shape exceeds cblas_sgemm's 32-bit sizes");
  const int m = static_cast<int>(shape.m), n = static_cast<int>(shape.n), k = static_cast<int>(shape.k);
  const std::int64_t groups = layer.desc.groups;
  const std::size_t w_size = static_cast<std::size_t>(shape.m * shape.k);
  const std::size_t x_size = static_cast<std::size_t>(shape.k * shape.n);
  const std::size_t out_size = static_cast<std::size_t>(shape.m * shape.n);
  const AlignedArray<float> weights = random_array(w_size * static_cast<std::size_t>(groups), 21);
  const AlignedArray<float> columns = random_array(x_size * static_cast<std::size_t>(groups), 22);
  AlignedArray<float> output(out_size * static_cast<std::size_t>(groups));

  const auto product = [&](std::int64_t index) {
    const std::size_t group = static_cast<std::size_t>(index % groups);
    const float* w = weights.data() + group * w_size;
    const float* x = columns.data() + group * x_size;
    float* out = output.data() + group * out_size;
    if (orientation == GemmOrientation::WX)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, w, k, x, n, 0.0f, out, n);
    else  // x holds X' [N x K] (im2row), w is read as W' [K x M] through transB
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, x, k, w, k, 0.0f, out, m);
  };
  const bool one_product_per_thread = threads > 1 && shape.count >= threads;
  const auto all_products = [&] {
    if (one_product_per_thread) {
#pragma omp parallel num_threads(threads)
      {
        // OpenBLAS runs single-threaded inside a parallel region anyway; saying so keeps that independent of its
        // version.
        omp_set_num_threads(1);
#pragma omp for schedule(static)
        for (std::int64_t index = 0; index < shape.count; ++index) product(index);
      }
    } else {
      for (std::int64_t index = 0; index < shape.count; ++index) product(index);
    }
  };
  use_threads(threads);
  return time_calls(all_products, min_seconds);
}

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_BARE_SGEMM_HPP
