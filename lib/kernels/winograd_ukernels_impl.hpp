// The Winograd transforms, written once with xsimd. Included only by the per-ISA files, each of which defines
// CONVKIT_ISA_NAMESPACE (see direct_ukernels_impl.hpp for why everything lives in that namespace).
//
// The matrices are those of Lavin & Gray (2016), interpolation points 0, +-1 (F(2,3)) and 0, +-1, +-2 (F(4,3)), plus
// infinity. The 2-D transforms are the 1-D ones applied to the rows, then to the columns. They are written out term
// by term rather than as products with the matrices, whose zeros would cost multiplications (and turn an infinity
// into NaN). The transforms mix a whole tile, so a NaN or infinity in one input pixel reaches every output of the
// tiles that read it, not only the outputs that depend on it: one reason Winograd is a fast-math algorithm.
#pragma once

#include <climits>
#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "winograd_ukernels.hpp"

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including winograd_ukernels_impl.hpp"
#endif

#include "activation_impl.hpp"
#include "fused_multiply_add_impl.hpp"

#if defined(__clang__)
#define CONVKIT_WINOGRAD_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define CONVKIT_WINOGRAD_UNROLL _Pragma("GCC unroll 8")
#else
#define CONVKIT_WINOGRAD_UNROLL
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

// The 1-D transforms of F(m, 3): input d[t] -> B^T d, and output s[t] -> A^T s.
template <int M>
struct WinogradMatrices;

template <>
struct WinogradMatrices<2> {
  template <class V>
  static void input(const V (&d)[4], V (&r)[4]) {
    r[0] = d[0] - d[2];
    r[1] = d[1] + d[2];
    r[2] = d[2] - d[1];
    r[3] = d[1] - d[3];
  }
  template <class V>
  static void output(const V (&s)[4], V (&y)[2]) {
    y[0] = s[0] + s[1] + s[2];
    y[1] = s[1] - s[2] - s[3];
  }
};

template <>
struct WinogradMatrices<4> {
  template <class V>
  static void input(const V (&d)[6], V (&r)[6]) {
    const V four(4.0f), five(5.0f), two(2.0f);
    const V a = d[4] - d[2], b = d[3] - d[1];
    const V c = xsimd::fnma(four, d[2], d[4]);  // d4 - 4 d2
    const V e = xsimd::fnma(four, d[1], d[3]);  // d3 - 4 d1
    r[0] = fused_multiply_add(four, d[0], xsimd::fnma(five, d[2], d[4]));
    r[1] = c + e;
    r[2] = c - e;
    r[3] = fused_multiply_add(two, b, a);
    r[4] = xsimd::fnma(two, b, a);
    r[5] = fused_multiply_add(four, d[1], xsimd::fnma(five, d[3], d[5]));
  }
  template <class V>
  static void output(const V (&s)[6], V (&y)[4]) {
    const V two(2.0f), four(4.0f), eight(8.0f);
    const V sum12 = s[1] + s[2], diff12 = s[1] - s[2];
    const V sum34 = s[3] + s[4], diff34 = s[3] - s[4];
    y[0] = s[0] + sum12 + sum34;
    y[1] = fused_multiply_add(two, diff34, diff12);
    y[2] = fused_multiply_add(four, sum34, sum12);
    y[3] = fused_multiply_add(eight, diff34, diff12) + s[5];
  }
};

template <class Arch>
struct Winograd {
  using Batch = xsimd::batch<float, Arch>;
  using Offsets = xsimd::batch<std::int32_t, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);

  // How a vector of channels lies in memory: contiguous (NHWC), or `stride` apart (NCHW), which a gather and a
  // scatter read and write when the offsets fit their 32-bit indices. Building NCHW vectors lane by lane in memory
  // instead stalls every load on store forwarding: vgg16_conv1_2 NCHW ran several times slower than NHWC that way
  // (docs/tuning-log.md).
  struct ChannelRun {
    std::int64_t stride;
    bool strided_vector;  // a full vector uses `offsets`
    Offsets offsets;

    explicit ChannelRun(std::int64_t channel_stride)
        : stride(channel_stride), strided_vector(channel_stride != 1 && channel_stride * kWidth <= INT32_MAX) {
      alignas(64) std::int32_t lanes[kWidth];
      for (std::int64_t k = 0; k < kWidth; ++k) lanes[k] = strided_vector ? static_cast<std::int32_t>(k * stride) : 0;
      offsets = Offsets::load_aligned(lanes);
    }
  };

  // `count` channels from `pixel` (null: zeros), the rest of the vector zero.
  static Batch load(const float* pixel, const ChannelRun& run, std::int64_t count) {
    if (pixel == nullptr) return Batch(0.0f);
    if (count == kWidth) {
      if (run.stride == 1) return Batch::load_unaligned(pixel);
      if (run.strided_vector) return Batch::gather(pixel, run.offsets);
    }
    alignas(64) float lanes[kWidth] = {};
    for (std::int64_t k = 0; k < count; ++k) lanes[k] = pixel[k * run.stride];
    return Batch::load_aligned(lanes);
  }

  static void store(const Batch& v, float* pixel, const ChannelRun& run, std::int64_t count) {
    if (count == kWidth) {
      if (run.stride == 1) return v.store_unaligned(pixel);
      if (run.strided_vector) return v.scatter(pixel, run.offsets);
    }
    alignas(64) float lanes[kWidth];
    v.store_aligned(lanes);
    for (std::int64_t k = 0; k < count; ++k) pixel[k * run.stride] = lanes[k];
  }

  template <int M>
  static void input(const WinogradInputTask& task) {
    constexpr int T = M + 2;
    const ChannelRun in(task.channel_stride), contiguous(1);
    for (std::int64_t c = 0; c < task.channels; c += kWidth) {
      const std::int64_t count = task.channels - c < kWidth ? task.channels - c : kWidth;
      Batch rows[T][T];
      CONVKIT_WINOGRAD_UNROLL
      for (int i = 0; i < T; ++i) {
        Batch d[T];
        CONVKIT_WINOGRAD_UNROLL
        for (int j = 0; j < T; ++j) {
          const float* pixel = task.pixels[i * T + j];
          d[j] = load(pixel == nullptr ? nullptr : pixel + c * task.channel_stride, in, count);
        }
        WinogradMatrices<M>::input(d, rows[i]);
      }
      CONVKIT_WINOGRAD_UNROLL
      for (int l = 0; l < T; ++l) {
        Batch column[T], r[T];
        CONVKIT_WINOGRAD_UNROLL
        for (int i = 0; i < T; ++i) column[i] = rows[i][l];
        WinogradMatrices<M>::input(column, r);
        CONVKIT_WINOGRAD_UNROLL
        for (int k = 0; k < T; ++k)
          store(r[k], task.transformed + (k * T + l) * task.point_stride + c, contiguous, count);
      }
    }
  }

  template <int M>
  static void output(const WinogradOutputTask& task) {
    constexpr int T = M + 2;
    const ChannelRun out(task.channel_stride), contiguous(1);
    for (std::int64_t c = 0; c < task.channels; c += kWidth) {
      const std::int64_t count = task.channels - c < kWidth ? task.channels - c : kWidth;
      Batch rows[T][M];
      CONVKIT_WINOGRAD_UNROLL
      for (int i = 0; i < T; ++i) {
        Batch s[T];
        CONVKIT_WINOGRAD_UNROLL
        for (int j = 0; j < T; ++j)
          s[j] = load(task.transformed + (i * T + j) * task.point_stride + c, contiguous, count);
        WinogradMatrices<M>::output(s, rows[i]);
      }
      const Batch bias = task.bias != nullptr ? load(task.bias + c, contiguous, count) : Batch(0.0f);
      CONVKIT_WINOGRAD_UNROLL
      for (int q = 0; q < M; ++q) {
        Batch column[T], y[M];
        CONVKIT_WINOGRAD_UNROLL
        for (int i = 0; i < T; ++i) column[i] = rows[i][q];
        WinogradMatrices<M>::output(column, y);
        CONVKIT_WINOGRAD_UNROLL
        for (int p = 0; p < M; ++p) {
          float* pixel = task.pixels[p * M + q];
          if (pixel == nullptr) continue;
          float* target = pixel + c * task.channel_stride;
          Batch value = y[p] + bias;
          if (task.post != nullptr && task.post->residual)
            value = xsimd::fma(Batch(task.post->residual_scale),
                               load(residual_at(target, task.residual_offset), out, count), value);
          store(activate_batch(value, task), target, out, count);
        }
      }
    }
    if (task.post != nullptr && !task.post->in_registers()) {
      for (int k = 0; k < M * M; ++k)
        if (task.pixels[k] != nullptr)
          activate_tile(*task.post, task.pixels[k], task.channel_stride == 1 ? 1 : task.channels,
                        task.channel_stride == 1 ? task.channels : 1, task.channel_stride);
    }
  }

  static void input_any(const WinogradInputTask& task) {
    if (task.tile == 4)
      input<4>(task);
    else
      input<2>(task);
  }
  static void output_any(const WinogradOutputTask& task) {
    if (task.tile == 4)
      output<4>(task);
    else
      output<2>(task);
  }
};

template <class Arch>
const WinogradUkernels& make_winograd_ukernels() {
  static const WinogradUkernels ukernels{&Winograd<Arch>::input_any, &Winograd<Arch>::output_any};
  return ukernels;
}

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
