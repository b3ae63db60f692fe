// libFuzzer target: saved packed weights, damaged, loaded through the C API. The first input byte picks a small layer
// whose valid blob (docs/packed-weights.md) is made once, holding the forms of several implementations; the next
// picks whether the blob is truncated and whether its checksum is recomputed after the damage (so that the structural
// checks behind the checksum are reached), and the rest overwrites bytes and 8-byte words at offsets of its choice.
// Every damaged blob must either be rejected with CONVKIT_STATUS_INVALID_ARGUMENT and a message, or load; a loaded
// one must make a plan for the layer (in either layout, from the options that packed it or the others) that runs,
// unless its weight shape was rewritten consistently, which the plan must reject naming the field.
// Any other outcome aborts, which is a finding; AddressSanitizer and UndefinedBehaviorSanitizer watch every read.
//
// Run by scripts/fuzz.sh beside fuzz_conv2d.
#include <convkit/convkit.h>

#include <convkit/convkit.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "packed_weights.hpp"

namespace {

struct Layer {
  convkit::Conv2dDesc desc;
  std::vector<unsigned char> blob;
};

convkit::Conv2dDesc make_desc(std::int64_t in_channels, std::int64_t out_channels, std::int64_t groups,
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

convkit::Conv2dDesc with_layout(convkit::Conv2dDesc d, convkit::Layout layout) {
  d.layout = layout;
  return d;
}

// Layers of each family, their blobs holding the forms of plans in both layouts and both math modes.
const std::vector<Layer>& layers() {
  static const std::vector<Layer> all = [] {
    const convkit::Conv2dDesc descs[] = {
        make_desc(6, 8, 1, 6, 3, convkit::Layout::NCHW),     // implicit GEMM, Winograd in Fast mode
        make_desc(16, 16, 16, 8, 3, convkit::Layout::NHWC),  // depthwise: channel slices
        make_desc(24, 16, 1, 5, 1, convkit::Layout::NCHW),   // 1x1
        make_desc(2, 3, 1, 3, 2, convkit::Layout::NCHW),     // direct_tiny
        make_desc(8, 12, 2, 7, 5, convkit::Layout::NHWC),    // grouped
    };
    std::vector<Layer> result;
    for (const convkit::Conv2dDesc& d : descs) {
      std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights));
      std::vector<float> b(static_cast<std::size_t>(d.out_channels));
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) * 0.125f - 0.375f;
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i) * 0.25f;
      const convkit::PackedWeights packed(d, w.data(), b.data());
      convkit::Options fast;
      fast.math_mode = convkit::MathMode::Fast;
      for (convkit::Layout layout : {convkit::Layout::NCHW, convkit::Layout::NHWC})
        for (const convkit::Options& options : {convkit::Options{}, fast})
          convkit::Plan(packed, with_layout(d, layout), options);
      result.push_back({d, packed.save()});
    }
    return result;
  }();
  return all;
}

[[noreturn]] void finding(const char* what, std::size_t layer) {
  std::fprintf(stderr, "finding: %s (layer %zu): %s\n", what, layer, convkit_last_error());
  std::abort();
}

convkit_conv2d_desc to_c(const convkit::Conv2dDesc& d) {
  convkit_conv2d_desc c;
  convkit_conv2d_desc_init(&c);
  c.batch = d.batch;
  c.in_channels = d.in_channels;
  c.in_height = d.in_height;
  c.in_width = d.in_width;
  c.out_channels = d.out_channels;
  c.kernel_height = d.kernel_height;
  c.kernel_width = d.kernel_width;
  c.pad_top = d.pad_top;
  c.pad_left = d.pad_left;
  c.pad_bottom = d.pad_bottom;
  c.pad_right = d.pad_right;
  c.groups = d.groups;
  c.layout = d.layout == convkit::Layout::NCHW ? CONVKIT_LAYOUT_NCHW : CONVKIT_LAYOUT_NHWC;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<Layer>& all = layers();
  if (size < 2) return 0;
  const std::size_t which = data[0] % all.size();
  const std::uint8_t mode = data[1];
  std::vector<unsigned char> blob = all[which].blob;
  std::size_t position = 2;
  // Overwrites: a kind byte, two offset bytes, then one byte or eight.
  while (position + 3 <= size) {
    const std::uint8_t kind = data[position];
    std::size_t offset = static_cast<std::size_t>(data[position + 1]) | static_cast<std::size_t>(data[position + 2])
                                                                            << 8;
    position += 3;
    // Most damage lands in the header and the first form entries, where the structure is.
    if (kind & 1) offset %= 512;
    offset %= blob.size();
    if (kind & 2) {
      unsigned char word[8] = {0};
      for (int i = 0; i < 8 && position < size; ++i) word[i] = data[position++];
      for (std::size_t i = 0; i < 8 && offset + i < blob.size(); ++i) blob[offset + i] = word[i];
    } else if (position < size) {
      blob[offset] = data[position++];
    }
  }
  if ((mode & 1) && blob.size() >= 8) {
    const std::uint64_t sum = convkit::detail::blob_checksum(blob.data(), blob.size() - 8);
    std::memcpy(blob.data() + blob.size() - 8, &sum, sizeof sum);
  }
  std::size_t length = blob.size();
  if (mode & 2) length = static_cast<std::size_t>(mode >> 2) * blob.size() / 64;

  convkit_packed_weights* packed = nullptr;
  const convkit_status status = convkit_packed_weights_load(length == 0 ? nullptr : blob.data(), length, &packed);
  if (status != CONVKIT_STATUS_OK) {
    if (status != CONVKIT_STATUS_INVALID_ARGUMENT) finding("a status other than INVALID_ARGUMENT", which);
    if (packed != nullptr || convkit_last_error()[0] == '\0') finding("a failed load without its message", which);
    return 0;
  }
  if (convkit_packed_weights_size(packed) == 0) finding("a loaded object of no bytes", which);
  convkit::Conv2dDesc d = all[which].desc;
  d.layout = (mode & 4) ? convkit::Layout::NHWC : convkit::Layout::NCHW;
  const convkit_conv2d_desc desc = to_c(d);
  convkit_options options;
  convkit_options_init(&options);
  options.threads = 1;
  if (mode & 8) options.math_mode = CONVKIT_MATH_FAST;
  convkit_plan* plan = nullptr;
  const convkit_status created = convkit_plan_create_packed(&desc, packed, &options, nullptr, &plan);
  // A resealed blob may hold a consistent but other weight shape: the plan must then name the field that differs.
  if (created == CONVKIT_STATUS_INVALID_ARGUMENT && std::strstr(convkit_last_error(), "differs from the packed") &&
      plan == nullptr) {
    convkit_packed_weights_destroy(packed);
    return 0;
  }
  if (created != CONVKIT_STATUS_OK) finding("no plan from loaded weights", which);
  convkit_packed_weights_destroy(packed);
  const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
  std::vector<float> input(static_cast<std::size_t>(sizes.input), 0.5f), output(static_cast<std::size_t>(sizes.output));
  if (convkit_plan_run(plan, input.data(), output.data(), nullptr, 0) != CONVKIT_STATUS_OK)
    finding("a plan from loaded weights that does not run", which);
  convkit_plan_destroy(plan);
  return 0;
}
