// The vector ISA of the direct kernels follows the CPU and the CONVKIT_MAX_ISA cap (ctest runs this binary once per
// cap), and the choice `auto` makes is visible through both APIs.
#include <convkit/convkit.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "conv_tester.hpp"

TEST_CASE("the ISA reported is the cap when the CPU has it, and the same through both APIs") {
  const std::string isa = convkit::simd_isa();
  CHECK(isa == convkit_simd_isa());
  const char* cap = std::getenv("CONVKIT_MAX_ISA");
  const std::string expected_for_cap = cap == nullptr                  ? ""
                                       : std::string(cap) == "avx2"    ? "avx2+fma"
                                       : std::string(cap) == "avx512f" ? "avx512f"
                                       : std::string(cap) == "sse4.2"  ? "sse4.2"
                                       : std::string(cap) == "sse2"    ? "sse2"
                                                                       : "";
  MESSAGE("direct kernels use ", isa, " (CONVKIT_MAX_ISA=", cap ? cap : "unset", ")");
  if (!expected_for_cap.empty()) {
    const bool cpu_has_cap = expected_for_cap == "avx512f" ? __builtin_cpu_supports("avx512f")
                             : expected_for_cap == "avx2+fma"
                                 ? __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                             : expected_for_cap == "sse4.2" ? __builtin_cpu_supports("sse4.2")
                                                            : true;
    if (cpu_has_cap) CHECK(isa == expected_for_cap);
    // Never above the cap.
    const auto rank = [](const std::string& name) {
      return name == "avx512f" ? 3 : name == "avx2+fma" ? 2 : name == "sse4.2" ? 1 : 0;
    };
    CHECK(rank(isa) <= rank(expected_for_cap));
  }
  if (cap == nullptr) CHECK((isa == "avx512f" || isa == "avx2+fma" || isa == "sse4.2" || isa == "sse2"));
}

TEST_CASE("auto's choice is reported by conv2d, chosen_algorithm and the C API alike") {
  convkit::Conv2dDesc depthwise;
  depthwise.batch = 1;
  depthwise.in_channels = depthwise.out_channels = depthwise.groups = 32;
  depthwise.in_height = depthwise.in_width = 20;
  depthwise.kernel_height = depthwise.kernel_width = 3;
  CHECK(convkit::chosen_algorithm(depthwise) == convkit::Algorithm::Direct);
  convkit::Conv2dDesc pointwise = depthwise;
  pointwise.groups = 1;
  pointwise.in_channels = 256;
  pointwise.kernel_height = pointwise.kernel_width = 1;
  CHECK(convkit::chosen_algorithm(pointwise) == convkit::Algorithm::Gemm1x1);
  convkit::Conv2dDesc wide = pointwise;
  wide.kernel_height = wide.kernel_width = 3;
  const std::string isa = convkit::simd_isa();
  const bool microkernels = isa == "avx2+fma" || isa == "avx512f";
  CHECK(convkit::chosen_algorithm(wide) ==
        (microkernels ? convkit::Algorithm::ImplicitGemm : convkit::Algorithm::Im2colGemm));
  // NCHW outputs above 56x56 but narrower than 64: implicit_gemm's transposed form costs more than unfolding.
  wide.in_height = wide.in_width = 120;
  wide.stride_height = wide.stride_width = 2;
  wide.pad_top = wide.pad_left = wide.pad_bottom = wide.pad_right = 1;
  CHECK(convkit::chosen_algorithm(wide) == convkit::Algorithm::Im2colGemm);

  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 1;
  d.in_channels = 2;
  d.in_height = d.in_width = 3;
  d.out_channels = 3;
  d.kernel_height = d.kernel_width = 2;
  convkit_algorithm chosen = CONVKIT_ALGORITHM_AUTO;
  REQUIRE(convkit_conv2d_algorithm(&d, nullptr, &chosen) == CONVKIT_STATUS_OK);
  CHECK(chosen == CONVKIT_ALGORITHM_DIRECT);  // the lesson's tiny shape
  convkit_options o;
  convkit_options_init(&o);
  o.algorithm = CONVKIT_ALGORITHM_GEMM_1X1;
  CHECK(convkit_conv2d_algorithm(&d, &o, &chosen) == CONVKIT_STATUS_UNSUPPORTED);
  d.groups = 0;
  CHECK(convkit_conv2d_algorithm(&d, nullptr, &chosen) == CONVKIT_STATUS_INVALID_ARGUMENT);
}
