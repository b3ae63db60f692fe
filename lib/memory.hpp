// Owned, 64-byte aligned float storage: the alignment of a cache line and of an AVX-512 vector.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace convkit::detail {

struct AlignedDelete {
  void operator()(float* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
};

using AlignedFloats = std::unique_ptr<float[], AlignedDelete>;

// Throws std::bad_alloc, which the API boundary turns into Status::OutOfMemory.
inline AlignedFloats allocate_floats(std::size_t count) {
  if (count == 0) return AlignedFloats{};
  return AlignedFloats(static_cast<float*>(::operator new[](count * sizeof(float), std::align_val_t{64})));
}

inline AlignedFloats zeroed_floats(std::size_t count) {
  AlignedFloats floats = allocate_floats(count);
  for (std::size_t i = 0; i < count; ++i) floats[i] = 0.0f;
  return floats;
}

}  // namespace convkit::detail
