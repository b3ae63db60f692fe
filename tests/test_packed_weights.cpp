// Packed weights (convkit::PackedWeights): plans made from them for other sizes against the oracle and bit for bit
// against plans made from the raw weights, on every named entry; sharing of the forms between plans; plans that
// outlive their weights; plans made on several threads at once; and the saved form, with every kind of damage.
#include <doctest/doctest.h>

#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conv_tester.hpp"
#include "packed_weights.hpp"
#include "plan.hpp"
#include "primitive.hpp"

using convkit::Layout;

namespace {

struct EntryShape {
  const char* entry;
  convkit::Conv2dDesc desc;
};

// A shape each entry of the implementation list takes (those of test_implementations.cpp).
std::vector<EntryShape> entry_shapes() {
  convkit::Conv2dDesc strided = convkit_test::square_desc(32, 64, 1, 28, 3, Layout::NCHW);
  strided.stride_height = strided.stride_width = 2;
  return {
      {"gemm_1x1_channelwise", convkit_test::square_desc(32, 32, 32, 14, 1, Layout::NHWC)},
      {"gemm_1x1_convkit", convkit_test::square_desc(64, 64, 1, 14, 1, Layout::NCHW)},
      {"gemm_1x1_openblas_transposed", convkit_test::square_desc(1024, 8, 1, 7, 1, Layout::NHWC)},
      {"gemm_1x1_openblas", convkit_test::square_desc(64, 8, 1, 14, 1, Layout::NHWC)},
      {"winograd_f4x4", convkit_test::square_desc(32, 32, 1, 28, 3, Layout::NCHW)},
      {"winograd_f2x2", convkit_test::square_desc(64, 64, 1, 12, 3, Layout::NHWC)},
      {"direct_tiny", convkit_test::square_desc(2, 3, 1, 3, 2, Layout::NCHW)},
      {"direct_depthwise_nhwc", convkit_test::square_desc(32, 32, 32, 28, 3, Layout::NHWC)},
      {"direct_depthwise_blocked", convkit_test::square_desc(96, 96, 96, 7, 5, Layout::NCHW)},
      {"direct_depthwise_planes", convkit_test::square_desc(48, 96, 48, 7, 5, Layout::NCHW)},
      {"direct_scalar", convkit_test::square_desc(8, 8, 1, 5, 3, Layout::NCHW)},
      {"direct_depthwise_inplace", convkit_test::square_desc(32, 32, 32, 56, 3, Layout::NCHW)},
      {"direct_staged", convkit_test::square_desc(8, 4, 1, 32, 3, Layout::NCHW)},
      {"im2col_gemm_channelwise", convkit_test::square_desc(32, 32, 32, 28, 3, Layout::NHWC)},
      {"implicit_gemm_convkit", convkit_test::square_desc(64, 64, 1, 28, 3, Layout::NCHW)},
      {"im2col_gemm_convkit", strided},
      {"im2col_gemm_openblas_transposed", convkit_test::square_desc(64, 64, 1, 14, 3, Layout::NHWC)},
      {"im2col_gemm_openblas", convkit_test::square_desc(64, 32, 4, 4, 3, Layout::NHWC)},
      {"reference", convkit_test::square_desc(8, 8, 1, 9, 3, Layout::NCHW)},
  };
}

// The descriptors a plan may be made for from weights packed for `d`: other batch, image size, padding, stride,
// dilation and layout.
std::vector<std::pair<const char*, convkit::Conv2dDesc>> reshapes(const convkit::Conv2dDesc& d) {
  std::vector<std::pair<const char*, convkit::Conv2dDesc>> all;
  all.emplace_back("as packed", d);
  convkit::Conv2dDesc v = d;
  v.batch = 2;
  all.emplace_back("batch 2", v);
  v = d;
  v.in_height += 3;
  v.in_width += 1;
  all.emplace_back("image +3 x +1", v);
  v = d;
  v.pad_top = v.pad_left = v.pad_bottom = v.pad_right = 0;
  if (v.in_height >= v.kernel_height) all.emplace_back("no padding", v);
  v = d;
  v.stride_height = v.stride_width = d.stride_height == 1 ? 2 : 1;
  all.emplace_back("other stride", v);
  v = d;
  v.dilation_height = v.dilation_width = 2;
  v.pad_top = v.pad_left = v.pad_bottom = v.pad_right = d.kernel_height - 1;
  all.emplace_back("dilation 2", v);
  v = d;
  v.layout = d.layout == Layout::NCHW ? Layout::NHWC : Layout::NCHW;
  all.emplace_back("other layout", v);
  return all;
}

// OIHW weights reordered to OHWI.
std::vector<float> to_ohwi(const convkit::Conv2dDesc& d, const std::vector<float>& oihw) {
  convkit::Conv2dDesc ohwi = d;
  ohwi.weights_layout = convkit::WeightsLayout::OHWI;
  std::vector<float> result(oihw.size());
  const std::int64_t cg = d.in_channels / d.groups;
  for (std::int64_t o = 0; o < d.out_channels; ++o)
    for (std::int64_t c = 0; c < cg; ++c)
      for (std::int64_t i = 0; i < d.kernel_height; ++i)
        for (std::int64_t j = 0; j < d.kernel_width; ++j)
          result[static_cast<std::size_t>(convkit_test::weights_offset(ohwi, o, c, i, j))] =
              oihw[static_cast<std::size_t>(convkit_test::weights_offset(d, o, c, i, j))];
  return result;
}

std::vector<float> run(const convkit::Plan& plan, const convkit::Conv2dDesc& d, const std::vector<float>& x,
                       const std::vector<float>* residual = nullptr) {
  std::vector<float> y(static_cast<std::size_t>(convkit::tensor_sizes(d).output), std::nanf(""));
  if (residual != nullptr) {
    plan.run_residual(x.data(), residual->data(), y.data());
  } else {
    plan.run(x.data(), y.data());
  }
  return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The oracle's sums of every output element, in the output's layout; for Winograd, with the magnitude scaled so that
// 1e-4 of it is Winograd's bound (as test_implementations.cpp does).
std::vector<convkit_test::OracleValue> oracle(const convkit::Conv2dDesc& d, const std::vector<float>& x,
                                              const std::vector<float>& w, const std::vector<float>& b, bool winograd) {
  const convkit::OutputSize out = convkit::output_size(d);
  std::vector<convkit_test::OracleValue> want(static_cast<std::size_t>(convkit::tensor_sizes(d).output));
  for (std::int64_t n = 0; n < d.batch; ++n)
    for (std::int64_t o = 0; o < d.out_channels; ++o)
      for (std::int64_t yy = 0; yy < out.height; ++yy)
        for (std::int64_t xx = 0; xx < out.width; ++xx) {
          const auto at = static_cast<std::size_t>(
              convkit_test::tensor_offset(d.layout, d.out_channels, out.height, out.width, n, o, yy, xx));
          want[at] = convkit_test::oracle_at(d, x.data(), w.data(), b.data(), n, o, yy, xx);
          if (winograd)
            want[at].magnitude = convkit_test::winograd_magnitude(d, x.data(), w.data(), b.data(), n, o, yy, xx) *
                                 convkit_test::winograd_error_bound(4) / 1e-4;
        }
  return want;
}

// Elements of y off the oracle's answer with the epilogue, within test_implementations.cpp's tolerances.
std::int64_t wrong_elements(const std::vector<convkit_test::OracleValue>& want, const std::vector<float>* residual,
                            const convkit::Epilogue& epilogue, const std::vector<float>& y) {
  std::int64_t wrong = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    double value = want[i].value, magnitude = want[i].magnitude;
    if (residual != nullptr) {
      value += epilogue.residual_scale * (*residual)[i];
      magnitude += std::fabs(epilogue.residual_scale * (*residual)[i]);
    }
    const double expected = convkit_test::oracle_activation(value, epilogue);
    const double tolerance =
        convkit_test::oracle_activation_slope(epilogue) * 1e-4 * magnitude + 1e-6 * std::fabs(expected);
    if (!(std::fabs(y[i] - expected) <= tolerance)) ++wrong;
  }
  return wrong;
}

std::string error_of(const std::vector<unsigned char>& blob, std::size_t size) {
  try {
    convkit::PackedWeights::load(blob.data(), size);
  } catch (const convkit::Error& error) {
    return error.status() == convkit::Status::InvalidArgument ? error.what() : "a status other than InvalidArgument";
  }
  return "";
}

void reseal(std::vector<unsigned char>& blob) {
  const std::uint64_t sum = convkit::detail::blob_checksum(blob.data(), blob.size() - 8);
  std::memcpy(blob.data() + blob.size() - 8, &sum, sizeof sum);
}

// A small layer whose blob holds several forms: the entries of a few families packed into it.
struct SmallLayer {
  convkit::Conv2dDesc desc = convkit_test::square_desc(6, 8, 1, 6, 3, Layout::NCHW);
  std::vector<float> w = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(desc).weights), 7);
  std::vector<float> b = convkit_test::random_floats(8, 8);
  convkit::PackedWeights packed{desc, w.data(), b.data()};
  SmallLayer() {
    convkit::Conv2dDesc nhwc = desc;
    nhwc.layout = Layout::NHWC;
    for (const char* entry : {"direct_tiny", "winograd_f2x2", "im2col_gemm_convkit", "implicit_gemm_convkit"})
      for (const convkit::Conv2dDesc& d : {desc, nhwc}) {
        const convkit::detail::Implementation* found = convkit::detail::find_implementation(entry);
        if (found->declines(convkit::detail::make_problem(d), convkit::detail::Tuning{}) == nullptr)
          convkit::detail::plan_with_packed(packed, d, convkit::Options{}, entry);
      }
  }
};

}  // namespace

TEST_CASE("plans from packed weights, reshaped, give the oracle's answer and the bits of plans from raw weights") {
  std::set<std::string> covered;
  for (const EntryShape& e : entry_shapes()) {
    covered.insert(e.entry);
    const convkit::detail::Implementation* entry = convkit::detail::find_implementation(e.entry);
    REQUIRE(entry != nullptr);
    const bool winograd = entry->algorithm == convkit::Algorithm::Winograd;
    const auto w = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(e.desc).weights), 11);
    const auto b = convkit_test::random_floats(static_cast<std::size_t>(e.desc.out_channels), 12);
    // Packed from OHWI weights: the plans read the canonical copy whatever the layout given.
    convkit::Conv2dDesc packing = e.desc;
    packing.weights_layout = convkit::WeightsLayout::OHWI;
    const std::vector<float> w_ohwi = to_ohwi(e.desc, w);
    const convkit::PackedWeights packed(packing, w_ohwi.data(), b.data());
    for (const auto& [name, d] : reshapes(e.desc)) {
      if (entry->declines(convkit::detail::make_problem(d), convkit::detail::Tuning{}) != nullptr) continue;
      CAPTURE(e.entry);
      CAPTURE(name);
      const auto x = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).input), 13);
      const auto r = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).output), 14);
      convkit::Options relu;
      relu.activation = convkit::Activation::Relu;
      const convkit::Plan from_packed = convkit::detail::plan_with_packed(packed, d, relu, e.entry);
      CHECK(convkit_test::implementation_of(from_packed.description()) == e.entry);
      const std::vector<float> y = run(from_packed, d, x);
      const std::vector<convkit_test::OracleValue> want = oracle(d, x, w, b, winograd);
      CHECK(wrong_elements(want, nullptr, from_packed.epilogue(), y) == 0);
      CHECK(same_bits(y, run(convkit::detail::plan_with(d, w.data(), b.data(), relu, e.entry), d, x)));

      convkit::Epilogue epilogue;
      epilogue.activation = convkit::Activation::HardSwish;
      epilogue.residual = true;
      epilogue.residual_scale = -0.5f;
      const convkit::Plan fused = convkit::detail::plan_with_packed(packed, d, convkit::Options{}, e.entry, &epilogue);
      const std::vector<float> z = run(fused, d, x, &r);
      CHECK(wrong_elements(want, &r, epilogue, z) == 0);
      CHECK(same_bits(
          z, run(convkit::detail::plan_with(d, w.data(), b.data(), convkit::Options{}, e.entry, &epilogue), d, x, &r)));
    }
  }
  // Every entry has a case above: an entry added without one fails here.
  for (const convkit::detail::Implementation* const* next = convkit::detail::all_implementations(); *next != nullptr;
       ++next) {
    CAPTURE((*next)->name);
    CHECK(covered.count((*next)->name) == 1);
  }
}

TEST_CASE("auto's plans from packed weights give the bits of auto's plans from the raw weights, in both modes") {
  for (const EntryShape& e : entry_shapes())
    for (convkit::MathMode mode : {convkit::MathMode::Strict, convkit::MathMode::Fast}) {
      convkit::Options options;
      options.math_mode = mode;
      const auto w = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(e.desc).weights), 21);
      const auto b = convkit_test::random_floats(static_cast<std::size_t>(e.desc.out_channels), 22);
      const convkit::PackedWeights packed(e.desc, w.data(), b.data(), options);
      for (const auto& [name, d] : reshapes(e.desc)) {
        CAPTURE(e.entry);
        CAPTURE(name);
        const auto x = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).input), 23);
        const convkit::Plan from_packed(packed, d, options);
        const convkit::Plan from_raw(d, w.data(), b.data(), options);
        CHECK(from_packed.description() == from_raw.description());
        CHECK(same_bits(run(from_packed, d, x), run(from_raw, d, x)));
      }
    }
}

TEST_CASE("plans for sizes whose forms exist share them; a size needing a new form packs it once into the object") {
  const convkit::Conv2dDesc d = convkit_test::square_desc(64, 64, 1, 28, 3, Layout::NCHW);
  const auto w = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 31);
  const auto b = convkit_test::random_floats(64, 32);
  const convkit::PackedWeights packed(d, w.data(), b.data());
  const std::size_t bytes = packed.size_bytes(), forms = packed.form_count();
  const std::uint64_t packs = convkit::detail::packed_weights_pack_count(packed);
  CHECK(bytes >= (w.size() + b.size()) * sizeof(float));
  CHECK(forms >= 2);  // the canonical weights and the bias at least

  const convkit::Plan first(packed, d);
  for (std::int64_t batch : {1, 2, 4}) {
    convkit::Conv2dDesc other = d;
    other.batch = batch;
    const convkit::Plan plan(packed, other);
    CAPTURE(batch);
    REQUIRE(plan.description() == first.description());
    CHECK(packed.size_bytes() == bytes);
    CHECK(packed.form_count() == forms);
    CHECK(convkit::detail::packed_weights_pack_count(packed) == packs);
  }

  // Outputs of at least 64 columns run implicit GEMM's native NCHW path, whose panels are in the other reduction
  // order: one new form, packed by the first plan only.
  convkit::Conv2dDesc wide = d;
  wide.in_width = 72;
  const convkit::Plan grows(packed, wide);
  CHECK(grows.description() == first.description());
  const std::size_t grown_bytes = packed.size_bytes(), grown_forms = packed.form_count();
  const std::uint64_t grown_packs = convkit::detail::packed_weights_pack_count(packed);
  CHECK(grown_packs == packs + 1);
  CHECK(grown_forms == forms + 1);
  CHECK(grown_bytes > bytes);
  wide.batch = 3;
  const convkit::Plan shares(packed, wide);
  CHECK(packed.size_bytes() == grown_bytes);
  CHECK(packed.form_count() == grown_forms);
  CHECK(convkit::detail::packed_weights_pack_count(packed) == grown_packs);

  // A copy of the handle is the same object.
  const convkit::PackedWeights copy = packed;
  CHECK(copy.size_bytes() == grown_bytes);
}

TEST_CASE("a descriptor of another weight shape is an invalid argument naming the field and both values") {
  const convkit::Conv2dDesc d = convkit_test::square_desc(8, 16, 2, 9, 3, Layout::NCHW);
  const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 0.5f);
  const convkit::PackedWeights packed(d, w.data(), nullptr);
  const auto expect_error = [&](convkit::Conv2dDesc other, const char* field, const char* given, const char* held) {
    CAPTURE(field);
    try {
      convkit::Plan plan(packed, other);
      FAIL("no error");
    } catch (const convkit::Error& error) {
      const std::string message = error.what();
      CHECK(error.status() == convkit::Status::InvalidArgument);
      CHECK(message.find(field) != std::string::npos);
      CHECK(message.find(given) != std::string::npos);
      CHECK(message.find(held) != std::string::npos);
    }
  };
  convkit::Conv2dDesc other = d;
  other.in_channels = 12;
  expect_error(other, "in_channels", "12", "8");
  other = d;
  other.out_channels = 18;
  expect_error(other, "out_channels", "18", "16");
  other = d;
  other.kernel_width = 5;
  expect_error(other, "kernel_width", "5", "3");
  other = d;
  other.kernel_height = 1;
  expect_error(other, "kernel_height", "1", "3");
  other = d;
  other.groups = 4;
  expect_error(other, "groups", "4", "2");
  // The weights layout of the descriptor is not read.
  other = d;
  other.weights_layout = convkit::WeightsLayout::OHWI;
  CHECK_NOTHROW(convkit::Plan(packed, other));
  try {
    convkit::PackedWeights(d, nullptr, nullptr);
    FAIL("no error");
  } catch (const convkit::Error& error) {
    CHECK(std::string(error.what()).find("weights") != std::string::npos);
  }
}

TEST_CASE("plans outlive the packed weights they were made from") {
  const convkit::Conv2dDesc d = convkit_test::square_desc(16, 24, 1, 12, 3, Layout::NHWC);
  const auto w = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 41);
  const auto b = convkit_test::random_floats(24, 42);
  std::vector<std::pair<convkit::Conv2dDesc, convkit::Plan>> plans;
  {
    auto packed = std::make_unique<convkit::PackedWeights>(d, w.data(), b.data());
    convkit::Conv2dDesc other = d;
    other.batch = 2;
    plans.emplace_back(other, convkit::Plan(*packed, other));
    other.layout = Layout::NCHW;  // packs a form of its own into the object
    plans.emplace_back(other, convkit::Plan(*packed, other));
    convkit::Options fast;
    fast.math_mode = convkit::MathMode::Fast;
    plans.emplace_back(d, convkit::Plan(*packed, d, fast));
    // Reassigned, then destroyed: the plans hold what they read.
    const std::vector<float> zeros(w.size(), 0.0f);
    *packed = convkit::PackedWeights(d, zeros.data(), nullptr);
    packed.reset();
  }
  for (const auto& [desc, plan] : plans) {
    const auto x = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(desc).input), 43);
    convkit::Options options;
    if (plan.algorithm() == convkit::Algorithm::Winograd) options.math_mode = convkit::MathMode::Fast;
    CHECK(same_bits(run(plan, desc, x), run(convkit::Plan(desc, w.data(), b.data(), options), desc, x)));
  }
}

TEST_CASE("four threads making plans from one packed weights at once pack each form once and get the right bits") {
  const convkit::Conv2dDesc d = convkit_test::square_desc(32, 48, 1, 14, 3, Layout::NCHW);
  const auto w = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 51);
  const auto b = convkit_test::random_floats(48, 52);
  std::vector<convkit::Conv2dDesc> descs;
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (std::int64_t batch : {1, 2})
      for (std::int64_t size : {14, 9, 20}) {
        convkit::Conv2dDesc v = d;
        v.layout = layout;
        v.batch = batch;
        v.in_height = v.in_width = size;
        descs.push_back(v);
      }
  convkit::Options fast;
  fast.math_mode = convkit::MathMode::Fast;

  // The same plans made on one thread: how many forms they pack.
  const convkit::PackedWeights serial(d, w.data(), b.data());
  for (const convkit::Conv2dDesc& v : descs) {
    convkit::Plan(serial, v);
    convkit::Plan(serial, v, fast);
  }

  const convkit::PackedWeights packed(d, w.data(), b.data());
  std::vector<std::vector<convkit::Plan>> plans(4);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      try {
        const convkit::PackedWeights handle = packed;  // copies of the handle share the object
        for (std::size_t i = 0; i < descs.size(); ++i) {
          const convkit::Conv2dDesc& v = descs[(i + static_cast<std::size_t>(t) * 3) % descs.size()];
          plans[static_cast<std::size_t>(t)].emplace_back(t % 2 == 0 ? packed : handle, v);
          plans[static_cast<std::size_t>(t)].emplace_back(packed, v, fast);
        }
      } catch (const std::exception& error) {
        errors[static_cast<std::size_t>(t)] = error.what();
      }
    });
  for (std::thread& thread : threads) thread.join();
  for (const std::string& error : errors) CHECK(error == "");
  CHECK(convkit::detail::packed_weights_pack_count(packed) == convkit::detail::packed_weights_pack_count(serial));
  CHECK(packed.form_count() == serial.form_count());
  CHECK(packed.size_bytes() == serial.size_bytes());
  for (int t = 0; t < 4; ++t)
    for (std::size_t i = 0; i < plans[static_cast<std::size_t>(t)].size(); ++i) {
      const convkit::Conv2dDesc& v = descs[(i / 2 + static_cast<std::size_t>(t) * 3) % descs.size()];
      const auto x = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(v).input), 53);
      const convkit::Plan from_raw(v, w.data(), b.data(), i % 2 == 0 ? convkit::Options{} : fast);
      CAPTURE(t);
      CAPTURE(i);
      CHECK(same_bits(run(plans[static_cast<std::size_t>(t)][i], v, x), run(from_raw, v, x)));
    }
}

TEST_CASE("saved and loaded packed weights give the same bits, and a plan from them packs nothing it holds") {
  const SmallLayer layer;
  const std::vector<unsigned char> blob = layer.packed.save();
  CHECK(blob.size() % 64 == 8);
  const convkit::PackedWeights loaded = convkit::PackedWeights::load(blob.data(), blob.size());
  CHECK(loaded.size_bytes() == layer.packed.size_bytes());
  CHECK(loaded.form_count() == layer.packed.form_count());
  CHECK(loaded.save() == blob);
  for (const auto& [name, d] : reshapes(layer.desc))
    for (convkit::MathMode mode : {convkit::MathMode::Strict, convkit::MathMode::Fast}) {
      CAPTURE(name);
      convkit::Options options;
      options.math_mode = mode;
      const auto x = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).input), 61);
      CHECK(
          same_bits(run(convkit::Plan(loaded, d, options), d, x), run(convkit::Plan(layer.packed, d, options), d, x)));
    }
  // Every form the plans above needed was in the blob, or packed into both alike.
  CHECK(loaded.form_count() == layer.packed.form_count());
  const convkit::PackedWeights again = convkit::PackedWeights::load(blob.data(), blob.size());
  convkit::Plan(again, layer.desc);
  CHECK(convkit::detail::packed_weights_pack_count(again) == 0);
}

TEST_CASE("every truncation of a blob and every flipped byte is rejected") {
  const SmallLayer layer;
  const std::vector<unsigned char> blob = layer.packed.save();
  CHECK(blob.size() > 1024);
  std::int64_t accepted = 0;
  for (std::size_t size = 0; size < blob.size(); ++size)
    if (error_of(blob, size).empty()) ++accepted;
  CHECK(accepted == 0);
  CHECK(error_of(blob, blob.size() - 1).find("truncated") != std::string::npos);
  CHECK(error_of(blob, blob.size() - 1).find(std::to_string(blob.size())) != std::string::npos);
  std::vector<unsigned char> longer = blob;
  longer.push_back(0);
  CHECK(!error_of(longer, longer.size()).empty());
  for (std::size_t i = 0; i < blob.size(); ++i) {
    std::vector<unsigned char> flipped = blob;
    flipped[i] ^= 0xFF;
    if (error_of(flipped, flipped.size()).empty()) ++accepted;
  }
  CHECK(accepted == 0);
  std::vector<unsigned char> flipped = blob;
  flipped[blob.size() / 2] ^= 0x01;
  CHECK(error_of(flipped, flipped.size()).find("checksum") != std::string::npos);
}

TEST_CASE("a resealed blob with a wrong field is rejected, naming what is wrong") {
  const SmallLayer layer;
  const std::vector<unsigned char> blob = layer.packed.save();
  const auto rewritten = [&](std::size_t at, const void* value, std::size_t bytes) {
    std::vector<unsigned char> copy = blob;
    std::memcpy(copy.data() + at, value, bytes);
    reseal(copy);
    return error_of(copy, copy.size());
  };
  // Another ISA: the message names both.
  const std::string isa = convkit::simd_isa();
  const char other_isa[16] = "sse2";
  const char other_avx[16] = "avx512f";
  const char* other = isa == "sse2" ? other_avx : other_isa;
  const std::string wrong_isa = rewritten(16, other, 16);
  CHECK(wrong_isa.find(other) != std::string::npos);
  CHECK(wrong_isa.find(isa) != std::string::npos);
  const std::uint32_t version = 2, swapped = 0x04030201;
  CHECK(rewritten(8, &version, 4).find("version 2") != std::string::npos);
  CHECK(rewritten(12, &swapped, 4).find("byte order") != std::string::npos);
  const char magic[8] = {'N', 'O', 'T', 'W', 'E', 'I', 'G', 'H'};
  CHECK(rewritten(0, magic, 8).find("magic") != std::string::npos);
  const std::uint64_t in_channels = 7, huge = std::uint64_t{1} << 62, has_bias = 2;
  CHECK(rewritten(56, &in_channels, 8).find("weights_floats") != std::string::npos);
  CHECK(rewritten(64, &huge, 8).find("out_channels") != std::string::npos);
  CHECK(rewritten(96, &has_bias, 8).find("has_bias") != std::string::npos);
  CHECK(rewritten(104, &huge, 8).find("needs") != std::string::npos);  // more forms than the blob holds
  const std::uint64_t no_forms = 0;
  CHECK(rewritten(104, &no_forms, 8).find("after the last form") != std::string::npos);

  // Each form's float count, one more and one block more, and its key.
  const std::string text(blob.begin(), blob.end());
  std::int64_t forms = 0;
  for (const char* kind : {"panels ", "tiny_columns ", "winograd "}) {
    const std::size_t key_at = text.find(kind);
    if (key_at == std::string::npos) continue;
    ++forms;
    CAPTURE(kind);
    std::uint64_t floats;
    std::memcpy(&floats, blob.data() + key_at - 8, 8);
    for (std::uint64_t changed : {floats + 1, floats - 1, floats + 16, std::uint64_t{1} << 61}) {
      const std::string message = rewritten(key_at - 8, &changed, 8);
      CHECK(!message.empty());
    }
    CHECK(rewritten(key_at - 8, &(floats = floats + 1), 8).find("floats") != std::string::npos);
    CHECK(rewritten(key_at, "bogus", 5).find("unknown form key") != std::string::npos);
    const std::uint64_t key_bytes = 1000;
    CHECK(rewritten(key_at - 16, &key_bytes, 8).find("key") != std::string::npos);
  }
  CHECK(forms >= 2);
}

TEST_CASE("a form whose stored float count differs from the one a primitive expects is an error, not a read") {
  convkit::detail::WeightCache cache;
  cache.insert("panels OIHW block=8 width=8", convkit::detail::share(convkit::detail::allocate_floats(10)), 10);
  try {
    cache.get_or_pack("panels OIHW block=8 width=8", 12, [] { return convkit::detail::allocate_floats(12); });
    FAIL("no error");
  } catch (const convkit::Error& error) {
    CHECK(error.status() == convkit::Status::InvalidArgument);
    CHECK(std::string(error.what()).find("10 floats") != std::string::npos);
  }
  CHECK(cache.pack_count() == 0);
  CHECK(cache.get_or_pack("panels OIHW block=8 width=8", 10, [] { return convkit::detail::allocate_floats(10); }) ==
        cache.find("panels OIHW block=8 width=8").floats);
}

TEST_CASE("a blob of several checksum chunks, its regions crossing them, loads to the same bits or is rejected") {
  const convkit::Conv2dDesc d = convkit_test::square_desc(256, 256, 1, 7, 3, Layout::NCHW);
  const auto w = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 71);
  const auto b = convkit_test::random_floats(256, 72);
  const convkit::PackedWeights packed(d, w.data(), b.data());
  std::vector<unsigned char> blob = packed.save();
  REQUIRE(blob.size() > 3 * (std::size_t{1} << 20));
  const convkit::PackedWeights loaded = convkit::PackedWeights::load(blob.data(), blob.size());
  CHECK(loaded.size_bytes() == packed.size_bytes());
  const auto x = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d).input), 73);
  CHECK(same_bits(run(convkit::Plan(loaded, d), d, x), run(convkit::Plan(d, w.data(), b.data()), d, x)));
  for (std::size_t at : {std::size_t{1} << 20, (std::size_t{3} << 20) + 4, blob.size() - 9}) {
    CAPTURE(at);
    blob[at] ^= 0x40;
    CHECK(error_of(blob, blob.size()).find("checksum") != std::string::npos);
    blob[at] ^= 0x40;
  }
  CHECK(error_of(blob, blob.size()).empty());
}
