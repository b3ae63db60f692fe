// Concatenated plans: several convolutions of one input whose outputs are stacked along the channels, as the
// branches of an Inception block are. Branches that agree on everything but their output channels (ungrouped, same
// kernel, stride, padding and dilation) are one convolution with their weights stacked: one GEMM instead of several
// thin ones, each input tile unfolded once instead of once per branch (TensorRT calls this horizontal fusion).
//
// Each resulting convolution (a "part") writes its channels straight into the output where they form one
// contiguous block there: always in NCHW (one image at a time when the part covers only some channels of a batch),
// and in NHWC when the part covers every channel. Otherwise (NHWC slices, or a fused part whose branches are not
// neighbours in the output) it computes one image into the workspace and copies its channels into place.
#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "arithmetic.hpp"
#include "epilogue.hpp"
#include "error.hpp"
#include "packing.hpp"
#include "plan.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

// Channels [part_channel, part_channel + channels) of a part's output are output channels from out_channel on.
struct Segment {
  std::int64_t part_channel, out_channel, channels;
};

struct Part {
  PlanState plan;                 // batch 1 when it runs an image at a time
  std::vector<Segment> segments;  // in the part's channel order, neighbours merged
  bool per_image;                 // runs once per image of the batch
  bool via_workspace;             // computes into the workspace, then copies its segments
  std::size_t scratch_bytes;      // one image of its output, when via_workspace (a multiple of 64)
};

bool can_share_one_convolution(const Problem& a, const Problem& b) {
  return a.groups == 1 && b.groups == 1 && a.kernel_height == b.kernel_height && a.kernel_width == b.kernel_width &&
         a.stride_height == b.stride_height && a.stride_width == b.stride_width && a.pad_top == b.pad_top &&
         a.pad_left == b.pad_left && a.pad_bottom == b.pad_bottom && a.pad_right == b.pad_right &&
         a.dilation_height == b.dilation_height && a.dilation_width == b.dilation_width;
}

void require_same(std::size_t branch, const char* field, std::int64_t value, std::int64_t first_value,
                  const char* rule) {
  if (value != first_value)
    invalid("branch ", branch, ": ", field, " = ", value, " differs from branch 0's ", first_value, ": ", rule);
}

class ConcatPrimitive final : public Primitive {
 public:
  ConcatPrimitive(const Problem& whole, std::vector<Part> parts, int threads, const PostOps& post)
      : whole_(whole), parts_(std::move(parts)), threads_(threads), post_(post) {
    for (const Part& part : parts_)
      workspace_bytes_ = std::max(workspace_bytes_, part.scratch_bytes + part.plan.primitive->workspace_bytes());
  }

  Algorithm algorithm() const override { return parts_.front().plan.primitive->algorithm(); }
  std::size_t workspace_bytes() const override { return workspace_bytes_; }

  void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const override {
    const std::int64_t in_image = whole_.input_elements / whole_.batch;
    const std::int64_t out_image = whole_.output_elements / whole_.batch;
    // An output channel's offset within an image: a plane in NCHW, one float in NHWC.
    const std::int64_t channel_step = whole_.layout == Layout::NCHW ? whole_.out_pixels() : 1;
    for (const Part& part : parts_) {
      const Primitive& primitive = *part.plan.primitive;
      if (!part.via_workspace) {
        const std::int64_t offset = part.segments.front().out_channel * channel_step;
        if (!part.per_image) {
          primitive.run(input, output + offset, residual_offset, workspace);
        } else {
          for (std::int64_t n = 0; n < whole_.batch; ++n)
            primitive.run(input + n * in_image, output + n * out_image + offset, residual_offset, workspace);
        }
        continue;
      }
      float* scratch = static_cast<float*>(workspace);
      void* part_workspace = static_cast<unsigned char*>(workspace) + part.scratch_bytes;
      for (std::int64_t n = 0; n < whole_.batch; ++n) {
        primitive.run(input + n * in_image, scratch, 0, part_workspace);
        scatter(part, scratch, output + n * out_image, residual_offset);
      }
    }
  }

 private:
  // Copies one image of a part's output (in the workspace) into its channels of the output image. A part computed
  // in the workspace has no epilogue of its own (its residual would be read in the workspace's layout): the copy
  // finishes it, residual and activation, as it stores it.
  void scatter(const Part& part, const float* scratch, float* out_image, std::ptrdiff_t residual_offset) const {
    const std::int64_t pixels = whole_.out_pixels(), part_channels = part.plan.problem.out_channels;
    const auto store = [&](float* target, const float* source, std::int64_t count) {
      if (!post_.residual && post_.activation == Activation::None) {
        std::memcpy(target, source, static_cast<std::size_t>(count) * sizeof(float));
      } else {
        finish_copy(post_, target, source, count, residual_offset);
      }
    };
    if (whole_.layout == Layout::NCHW) {
      for (const Segment& s : part.segments)
        store(out_image + s.out_channel * pixels, scratch + s.part_channel * pixels, s.channels * pixels);
      return;
    }
    const std::int64_t total = whole_.out_channels;
    const int threads = threads_worth_using(static_cast<double>(pixels * part_channels), threads_);
    parallel_for(threads, pixels, [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t x = begin; x < end; ++x)
        for (const Segment& s : part.segments)
          store(out_image + x * total + s.out_channel, scratch + x * part_channels + s.part_channel, s.channels);
    });
  }

 private:
  Problem whole_;
  std::vector<Part> parts_;
  int threads_;   // for the copies
  PostOps post_;  // applied by the copies of the parts computed in the workspace
  std::size_t workspace_bytes_ = 0;
};

std::string branch_list(const std::vector<std::size_t>& members) {
  std::string text = members.size() == 1 ? "branch " : "branches ";
  for (std::size_t k = 0; k < members.size(); ++k) text += (k == 0 ? "" : "+") + std::to_string(members[k]);
  return text;
}

// The branches as the caller gave them, each as a problem, and where their channels go in the output.
struct Branches {
  const ConcatBranch* given;
  std::vector<Problem> problems;
  std::vector<std::int64_t> first_channel;  // each branch's first output channel
  std::int64_t total_channels;              // the output's: every branch's in sum
};

// Each branch as a problem, valid on its own and with weights.
std::vector<Problem> branch_problems(const ConcatBranch* branches, std::size_t count) {
  std::vector<Problem> problems;
  problems.reserve(count);
  for (std::size_t b = 0; b < count; ++b) {
    try {
      problems.push_back(make_problem(branches[b].desc));
    } catch (const Error& error) {
      fail(error.status(), "branch ", b, ": ", error.what());
    }
    if (branches[b].weights == nullptr) invalid("branch ", b, ": weights is null");
  }
  return problems;
}

// The branches, each valid on its own, checked against each other: the same input, the same output size, and output
// channels that fit 64 bits in sum.
Branches validate_branches(const ConcatBranch* branches, std::size_t count) {
  Branches result{branches, branch_problems(branches, count), {}, 0};
  const Problem& first = result.problems.front();
  for (std::size_t b = 0; b < count; ++b) {
    const Problem& p = result.problems[b];
    constexpr const char* kSameInput = "the branches of a concatenated plan read the same input";
    require_same(b, "batch", p.batch, first.batch, kSameInput);
    require_same(b, "in_channels", p.in_channels, first.in_channels, kSameInput);
    require_same(b, "in_height", p.in_height, first.in_height, kSameInput);
    require_same(b, "in_width", p.in_width, first.in_width, kSameInput);
    require_same(b, "layout", static_cast<int>(p.layout), static_cast<int>(first.layout), kSameInput);
    constexpr const char* kSameOutput = "the branches' outputs are concatenated along the channels";
    require_same(b, "the output height", p.out_height, first.out_height, kSameOutput);
    require_same(b, "the output width", p.out_width, first.out_width, kSameOutput);
    if (__builtin_add_overflow(result.total_channels, p.out_channels, &result.total_channels))
      invalid("the branches' out_channels overflow 64 bits in sum");
  }
  result.first_channel.resize(count);
  for (std::size_t b = 1; b < count; ++b)
    result.first_channel[b] = result.first_channel[b - 1] + result.problems[b - 1].out_channels;
  return result;
}

// The members of each part: each branch joins the first earlier part it can share one convolution with.
std::vector<std::vector<std::size_t>> group_branches(const std::vector<Problem>& problems) {
  std::vector<std::vector<std::size_t>> members;
  for (std::size_t b = 0; b < problems.size(); ++b) {
    auto shared = std::find_if(members.begin(), members.end(), [&](const std::vector<std::size_t>& part) {
      return can_share_one_convolution(problems[part.front()], problems[b]);
    });
    if (shared != members.end()) {
      shared->push_back(b);
    } else {
      members.push_back({b});
    }
  }
  return members;
}

// Where the channels of a part with these members go in the output.
std::vector<Segment> part_segments(const Branches& branches, const std::vector<std::size_t>& members) {
  std::vector<Segment> segments;
  for (std::size_t b : members) {
    const std::int64_t channels = branches.problems[b].out_channels;
    if (!segments.empty() && segments.back().out_channel + segments.back().channels == branches.first_channel[b]) {
      segments.back().channels += channels;
    } else {
      const std::int64_t part_channel = segments.empty() ? 0 : segments.back().part_channel + segments.back().channels;
      segments.push_back({part_channel, branches.first_channel[b], channels});
    }
  }
  return segments;
}

// The weights and bias a part's plan is made from: a lone branch's own, or the members' stacked.
struct PartWeights {
  const float* weights;
  const float* bias;
  AlignedFloats stacked_weights, stacked_bias;  // what weights and bias point to when stacked
};

// The weights and biases of the members, stacked along the output channels in the lead's weights layout.
PartWeights stack_weights(const Branches& branches, const std::vector<std::size_t>& members, const Problem& part,
                          WeightsLayout weights_layout) {
  const ConcatBranch& lead = branches.given[members.front()];
  PartWeights result{lead.weights, lead.bias, nullptr, nullptr};
  if (members.size() == 1) return result;
  result.stacked_weights = allocate_floats(static_cast<std::size_t>(part.weights_elements));
  bool any_bias = false;
  for (std::size_t b : members) any_bias = any_bias || branches.given[b].bias != nullptr;
  if (any_bias) result.stacked_bias = allocate_floats(static_cast<std::size_t>(part.out_channels));
  std::int64_t channel = 0;
  for (std::size_t b : members) {
    const Problem& p = branches.problems[b];
    const float* bias = branches.given[b].bias;
    const AlignedFloats packed = pack_weights(p, branches.given[b].weights, weights_layout);
    std::copy(packed.get(), packed.get() + p.weights_elements, result.stacked_weights.get() + channel * p.reduction);
    if (any_bias) {
      for (std::int64_t o = 0; o < p.out_channels; ++o)
        result.stacked_bias[static_cast<std::size_t>(channel + o)] = bias ? bias[o] : 0.0f;
    }
    channel += p.out_channels;
  }
  result.weights = result.stacked_weights.get();
  result.bias = result.stacked_bias.get();
  return result;
}

// The part computing these members: its convolution (an image at a time when it covers only some channels of a
// batch), where its channels go, whether it goes through the workspace, and its plan.
Part make_part(const Branches& branches, const std::vector<std::size_t>& members, const Options& options,
               const Epilogue& epilogue) {
  Conv2dDesc desc = branches.given[members.front()].desc;
  desc.out_channels = 0;
  for (std::size_t b : members) desc.out_channels += branches.problems[b].out_channels;

  Part part;
  part.segments = part_segments(branches, members);
  const bool covers_all = desc.out_channels == branches.total_channels;
  const bool contiguous = part.segments.size() == 1;
  const bool nchw = branches.problems.front().layout == Layout::NCHW;
  part.via_workspace = !contiguous || (!nchw && !covers_all);
  part.per_image = branches.problems.front().batch > 1 && !covers_all;
  if (part.per_image) desc.batch = 1;
  const Problem problem = make_problem(desc);
  part.scratch_bytes =
      part.via_workspace
          ? static_cast<std::size_t>(round_up(problem.output_elements * static_cast<std::int64_t>(sizeof(float)), 64))
          : 0;
  const PartWeights weights = stack_weights(branches, members, problem, desc.weights_layout);
  // A part computed in the workspace takes only the bias; its copy into the output applies the rest (scatter).
  Options part_options = options;
  part_options.activation = Activation::None;
  const Epilogue none{};
  part.plan = make_plan(problem, weights.weights, weights.bias, part_options, /*borrow_weights=*/false,
                        part.via_workspace ? &none : &epilogue);
  return part;
}

// The plan's description gains the part: "gemm_1x1 for branches 0+2 (6 channels, fused)".
void describe_part(const Part& part, const std::vector<std::size_t>& members, std::string& description) {
  if (!description.empty()) description += "; ";
  description += concat(part.plan.description, " for ", branch_list(members));
  if (members.size() > 1) description += concat(" (", part.plan.problem.out_channels, " channels, fused)");
}

}  // namespace

PlanState make_concat_plan(const ConcatBranch* branches, std::size_t count, const Options& options,
                           const Epilogue* epilogue) {
  if (count == 0) invalid("count = 0: a concatenated plan needs at least one branch");
  if (branches == nullptr) invalid("branches is null");
  const PlanEpilogue fused = plan_epilogue(options, epilogue);
  const Branches checked = validate_branches(branches, count);

  // The whole: the input as the branches read it, the output with every branch's channels. Its kernel and padding
  // are branch 0's, which give the common output size; groups 1 keeps it valid for any channel count.
  Conv2dDesc whole_desc = branches[0].desc;
  whole_desc.out_channels = checked.total_channels;
  whole_desc.groups = 1;
  const int threads = resolve_threads(options);
  PlanState result{make_problem(whole_desc), nullptr, "", fused.epilogue, fused.post.residual, threads};

  const std::vector<std::vector<std::size_t>> groups = group_branches(checked.problems);
  std::vector<Part> parts;
  try {
    for (const std::vector<std::size_t>& members : groups) {
      parts.push_back(make_part(checked, members, options, fused.epilogue));
      describe_part(parts.back(), members, result.description);
    }
  } catch (const std::bad_alloc&) {
    fail(Status::OutOfMemory, "out of memory while stacking the weights of a concatenated plan of ", count,
         " branches");
  }
  result.primitive = std::make_unique<ConcatPrimitive>(result.problem, std::move(parts), threads, fused.post);
  return result;
}

}  // namespace convkit::detail
