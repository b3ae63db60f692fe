// convkit_bench: convkit on the layer suite (or on shapes given on the command line), as a table beside three
// yardsticks measured in the same run:
//
//   of peak    the machine's practical peak: a bare 2048^3 cblas_sgemm at the same thread count;
//   sgemm      bare cblas_sgemm on the layer's own GEMM shape (im2col_gemm_shape in bare_sgemm.hpp), the better of
//              its two orientations: the ceiling of the im2col design;
//   oneDNN     oneDNN's direct convolution in its preferred layouts (when built with libdnnl-dev).
//
// Every figure is the median per-call time of one rule (measure.hpp: warm-up, then at least --min-time seconds and
// three samples), and every GFLOP/s counts the layer's 2*N*Co*Ho*Wo*(Ci/groups)*Kh*Kw flops. convkit runs through a
// Plan made once, with a workspace of plan.workspace_size() bytes; "ws/thread" is that size over the thread count.
// Run with --help for the options. Exit status: 0, 1 when a measurement failed, 2 for bad options or suite files.
#include <getopt.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <convkit/convkit.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bare_sgemm.hpp"
#include "blas_core.hpp"
#include "layer_suite.hpp"
#include "measure.hpp"
#include "network_blocks.hpp"
#include "profile.hpp"  // lib/: the phase timers behind --breakdown
#include "report_formats.hpp"
#include "std_thread_pool.hpp"  // examples/: an engine's pool, for --pool
#include "svg_chart.hpp"
#include "transposed.hpp"  // lib/: transposed_plan_with, for --transposed --implementations
#ifdef CONVKIT_BENCH_HAVE_DNNL
#include "onednn_conv.hpp"
#include "onednn_deconv.hpp"
#endif

#ifndef CONVKIT_LAYER_SUITE
#error "CONVKIT_LAYER_SUITE must be defined as the path of benchmarks/layers.txt"
#endif
#ifndef CONVKIT_DECODER_SUITE
#error "CONVKIT_DECODER_SUITE must be defined as the path of benchmarks/decoder_layers.txt"
#endif

namespace {

using convkit_bench::GemmOrientation;
using convkit_bench::Layer;
using convkit_bench::Record;
using convkit_bench::Timing;
using convkit_bench::TransposedLayer;
using convkit_bench::Value;

constexpr const char* kProgram = "convkit_bench";
// Layers whose names start with this are the lesson's hand-checkable toys: measured, but left out of the summaries,
// where their sub-microsecond calls would only add noise.
constexpr const char* kToyPrefix = "seed_";
// The workspace budget the GEMM path must keep to; rows above it are flagged.
constexpr double kWorkspaceBudgetPerThread = 2.0 * 1024 * 1024;
constexpr int kPeakSize = 2048;

// Every algorithm, for parsing names (convkit::algorithm_name spells them) and for --help.
constexpr convkit::Algorithm kAllAlgorithms[] = {convkit::Algorithm::Auto,        convkit::Algorithm::Im2colGemm,
                                                 convkit::Algorithm::Gemm1x1,     convkit::Algorithm::Direct,
                                                 convkit::Algorithm::Winograd,    convkit::Algorithm::Reference,
                                                 convkit::Algorithm::ImplicitGemm};

bool is_toy(const Layer& layer) { return layer.name.rfind(kToyPrefix, 0) == 0; }

const char* layout_name(convkit::Layout layout) { return layout == convkit::Layout::NHWC ? "nhwc" : "nchw"; }

double missing() { return std::nan(""); }

// ---------------------------------------------------------------------------------------------------------------
// Options

// A bad command line or suite file: reported with a hint to --help, exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Config {
  std::vector<std::string> suite_paths;  // empty: CONVKIT_LAYER_SUITE from the environment, else the compiled-in one
  std::vector<std::string> layer_names;  // --layers; empty: all (or none when --shape is given)
  std::vector<Layer> shapes;             // --shape
  std::vector<convkit::Algorithm> algorithms{convkit::Algorithm::Auto, convkit::Algorithm::Im2colGemm};
  std::vector<int> threads{1, 2};
  std::vector<convkit::Layout> layouts{convkit::Layout::NCHW};
  double min_time = 0.3;
  convkit::MathMode math_mode = convkit::MathMode::Strict;  // of every convkit measurement; auto's choice depends on it
  std::string csv_path, json_path, svg_path;
  bool onednn = true;
  bool quiet = false;
  bool breakdown = false;
  int neighbours = 0;       // --neighbours: busy processes beside the measurements
  bool blocks = false;      // --blocks: whole network blocks instead of the layers
  bool pool = false;        // --pool: convkit's own workers against a caller's thread pool
  bool creation = false;    // --creation: what making plans costs, from raw weights and from packed weights
  bool transposed = false;  // --transposed: the decoder suite's transposed convolutions
  std::vector<std::string> implementations;  // --implementations (with --transposed): named ones besides auto
};

void print_help(std::FILE* out) {
  std::string algorithms;
  for (const convkit::Algorithm algorithm : kAllAlgorithms)
    algorithms += std::string(algorithms.empty() ? "" : ",") + convkit::algorithm_name(algorithm);
  std::fprintf(out,
               "Usage: %s [OPTION]...\n"
               "Times convkit on the layer suite and prints a table beside the machine's SGEMM peak, bare OpenBLAS\n"
               "on each layer's GEMM shape, and oneDNN.\n"
               "\n"
               "Layers:\n"
               "  --suite=FILE          a layer-suite file (format: benchmarks/layers.txt); repeatable. Default:\n"
               "                        $CONVKIT_LAYER_SUITE, else %s\n"
               "  --layers=NAME,...     only these layers of the suite, in this order (default: all of them)\n"
               "  --shape=\"NAME N Ci H W Co Kh Kw stride pad dilation groups\"\n"
               "                        a layer given in the suite's format; repeatable. With --shape the suite is\n"
               "                        used only for the layers --layers names.\n"
               "What to measure:\n"
               "  --algorithms=A,...    convkit algorithms, of %s (default: auto,im2col_gemm);\n"
               "                        a layer an algorithm does not handle gets a '-' row\n"
               "  --threads=T,...       thread counts (default: 1,2)\n"
               "  --layout=L            nchw, nhwc (OHWI weights) or both (default: nchw)\n"
               "  --math=M              strict or fast: the math mode of every convkit run; in fast mode auto\n"
               "                        may choose Winograd (default: strict)\n"
               "  --min-time=SECONDS    time per measurement, at least three samples (default: 0.3)\n"
               "  --neighbours=N        run N busy-looping processes beside every measurement after the peaks (a\n"
               "                        server's other work on shared cores) and print each layer's time at every\n"
               "                        thread count over its time at 1 thread, convkit's and oneDNN's\n"
               "  --no-onednn           skip the oneDNN comparison%s\n"
               "  --blocks              time whole network blocks end to end instead of layers (a ResNet-50\n"
               "                        bottleneck, MobileNetV2 and V3 inverted residuals, Inception 3a): convkit\n"
               "                        with fused epilogues (Plan + Epilogue, run_residual), the same plans with\n"
               "                        the residual and activation as separate passes, and oneDNN with post-ops;\n"
               "                        checks fused against unfused first (exit status 1 beyond 1e-3). Takes\n"
               "                        --threads, --layout, --math, --min-time, --no-onednn and --quiet only\n"
               "  --pool                time each layer's auto plan on convkit's own workers and on a caller's\n"
               "                        thread pool of the same width (Plan::run_on, examples/std_thread_pool.hpp),\n"
               "                        alternated; then each call after an OpenMP loop of the application's own, on\n"
               "                        convkit's workers and on the application's OpenMP as the caller's pool; with\n"
               "                        --neighbours, beside busy processes. Takes the layer options, --threads,\n"
               "                        --layout, --math, --min-time, --neighbours and --quiet\n"
               "  --creation            time making plans instead of running them, per layer: a plan from the raw\n"
               "                        weights, PackedWeights from them, a plan from the shared PackedWeights for\n"
               "                        the same size and for batch 2, save, load, and a plan from the loaded\n"
               "                        weights. Takes the layer options, --threads, --layout, --math, --min-time\n"
               "                        and --quiet only\n"
               "  --transposed          time transposed convolutions (ONNX ConvTranspose) instead: each layer of the\n"
               "                        decoder suite (default: $CONVKIT_DECODER_SUITE, else %s;\n"
               "                        --suite and --layers choose others) with convkit's auto plan against\n"
               "                        oneDNN's deconvolution, alternated, and the largest difference of their\n"
               "                        outputs. Takes the layer options, --threads, --layout, --math, --min-time,\n"
               "                        --no-onednn, --quiet and --implementations only\n"
               "  --implementations=I,...  with --transposed: also time these of convkit's transposed\n"
               "                        implementations, bound by name (all: every one but conv_transpose_reference),\n"
               "                        each after the auto plans; an implementation that declines a layer gets no\n"
               "                        row. Then the fastest of them per layer\n"
               "Output (the table always goes to standard output):\n"
               "  --csv=FILE            one line per measurement\n"
               "  --json=FILE           the run's context and one object per measurement\n"
               "  --svg=FILE            a chart of GFLOP/s per layer against the peak, a panel per thread count\n"
               "  --quiet               no progress lines on standard error\n"
               "  --breakdown           after each convkit measurement, time more runs with convkit's phase timers\n"
               "                        on and print where the time went: unfolding (band copies, staging, input\n"
               "                        transforms), multiplying, epilogue (transposes, output transforms, separate\n"
               "                        bias/activation passes) and the rest (waiting, idle threads, dispatch);\n"
               "                        weights are packed when a plan is made, never in a run\n"
               "  -h, --help            this text\n"
               "\n"
               "Exit status: 0 on success, 1 if a measurement failed (the others still run), 2 for bad options.\n",
               kProgram, CONVKIT_LAYER_SUITE, algorithms.c_str(),
#ifdef CONVKIT_BENCH_HAVE_DNNL
               "",
#else
               " (this build has no oneDNN)",
#endif
               CONVKIT_DECODER_SUITE);
}

std::vector<std::string> split_list(const std::string& text, const char* option) {
  std::vector<std::string> items;
  std::string item;
  std::istringstream stream(text);
  while (std::getline(stream, item, ',')) {
    if (item.empty()) throw UsageError(std::string(option) + ": empty item in '" + text + "'");
    items.push_back(item);
  }
  if (items.empty()) throw UsageError(std::string(option) + " needs at least one value");
  return items;
}

// Appends value unless already present: a repeated value would only measure the same thing twice.
template <typename T>
void append_unique(std::vector<T>& values, const T& value) {
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
}

convkit::Algorithm parse_algorithm(const std::string& name) {
  for (const convkit::Algorithm algorithm : kAllAlgorithms)
    if (name == convkit::algorithm_name(algorithm)) return algorithm;
  throw UsageError("--algorithms: unknown algorithm '" + name + "' (see --help)");
}

int parse_thread_count(const std::string& text) {
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || value < 1 || value > 1024)
    throw UsageError("--threads: '" + text + "' is not a thread count from 1 to 1024");
  return static_cast<int>(value);
}

double parse_seconds(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(value > 0.0) || value > 3600.0)
    throw UsageError("--min-time: '" + text + "' is not a number of seconds in (0, 3600]");
  return value;
}

Config parse_options(int argc, char** argv) {
  enum : int {
    kSuite = 256,
    kLayers,
    kShape,
    kAlgorithms,
    kThreads,
    kLayout,
    kMinTime,
    kMath,
    kCsv,
    kJson,
    kSvg,
    kNoOnednn,
    kQuiet,
    kBreakdown,
    kNeighbours,
    kBlocks,
    kPool,
    kCreation,
    kTransposed,
    kImplementations
  };
  static const option kOptions[] = {{"suite", required_argument, nullptr, kSuite},
                                    {"layers", required_argument, nullptr, kLayers},
                                    {"shape", required_argument, nullptr, kShape},
                                    {"algorithms", required_argument, nullptr, kAlgorithms},
                                    {"threads", required_argument, nullptr, kThreads},
                                    {"layout", required_argument, nullptr, kLayout},
                                    {"min-time", required_argument, nullptr, kMinTime},
                                    {"math", required_argument, nullptr, kMath},
                                    {"csv", required_argument, nullptr, kCsv},
                                    {"json", required_argument, nullptr, kJson},
                                    {"svg", required_argument, nullptr, kSvg},
                                    {"no-onednn", no_argument, nullptr, kNoOnednn},
                                    {"quiet", no_argument, nullptr, kQuiet},
                                    {"breakdown", no_argument, nullptr, kBreakdown},
                                    {"neighbours", required_argument, nullptr, kNeighbours},
                                    {"blocks", no_argument, nullptr, kBlocks},
                                    {"pool", no_argument, nullptr, kPool},
                                    {"creation", no_argument, nullptr, kCreation},
                                    {"transposed", no_argument, nullptr, kTransposed},
                                    {"implementations", required_argument, nullptr, kImplementations},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};

  Config config;
  bool algorithms_given = false, threads_given = false;
  int code;
  opterr = 0;  // the messages below name the program as the others do, not as argv[0]
  while ((code = getopt_long(argc, argv, ":h", kOptions, nullptr)) != -1) {
    const std::string value = optarg != nullptr ? optarg : "";
    switch (code) {
      case 'h':
        print_help(stdout);
        std::exit(0);
      case kSuite:
        config.suite_paths.push_back(value);
        break;
      case kLayers:
        for (const std::string& name : split_list(value, "--layers")) append_unique(config.layer_names, name);
        break;
      case kShape: {
        std::istringstream line(value);
        std::vector<Layer> layers;
        try {
          layers = convkit_bench::parse_layer_suite(line, "--shape");
        } catch (const std::runtime_error& e) {
          throw UsageError(e.what());
        }
        if (layers.size() != 1) throw UsageError("--shape=\"" + value + "\": expected one layer");
        config.shapes.push_back(layers.front());
        break;
      }
      case kAlgorithms:
        if (!algorithms_given) config.algorithms.clear();
        algorithms_given = true;
        for (const std::string& name : split_list(value, "--algorithms"))
          append_unique(config.algorithms, parse_algorithm(name));
        break;
      case kThreads:
        if (!threads_given) config.threads.clear();
        threads_given = true;
        for (const std::string& count : split_list(value, "--threads"))
          append_unique(config.threads, parse_thread_count(count));
        break;
      case kLayout:
        if (value == "nchw")
          config.layouts = {convkit::Layout::NCHW};
        else if (value == "nhwc")
          config.layouts = {convkit::Layout::NHWC};
        else if (value == "both")
          config.layouts = {convkit::Layout::NCHW, convkit::Layout::NHWC};
        else
          throw UsageError("--layout: '" + value + "' is not nchw, nhwc or both");
        break;
      case kMinTime:
        config.min_time = parse_seconds(value);
        break;
      case kMath:
        if (value == "strict")
          config.math_mode = convkit::MathMode::Strict;
        else if (value == "fast")
          config.math_mode = convkit::MathMode::Fast;
        else
          throw UsageError("--math: '" + value + "' is not strict or fast");
        break;
      case kCsv:
        config.csv_path = value;
        break;
      case kJson:
        config.json_path = value;
        break;
      case kSvg:
        config.svg_path = value;
        break;
      case kNoOnednn:
        config.onednn = false;
        break;
      case kQuiet:
        config.quiet = true;
        break;
      case kBreakdown:
        config.breakdown = true;
        break;
      case kNeighbours: {
        char* end = nullptr;
        const long count = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || count < 0 || count > 64)
          throw UsageError("--neighbours: expected a count from 0 to 64, got '" + value + "'");
        config.neighbours = static_cast<int>(count);
        break;
      }
      case kBlocks:
        config.blocks = true;
        break;
      case kPool:
        config.pool = true;
        break;
      case kCreation:
        config.creation = true;
        break;
      case kTransposed:
        config.transposed = true;
        break;
      case kImplementations:
        for (const std::string& name : split_list(value, "--implementations"))
          append_unique(config.implementations, name);
        break;
      case ':':
        throw UsageError(std::string("option '") + argv[optind - 1] + "' requires an argument");
      default:  // '?': optopt is the unknown short option, or 0 for a long one (then in argv[optind - 1])
        throw UsageError("unrecognized option '" +
                         (optopt != 0 ? std::string("-") + static_cast<char>(optopt) : std::string(argv[optind - 1])) +
                         "'");
    }
  }
  if (optind < argc) throw UsageError(std::string("unexpected argument '") + argv[optind] + "'");
  if (config.blocks && (!config.suite_paths.empty() || !config.layer_names.empty() || !config.shapes.empty() ||
                        algorithms_given || !config.csv_path.empty() || !config.json_path.empty() ||
                        !config.svg_path.empty() || config.breakdown || config.neighbours > 0))
    throw UsageError("--blocks takes --threads, --layout, --math, --min-time, --no-onednn and --quiet only");
  if (config.pool && (config.blocks || config.creation || algorithms_given || !config.csv_path.empty() ||
                      !config.json_path.empty() || !config.svg_path.empty() || config.breakdown))
    throw UsageError(
        "--pool takes the layer options, --threads, --layout, --math, --min-time, --neighbours and --quiet");
  if (config.creation && (config.blocks || algorithms_given || !config.csv_path.empty() || !config.json_path.empty() ||
                          !config.svg_path.empty() || config.breakdown || config.neighbours > 0))
    throw UsageError("--creation takes the layer options, --threads, --layout, --math, --min-time and --quiet only");
  if (config.transposed && (config.blocks || config.pool || config.creation || !config.shapes.empty() ||
                            algorithms_given || !config.csv_path.empty() || !config.json_path.empty() ||
                            !config.svg_path.empty() || config.breakdown || config.neighbours > 0))
    throw UsageError(
        "--transposed takes the layer options (--suite, --layers), --threads, --layout, --math, --min-time, "
        "--no-onednn, --quiet and --implementations only");
  if (!config.implementations.empty() && !config.transposed)
    throw UsageError("--implementations goes with --transposed");
  // all: every implementation but the scalar reference, which is there for the tests (seconds per call on the
  // U-Net layers); naming it still times it.
  if (config.implementations == std::vector<std::string>{"all"}) {
    config.implementations.clear();
    for (const std::string& name : convkit::detail::transposed_implementation_names())
      if (name != "conv_transpose_reference") config.implementations.push_back(name);
  }
#ifndef CONVKIT_BENCH_HAVE_DNNL
  config.onednn = false;
#endif
  return config;
}

// The layers to measure: the suite's (all, or those --layers names), then the --shape ones. Names must be unique
// across both, since they identify rows in every output.
std::vector<Layer> select_layers(const Config& config, std::vector<std::string>& suite_paths) {
  std::vector<Layer> suite;
  const bool use_suite = config.shapes.empty() || !config.layer_names.empty();
  if (use_suite) {
    suite_paths = config.suite_paths;
    if (suite_paths.empty()) {
      const char* from_environment = std::getenv("CONVKIT_LAYER_SUITE");
      suite_paths.push_back(from_environment != nullptr && from_environment[0] != '\0' ? from_environment
                                                                                       : CONVKIT_LAYER_SUITE);
    }
    for (const std::string& path : suite_paths) {
      try {
        const std::vector<Layer> layers = convkit_bench::load_layer_suite(path);
        suite.insert(suite.end(), layers.begin(), layers.end());
      } catch (const std::runtime_error& e) {
        throw UsageError(e.what());
      }
    }
  }

  std::vector<Layer> selected;
  if (config.layer_names.empty()) {
    selected = suite;
  } else {
    for (const std::string& name : config.layer_names) {
      const auto found =
          std::find_if(suite.begin(), suite.end(), [&](const Layer& layer) { return layer.name == name; });
      if (found == suite.end()) {
        std::string known;
        for (const Layer& layer : suite) known += " " + layer.name;
        throw UsageError("--layers: no layer '" + name + "' in the suite; it has:" + known);
      }
      selected.push_back(*found);
    }
  }
  selected.insert(selected.end(), config.shapes.begin(), config.shapes.end());

  std::set<std::string> names;
  for (const Layer& layer : selected)
    if (!names.insert(layer.name).second) throw UsageError("layer name '" + layer.name + "' is used twice");
  if (selected.empty()) throw UsageError("no layers to measure (the suite is empty)");
  return selected;
}

// --transposed: the decoder suite's layers (all, or those --layers names), from --suite files in the decoder format,
// else $CONVKIT_DECODER_SUITE, else the compiled-in benchmarks/decoder_layers.txt.
std::vector<TransposedLayer> select_transposed_layers(const Config& config, std::vector<std::string>& suite_paths) {
  suite_paths = config.suite_paths;
  if (suite_paths.empty()) {
    const char* from_environment = std::getenv("CONVKIT_DECODER_SUITE");
    suite_paths.push_back(from_environment != nullptr && from_environment[0] != '\0' ? from_environment
                                                                                     : CONVKIT_DECODER_SUITE);
  }
  std::vector<TransposedLayer> suite;
  for (const std::string& path : suite_paths) {
    try {
      const std::vector<TransposedLayer> layers = convkit_bench::load_transposed_suite(path);
      suite.insert(suite.end(), layers.begin(), layers.end());
    } catch (const std::runtime_error& e) {
      throw UsageError(e.what());
    }
  }
  std::vector<TransposedLayer> selected;
  if (config.layer_names.empty()) {
    selected = suite;
  } else {
    for (const std::string& name : config.layer_names) {
      const auto found =
          std::find_if(suite.begin(), suite.end(), [&](const TransposedLayer& layer) { return layer.name == name; });
      if (found == suite.end()) {
        std::string known;
        for (const TransposedLayer& layer : suite) known += " " + layer.name;
        throw UsageError("--layers: no layer '" + name + "' in the decoder suite; it has:" + known);
      }
      selected.push_back(*found);
    }
  }
  std::set<std::string> names;
  for (const TransposedLayer& layer : selected)
    if (!names.insert(layer.name).second) throw UsageError("layer name '" + layer.name + "' is used twice");
  if (selected.empty()) throw UsageError("no layers to measure (the decoder suite is empty)");
  return selected;
}

// ---------------------------------------------------------------------------------------------------------------
// Measurements

// Progress on standard error, a line per measurement: "[12/64] resnet50_res4_3x3 nchw T2 auto ... 146.3 GFLOP/s".
class Progress {
 public:
  Progress(int total, bool enabled) : total_(total), enabled_(enabled) {}

  void begin(const std::string& what) {
    ++done_;
    if (enabled_) std::fprintf(stderr, "[%d/%d] %s ... ", done_, total_, what.c_str());
    std::fflush(stderr);
  }
  void end(const std::string& result) {
    if (enabled_) std::fprintf(stderr, "%s\n", result.c_str());
  }

 private:
  int total_, done_ = 0;
  bool enabled_;
};

std::string gflops_text(double gflops) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GFLOP/s", gflops);
  return text;
}

// The yardsticks of one layer at one thread count; the same for every algorithm and layout of that layer.
struct Baselines {
  Timing sgemm[2];          // indexed by GemmOrientation
  std::string sgemm_error;  // why the sgemm ceiling is missing, if it is
  Timing onednn;
  std::string onednn_implementation;
  std::string onednn_note;  // why oneDNN is missing, if it is

  const Timing& sgemm_of(GemmOrientation orientation) const { return sgemm[static_cast<int>(orientation)]; }
};

enum class Outcome { Ok, Unsupported, Failed };

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::Ok:
      return "ok";
    case Outcome::Unsupported:
      return "unsupported";
    default:
      return "failed";
  }
}

// One convkit measurement: a layer, layout, requested algorithm and thread count.
struct Row {
  std::size_t layer;  // index into the selected layers, and into a section's baselines
  convkit::Layout layout;
  convkit::Algorithm requested;
  Outcome outcome = Outcome::Ok;
  std::string message;  // convkit's, when not Ok
  convkit::Algorithm chosen = convkit::Algorithm::Auto;
  Timing timing;
  std::size_t workspace_bytes = 0;
  // --breakdown: the shares of the workers' time (threads x wall time) in each phase, then the rest.
  bool has_breakdown = false;
  double phase_share[static_cast<int>(convkit::detail::Phase::Count) + 1] = {};
};

// All measurements at one thread count.
struct Section {
  int threads;
  double peak_gflops;
  std::vector<Baselines> baselines;  // per selected layer
  std::vector<Row> rows;
};

// Runs the plan again for about `seconds` with the phase timers on (lib/profile.hpp) and fills the row's shares.
void measure_breakdown(const std::function<void()>& run, int threads, double seconds, Row& row) {
  namespace detail = convkit::detail;
  constexpr int kPhases = static_cast<int>(detail::Phase::Count);
  detail::reset_phase_seconds();
  detail::enable_profiling(true);
  const auto start = std::chrono::steady_clock::now();
  double wall = 0;
  do {
    run();
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (wall < seconds);
  detail::enable_profiling(false);
  const detail::PhaseSeconds phases = detail::phase_seconds();
  const double total = wall * threads;
  double accounted = 0;
  for (int i = 0; i < kPhases; ++i) {
    row.phase_share[i] = phases.seconds[i] / total;
    accounted += row.phase_share[i];
  }
  row.phase_share[kPhases] = std::max(0.0, 1.0 - accounted);
  row.has_breakdown = true;
}

Row measure_convkit(const Layer& nchw_layer, std::size_t layer_index, convkit::Layout layout,
                    convkit::Algorithm algorithm, int threads, double min_time, convkit::MathMode math_mode,
                    bool breakdown) {
  Row row;
  row.layer = layer_index;
  row.layout = layout;
  row.requested = algorithm;
  try {
    const Layer layer = nchw_layer.with_layout(layout);
    const convkit::TensorSizes sizes = convkit::tensor_sizes(layer.desc);
    const auto input = convkit_bench::random_array(static_cast<std::size_t>(sizes.input), 1);
    const auto weights = convkit_bench::random_array(static_cast<std::size_t>(sizes.weights), 2);
    const auto bias = convkit_bench::random_array(static_cast<std::size_t>(sizes.bias), 3);
    convkit_bench::AlignedArray<float> output(static_cast<std::size_t>(sizes.output));
    convkit::Options options;
    options.algorithm = algorithm;
    options.threads = threads;
    options.math_mode = math_mode;
    const convkit::Plan plan(layer.desc, weights.data(), bias.data(), options);
    convkit_bench::AlignedArray<unsigned char> workspace(plan.workspace_size());
    row.chosen = plan.algorithm();
    row.workspace_bytes = plan.workspace_size();
    const auto run = [&] { plan.run(input.data(), output.data(), workspace.data(), workspace.size()); };
    row.timing = convkit_bench::time_calls(run, min_time);
    if (breakdown) measure_breakdown(run, threads, min_time, row);
  } catch (const convkit::Error& e) {
    row.outcome = e.status() == convkit::Status::Unsupported ? Outcome::Unsupported : Outcome::Failed;
    row.message = e.what();
  } catch (const std::exception& e) {  // std::bad_alloc from the buffers
    row.outcome = Outcome::Failed;
    row.message = e.what();
  }
  return row;
}

// The sgemm ceiling and oneDNN for one layer; failures are recorded in the result and reported on stderr.
Baselines measure_baselines(const Layer& layer, int threads, const Config& config, Progress& progress, int& failures) {
  Baselines baselines;
  const double flops = layer.flops();
  for (const GemmOrientation orientation : {GemmOrientation::WX, GemmOrientation::XtWt}) {
    progress.begin(layer.name + " T" + std::to_string(threads) + " sgemm " +
                   convkit_bench::orientation_name(orientation));
    try {
      const Timing timing = convkit_bench::time_layer_sgemm(layer, orientation, threads, config.min_time);
      baselines.sgemm[static_cast<int>(orientation)] = timing;
      progress.end(gflops_text(convkit_bench::gflops_per_second(flops, timing.median)));
    } catch (const std::exception& e) {
      progress.end("failed");
      std::fprintf(stderr, "%s: %s: bare sgemm (%s): %s\n", kProgram, layer.name.c_str(),
                   convkit_bench::orientation_name(orientation), e.what());
      baselines.sgemm_error = e.what();
      ++failures;
    }
  }
#ifdef CONVKIT_BENCH_HAVE_DNNL
  if (config.onednn) {
    progress.begin(layer.name + " T" + std::to_string(threads) + " oneDNN");
    try {
      convkit_bench::use_threads(threads);  // before creating the primitive: some choose their blocking by it
      convkit_bench::OnednnConvolution convolution(layer);
      baselines.onednn_implementation = convolution.implementation();
      baselines.onednn = convkit_bench::time_calls([&] { convolution.run(); }, config.min_time);
      progress.end(gflops_text(convkit_bench::gflops_per_second(flops, baselines.onednn.median)) + " (" +
                   baselines.onednn_implementation + ")");
    } catch (const dnnl::error& e) {
      // A shape oneDNN has no implementation for is a gap in the comparison, not a failure of the run.
      baselines.onednn_note = std::string("oneDNN: ") + e.what();
      progress.end(e.status == dnnl_unimplemented ? "no implementation" : "failed");
      if (e.status != dnnl_unimplemented) {
        std::fprintf(stderr, "%s: %s: oneDNN: %s\n", kProgram, layer.name.c_str(), e.what());
        ++failures;
      }
    } catch (const std::exception& e) {
      baselines.onednn_note = std::string("oneDNN: ") + e.what();
      progress.end("failed");
      std::fprintf(stderr, "%s: %s: oneDNN: %s\n", kProgram, layer.name.c_str(), e.what());
      ++failures;
    }
  }
#endif
  return baselines;
}

// Fills a section (its thread count and peak set): per layer the baselines, then every layout and algorithm.
void measure_section(Section& section, const std::vector<Layer>& layers, const Config& config, Progress& progress,
                     int& failures) {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    section.baselines.push_back(measure_baselines(layer, section.threads, config, progress, failures));
    // Baselines may have left OpenMP and OpenBLAS at other thread counts; convkit sets its own per call, but a
    // single-threaded OpenBLAS setting would cap its threaded GEMMs (see bare_sgemm.hpp).
    convkit_bench::use_threads(section.threads);
    for (const convkit::Layout layout : config.layouts)
      for (const convkit::Algorithm algorithm : config.algorithms) {
        progress.begin(layer.name + " " + layout_name(layout) + " T" + std::to_string(section.threads) + " " +
                       convkit::algorithm_name(algorithm));
        Row row = measure_convkit(layer, i, layout, algorithm, section.threads, config.min_time, config.math_mode,
                                  config.breakdown);
        if (row.outcome == Outcome::Ok) {
          progress.end(gflops_text(convkit_bench::gflops_per_second(layer.flops(), row.timing.median)) + " (" +
                       convkit::algorithm_name(row.chosen) + ")");
        } else if (row.outcome == Outcome::Unsupported) {
          progress.end("unsupported");
        } else {
          progress.end("FAILED");
          std::fprintf(stderr, "%s: %s %s T%d %s: %s\n", kProgram, layer.name.c_str(), layout_name(layout),
                       section.threads, convkit::algorithm_name(algorithm), row.message.c_str());
          ++failures;
        }
        section.rows.push_back(std::move(row));
      }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Derived figures, shared by the table, the summaries, CSV, JSON and the chart

struct Figures {
  double gflops = missing(), gflops_best = missing(), of_peak = missing();
  double sgemm_wx = missing(), sgemm_xw = missing(), sgemm = missing(), vs_sgemm = missing();
  double onednn = missing(), vs_onednn = missing();
  std::string sgemm_orientation;
  double workspace_per_thread = 0;  // bytes
};

double rate(double flops, const Timing& timing) {
  return timing.measured() ? convkit_bench::gflops_per_second(flops, timing.median) : missing();
}

Figures figures_of(const Row& row, const Layer& layer, const Section& section) {
  const double flops = layer.flops();
  const Baselines& baselines = section.baselines[row.layer];
  Figures f;
  f.gflops = row.outcome == Outcome::Ok ? rate(flops, row.timing) : missing();
  if (row.outcome == Outcome::Ok) f.gflops_best = convkit_bench::gflops_per_second(flops, row.timing.minimum);
  f.of_peak = f.gflops / section.peak_gflops;
  f.sgemm_wx = rate(flops, baselines.sgemm_of(GemmOrientation::WX));
  f.sgemm_xw = rate(flops, baselines.sgemm_of(GemmOrientation::XtWt));
  // fmax ignores a NaN operand: the ceiling is whichever orientation was measured, the faster if both.
  f.sgemm = std::fmax(f.sgemm_wx, f.sgemm_xw);
  if (std::isfinite(f.sgemm))
    f.sgemm_orientation =
        convkit_bench::orientation_name(!(f.sgemm_xw > f.sgemm_wx) ? GemmOrientation::WX : GemmOrientation::XtWt);
  f.vs_sgemm = f.gflops / f.sgemm;
  f.onednn = rate(flops, baselines.onednn);
  f.vs_onednn = f.gflops / f.onednn;
  f.workspace_per_thread = static_cast<double>(row.workspace_bytes) / section.threads;
  return f;
}

// ---------------------------------------------------------------------------------------------------------------
// The table and the summaries

std::string fixed(double value, int decimals) {
  if (!std::isfinite(value)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// Three significant digits in the unit that suits: "91.3 ns", "412 us", "1.10 ms", "2.31 s".
std::string duration_text(double seconds) {
  static const struct {
    double per_second;
    const char* unit;
  } kUnits[] = {{1e9, "ns"}, {1e6, "us"}, {1e3, "ms"}, {1.0, "s"}};
  for (const auto& unit : kUnits) {
    const double value = seconds * unit.per_second;
    if (value < 999.5 || unit.per_second == 1.0) {
      char text[32];
      std::snprintf(text, sizeof text, value < 100 ? "%#.3g %s" : "%.0f %s", value, unit.unit);
      return text;
    }
  }
  return "";
}

// A table with aligned columns (text to the left, numbers to the right) and free text lines between its rows.
class TextTable {
 public:
  struct Column {
    std::string title;
    bool right_aligned;
    bool shown = true;  // a hidden column keeps its cells in every row but is not printed
  };
  explicit TextTable(std::vector<Column> columns) : columns_(std::move(columns)) {
    for (const Column& column : columns_) widths_.push_back(column.title.size());
  }

  void add(std::vector<std::string> cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) widths_[i] = std::max(widths_[i], cells[i].size());
    lines_.push_back({std::move(cells), false});
  }
  // A line printed as is (summaries); it does not widen the columns.
  void add_text(std::string text) { lines_.push_back({{std::move(text)}, true}); }

  // The header line, then every row and text line, without trailing blanks.
  std::vector<std::string> render(const std::string& indent = "") const {
    std::vector<std::string> titles;
    for (const Column& column : columns_) titles.push_back(column.title);
    std::vector<std::string> out{indent + aligned(titles)};
    for (const Line& line : lines_) out.push_back(line.text ? line.cells.front() : indent + aligned(line.cells));
    return out;
  }

 private:
  struct Line {
    std::vector<std::string> cells;
    bool text;
  };
  std::string aligned(const std::vector<std::string>& cells) const {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (!columns_[i].shown) continue;
      const std::string padding(widths_[i] - cells[i].size(), ' ');
      text += (text.empty() ? "" : "  ") + (columns_[i].right_aligned ? padding + cells[i] : cells[i] + padding);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
  }

  std::vector<Column> columns_;
  std::vector<std::size_t> widths_;
  std::vector<Line> lines_;
};

std::vector<std::string> table_cells(const Row& row, const Layer& layer, const Section& section) {
  const Figures f = figures_of(row, layer, section);
  std::string chosen = "-", time = "-", workspace = "-";
  if (row.outcome == Outcome::Ok) {
    chosen = convkit::algorithm_name(row.chosen);
    time = duration_text(row.timing.median);
    workspace = fixed(f.workspace_per_thread / 1024.0, 0);
    if (f.workspace_per_thread > kWorkspaceBudgetPerThread) workspace += " !";
  } else {
    chosen = row.outcome == Outcome::Unsupported ? "unsupported" : "FAILED";
  }
  return {layer.name,
          layout_name(row.layout),
          std::to_string(section.threads),
          convkit::algorithm_name(row.requested),
          chosen,
          time,
          fixed(f.gflops, 1),
          std::isfinite(f.of_peak) ? fixed(100.0 * f.of_peak, 0) + "%" : "-",
          fixed(f.sgemm, 1),
          fixed(f.vs_sgemm, 2),
          fixed(f.onednn, 1),
          fixed(f.vs_onednn, 2),
          workspace};
}

// The geometric mean of the finite, positive values (NaN when there are none) and how many there were.
struct GeometricMean {
  double value;
  int count;
};
GeometricMean geometric_mean(const std::vector<double>& values) {
  double log_sum = 0;
  int count = 0;
  for (const double value : values)
    if (std::isfinite(value) && value > 0) {
      log_sum += std::log(value);
      ++count;
    }
  return {count > 0 ? std::exp(log_sum / count) : missing(), count};
}

std::string series_label(convkit::Layout layout, convkit::Algorithm algorithm, const Config& config) {
  std::string label = convkit::algorithm_name(algorithm);
  if (config.layouts.size() > 1) label += std::string(" ") + layout_name(layout);
  return label;
}

// The summary of a section, over its real layers (not the toys): per convkit series the geometric mean of GFLOP/s
// and of the ratio to oneDNN, and the worst ratio to the sgemm ceiling on ordinary and on 1x1 layers (whose GEMM
// reads the input in place); oneDNN's geometric mean; the workspace budget; which oneDNN implementations ran.
std::vector<std::string> section_summary(const Section& section, const std::vector<Layer>& layers,
                                         const Config& config) {
  std::size_t real_layers = 0;
  for (const Layer& layer : layers) real_layers += is_toy(layer) ? 0 : 1;
  TextTable table({{"series", false},
                   {"geomean GFLOP/s", true},
                   {"layers", true},
                   {"geomean vs oneDNN", true, config.onednn},
                   {"min vs sgemm, not 1x1", true},
                   {"on", false},
                   {"min vs sgemm, 1x1", true},
                   {"on", false}});
  for (const convkit::Layout layout : config.layouts)
    for (const convkit::Algorithm algorithm : config.algorithms) {
      std::vector<double> gflops, versus_onednn;
      double worst = missing(), worst_1x1 = missing();
      std::string worst_layer = "-", worst_1x1_layer = "-";
      for (const Row& row : section.rows) {
        const Layer& layer = layers[row.layer];
        if (row.layout != layout || row.requested != algorithm || is_toy(layer)) continue;
        const Figures f = figures_of(row, layer, section);
        gflops.push_back(f.gflops);
        versus_onednn.push_back(f.vs_onednn);
        double& lowest = layer.is_1x1() ? worst_1x1 : worst;
        if (std::isfinite(f.vs_sgemm) && !(f.vs_sgemm >= lowest)) {  // !(>=): the first finite ratio replaces NaN
          lowest = f.vs_sgemm;
          (layer.is_1x1() ? worst_1x1_layer : worst_layer) = layer.name;
        }
      }
      const GeometricMean mean = geometric_mean(gflops);
      table.add({"convkit " + series_label(layout, algorithm, config), fixed(mean.value, 1), std::to_string(mean.count),
                 fixed(geometric_mean(versus_onednn).value, 2), fixed(worst, 2), worst_layer, fixed(worst_1x1, 2),
                 worst_1x1_layer});
    }

  std::map<std::string, int> implementations;
  if (config.onednn) {
    std::vector<double> onednn;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      if (is_toy(layers[i])) continue;
      onednn.push_back(rate(layers[i].flops(), section.baselines[i].onednn));
      const std::string& implementation = section.baselines[i].onednn_implementation;
      if (!implementation.empty()) ++implementations[implementation];
    }
    const GeometricMean mean = geometric_mean(onednn);
    table.add({"oneDNN", fixed(mean.value, 1), std::to_string(mean.count), "", "", "", "", ""});
  }

  std::vector<std::string> lines{"summary T" + std::to_string(section.threads) + " over the layers not named " +
                                 kToyPrefix + "* (" + std::to_string(real_layers) + "); peak " +
                                 fixed(section.peak_gflops, 1) + " GFLOP/s (cblas_sgemm " + std::to_string(kPeakSize) +
                                 "^3)"};
  for (const std::string& line : table.render("  ")) lines.push_back(line);

  int over_budget = 0;
  double largest = 0;
  std::string largest_row;
  for (const Row& row : section.rows) {
    if (row.outcome != Outcome::Ok) continue;
    const Figures f = figures_of(row, layers[row.layer], section);
    if (f.workspace_per_thread > kWorkspaceBudgetPerThread) ++over_budget;
    if (f.workspace_per_thread > largest) {
      largest = f.workspace_per_thread;
      largest_row = layers[row.layer].name + " " + layout_name(row.layout) + " " + convkit::algorithm_name(row.chosen);
    }
  }
  lines.push_back("  workspace per thread: largest " + fixed(largest / 1024.0, 0) + " KiB" +
                  (largest_row.empty() ? "" : " (" + largest_row + ")") + "; " + std::to_string(over_budget) +
                  " rows over the " + fixed(kWorkspaceBudgetPerThread / 1024.0, 0) + " KiB budget (marked !)");
  if (!implementations.empty()) {
    std::string text = "  oneDNN implementations:";
    for (const auto& [name, count] : implementations) text += " " + name + " (" + std::to_string(count) + ")";
    lines.push_back(text);
  }
  return lines;
}

void print_table(const std::vector<Section>& sections, const std::vector<Layer>& layers, const Config& config) {
  TextTable table({{"layer", false},
                   {"layout", false},
                   {"T", true},
                   {"algorithm", false},
                   {"chosen", false},
                   {"time", true},
                   {"GFLOP/s", true},
                   {"of peak", true},
                   {"sgemm GFLOP/s", true},
                   {"vs sgemm", true},
                   {"oneDNN GFLOP/s", true, config.onednn},
                   {"vs oneDNN", true, config.onednn},
                   {"ws/thread KiB", true}});
  for (const Section& section : sections) {
    for (const Row& row : section.rows) table.add(table_cells(row, layers[row.layer], section));
    for (const std::string& text : section_summary(section, layers, config)) table.add_text(text);
    table.add_text("");
  }
  for (const std::string& line : table.render()) std::printf("%s\n", line.c_str());
}

// --breakdown: per measurement, the share of the workers' time in each phase.
void print_breakdown(const std::vector<Section>& sections, const std::vector<Layer>& layers) {
  TextTable table({{"layer", false},
                   {"layout", false},
                   {"T", true},
                   {"algorithm", false},
                   {"chosen", false},
                   {"time", true},
                   {"unfold", true},
                   {"multiply", true},
                   {"epilogue", true},
                   {"rest", true}});
  for (const Section& section : sections)
    for (const Row& row : section.rows) {
      if (!row.has_breakdown) continue;
      std::vector<std::string> cells{layers[row.layer].name,
                                     layout_name(row.layout),
                                     std::to_string(section.threads),
                                     convkit::algorithm_name(row.requested),
                                     convkit::algorithm_name(row.chosen),
                                     duration_text(row.timing.median)};
      for (double share : row.phase_share) {
        char text[16];
        std::snprintf(text, sizeof text, "%.0f%%", 100 * share);
        cells.push_back(text);
      }
      table.add(cells);
    }
  std::printf(
      "\nwhere the time goes (--breakdown): shares of threads x wall time; weights are packed at plan creation\n");
  for (const std::string& line : table.render()) std::printf("%s\n", line.c_str());
}

// --neighbours: processes that spin on the cores while convkit and oneDNN are measured, as a server's other work
// would. Each is a forked child that only loops (it touches no lock the parent's threads may hold) and dies with the
// tool.
class BusyNeighbours {
 public:
  explicit BusyNeighbours(int count) {
    for (int i = 0; i < count; ++i) {
      const pid_t pid = fork();
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (volatile std::uint64_t spin = 0;; spin = spin + 1) {
        }
      }
      if (pid < 0) throw std::runtime_error("--neighbours: fork failed");
      children_.push_back(pid);
    }
  }
  ~BusyNeighbours() {
    for (const pid_t pid : children_) kill(pid, SIGKILL);
    for (const pid_t pid : children_) waitpid(pid, nullptr, 0);
  }
  BusyNeighbours(const BusyNeighbours&) = delete;
  BusyNeighbours& operator=(const BusyNeighbours&) = delete;

 private:
  std::vector<pid_t> children_;
};

// --neighbours: per layer, layout and algorithm, the median time at each thread count over the time at 1 thread.
// Above 1 a second thread costs more than it brings; the issue's bound for a shared machine is 2.
void print_shared_cores(const std::vector<Section>& sections, const std::vector<Layer>& layers, const Config& config) {
  const auto one = std::find_if(sections.begin(), sections.end(), [](const Section& s) { return s.threads == 1; });
  if (one == sections.end()) {
    std::printf("\nshared cores: no 1-thread measurement to compare with (add 1 to --threads)\n");
    return;
  }
  std::vector<TextTable::Column> columns{{"layer", false}, {"layout", false}, {"algorithm", false}, {"T1", true}};
  for (const Section& section : sections)
    if (section.threads != 1) {
      const std::string t = "T" + std::to_string(section.threads);
      columns.push_back({t, true});
      columns.push_back({t + "/T1", true});
    }
  if (config.onednn) {
    columns.push_back({"oneDNN T1", true});
    for (const Section& section : sections)
      if (section.threads != 1) {
        const std::string t = "T" + std::to_string(section.threads);
        columns.push_back({t, true});
        columns.push_back({t + "/T1", true});
      }
  }
  TextTable table(columns);
  std::map<int, double> worst_convkit, worst_onednn;
  for (std::size_t r = 0; r < one->rows.size(); ++r) {
    const Row& base = one->rows[r];
    if (base.outcome != Outcome::Ok) continue;
    std::vector<std::string> cells{layers[base.layer].name, layout_name(base.layout),
                                   convkit::algorithm_name(base.requested), duration_text(base.timing.median)};
    for (const Section& section : sections) {
      if (section.threads == 1) continue;
      const Row& row = section.rows[r];
      const double ratio = row.outcome == Outcome::Ok ? row.timing.median / base.timing.median : missing();
      cells.push_back(row.outcome == Outcome::Ok ? duration_text(row.timing.median) : "-");
      cells.push_back(fixed(ratio, 2));
      if (std::isfinite(ratio)) worst_convkit[section.threads] = std::max(worst_convkit[section.threads], ratio);
    }
    if (config.onednn) {
      const Timing& onednn_one = one->baselines[base.layer].onednn;
      cells.push_back(onednn_one.measured() ? duration_text(onednn_one.median) : "-");
      for (const Section& section : sections) {
        if (section.threads == 1) continue;
        const Timing& timing = section.baselines[base.layer].onednn;
        const double ratio = timing.measured() && onednn_one.measured() ? timing.median / onednn_one.median : missing();
        cells.push_back(timing.measured() ? duration_text(timing.median) : "-");
        cells.push_back(fixed(ratio, 2));
        if (std::isfinite(ratio)) worst_onednn[section.threads] = std::max(worst_onednn[section.threads], ratio);
      }
    }
    table.add(cells);
  }
  std::printf(
      "\nshared cores (--neighbours=%d busy processes beside every measurement): median time at T threads "
      "over the time at 1 thread\n",
      config.neighbours);
  for (const std::string& line : table.render()) std::printf("%s\n", line.c_str());
  for (const auto& [threads, worst] : worst_convkit) {
    std::printf("  worst T%d/T1: convkit %.2f", threads, worst);
    if (worst_onednn.count(threads) != 0) std::printf(", oneDNN %.2f", worst_onednn[threads]);
    std::printf("\n");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Context, CSV, JSON, SVG

// What the run measured on: gathered once, then printed in the header, written to the JSON and the chart's title.
struct RunContext {
  std::string date;  // the start, UTC, ISO 8601
  std::string cpu;
  unsigned hardware_threads;
  double load_average;  // over the minute before the start: how busy other processes kept the cores
  convkit::BlasInfo blas;
  std::string openblas_coretype;  // empty when unset
  std::string onednn;             // the version when oneDNN is measured, else empty
  std::vector<std::string> suite_paths;
};

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) return line.substr(line.find(':') + 2);
  return "unknown";
}

double load_average() {
  std::ifstream loadavg("/proc/loadavg");
  double one_minute = missing();
  loadavg >> one_minute;
  return one_minute;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

RunContext gather_context(const Config& config, std::vector<std::string> suite_paths) {
  RunContext context;
  context.date = utc_now();
  context.cpu = cpu_model();
  context.hardware_threads = std::thread::hardware_concurrency();
  context.load_average = load_average();
  context.blas = convkit::blas_info();
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  context.openblas_coretype = coretype != nullptr ? coretype : "";
#ifdef CONVKIT_BENCH_HAVE_DNNL
  if (config.onednn) context.onednn = convkit_bench::onednn_version();
#else
  (void)config;
#endif
  context.suite_paths = std::move(suite_paths);
  return context;
}

template <typename T, typename Format>
std::string joined(const std::vector<T>& values, Format format, const char* separator = ",") {
  std::string text;
  for (const T& value : values) text += (text.empty() ? "" : separator) + format(value);
  return text;
}

void print_header(const RunContext& context, const Config& config, std::size_t layer_count) {
  const convkit::BlasInfo& blas = context.blas;
  std::printf("%s: convkit %s, direct kernels %s; %s UTC\n", kProgram, convkit::version(), convkit::simd_isa(),
              context.date.c_str());
  const std::string degraded = blas.degraded ? " (degraded: this CPU could run " + blas.recommended_core + ")" : "";
  std::printf("BLAS: %s; core %s%s; OPENBLAS_CORETYPE=%s\n", blas.library.c_str(), blas.core.c_str(), degraded.c_str(),
              context.openblas_coretype.empty() ? "(unset)" : context.openblas_coretype.c_str());
#ifdef CONVKIT_BENCH_HAVE_DNNL
  std::printf("oneDNN: %s\n", config.onednn ? context.onednn.c_str() : "disabled (--no-onednn)");
#else
  std::printf("oneDNN: not built in (libdnnl-dev was not found when configuring)\n");
#endif
  std::printf("CPU: %s, %u hardware threads; load average %.2f; threads measured: %s\n", context.cpu.c_str(),
              context.hardware_threads, context.load_average,
              joined(config.threads, [](int threads) { return std::to_string(threads); }).c_str());
  const std::string layouts =
      joined(config.layouts, [](convkit::Layout layout) { return std::string(layout_name(layout)); });
  const char* math = config.math_mode == convkit::MathMode::Fast ? "fast" : "strict";
  if (config.blocks) {
    std::printf("network blocks (--blocks); layouts %s; %s math; min time %g s per measurement\n", layouts.c_str(),
                math, config.min_time);
  } else if (config.transposed) {
    const std::string sources = joined(
        context.suite_paths, [](const std::string& path) { return path; }, ", ");
    std::printf("transposed convolutions (--transposed): %zu layers from %s\n", layer_count, sources.c_str());
    std::printf("layouts %s; %s math; min time %g s per measurement\n", layouts.c_str(), math, config.min_time);
  } else {
    const std::string sources = context.suite_paths.empty()
                                    ? std::string("--shape")
                                    : joined(
                                          context.suite_paths, [](const std::string& path) { return path; }, ", ");
    std::printf("layers: %zu from %s; layouts %s; algorithms %s (%s math); min time %g s per measurement\n",
                layer_count, sources.c_str(), layouts.c_str(),
                joined(config.algorithms,
                       [](convkit::Algorithm algorithm) { return std::string(convkit::algorithm_name(algorithm)); })
                    .c_str(),
                math, config.min_time);
  }
  if (!config.transposed)
    std::printf(
        "GFLOP/s counts the direct convolution's 2*N*Co*Ho*Wo*(Ci/groups)*Kh*Kw FLOPs whatever the algorithm:\n"
        "for winograd, which multiplies less, it is the effective GFLOP/s.\n");
  // Figures at T threads need T idle cores: a busy machine shows as many-fold slowdowns at the higher counts.
  if (context.load_average >= 0.5)
    std::printf("warning: the load average is %.2f: other processes use the cores, and the timings will show it\n",
                context.load_average);
  for (const int threads : config.threads)
    if (context.hardware_threads > 0 && static_cast<unsigned>(threads) > context.hardware_threads)
      std::printf("warning: %d threads oversubscribe this machine's %u hardware threads\n", threads,
                  context.hardware_threads);
}

// load_average_end: the load average when the measurements were done, beside the one at the start.
Record context_record(const RunContext& context, const Config& config, const std::vector<Section>& sections,
                      double load_average_end) {
  std::vector<std::string> peaks, threads, paths;
  for (const Section& section : sections) {
    peaks.push_back(
        convkit_bench::json_object({{"threads", std::int64_t{section.threads}},
                                    {"sgemm_" + std::to_string(kPeakSize) + "_gflops", section.peak_gflops}}));
    threads.push_back(std::to_string(section.threads));
  }
  for (const std::string& path : context.suite_paths) paths.push_back(convkit_bench::json_quote(path));
  const auto text_or_null = [](const std::string& text) { return text.empty() ? Value() : Value(text); };
  return {{"program", std::string(kProgram)},
          {"date", context.date},
          {"convkit_version", std::string(convkit::version())},
          {"simd_isa", std::string(convkit::simd_isa())},
          {"blas_library", context.blas.library},
          {"blas_core", context.blas.core},
          {"blas_recommended_core", context.blas.recommended_core},
          {"blas_degraded", context.blas.degraded},
          {"openblas_coretype", text_or_null(context.openblas_coretype)},
          {"onednn_version", text_or_null(context.onednn)},
          {"cpu", context.cpu},
          {"hardware_threads", std::int64_t{context.hardware_threads}},
          {"load_average_start", context.load_average},
          {"load_average_end", load_average_end},
          {"threads", convkit_bench::json_array(threads)},
          {"min_time_s", config.min_time},
          {"math_mode", std::string(config.math_mode == convkit::MathMode::Fast ? "fast" : "strict")},
          {"layer_suites", convkit_bench::json_array(paths)},
          {"peaks", convkit_bench::json_array(peaks)}};
}

Record row_record(const Row& row, const Layer& layer, const Section& section) {
  const Figures f = figures_of(row, layer, section);
  const Baselines& baselines = section.baselines[row.layer];
  const convkit::Conv2dDesc& d = layer.desc;
  const convkit_bench::GemmShape gemm = convkit_bench::im2col_gemm_shape(layer);
  const bool ok = row.outcome == Outcome::Ok;
  const auto if_ok = [ok](Value value) { return ok ? value : Value(); };
  const auto seconds = [](const Timing& timing) { return timing.measured() ? Value(timing.median) : Value(); };
  return {{"threads", std::int64_t{section.threads}},
          {"layer", layer.name},
          {"layout", std::string(layout_name(row.layout))},
          {"algorithm", std::string(convkit::algorithm_name(row.requested))},
          {"chosen", if_ok(std::string(convkit::algorithm_name(row.chosen)))},
          {"status", std::string(outcome_name(row.outcome))},
          {"message", row.message},
          {"N", d.batch},
          {"Ci", d.in_channels},
          {"H", d.in_height},
          {"W", d.in_width},
          {"Co", d.out_channels},
          {"Kh", d.kernel_height},
          {"Kw", d.kernel_width},
          {"stride", d.stride_height},
          {"pad", d.pad_top},
          {"dilation", d.dilation_height},
          {"groups", d.groups},
          {"flops", static_cast<std::int64_t>(layer.flops())},  // exact: an integer far below 2^53
          {"gemm_m", gemm.m},
          {"gemm_n", gemm.n},
          {"gemm_k", gemm.k},
          {"gemm_count", gemm.count},
          {"time_median_s", if_ok(row.timing.median)},
          {"time_min_s", if_ok(row.timing.minimum)},
          {"calls", if_ok(row.timing.calls)},
          {"gflops", f.gflops},
          {"gflops_best", f.gflops_best},
          {"peak_gflops", section.peak_gflops},
          {"of_peak", f.of_peak},
          {"sgemm_wx_gflops", f.sgemm_wx},
          {"sgemm_xw_gflops", f.sgemm_xw},
          {"sgemm_gflops", f.sgemm},
          {"sgemm_best_orientation", f.sgemm_orientation},
          {"sgemm_wx_time_s", seconds(baselines.sgemm_of(GemmOrientation::WX))},
          {"sgemm_xw_time_s", seconds(baselines.sgemm_of(GemmOrientation::XtWt))},
          {"sgemm_error", baselines.sgemm_error},
          {"vs_sgemm", f.vs_sgemm},
          {"onednn_gflops", f.onednn},
          {"onednn_time_s", seconds(baselines.onednn)},
          {"onednn_impl", baselines.onednn_implementation},
          {"onednn_note", baselines.onednn_note},
          {"vs_onednn", f.vs_onednn},
          {"workspace_bytes", if_ok(static_cast<std::int64_t>(row.workspace_bytes))},
          {"workspace_per_thread_bytes", if_ok(static_cast<std::int64_t>(std::ceil(f.workspace_per_thread)))}};
}

std::string render_chart(const std::vector<Section>& sections, const std::vector<Layer>& layers, const Config& config,
                         const RunContext& context) {
  // Tableau's palette: convkit's series in cool colours, oneDNN orange, the sgemm ceiling grey.
  static const char* const kConvkitColors[] = {"#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b",
                                               "#e377c2", "#bcbd22", "#aec7e8", "#98df8a", "#c5b0d5"};
  std::vector<convkit_bench::ChartPanel> panels;
  for (const Section& section : sections) {
    convkit_bench::ChartPanel panel;
    panel.title = std::to_string(section.threads) + (section.threads == 1 ? " thread" : " threads");
    for (const Layer& layer : layers) panel.categories.push_back(layer.name);
    std::size_t color = 0;
    for (const convkit::Layout layout : config.layouts)
      for (const convkit::Algorithm algorithm : config.algorithms) {
        convkit_bench::ChartSeries series{"convkit " + series_label(layout, algorithm, config),
                                          kConvkitColors[color++ % std::size(kConvkitColors)],
                                          std::vector<double>(layers.size(), missing())};
        for (const Row& row : section.rows)
          if (row.layout == layout && row.requested == algorithm)
            series.values[row.layer] = figures_of(row, layers[row.layer], section).gflops;
        panel.series.push_back(std::move(series));
      }
    convkit_bench::ChartSeries onednn{"oneDNN", "#ff7f0e", {}}, sgemm{"sgemm on the layer's GEMM shape", "#7f7f7f", {}};
    for (std::size_t i = 0; i < layers.size(); ++i) {
      onednn.values.push_back(rate(layers[i].flops(), section.baselines[i].onednn));
      sgemm.values.push_back(std::fmax(rate(layers[i].flops(), section.baselines[i].sgemm_of(GemmOrientation::WX)),
                                       rate(layers[i].flops(), section.baselines[i].sgemm_of(GemmOrientation::XtWt))));
    }
    if (config.onednn) panel.series.push_back(std::move(onednn));
    panel.series.push_back(std::move(sgemm));
    panel.reference = section.peak_gflops;
    panel.reference_label =
        "peak: cblas_sgemm " + std::to_string(kPeakSize) + "\u00b3, " + fixed(section.peak_gflops, 1) + " GFLOP/s";
    panels.push_back(std::move(panel));
  }
  const std::string title = std::string("convkit ") + convkit::version() + ": GFLOP/s per layer";
  const std::string subtitle = context.date + "; " + context.cpu + "; OpenBLAS core " + context.blas.core +
                               (context.onednn.empty() ? "" : "; oneDNN " + context.onednn);
  return convkit_bench::render_bar_chart_svg(title, subtitle, "GFLOP/s", panels);
}

// An output file, opened before the measurements so that a bad path fails in a second, not after minutes.
std::unique_ptr<std::ofstream> open_output(const std::string& path, const char* option) {
  if (path.empty()) return nullptr;
  auto file = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
  if (!*file) throw UsageError(std::string(option) + ": cannot write '" + path + "'");
  return file;
}

bool finish_output(std::ofstream* file, const std::string& path) {
  if (file == nullptr) return true;
  file->close();
  if (!*file) {
    std::fprintf(stderr, "%s: error writing '%s'\n", kProgram, path.c_str());
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// --blocks: whole network blocks end to end (network_blocks.hpp)

// The largest relative_difference between a fused block's outputs and another run's that is still the same block.
constexpr double kBlockTolerance = 1e-3;

// One block in one layout at one thread count. oneDNN picks its own layouts, so its figures (the block's at that
// thread count) repeat on every layout's row.
struct BlockRow {
  std::size_t block;
  convkit::Layout layout;
  int threads;
  Timing fused, unfused, onednn, onednn_copy;
  double unfused_difference = missing(), onednn_difference = missing();  // to convkit fused, relative_difference
  std::string error;
};

// The largest relative_difference(outputs of `a`, `b`'s) over the block's convolutions; NaN if any is NaN.
template <typename Run>
double block_difference(std::size_t count, Run& a, const std::vector<std::vector<float>>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const double difference = convkit_bench::relative_difference(a.output_nchw(i), b[i]);
    if (!(difference <= worst)) worst = difference;
    if (std::isnan(worst)) break;
  }
  return worst;
}

std::string difference_text(double difference) {
  if (std::isnan(difference)) return "-";
  char text[16];
  std::snprintf(text, sizeof text, "%.1e", difference);
  return text;
}

void print_blocks(const std::vector<convkit_bench::NetworkBlock>& blocks, const std::vector<BlockRow>& rows,
                  const std::map<std::string, std::string>& plans, const std::vector<std::string>& onednn_runs,
                  const Config& config) {
  TextTable table({{"block", false},
                   {"layout", false},
                   {"T", true},
                   {"fused us", true},
                   {"unfused us", true},
                   {"oneDNN us", true, config.onednn},
                   {"copy us", true, config.onednn},
                   {"fused GFLOP/s", true},
                   {"unfused GFLOP/s", true},
                   {"oneDNN GFLOP/s", true, config.onednn},
                   {"unfused/fused", true},
                   {"oneDNN/fused", true, config.onednn},
                   {"fused vs unfused", true},
                   {"oneDNN vs fused", true, config.onednn}});
  int threads = rows.empty() ? 0 : rows.front().threads;
  for (const BlockRow& row : rows) {
    if (row.threads != threads) table.add_text("");
    threads = row.threads;
    const double flops = blocks[row.block].flops();
    const auto microseconds = [](const Timing& t) { return t.measured() ? fixed(t.median * 1e6, 0) : "-"; };
    const auto ratio = [](const Timing& slower, const Timing& fused) {
      return slower.measured() && fused.measured() ? fixed(slower.median / fused.median, 2) : "-";
    };
    table.add({blocks[row.block].name, layout_name(row.layout), std::to_string(row.threads),
               row.error.empty() ? microseconds(row.fused) : "FAILED", microseconds(row.unfused),
               microseconds(row.onednn), microseconds(row.onednn_copy), fixed(rate(flops, row.fused), 1),
               fixed(rate(flops, row.unfused), 1), fixed(rate(flops, row.onednn), 1), ratio(row.unfused, row.fused),
               ratio(row.onednn, row.fused), difference_text(row.unfused_difference),
               difference_text(row.onednn_difference)});
  }
  std::printf("\n");
  for (const std::string& line : table.render()) std::printf("%s\n", line.c_str());
  std::printf(
      "\nus: median time of the whole block; unfused/fused and oneDNN/fused: time ratios, above 1 when convkit fused\n"
      "is faster. fused: each convolution a Plan with its Epilogue, the residual through run_residual into a separate\n"
      "output (no copy). unfused: the same plans without epilogue, each followed by one pass adding the residual and\n"
      "applying the activation (std:: functions, on the calling thread). oneDNN: a primitive per convolution with\n"
      "post-ops (append_sum, append_eltwise relu/clip/hardswish), layouts format_tag::any; append_sum accumulates\n"
      "into the destination, so each run first copies the block input into it (a reorder): that copy is counted in\n"
      "oneDNN us, and \"copy us\" is its time alone. \"vs\": max |difference| / max |reference| over every\n"
      "convolution's output, reference convkit unfused (resp. fused); more than %.0e fails the run.\n"
      "nhwc inception_3a: the 96- and 16-channel 1x1 outputs are interleaved in the concatenated plan's output and\n"
      "are copied out for the 3x3 and 5x5 (in both convkit timings); in nchw (batch 1) they are read in place.\n",
      kBlockTolerance);
  std::printf("\nconvkit plans (fused, first thread count):\n");
  for (const convkit_bench::NetworkBlock& block : blocks)
    for (const convkit::Layout layout : config.layouts) {
      const auto found = plans.find(block.name + " " + layout_name(layout));
      if (found != plans.end()) std::printf("  %s: %s\n", found->first.c_str(), found->second.c_str());
    }
  if (config.onednn) {
    std::printf("oneDNN implementations:\n");
    for (std::size_t b = 0; b < blocks.size(); ++b)
      std::printf("  %s: %s\n", blocks[b].name.c_str(), onednn_runs[b].empty() ? "-" : onednn_runs[b].c_str());
  }
}

int run_blocks(const Config& config, const RunContext& context) {
  const auto started = std::chrono::steady_clock::now();
  using convkit_bench::BlockData;
  using convkit_bench::ConvkitBlock;
  using convkit_bench::NetworkBlock;
  const std::vector<NetworkBlock> blocks = convkit_bench::network_blocks();
  std::printf("\nblocks (batch 1, every convolution stride 1 with \"same\" padding, bias in every convolution):\n");
  for (const NetworkBlock& block : blocks)
    std::printf("  %-22s %6.1f MFLOP  %s\n", block.name.c_str(), block.flops() * 1e-6, block.computes.c_str());
  std::fflush(stdout);

  const int per_block = static_cast<int>(2 * config.layouts.size()) + (config.onednn ? 1 : 0);
  const int total = static_cast<int>(config.threads.size() * blocks.size()) * per_block;
  Progress progress(total, !config.quiet);
  std::vector<BlockRow> rows;
  std::map<std::string, std::string> plans;             // "block layout": the fused plans
  std::vector<std::string> onednn_runs(blocks.size());  // per block: oneDNN's implementations
  int failures = 0;
  const auto fail = [&](const std::string& what, const std::string& message) {
    progress.end("FAILED");
    std::fprintf(stderr, "%s: %s: %s\n", kProgram, what.c_str(), message.c_str());
    ++failures;
  };
  for (const int threads : config.threads) {
    convkit_bench::use_threads(threads);  // oneDNN's OpenMP, and OpenBLAS under convkit's GEMMs
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const NetworkBlock& block = blocks[b];
      const BlockData data(block, 100 + 16 * static_cast<std::uint32_t>(b));
      const std::string label = block.name + " T" + std::to_string(threads);
      std::vector<std::vector<float>> fused_outputs;               // of the first layout, the reference for oneDNN
      [[maybe_unused]] const std::size_t first_row = rows.size();  // the block's first row at this thread count
      for (const convkit::Layout layout : config.layouts) {
        BlockRow row{b, layout, threads, {}, {}, {}, {}, missing(), missing(), ""};
        const std::string what = label + " " + layout_name(layout);
        progress.begin(what + " convkit fused");
        try {
          convkit::Options options;
          options.threads = threads;
          options.math_mode = config.math_mode;
          ConvkitBlock fused(block, data, layout, options, true), unfused(block, data, layout, options, false);
          fused.run();
          unfused.run();
          std::vector<std::vector<float>> outputs;
          for (std::size_t i = 0; i < block.convs.size(); ++i) outputs.push_back(unfused.output_nchw(i));
          row.unfused_difference = block_difference(block.convs.size(), fused, outputs);
          if (!(row.unfused_difference <= kBlockTolerance))
            throw std::runtime_error("fused and unfused outputs differ: " + difference_text(row.unfused_difference) +
                                     " of their magnitude");
          if (fused_outputs.empty())
            for (std::size_t i = 0; i < block.convs.size(); ++i) fused_outputs.push_back(fused.output_nchw(i));
          plans.emplace(block.name + " " + layout_name(layout), fused.description());
          row.fused = convkit_bench::time_calls([&] { fused.run(); }, config.min_time);
          progress.end(gflops_text(rate(block.flops(), row.fused)));
          progress.begin(what + " convkit unfused");
          row.unfused = convkit_bench::time_calls([&] { unfused.run(); }, config.min_time);
          progress.end(gflops_text(rate(block.flops(), row.unfused)));
        } catch (const std::exception& e) {  // convkit::Error, std::bad_alloc, the check
          row.error = e.what();
          fail(what, e.what());
        }
        rows.push_back(std::move(row));
      }
#ifdef CONVKIT_BENCH_HAVE_DNNL
      if (config.onednn) {
        Timing onednn, copy;
        double difference = missing();
        progress.begin(label + " oneDNN");
        try {
          convkit_bench::OnednnBlock network(block, data);
          onednn_runs[b] = network.implementations();
          if (network.layout_changes() > 0)
            onednn_runs[b] += "; " + std::to_string(network.layout_changes()) + " reorders between convolutions";
          network.run();
          if (!fused_outputs.empty()) difference = block_difference(block.convs.size(), network, fused_outputs);
          onednn = convkit_bench::time_calls([&] { network.run(); }, config.min_time);
          if (network.has_residual())
            copy = convkit_bench::time_calls([&] { network.copy_residuals(); }, config.min_time);
          if (!fused_outputs.empty() && !(difference <= kBlockTolerance))
            fail(label + " oneDNN", "its outputs differ from convkit's by " + difference_text(difference) +
                                        " of their magnitude: not the same block");
          else
            progress.end(gflops_text(rate(block.flops(), onednn)));
        } catch (const std::exception& e) {  // dnnl::error included: every convolution here has an implementation
          fail(label + " oneDNN", e.what());
        }
        for (std::size_t r = first_row; r < rows.size(); ++r) {
          rows[r].onednn = onednn;
          rows[r].onednn_copy = copy;
          rows[r].onednn_difference = difference;
        }
      }
#endif
    }
  }
  print_blocks(blocks, rows, plans, onednn_runs, config);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  std::printf("\n%d measurements in %.0f s; load average %.2f at the start, %.2f at the end", total, elapsed.count(),
              context.load_average, load_average());
  if (failures > 0) std::printf(", %d failed (see standard error)", failures);
  std::printf("\n");
  return failures > 0 ? 1 : 0;
}

// An application's own OpenMP as convkit's caller pool: one runtime's threads for the application and convkit.
void openmp_parallel_for(void*, std::size_t count, void (*task)(void*, std::size_t), void* argument) {
  const auto tasks = static_cast<std::int64_t>(count);
#pragma omp parallel for schedule(static, 1) num_threads(static_cast <int>(count))
  for (std::int64_t i = 0; i < tasks; ++i) task(argument, static_cast<std::size_t>(i));
}

// The application's own work between two layers: a short OpenMP loop on `threads` threads (a few microseconds).
void host_openmp_work(float* data, std::int64_t count, int threads) {
#pragma omp parallel for num_threads(threads)
  for (std::int64_t i = 0; i < count; ++i) data[i] = data[i] * 0.999f + 0.001f;
}

// --pool: the same plan on convkit's own workers and on a caller's pool (Plan::run_on), alternated so that both see
// the machine in the same state; each figure is the better median of two rounds. Then, for an application that runs
// OpenMP loops of its own between convkit's calls, each call after such a loop: on convkit's own workers (two pools
// in the process, each spinning while the other works) and on the application's OpenMP as the caller's pool.
int run_pool_comparison(const Config& config, const std::vector<Layer>& layers) {
  std::printf("caller's thread pool (--pool): %s on a StdThreadPool of the same width; %s math; min time %g s\n",
              "convkit auto on its own workers, then", config.math_mode == convkit::MathMode::Fast ? "fast" : "strict",
              config.min_time);
  std::printf(
      "host: each call after the application's own OpenMP loop, convkit on its own workers or on the\n"
      "application's OpenMP through a caller's pool\n");
  std::printf("%-28s %-6s %3s %10s %10s %9s %12s %12s %9s  %s\n", "layer", "layout", "T", "own us", "pool us",
              "own/pool", "host+own us", "host+omp us", "own/omp", "implementation");
  std::vector<float> host_data(32768, 1.0f);
  convkit::ThreadPool openmp_pool;
  openmp_pool.parallel_for = openmp_parallel_for;
  const BusyNeighbours neighbours(config.neighbours);
  int failures = 0;
  for (const int threads : config.threads) {
    convkit_examples::StdThreadPool pool(threads);
    openmp_pool.width = threads;
    double log_ratio_sum = 0, log_host_ratio_sum = 0;
    int ratios = 0;
    for (const Layer& nchw_layer : layers)
      for (const convkit::Layout layout : config.layouts) {
        try {
          const Layer layer = nchw_layer.with_layout(layout);
          const convkit::TensorSizes sizes = convkit::tensor_sizes(layer.desc);
          const auto input = convkit_bench::random_array(static_cast<std::size_t>(sizes.input), 1);
          const auto weights = convkit_bench::random_array(static_cast<std::size_t>(sizes.weights), 2);
          const auto bias = convkit_bench::random_array(static_cast<std::size_t>(sizes.bias), 3);
          convkit_bench::AlignedArray<float> own_output(static_cast<std::size_t>(sizes.output)),
              pool_output(static_cast<std::size_t>(sizes.output));
          convkit::Options options;
          options.threads = threads;
          options.math_mode = config.math_mode;
          const convkit::Plan plan(layer.desc, weights.data(), bias.data(), options);
          convkit_bench::AlignedArray<unsigned char> workspace(plan.workspace_size());
          const convkit::ThreadPool handle = pool.handle();
          const auto own = [&] { plan.run(input.data(), own_output.data(), workspace.data(), workspace.size()); };
          const auto on_pool = [&] {
            plan.run_on(handle, input.data(), pool_output.data(), workspace.data(), workspace.size());
          };
          const auto host_then_own = [&] {
            host_openmp_work(host_data.data(), static_cast<std::int64_t>(host_data.size()), threads);
            own();
          };
          const auto host_then_openmp_pool = [&] {
            host_openmp_work(host_data.data(), static_cast<std::int64_t>(host_data.size()), threads);
            plan.run_on(openmp_pool, input.data(), pool_output.data(), workspace.data(), workspace.size());
          };
          double own_us = 1e300, pool_us = 1e300, host_own_us = 1e300, host_omp_us = 1e300;
          for (int round = 0; round < 2; ++round) {
            own_us = std::min(own_us, convkit_bench::time_calls(own, config.min_time).median * 1e6);
            pool_us = std::min(pool_us, convkit_bench::time_calls(on_pool, config.min_time).median * 1e6);
            host_own_us = std::min(host_own_us, convkit_bench::time_calls(host_then_own, config.min_time).median * 1e6);
            host_omp_us =
                std::min(host_omp_us, convkit_bench::time_calls(host_then_openmp_pool, config.min_time).median * 1e6);
          }
          const bool same = std::equal(own_output.data(), own_output.data() + sizes.output, pool_output.data());
          if (!same) {
            std::fprintf(stderr, "%s: %s: the pool's output differs from convkit's own workers'\n", kProgram,
                         layer.name.c_str());
            ++failures;
          }
          std::printf("%-28s %-6s %3d %10.2f %10.2f %9.3f %12.2f %12.2f %9.3f  %s\n", layer.name.c_str(),
                      layout_name(layout), threads, own_us, pool_us, own_us / pool_us, host_own_us, host_omp_us,
                      host_own_us / host_omp_us, plan.description().c_str());
          std::fflush(stdout);
          if (!is_toy(nchw_layer)) {
            log_ratio_sum += std::log(own_us / pool_us);
            log_host_ratio_sum += std::log(host_own_us / host_omp_us);
            ++ratios;
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "%s: %s: %s\n", kProgram, nchw_layer.name.c_str(), e.what());
          ++failures;
        }
      }
    if (ratios > 0)
      std::printf(
          "T%d over %d layers, geometric means: own/pool %.3f, host+own / host+omp %.3f (above 1: the "
          "caller's pool is faster)\n\n",
          threads, ratios, std::exp(log_ratio_sum / ratios), std::exp(log_host_ratio_sum / ratios));
  }
  return failures > 0 ? 1 : 0;
}

// --creation: per layer, layout and thread count, the median time of each way to a plan, and the two ratios that
// say what packed weights save: a plan from scratch over one from shared packed weights, packing over loading.
int run_creation(const Config& config, const std::vector<Layer>& layers) {
  const auto started = std::chrono::steady_clock::now();
  TextTable table({{"layer", false},
                   {"layout", false},
                   {"T", true},
                   {"chosen", false},
                   {"packed", true},
                   {"scratch", true},
                   {"pack", true},
                   {"from packed", true},
                   {"batch 2", true},
                   {"save", true},
                   {"load", true},
                   {"from loaded", true},
                   {"scratch/packed", true},
                   {"pack/load", true}});
  const int total = static_cast<int>(config.threads.size() * config.layouts.size() * layers.size());
  Progress progress(total, !config.quiet);
  std::vector<double> plan_ratios, load_ratios;
  int failures = 0;
  for (const int threads : config.threads)
    for (const Layer& suite_layer : layers)
      for (const convkit::Layout layout : config.layouts) {
        const Layer layer = suite_layer.with_layout(layout);
        const convkit::Conv2dDesc& d = layer.desc;
        progress.begin(layer.name + " " + layout_name(layout) + " T" + std::to_string(threads));
        try {
          convkit::Options options;
          options.threads = threads;
          options.math_mode = config.math_mode;
          const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
          const auto weights = convkit_bench::random_array(static_cast<std::size_t>(sizes.weights), 2);
          const auto bias = convkit_bench::random_array(static_cast<std::size_t>(sizes.bias), 3);
          convkit::Conv2dDesc batch2 = d;
          batch2.batch = 2 * d.batch;
          const convkit::PackedWeights packed(d, weights.data(), bias.data(), options);
          const std::vector<unsigned char> blob = packed.save();
          const convkit::PackedWeights loaded = convkit::PackedWeights::load(blob.data(), blob.size());
          const std::string chosen = convkit::Plan(packed, d, options).description();
          const double min_time = config.min_time;
          const Timing scratch =
              convkit_bench::time_calls([&] { convkit::Plan(d, weights.data(), bias.data(), options); }, min_time);
          const Timing pack = convkit_bench::time_calls(
              [&] { convkit::PackedWeights(d, weights.data(), bias.data(), options); }, min_time);
          const Timing from_packed = convkit_bench::time_calls([&] { convkit::Plan(packed, d, options); }, min_time);
          // Its warm-up call packs any form batch 2 needs that the packed size did not.
          const Timing other = convkit_bench::time_calls([&] { convkit::Plan(packed, batch2, options); }, min_time);
          const Timing save = convkit_bench::time_calls([&] { packed.save(); }, min_time);
          const Timing load =
              convkit_bench::time_calls([&] { convkit::PackedWeights::load(blob.data(), blob.size()); }, min_time);
          const Timing from_loaded = convkit_bench::time_calls([&] { convkit::Plan(loaded, d, options); }, min_time);
          const double plan_ratio = scratch.median / from_packed.median, load_ratio = pack.median / load.median;
          plan_ratios.push_back(plan_ratio);
          load_ratios.push_back(load_ratio);
          char ratios[2][32];
          std::snprintf(ratios[0], sizeof ratios[0], "%.1f", plan_ratio);
          std::snprintf(ratios[1], sizeof ratios[1], "%.1f", load_ratio);
          char megabytes[32];
          std::snprintf(megabytes, sizeof megabytes, "%.2f MB", static_cast<double>(blob.size()) * 1e-6);
          table.add({layer.name, layout_name(layout), std::to_string(threads), chosen, megabytes,
                     duration_text(scratch.median), duration_text(pack.median), duration_text(from_packed.median),
                     duration_text(other.median), duration_text(save.median), duration_text(load.median),
                     duration_text(from_loaded.median), ratios[0], ratios[1]});
          progress.end(std::string(ratios[1]) + "x");
        } catch (const std::exception& error) {
          std::fprintf(stderr, "%s %s: %s\n", layer.name.c_str(), layout_name(layout), error.what());
          progress.end("failed");
          ++failures;
        }
      }
  const auto geomean = [](const std::vector<double>& values) {
    double sum = 0.0;
    for (const double value : values) sum += std::log(value);
    return values.empty() ? missing() : std::exp(sum / static_cast<double>(values.size()));
  };
  const auto least = [](const std::vector<double>& values) {
    return values.empty() ? missing() : *std::min_element(values.begin(), values.end());
  };
  std::printf(
      "\nplan creation (--creation), median times: scratch = Plan(desc, weights, bias); pack = PackedWeights(desc,\n"
      "weights, bias); from packed = Plan(packed, desc) with its forms packed; batch 2 = Plan(packed, desc at twice "
      "the\n"
      "batch); save = packed.save(); load = PackedWeights::load(blob) of `packed` bytes; from loaded = Plan(loaded,\n"
      "desc)\n\n");
  for (const std::string& line : table.render()) std::printf("%s\n", line.c_str());
  std::printf("\nscratch/packed: geomean %.1f, least %.1f; pack/load: geomean %.1f, least %.1f\n", geomean(plan_ratios),
              least(plan_ratios), geomean(load_ratios), least(load_ratios));
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  std::printf("%d measurements in %.0f s\n", total, elapsed.count());
  return failures > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// --transposed: the decoder suite's transposed convolutions against oneDNN's deconvolution

// The largest relative_difference between convkit's output and oneDNN's that is still the same layer: both sum the
// same products in float, so they agree to about 1e-6 of the output's magnitude; a mistaken layout or pad gives O(1).
constexpr double kTransposedTolerance = 1e-3;

// convkit's IOHW transposed weights, [g][Ci/g][Co/g][Kh*Kw], as OHWI, [g][Co/g][Kh*Kw][Ci/g].
std::vector<float> transposed_weights_ohwi(const float* iohw, const convkit::ConvTranspose2dDesc& d) {
  const std::int64_t in_per_group = d.in_channels / d.groups, out_per_group = d.out_channels / d.groups;
  const std::int64_t taps = d.kernel_height * d.kernel_width;
  std::vector<float> ohwi(static_cast<std::size_t>(d.in_channels * out_per_group * taps));
  for (std::int64_t g = 0; g < d.groups; ++g)
    for (std::int64_t c = 0; c < in_per_group; ++c)
      for (std::int64_t o = 0; o < out_per_group; ++o)
        for (std::int64_t t = 0; t < taps; ++t)
          ohwi[static_cast<std::size_t>(((g * out_per_group + o) * taps + t) * in_per_group + c)] =
              iohw[((g * in_per_group + c) * out_per_group + o) * taps + t];
  return ohwi;
}

// [outer][inner][channels] -> [outer][channels][inner]: NHWC -> NCHW.
std::vector<float> to_channels_first(const float* data, std::int64_t outer, std::int64_t channels, std::int64_t inner) {
  std::vector<float> out(static_cast<std::size_t>(outer * channels * inner));
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i)
      for (std::int64_t c = 0; c < channels; ++c)
        out[static_cast<std::size_t>((o * channels + c) * inner + i)] = data[(o * inner + i) * channels + c];
  return out;
}

// "conv_transpose_gemm_col2im [2 threads]" -> "conv_transpose_gemm_col2im": the table has a thread column.
std::string without_threads(const std::string& description) {
  const std::size_t bracket = description.rfind(" [");
  if (bracket != std::string::npos && description.back() == ']' &&
      description.find("thread", bracket) != std::string::npos)
    return description.substr(0, bracket);
  return description;
}

// A layer's class, for the summary: its name up to the first '_' (unet, dcgan, fcn8s, bilinear, hifigan).
std::string layer_class(const std::string& name) { return name.substr(0, name.find('_')); }

// One transposed layer's data in plain layouts (NCHW input, IOHW weights), shared by convkit and oneDNN.
struct TransposedData {
  convkit_bench::AlignedArray<float> input, weights, bias;
  explicit TransposedData(const TransposedLayer& layer, std::uint32_t seed) {
    const convkit::ConvTranspose2dDesc& d = layer.desc;
    input =
        convkit_bench::random_array(static_cast<std::size_t>(d.batch * d.in_channels * d.in_height * d.in_width), seed);
    const std::int64_t taps = d.kernel_height * d.kernel_width;
    weights = convkit_bench::random_array(static_cast<std::size_t>(d.in_channels * (d.out_channels / d.groups) * taps),
                                          seed + 1);
    bias = convkit_bench::random_array(static_cast<std::size_t>(d.out_channels), seed + 2);
    // Each output sums about Ci/groups * taps / stride^2 products: scaled by 1/sqrt(Ci/groups * taps) they stay
    // near 1 whatever the layer, as a trained network's would.
    const float scale = 1.0f / std::sqrt(static_cast<float>(d.in_channels / d.groups * taps));
    for (std::size_t i = 0; i < weights.size(); ++i) weights.data()[i] *= scale;
  }
};

// One convkit plan of a transposed layer in one layout, with its input in that layout and its output.
struct TransposedCase {
  convkit::Layout layout;
  std::string implementation;  // empty: the auto plan
  convkit::Plan plan;
  std::vector<float> input;  // the layout's copy of TransposedData::input
  convkit_bench::AlignedArray<float> output;
  convkit_bench::AlignedArray<unsigned char> workspace;

  void run() { plan.run(input.data(), output.data(), workspace.data(), workspace.size()); }
  std::vector<float> output_nchw(const TransposedLayer& layer) const {
    const convkit::ConvTranspose2dDesc& d = layer.desc;
    if (layout == convkit::Layout::NCHW) return std::vector<float>(output.data(), output.data() + output.size());
    return to_channels_first(output.data(), d.batch, d.out_channels, layer.out_height() * layer.out_width());
  }
};

// The plan of `layer` in `layout` (auto, or the named implementation) on `data`.
std::unique_ptr<TransposedCase> make_transposed_case(const TransposedLayer& suite_layer, const TransposedData& data,
                                                     convkit::Layout layout, const std::string& implementation,
                                                     const convkit::Options& options) {
  const TransposedLayer layer = suite_layer.with_layout(layout);
  const convkit::ConvTranspose2dDesc& d = layer.desc;
  const bool nhwc = layout == convkit::Layout::NHWC;
  const std::vector<float> ohwi = nhwc ? transposed_weights_ohwi(data.weights.data(), d) : std::vector<float>();
  const float* weights = nhwc ? ohwi.data() : data.weights.data();
  convkit::Plan plan = implementation.empty() ? convkit::Plan(d, weights, data.bias.data(), options)
                                              : convkit::detail::transposed_plan_with(d, weights, data.bias.data(),
                                                                                      options, implementation.c_str());
  std::vector<float> input =
      nhwc ? convkit_bench::to_channels_last(data.input.data(), d.batch, d.in_channels, d.in_height * d.in_width)
           : std::vector<float>(data.input.data(), data.input.data() + data.input.size());
  const std::size_t output_size =
      static_cast<std::size_t>(d.batch * d.out_channels * layer.out_height() * layer.out_width());
  const std::size_t workspace_size = plan.workspace_size();
  return std::make_unique<TransposedCase>(TransposedCase{layout, implementation, std::move(plan), std::move(input),
                                                         convkit_bench::AlignedArray<float>(output_size),
                                                         convkit_bench::AlignedArray<unsigned char>(workspace_size)});
}

// One convkit measurement of a transposed layer; oneDNN's figures are the layer's at that thread count.
struct TransposedRow {
  std::size_t layer;
  convkit::Layout layout;
  int threads;
  std::string implementation;  // empty: auto
  std::string description;     // the plan's, without the thread count; or why there is none
  bool ok = false, declined = false;
  Timing convkit, onednn;
  std::string onednn_implementation;
  double difference = missing();  // to oneDNN's output, relative_difference
};

void print_transposed(const std::vector<TransposedLayer>& layers, const std::vector<TransposedRow>& rows,
                      const Config& config) {
  TextTable table({{"layer", false},
                   {"layout", false},
                   {"T", true},
                   {"plan", false},
                   {"implementation", false},
                   {"time", true},
                   {"GFLOP/s", true},
                   {"oneDNN GFLOP/s", true, config.onednn},
                   {"convkit/oneDNN", true, config.onednn},
                   {"max rel diff", true, config.onednn},
                   {"oneDNN implementation", false, config.onednn}});
  int declined = 0;
  for (const TransposedRow& row : rows) {
    if (row.declined) {
      ++declined;
      continue;
    }
    const double flops = layers[row.layer].flops();
    const double ratio = row.ok && row.onednn.measured() ? row.onednn.median / row.convkit.median : missing();
    table.add({layers[row.layer].name, layout_name(row.layout), std::to_string(row.threads),
               row.implementation.empty() ? "auto" : row.implementation,
               row.ok ? row.description : (row.declined ? "-" : "FAILED"),
               row.ok ? duration_text(row.convkit.median) : "-", fixed(rate(flops, row.convkit), 1),
               fixed(rate(flops, row.onednn), 1), fixed(ratio, 2), difference_text(row.difference),
               row.onednn_implementation.empty() ? "-" : row.onednn_implementation});
  }
  std::printf("\n");
  for (const std::string& line : table.render()) std::printf("%s\n", line.c_str());
  std::printf(
      "\nGFLOP/s counts 2*N*Ci*(Co/groups)*Kh*Kw*H*W FLOPs (every product, cropped ones included). convkit/oneDNN:\n"
      "oneDNN's median time over convkit's, above 1 when convkit is faster; both timed alternately, two rounds, the\n"
      "better median of each kept. max rel diff: max |convkit - oneDNN| / max |oneDNN| over the output, on the same\n"
      "data (more than %.0e fails the run). oneDNN: deconvolution_direct, format_tag::any, reorders outside timing.\n",
      kTransposedTolerance);
  if (!config.implementations.empty()) {
    std::printf("%d (layer, layout, thread count, implementation) left out: the implementation declines the layer\n",
                declined);
    // Per layer, layout and thread count: the fastest named implementation, its time over auto's.
    TextTable fastest({{"layer", false},
                       {"layout", false},
                       {"T", true},
                       {"auto chose", false},
                       {"fastest named", false},
                       {"its time / auto's", true},
                       {"runners-up (time / auto's)", false}});
    for (const TransposedRow& base : rows) {
      if (!base.implementation.empty()) continue;
      std::vector<const TransposedRow*> named;
      for (const TransposedRow& row : rows)
        if (!row.implementation.empty() && row.ok && row.layer == base.layer && row.layout == base.layout &&
            row.threads == base.threads)
          named.push_back(&row);
      if (named.empty()) continue;
      std::sort(named.begin(), named.end(),
                [](const TransposedRow* a, const TransposedRow* b) { return a->convkit.median < b->convkit.median; });
      const auto relative = [&base](const TransposedRow* row) {
        return base.ok ? row->convkit.median / base.convkit.median : missing();
      };
      std::string others;
      for (std::size_t i = 1; i < named.size(); ++i)
        others += (others.empty() ? "" : ", ") + named[i]->implementation + " " + fixed(relative(named[i]), 2);
      fastest.add({layers[base.layer].name, layout_name(base.layout), std::to_string(base.threads),
                   base.ok ? base.description : "FAILED", named.front()->implementation,
                   fixed(relative(named.front()), 2), others.empty() ? "-" : others});
    }
    std::printf("\n");
    for (const std::string& line : fastest.render()) std::printf("%s\n", line.c_str());
  }

  if (!config.onednn) return;
  // Geometric means of the auto plans' ratios: per thread count and layout, then per layer class.
  std::map<std::pair<int, std::string>, std::vector<double>> overall;
  std::map<std::string, std::map<std::pair<int, std::string>, std::vector<double>>> by_class;
  std::vector<std::string> classes;
  for (const TransposedRow& row : rows) {
    if (!row.implementation.empty() || !row.ok || !row.onednn.measured()) continue;
    const double ratio = row.onednn.median / row.convkit.median;
    const std::pair<int, std::string> key{row.threads, layout_name(row.layout)};
    overall[key].push_back(ratio);
    const std::string name = layer_class(layers[row.layer].name);
    if (by_class.count(name) == 0) classes.push_back(name);
    by_class[name][key].push_back(ratio);
  }
  if (overall.empty()) return;
  std::vector<TextTable::Column> columns{{"geomean convkit/oneDNN (auto)", false}};
  for (const auto& [key, values] : overall)
    columns.push_back({"T" + std::to_string(key.first) + " " + key.second, true});
  TextTable summary(columns);
  std::vector<std::string> cells{"all layers"};
  for (const auto& [key, values] : overall) {
    const GeometricMean mean = geometric_mean(values);
    cells.push_back(fixed(mean.value, 2) + " (" + std::to_string(mean.count) + ")");
  }
  summary.add(cells);
  for (const std::string& name : classes) {
    std::vector<std::string> class_cells{name};
    for (const auto& [key, values] : overall) {
      const auto found = by_class[name].find(key);
      class_cells.push_back(found == by_class[name].end() ? "-" : fixed(geometric_mean(found->second).value, 2));
    }
    summary.add(class_cells);
  }
  std::printf("\n");
  for (const std::string& line : summary.render()) std::printf("%s\n", line.c_str());
}

int run_transposed(const Config& config, const std::vector<TransposedLayer>& layers, const RunContext& context) {
  const auto started = std::chrono::steady_clock::now();
  std::printf("\nlayers (output size, MFLOP):\n");
  for (const TransposedLayer& layer : layers) {
    const convkit::ConvTranspose2dDesc& d = layer.desc;
    std::printf(
        "  %-22s %s N%-2lld %4lld -> %4lld  %lldx%lld -> %lldx%lld  k%lldx%lld s%lldx%lld p%lld,%lld op%lld,%lld "
        "g%lld  %9.1f\n",
        layer.name.c_str(), layer.one_d ? "1d" : "2d", static_cast<long long>(d.batch),
        static_cast<long long>(d.in_channels), static_cast<long long>(d.out_channels),
        static_cast<long long>(d.in_height), static_cast<long long>(d.in_width),
        static_cast<long long>(layer.out_height()), static_cast<long long>(layer.out_width()),
        static_cast<long long>(d.kernel_height), static_cast<long long>(d.kernel_width),
        static_cast<long long>(d.stride_height), static_cast<long long>(d.stride_width),
        static_cast<long long>(d.pad_top), static_cast<long long>(d.pad_left),
        static_cast<long long>(d.output_padding_height), static_cast<long long>(d.output_padding_width),
        static_cast<long long>(d.groups), layer.flops() * 1e-6);
  }
  std::fflush(stdout);

  constexpr int kRounds = 2;
  const int per_layer =
      static_cast<int>(config.layouts.size() * (1 + config.implementations.size())) + (config.onednn ? 1 : 0);
  const int total = static_cast<int>(config.threads.size() * layers.size()) * per_layer;
  Progress progress(total, !config.quiet);
  std::vector<TransposedRow> rows;
  int failures = 0;
  const auto fail = [&](const std::string& what, const std::string& message) {
    progress.end("FAILED");
    std::fprintf(stderr, "%s: %s: %s\n", kProgram, what.c_str(), message.c_str());
    ++failures;
  };
  for (const int threads : config.threads) {
    convkit_bench::use_threads(threads);  // before oneDNN's primitive; and OpenBLAS under convkit's GEMMs
    convkit::Options options;
    options.threads = threads;
    options.math_mode = config.math_mode;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const TransposedLayer& layer = layers[l];
      const std::string label = layer.name + " T" + std::to_string(threads);
      const TransposedData data(layer, 300 + 8 * static_cast<std::uint32_t>(l));
      const double flops = layer.flops();

      // oneDNN first: its output is the reference every convkit plan is checked against.
      Timing onednn_timing;
      std::string onednn_implementation;
      std::vector<float> reference;
      std::function<void()> onednn_run;
#ifdef CONVKIT_BENCH_HAVE_DNNL
      std::unique_ptr<convkit_bench::OnednnDeconvolution> deconvolution;
      if (config.onednn) {
        progress.begin(label + " oneDNN");
        try {
          deconvolution = std::make_unique<convkit_bench::OnednnDeconvolution>(layer, data.input.data(),
                                                                               data.weights.data(), data.bias.data());
          onednn_implementation = deconvolution->implementation();
          deconvolution->run();
          reference = deconvolution->output_nchw();
          onednn_run = [&deconvolution] { deconvolution->run(); };
          progress.end(onednn_implementation);
        } catch (const dnnl::error& e) {
          progress.end(e.status == dnnl_unimplemented ? "no implementation" : "failed");
          onednn_implementation = e.status == dnnl_unimplemented ? "unimplemented" : "FAILED";
          if (e.status != dnnl_unimplemented) {
            std::fprintf(stderr, "%s: %s oneDNN: %s\n", kProgram, label.c_str(), e.what());
            ++failures;
          }
        }
      }
#endif

      // The auto plans, checked, then timed alternately with oneDNN.
      std::vector<std::unique_ptr<TransposedCase>> cases;
      const std::size_t first_row = rows.size();
      const auto prepare = [&](convkit::Layout layout, const std::string& implementation) {
        TransposedRow row;
        row.layer = l;
        row.layout = layout;
        row.threads = threads;
        row.implementation = implementation;
        std::unique_ptr<TransposedCase> made;
        try {
          made = make_transposed_case(layer, data, layout, implementation, options);
          made->run();
          row.description = without_threads(made->plan.description());
          if (!reference.empty())
            row.difference = convkit_bench::relative_difference(made->output_nchw(layer), reference);
          row.ok = true;
        } catch (const convkit::Error& e) {
          row.declined = !implementation.empty() && e.status() == convkit::Status::Unsupported;
          row.description = e.what();
        } catch (const std::exception& e) {
          row.description = e.what();
        }
        rows.push_back(row);
        cases.push_back(std::move(made));
      };
      for (const convkit::Layout layout : config.layouts) prepare(layout, "");
      std::vector<Timing> best(cases.size());
      for (int round = 0; round < kRounds; ++round) {
        for (std::size_t c = 0; c < cases.size(); ++c) {
          if (cases[c] == nullptr) continue;
          const Timing timing = convkit_bench::time_calls([&] { cases[c]->run(); }, config.min_time);
          if (!best[c].measured() || timing.median < best[c].median) best[c] = timing;
        }
        if (onednn_run) {
          const Timing timing = convkit_bench::time_calls(onednn_run, config.min_time);
          if (!onednn_timing.measured() || timing.median < onednn_timing.median) onednn_timing = timing;
        }
      }
      for (std::size_t c = 0; c < cases.size(); ++c) {
        TransposedRow& row = rows[first_row + c];
        row.convkit = best[c];
        const std::string what = label + " " + layout_name(row.layout) + " auto";
        progress.begin(what);
        if (!row.ok)
          fail(what, row.description);
        else if (!reference.empty() && !(row.difference <= kTransposedTolerance))
          fail(what, "its output differs from oneDNN's by " + difference_text(row.difference) +
                         " of its magnitude: not the same layer");
        else
          progress.end(gflops_text(rate(flops, row.convkit)) + " (" + row.description + ")");
      }
      cases.clear();

      // The named implementations, one at a time, one round each.
      for (const std::string& implementation : config.implementations)
        for (const convkit::Layout layout : config.layouts) {
          const std::string what = label + " " + layout_name(layout) + " " + implementation;
          progress.begin(what);
          prepare(layout, implementation);
          TransposedRow& row = rows.back();
          if (row.ok) {
            row.convkit = convkit_bench::time_calls([&] { cases.back()->run(); }, config.min_time);
            if (!reference.empty() && !(row.difference <= kTransposedTolerance))
              fail(what, "its output differs from oneDNN's by " + difference_text(row.difference));
            else
              progress.end(gflops_text(rate(flops, row.convkit)));
          } else if (row.declined) {
            progress.end("declined");
          } else {
            fail(what, row.description);
          }
          cases.clear();
        }
      for (std::size_t r = first_row; r < rows.size(); ++r) {
        rows[r].onednn = onednn_timing;
        rows[r].onednn_implementation = onednn_implementation;
      }
    }
  }
  print_transposed(layers, rows, config);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  std::printf("\n%d measurements in %.0f s; load average %.2f at the start, %.2f at the end", total, elapsed.count(),
              context.load_average, load_average());
  if (failures > 0) std::printf(", %d failed (see standard error)", failures);
  std::printf("\n");
  return failures > 0 ? 1 : 0;
}

int run(int argc, char** argv) {
  Config config;
  std::vector<Layer> layers;
  std::vector<TransposedLayer> transposed_layers;
  std::vector<std::string> suite_paths;
  std::unique_ptr<std::ofstream> csv, json, svg;
  try {
    config = parse_options(argc, argv);
    if (config.transposed)
      transposed_layers = select_transposed_layers(config, suite_paths);
    else if (!config.blocks)
      layers = select_layers(config, suite_paths);
    csv = open_output(config.csv_path, "--csv");
    json = open_output(config.json_path, "--json");
    svg = open_output(config.svg_path, "--svg");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n", kProgram, e.what());
    std::fprintf(stderr, "Try '%s --help' for more information.\n", kProgram);
    return 2;
  }

  const auto started = std::chrono::steady_clock::now();
  const RunContext context = gather_context(config, suite_paths);
  print_header(context, config, config.transposed ? transposed_layers.size() : layers.size());
  std::fflush(stdout);
  if (config.blocks) return run_blocks(config, context);
  if (config.transposed) return run_transposed(config, transposed_layers, context);
  if (config.pool) return run_pool_comparison(config, layers);
  if (config.creation) return run_creation(config, layers);

  const int per_layer =
      2 + (config.onednn ? 1 : 0) + static_cast<int>(config.layouts.size() * config.algorithms.size());
  const int total = static_cast<int>(config.threads.size() * (1 + layers.size() * per_layer));
  Progress progress(total, !config.quiet);
  int failures = 0;

  // The peaks first, for every thread count, so that all of them see the machine in the same state.
  std::vector<Section> sections;
  for (const int threads : config.threads) {
    progress.begin("peak T" + std::to_string(threads) + " cblas_sgemm " + std::to_string(kPeakSize) + "^3");
    const double peak = convkit_bench::measure_sgemm_peak_gflops(threads, kPeakSize);
    progress.end(gflops_text(peak));
    sections.push_back(Section{threads, peak, {}, {}});
    std::printf("peak T%d: %.1f GFLOP/s (cblas_sgemm %d^3, best of 3)\n", threads, peak, kPeakSize);
  }
  std::printf("\n");
  std::fflush(stdout);

  {
    const BusyNeighbours neighbours(config.neighbours);
    for (Section& section : sections) measure_section(section, layers, config, progress, failures);
  }

  const double end_load = load_average();
  print_table(sections, layers, config);
  if (config.breakdown) print_breakdown(sections, layers);
  if (config.neighbours > 0) print_shared_cores(sections, layers, config);

  if (csv != nullptr || json != nullptr) {
    std::vector<Record> records;
    for (const Section& section : sections)
      for (const Row& row : section.rows) records.push_back(row_record(row, layers[row.layer], section));
    if (csv != nullptr) convkit_bench::write_csv(*csv, records);
    if (json != nullptr) convkit_bench::write_json(*json, context_record(context, config, sections, end_load), records);
  }
  if (svg != nullptr) *svg << render_chart(sections, layers, config, context);
  bool written = finish_output(csv.get(), config.csv_path);
  written = finish_output(json.get(), config.json_path) && written;
  written = finish_output(svg.get(), config.svg_path) && written;

  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  std::printf("%d measurements in %.0f s; load average %.2f at the start, %.2f at the end", total, elapsed.count(),
              context.load_average, end_load);
  if (failures > 0) std::printf(", %d failed (see standard error)", failures);
  std::printf("\n");
  return failures > 0 || !written ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  // First, with the untouched argv: this may re-execute the program with OPENBLAS_CORETYPE set.
  convkit_bench::ensure_best_blas_core(argc, argv);
  return run(argc, argv);
}
