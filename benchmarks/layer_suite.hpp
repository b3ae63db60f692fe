// The layer suite (benchmarks/layers.txt) as data: a named convolution shape per line; and the decoder suite
// (benchmarks/decoder_layers.txt) of transposed convolutions, in a format of its own (load_transposed_suite).
//
// Header-only and dependent on nothing but <convkit/convkit.hpp> and the standard library, so that both the
// benchmarks and the tests can include it. The file format is documented at the top of layers.txt:
//
//   name  N  Ci  H  W  Co  Kh  Kw  stride  pad  dilation  groups
//
// with '#' starting a comment. load_layer_suite throws std::runtime_error("<path>:<line>: <what>") on a malformed
// line. Only the suite's own rules are checked here (field count, integers, signs, divisibility by groups, a
// non-empty output, unique names); the library's validation is not called, so this stays usable as a test oracle.
#ifndef CONVKIT_BENCH_LAYER_SUITE_HPP
#define CONVKIT_BENCH_LAYER_SUITE_HPP

#include <charconv>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <fstream>
#include <istream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace convkit_bench {

struct Layer {
  std::string name;
  convkit::Conv2dDesc desc;  ///< NCHW input/output and OIHW weights as loaded; see with_layout

  /// Output height and width by the formula of convkit.h (computed here, independently of the library).
  std::int64_t out_height() const {
    return (desc.in_height + desc.pad_top + desc.pad_bottom - desc.dilation_height * (desc.kernel_height - 1) - 1) /
               desc.stride_height +
           1;
  }
  std::int64_t out_width() const {
    return (desc.in_width + desc.pad_left + desc.pad_right - desc.dilation_width * (desc.kernel_width - 1) - 1) /
               desc.stride_width +
           1;
  }

  /// 2 * N * Co * Ho * Wo * (Ci/groups) * Kh * Kw: two flops per multiply-add of the definition.
  double flops() const {
    return 2.0 * static_cast<double>(desc.batch) * static_cast<double>(desc.out_channels) *
           static_cast<double>(out_height()) * static_cast<double>(out_width()) *
           static_cast<double>(desc.in_channels / desc.groups) * static_cast<double>(desc.kernel_height) *
           static_cast<double>(desc.kernel_width);
  }

  bool is_1x1() const { return desc.kernel_height == 1 && desc.kernel_width == 1; }

  /// A copy in the given layout: NCHW with OIHW weights, or NHWC with OHWI weights. The name is kept; callers that
  /// need to tell the variants apart add their own suffix.
  Layer with_layout(convkit::Layout layout) const {
    Layer copy = *this;
    copy.desc.layout = layout;
    copy.desc.weights_layout =
        layout == convkit::Layout::NHWC ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
    return copy;
  }
};

namespace detail {

[[noreturn]] inline void suite_error(const std::string& path, int line, const std::string& what) {
  throw std::runtime_error(path + ":" + std::to_string(line) + ": " + what);
}

inline std::int64_t parse_field(const std::string& token, const char* field, std::int64_t minimum,
                                const std::string& path, int line) {
  std::int64_t value = 0;
  const char* begin = token.data();
  const char* end = begin + token.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec == std::errc::result_out_of_range)
    suite_error(path, line, std::string(field) + " '" + token + "' is out of range");
  if (ec != std::errc() || ptr != end)
    suite_error(path, line, std::string(field) + " '" + token + "' is not an integer");
  if (value < minimum)
    suite_error(path, line, std::string(field) + " = " + token + " must be >= " + std::to_string(minimum));
  return value;
}

}  // namespace detail

/// Parses layers in the suite format (documented at the top of layers.txt) from a stream; `path` names the source in
/// error messages ("<path>:<line>: <what>"), which are thrown as std::runtime_error. Used for the suite file and for
/// shapes given as text (a benchmark's command line, for one).
inline std::vector<Layer> parse_layer_suite(std::istream& file, const std::string& path) {
  static constexpr int kFields = 12;
  std::vector<Layer> layers;
  std::set<std::string> names;
  std::string text;
  int line = 0;
  while (std::getline(file, text)) {
    ++line;
    const std::size_t hash = text.find('#');
    if (hash != std::string::npos) text.erase(hash);
    std::istringstream fields(text);
    std::vector<std::string> tokens;
    for (std::string token; fields >> token;) tokens.push_back(token);
    if (tokens.empty()) continue;
    if (tokens.size() != kFields)
      detail::suite_error(path, line,
                          "expected " + std::to_string(kFields) +
                              " fields (name N Ci H W Co Kh Kw stride pad dilation groups), found " +
                              std::to_string(tokens.size()));

    const auto field = [&](int index, const char* what, std::int64_t minimum) {
      return detail::parse_field(tokens[static_cast<std::size_t>(index)], what, minimum, path, line);
    };
    Layer layer;
    layer.name = tokens[0];
    convkit::Conv2dDesc& d = layer.desc;
    d.batch = field(1, "N", 1);
    d.in_channels = field(2, "Ci", 1);
    d.in_height = field(3, "H", 1);
    d.in_width = field(4, "W", 1);
    d.out_channels = field(5, "Co", 1);
    d.kernel_height = field(6, "Kh", 1);
    d.kernel_width = field(7, "Kw", 1);
    d.stride_height = d.stride_width = field(8, "stride", 1);
    d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = field(9, "pad", 0);
    d.dilation_height = d.dilation_width = field(10, "dilation", 1);
    d.groups = field(11, "groups", 1);
    d.layout = convkit::Layout::NCHW;
    d.weights_layout = convkit::WeightsLayout::OIHW;

    if (d.in_channels % d.groups != 0 || d.out_channels % d.groups != 0)
      detail::suite_error(path, line,
                          "groups = " + std::to_string(d.groups) + " must divide Ci = " +
                              std::to_string(d.in_channels) + " and Co = " + std::to_string(d.out_channels));
    // The sizes of a suite are small; these products cannot overflow for any sensible line.
    if (d.dilation_height * (d.kernel_height - 1) + 1 > d.in_height + 2 * d.pad_top ||
        d.dilation_width * (d.kernel_width - 1) + 1 > d.in_width + 2 * d.pad_left)
      detail::suite_error(path, line, "the dilated kernel is larger than the padded input: the output is empty");
    if (!names.insert(layer.name).second) detail::suite_error(path, line, "duplicate layer name '" + layer.name + "'");
    layers.push_back(std::move(layer));
  }
  if (file.bad()) throw std::runtime_error(path + ": read error");
  return layers;
}

/// Parses a layer-suite file (format at the top of layers.txt). Throws std::runtime_error naming path:line.
inline std::vector<Layer> load_layer_suite(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(path + ": cannot open the layer suite");
  return parse_layer_suite(file, path);
}

/// A transposed convolution of the decoder suite (benchmarks/decoder_layers.txt).
struct TransposedLayer {
  std::string name;
  bool one_d = false;                 ///< a ConvTranspose1d, written as a 2-D layer of height 1
  convkit::ConvTranspose2dDesc desc;  ///< NCHW input/output and IOHW weights as loaded; see with_layout

  /// Output height and width by the formula of convkit.hpp (computed here, independently of the library).
  std::int64_t out_height() const {
    return desc.stride_height * (desc.in_height - 1) + desc.output_padding_height +
           desc.dilation_height * (desc.kernel_height - 1) + 1 - desc.pad_top - desc.pad_bottom;
  }
  std::int64_t out_width() const {
    return desc.stride_width * (desc.in_width - 1) + desc.output_padding_width +
           desc.dilation_width * (desc.kernel_width - 1) + 1 - desc.pad_left - desc.pad_right;
  }

  /// 2 * N * Ci * (Co/groups) * Kh * Kw * H * W: every multiply-add of the definition, including those whose target
  /// the padding crops (what a transposed convolution's GEMM computes).
  double flops() const {
    return 2.0 * static_cast<double>(desc.batch) * static_cast<double>(desc.in_channels) *
           static_cast<double>(desc.out_channels / desc.groups) * static_cast<double>(desc.kernel_height) *
           static_cast<double>(desc.kernel_width) * static_cast<double>(desc.in_height) *
           static_cast<double>(desc.in_width);
  }

  /// A copy in the given layout: NCHW with IOHW weights, or NHWC with OHWI weights.
  TransposedLayer with_layout(convkit::Layout layout) const {
    TransposedLayer copy = *this;
    copy.desc.layout = layout;
    copy.desc.weights_layout = layout == convkit::Layout::NHWC ? convkit::TransposedWeightsLayout::OHWI
                                                               : convkit::TransposedWeightsLayout::IOHW;
    return copy;
  }
};

/// Parses transposed layers in the decoder-suite format (documented at the top of decoder_layers.txt):
///   name  dims  N  Ci  H  W  Co  Kh  Kw  stride  pad  output_padding  dilation  groups
/// Errors as parse_layer_suite's.
inline std::vector<TransposedLayer> parse_transposed_suite(std::istream& file, const std::string& path) {
  static constexpr int kFields = 14;
  std::vector<TransposedLayer> layers;
  std::set<std::string> names;
  std::string text;
  int line = 0;
  while (std::getline(file, text)) {
    ++line;
    const std::size_t hash = text.find('#');
    if (hash != std::string::npos) text.erase(hash);
    std::istringstream fields(text);
    std::vector<std::string> tokens;
    for (std::string token; fields >> token;) tokens.push_back(token);
    if (tokens.empty()) continue;
    if (tokens.size() != kFields)
      detail::suite_error(path, line,
                          "expected " + std::to_string(kFields) +
                              " fields (name dims N Ci H W Co Kh Kw stride pad output_padding dilation groups), "
                              "found " +
                              std::to_string(tokens.size()));
    const auto field = [&](int index, const char* what, std::int64_t minimum) {
      return detail::parse_field(tokens[static_cast<std::size_t>(index)], what, minimum, path, line);
    };
    TransposedLayer layer;
    layer.name = tokens[0];
    if (tokens[1] != "2d" && tokens[1] != "1d")
      detail::suite_error(path, line, "dims '" + tokens[1] + "' is not 2d or 1d");
    layer.one_d = tokens[1] == "1d";
    convkit::ConvTranspose2dDesc& d = layer.desc;
    d.batch = field(2, "N", 1);
    d.in_channels = field(3, "Ci", 1);
    d.in_height = field(4, "H", 1);
    d.in_width = field(5, "W", 1);
    d.out_channels = field(6, "Co", 1);
    d.kernel_height = field(7, "Kh", 1);
    d.kernel_width = field(8, "Kw", 1);
    const std::int64_t stride = field(9, "stride", 1), pad = field(10, "pad", 0);
    const std::int64_t output_padding = field(11, "output_padding", 0), dilation = field(12, "dilation", 1);
    d.groups = field(13, "groups", 1);
    d.stride_width = stride;
    d.pad_left = d.pad_right = pad;
    d.output_padding_width = output_padding;
    d.dilation_width = dilation;
    if (layer.one_d) {
      if (d.in_height != 1 || d.kernel_height != 1) detail::suite_error(path, line, "a 1d layer has H = 1 and Kh = 1");
    } else {
      d.stride_height = stride;
      d.pad_top = d.pad_bottom = pad;
      d.output_padding_height = output_padding;
      d.dilation_height = dilation;
    }
    d.layout = convkit::Layout::NCHW;
    d.weights_layout = convkit::TransposedWeightsLayout::IOHW;

    if (d.in_channels % d.groups != 0 || d.out_channels % d.groups != 0)
      detail::suite_error(path, line,
                          "groups = " + std::to_string(d.groups) + " must divide Ci = " +
                              std::to_string(d.in_channels) + " and Co = " + std::to_string(d.out_channels));
    if (output_padding >= stride && output_padding >= dilation)
      detail::suite_error(
          path, line,
          "output_padding = " + std::to_string(output_padding) + " must be below the stride or the dilation");
    if (layer.out_height() < 1 || layer.out_width() < 1)
      detail::suite_error(path, line, "the padding crops the whole output: the output is empty");
    if (!names.insert(layer.name).second) detail::suite_error(path, line, "duplicate layer name '" + layer.name + "'");
    layers.push_back(std::move(layer));
  }
  if (file.bad()) throw std::runtime_error(path + ": read error");
  return layers;
}

/// Parses a decoder-suite file (format at the top of decoder_layers.txt). Throws std::runtime_error naming path:line.
inline std::vector<TransposedLayer> load_transposed_suite(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(path + ": cannot open the decoder suite");
  return parse_transposed_suite(file, path);
}

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_LAYER_SUITE_HPP
