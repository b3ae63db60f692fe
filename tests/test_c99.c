/* The C API compiled as C99 (-std=c99 -pedantic-errors) and called from C: the lesson's corr2d_multi_in_out. */
#include <convkit/convkit.h>

#include <stdio.h>

int main(void) {
  const float x[18] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const float k[8] = {0, 1, 2, 3, 1, 2, 3, 4};
  const float expected[12] = {56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224};
  float k3[24], y[12];
  convkit_conv2d_desc desc;
  convkit_options options;
  convkit_status status;
  int o, i, failures = 0;
  for (o = 0; o < 3; ++o)
    for (i = 0; i < 8; ++i) k3[o * 8 + i] = k[i] + (float)o;
  convkit_conv2d_desc_init(&desc);
  desc.batch = 1;
  desc.in_channels = 2;
  desc.in_height = desc.in_width = 3;
  desc.out_channels = 3;
  desc.kernel_height = desc.kernel_width = 2;
  convkit_options_init(&options);
  status = convkit_conv2d(&desc, x, k3, NULL, y, &options);
  if (status != CONVKIT_STATUS_OK) {
    fprintf(stderr, "convkit_conv2d: %s: %s\n", convkit_status_string(status), convkit_last_error());
    return 1;
  }
  for (i = 0; i < 12; ++i) failures += y[i] != expected[i];
  desc.groups = 5; /* does not divide the channels */
  status = convkit_conv2d(&desc, x, k3, NULL, y, &options);
  if (status != CONVKIT_STATUS_INVALID_ARGUMENT) ++failures;
  printf("C99 API: %d mismatches; rejected groups = 5 with \"%s\"\n", failures, convkit_last_error());
  return failures == 0 ? 0 : 1;
}
