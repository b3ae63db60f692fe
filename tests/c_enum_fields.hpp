// A C caller may store any int in an enum field of the C API's structs (or a corrupt model file may hold one); C++ may
// not hold an out-of-range value in the enum type, so the tests and the fuzzer write and read such fields as the ints
// they are.
#pragma once

#include <cstdint>
#include <cstring>

namespace convkit_test {

template <typename Enum>
void store_int(Enum& field, std::int64_t value) {
  static_assert(sizeof(Enum) == sizeof(int), "C enums are int-sized on supported ABIs");
  const int v = static_cast<int>(value);
  std::memcpy(&field, &v, sizeof v);
}

template <typename Enum>
int load_int(const Enum& field) {
  static_assert(sizeof(Enum) == sizeof(int), "C enums are int-sized on supported ABIs");
  int v;
  std::memcpy(&v, &field, sizeof v);
  return v;
}

}  // namespace convkit_test
