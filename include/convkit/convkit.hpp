// convkit: multi-channel 2-D convolution on the CPU -- the C++17 API.
//
// The same capabilities as the C API (convkit/convkit.h), with enums, a named-field descriptor and exceptions:
// every failure throws convkit::Error, whose message names the field, its value and the rule it breaks.
// Tensor layouts and the exact definition of the operation are documented in convkit/convkit.h.
#ifndef CONVKIT_CONVKIT_HPP
#define CONVKIT_CONVKIT_HPP

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace convkit {

/// Outcome of a call; the values equal the C API's convkit_status.
enum class Status : int { Ok = 0, InvalidArgument = 1, Unsupported = 2, OutOfMemory = 3, InternalError = 4 };

/// Layout of input and output: NCHW (channels outermost) or NHWC (channels innermost).
enum class Layout : int { NCHW = 0, NHWC = 1 };

/// Layout of the weights: [Co][Ci/groups][Kh][Kw] (OIHW) or [Co][Kh][Kw][Ci/groups] (OHWI).
enum class WeightsLayout : int { OIHW = 0, OHWI = 1 };

/// The algorithms; values equal the C API's convkit_algorithm. See docs/algorithms.md.
enum class Algorithm : int {
  Auto = 0,
  Reference = 1,
  Im2colGemm = 2,
  Gemm1x1 = 3,
  Direct = 4,
  Winograd = 5,
  ImplicitGemm = 6
};

/// Activation fused into the output; the values equal the C API's convkit_activation, which states each one's
/// formula, its ONNX operator and its maximum error. Options::activation takes None, Relu and Clamp (the others need
/// the parameters of an Epilogue): none, max(x, 0), min(max(x, clamp_min), clamp_max); NaN stays NaN.
enum class Activation : int {
  None = 0,
  Relu = 1,
  Clamp = 2,
  LeakyRelu = 3,    ///< x >= 0 ? x : alpha * x
  Sigmoid = 4,      ///< 1 / (1 + exp(-x))
  Tanh = 5,         ///< tanh(x)
  HardSigmoid = 6,  ///< max(0, min(1, alpha * x + beta))
  HardSwish = 7,    ///< x * max(0, min(1, x / 6 + 1 / 2))
  Silu = 8,         ///< x * sigmoid(x) (ONNX Swish with alpha 1)
  GeluErf = 9,      ///< x / 2 * (1 + erf(x / sqrt(2)))
  GeluTanh = 10     ///< x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
};

/// Strict computes every product of the definition; Fast may use transforms with a larger, documented error.
enum class MathMode : int { Strict = 0, Fast = 1 };

/// The exception of the library. what() names the field, its value and the rule; status() classifies it.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

/// The shape of one convolution. All sizes in elements; padding is zero padding per side.
struct Conv2dDesc {
  std::int64_t batch = 0, in_channels = 0, in_height = 0, in_width = 0, out_channels = 0;
  std::int64_t kernel_height = 0, kernel_width = 0;
  std::int64_t stride_height = 1, stride_width = 1;
  std::int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  std::int64_t dilation_height = 1, dilation_width = 1;
  std::int64_t groups = 1;
  Layout layout = Layout::NCHW;  ///< of both input and output
  WeightsLayout weights_layout = WeightsLayout::OIHW;
};

/// What is fused into the output after the convolution and its bias (C: convkit_epilogue):
///   out = activation(conv(input) + bias + residual_scale * residual)
/// the residual added before the activation, as a ResNet block ends: relu(conv(x) + identity). The residual, when
/// `residual` is set, is a tensor of the output's shape and layout given to each run (Plan::run_residual); it may
/// be the output buffer itself (the sum is then accumulated in place) but must not overlap it otherwise. Every
/// algorithm applies it to each tile of the output as the tile is stored, never as a pass over the whole output.
struct Epilogue {
  Activation activation = Activation::None;
  float clamp_min = -std::numeric_limits<float>::infinity();  ///< Clamp
  float clamp_max = std::numeric_limits<float>::infinity();   ///< Clamp
  float leaky_relu_alpha = 0.01f;                             ///< LeakyRelu (ONNX's default)
  float hard_sigmoid_alpha = 0.2f, hard_sigmoid_beta = 0.5f;  ///< HardSigmoid (ONNX's defaults)
  bool residual = false;
  float residual_scale = 1.0f;  ///< finite
};

/// How to run a convolution.
struct Options {
  Algorithm algorithm = Algorithm::Auto;
  /// 0: the library default, default_threads(); n > 0: up to n threads. Any count is capped at the processors the
  /// process may run on (its affinity mask) and OMP_THREAD_LIMIT when set. Plan::threads() reports the count. Runs on
  /// convkit's own workers (none in a build without OpenMP: CONVKIT_OPENMP=OFF) use the calling thread alone inside
  /// an active OpenMP parallel region or in a process fork()ed after convkit ran threads; runs on a ThreadPool use
  /// min(threads, pool width) of its tasks.
  int threads = 0;
  Activation activation = Activation::None;
  float clamp_min = -std::numeric_limits<float>::infinity();  ///< read only for Activation::Clamp
  float clamp_max = std::numeric_limits<float>::infinity();
  MathMode math_mode = MathMode::Strict;
};

struct OutputSize {
  std::int64_t height, width;
};

/// Element counts (floats) of the tensors of a convolution.
struct TensorSizes {
  std::int64_t input, weights, bias, output;
};

/// Validates desc and returns the output height and width. Throws Error(InvalidArgument).
OutputSize output_size(const Conv2dDesc& desc);

/// Validates desc and returns the element count of each tensor. Throws Error(InvalidArgument).
TensorSizes tensor_sizes(const Conv2dDesc& desc);

/// Computes one convolution into output and returns the algorithm that ran (never Auto; C: convkit_conv2d_reporting).
/// Buffers are owned by the caller and sized by tensor_sizes(desc); bias may be null; output must not overlap the
/// others, which are only read. On failure nothing is written to output. Safe to call from several threads at once.
Algorithm conv2d(const Conv2dDesc& desc, const float* input, const float* weights, const float* bias, float* output,
                 const Options& options = Options{});

/// conv2d with an epilogue (C: convkit_conv2d_fused): residual is read when epilogue.residual is set (null
/// otherwise) and may equal output; options.activation must then be None (the epilogue holds the activation).
Algorithm conv2d(const Conv2dDesc& desc, const float* input, const float* weights, const float* bias,
                 const float* residual, float* output, const Options& options, const Epilogue& epilogue);

/// The caller's thread pool (C: convkit_thread_pool), for engines that own their threads: a run given one uses
/// only it and starts no thread, opens no OpenMP region. parallel_for(context, task_count, task, task_argument) must
/// call task(task_argument, i) exactly once for every i < task_count, on any of its threads and in any order (all on
/// the calling thread is fine), and return only when all have returned. It is called from the thread that runs the
/// plan, with task_count <= width; tasks never throw. A run splits its work into min(plan threads, width) tasks
/// that share it out among themselves (a task that starts late finds its share taken by the others), so results are
/// bit-identical to a run on convkit's own workers, whatever the order or the threads the tasks run on.
struct ThreadPool {
  void* context = nullptr;
  void (*parallel_for)(void* context, std::size_t task_count, void (*task)(void* task_argument, std::size_t task_index),
                       void* task_argument) = nullptr;
  int width = 1;  ///< tasks the pool runs at once, >= 1
};

/// The threads a plan uses when Options::threads is 0: OMP_NUM_THREADS when set (its first value, as OpenMP reads
/// it), else the processors this process may run on (its affinity mask), capped like any count. Not the calling
/// thread's omp_get_max_threads(), which another library in the process may have lowered (docs/embedding.md).
int default_threads();

/// One branch of a concatenated plan (see Plan's second constructor): a convolution, its weights (in
/// desc.weights_layout) and its bias (desc.out_channels floats, or null). The plan copies what it needs.
struct ConcatBranch {
  Conv2dDesc desc;
  const float* weights = nullptr;
  const float* bias = nullptr;
};

/// Which side gets the extra element when "same" padding needs an odd total (values equal convkit_same_padding_mode).
enum class SamePadding : int { Upper = 0, Lower = 1 };

// ---------------------------------------------------------------------------------------------------------------------
// Transposed convolution (ONNX ConvTranspose, PyTorch conv_transpose2d, oneDNN deconvolution): the adjoint of conv2d.
// ---------------------------------------------------------------------------------------------------------------------

/// Layout of a transposed convolution's weights: [Ci][Co/groups][Kh][Kw] (IOHW: ONNX ConvTranspose, PyTorch) or
/// [Co][Kh][Kw][Ci/groups] (OHWI: TensorFlow Lite's TRANSPOSE_CONV, XNNPACK's deconvolution, with output channel o
/// in group o / (Co/groups)). Values equal convkit_transposed_weights_layout.
enum class TransposedWeightsLayout : int { IOHW = 0, OHWI = 1 };

/// The shape of one transposed convolution (C: convkit_conv_transpose2d_desc). Input N x Ci x H x W (NCHW) or
/// N x H x W x Ci (NHWC); output N x Co x Ho x Wo or N x Ho x Wo x Co with
///   Ho = stride_height * (H - 1) + output_padding_height + dilation_height * (Kh - 1) + 1 - pad_top - pad_bottom
/// (Wo alike), and, with g = c / (Ci/groups) and o in group g,
///   out[n][o][y][x] = act(bias[o] + sum over c in group g, i, j with y = iy*sh - pt + i*dh, x = ix*sw - pl + j*dw of
///                         in[n][c][iy][ix] * w[c][o - g*Co/groups][i][j])
/// so that conv_transpose2d is the adjoint of conv2d with the same kernel, stride, pads, dilation and groups: the pads
/// crop the output, and output_padding adds rows and columns at the bottom and right that only the bias reaches
/// (each below the stride or the dilation of its dimension, as ONNX and PyTorch require). ONNX's output_shape
/// attribute: set_output_shape.
struct ConvTranspose2dDesc {
  std::int64_t batch = 0, in_channels = 0, in_height = 0, in_width = 0, out_channels = 0;
  std::int64_t kernel_height = 0, kernel_width = 0;
  std::int64_t stride_height = 1, stride_width = 1;
  std::int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  std::int64_t output_padding_height = 0, output_padding_width = 0;
  std::int64_t dilation_height = 1, dilation_width = 1;
  std::int64_t groups = 1;
  Layout layout = Layout::NCHW;  ///< of both input and output
  TransposedWeightsLayout weights_layout = TransposedWeightsLayout::IOHW;
};

/// Validates desc and returns the output height and width. Throws Error(InvalidArgument) naming the field.
OutputSize output_size(const ConvTranspose2dDesc& desc);
/// Validates desc and returns the element count of each tensor (weights: Ci * Co/groups * Kh * Kw).
TensorSizes tensor_sizes(const ConvTranspose2dDesc& desc);

/// ONNX's output_shape: sets the four pads of desc so that its output is out_height x out_width, as ONNX does:
/// total = stride * (in - 1) + output_padding + dilation * (k - 1) + 1 - out, split total / 2 at the begin and the
/// rest at the end for SamePadding::Upper (ONNX auto_pad SAME_UPPER), the other way round for Lower (ONNX's default
/// NOTSET). A total below 0 (an output larger than the input can reach) takes output_padding instead when that stays
/// below the stride or dilation, else throws Error(InvalidArgument) naming out_height or out_width. On failure desc is
/// unchanged.
void set_output_shape(ConvTranspose2dDesc& desc, std::int64_t out_height, std::int64_t out_width,
                      SamePadding mode = SamePadding::Lower);

/// Computes one transposed convolution (buffers as conv2d's, sized by tensor_sizes(desc)); returns the algorithm that
/// ran. Safe to call from several threads at once. C: convkit_conv_transpose2d.
Algorithm conv_transpose2d(const ConvTranspose2dDesc& desc, const float* input, const float* weights, const float* bias,
                           float* output, const Options& options = Options{});
/// The same with an epilogue: out = activation(conv_transpose(input) + bias + residual_scale * residual).
Algorithm conv_transpose2d(const ConvTranspose2dDesc& desc, const float* input, const float* weights, const float* bias,
                           const float* residual, float* output, const Options& options, const Epilogue& epilogue);
/// The algorithm conv_transpose2d would run (never Auto).
Algorithm chosen_algorithm(const ConvTranspose2dDesc& desc, const Options& options = Options{});

// ---------------------------------------------------------------------------------------------------------------------
// 1-D convolutions: a height of 1, mapped onto the 2-D ones without a copy (the tensors lie the same way).
// ---------------------------------------------------------------------------------------------------------------------

/// Input N x Ci x L (Layout::NCHW, "NCW") or N x L x Ci (Layout::NHWC, "NWC"); weights Co x Ci/groups x K (OIHW: "OIW")
/// or Co x K x Ci/groups (OHWI: "OWI"); output N x Co x Lo or N x Lo x Co,
/// Lo = floor((L + pad_begin + pad_end - dilation * (K - 1) - 1) / stride) + 1. C: convkit_conv1d_desc.
struct Conv1dDesc {
  std::int64_t batch = 0, in_channels = 0, in_length = 0, out_channels = 0;
  std::int64_t kernel_size = 0, stride = 1, pad_begin = 0, pad_end = 0, dilation = 1, groups = 1;
  Layout layout = Layout::NCHW;
  WeightsLayout weights_layout = WeightsLayout::OIHW;
};

/// A transposed 1-D convolution: weights Ci x Co/groups x K (IOHW: "IOW") or Co x K x Ci/groups (OHWI: "OWI");
/// Lo = stride * (L - 1) + output_padding + dilation * (K - 1) + 1 - pad_begin - pad_end. C:
/// convkit_conv_transpose1d_desc.
struct ConvTranspose1dDesc {
  std::int64_t batch = 0, in_channels = 0, in_length = 0, out_channels = 0;
  std::int64_t kernel_size = 0, stride = 1, pad_begin = 0, pad_end = 0, output_padding = 0, dilation = 1, groups = 1;
  Layout layout = Layout::NCHW;
  TransposedWeightsLayout weights_layout = TransposedWeightsLayout::IOHW;
};

/// The 2-D descriptors the 1-D ones are (height 1, kernel height 1): every 2-D call and plan takes them.
Conv2dDesc as_2d(const Conv1dDesc& desc);
ConvTranspose2dDesc as_2d(const ConvTranspose1dDesc& desc);
/// Validates desc and returns the output length. Throws Error(InvalidArgument) naming the 1-D field.
std::int64_t output_length(const Conv1dDesc& desc);
std::int64_t output_length(const ConvTranspose1dDesc& desc);
/// One-shot 1-D calls (C: convkit_conv1d, convkit_conv_transpose1d): conv2d / conv_transpose2d of as_2d(desc).
Algorithm conv1d(const Conv1dDesc& desc, const float* input, const float* weights, const float* bias, float* output,
                 const Options& options = Options{});
Algorithm conv_transpose1d(const ConvTranspose1dDesc& desc, const float* input, const float* weights, const float* bias,
                           float* output, const Options& options = Options{});

namespace detail {
struct PlanAccess;  ///< internal: how the library's own test hook makes a Plan bound to one named implementation
}

class PackedWeights;

/// A convolution prepared once and run many times: validated, its algorithm chosen, and its weights and bias copied
/// into the plan's own memory in the form that algorithm reads (the caller may free or change its buffers after
/// construction). run() is const and safe to call from several threads at once on one plan; with a caller workspace
/// it allocates nothing. Movable, not copyable. Throws Error like conv2d. A moved-from plan answers like the C API's
/// NULL plan: workspace_size() 0, algorithm() Auto, description() "", and run() throws Error(InvalidArgument).
class Plan {
 public:
  Plan(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options = Options{});
  /// One plan for several convolutions that read the same input (the same batch, in_channels, in_height, in_width
  /// and layout) and produce the same output height and width. Its output is theirs concatenated along the
  /// channels, in order: N x (sum of out_channels) x Ho x Wo (NCHW) or N x Ho x Wo x (sum of out_channels) (NHWC).
  /// Ungrouped branches with the same kernel size, stride, padding and dilation (1x1 projections, typically) share
  /// one convolution with their weights stacked, that is one GEMM; the others run on their own, writing into their
  /// slice of the output. The options (algorithm, threads, activation, math mode) apply to every branch.
  /// Throws Error(InvalidArgument) for an empty list, a branch that is invalid on its own, or branches that
  /// disagree on the input or on the output height and width (the message names the branch and the field).
  Plan(const std::vector<ConcatBranch>& branches, const Options& options = Options{});
  /// A plan with an epilogue (C: convkit_plan_create_fused): options.activation must be None, the epilogue holding
  /// the activation. With epilogue.residual set, the plan runs with run_residual only.
  Plan(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options,
       const Epilogue& epilogue);
  /// A concatenated plan with an epilogue, applied to every branch: the residual has the concatenated output's
  /// shape (C: convkit_plan_create_concat_fused).
  Plan(const std::vector<ConcatBranch>& branches, const Options& options, const Epilogue& epilogue);
  /// A plan that reads the weights and bias of `packed` (see PackedWeights) for `desc`, which may differ from the
  /// descriptor they were packed for in batch, image size, padding, stride, dilation and layout; in_channels,
  /// out_channels, kernel_height, kernel_width and groups must be the packed ones (Error(InvalidArgument) names the
  /// field and both values otherwise). desc.weights_layout is not read. The plan copies no weights: it shares the
  /// forms its implementation reads, and a form `packed` does not hold yet is packed once into `packed` (C:
  /// convkit_plan_create_packed).
  Plan(const PackedWeights& packed, const Conv2dDesc& desc, const Options& options = Options{});
  /// The same with an epilogue, as Plan(desc, weights, bias, options, epilogue).
  Plan(const PackedWeights& packed, const Conv2dDesc& desc, const Options& options, const Epilogue& epilogue);
  /// A plan of a transposed convolution (C: convkit_plan_create_transposed); it runs, reports and is moved like any.
  Plan(const ConvTranspose2dDesc& desc, const float* weights, const float* bias, const Options& options = Options{});
  Plan(const ConvTranspose2dDesc& desc, const float* weights, const float* bias, const Options& options,
       const Epilogue& epilogue);
  /// Plans of 1-D convolutions: the plans of as_2d(desc).
  Plan(const Conv1dDesc& desc, const float* weights, const float* bias, const Options& options = Options{});
  Plan(const ConvTranspose1dDesc& desc, const float* weights, const float* bias, const Options& options = Options{});
  ~Plan();
  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  /// Bytes of scratch memory a run needs (may be 0). Any alignment works; 64 bytes is best.
  std::size_t workspace_size() const noexcept;
  /// The algorithm chosen (never Auto); for a concatenated plan, the one that computes its first branch. C:
  /// convkit_plan_get_algorithm; convkit_plan_algorithm is algorithm_name(algorithm()).
  Algorithm algorithm() const noexcept;
  /// What runs, for logs and tests: the implementation, named after its algorithm and how it runs (e.g.
  /// "im2col_gemm_convkit", "direct_depthwise_nhwc", "winograd_f4x4"; docs/algorithms.md lists them), or for a
  /// concatenated plan each of its convolutions, then the threads a run uses, e.g. "im2col_gemm_convkit [2 threads]",
  /// "gemm_1x1_convkit for branches 0+1+2 (176 channels, fused); im2col_gemm_convkit for branch 3 [1 thread]".
  const std::string& description() const noexcept;
  /// Computes the convolution of input into output (sized by tensor_sizes(desc); output must not overlap input).
  /// workspace may be null: the run then provides its own (on the stack when small, else allocated). A workspace
  /// smaller than workspace_size(), or whose first workspace_size() bytes overlap input or output, throws
  /// Error(InvalidArgument).
  void run(const float* input, float* output, void* workspace = nullptr, std::size_t workspace_size = 0) const;
  /// run for a plan whose epilogue has a residual (C: convkit_plan_run_residual): output = activation(conv(input) +
  /// bias + residual_scale * residual). residual has the output's shape and layout; it may be output itself (read
  /// before each element is written), and must not otherwise overlap output. Throws Error(InvalidArgument) for a
  /// plan without a residual, a null residual, or a residual that partly overlaps output or overlaps the workspace.
  void run_residual(const float* input, const float* residual, float* output, void* workspace = nullptr,
                    std::size_t workspace_size = 0) const;
  /// run on the caller's thread pool (C: convkit_plan_run_on_pool): the same checks and results. Throws
  /// Error(InvalidArgument) for a null pool.parallel_for or a width below 1.
  void run_on(const ThreadPool& pool, const float* input, float* output, void* workspace = nullptr,
              std::size_t workspace_size = 0) const;
  /// run_residual on the caller's thread pool.
  void run_residual_on(const ThreadPool& pool, const float* input, const float* residual, float* output,
                       void* workspace = nullptr, std::size_t workspace_size = 0) const;
  /// The most threads a run uses: Options::threads (or default_threads() for 0) as capped when the plan was made;
  /// 0 for a moved-from plan. C: convkit_plan_get_threads. description() ends with it, e.g. " [2 threads]".
  int threads() const noexcept;
  /// The plan's epilogue (for a plan made without one: its Options' activation and clamp bounds, no residual).
  const Epilogue& epilogue() const noexcept;

  struct Impl;

 private:
  friend struct detail::PlanAccess;
  explicit Plan(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------------------------------
// Packed weights: one layer's weights, packed once and shared by the plans of every size an engine meets.
// ---------------------------------------------------------------------------------------------------------------------

/// A layer's weights and bias in the forms convkit's algorithms read, shared by the plans made from it (the Plan
/// constructors taking a PackedWeights): plans for new batch or image sizes copy no weights. A cheap-to-copy handle;
/// copies share one state. It holds a canonical copy of the weights (OIHW) and bias, and every packed form a plan made
/// from it needed: a plan needing a form it lacks packs that form into it, once, which is why size_bytes() and
/// form_count() may grow after construction.
///
/// Lifetime: plans hold shared references to the forms they read, so a PackedWeights (and every copy) may be destroyed
/// or reassigned while plans made from it live: they keep working. Thread-safety: plans may be made from one
/// PackedWeights (or its copies) on several threads at once; the queries, save() and copying are safe alongside.
/// C: convkit_packed_weights.
class PackedWeights {
 public:
  /// Copies `weights` (desc.out_channels * desc.in_channels / desc.groups * kernel_height * kernel_width floats in
  /// desc.weights_layout) and `bias` (desc.out_channels floats, or null) and packs the forms of the implementation
  /// `options` would choose for `desc`, whose batch and image size are the hint of the sizes to come. The caller may
  /// free its buffers afterwards. Throws Error(InvalidArgument) for an invalid desc or options, or null weights.
  PackedWeights(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options = Options{});

  /// Bytes of every array held: the canonical weights and bias and each packed form.
  std::size_t size_bytes() const;
  /// Arrays held: the canonical weights, the bias (when given) and each packed form.
  std::size_t form_count() const;

  /// The weights in the binary format of docs/packed-weights.md: the canonical copy, every form, the ISA they were
  /// packed for, and a checksum. Readable by load() in a process whose kernels use the same ISA.
  std::vector<unsigned char> save() const;
  /// Reads a blob of save(): `size` bytes at `data`, copied (the caller may free them afterwards). Every field is
  /// checked; anything wrong (bad magic, version, byte order, another ISA, truncation, sizes, checksum, an unknown
  /// form) throws Error(InvalidArgument) saying what, never reading outside [data, data + size).
  static PackedWeights load(const void* data, std::size_t size);

  struct State;

 private:
  friend class Plan;
  friend struct detail::PlanAccess;
  explicit PackedWeights(std::shared_ptr<State> state) noexcept;
  std::shared_ptr<State> state_;
};

/// The padding of one spatial dimension.
struct Padding {
  std::int64_t begin, end;
};

/// "Same" padding of one dimension: the output size becomes ceil(input_size / stride); see convkit_same_padding.
/// Throws Error(InvalidArgument) for sizes, stride or dilation below 1 or sizes that overflow.
Padding same_padding(std::int64_t input_size, std::int64_t kernel_size, std::int64_t stride, std::int64_t dilation,
                     SamePadding mode = SamePadding::Upper);

/// Sets the four pad fields of desc to "same" padding for its input size, kernel, stride and dilation. On failure
/// (throws Error(InvalidArgument)) desc is unchanged.
void set_same_padding(Conv2dDesc& desc, SamePadding mode = SamePadding::Upper);

/// The descriptor of the single convolution equal to `second` applied to the output of `first` (rules, formulas and
/// rejections: convkit_compose_conv2d in convkit.h). Throws Error(InvalidArgument) for invalid descriptors or shapes
/// that do not chain, Error(Unsupported) for padding, dilation or groups in either convolution.
Conv2dDesc compose(const Conv2dDesc& first, const Conv2dDesc& second);

/// A composed convolution: its descriptor, and its weights and bias in the form conv2d reads them.
struct Composition {
  Conv2dDesc desc;
  std::vector<float> weights;  ///< desc.out_channels * desc.in_channels * desc.kernel_height * desc.kernel_width
  std::vector<float> bias;     ///< second.out_channels floats; zeros when both biases are null
};

/// The descriptor, weights and bias of the composition. Each weights buffer is read in its own desc's
/// weights_layout; either bias may be null (zeros). Throws like compose(first, second), and Error(InvalidArgument)
/// when first_weights or second_weights is null.
Composition compose(const Conv2dDesc& first, const float* first_weights, const float* first_bias,
                    const Conv2dDesc& second, const float* second_weights, const float* second_bias);

/// "MAJOR.MINOR.PATCH" of the library linked in (the header's CONVKIT_VERSION_* macros give the compiled-against one).
const char* version() noexcept;

/// The algorithm conv2d(desc, ..., options) would run (Auto resolved); throws like conv2d when it would.
/// C: convkit_conv2d_algorithm. The three enum answers line up as in C ("Which algorithm" in convkit.h): this one
/// before a call, conv2d's return value after it, Plan::algorithm() for a plan; algorithm_name() names the family
/// and Plan::description() the implementation. Nothing is missing on this side: the C API's new functions
/// (convkit_plan_get_algorithm, convkit_conv2d_reporting) bring it level with these.
Algorithm chosen_algorithm(const Conv2dDesc& desc, const Options& options = Options{});

/// The vector instruction set of the direct kernels: "avx512f", "avx2+fma", "sse4.2" or "sse2" (see convkit.h).
const char* simd_isa() noexcept;

/// A static name: "auto", "reference", "im2col_gemm", "gemm_1x1", "direct", "winograd" (or "unknown").
const char* algorithm_name(Algorithm algorithm) noexcept;

/// Which BLAS convkit calls and which of its kernels run on this CPU (see the C API's convkit_blas_info).
struct BlasInfo {
  std::string library, core, recommended_core;
  bool degraded;  ///< core is weaker than recommended_core: set OPENBLAS_CORETYPE=recommended_core
};
BlasInfo blas_info();

}  // namespace convkit

#endif  // CONVKIT_CONVKIT_HPP
