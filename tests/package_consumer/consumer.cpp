#include <convkit/convkit.hpp>

#include <cstdio>
#include <vector>

int main() {
  convkit::Conv2dDesc desc;
  desc.batch = 1;
  desc.in_channels = 2;
  desc.in_height = desc.in_width = 3;
  desc.out_channels = 1;
  desc.kernel_height = desc.kernel_width = 2;
  const std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> k = {0, 1, 2, 3, 1, 2, 3, 4};
  std::vector<float> y(4);
  const convkit::Algorithm used = convkit::conv2d(desc, x.data(), k.data(), nullptr, y.data());
  std::printf("consumer: [[%g, %g], [%g, %g]] by %s\n", y[0], y[1], y[2], y[3], convkit::algorithm_name(used));
  return y == std::vector<float>{56, 72, 104, 120} ? 0 : 1;
}
