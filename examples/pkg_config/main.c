/* A plain C99 program linked against the installed static library with pkg-config alone:
 *   cc -std=c99 main.c $(pkg-config --cflags --libs --static convkit) -o pkg_config_example
 * It runs the lesson's corr2d_multi_in through a plan. */
#include <convkit/convkit.h>
#include <stdio.h>

int main(void) {
  const float x[18] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const float k[8] = {0, 1, 2, 3, 1, 2, 3, 4};
  const float expected[4] = {56, 72, 104, 120};
  float y[4];
  convkit_conv2d_desc desc;
  convkit_plan* plan = NULL;
  convkit_status status;
  int i, mismatches = 0;
  convkit_conv2d_desc_init(&desc);
  desc.batch = 1;
  desc.in_channels = 2;
  desc.in_height = desc.in_width = 3;
  desc.out_channels = 1;
  desc.kernel_height = desc.kernel_width = 2;
  status = convkit_plan_create(&desc, k, NULL, NULL, &plan);
  if (status == CONVKIT_STATUS_OK) status = convkit_plan_run(plan, x, y, NULL, 0);
  convkit_plan_destroy(plan);
  if (status != CONVKIT_STATUS_OK) {
    fprintf(stderr, "convkit: %s: %s\n", convkit_status_string(status), convkit_last_error());
    return 1;
  }
  for (i = 0; i < 4; ++i) mismatches += y[i] != expected[i];
  printf("pkg-config example (convkit %s): [[%g, %g], [%g, %g]]\n", convkit_version(), y[0], y[1], y[2], y[3]);
  return mismatches == 0 ? 0 : 1;
}
