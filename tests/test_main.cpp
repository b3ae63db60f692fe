#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "conv_tester.hpp"

int main(int argc, char** argv) {
  const convkit::BlasInfo blas = convkit::blas_info();
  std::printf("convkit tests: random seed %u; BLAS core %s (%s)\n", convkit_test::kSeed, blas.core.c_str(),
              blas.library.c_str());
  doctest::Context context(argc, argv);
  return context.run();
}
