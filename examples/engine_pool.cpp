// An inference engine that owns its threads: one pool for the whole process, and convkit's plans run on it.
// Two layers of a network (a 3x3 convolution, then a 1x1 projection with a residual added in place) run on the
// engine's pool through Plan::run_on; convkit starts no thread of its own. The program checks the result against
// the same plans on convkit's own workers (the same bits) and prints what ran.
#include <convkit/convkit.hpp>
#include <cstdio>
#include <cstring>
#include <vector>

#include "std_thread_pool.hpp"

namespace {

std::vector<float> pattern(std::size_t count, unsigned seed) {
  std::vector<float> values(count);
  for (float& v : values) {
    seed = seed * 1103515245u + 12345u;
    v = static_cast<float>((seed >> 16) & 0xFF) / 128.0f - 1.0f;
  }
  return values;
}

}  // namespace

int main() {
  convkit_examples::StdThreadPool engine_pool(2);  // the engine's threads, made once
  const convkit::ThreadPool pool = engine_pool.handle();

  convkit::Conv2dDesc conv3x3;
  conv3x3.batch = 1;
  conv3x3.in_channels = 32;
  conv3x3.in_height = conv3x3.in_width = 28;
  conv3x3.out_channels = 32;
  conv3x3.kernel_height = conv3x3.kernel_width = 3;
  conv3x3.layout = convkit::Layout::NHWC;
  convkit::set_same_padding(conv3x3);
  convkit::Conv2dDesc project = conv3x3;
  project.kernel_height = project.kernel_width = 1;
  project.pad_top = project.pad_left = project.pad_bottom = project.pad_right = 0;
  project.out_channels = 32;

  convkit::Options options;
  options.threads = engine_pool.width();  // each run splits its work into at most this many of the pool's tasks
  convkit::Epilogue relu;
  relu.activation = convkit::Activation::Relu;
  convkit::Epilogue residual_relu = relu;
  residual_relu.residual = true;

  const convkit::TensorSizes a = convkit::tensor_sizes(conv3x3), b = convkit::tensor_sizes(project);
  const std::vector<float> w1 = pattern(static_cast<std::size_t>(a.weights), 1);
  const std::vector<float> w2 = pattern(static_cast<std::size_t>(b.weights), 2);
  const convkit::Plan first(conv3x3, w1.data(), nullptr, options, relu);
  const convkit::Plan second(project, w2.data(), nullptr, options, residual_relu);

  const std::vector<float> x = pattern(static_cast<std::size_t>(a.input), 3);
  std::vector<float> hidden(static_cast<std::size_t>(a.output)), y = x;  // y starts as the block's input: the residual
  first.run_on(pool, x.data(), hidden.data());
  second.run_residual_on(pool, hidden.data(), y.data(), y.data());

  std::vector<float> own_hidden(hidden.size()), own_y = x;
  first.run(x.data(), own_hidden.data());
  second.run_residual(own_hidden.data(), own_y.data(), own_y.data());
  const bool same = std::memcmp(y.data(), own_y.data(), y.size() * sizeof(float)) == 0;
  std::printf("layer 1: %s\nlayer 2: %s\non the engine's pool of %d threads: %s\n", first.description().c_str(),
              second.description().c_str(), engine_pool.width(),
              same ? "the bits of convkit's own workers" : "DIFFERENT from convkit's own workers");
  return same ? 0 : 1;
}
