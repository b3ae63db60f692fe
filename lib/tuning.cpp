#include "tuning.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "error.hpp"

namespace convkit::detail {
namespace {

// The variable's value, or null when unset or empty.
const char* variable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' ? value : nullptr;
}

// A decimal integer in [1, 2^62] and nothing else; 0 when unset.
std::int64_t positive_integer(const char* name) {
  const char* value = variable(name);
  if (value == nullptr) return 0;
  errno = 0;
  char* end = nullptr;
  if (value[0] < '0' || value[0] > '9') invalid(name, " = \"", value, "\" is not a positive integer");
  const long long parsed = std::strtoll(value, &end, 10);
  if (end == value || *end != '\0' || errno != 0 || parsed < 1 || parsed > (std::int64_t{1} << 62))
    invalid(name, " = \"", value, "\" is not a positive integer");
  return parsed;
}

// The index in `words` of the variable's value, or -1 when unset.
template <std::size_t kCount>
int one_of(const char* name, const char* const (&words)[kCount], const char* expected) {
  const char* value = variable(name);
  if (value == nullptr) return -1;
  for (std::size_t k = 0; k < kCount; ++k)
    if (std::strcmp(value, words[k]) == 0) return static_cast<int>(k);
  invalid(name, " = \"", value, "\" is not one of ", expected);
}

}  // namespace

Tuning read_tuning() {
  Tuning t;
  t.gemm_tile_pixels = positive_integer("CONVKIT_GEMM_TILE_PIXELS");
  t.gemm_channel_block = positive_integer("CONVKIT_GEMM_CHANNEL_BLOCK");
  static const char* const kOrientations[] = {"native", "transposed"};
  switch (one_of("CONVKIT_GEMM_ORIENTATION", kOrientations, "native, transposed")) {
    case 0:
      t.gemm_orientation = Tuning::Orientation::Native;
      break;
    case 1:
      t.gemm_orientation = Tuning::Orientation::Transposed;
      break;
    default:
      break;
  }
  static const char* const kEngines[] = {"blas", "kernels"};
  switch (one_of("CONVKIT_GEMM_ENGINE", kEngines, "blas, kernels")) {
    case 0:
      t.gemm_engine = Tuning::GemmEngine::Blas;
      break;
    case 1:
      t.gemm_engine = Tuning::GemmEngine::Kernels;
      break;
    default:
      break;
  }
  static const char* const kTiles[] = {"2", "4"};
  const int tile = one_of("CONVKIT_WINOGRAD_TILE", kTiles, "2, 4");
  t.winograd_tile = tile < 0 ? 0 : (tile == 0 ? 2 : 4);
  t.winograd_block_tiles = positive_integer("CONVKIT_WINOGRAD_BLOCK_TILES");
  return t;
}

const char* isa_cap() {
  static const char* const cap = variable("CONVKIT_MAX_ISA");
  return cap;
}

bool verbose_dispatch() {
  static const bool enabled = [] {
    const char* value = variable("CONVKIT_VERBOSE");
    return value != nullptr && std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

}  // namespace convkit::detail
