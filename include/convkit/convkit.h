/* convkit: multi-channel 2-D convolution on the CPU -- the stable C API.
 *
 * Compiles as C99 and as C++. No C++ exception ever crosses this interface: every function that can fail returns a
 * convkit_status, and convkit_last_error() gives the calling thread's message for its last failed call.
 *
 * Tensors are dense float32 arrays owned by the caller:
 *   input   N x Ci x H x W      (CONVKIT_LAYOUT_NCHW) or N x H x W x Ci      (CONVKIT_LAYOUT_NHWC)
 *   output  N x Co x Ho x Wo    (CONVKIT_LAYOUT_NCHW) or N x Ho x Wo x Co    (CONVKIT_LAYOUT_NHWC)
 *   weights Co x Ci/groups x Kh x Kw (CONVKIT_WEIGHTS_OIHW) or Co x Kh x Kw x Ci/groups (CONVKIT_WEIGHTS_OHWI)
 *   bias    Co floats, or NULL
 * The operation is cross-correlation (as in PyTorch's conv2d) with zero padding:
 *   out[n][o][y][x] = act(bias[o] + sum_{c,i,j} in[n][g*Ci/groups + c][y*sh - pt + i*dh][x*sw - pl + j*dw] *
 * w[o][c][i][j]) where g = o / (Co/groups), and Ho = floor((H + pad_top + pad_bottom - dilation_height*(Kh-1) - 1) /
 * stride_height) + 1   (Wo alike).
 */
#ifndef CONVKIT_CONVKIT_H
#define CONVKIT_CONVKIT_H

#include <stddef.h>
#include <stdint.h>

/* The one place the version is written; CMake, pkg-config and convkit_version() read it from here. */
#define CONVKIT_VERSION_MAJOR 0
#define CONVKIT_VERSION_MINOR 6
#define CONVKIT_VERSION_PATCH 0
/* One number for preprocessor tests: 10000 * major + 100 * minor + patch. */
#define CONVKIT_VERSION (CONVKIT_VERSION_MAJOR * 10000 + CONVKIT_VERSION_MINOR * 100 + CONVKIT_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

typedef enum convkit_status {
  CONVKIT_STATUS_OK = 0,
  CONVKIT_STATUS_INVALID_ARGUMENT = 1, /* a field, pointer or buffer breaks a rule; nothing was written */
  CONVKIT_STATUS_UNSUPPORTED = 2,      /* valid, but the requested algorithm does not handle this shape */
  CONVKIT_STATUS_OUT_OF_MEMORY = 3,    /* a buffer could not be allocated; nothing leaked */
  CONVKIT_STATUS_INTERNAL_ERROR = 4    /* a bug in convkit: please report the message */
} convkit_status;

typedef enum convkit_layout { CONVKIT_LAYOUT_NCHW = 0, CONVKIT_LAYOUT_NHWC = 1 } convkit_layout;

typedef enum convkit_weights_layout { CONVKIT_WEIGHTS_OIHW = 0, CONVKIT_WEIGHTS_OHWI = 1 } convkit_weights_layout;

typedef enum convkit_algorithm {
  CONVKIT_ALGORITHM_AUTO = 0,         /* the library chooses among the algorithms below */
  CONVKIT_ALGORITHM_REFERENCE = 1,    /* plain loops; accepts every valid shape */
  CONVKIT_ALGORITHM_IM2COL_GEMM = 2,  /* im2col (im2row for NHWC) + one BLAS GEMM per image and group */
  CONVKIT_ALGORITHM_GEMM_1X1 = 3,     /* 1x1 kernels only: a matrix product on the input as it lies */
  CONVKIT_ALGORITHM_DIRECT = 4,       /* vector loops without unfolding: depthwise, small kernels, tiny shapes */
  CONVKIT_ALGORITHM_WINOGRAD = 5,     /* 3x3 stride 1 only, Winograd F(2x2)/F(4x4) as BLAS GEMMs; a larger error, so
                                         AUTO uses it only in CONVKIT_MATH_FAST (docs/algorithms.md, "Winograd's error") */
  CONVKIT_ALGORITHM_IMPLICIT_GEMM = 6 /* convkit's GEMM microkernel reading each tap where it lies, no unfolding copy;
                                         needs AVX2+FMA (CONVKIT_STATUS_UNSUPPORTED below) */
} convkit_algorithm;

/* The activations, with the semantics of the ONNX operator named. convkit_options takes NONE, RELU and CLAMP; every
   one is available through a convkit_epilogue (convkit_plan_create_fused). NaN in gives NaN out for every one of
   them, and each takes its limits at the infinities (0 rather than the NaN of -inf * 0). The maximum error against
   the exact function, in ulps of the float result, or an absolute error for results near 0 where that is larger
   (tests/test_activations.cpp measures both over the float range, on every ISA):
     NONE, RELU, CLAMP, LEAKY_RELU: exact but for the rounding of one product;
     HARD_SIGMOID 1.5 ulps or 6e-8, HARD_SWISH 2.5 ulps or 2e-7 (alpha * x + beta cancels near 0);
     SIGMOID 4 ulps, TANH 4 ulps (results below 1.2e-38 may flush to 0), SILU 4 ulps or 1e-35;
     GELU_ERF 16 ulps or 1e-8, GELU_TANH 12 ulps or 1e-8 (measured: 11 and 9 ulps, both near x = -2.5, where the
     exponential of a rounded argument amplifies its rounding). */
typedef enum convkit_activation {
  CONVKIT_ACTIVATION_NONE = 0,
  CONVKIT_ACTIVATION_RELU = 1,         /* Relu: max(x, 0); -0 stays -0 */
  CONVKIT_ACTIVATION_CLAMP = 2,        /* Clip: min(max(x, clamp_min), clamp_max) */
  CONVKIT_ACTIVATION_LEAKY_RELU = 3,   /* LeakyRelu: x >= 0 ? x : leaky_relu_alpha * x */
  CONVKIT_ACTIVATION_SIGMOID = 4,      /* Sigmoid: 1 / (1 + exp(-x)); 0 at -inf, 1 at +inf */
  CONVKIT_ACTIVATION_TANH = 5,         /* Tanh: -1 at -inf, 1 at +inf */
  CONVKIT_ACTIVATION_HARD_SIGMOID = 6, /* HardSigmoid: max(0, min(1, hard_sigmoid_alpha * x + hard_sigmoid_beta)) */
  CONVKIT_ACTIVATION_HARD_SWISH = 7,   /* HardSwish: x * max(0, min(1, x / 6 + 1 / 2)) */
  CONVKIT_ACTIVATION_SILU = 8,         /* Swish (alpha 1), PyTorch's SiLU: x * sigmoid(x); -0 at -inf */
  CONVKIT_ACTIVATION_GELU_ERF = 9,     /* Gelu, approximate "none": x / 2 * (1 + erf(x / sqrt(2))) */
  CONVKIT_ACTIVATION_GELU_TANH = 10 /* Gelu, approximate "tanh": x / 2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715x^3))) */
} convkit_activation;

/* The shape of one convolution. Initialise with convkit_conv2d_desc_init, then set the fields. */
typedef struct convkit_conv2d_desc {
  int64_t batch, in_channels, in_height, in_width, out_channels;
  int64_t kernel_height, kernel_width;
  int64_t stride_height, stride_width;
  int64_t pad_top, pad_left, pad_bottom, pad_right;
  int64_t dilation_height, dilation_width;
  int64_t groups;
  convkit_layout layout; /* of both input and output */
  convkit_weights_layout weights_layout;
} convkit_conv2d_desc;

/* STRICT computes every product of the definition; FAST lets AUTO also choose transforms with a larger, documented
   error (today Winograd, for 3x3 stride-1 layers; docs/algorithms.md, "Winograd's error", states its bounds). */
typedef enum convkit_math_mode { CONVKIT_MATH_STRICT = 0, CONVKIT_MATH_FAST = 1 } convkit_math_mode;

typedef struct convkit_options {
  convkit_algorithm algorithm;
  int32_t threads; /* 0: the library default, convkit_default_threads(); n > 0: up to n, capped at the
                      processors the process may run on (its affinity mask) and OMP_THREAD_LIMIT when set.
                      On convkit's own workers (none in a build without OpenMP), a call inside an active
                      OpenMP parallel region, or in a process fork()ed after convkit ran threads, runs on
                      the calling thread; on a caller's pool a run uses min(threads, pool width) tasks. */
  convkit_activation activation;
  float clamp_min, clamp_max; /* read only when activation is CONVKIT_ACTIVATION_CLAMP */
  convkit_math_mode math_mode;
} convkit_options;

/* Strides, dilations and groups = 1; every other field 0; NCHW; OIHW. */
void convkit_conv2d_desc_init(convkit_conv2d_desc* desc);

/* AUTO; threads 0 (library default); no activation, clamp bounds -inf/+inf; STRICT. */
void convkit_options_init(convkit_options* options);

/* Validates *desc and writes the output height and width. */
convkit_status convkit_conv2d_output_size(const convkit_conv2d_desc* desc, int64_t* out_height, int64_t* out_width);

/* Computes one convolution into output. The output must not overlap input, weights or bias; the other buffers are
   only read. On any failure the output is left untouched. Safe to call from several threads at once. */
convkit_status convkit_conv2d(const convkit_conv2d_desc* desc, const float* input, const float* weights,
                              const float* bias /* may be NULL */, float* output,
                              const convkit_options* options /* may be NULL */);

/* This thread's message for its last failed call ("" if none). Valid until this thread's next convkit call. */
const char* convkit_last_error(void);

/* A static English name of the status ("ok", "invalid argument", ...). */
const char* convkit_status_string(convkit_status status);

/* ---- Additions to the contract ---- */

/* Element counts (floats) of the four tensors of a convolution, for allocation. bias is out_channels. */
typedef struct convkit_tensor_sizes {
  int64_t input, weights, bias, output;
} convkit_tensor_sizes;

/* Validates *desc and writes the element count of each tensor. */
convkit_status convkit_conv2d_tensor_sizes(const convkit_conv2d_desc* desc, convkit_tensor_sizes* sizes);

/* A static name of the algorithm as used in benchmarks and messages ("auto", "reference", "im2col_gemm",
   "gemm_1x1", "direct", "winograd"), or "unknown". */
const char* convkit_algorithm_name(convkit_algorithm algorithm);

/* Which BLAS convkit calls and which of its kernels run on this CPU. All strings are static. */
typedef struct convkit_blas_info {
  const char* library; /* "OpenBLAS 0.3.21 ..." as the library describes its build */
  const char* core;    /* the kernel set in use, e.g. "SkylakeX"; see docs/embedding.md, "OpenBLAS on new CPUs" */
  const char* recommended_core; /* the best kernel set this CPU can run, e.g. "SkylakeX"; "" if unknown */
  int32_t degraded;             /* 1 when core is weaker than recommended_core: set OPENBLAS_CORETYPE to it */
} convkit_blas_info;

void convkit_get_blas_info(convkit_blas_info* info);

/* The algorithm a call with this descriptor and these options would run (AUTO resolved), for logging and tests.
   Validates like convkit_conv2d; answers CONVKIT_STATUS_UNSUPPORTED when a requested algorithm declines. Its
   counterparts for a plan and for a call that ran: convkit_plan_get_algorithm, convkit_conv2d_reporting (below). */
convkit_status convkit_conv2d_algorithm(const convkit_conv2d_desc* desc,
                                        const convkit_options* options /* may be NULL */, convkit_algorithm* algorithm);

/* The vector instruction set of the direct kernels on this CPU: "avx512f", "avx2+fma", "sse4.2" or "sse2". Chosen
   once, at first use: the best the CPU runs, at most the environment variable CONVKIT_MAX_ISA (sse2, sse4.2, avx2,
   avx512f) when set. A static string. */
const char* convkit_simd_isa(void);

/* ---- Plans: a convolution prepared once and run many times ----
 *
 * Creating a plan validates the descriptor and options, chooses the algorithm and copies the weights (and bias) into
 * the plan's own memory in the form that algorithm reads: the caller may free or change its buffers as soon as
 * convkit_plan_create returns. A plan is immutable afterwards, so one plan may run from several threads at once.
 * Each run needs a workspace of convkit_plan_workspace_size bytes (any alignment): with a caller workspace a run
 * allocates nothing; with NULL it uses the stack when small, else allocates and frees its own. */
typedef struct convkit_plan convkit_plan;

/* On success *plan owns everything it needs; release it with convkit_plan_destroy. On failure *plan is NULL. */
convkit_status convkit_plan_create(const convkit_conv2d_desc* desc, const float* weights,
                                   const float* bias /* may be NULL */,
                                   const convkit_options* options /* may be NULL */, convkit_plan** plan);

/* Bytes a run needs; may be 0. The same for every run of the plan. 0 for a NULL plan. */
size_t convkit_plan_workspace_size(const convkit_plan* plan);

/* The algorithm chosen, by its family name: convkit_algorithm_name of what convkit_plan_get_algorithm answers
   ("im2col_gemm", "direct", ...); a static string. "" for a NULL plan. The implementation that runs is named by
   convkit_plan_description; the enum, by convkit_plan_get_algorithm ("Which algorithm" below). */
const char* convkit_plan_algorithm(const convkit_plan* plan);

/* Computes the plan's convolution of input into output (sized as convkit_conv2d_tensor_sizes says; output must not
   overlap input). workspace may be NULL: the run then provides its own. A non-NULL workspace smaller than
   convkit_plan_workspace_size, or whose first convkit_plan_workspace_size bytes overlap input or output, is rejected
   with CONVKIT_STATUS_INVALID_ARGUMENT. Safe to call from several threads
   at once on one plan, each with its own output and workspace. On failure the output is left untouched. */
convkit_status convkit_plan_run(const convkit_plan* plan, const float* input, float* output,
                                void* workspace /* may be NULL: the run provides its own */, size_t workspace_size);

/* Frees the plan. NULL is fine. */
void convkit_plan_destroy(convkit_plan* plan);

/* ---- Fused epilogues: residual sum and activations ----
 *
 *   out = activation(conv(input) + bias + residual_scale * residual)
 *
 * The residual (when `residual` is nonzero) is a tensor of the output's shape and layout given to each run; it is
 * added before the activation, the order of a ResNet block (relu(conv(x) + identity)). It may be the output buffer
 * itself, which then accumulates in place (read before each element is written); any other overlap with the output
 * is rejected. Every algorithm applies the epilogue to each tile of the output as it stores it, never as a pass
 * over the whole output. Version 1 of the struct; later versions only add fields at the end, and struct_size tells
 * the library which one the caller compiled against. */
typedef struct convkit_epilogue {
  uint32_t struct_size; /* sizeof(convkit_epilogue): set by convkit_epilogue_init */
  convkit_activation activation;
  float clamp_min, clamp_max;                  /* CLAMP */
  float leaky_relu_alpha;                      /* LEAKY_RELU */
  float hard_sigmoid_alpha, hard_sigmoid_beta; /* HARD_SIGMOID */
  int32_t residual;                            /* nonzero: runs take a residual (convkit_plan_run_residual) */
  float residual_scale;                        /* finite */
} convkit_epilogue;

/* NONE; clamp bounds -inf/+inf; the ONNX defaults leaky_relu_alpha 0.01, hard_sigmoid_alpha 0.2, beta 0.5; no
   residual, residual_scale 1. */
void convkit_epilogue_init(convkit_epilogue* epilogue);

/* convkit_plan_create with an epilogue. options->activation must be NONE (the epilogue holds the activation).
   INVALID_ARGUMENT names the bad field: an unknown activation, a struct_size this library does not know, NaN or
   inverted clamp bounds, a non-finite parameter. */
convkit_status convkit_plan_create_fused(const convkit_conv2d_desc* desc, const float* weights,
                                         const float* bias /* may be NULL */,
                                         const convkit_options* options /* may be NULL */,
                                         const convkit_epilogue* epilogue, convkit_plan** plan);

/* convkit_plan_create_concat with an epilogue applied to every branch; the residual has the concatenated output's
   shape and layout. */
convkit_status convkit_plan_create_concat_fused(const convkit_conv2d_desc* descs, const float* const* weights,
                                                const float* const* biases /* may be NULL, or hold NULLs */,
                                                size_t count, const convkit_options* options /* may be NULL */,
                                                const convkit_epilogue* epilogue, convkit_plan** plan);

/* convkit_plan_run for a plan whose epilogue has a residual: residual has the output's shape and layout and may be
   equal to output (in place). INVALID_ARGUMENT for a plan without a residual (use convkit_plan_run), a NULL
   residual, or one that partly overlaps output or overlaps the workspace. A plan with a residual rejects
   convkit_plan_run. On failure the output is left untouched. */
convkit_status convkit_plan_run_residual(const convkit_plan* plan, const float* input, const float* residual,
                                         float* output, void* workspace /* may be NULL */, size_t workspace_size);

/* The one-shot call with an epilogue: residual is read when epilogue->residual is nonzero (else it must be NULL)
   and may equal output. */
convkit_status convkit_conv2d_fused(const convkit_conv2d_desc* desc, const float* input, const float* weights,
                                    const float* bias /* may be NULL */, const float* residual, float* output,
                                    const convkit_options* options /* may be NULL */, const convkit_epilogue* epilogue);

/* ---- The caller's thread pool ----
 *
 * For engines that own their threads (one pool for the whole process): a run given a convkit_thread_pool does all
 * its parallel work through the pool's parallel_for, starts no thread and opens no OpenMP region.
 *   parallel_for(context, task_count, task, task_argument) must call task(task_argument, i) exactly once for every
 *   i < task_count, on any of its threads and in any order (all on the calling thread is fine), and return only when
 *   every call has returned. convkit calls it from the thread that runs the plan, with task_count <= width; tasks do
 *   not throw or longjmp.
 * A run splits its work into min(plan threads, width) tasks that share it out among themselves (a task that starts
 * late finds its share taken by the others), so results are bit-identical to a run on convkit's own workers at the
 * same thread count, whatever order or threads the tasks run on. Version 1 of the struct; later versions only add
 * fields at the end, and struct_size tells the library which one the caller compiled against. */
typedef void (*convkit_task)(void* task_argument, size_t task_index);
typedef struct convkit_thread_pool {
  uint32_t struct_size; /* sizeof(convkit_thread_pool): set by convkit_thread_pool_init */
  int32_t width;        /* tasks the pool runs at once, >= 1 */
  void* context;        /* passed to parallel_for unchanged */
  void (*parallel_for)(void* context, size_t task_count, convkit_task task, void* task_argument);
} convkit_thread_pool;

/* struct_size set, width 1, context and parallel_for NULL. */
void convkit_thread_pool_init(convkit_thread_pool* pool);

/* convkit_plan_run (residual NULL) or convkit_plan_run_residual (residual given, for a plan whose epilogue has one)
   on the caller's pool: the same checks, results and thread safety. INVALID_ARGUMENT also for a NULL pool, an unknown
   struct_size, a NULL parallel_for or a width below 1. */
convkit_status convkit_plan_run_on_pool(const convkit_plan* plan, const convkit_thread_pool* pool, const float* input,
                                        const float* residual /* NULL unless the plan has a residual */, float* output,
                                        void* workspace /* may be NULL */, size_t workspace_size);

/* The most threads a run of the plan uses (options.threads, or convkit_default_threads() for 0, capped when the
   plan was made). INVALID_ARGUMENT for a NULL plan or threads; on failure nothing is written. */
convkit_status convkit_plan_get_threads(const convkit_plan* plan, int32_t* threads);

/* The threads a plan uses for options.threads = 0: OMP_NUM_THREADS when set (its first value), else the processors
   this process may run on (its affinity mask), capped at OMP_THREAD_LIMIT when set. Not the calling thread's
   omp_get_max_threads(), which another library in the process may have lowered. */
int32_t convkit_default_threads(void);

/* ---- Concatenated branches (Inception-style blocks) ---- */

/* One plan for `count` convolutions that read the same input (same batch, channels, height, width, layout)
   and produce the same output height and width; its output is their outputs concatenated along the
   channel dimension, in order. */
convkit_status convkit_plan_create_concat(const convkit_conv2d_desc* descs, const float* const* weights,
                                          const float* const* biases /* may be NULL, or hold NULLs */, size_t count,
                                          const convkit_options* options /* may be NULL */, convkit_plan** plan);
/* The output is N x (sum of out_channels) x Ho x Wo (NCHW) or N x Ho x Wo x (sum of out_channels) (NHWC); weights[i]
   is in descs[i].weights_layout. Ungrouped branches with the same kernel size, stride, padding and dilation (1x1
   projections, typically) are fused into one convolution with their weights stacked, so one GEMM computes them all;
   the others run on their own into their slice of the output. The plan copies the weights and biases; it runs with
   convkit_plan_run and is released with convkit_plan_destroy like any plan. Branches that disagree on the input or
   on the output height and width, or are invalid on their own, give CONVKIT_STATUS_INVALID_ARGUMENT and a message
   naming the branch. */

/* What a plan runs, for logs and tests: the name of the implementation, which starts with its algorithm's family
   name and says how it runs ("im2col_gemm_convkit", "direct_depthwise_nhwc", "winograd_f4x4"; docs/algorithms.md),
   or for a concatenated plan each of its convolutions (e.g. "gemm_1x1_convkit for branches 0+1+2 (176 channels,
   fused); im2col_gemm_convkit for branch 3"). For logs, not for parsing: implementations may be added or renamed
   within a major version (the family enum and its names are stable). Valid while the plan lives; "" for a NULL
   plan. convkit_plan_algorithm and convkit_plan_get_algorithm give, for a concatenated plan, the algorithm of its
   first branch. */
const char* convkit_plan_description(const convkit_plan* plan);

/* ---- "Same" padding (TensorFlow padding="SAME", ONNX auto_pad) ---- */

typedef enum convkit_same_padding_mode {
  CONVKIT_SAME_UPPER = 0, /* an odd total puts the extra element at the end (TensorFlow "SAME", ONNX SAME_UPPER) */
  CONVKIT_SAME_LOWER = 1  /* an odd total puts the extra element at the beginning (ONNX SAME_LOWER) */
} convkit_same_padding_mode;

/* The padding of one spatial dimension that makes its output size ceil(input_size / stride): the total
   max(0, (ceil(input_size / stride) - 1) * stride + (kernel_size - 1) * dilation + 1 - input_size) split over the
   two sides as `mode` says. Sizes, stride and dilation must be >= 1. */
convkit_status convkit_same_padding(int64_t input_size, int64_t kernel_size, int64_t stride, int64_t dilation,
                                    convkit_same_padding_mode mode, int64_t* pad_begin, int64_t* pad_end);

/* Sets pad_top, pad_bottom, pad_left and pad_right of *desc to "same" padding for its input size, kernel, stride
   and dilation. On failure *desc is unchanged. */
convkit_status convkit_conv2d_desc_set_same_padding(convkit_conv2d_desc* desc, convkit_same_padding_mode mode);

/* ---- Composition ---- */

/* Writes into *composed the descriptor of the single convolution equal to `second` applied to the output of
   `first`; when composed_weights is not NULL also its weights (composed->out_channels * composed->in_channels
   * composed->kernel_height * composed->kernel_width floats, in composed->weights_layout) and, when
   composed_bias is not NULL, its bias.

   It covers unpadded, undilated, ungrouped convolutions with any strides. Per dimension the composed kernel is
   k1 + (k2 - 1) * s1 and its stride s1 * s2, so its output has exactly the second's size. The weights are
     W[o][c][u][v] = sum over m, i2, j2, i1, j1 with i2*s1_h + i1 = u and j2*s1_w + j1 = v of
                     W2[o][m][i2][j2] * W1[m][c][i1][j1]
   and the bias b2[o] + sum_{m,i2,j2} W2[o][m][i2][j2] * b1[m] (a NULL bias counts as zeros), both accumulated in
   double and rounded once. first_weights and second_weights are read in their own desc's weights_layout. The
   composed convolution has first's batch, input size, layout and weights_layout, second's out_channels, no
   padding, dilations 1 and groups 1.
   Epilogues: the composition holds only when nothing but the bias lies between the two convolutions (an activation
   or a residual sum after the first is not linear in its input, so no single convolution equals the pair), which is
   why this function takes none. The second's epilogue applies unchanged to the composed convolution: give it to
   convkit_plan_create_fused with the composed descriptor.

   INVALID_ARGUMENT: an invalid descriptor; shapes that do not chain (second's batch, layout, in_channels,
   in_height and in_width must equal first's batch, layout, out_channels and output height and width); a NULL
   first, second or composed; composed_weights given without both first_weights and second_weights;
   composed_bias NULL while either bias is not (it may be NULL only when both are); composed sizes that overflow.
   UNSUPPORTED: padding (the second's zero padding would apply to the first's output, not to its input, so no
   convolution of the input gives the border outputs), dilation or groups in either convolution.
   composed_bias (second->out_channels floats) is read only when composed_weights is not NULL. On any failure
   nothing is written; everything is computed before the first write, so composed may point to *first or
   *second. Costs Co2 * Co1 * Kh2 * Kw2 * Ci1 * Kh1 * Kw1 multiply-adds when the weights are asked for. */
convkit_status convkit_compose_conv2d(const convkit_conv2d_desc* first, const float* first_weights,
                                      const float* first_bias, const convkit_conv2d_desc* second,
                                      const float* second_weights, const float* second_bias,
                                      convkit_conv2d_desc* composed, float* composed_weights, float* composed_bias);

/* ---- Which algorithm: the family enum, its name, and the implementation ----
 *
 * Three answers name what computes a convolution:
 *   the family, a convkit_algorithm (never AUTO once chosen), the stable answer to test and branch on:
 *     convkit_conv2d_algorithm    for a descriptor and options, before any call (what a call would run);
 *     convkit_conv2d_reporting    for the one-shot call that just ran (convkit_conv2d, and what it ran);
 *     convkit_plan_get_algorithm  for a plan;
 *   the family's name, a static string: convkit_algorithm_name(family); convkit_plan_algorithm is exactly that
 *     for a plan (it predates the enum form and keeps answering a string);
 *   the implementation within the family, for logs: convkit_plan_description.
 * The enum forms all return a convkit_status and write the enum through their last parameter. The plan's enum form
 * takes the "get" that convkit_get_blas_info uses for an out-parameter, since the plain name convkit_plan_algorithm
 * already answers the string. C++ (convkit.hpp): convkit::chosen_algorithm, the return value of convkit::conv2d,
 * Plan::algorithm() and Plan::description(), and convkit::algorithm_name. */

/* The algorithm chosen for the plan, as the enum; the enum form of convkit_plan_algorithm and the plan's
   counterpart of convkit_conv2d_algorithm (a plan created from a descriptor and options holds the algorithm
   convkit_conv2d_algorithm answers for them). Never AUTO. For a concatenated plan, the algorithm of its first
   branch. INVALID_ARGUMENT, with a message, for a NULL plan or a NULL algorithm; on failure nothing is written. */
convkit_status convkit_plan_get_algorithm(const convkit_plan* plan, convkit_algorithm* algorithm);

/* convkit_conv2d, which also reports the algorithm that ran: the same arguments, validation, errors, results and
   thread safety, and on success, when algorithm_used is not NULL, writes there the algorithm that computed the
   output (never AUTO; what convkit_conv2d_algorithm answers for this descriptor and these options). With
   algorithm_used NULL it is convkit_conv2d. On any failure neither output nor *algorithm_used is written.
   algorithm_used must not point into output. */
convkit_status convkit_conv2d_reporting(const convkit_conv2d_desc* desc, const float* input, const float* weights,
                                        const float* bias /* may be NULL */, float* output,
                                        const convkit_options* options /* may be NULL */,
                                        convkit_algorithm* algorithm_used /* may be NULL */);

/* ---- Packed weights: one layer's weights shared by the plans of every size ----
 * An engine that meets new batch or image sizes at run time packs a layer's weights once into a
 * convkit_packed_weights and makes a plan per size from it: such plans copy no weights. The object holds a canonical
 * copy of the weights (OIHW) and bias and every packed form a plan made from it needed; a plan needing a form it
 * lacks packs that form into it once, so its size may grow. Plans hold shared references to what they read: the
 * object may be destroyed while plans made from it live, and they keep working. Plans may be made from one object on
 * several threads at once. The saved form is documented in docs/packed-weights.md. C++: convkit::PackedWeights. */

typedef struct convkit_packed_weights convkit_packed_weights;

/* Copies weights (in desc->weights_layout) and bias (out_channels floats, or NULL) and packs the forms of the
   implementation `options` would choose for desc, whose batch and image size are the hint of the sizes to come. The
   caller may free its buffers afterwards. On success *packed is the new object (destroy it with
   convkit_packed_weights_destroy); on failure *packed is NULL. */
convkit_status convkit_packed_weights_create(const convkit_conv2d_desc* desc, const float* weights,
                                             const float* bias /* may be NULL */,
                                             const convkit_options* options /* may be NULL */,
                                             convkit_packed_weights** packed);

/* Releases the caller's handle (NULL: nothing); plans made from it keep what they read. */
void convkit_packed_weights_destroy(convkit_packed_weights* packed);

/* Bytes of every array the object holds (the canonical weights and bias and each packed form); 0 for NULL. */
size_t convkit_packed_weights_size(const convkit_packed_weights* packed);

/* A plan for desc reading the weights of packed. desc may differ from the descriptor they were packed for in batch,
   image size, padding, stride, dilation and layout; in_channels, out_channels, kernel_height, kernel_width and groups
   must match (INVALID_ARGUMENT names the field and both values). desc->weights_layout is not read. epilogue: NULL
   for a plan made from the options alone (convkit_plan_create), else as convkit_plan_create_fused. On failure *plan
   is NULL. */
convkit_status convkit_plan_create_packed(const convkit_conv2d_desc* desc, const convkit_packed_weights* packed,
                                          const convkit_options* options /* may be NULL */,
                                          const convkit_epilogue* epilogue /* may be NULL */, convkit_plan** plan);

/* Writes the object in the saved form (docs/packed-weights.md) to buffer and its byte count to *size. With buffer
   NULL only *size is written (the size query); a capacity below the size is INVALID_ARGUMENT (*size still written). */
convkit_status convkit_packed_weights_save(const convkit_packed_weights* packed, void* buffer /* may be NULL */,
                                           size_t capacity, size_t* size);

/* Reads `size` bytes saved by convkit_packed_weights_save (copied: the caller may free them afterwards). Every
   field is checked: a blob that is truncated, corrupt (checksum), of another format version or byte order, or packed
   for another ISA than this process's kernels is INVALID_ARGUMENT with a message saying what. On failure *packed is
   NULL. */
convkit_status convkit_packed_weights_load(const void* data, size_t size, convkit_packed_weights** packed);

/* ---- Transposed convolution (ONNX ConvTranspose, PyTorch conv_transpose2d, oneDNN deconvolution) ----
 *
 * The adjoint of convkit_conv2d with the same kernel, stride, pads, dilation and groups. Input N x Ci x H x W (NCHW)
 * or N x H x W x Ci (NHWC), output N x Co x Ho x Wo or N x Ho x Wo x Co, where
 *   Ho = stride_height * (H - 1) + output_padding_height + dilation_height * (Kh - 1) + 1 - pad_top - pad_bottom
 * (Wo alike) and, with g = c / (Ci/groups) and o an output channel of group g,
 *   out[n][o][y][x] = act(bias[o] + sum over c in group g, i, j with y = iy*sh - pt + i*dh and x = ix*sw - pl + j*dw
 *                         of in[n][c][iy][ix] * w[c][o - g*Co/groups][i][j]).
 * The pads crop the output; output_padding (each below its dimension's stride or dilation, as ONNX and PyTorch
 * require) adds rows and columns at the bottom and right that only the bias reaches. Weights: Ci x Co/groups x Kh x Kw
 * (CONVKIT_TRANSPOSED_WEIGHTS_IOHW, ONNX and PyTorch) or Co x Kh x Kw x Ci/groups (CONVKIT_TRANSPOSED_WEIGHTS_OHWI,
 * TensorFlow Lite's TRANSPOSE_CONV and XNNPACK). A transposed plan is a convkit_plan: it runs, reports and is destroyed
 * with the convkit_plan_* functions. C++: convkit::ConvTranspose2dDesc. */
typedef enum convkit_transposed_weights_layout {
  CONVKIT_TRANSPOSED_WEIGHTS_IOHW = 0,
  CONVKIT_TRANSPOSED_WEIGHTS_OHWI = 1
} convkit_transposed_weights_layout;

typedef struct convkit_conv_transpose2d_desc {
  int64_t batch, in_channels, in_height, in_width, out_channels;
  int64_t kernel_height, kernel_width;
  int64_t stride_height, stride_width;
  int64_t pad_top, pad_left, pad_bottom, pad_right;
  int64_t output_padding_height, output_padding_width;
  int64_t dilation_height, dilation_width;
  int64_t groups;
  convkit_layout layout; /* of both input and output */
  convkit_transposed_weights_layout weights_layout;
} convkit_conv_transpose2d_desc;

/* Strides, dilations and groups = 1; every other field 0; NCHW; IOHW. */
void convkit_conv_transpose2d_desc_init(convkit_conv_transpose2d_desc* desc);

/* Validates *desc and writes the output height and width. */
convkit_status convkit_conv_transpose2d_output_size(const convkit_conv_transpose2d_desc* desc, int64_t* out_height,
                                                    int64_t* out_width);

/* Validates *desc and writes the element count of each tensor (weights: Ci * Co/groups * Kh * Kw). */
convkit_status convkit_conv_transpose2d_tensor_sizes(const convkit_conv_transpose2d_desc* desc,
                                                     convkit_tensor_sizes* sizes);

/* ONNX's output_shape attribute: sets the four pads of *desc so that its output is out_height x out_width. Per
   dimension total = stride * (in - 1) + output_padding + dilation * (k - 1) + 1 - out; CONVKIT_SAME_UPPER puts total/2
   at the begin and the rest at the end (ONNX auto_pad SAME_UPPER), CONVKIT_SAME_LOWER the rest at the begin (ONNX's
   default). A negative total is added to output_padding instead when that stays below the stride or the dilation, else
   INVALID_ARGUMENT naming out_height or out_width. On failure *desc is unchanged. */
convkit_status convkit_conv_transpose2d_set_output_shape(convkit_conv_transpose2d_desc* desc, int64_t out_height,
                                                         int64_t out_width, convkit_same_padding_mode mode);

/* Computes one transposed convolution (buffers as convkit_conv2d's). epilogue: NULL, or as convkit_plan_create_fused
   (then residual is read when epilogue->residual is set, and may equal output). When algorithm_used is not NULL the
   algorithm that ran is written there. On any failure the output is left untouched. */
convkit_status convkit_conv_transpose2d(const convkit_conv_transpose2d_desc* desc, const float* input,
                                        const float* weights, const float* bias /* may be NULL */,
                                        const float* residual /* NULL unless epilogue->residual */, float* output,
                                        const convkit_options* options /* may be NULL */,
                                        const convkit_epilogue* epilogue /* may be NULL */,
                                        convkit_algorithm* algorithm_used /* may be NULL */);

/* A plan of a transposed convolution: copies the weights and bias; epilogue NULL or as convkit_plan_create_fused.
   On failure *plan is NULL. */
convkit_status convkit_plan_create_transposed(const convkit_conv_transpose2d_desc* desc, const float* weights,
                                              const float* bias /* may be NULL */,
                                              const convkit_options* options /* may be NULL */,
                                              const convkit_epilogue* epilogue /* may be NULL */, convkit_plan** plan);

/* The algorithm a transposed call with these options would run (AUTO resolved). */
convkit_status convkit_conv_transpose2d_algorithm(const convkit_conv_transpose2d_desc* desc,
                                                  const convkit_options* options /* may be NULL */,
                                                  convkit_algorithm* algorithm);

/* ---- 1-D convolutions (audio and sequence models) ----
 *
 * A height of 1: input N x Ci x L (layout NCHW, "NCW") or N x L x Ci (NHWC, "NWC"), output N x Co x Lo or N x Lo x Co,
 * weights Co x Ci/groups x K (OIHW, "OIW") or Co x K x Ci/groups (OHWI, "OWI"); transposed: Ci x Co/groups x K (IOHW,
 * "IOW") or Co x K x Ci/groups (OHWI). Mapped onto the 2-D calls without a copy (the tensors lie the same way):
 *   conv1d:           Lo = floor((L + pad_begin + pad_end - dilation * (K - 1) - 1) / stride) + 1
 *   conv_transpose1d: Lo = stride * (L - 1) + output_padding + dilation * (K - 1) + 1 - pad_begin - pad_end */
typedef struct convkit_conv1d_desc {
  int64_t batch, in_channels, in_length, out_channels;
  int64_t kernel_size, stride, pad_begin, pad_end, dilation, groups;
  convkit_layout layout;
  convkit_weights_layout weights_layout;
} convkit_conv1d_desc;

typedef struct convkit_conv_transpose1d_desc {
  int64_t batch, in_channels, in_length, out_channels;
  int64_t kernel_size, stride, pad_begin, pad_end, output_padding, dilation, groups;
  convkit_layout layout;
  convkit_transposed_weights_layout weights_layout;
} convkit_conv_transpose1d_desc;

/* stride, dilation and groups 1, every other field 0, NCHW ("NCW"), OIHW / IOHW. */
void convkit_conv1d_desc_init(convkit_conv1d_desc* desc);
void convkit_conv_transpose1d_desc_init(convkit_conv_transpose1d_desc* desc);

/* The 2-D descriptors the 1-D ones are (height 1, kernel height 1). Nothing is validated. */
void convkit_conv1d_desc_as_2d(const convkit_conv1d_desc* desc, convkit_conv2d_desc* desc_2d);
void convkit_conv_transpose1d_desc_as_2d(const convkit_conv_transpose1d_desc* desc,
                                         convkit_conv_transpose2d_desc* desc_2d);

/* Validate *desc and write the output length. */
convkit_status convkit_conv1d_output_length(const convkit_conv1d_desc* desc, int64_t* out_length);
convkit_status convkit_conv_transpose1d_output_length(const convkit_conv_transpose1d_desc* desc, int64_t* out_length);

/* One-shot 1-D calls: convkit_conv2d_reporting and convkit_conv_transpose2d (without epilogue) of the 2-D form. */
convkit_status convkit_conv1d(const convkit_conv1d_desc* desc, const float* input, const float* weights,
                              const float* bias /* may be NULL */, float* output,
                              const convkit_options* options /* may be NULL */,
                              convkit_algorithm* algorithm_used /* may be NULL */);
convkit_status convkit_conv_transpose1d(const convkit_conv_transpose1d_desc* desc, const float* input,
                                        const float* weights, const float* bias /* may be NULL */, float* output,
                                        const convkit_options* options /* may be NULL */,
                                        convkit_algorithm* algorithm_used /* may be NULL */);

/* Plans of 1-D convolutions (convkit_plan_create_fused / convkit_plan_create_transposed of the 2-D form). */
convkit_status convkit_plan_create_conv1d(const convkit_conv1d_desc* desc, const float* weights,
                                          const float* bias /* may be NULL */,
                                          const convkit_options* options /* may be NULL */,
                                          const convkit_epilogue* epilogue /* may be NULL */, convkit_plan** plan);
convkit_status convkit_plan_create_transposed1d(const convkit_conv_transpose1d_desc* desc, const float* weights,
                                                const float* bias /* may be NULL */,
                                                const convkit_options* options /* may be NULL */,
                                                const convkit_epilogue* epilogue /* may be NULL */,
                                                convkit_plan** plan);

/* ---- Version ---- */

/* "MAJOR.MINOR.PATCH" of the library linked in (compare with the CONVKIT_VERSION_* macros of the header compiled
   against). A static string. Within a major version the C API only grows: no function or field changes. */
const char* convkit_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CONVKIT_CONVKIT_H */
