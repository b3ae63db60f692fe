/* The exercise of the lesson "Multiple Input and Multiple Output Channels" (Dive into Deep Learning): two stacked
 * convolutions without a nonlinearity between them are one convolution. convkit_compose_conv2d computes that
 * convolution; this program runs both forms on a 1 x 3 x 64 x 64 input, prints their shapes, the largest difference
 * and the time of each, and exits non-zero if an output differs by more than 1e-4 of its magnitude (|bias| + sum of
 * |products| of the expanded sum, the bound convkit states for one convolution). */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include <convkit/convkit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPETITIONS 20

static void check(convkit_status status) {
  if (status != CONVKIT_STATUS_OK) {
    fprintf(stderr, "convkit: %s: %s\n", convkit_status_string(status), convkit_last_error());
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

static float* random_tensor(int64_t count) {
  float* p = allocate(count);
  int64_t i;
  for (i = 0; i < count; ++i) p[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
  return p;
}

static float* absolute(const float* t, int64_t count) {
  float* p = allocate(count);
  int64_t i;
  for (i = 0; i < count; ++i) p[i] = fabsf(t[i]);
  return p;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void print_desc(const char* name, const convkit_conv2d_desc* d) {
  int64_t out_height, out_width;
  convkit_algorithm algorithm;
  check(convkit_conv2d_output_size(d, &out_height, &out_width));
  check(convkit_conv2d_algorithm(d, NULL, &algorithm));
  printf("  %-9s %lld x %lld x %lld x %lld -> %lld x %lld x %lld x %lld, kernel %lldx%lld, stride %lld,%lld (%s)\n",
         name, (long long)d->batch, (long long)d->in_channels, (long long)d->in_height, (long long)d->in_width,
         (long long)d->batch, (long long)d->out_channels, (long long)out_height, (long long)out_width,
         (long long)d->kernel_height, (long long)d->kernel_width, (long long)d->stride_height,
         (long long)d->stride_width, convkit_algorithm_name(algorithm));
}

/* Runs first then second, and their composition, on one random input; returns 1 when they agree. */
static int run(const char* title, int64_t stride1, int64_t stride2) {
  convkit_conv2d_desc first, second, composed;
  convkit_tensor_sizes s1, s2, sc;
  int64_t middle_height, middle_width, i;
  float *x, *w1, *b1, *w2, *b2, *middle, *stacked, *wc, *bc, *once;
  float *ax, *aw1, *ab1, *aw2, *ab2, *magnitude;
  double start, stacked_time = INFINITY, once_time = INFINITY, largest = 0, worst_ratio = 0;
  int r, ok = 1;

  convkit_conv2d_desc_init(&first);
  first.batch = 1;
  first.in_channels = 3;
  first.in_height = first.in_width = 64;
  first.out_channels = 8;
  first.kernel_height = first.kernel_width = 3;
  first.stride_height = first.stride_width = stride1;
  check(convkit_conv2d_output_size(&first, &middle_height, &middle_width));
  convkit_conv2d_desc_init(&second);
  second.batch = 1;
  second.in_channels = 8;
  second.in_height = middle_height;
  second.in_width = middle_width;
  second.out_channels = 4;
  second.kernel_height = second.kernel_width = 5;
  second.stride_height = second.stride_width = stride2;
  check(convkit_conv2d_tensor_sizes(&first, &s1));
  check(convkit_conv2d_tensor_sizes(&second, &s2));

  x = random_tensor(s1.input);
  w1 = random_tensor(s1.weights);
  b1 = random_tensor(s1.bias);
  w2 = random_tensor(s2.weights);
  b2 = random_tensor(s2.bias);

  /* The descriptor first, to size the composed weights; then the weights and bias. */
  check(convkit_compose_conv2d(&first, NULL, NULL, &second, NULL, NULL, &composed, NULL, NULL));
  check(convkit_conv2d_tensor_sizes(&composed, &sc));
  wc = allocate(sc.weights);
  bc = allocate(sc.bias);
  check(convkit_compose_conv2d(&first, w1, b1, &second, w2, b2, &composed, wc, bc));

  printf("%s\n", title);
  print_desc("first", &first);
  print_desc("second", &second);
  print_desc("composed", &composed);
  printf("  multiply-adds: stacked %.2f M, composed %.2f M\n",
         ((double)s1.output * (double)(first.in_channels * first.kernel_height * first.kernel_width) +
          (double)s2.output * (double)(second.in_channels * second.kernel_height * second.kernel_width)) /
             1e6,
         (double)sc.output * (double)(composed.in_channels * composed.kernel_height * composed.kernel_width) / 1e6);

  middle = allocate(s1.output);
  stacked = allocate(s2.output);
  once = allocate(sc.output);
  for (r = 0; r < REPETITIONS; ++r) {
    start = now();
    check(convkit_conv2d(&first, x, w1, b1, middle, NULL));
    check(convkit_conv2d(&second, middle, w2, b2, stacked, NULL));
    stacked_time = fmin(stacked_time, now() - start);
    start = now();
    check(convkit_conv2d(&composed, x, wc, bc, once, NULL));
    once_time = fmin(once_time, now() - start);
  }

  /* The magnitude of each output: the same stack on absolute values. */
  ax = absolute(x, s1.input);
  aw1 = absolute(w1, s1.weights);
  ab1 = absolute(b1, s1.bias);
  aw2 = absolute(w2, s2.weights);
  ab2 = absolute(b2, s2.bias);
  magnitude = allocate(s2.output);
  check(convkit_conv2d(&first, ax, aw1, ab1, middle, NULL));
  check(convkit_conv2d(&second, middle, aw2, ab2, magnitude, NULL));
  for (i = 0; i < s2.output; ++i) {
    const double difference = fabs((double)once[i] - (double)stacked[i]);
    if (difference > largest) largest = difference;
    if (difference / magnitude[i] > worst_ratio) worst_ratio = difference / magnitude[i];
    if (!(difference <= 1e-4 * magnitude[i])) ok = 0;
  }
  printf("  largest |stacked - composed| = %.3g (%.2g of its magnitude)\n", largest, worst_ratio);
  printf("  time (best of %d): stacked %.1f us (both calls), composed %.1f us (one call)\n", REPETITIONS,
         stacked_time * 1e6, once_time * 1e6);
  printf("  %s\n", ok ? "stacked == composed within 1e-4 of the magnitude" : "MISMATCH");

  free(x);
  free(w1);
  free(b1);
  free(w2);
  free(b2);
  free(wc);
  free(bc);
  free(middle);
  free(stacked);
  free(once);
  free(ax);
  free(aw1);
  free(ab1);
  free(aw2);
  free(ab2);
  free(magnitude);
  return ok;
}

int main(void) {
  int ok = 1;
  srand(1);
  ok &= run("3 -> 8 channels (3x3), then 8 -> 4 (5x5), stride 1: one 7x7 convolution", 1, 1);
  ok &= run("the same with the first at stride 2: one 11x11 convolution at stride 2", 2, 1);
  return ok ? 0 : 1;
}
