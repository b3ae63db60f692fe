// The activations of the fused epilogue (lib/kernels/activation_tile_impl.hpp) on every ISA table this CPU runs,
// against their ONNX definitions evaluated in double (oracle.hpp) over the float range: every binade of both signs,
// the subnormals, and the special values. The bounds checked are the ones convkit.h states.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/direct_ukernels.hpp"
#include "oracle.hpp"
#include "post_ops.hpp"

using convkit::Activation;
using convkit::detail::DirectUkernels;
using convkit::detail::PostOps;

namespace {

bool cpu_runs_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool cpu_runs_avx512f() { return __builtin_cpu_supports("avx512f") && cpu_runs_avx2_fma(); }

std::vector<const DirectUkernels*> tables() {
  std::vector<const DirectUkernels*> all{&convkit::detail::direct_ukernels_sse2()};
  if (__builtin_cpu_supports("sse4.2")) all.push_back(&convkit::detail::direct_ukernels_sse4_2());
  if (cpu_runs_avx2_fma()) all.push_back(&convkit::detail::direct_ukernels_avx2_fma());
  if (cpu_runs_avx512f()) all.push_back(&convkit::detail::direct_ukernels_avx512f());
  return all;
}

// The stated bound of each activation: ulps of the correctly rounded result where it is a normal float, and an
// absolute error `floor` that any result may have (tiny results, and GELU's tail: convkit.h).
struct Bound {
  Activation activation;
  double ulps, floor;
};

const Bound kBounds[] = {
    {Activation::LeakyRelu, 1, 0},        {Activation::Sigmoid, 4, 1.2e-38},  {Activation::Tanh, 4, 1.2e-38},
    {Activation::HardSigmoid, 1.5, 6e-8}, {Activation::HardSwish, 2.5, 2e-7}, {Activation::Silu, 4, 1e-35},
    {Activation::GeluErf, 16, 1e-8},      {Activation::GeluTanh, 12, 1e-8},
};

convkit::Epilogue epilogue_of(Activation activation) {
  convkit::Epilogue e;
  e.activation = activation;
  e.leaky_relu_alpha = 0.1f;
  e.hard_sigmoid_alpha = 0.2f;
  e.hard_sigmoid_beta = 0.5f;
  return e;
}

PostOps post_of(const convkit::Epilogue& e) {
  PostOps post;
  post.activation = e.activation;
  post.alpha = e.activation == Activation::LeakyRelu ? e.leaky_relu_alpha : e.hard_sigmoid_alpha;
  post.beta = e.hard_sigmoid_beta;
  return post;
}

// Every binade of both signs, 256 mantissas each (the ends and random ones), the subnormals, and a dense sweep of
// [-10, 10] where the activations bend.
std::vector<float> float_range() {
  std::vector<float> values;
  std::mt19937 random(20261203);
  for (int sign = 0; sign < 2; ++sign)
    for (std::uint32_t exponent = 0; exponent < 255; ++exponent)
      for (int k = 0; k < 256; ++k) {
        const std::uint32_t mantissa = k == 0 ? 0 : (k == 1 ? 0x7FFFFF : random() & 0x7FFFFF);
        const std::uint32_t bits = (static_cast<std::uint32_t>(sign) << 31) | (exponent << 23) | mantissa;
        float v;
        std::memcpy(&v, &bits, sizeof v);
        values.push_back(v);
      }
  for (int i = -200000; i <= 200000; ++i) values.push_back(static_cast<float>(i) * 5e-5f);
  return values;
}

double ulp_of(float x) {
  int exponent = 0;
  std::frexp(std::fabs(x), &exponent);
  return std::ldexp(1.0, exponent - 24);
}

}  // namespace

TEST_CASE("each activation stays within its stated error over the float range, on every ISA") {
  const std::vector<float> inputs = float_range();
  for (const DirectUkernels* table : tables())
    for (const Bound& bound : kBounds) {
      const convkit::Epilogue e = epilogue_of(bound.activation);
      const PostOps post = post_of(e);
      std::vector<float> got = inputs;
      // One row, and the same values as a block of rows whose width leaves a partial vector.
      table->activate_tile(post, got.data(), 1, static_cast<std::int64_t>(got.size()),
                           static_cast<std::int64_t>(got.size()));
      double worst_ulps = 0, worst_at = 0;
      std::int64_t outside = 0;
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        const double exact = convkit_test::oracle_activation(inputs[i], e);
        const float rounded = static_cast<float>(exact);
        const double error = std::fabs(got[i] - exact);
        if (std::isnan(exact) || std::isinf(exact)) {
          if (!(std::isnan(exact) ? std::isnan(got[i]) : got[i] == rounded) && outside++ < 3)
            FAIL_CHECK(table->isa, " activation ", static_cast<int>(bound.activation), " at ", inputs[i], ": ", got[i],
                       ", want ", exact);
          continue;
        }
        const bool normal = std::fabs(exact) >= FLT_MIN && std::fabs(rounded) <= FLT_MAX;
        const double ulps = normal ? error / ulp_of(rounded) : 0;
        if (normal && ulps > worst_ulps && error > bound.floor) worst_ulps = ulps, worst_at = inputs[i];
        const bool within = error <= bound.floor || (normal && ulps <= bound.ulps) || (!normal && error <= FLT_MIN);
        if (!within && outside++ < 3)
          FAIL_CHECK(table->isa, " activation ", static_cast<int>(bound.activation), " at ", inputs[i], ": ", got[i],
                     ", want ", exact, " (", ulps, " ulps)");
      }
      MESSAGE(std::string(table->isa), " activation ", static_cast<int>(bound.activation), ": worst ", worst_ulps,
              " ulps at ", worst_at);
      CHECK(outside == 0);
    }
}

TEST_CASE("NaN, infinities and signed zeros behave as the ONNX operators say") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const DirectUkernels* table : tables())
    for (const Bound& bound : kBounds) {
      const std::string isa = table->isa;
      CAPTURE(isa);
      CAPTURE(static_cast<int>(bound.activation));
      const convkit::Epilogue e = epilogue_of(bound.activation);
      float values[] = {nan, -nan, inf, -inf, 0.0f, -0.0f, FLT_MAX, -FLT_MAX};
      const float inputs[] = {nan, -nan, inf, -inf, 0.0f, -0.0f, FLT_MAX, -FLT_MAX};
      table->activate_tile(post_of(e), values, 1, 8, 8);
      CHECK(std::isnan(values[0]));  // NaN in, NaN out, for every activation
      CHECK(std::isnan(values[1]));
      for (int i = 2; i < 8; ++i) {
        const double want = convkit_test::oracle_activation(inputs[i], e);
        CAPTURE(inputs[i]);
        if (std::isinf(want)) {
          CHECK(values[i] == want);
        } else {
          CHECK(std::fabs(values[i] - want) <= 1e-6 * std::fabs(want));  // the exact limits at the infinities
        }
        CHECK_FALSE(std::isnan(values[i]));
      }
      // 0 maps to 0 (or, for the sigmoids, to f(0)); the limits at -inf are zeros, not the NaN of -inf * 0.
      CHECK(values[4] == static_cast<float>(convkit_test::oracle_activation(0.0, e)));
    }
}
