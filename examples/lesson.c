/* The "Multiple Input and Multiple Output Channels" lesson of Dive into Deep Learning, step by step, through
 * convkit's C API. Run it to see the lesson's tensors; it exits non-zero if any number differs from the lesson. */
#include <convkit/convkit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void print_tensor(const char* name, const float* t, int channels, int height, int width) {
  int c, i, j;
  printf("%s =\n", name);
  for (c = 0; c < channels; ++c) {
    printf("  [");
    for (i = 0; i < height; ++i) {
      printf(i ? "   [" : "[");
      for (j = 0; j < width; ++j) printf(j ? ", %g" : "%g", t[(c * height + i) * width + j]);
      printf(i + 1 < height ? "],\n" : "]");
    }
    printf("]\n");
  }
}

static void check(convkit_status status) {
  if (status != CONVKIT_STATUS_OK) {
    fprintf(stderr, "convkit: %s: %s\n", convkit_status_string(status), convkit_last_error());
    exit(2);
  }
}

static int same(const float* a, const float* b, int n, float tolerance) {
  int i;
  for (i = 0; i < n; ++i)
    if (fabsf(a[i] - b[i]) > tolerance) return 0;
  return 1;
}

int main(void) {
  /* X: two input channels of 3x3; K: one 2x2 kernel per input channel. */
  const float X[18] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const float K[8] = {0, 1, 2, 3, 1, 2, 3, 4};
  const float multi_in[4] = {56, 72, 104, 120};
  const float multi_in_out[12] = {56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224};
  float Y[12], K3[24], X1[27], K1[6], Y1_conv[18], Y1_matmul[18];
  convkit_conv2d_desc desc;
  int o, i, c, p, ok = 1;

  print_tensor("X", X, 2, 3, 3);
  print_tensor("K", K, 2, 2, 2);

  /* corr2d_multi_in: cross-correlate each channel with its kernel and sum over the channels. */
  convkit_conv2d_desc_init(&desc);
  desc.batch = 1;
  desc.in_channels = 2;
  desc.in_height = desc.in_width = 3;
  desc.out_channels = 1;
  desc.kernel_height = desc.kernel_width = 2;
  check(convkit_conv2d(&desc, X, K, NULL, Y, NULL));
  print_tensor("corr2d_multi_in(X, K)", Y, 1, 2, 2);
  ok &= same(Y, multi_in, 4, 0.0f);

  /* corr2d_multi_in_out: K stacked as (K, K+1, K+2) gives three output channels. */
  for (o = 0; o < 3; ++o)
    for (i = 0; i < 8; ++i) K3[o * 8 + i] = K[i] + (float)o;
  desc.out_channels = 3;
  check(convkit_conv2d(&desc, X, K3, NULL, Y, NULL));
  print_tensor("corr2d_multi_in_out(X, stack(K, K+1, K+2))", Y, 3, 2, 2);
  ok &= same(Y, multi_in_out, 12, 0.0f);

  /* A 1x1 convolution is a fully connected layer at every pixel: Y = K (c_o x c_i) times X (c_i x h*w). */
  srand(1);
  for (i = 0; i < 27; ++i) X1[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
  for (i = 0; i < 6; ++i) K1[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
  desc.in_channels = 3;
  desc.out_channels = 2;
  desc.kernel_height = desc.kernel_width = 1;
  check(convkit_conv2d(&desc, X1, K1, NULL, Y1_conv, NULL));
  for (o = 0; o < 2; ++o)
    for (p = 0; p < 9; ++p) {
      double sum = 0;
      for (c = 0; c < 3; ++c) sum += (double)K1[o * 3 + c] * X1[c * 9 + p];
      Y1_matmul[o * 9 + p] = (float)sum;
    }
  printf("1x1 convolution == matrix product within 1e-6: %s\n", same(Y1_conv, Y1_matmul, 18, 1e-6f) ? "yes" : "NO");
  ok &= same(Y1_conv, Y1_matmul, 18, 1e-6f);

  printf(ok ? "all of the lesson's numbers reproduced\n" : "MISMATCH with the lesson\n");
  return ok ? 0 : 1;
}
