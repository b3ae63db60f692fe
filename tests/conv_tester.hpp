// ConvTester: a fluent description of one convolution, run through the library and compared with the oracle.
//
//   ConvTester().batch(2).channels(4, 6).input(7, 7).kernel(3, 3).stride(2, 1).padding(1, 0, 2, 1).groups(2)
//       .layout(convkit::Layout::NHWC).bias(true).activation(convkit::Activation::Relu).threads(2)
//       .test(convkit::Algorithm::Im2colGemm);
//
// Tolerance: |got - want| <= 1e-4 * (|bias| + sum of |products|) per output element (Winograd: its stated bound,
// oracle.hpp). The output buffer is filled with
// NaN and surrounded by guard values first, so an element left unwritten or a write out of bounds fails the test.
// Large problems are checked on a deterministic sample of output elements (all borders are always included).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "oracle.hpp"

namespace convkit_test {

// One image of size x size, a square kernel with "same" padding for odd sizes, stride and dilation 1.
inline convkit::Conv2dDesc square_desc(std::int64_t in_channels, std::int64_t out_channels, std::int64_t groups,
                                       std::int64_t size, std::int64_t kernel, convkit::Layout layout) {
  convkit::Conv2dDesc d;
  d.batch = 1;
  d.in_channels = in_channels;
  d.out_channels = out_channels;
  d.groups = groups;
  d.in_height = d.in_width = size;
  d.kernel_height = d.kernel_width = kernel;
  d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = kernel / 2;
  d.layout = layout;
  return d;
}

// The implementation a plan runs: its description without the thread count that ends it (" [2 threads]").
inline std::string implementation_of(const std::string& description) {
  const std::size_t note = description.rfind(" [");
  return note == std::string::npos ? description : description.substr(0, note);
}

inline std::string describe(const convkit::Conv2dDesc& d, const convkit::Options& o, bool bias) {
  std::ostringstream s;
  s << "N=" << d.batch << " Ci=" << d.in_channels << " H=" << d.in_height << " W=" << d.in_width
    << " Co=" << d.out_channels << " K=" << d.kernel_height << "x" << d.kernel_width << " stride=" << d.stride_height
    << "," << d.stride_width << " pad(t,l,b,r)=" << d.pad_top << "," << d.pad_left << "," << d.pad_bottom << ","
    << d.pad_right << " dilation=" << d.dilation_height << "," << d.dilation_width << " groups=" << d.groups
    << " layout=" << (d.layout == convkit::Layout::NCHW ? "NCHW" : "NHWC")
    << " weights=" << (d.weights_layout == convkit::WeightsLayout::OIHW ? "OIHW" : "OHWI") << " bias=" << bias
    << " activation=" << static_cast<int>(o.activation) << " clamp=[" << o.clamp_min << "," << o.clamp_max << "]"
    << " threads=" << o.threads << " algorithm=" << convkit::algorithm_name(o.algorithm);
  return s.str();
}

// Whether the library promises to run `algorithm` on this shape (otherwise it must answer Unsupported).
inline bool algorithm_supports(convkit::Algorithm algorithm, const convkit::Conv2dDesc& d) {
  switch (algorithm) {
    case convkit::Algorithm::Gemm1x1:
      return d.kernel_height == 1 && d.kernel_width == 1;
    case convkit::Algorithm::ImplicitGemm:  // convkit's GEMM microkernels: AVX2+FMA and up
      return std::string(convkit::simd_isa()) == "avx2+fma" || std::string(convkit::simd_isa()) == "avx512f";
    case convkit::Algorithm::Winograd:
      return d.kernel_height == 3 && d.kernel_width == 3 && d.stride_height == 1 && d.stride_width == 1 &&
             d.dilation_height == 1 && d.dilation_width == 1;
    default:
      return true;
  }
}

inline const std::vector<convkit::Algorithm>& all_algorithms() {
  static const std::vector<convkit::Algorithm> algorithms{
      convkit::Algorithm::Auto,        convkit::Algorithm::Reference, convkit::Algorithm::Im2colGemm,
      convkit::Algorithm::Gemm1x1,     convkit::Algorithm::Direct,    convkit::Algorithm::Winograd,
      convkit::Algorithm::ImplicitGemm};
  return algorithms;
}

class ConvTester {
 public:
  ConvTester() {
    desc_.batch = 1;
    desc_.in_channels = desc_.out_channels = 1;
    desc_.in_height = desc_.in_width = 5;
    desc_.kernel_height = desc_.kernel_width = 3;
  }

  ConvTester& batch(std::int64_t n) { return desc_.batch = n, *this; }
  ConvTester& channels(std::int64_t in, std::int64_t out) {
    desc_.in_channels = in;
    desc_.out_channels = out;
    return *this;
  }
  ConvTester& input(std::int64_t h, std::int64_t w) {
    desc_.in_height = h;
    desc_.in_width = w;
    return *this;
  }
  ConvTester& kernel(std::int64_t h, std::int64_t w) {
    desc_.kernel_height = h;
    desc_.kernel_width = w;
    return *this;
  }
  ConvTester& stride(std::int64_t h, std::int64_t w) {
    desc_.stride_height = h;
    desc_.stride_width = w;
    return *this;
  }
  ConvTester& padding(std::int64_t top, std::int64_t left, std::int64_t bottom, std::int64_t right) {
    desc_.pad_top = top;
    desc_.pad_left = left;
    desc_.pad_bottom = bottom;
    desc_.pad_right = right;
    return *this;
  }
  ConvTester& dilation(std::int64_t h, std::int64_t w) {
    desc_.dilation_height = h;
    desc_.dilation_width = w;
    return *this;
  }
  ConvTester& groups(std::int64_t g) { return desc_.groups = g, *this; }
  ConvTester& layout(convkit::Layout l) { return desc_.layout = l, *this; }
  ConvTester& weights_layout(convkit::WeightsLayout l) { return desc_.weights_layout = l, *this; }
  ConvTester& bias(bool b) { return bias_ = b, *this; }
  ConvTester& activation(convkit::Activation a, float lo = -0.5f, float hi = 0.5f) {
    options_.activation = a;
    if (a == convkit::Activation::Clamp) {
      options_.clamp_min = lo;
      options_.clamp_max = hi;
    }
    return *this;
  }
  ConvTester& threads(int t) { return options_.threads = t, *this; }
  // Runs with this epilogue (options().activation must then be None); `residual`: where its residual lies.
  enum class Residual { None, Separate, InPlace };
  ConvTester& epilogue(const convkit::Epilogue& e, Residual residual = Residual::None) {
    epilogue_ = e;
    epilogue_.residual = residual != Residual::None;
    has_epilogue_ = true;
    residual_ = residual;
    return *this;
  }
  ConvTester& seed(std::uint32_t s) { return seed_ = s, *this; }
  // Check at most this many output elements (a deterministic sample); 0 checks all.
  ConvTester& sample(std::int64_t count) { return sample_ = count, *this; }
  ConvTester& desc(const convkit::Conv2dDesc& d) { return desc_ = d, *this; }
  // Run through a convkit::Plan (made, then the caller's weights overwritten, then run) instead of conv2d.
  ConvTester& through_plan(bool p) { return plan_ = p, *this; }
  // Run through a plan on the caller's thread pool (Plan::run_on); null: convkit's own workers.
  ConvTester& on_pool(const convkit::ThreadPool* pool) {
    pool_ = pool;
    plan_ = plan_ || pool != nullptr;
    return *this;
  }

  const convkit::Conv2dDesc& desc() const { return desc_; }

  // Runs `algorithm` and compares with the oracle; an algorithm that does not support the shape must throw
  // Unsupported and leave the output untouched. Returns the algorithm that ran (Auto when it declined).
  convkit::Algorithm test(convkit::Algorithm algorithm) const {
    convkit::Options options = options_;
    options.algorithm = algorithm;
    INFO("seed=", seed_, " ", describe(desc_, options, bias_));
    INFO("epilogue: ", has_epilogue_, " activation=", static_cast<int>(epilogue_.activation),
         " residual=", static_cast<int>(residual_), " scale=", epilogue_.residual_scale);
    Tensors t = make_tensors();
    if (!algorithm_supports(algorithm, desc_)) {
      check_unsupported(options, t);
      return convkit::Algorithm::Auto;
    }
    const convkit::Algorithm used = run(options, t);
    if (algorithm != convkit::Algorithm::Auto) CHECK(used == algorithm);
    CHECK(used != convkit::Algorithm::Auto);
    check_guards(t);
    const std::int64_t failures = compare(options, used, t);
    CHECK_MESSAGE(failures == 0, failures, " outputs outside tolerance");
    return used;
  }

  // Every algorithm, each held to its contract.
  void test_all() const {
    for (convkit::Algorithm a : all_algorithms()) test(a);
  }

 private:
  static constexpr std::size_t kGuard = 16;
  static constexpr float kGuardValue = 12345.0f;

  // The tensors of one test: input, weights and bias random from the seed, and the output filled with NaN between
  // kGuard guard values on either side.
  struct Tensors {
    OutputShape shape;
    std::size_t out_count;
    std::vector<float> in, w, b, out;
    std::vector<float> residual;  // the epilogue's, when it has one (in place: also the output's first content)
    float* y() { return out.data() + kGuard; }
    const float* y() const { return out.data() + kGuard; }
  };

  Tensors make_tensors() const {
    Tensors t;
    t.shape = oracle_output_shape(desc_);
    const std::int64_t Co = desc_.out_channels, N = desc_.batch;
    const std::size_t in_count =
        static_cast<std::size_t>(desc_.batch * desc_.in_channels * desc_.in_height * desc_.in_width);
    const std::size_t w_count =
        static_cast<std::size_t>(Co * (desc_.in_channels / desc_.groups) * desc_.kernel_height * desc_.kernel_width);
    t.out_count = static_cast<std::size_t>(N * Co * t.shape.height * t.shape.width);
    t.in = random_floats(in_count, seed_);
    t.w = random_floats(w_count, seed_ + 1);
    t.b = random_floats(static_cast<std::size_t>(Co), seed_ + 2);
    t.out.assign(t.out_count + 2 * kGuard, kGuardValue);
    std::fill(t.out.begin() + kGuard, t.out.end() - kGuard, std::nanf(""));
    if (residual_ != Residual::None) {
      t.residual = random_floats(t.out_count, seed_ + 4);
      if (residual_ == Residual::InPlace) std::copy(t.residual.begin(), t.residual.end(), t.y());
    }
    return t;
  }

  const float* bias_of(const Tensors& t) const { return bias_ ? t.b.data() : nullptr; }

  // The algorithm does not support the shape: it must throw Unsupported and leave the output untouched.
  void check_unsupported(const convkit::Options& options, Tensors& t) const {
    bool unsupported = false;
    const std::vector<float> before(t.y(), t.y() + t.out_count);
    try {
      if (has_epilogue_) {
        run_fused(options, t);
      } else if (plan_) {
        convkit::Plan plan(desc_, t.w.data(), bias_of(t), options);
      } else {
        convkit::conv2d(desc_, t.in.data(), t.w.data(), bias_of(t), t.y(), options);
      }
    } catch (const convkit::Error& e) {
      unsupported = e.status() == convkit::Status::Unsupported;
    }
    CHECK_MESSAGE(unsupported, "expected Unsupported");
    CHECK(std::equal(before.begin(), before.end(), t.y(),
                     [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }));
  }

  // Runs the convolution into t's output, through conv2d or a plan; returns the algorithm that ran.
  convkit::Algorithm run(const convkit::Options& options, Tensors& t) const {
    if (has_epilogue_) return run_fused(options, t);
    if (!plan_) return convkit::conv2d(desc_, t.in.data(), t.w.data(), bias_of(t), t.y(), options);
    // The plan owns copies: the caller's weights and bias may change after it is made.
    std::vector<float> w_copy = t.w, b_copy = t.b;
    convkit::Plan plan(desc_, w_copy.data(), bias_ ? b_copy.data() : nullptr, options);
    std::fill(w_copy.begin(), w_copy.end(), 1e6f);
    std::fill(b_copy.begin(), b_copy.end(), -1e6f);
    const convkit::Algorithm used = plan.algorithm();
    // A caller workspace of NaNs (all bits set): a kernel that reads scratch it has not written fails.
    std::vector<unsigned char> workspace(plan.workspace_size(), 0xFF);
    if (pool_ != nullptr) {
      plan.run_on(*pool_, t.in.data(), t.y(), workspace.data(), workspace.size());
    } else {
      plan.run(t.in.data(), t.y(), workspace.data(), workspace.size());
    }
    return used;
  }

  const float* residual_of(Tensors& t) const {
    if (residual_ == Residual::None) return nullptr;
    return residual_ == Residual::InPlace ? t.y() : t.residual.data();
  }

  convkit::Algorithm run_fused(const convkit::Options& options, Tensors& t) const {
    if (!plan_)
      return convkit::conv2d(desc_, t.in.data(), t.w.data(), bias_of(t), residual_of(t), t.y(), options, epilogue_);
    std::vector<float> w_copy = t.w, b_copy = t.b;
    convkit::Plan plan(desc_, w_copy.data(), bias_ ? b_copy.data() : nullptr, options, epilogue_);
    std::fill(w_copy.begin(), w_copy.end(), 1e6f);
    std::vector<unsigned char> workspace(plan.workspace_size(), 0xFF);
    if (epilogue_.residual && pool_ != nullptr) {
      plan.run_residual_on(*pool_, t.in.data(), residual_of(t), t.y(), workspace.data(), workspace.size());
    } else if (epilogue_.residual) {
      plan.run_residual(t.in.data(), residual_of(t), t.y(), workspace.data(), workspace.size());
    } else if (pool_ != nullptr) {
      plan.run_on(*pool_, t.in.data(), t.y(), workspace.data(), workspace.size());
    } else {
      plan.run(t.in.data(), t.y(), workspace.data(), workspace.size());
    }
    return plan.algorithm();
  }

  // Nothing written outside the output.
  static void check_guards(const Tensors& t) {
    for (std::size_t i = 0; i < kGuard; ++i) {
      REQUIRE(t.out[i] == kGuardValue);
      REQUIRE(t.out[kGuard + t.out_count + i] == kGuardValue);
    }
  }

  // The output elements against the oracle; the first five outside tolerance fail with their values. Returns how
  // many are outside.
  std::int64_t compare(const convkit::Options& options, convkit::Algorithm used, const Tensors& t) const {
    std::int64_t failures = 0;
    for_each_checked(t.shape, [&](std::int64_t n, std::int64_t o, std::int64_t yy, std::int64_t xx) {
      OracleValue want = oracle_at(desc_, t.in.data(), t.w.data(), bias_of(t), n, o, yy, xx);
      const std::int64_t at =
          tensor_offset(desc_.layout, desc_.out_channels, t.shape.height, t.shape.width, n, o, yy, xx);
      double expected = oracle_activate(want.value, options);
      double slope = 1.0;
      if (has_epilogue_) {
        if (residual_ != Residual::None) {
          const double r = static_cast<double>(epilogue_.residual_scale) * t.residual[static_cast<std::size_t>(at)];
          want.value += r;
          want.magnitude += std::fabs(r);
        }
        expected = oracle_activation(want.value, epilogue_);
        slope = oracle_activation_slope(epilogue_);
      }
      const double got = t.y()[at];
      // Winograd (asked for, or chosen by auto in the fast math mode) is held to its own bound, the larger one since
      // the tile size is chosen per shape; everything else computes the definition's products.
      const double tolerance =
          used == convkit::Algorithm::Winograd
              ? winograd_error_bound(4) * winograd_magnitude(desc_, t.in.data(), t.w.data(), bias_of(t), n, o, yy, xx)
              : 1e-4 * want.magnitude;
      // Through an activation the error grows by at most its slope, and the activation adds its own few ulps.
      const double total = slope * tolerance + 1e-6 * std::fabs(expected);
      if (!(std::fabs(got - expected) <= total) && failures++ < 5) {
        FAIL_CHECK("output (n=", n, ", o=", o, ", y=", yy, ", x=", xx, ") = ", got, ", oracle ", expected,
                   " (tolerance ", total, ")");
      }
    });
    return failures;
  }

  // Calls f(n, o, y, x) for every output element, or for a deterministic sample of sample_ elements of a larger output.
  template <class F>
  void for_each_checked(const OutputShape& shape, const F& f) const {
    const std::int64_t N = desc_.batch, Co = desc_.out_channels;
    const std::int64_t total = N * Co * shape.height * shape.width;
    if (sample_ == 0 || total <= sample_) {
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t o = 0; o < Co; ++o)
          for (std::int64_t yy = 0; yy < shape.height; ++yy)
            for (std::int64_t xx = 0; xx < shape.width; ++xx) f(n, o, yy, xx);
      return;
    }
    std::mt19937_64 pick(seed_ + 3);
    for (std::int64_t s = 0; s < sample_; ++s) {
      const std::int64_t n = static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(N));
      const std::int64_t o = static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(Co));
      // Half the samples on the border rows and columns, where padding and unfolding edges live.
      std::int64_t yy = static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(shape.height));
      std::int64_t xx = static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(shape.width));
      if (s % 2 == 1) {
        if (pick() % 2)
          yy = (pick() % 2) ? 0 : shape.height - 1;
        else
          xx = (pick() % 2) ? 0 : shape.width - 1;
      }
      f(n, o, yy, xx);
    }
  }

  convkit::Conv2dDesc desc_;
  convkit::Options options_;
  bool bias_ = false;
  std::uint32_t seed_ = kSeed;
  std::int64_t sample_ = 0;
  bool plan_ = false;
  const convkit::ThreadPool* pool_ = nullptr;
  convkit::Epilogue epilogue_;
  bool has_epilogue_ = false;
  Residual residual_ = Residual::None;
};

}  // namespace convkit_test
