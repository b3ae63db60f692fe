/* A ResNet bottleneck block through convkit's fused epilogues (C API) on a 1 x 64 x 14 x 14 input:
 *
 *   1x1 64 -> 16 + ReLU,  3x3 16 -> 16 (padding 1) + ReLU,  1x1 16 -> 64 + block input + ReLU
 *
 * Each convolution is one plan made with convkit_plan_create_fused, its activation (and, for the last, the residual
 * sum) applied as the plan stores its output. The last one adds the residual in place: its output buffer starts as
 * a copy of the block input and is passed as both residual and output to convkit_plan_run_residual, which reads each
 * element before it writes it. The same block computed step by step (plans without activation, then loops adding
 * the residual and applying ReLU) checks it: the program prints the largest difference and exits non-zero when it
 * exceeds 1e-4 of the output's magnitude. */
#include <convkit/convkit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANNELS 64 /* in and out of the block */
#define WIDTH 16    /* inside the block: a quarter, as in ResNet-50 */
#define SIZE 14     /* height and width, kept by every convolution */
#define PIXELS (SIZE * SIZE)

static void check(convkit_status status, const char* what) {
  if (status != CONVKIT_STATUS_OK) {
    fprintf(stderr, "%s: %s: %s\n", what, convkit_status_string(status), convkit_last_error());
    exit(2);
  }
}

static float* allocate(int64_t count) {
  float* p = (float*)malloc((size_t)count * sizeof(float));
  if (p == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}

/* Numerical Recipes' LCG: the same numbers on every platform, unlike rand(). */
static uint32_t lcg_state = 2024;

/* count floats in [-scale, scale). */
static float* random_tensor(int64_t count, float scale) {
  float* p = allocate(count);
  int64_t i;
  for (i = 0; i < count; ++i) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    p[i] = scale * ((float)(lcg_state >> 8) * (2.0f / 16777216.0f) - 1.0f); /* the top 24 bits: exact */
  }
  return p;
}

/* A stride-1 convolution of the block with "same" padding. */
static convkit_conv2d_desc block_conv(int64_t in_channels, int64_t out_channels, int64_t kernel) {
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 1;
  d.in_channels = in_channels;
  d.in_height = d.in_width = SIZE;
  d.out_channels = out_channels;
  d.kernel_height = d.kernel_width = kernel;
  d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = kernel / 2;
  return d;
}

static void relu(float* t, int64_t count) {
  int64_t i;
  for (i = 0; i < count; ++i) t[i] = t[i] < 0.0f ? 0.0f : t[i];
}

int main(void) {
  const convkit_conv2d_desc descs[3] = {block_conv(CHANNELS, WIDTH, 1), block_conv(WIDTH, WIDTH, 3),
                                        block_conv(WIDTH, CHANNELS, 1)};
  float *weights[3], *bias[3], *input, *a, *b, *fused_out, *step_a, *step_b, *step_out;
  convkit_plan *fused[3], *plain[3];
  convkit_epilogue relu_only, relu_residual;
  double largest = 0, magnitude = 0;
  int i, ok;
  int64_t j;

  /* Weights scaled by sqrt(6 / fan-in) (He's rule), so that values keep their size through the block. */
  input = random_tensor(CHANNELS * PIXELS, 1.0f);
  for (i = 0; i < 3; ++i) {
    convkit_tensor_sizes sizes;
    check(convkit_conv2d_tensor_sizes(&descs[i], &sizes), "convkit_conv2d_tensor_sizes");
    weights[i] = random_tensor(sizes.weights, sqrtf(6.0f / (float)(sizes.weights / sizes.bias)));
    bias[i] = random_tensor(sizes.bias, 0.1f);
  }

  /* The fused block: the activation and the residual belong to the plans. */
  convkit_epilogue_init(&relu_only);
  relu_only.activation = CONVKIT_ACTIVATION_RELU;
  relu_residual = relu_only;
  relu_residual.residual = 1;
  check(convkit_plan_create_fused(&descs[0], weights[0], bias[0], NULL, &relu_only, &fused[0]), "1x1 reduce");
  check(convkit_plan_create_fused(&descs[1], weights[1], bias[1], NULL, &relu_only, &fused[1]), "3x3");
  check(convkit_plan_create_fused(&descs[2], weights[2], bias[2], NULL, &relu_residual, &fused[2]), "1x1 expand");
  a = allocate(WIDTH * PIXELS);
  b = allocate(WIDTH * PIXELS);
  fused_out = allocate(CHANNELS * PIXELS);
  check(convkit_plan_run(fused[0], input, a, NULL, 0), "run 1x1 reduce");
  check(convkit_plan_run(fused[1], a, b, NULL, 0), "run 3x3");
  memcpy(fused_out, input, sizeof(float) * CHANNELS * PIXELS); /* the residual, accumulated in place */
  check(convkit_plan_run_residual(fused[2], b, fused_out, fused_out, NULL, 0), "run 1x1 expand + residual");

  /* The same block step by step: convolutions with bias only, then the epilogue as loops. */
  for (i = 0; i < 3; ++i) check(convkit_plan_create(&descs[i], weights[i], bias[i], NULL, &plain[i]), "plain plan");
  step_a = allocate(WIDTH * PIXELS);
  step_b = allocate(WIDTH * PIXELS);
  step_out = allocate(CHANNELS * PIXELS);
  check(convkit_plan_run(plain[0], input, step_a, NULL, 0), "plain run 0");
  relu(step_a, WIDTH * PIXELS);
  check(convkit_plan_run(plain[1], step_a, step_b, NULL, 0), "plain run 1");
  relu(step_b, WIDTH * PIXELS);
  check(convkit_plan_run(plain[2], step_b, step_out, NULL, 0), "plain run 2");
  for (j = 0; j < CHANNELS * PIXELS; ++j) step_out[j] += input[j];
  relu(step_out, CHANNELS * PIXELS);

  for (j = 0; j < CHANNELS * PIXELS; ++j) {
    const double difference = fabs((double)fused_out[j] - (double)step_out[j]);
    if (!(difference <= largest)) largest = difference; /* !(<=): a NaN sticks */
    if (fabs((double)step_out[j]) > magnitude) magnitude = fabs((double)step_out[j]);
  }
  ok = largest <= 1e-4 * magnitude;

  printf("ResNet bottleneck, 1 x %d x %d x %d: 1x1 %d + ReLU, 3x3 %d + ReLU, 1x1 %d + input + ReLU\n", CHANNELS, SIZE,
         SIZE, WIDTH, WIDTH, CHANNELS);
  for (i = 0; i < 3; ++i) printf("  plan %d: %s\n", i + 1, convkit_plan_description(fused[i]));
  printf("largest |fused - step by step| = %.3g (output magnitude %.3g): %s\n", largest, magnitude,
         ok ? "the same within 1e-4 of the magnitude" : "MISMATCH");

  for (i = 0; i < 3; ++i) {
    convkit_plan_destroy(fused[i]);
    convkit_plan_destroy(plain[i]);
    free(weights[i]);
    free(bias[i]);
  }
  free(input);
  free(a);
  free(b);
  free(fused_out);
  free(step_a);
  free(step_b);
  free(step_out);
  return ok ? 0 : 1;
}
