// bench_conv: convkit's algorithms on the layer suite (benchmarks/layers.txt), against the machine's SGEMM peak.
//
//   BM_Sgemm/2048/threads:T                     a 2048^3 SGEMM through convkit (a 1x1 convolution, gemm_1x1)
//   BM_Conv/<algorithm>/<layer>/threads:T       every layer; algorithms auto, im2col_gemm, direct, gemm_1x1 (1x1
//                                               layers), reference (layers of at most 2e8 flops)
//   BM_Plan/auto/<layer>/threads:T              layers of at most 1e6 flops, through a convkit::Plan made once
//   BM_Conv/auto/<layer>_nhwc/threads:T         the same layer in NHWC with OHWI weights (and direct, if grouped)
// The layers are the shared suite (layers.txt) followed by the small-kernel shapes of small_layers.txt.
//
// Google Benchmark appends "/min_time:..." and "/real_time" to these names. T is convkit's Options::threads; each
// benchmark runs on one benchmark thread and times wall-clock (real) time. Counters:
//   GFLOPs   the layer's flops (layers.txt) per second, in GFLOP/s
//   of_peak  GFLOPs divided by the 2048^3 SGEMM rate at the same T, measured once at startup (best of 3)
// For auto, the label names the algorithm convkit chose.
//
// The suite is read from CONVKIT_LAYER_SUITE in the environment if set, else from the path compiled in.
// OpenBLAS's kernel set is fixed at startup (see blas_core.hpp); the context lines show which one ran.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "blas_core.hpp"
#include "layer_suite.hpp"
#include "measure.hpp"

#ifndef CONVKIT_LAYER_SUITE
#error "CONVKIT_LAYER_SUITE must be defined as the path of benchmarks/layers.txt"
#endif

namespace {

using convkit_bench::Layer;

constexpr int kThreadCounts[] = {1, 2};
constexpr double kPlanMaxFlops = 1e6;       // plans are benchmarked on the small layers, where overhead matters
constexpr double kReferenceMaxFlops = 2e8;  // the reference algorithm is plain loops: only on small layers
constexpr double kConvMinTime = 0.2;        // seconds per benchmark unless --benchmark_min_time is given
constexpr int kPeakRuns = 3;                // timed runs (after one warm-up) per thread count for the peak

// A 2048 x 2048 x 2048 SGEMM as a convolution: a 1x1 NCHW layer is out[Co x HW] = W[Co x Ci] * in[Ci x HW], so
// M = Co = 2048, K = Ci = 2048, N = H * W = 32 * 64 = 2048. gemm_1x1 reads such an input in place: one cblas_sgemm.
Layer sgemm_layer() {
  Layer layer;
  layer.name = "sgemm_2048";
  convkit::Conv2dDesc& d = layer.desc;
  d.batch = 1;
  d.in_channels = 2048;
  d.in_height = 32;
  d.in_width = 64;
  d.out_channels = 2048;
  d.kernel_height = d.kernel_width = 1;
  return layer;
}

std::vector<float> random_floats(std::int64_t count, std::uint32_t seed) {
  std::vector<float> values(static_cast<std::size_t>(count));
  convkit_bench::fill_random(values.data(), values.size(), seed);
  return values;
}

// The tensors of one convolution: random uniform [-1, 1] data from fixed seeds, and a zeroed output.
struct Tensors {
  std::vector<float> input, weights, bias, output;

  Tensors(const convkit::Conv2dDesc& desc, bool with_bias) {
    const convkit::TensorSizes sizes = convkit::tensor_sizes(desc);  // throws convkit::Error on a bad shape
    input = random_floats(sizes.input, 1);
    weights = random_floats(sizes.weights, 2);
    if (with_bias) bias = random_floats(sizes.bias, 3);
    output.assign(static_cast<std::size_t>(sizes.output), 0.0f);
  }

  convkit::Algorithm run(const convkit::Conv2dDesc& desc, const convkit::Options& options) {
    return convkit::conv2d(desc, input.data(), weights.data(), bias.empty() ? nullptr : bias.data(), output.data(),
                           options);
  }
};

convkit::Options options_for(convkit::Algorithm algorithm, int threads) {
  convkit::Options options;
  options.algorithm = algorithm;
  options.threads = threads;
  return options;
}

// The best GFLOP/s of kPeakRuns timed 2048^3 SGEMMs through convkit on `threads` threads, after one warm-up.
double measure_peak_gflops(int threads) {
  const Layer layer = sgemm_layer();
  Tensors tensors(layer.desc, /*with_bias=*/false);
  const convkit::Options options = options_for(convkit::Algorithm::Gemm1x1, threads);
  tensors.run(layer.desc, options);
  double best = 0.0;
  for (int run = 0; run < kPeakRuns; ++run) {
    const auto start = std::chrono::steady_clock::now();
    tensors.run(layer.desc, options);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    best = std::max(best, layer.flops() * 1e-9 / elapsed.count());
  }
  return best;
}

// One benchmark: `layer` by `algorithm` on `threads` threads; peak_gflops is the SGEMM rate at `threads`.
void run_conv(benchmark::State& state, const Layer& layer, convkit::Algorithm algorithm, int threads,
              double peak_gflops, bool with_bias) {
  const convkit::Options options = options_for(algorithm, threads);
  convkit::Algorithm ran = algorithm;
  try {
    Tensors tensors(layer.desc, with_bias);
    // Outside the timing: fails early on an unsupported shape, and touches the output and the library's caches.
    ran = tensors.run(layer.desc, options);
    for (auto _ : state) {
      tensors.run(layer.desc, options);
      benchmark::DoNotOptimize(tensors.output.data());
      benchmark::ClobberMemory();
    }
  } catch (const convkit::Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  const double gflop = layer.flops() * 1e-9;
  // Iteration-invariant rates: value * iterations / real time, i.e. GFLOP/s and GFLOP/s divided by the peak.
  state.counters["GFLOPs"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  if (peak_gflops > 0.0)
    state.counters["of_peak"] = benchmark::Counter(gflop / peak_gflops, benchmark::Counter::kIsIterationInvariantRate);
  if (algorithm == convkit::Algorithm::Auto) state.SetLabel(std::string("chose ") + convkit::algorithm_name(ran));
}

// The same layer through a convkit::Plan made once outside the timing, run with a caller workspace: the per-call
// cost an inference engine pays, beside the one-shot call of run_conv.
void run_plan(benchmark::State& state, const Layer& layer, convkit::Algorithm algorithm, int threads) {
  try {
    Tensors tensors(layer.desc, /*with_bias=*/true);
    const convkit::Plan plan(layer.desc, tensors.weights.data(), tensors.bias.data(), options_for(algorithm, threads));
    std::vector<unsigned char> workspace(plan.workspace_size());
    for (auto _ : state) {
      plan.run(tensors.input.data(), tensors.output.data(), workspace.data(), workspace.size());
      benchmark::DoNotOptimize(tensors.output.data());
      benchmark::ClobberMemory();
    }
    state.counters["GFLOPs"] = benchmark::Counter(layer.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(std::string("plan uses ") + convkit::algorithm_name(plan.algorithm()));
  } catch (const convkit::Error& e) {
    state.SkipWithError(e.what());
  }
}

// GoogLeNet's inception 3a block reads a 192 x 28 x 28 input with three 1x1 projections: to 64 channels (a branch
// of the block's output), to 96 (then a 3x3 to 128) and to 16 (then a 5x5 to 32). They read the same input, so one
// concatenated plan computes all three as one GEMM of 176 output channels.
//   BM_Inception3a/projections_fused/<layout>/threads:T      the three 1x1s as one concatenated plan
//   BM_Inception3a/projections_separate/<layout>/threads:T   three plans, one after the other
//   BM_Inception3a/block_fused/nchw/threads:T                the fused projections, then the 3x3 and the 5x5 on
//                                                            their channel slices (contiguous in NCHW, batch 1)
//   BM_Inception3a/block_separate/nchw/threads:T             five plans
// GFLOPs counts the projections' (or the block's) flops.
struct Inception3a {
  static convkit::Conv2dDesc conv(std::int64_t in, std::int64_t out, std::int64_t kernel, convkit::Layout layout) {
    convkit::Conv2dDesc d;
    d.batch = 1;
    d.in_channels = in;
    d.in_height = d.in_width = 28;
    d.out_channels = out;
    d.kernel_height = d.kernel_width = kernel;
    d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = kernel / 2;
    d.layout = layout;
    d.weights_layout = layout == convkit::Layout::NHWC ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
    return d;
  }
  static double flops(const convkit::Conv2dDesc& d) {
    return 2.0 * static_cast<double>(convkit::tensor_sizes(d).output) * static_cast<double>(d.in_channels) *
           static_cast<double>(d.kernel_height * d.kernel_width);
  }
};

void run_inception(benchmark::State& state, convkit::Layout layout, bool fused, bool whole_block, int threads) {
  try {
    const convkit::Options options = options_for(convkit::Algorithm::Auto, threads);
    const std::vector<convkit::Conv2dDesc> projections{Inception3a::conv(192, 64, 1, layout),
                                                       Inception3a::conv(192, 96, 1, layout),
                                                       Inception3a::conv(192, 16, 1, layout)};
    const convkit::Conv2dDesc conv3 = Inception3a::conv(96, 128, 3, layout),
                              conv5 = Inception3a::conv(16, 32, 5, layout);
    const std::vector<float> input = random_floats(192 * 28 * 28, 1);
    std::vector<std::vector<float>> weights;
    for (const convkit::Conv2dDesc& d : projections)
      weights.push_back(random_floats(convkit::tensor_sizes(d).weights, 2));
    const std::vector<float> bias = random_floats(96, 3);
    const std::vector<float> weights3 = random_floats(convkit::tensor_sizes(conv3).weights, 4);
    const std::vector<float> weights5 = random_floats(convkit::tensor_sizes(conv5).weights, 5);
    const convkit::Plan plan3(conv3, weights3.data(), bias.data(), options),
        plan5(conv5, weights5.data(), bias.data(), options);
    std::vector<float> projected(176 * 28 * 28), out3(128 * 28 * 28), out5(32 * 28 * 28);
    const std::int64_t pixels = 28 * 28;
    double flops = 0;
    for (const convkit::Conv2dDesc& d : projections) flops += Inception3a::flops(d);
    if (whole_block) flops += Inception3a::flops(conv3) + Inception3a::flops(conv5);

    std::vector<convkit::Plan> plans;
    if (fused) {
      std::vector<convkit::ConcatBranch> branches;
      for (std::size_t b = 0; b < 3; ++b) branches.push_back({projections[b], weights[b].data(), bias.data()});
      plans.emplace_back(branches, options);
      state.SetLabel(plans.back().description());
    } else {
      for (std::size_t b = 0; b < 3; ++b) plans.emplace_back(projections[b], weights[b].data(), bias.data(), options);
    }
    std::size_t workspace_bytes = std::max(plan3.workspace_size(), plan5.workspace_size());
    for (const convkit::Plan& plan : plans) workspace_bytes = std::max(workspace_bytes, plan.workspace_size());
    std::vector<unsigned char> workspace(workspace_bytes);
    // Separate plans write their own tensors; the block's 3x3 and 5x5 read the reductions from there.
    std::vector<float> separate64(64 * pixels), separate96(96 * pixels), separate16(16 * pixels);
    float* separate_outputs[3] = {separate64.data(), separate96.data(), separate16.data()};
    for (auto _ : state) {
      const float* reduced96;
      const float* reduced16;
      if (fused) {
        plans[0].run(input.data(), projected.data(), workspace.data(), workspace.size());
        reduced96 = projected.data() + 64 * pixels;  // a channel slice of an NCHW image is contiguous
        reduced16 = projected.data() + 160 * pixels;
      } else {
        for (std::size_t b = 0; b < 3; ++b)
          plans[b].run(input.data(), separate_outputs[b], workspace.data(), workspace.size());
        reduced96 = separate96.data();
        reduced16 = separate16.data();
      }
      if (whole_block) {
        plan3.run(reduced96, out3.data(), workspace.data(), workspace.size());
        plan5.run(reduced16, out5.data(), workspace.data(), workspace.size());
      }
      benchmark::ClobberMemory();
    }
    state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  } catch (const convkit::Error& e) {
    state.SkipWithError(e.what());
  }
}

void register_inception_benchmarks() {
  for (const int threads : kThreadCounts) {
    for (const convkit::Layout layout : {convkit::Layout::NCHW, convkit::Layout::NHWC}) {
      const std::string layout_name = layout == convkit::Layout::NCHW ? "nchw" : "nhwc";
      for (const bool fused : {true, false}) {
        for (const bool whole_block : {false, true}) {
          if (whole_block && layout == convkit::Layout::NHWC) continue;  // NHWC slices are not contiguous
          const std::string name = std::string("BM_Inception3a/") + (whole_block ? "block_" : "projections_") +
                                   (fused ? "fused/" : "separate/") + layout_name +
                                   "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(),
                                       [layout, fused, whole_block, threads](benchmark::State& state) {
                                         run_inception(state, layout, fused, whole_block, threads);
                                       })
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
}

bool has_flag(int argc, char** argv, const char* flag) {
  const std::size_t length = std::strlen(flag);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], flag, length) == 0 && (argv[i][length] == '\0' || argv[i][length] == '=')) return true;
  }
  return false;
}

std::string format_gflops(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

void register_benchmarks(const std::vector<Layer>& suite, const std::map<int, double>& peaks) {
  const Layer sgemm = sgemm_layer();
  for (const int threads : kThreadCounts) {
    const double peak = peaks.at(threads);
    benchmark::RegisterBenchmark(("BM_Sgemm/2048/threads:" + std::to_string(threads)).c_str(),
                                 [sgemm, threads, peak](benchmark::State& state) {
                                   run_conv(state, sgemm, convkit::Algorithm::Gemm1x1, threads, peak, false);
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }

  struct Variant {
    convkit::Algorithm algorithm;
    convkit::Layout layout;
  };
  for (const Layer& nchw : suite) {
    std::vector<Variant> variants{{convkit::Algorithm::Auto, convkit::Layout::NCHW},
                                  {convkit::Algorithm::Im2colGemm, convkit::Layout::NCHW},
                                  {convkit::Algorithm::Direct, convkit::Layout::NCHW}};
    if (nchw.is_1x1()) variants.push_back({convkit::Algorithm::Gemm1x1, convkit::Layout::NCHW});
    if (nchw.flops() <= kReferenceMaxFlops) variants.push_back({convkit::Algorithm::Reference, convkit::Layout::NCHW});
    variants.push_back({convkit::Algorithm::Auto, convkit::Layout::NHWC});
    if (nchw.desc.groups > 1) variants.push_back({convkit::Algorithm::Direct, convkit::Layout::NHWC});

    // Small layers also through a plan, where the per-call overhead shows.
    if (nchw.flops() <= kPlanMaxFlops) {
      for (const int threads : kThreadCounts) {
        const std::string name = std::string("BM_Plan/auto/") + nchw.name + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(
            name.c_str(),
            [nchw, threads](benchmark::State& state) { run_plan(state, nchw, convkit::Algorithm::Auto, threads); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
    for (const Variant& variant : variants) {
      const Layer layer = nchw.with_layout(variant.layout);
      const std::string suffix = variant.layout == convkit::Layout::NHWC ? "_nhwc" : "";
      for (const int threads : kThreadCounts) {
        const double peak = peaks.at(threads);
        const std::string name = std::string("BM_Conv/") + convkit::algorithm_name(variant.algorithm) + "/" +
                                 layer.name + suffix + "/threads:" + std::to_string(threads);
        const convkit::Algorithm algorithm = variant.algorithm;
        benchmark::internal::Benchmark* bench =
            benchmark::RegisterBenchmark(name.c_str(), [layer, algorithm, threads, peak](benchmark::State& state) {
              run_conv(state, layer, algorithm, threads, peak, /*with_bias=*/true);
            });
        bench->UseRealTime()->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // First, with the untouched argv: this may re-execute the program with OPENBLAS_CORETYPE set.
  convkit_bench::ensure_best_blas_core(argc, argv);

  // Before benchmark::Initialize, which removes the flags it recognises from argv.
  const bool list_only = has_flag(argc, argv, "--benchmark_list_tests");
  // A default time per benchmark that keeps the whole suite within minutes, given as a flag (not MinTime()) so that
  // the command line can still override it and benchmark names stay the same either way.
  std::vector<char*> args(argv, argv + argc);
  std::string default_min_time = "--benchmark_min_time=" + std::to_string(kConvMinTime);
  if (!has_flag(argc, argv, "--benchmark_min_time")) args.insert(args.begin() + 1, default_min_time.data());
  int arg_count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&arg_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(arg_count, args.data())) return 1;

  const char* suite_override = std::getenv("CONVKIT_LAYER_SUITE");
  const std::string suite_path =
      suite_override != nullptr && suite_override[0] != '\0' ? suite_override : CONVKIT_LAYER_SUITE;
  std::vector<Layer> suite;
  try {
    suite = convkit_bench::load_layer_suite(suite_path);
    if (suite_override == nullptr || suite_override[0] == '\0') {
      const std::vector<Layer> small = convkit_bench::load_layer_suite(CONVKIT_SMALL_LAYERS);
      suite.insert(suite.end(), small.begin(), small.end());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv: %s\n", e.what());
    return 1;
  }
  if (suite.empty()) {
    std::fprintf(stderr, "bench_conv: %s: the layer suite has no layers\n", suite_path.c_str());
    return 1;
  }

  const convkit::BlasInfo blas = convkit::blas_info();
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  benchmark::AddCustomContext("blas_library", blas.library);
  benchmark::AddCustomContext(
      "blas_core", blas.core + (blas.degraded ? " (degraded; this CPU could run " + blas.recommended_core + ")" : ""));
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", coretype != nullptr ? coretype : "(unset)");
  benchmark::AddCustomContext("layer_suite", suite_path);

  // The peak is only needed when benchmarks run; listing them should be instant.
  std::map<int, double> peaks;
  for (const int threads : kThreadCounts) {
    double peak = 0.0;
    if (!list_only) {
      try {
        peak = measure_peak_gflops(threads);
      } catch (const convkit::Error& e) {
        std::fprintf(stderr, "bench_conv: cannot measure the SGEMM peak on %d threads: %s\n", threads, e.what());
      }
      benchmark::AddCustomContext("peak_gflops_T" + std::to_string(threads), format_gflops(peak));
    }
    peaks[threads] = peak;
  }

  register_benchmarks(suite, peaks);
  register_inception_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
