// A 1x1 convolution is a fully connected layer applied at every pixel: the lesson's check, in a vendored build.
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdio>
#include <vector>

int main() {
  convkit::Conv2dDesc desc;
  desc.batch = 1;
  desc.in_channels = 3;
  desc.in_height = desc.in_width = 3;
  desc.out_channels = 2;
  desc.kernel_height = desc.kernel_width = 1;
  std::vector<float> x(27), k(6), y(18);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = 0.5f * static_cast<float>(i) - 1.0f;
  const convkit::Algorithm used = convkit::conv2d(desc, x.data(), k.data(), nullptr, y.data());
  double worst = 0;  // against K (2 x 3) times X (3 x 9)
  for (int o = 0; o < 2; ++o)
    for (int p = 0; p < 9; ++p) {
      double sum = 0;
      for (int c = 0; c < 3; ++c) sum += double(k[o * 3 + c]) * double(x[c * 9 + p]);
      worst = std::fmax(worst, std::fabs(sum - y[o * 9 + p]));
    }
  std::printf("add_subdirectory example (convkit %s, %s): max error %g\n", convkit::version(),
              convkit::algorithm_name(used), worst);
  return worst <= 1e-6 ? 0 : 1;
}
