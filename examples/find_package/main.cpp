// The lesson's corr2d_multi_in_out through a plan: prepared once, run with a workspace the program owns.
#include <convkit/convkit.hpp>
#include <cstdio>
#include <vector>

int main() {
  convkit::Conv2dDesc desc;
  desc.batch = 1;
  desc.in_channels = 2;
  desc.in_height = desc.in_width = 3;
  desc.out_channels = 3;
  desc.kernel_height = desc.kernel_width = 2;
  const std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> k;  // K stacked as (K, K+1, K+2)
  for (float o : {0.0f, 1.0f, 2.0f})
    for (float v : {0.0f, 1.0f, 2.0f, 3.0f, 1.0f, 2.0f, 3.0f, 4.0f}) k.push_back(v + o);
  try {
    const convkit::Plan plan(desc, k.data(), nullptr);
    std::vector<unsigned char> workspace(plan.workspace_size());
    std::vector<float> y(12);
    plan.run(x.data(), y.data(), workspace.data(), workspace.size());
    std::printf("find_package example (convkit %s, %s):", convkit::version(),
                convkit::algorithm_name(plan.algorithm()));
    for (float v : y) std::printf(" %g", v);
    std::printf("\n");
    return y == std::vector<float>{56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224} ? 0 : 1;
  } catch (const convkit::Error& e) {
    std::fprintf(stderr, "convkit: %s\n", e.what());
    return 1;
  }
}
