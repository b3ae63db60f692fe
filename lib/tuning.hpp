// The tuning variables: every environment variable convkit reads, in one list, parsed by one strict parser. They
// exist for tests and tuning, not as configuration.
//
// Read once per plan, when it is made (read_tuning), so that a plan sees one consistent set and a run reads none:
//   CONVKIT_GEMM_TILE_PIXELS=n       the GEMM path's tiles of n output pixels (capped by the workspace bound)
//   CONVKIT_GEMM_CHANNEL_BLOCK=n     its units of n output channels
//   CONVKIT_GEMM_ORIENTATION=native|transposed   the orientation of every product (GemmTiling::transposed)
//   CONVKIT_GEMM_ENGINE=blas|kernels OpenBLAS multiplies every product, even where convkit's GEMM kernels could
//                                    (and groups of one channel are then multiplied one group at a time)
//   CONVKIT_WINOGRAD_TILE=2|4        Winograd's F(2x2,3x3) or F(4x4,3x3) for every layer it runs
//   CONVKIT_WINOGRAD_BLOCK_TILES=n   its blocks of n tiles
// auto's choices are made without them: they change how an algorithm runs, not which one runs.
//
// Read once per process, at first use (debugging switches, read where no error can be reported):
//   CONVKIT_MAX_ISA=sse2|sse4.2|avx2|avx512f   the widest ISA the kernels may use (an unknown name caps nothing)
//   CONVKIT_VERBOSE=1                          print each algorithm choice and every candidate's reason to stderr
//
// An empty or unset variable means "not set". A set value that is not one of those listed (a number with trailing
// characters, zero or negative, an unknown word) makes plan creation fail with Error(InvalidArgument) naming the
// variable and its value: a tuning run with a typo must not silently measure the default.
#pragma once

#include <cstdint>

namespace convkit::detail {

struct Tuning {
  enum class Orientation { Chosen, Native, Transposed };
  enum class GemmEngine { Chosen, Blas, Kernels };
  std::int64_t gemm_tile_pixels = 0;    // 0: the tiling's own choice
  std::int64_t gemm_channel_block = 0;  // 0: the tiling's own choice
  Orientation gemm_orientation = Orientation::Chosen;
  GemmEngine gemm_engine = GemmEngine::Chosen;
  int winograd_tile = 0;  // 0: the natural tile of the layer
  std::int64_t winograd_block_tiles = 0;
};

// The per-plan variables as they are now. Throws Error(InvalidArgument) for a malformed value.
Tuning read_tuning();

// CONVKIT_MAX_ISA as read at first use, or null.
const char* isa_cap();

// CONVKIT_VERBOSE as read at first use: set, non-empty and not "0".
bool verbose_dispatch();

}  // namespace convkit::detail
