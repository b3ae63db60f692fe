// convkit's GEMM kernels (gemm_ukernels.hpp), written once with xsimd. Included only by the per-ISA files, each of
// which defines CONVKIT_ISA_NAMESPACE: everything here lives in that namespace, so no function compiled with one
// ISA's flags can be merged by the linker into code meant for another.
#pragma once

#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <xsimd/xsimd.hpp>

#include "../accumulation.hpp"
#include "gemm_ukernels.hpp"

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including gemm_ukernels_impl.hpp"
#endif

#include "activation_impl.hpp"
#include "fused_multiply_add_impl.hpp"

// The register tile's loops must unroll completely, or its accumulators live in memory (at less than half the
// speed; docs/tuning-log.md).
#if defined(__clang__)
#define CONVKIT_GEMM_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define CONVKIT_GEMM_UNROLL _Pragma("GCC unroll 32")
#else
#define CONVKIT_GEMM_UNROLL
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

// kRows x kVectors accumulators, one broadcast and kVectors loads per step of the reduction: 12 x 2 of AVX-512's 32
// registers, 6 x 2 of AVX2's 16. The reduction is cut into blocks of kBlockK, for the cache and for accuracy: the
// register tile's A rows (12 x 448 floats, 21 KiB) stay in L1 while it runs along a block's columns, whose panel of B
// stays in L2 (measured on 3136 x 64 x 576 and 192 x 256 x 2304 products: 256 and whole-K blocks each lost on one);
// and each block is summed from zero and added to C, as OpenBLAS does (../accumulation.hpp).
template <class Arch, int kRows, int kVectors>
struct Gemm {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);
  static constexpr std::int64_t kColumns = kVectors * kWidth;
  static constexpr std::int64_t kBlockK = kReductionBlock;
  static constexpr bool kAvx512 = std::is_base_of_v<xsimd::avx512f, Arch>;

  // The first `lanes` floats at p (0 <= lanes <= kWidth); lanes beyond are zero and their memory is not touched.
  static Batch load_first(const float* p, std::int64_t lanes) {
#if defined(__AVX512F__)
    if constexpr (kAvx512) {
      return Batch(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << lanes) - 1u), p));
    } else
#endif
    {
      return Batch(_mm256_maskload_ps(p, lane_mask(lanes)));
    }
  }

  static void store_first(float* p, Batch v, std::int64_t lanes) {
#if defined(__AVX512F__)
    if constexpr (kAvx512) {
      _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << lanes) - 1u), v);
    } else
#endif
    {
      _mm256_maskstore_ps(p, lane_mask(lanes), v);
    }
  }

  static __m256i lane_mask(std::int64_t lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }

  // Lanes of vector v inside a strip of `columns` columns.
  static std::int64_t lanes_of(int v, std::int64_t columns) {
    const std::int64_t left = columns - v * kWidth;
    return left <= 0 ? 0 : (left < kWidth ? left : kWidth);
  }

  // The register tile of C at row i0 and column j0, over steps [k0, k0 + kc) of the reduction: it sums the block
  // from the bias (or zero) on the first block and from zero on the others, which then add C at the store; the last
  // block takes the activation.
  //   kPackedA: a(i, p) = a[p * kRows + i] (a panel of kRows rows, zeros beyond m), its first kTileRows rows
  //             computed and `rows` <= kTileRows stored; b(p, j) = b[p * ldb + j], a strip of `columns` <= kColumns
  //             read with masked loads when kEdge.
  //   else:     a(i, p) = a[i * lda + p] for the kTileRows (= rows) rows; b is a packed strip.
  // kTileVectors < kVectors: a packed-A strip of at most kTileVectors vectors, the last of a narrow matrix;
  // kTileVectors > kVectors: a packed-A tile of few rows, made wider (see kFewRows).
  // kRowsB (packed A only): b(p, j) = b[b_rows[p] + j], each row of B where the caller's table puts it.
  template <int kTileRows, int kTileVectors, bool kPackedA, bool kEdge, bool kRowsB = false>
  static void tile(const MicroGemm& g, std::int64_t i0, std::int64_t j0, std::int64_t k0, std::int64_t kc) {
    constexpr std::int64_t kTileColumns = kTileVectors * kWidth;
    const std::int64_t rows = g.m - i0 < kTileRows ? g.m - i0 : kTileRows;
    const std::int64_t columns = g.n - j0 < kTileColumns ? g.n - j0 : kTileColumns;
    const float* a = kPackedA ? g.a + i0 * g.k + k0 * kRows : g.a + i0 * g.lda + k0;
    const float* b = kRowsB ? g.b + j0 : kPackedA ? g.b + k0 * g.ldb + j0 : g.b + j0 * g.k + k0 * kColumns;
    const std::int64_t* b_rows = kRowsB ? g.b_rows + k0 : nullptr;
    const std::int64_t ldb = kPackedA ? g.ldb : kColumns, lda = g.lda, ldc = g.ldc;
    float* c = g.c + i0 * ldc + j0;
    std::int64_t lanes[kTileVectors];
    CONVKIT_GEMM_UNROLL
    for (int v = 0; v < kTileVectors; ++v) lanes[v] = kEdge ? lanes_of(v, columns) : kWidth;

    const bool first = k0 == 0;
    Batch acc[kTileRows][kTileVectors];
    Batch start[kTileVectors];  // per column (packed B: an NHWC output's channels)
    CONVKIT_GEMM_UNROLL
    for (int v = 0; v < kTileVectors; ++v) {
      start[v] = Batch(0.0f);
      if (!kPackedA && first && g.bias != nullptr) {
        const float* bias = g.bias + j0 + v * kWidth;
        start[v] = kEdge ? load_first(bias, lanes[v]) : Batch::load_unaligned(bias);
      }
    }
    CONVKIT_GEMM_UNROLL
    for (int i = 0; i < kTileRows; ++i) {
      // per row (packed A: an NCHW output's channels)
      const Batch row(kPackedA && first && g.bias != nullptr && i < rows ? g.bias[i0 + i] : 0.0f);
      CONVKIT_GEMM_UNROLL
      for (int v = 0; v < kTileVectors; ++v) acc[i][v] = kPackedA ? row : start[v];
    }
    for (std::int64_t p = 0; p < kc; ++p) {
      Batch bv[kTileVectors];
      CONVKIT_GEMM_UNROLL
      for (int v = 0; v < kTileVectors; ++v) {
        const float* source = (kRowsB ? b + b_rows[p] : b + p * ldb) + v * kWidth;
        bv[v] = kPackedA && kEdge ? load_first(source, lanes[v]) : Batch::load_unaligned(source);
      }
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTileRows; ++i) {
        const Batch ai(kPackedA ? a[p * kRows + i] : a[i * lda + p]);
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kTileVectors; ++v) acc[i][v] = fused_multiply_add(ai, bv[v], acc[i][v]);
      }
    }
    // The residual joins the sums on the first block of the reduction, before anything of the tile is stored: in
    // place, the output still holds it.
    if (first && g.post != nullptr && g.post->residual) {
      const Batch scale(g.post->residual_scale);
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTileRows; ++i) {
        if (kPackedA && i >= rows) break;
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kTileVectors; ++v) {
          const float* residual = residual_at(c + i * ldc + v * kWidth, g.residual_offset);
          const Batch r = kEdge ? load_first(residual, lanes[v]) : Batch::load_unaligned(residual);
          acc[i][v] = fused_multiply_add(scale, r, acc[i][v]);
        }
      }
    }
    const auto write = [&](const auto& activate) CONVKIT_ALWAYS_INLINE {
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTileRows; ++i) {
        if (kPackedA && i >= rows) break;
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kTileVectors; ++v) {
          float* target = c + i * ldc + v * kWidth;
          Batch value = acc[i][v];
          if (!first) value += kEdge ? load_first(target, lanes[v]) : Batch::load_unaligned(target);
          value = activate(value);
          if (kEdge) {
            store_first(target, value, lanes[v]);
          } else {
            value.store_unaligned(target);
          }
        }
      }
    };
    if (k0 + kc < g.k) return write(NoActivation{});
    with_activation<Batch>(g, write);  // the last block of the reduction
    if (g.post != nullptr) activate_tile(*g.post, c, rows, columns, ldc);
  }

  using TileFunction = void (*)(const MicroGemm&, std::int64_t, std::int64_t, std::int64_t, std::int64_t);

  // One kernel per row count, for the last row tile: reading the row-major A's rows beyond m is out of bounds, and
  // computing a packed panel's zero rows is wasted work (a group of one output channel, as in im2col_gemm on an NCHW
  // depthwise layer, would run 12 rows for 1).
  template <int kTileVectors, bool kPackedA, bool kEdge, bool kRowsB, std::size_t... kIndex>
  static constexpr auto row_tiles(std::index_sequence<kIndex...>) {
    return std::array<TileFunction, kRows>{
        &tile<static_cast<int>(kIndex) + 1, kTileVectors, kPackedA, kEdge, kRowsB>...};
  }
  template <int kTileVectors, bool kPackedA, bool kEdge, bool kRowsB = false>
  static constexpr auto kRowTiles = row_tiles<kTileVectors, kPackedA, kEdge, kRowsB>(std::make_index_sequence<kRows>{});

  // A packed-A tile of this few rows has too few accumulators, rows x kVectors, to hide the FMA's latency (two FMAs
  // a cycle, four cycles each, want eight independent sums): it runs ceil(8 / rows) vectors wide instead, over as
  // many whole such tiles as fit (decided on im2col_gemm on NCHW mobilenetv2_dw, one output channel per group;
  // docs/tuning-log.md).
  static constexpr int kFewRows = 3;
  static constexpr int wide_vectors(int rows) {
    return (8 + rows - 1) / rows > kVectors ? (8 + rows - 1) / rows : kVectors;
  }
  template <bool kRowsB, std::size_t... kIndex>
  static constexpr auto few_row_tiles(std::index_sequence<kIndex...>) {
    return std::array<TileFunction, kFewRows>{
        &tile<static_cast<int>(kIndex) + 1, wide_vectors(static_cast<int>(kIndex) + 1), true, false, kRowsB>...};
  }
  template <bool kRowsB>
  static constexpr auto kFewRowTiles = few_row_tiles<kRowsB>(std::make_index_sequence<kFewRows>{});

  template <bool kPackedA, bool kRowsB = false>
  static void multiply(const MicroGemm& g) {
    for (std::int64_t k0 = 0; k0 < g.k; k0 += kBlockK) {
      const std::int64_t kc = g.k - k0 < kBlockK ? g.k - k0 : kBlockK;
      const bool chunked = g.m > kRows && kc * g.n * static_cast<std::int64_t>(sizeof(float)) > kGemmLargeBlockBytes;
      const std::int64_t chunk_columns = chunked ? kGemmChunkColumns : g.n;
      for (std::int64_t jc = 0; jc < g.n; jc += chunk_columns) {
        // The tiles see the chunk's end as the matrix's: its last strip is an edge strip like any other.
        MicroGemm chunk = g;
        chunk.n = g.n - jc < chunk_columns ? g.n : jc + chunk_columns;
        for (std::int64_t i0 = 0; i0 < g.m; i0 += kRows) multiply_rows<kPackedA, kRowsB>(chunk, i0, jc, k0, kc);
      }
    }
  }

  // The row tile at i0 over columns [j_begin, g.n) and the reduction's block [k0, k0 + kc).
  template <bool kPackedA, bool kRowsB>
  static void multiply_rows(const MicroGemm& g, std::int64_t i0, std::int64_t j_begin, std::int64_t k0,
                            std::int64_t kc) {
    const std::size_t row_index = static_cast<std::size_t>((g.m - i0 < kRows ? g.m - i0 : kRows) - 1);
    if (kPackedA && row_index < kFewRows) {
      const std::int64_t wide = wide_vectors(static_cast<int>(row_index) + 1) * kWidth;
      for (; j_begin + wide <= g.n; j_begin += wide) kFewRowTiles<kRowsB>[row_index](g, i0, j_begin, k0, kc);
    }
    for (std::int64_t j0 = j_begin; j0 < g.n; j0 += kColumns) {
      const bool whole = g.n - j0 >= kColumns;
      if constexpr (kPackedA) {
        if (whole) {
          kRowTiles<kVectors, true, false, kRowsB>[row_index](g, i0, j0, k0, kc);
        } else if (g.n - j0 <= kWidth) {  // resnet50_res4's 196 pixels end in a strip of 4
          kRowTiles<1, true, true, kRowsB>[row_index](g, i0, j0, k0, kc);
        } else {
          kRowTiles<kVectors, true, true, kRowsB>[row_index](g, i0, j0, k0, kc);
        }
      } else if (whole) {
        kRowTiles<kVectors, false, false>[row_index](g, i0, j0, k0, kc);
      } else if (g.n - j0 <= kWidth) {  // 16 output channels, or 48, 80, 112: a strip's second vector idle
        kRowTiles<1, false, true>[row_index](g, i0, j0, k0, kc);
      } else {
        kRowTiles<kVectors, false, true>[row_index](g, i0, j0, k0, kc);
      }
    }
  }
};

// ChannelwiseGemm (gemm_ukernels.hpp): a register tile of kPixels pixels by kVectors vectors of channels, eight
// independent sums to hide the FMA's latency, each weight vector loaded once for the tile's pixels.
template <class Arch, int kVectors>
struct Channelwise {
  using Batch = xsimd::batch<float, Arch>;
  using Lanes = Gemm<Arch, 1, kVectors>;  // its masked loads and stores
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);
  static constexpr int kPixels = 8 / kVectors;
  static constexpr std::int64_t kChannels = kVectors * kWidth;

  template <int kTilePixels, bool kEdge>
  static void tile(const ChannelwiseGemm& g, std::int64_t p0, std::int64_t c0) {
    std::int64_t lanes[kVectors];
    CONVKIT_GEMM_UNROLL
    for (int v = 0; v < kVectors; ++v) lanes[v] = kEdge ? Lanes::lanes_of(v, g.channels - c0) : kWidth;
    Batch acc[kTilePixels][kVectors];
    CONVKIT_GEMM_UNROLL
    for (int v = 0; v < kVectors; ++v) {
      Batch start(0.0f);
      if (g.bias != nullptr) start = Batch::load_unaligned(g.bias + c0 + v * kWidth);  // padded like W
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTilePixels; ++i) acc[i][v] = start;
    }
    const float* a = g.a + p0 * g.lda + c0;
    for (std::int64_t t = 0; t < g.taps; ++t, a += g.channels) {
      Batch w[kVectors];
      CONVKIT_GEMM_UNROLL
      for (int v = 0; v < kVectors; ++v) w[v] = Batch::load_unaligned(g.w + t * g.ldw + c0 + v * kWidth);
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTilePixels; ++i) {
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kVectors; ++v) {
          const float* source = a + i * g.lda + v * kWidth;
          const Batch x = kEdge ? Lanes::load_first(source, lanes[v]) : Batch::load_unaligned(source);
          acc[i][v] = fused_multiply_add(x, w[v], acc[i][v]);
        }
      }
    }
    if (g.post != nullptr && g.post->residual) {
      const Batch scale(g.post->residual_scale);
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTilePixels; ++i) {
        const float* c = g.c + (p0 + i) * g.ldc + c0 * g.channel_stride;
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kVectors; ++v) {
          Batch r;
          if (g.channel_stride == 1) {
            const float* residual = residual_at(c + v * kWidth, g.residual_offset);
            r = kEdge ? Lanes::load_first(residual, lanes[v]) : Batch::load_unaligned(residual);
          } else {
            alignas(64) float gathered[kWidth] = {};
            for (std::int64_t lane = 0; lane < lanes[v]; ++lane)
              gathered[lane] = *residual_at(c + (v * kWidth + lane) * g.channel_stride, g.residual_offset);
            r = Batch::load_aligned(gathered);
          }
          acc[i][v] = fused_multiply_add(scale, r, acc[i][v]);
        }
      }
    }
    with_activation<Batch>(g, [&](const auto& activate) CONVKIT_ALWAYS_INLINE {
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTilePixels; ++i) {
        float* c = g.c + (p0 + i) * g.ldc + c0 * g.channel_stride;
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kVectors; ++v) {
          const Batch value = activate(acc[i][v]);
          if (g.channel_stride == 1) {
            if (kEdge) {
              Lanes::store_first(c + v * kWidth, value, lanes[v]);
            } else {
              value.store_unaligned(c + v * kWidth);
            }
          } else {  // a slice of a channel multiplier: every channel_stride-th output channel
            alignas(64) float spread[kWidth];
            value.store_aligned(spread);
            for (std::int64_t lane = 0; lane < lanes[v]; ++lane)
              c[(v * kWidth + lane) * g.channel_stride] = spread[lane];
          }
        }
      }
    });
    if (g.post != nullptr && !g.post->in_registers()) {
      const std::int64_t count = g.channels - c0 < kChannels ? g.channels - c0 : kChannels;
      for (int i = 0; i < kTilePixels; ++i) {
        float* c = g.c + (p0 + i) * g.ldc + c0 * g.channel_stride;
        activate_tile(*g.post, c, g.channel_stride == 1 ? 1 : count, g.channel_stride == 1 ? count : 1,
                      g.channel_stride);
      }
    }
  }

  template <bool kEdge, std::size_t... kIndex>
  static constexpr auto pixel_tiles(std::index_sequence<kIndex...>) {
    return std::array<void (*)(const ChannelwiseGemm&, std::int64_t, std::int64_t), kPixels>{
        &tile<static_cast<int>(kIndex) + 1, kEdge>...};
  }

  static void multiply(const ChannelwiseGemm& g) {
    static constexpr auto whole = pixel_tiles<false>(std::make_index_sequence<kPixels>{});
    static constexpr auto edge = pixel_tiles<true>(std::make_index_sequence<kPixels>{});
    for (std::int64_t p0 = 0; p0 < g.pixels; p0 += kPixels) {
      const std::size_t pixels = static_cast<std::size_t>((g.pixels - p0 < kPixels ? g.pixels - p0 : kPixels) - 1);
      for (std::int64_t c0 = 0; c0 < g.channels; c0 += kChannels)
        (g.channels - c0 >= kChannels ? whole : edge)[pixels](g, p0, c0);
    }
  }
};

// TapGemm (gemm_ukernels.hpp): the packed_b register tile of Gemm, its reduction a list of segments of A. A tile of
// kTileVectors > kVectors spans kTileVectors / kVectors neighbouring strips of B (few rows: see kWideVectors).
template <class Arch, int kRows, int kVectors>
struct Taps {
  using Base = Gemm<Arch, kRows, kVectors>;
  using Batch = typename Base::Batch;
  static constexpr std::int64_t kWidth = Base::kWidth;
  static constexpr std::int64_t kColumns = Base::kColumns;

  template <int kTileRows, int kTileVectors, bool kEdge>
  static void tile(const TapGemm& g, const TapSegment* segments, std::int64_t count, std::int64_t i0, std::int64_t j0,
                   bool first, bool last) {
    constexpr std::int64_t kTileColumns = kTileVectors * kWidth;
    const std::int64_t columns = g.n - j0 < kTileColumns ? g.n - j0 : kTileColumns;
    const std::int64_t lda = g.lda, ldc = g.ldc;
    std::int64_t lanes[kTileVectors];
    const float* strips[kTileVectors];
    CONVKIT_GEMM_UNROLL
    for (int v = 0; v < kTileVectors; ++v) {
      lanes[v] = kEdge ? Base::lanes_of(v, columns) : kWidth;
      strips[v] = g.b + (j0 + (v / kVectors) * kColumns) * g.k + (v % kVectors) * kWidth;
    }
    Batch acc[kTileRows][kTileVectors];
    CONVKIT_GEMM_UNROLL
    for (int v = 0; v < kTileVectors; ++v) {
      Batch start(0.0f);
      if (first && g.bias != nullptr) {
        const float* bias = g.bias + j0 + v * kWidth;
        start = kEdge ? Base::load_first(bias, lanes[v]) : Batch::load_unaligned(bias);
      }
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTileRows; ++i) acc[i][v] = start;
    }
    for (std::int64_t s = 0; s < count; ++s) {
      const float* a = g.a + i0 * lda + segments[s].a_offset;
      const std::int64_t row = segments[s].b_row * kColumns, length = segments[s].length;
      for (std::int64_t p = 0; p < length; ++p) {
        Batch bv[kTileVectors];
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kTileVectors; ++v) bv[v] = Batch::load_unaligned(strips[v] + row + p * kColumns);
        CONVKIT_GEMM_UNROLL
        for (int i = 0; i < kTileRows; ++i) {
          const Batch ai(a[i * lda + p]);
          CONVKIT_GEMM_UNROLL
          for (int v = 0; v < kTileVectors; ++v) acc[i][v] = fused_multiply_add(ai, bv[v], acc[i][v]);
        }
      }
    }
    float* c = g.c + i0 * ldc + j0;
    if (first && g.post != nullptr && g.post->residual) {  // as in Gemm::tile
      const Batch scale(g.post->residual_scale);
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTileRows; ++i) {
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kTileVectors; ++v) {
          const float* residual = residual_at(c + i * ldc + v * kWidth, g.residual_offset);
          const Batch r = kEdge ? Base::load_first(residual, lanes[v]) : Batch::load_unaligned(residual);
          acc[i][v] = fused_multiply_add(scale, r, acc[i][v]);
        }
      }
    }
    const auto write = [&](const auto& activate) CONVKIT_ALWAYS_INLINE {
      CONVKIT_GEMM_UNROLL
      for (int i = 0; i < kTileRows; ++i) {
        CONVKIT_GEMM_UNROLL
        for (int v = 0; v < kTileVectors; ++v) {
          float* target = c + i * ldc + v * kWidth;
          Batch value = acc[i][v];
          if (!first) value += kEdge ? Base::load_first(target, lanes[v]) : Batch::load_unaligned(target);
          value = activate(value);
          if (kEdge) {
            Base::store_first(target, value, lanes[v]);
          } else {
            value.store_unaligned(target);
          }
        }
      }
    };
    if (!last) return write(NoActivation{});
    with_activation<Batch>(g, write);
    if (g.post != nullptr) activate_tile(*g.post, c, kTileRows, columns, ldc);
  }

  using TileFunction = void (*)(const TapGemm&, const TapSegment*, std::int64_t, std::int64_t, std::int64_t, bool,
                                bool);
  template <int kTileVectors, bool kEdge, std::size_t... kIndex>
  static constexpr auto row_tiles(std::index_sequence<kIndex...>) {
    return std::array<TileFunction, kRows>{&tile<static_cast<int>(kIndex) + 1, kTileVectors, kEdge>...};
  }
  template <int kTileVectors, bool kEdge>
  static constexpr auto kRowTiles = row_tiles<kTileVectors, kEdge>(std::make_index_sequence<kRows>{});

  // Tiles of this few rows have too few sums to hide the FMA's latency (as in Gemm::kFewRows): they run over several
  // strips at once, eight or more sums (outputs of one to three pixels: the heads of detection networks, a kernel as
  // large as its input).
  static constexpr int kFewRows = 3;
  static constexpr int wide_vectors(int rows) {
    const int wanted = (8 + rows - 1) / rows;
    return (wanted + kVectors - 1) / kVectors * kVectors;
  }
  template <std::size_t... kIndex>
  static constexpr auto few_row_tiles(std::index_sequence<kIndex...>) {
    return std::array<TileFunction, kFewRows>{
        &tile<static_cast<int>(kIndex) + 1, wide_vectors(static_cast<int>(kIndex) + 1), false>...};
  }
  static constexpr auto kFewRowTiles = few_row_tiles(std::make_index_sequence<kFewRows>{});

  // One block of the reduction over C: the rows in equal tiles of at most kRows (a row of 56 pixels runs 12 + 4 x 11,
  // not 4 x 12 + 8), each along every strip of columns.
  static void block(const TapGemm& all, const TapSegment* segments, std::int64_t count, bool first, bool last) {
    // Rows that follow each other in A and in C without a gap are one product of all their pixels, so that a block of
    // weights too large for L2 is read once per call, not once per row (a 1x1 layer on 2x2 pixels: 2 rows of 2
    // streamed 4 MiB of weights twice). Each output sums the same products in the same order either way.
    if (all.rows > 1 && all.a_row_stride == all.m * all.lda && all.c_row_stride == all.m * all.ldc) {
      TapGemm merged = all;
      merged.m = all.m * all.rows;
      merged.rows = 1;
      return block_row(merged, segments, count, first, last);
    }
    for (std::int64_t r = 0; r < (all.rows > 1 ? all.rows : 1); ++r) {
      TapGemm row = all;
      row.a += r * all.a_row_stride;
      row.c += r * all.c_row_stride;
      block_row(row, segments, count, first, last);
    }
  }

  static void block_row(const TapGemm& g, const TapSegment* segments, std::int64_t count, bool first, bool last) {
    const std::int64_t tiles = (g.m + kRows - 1) / kRows, rows = (g.m + tiles - 1) / tiles;
    for (std::int64_t i0 = 0; i0 < g.m; i0 += rows) {
      const std::int64_t tile_rows = g.m - i0 < rows ? g.m - i0 : rows;
      const std::size_t index = static_cast<std::size_t>(tile_rows - 1);
      std::int64_t j0 = 0;
      if (tile_rows <= kFewRows) {
        const std::int64_t wide = wide_vectors(static_cast<int>(tile_rows)) * kWidth;
        for (; j0 + wide <= g.n; j0 += wide) kFewRowTiles[index](g, segments, count, i0, j0, first, last);
      }
      for (; j0 < g.n; j0 += kColumns) {
        if (g.n - j0 >= kColumns) {
          kRowTiles<kVectors, false>[index](g, segments, count, i0, j0, first, last);
        } else if (g.n - j0 <= kWidth) {  // 16 output channels, or 48, 80, 112: a strip's second vector idle
          kRowTiles<1, true>[index](g, segments, count, i0, j0, first, last);
        } else {
          kRowTiles<kVectors, true>[index](g, segments, count, i0, j0, first, last);
        }
      }
    }
  }

  // The segments cut at the same blocks of the reduction as packed_b's (b_row / kReductionBlock), so that without
  // skipped taps the sums are those of the unfolded product, bit for bit.
  static void multiply(const TapGemm& g) {
    TapSegment pieces[kReductionBlock];
    std::int64_t count = 0, window = -1;
    bool first = true;
    for (std::int64_t s = 0; s < g.segment_count; ++s) {
      TapSegment rest = g.segments[s];
      while (rest.length > 0) {
        const std::int64_t block_index = rest.b_row / kReductionBlock;
        const std::int64_t room = (block_index + 1) * kReductionBlock - rest.b_row;
        const std::int64_t take = rest.length < room ? rest.length : room;
        if (count > 0 && block_index != window) {
          block(g, pieces, count, first, false);
          first = false;
          count = 0;
        }
        window = block_index;
        pieces[count++] = {rest.a_offset, rest.b_row, take};
        rest = {rest.a_offset + take, rest.b_row + take, rest.length - take};
      }
    }
    block(g, pieces, count, first, true);
  }
};

template <class Arch, int kRows, int kVectors>
const GemmUkernels& make_gemm_ukernels(const char* isa) {
  using Tiles = Gemm<Arch, kRows, kVectors>;
  static const GemmUkernels ukernels{isa,
                                     kRows,
                                     Tiles::kColumns,
                                     &Tiles::template multiply<true>,
                                     &Tiles::template multiply<false>,
                                     &Tiles::template multiply<true, true>,
                                     Channelwise<Arch, 2>::kChannels,
                                     Channelwise<Arch, 2>::kPixels,
                                     &Channelwise<Arch, 2>::multiply,
                                     &Taps<Arch, kRows, kVectors>::multiply};
  return ukernels;
}

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
