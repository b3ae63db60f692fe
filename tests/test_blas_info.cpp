// convkit reports which BLAS and which of its kernel sets run, and notices when the kernels are weaker than the CPU.
#include <convkit/convkit.h>
#include <doctest/doctest.h>

#include <convkit/convkit.hpp>
#include <cstdlib>
#include <string>

TEST_CASE("the BLAS and its core are reported through both APIs") {
  const convkit::BlasInfo info = convkit::blas_info();
  CHECK(info.library.find("OpenBLAS") != std::string::npos);
  // With OpenMP convkit links OpenBLAS's OpenMP build (one runtime, OpenMP's, in the process); without, its serial
  // build, so that no OpenMP runtime comes in through the BLAS (cmake/convkitDependencies.cmake).
#if CONVKIT_TEST_OPENMP
  CHECK(info.library.find("USE_OPENMP") != std::string::npos);
#else
  CHECK(info.library.find("USE_OPENMP") == std::string::npos);
#endif
  CHECK(!info.core.empty());
  convkit_blas_info c;
  convkit_get_blas_info(&c);
  CHECK(info.library == c.library);
  CHECK(info.core == c.core);
  CHECK(info.recommended_core == c.recommended_core);
  CHECK(info.degraded == (c.degraded != 0));
  // The test runs a second time under OPENBLAS_CORETYPE=Prescott (see tests/CMakeLists.txt): then the SSE3 kernels
  // run, and on any CPU with AVX the report must call that degraded.
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  if (forced != nullptr && std::string(forced) == "Prescott") {
    CHECK(info.core == "Prescott");
    CHECK(info.degraded == !info.recommended_core.empty());
  }
  // A core as good as the CPU allows is never called degraded.
  if (info.core == info.recommended_core) CHECK_FALSE(info.degraded);
}
