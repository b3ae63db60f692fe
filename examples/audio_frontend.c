/* An audio front end with convkit's 1-D calls: a waveform encoded by strided 1-D convolutions (the feature encoder of
 * wav2vec 2.0: a 10-tap stride-5 layer, then a 3-tap stride-2 one, GELU after each) and decoded back to the sample
 * rate by a transposed 1-D convolution (a HiFi-GAN-style upsampling layer: 16 taps, stride 8, padding 4), all as
 * plans in the NWC layout an engine streams audio in ("N x L x C", CONVKIT_LAYOUT_NHWC). Each result is checked
 * against a plain loop. Build: see examples/CMakeLists.txt; run: ./convkit_audio_frontend */
#include <convkit/convkit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float uniform(unsigned* state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)(*state >> 8) / 16777216.0f - 0.5f;
}

static void fill(float* values, size_t count, unsigned seed) {
  for (size_t i = 0; i < count; ++i) values[i] = uniform(&seed);
}

static int check(convkit_status status, const char* what) {
  if (status != CONVKIT_STATUS_OK) fprintf(stderr, "%s: %s\n", what, convkit_last_error());
  return status == CONVKIT_STATUS_OK;
}

/* out[t][o] = bias[o] + sum_{c,k} in[t*stride - pad + k][c] * w[o][c][k] (NWC, OIW weights), in double. */
static double conv1d_error(const convkit_conv1d_desc* d, const float* in, const float* w, const float* bias,
                           const float* out, int64_t out_length) {
  double worst = 0.0;
  for (int64_t t = 0; t < out_length; ++t)
    for (int64_t o = 0; o < d->out_channels; ++o) {
      double sum = bias[o];
      for (int64_t c = 0; c < d->in_channels; ++c)
        for (int64_t k = 0; k < d->kernel_size; ++k) {
          const int64_t x = t * d->stride - d->pad_begin + k * d->dilation;
          if (x >= 0 && x < d->in_length) sum += (double)in[x * d->in_channels + c] * w[(o * d->in_channels + c) * d->kernel_size + k];
        }
      const double gelu = 0.5 * sum * (1.0 + erf(sum / sqrt(2.0)));
      worst = fmax(worst, fabs(gelu - out[t * d->out_channels + o]));
    }
  return worst;
}

/* out[x][o] = bias[o] + sum over t, k with x = t*stride - pad + k of in[t][c] * w[c][o][k] (IOW weights), in double. */
static double transposed_error(const convkit_conv_transpose1d_desc* d, const float* in, const float* w,
                               const float* bias, const float* out, int64_t out_length) {
  double* sums = calloc((size_t)(out_length * d->out_channels), sizeof(double));
  double worst = 0.0;
  for (int64_t t = 0; t < d->in_length; ++t)
    for (int64_t c = 0; c < d->in_channels; ++c)
      for (int64_t o = 0; o < d->out_channels; ++o)
        for (int64_t k = 0; k < d->kernel_size; ++k) {
          const int64_t x = t * d->stride - d->pad_begin + k;
          if (x >= 0 && x < out_length)
            sums[x * d->out_channels + o] += (double)in[t * d->in_channels + c] * w[(c * d->out_channels + o) * d->kernel_size + k];
        }
  for (int64_t i = 0; i < out_length * d->out_channels; ++i)
    worst = fmax(worst, fabs(sums[i] + bias[i % d->out_channels] - out[i]));
  free(sums);
  return worst;
}

int main(void) {
  const int64_t samples = 1600; /* 0.1 s at 16 kHz */
  convkit_options options;
  convkit_options_init(&options);
  convkit_epilogue gelu;
  convkit_epilogue_init(&gelu);
  gelu.activation = CONVKIT_ACTIVATION_GELU_ERF;

  /* Encoder: 1 -> 64 channels, 10 taps, stride 5; then 64 -> 64, 3 taps, stride 2. */
  convkit_conv1d_desc enc1, enc2;
  convkit_conv1d_desc_init(&enc1);
  enc1.batch = 1, enc1.in_channels = 1, enc1.in_length = samples, enc1.out_channels = 64;
  enc1.kernel_size = 10, enc1.stride = 5, enc1.layout = CONVKIT_LAYOUT_NHWC;
  int64_t frames1 = 0, frames2 = 0, restored = 0;
  if (!check(convkit_conv1d_output_length(&enc1, &frames1), "enc1")) return 1;
  enc2 = enc1;
  enc2.in_channels = 64, enc2.in_length = frames1, enc2.kernel_size = 3, enc2.stride = 2;
  if (!check(convkit_conv1d_output_length(&enc2, &frames2), "enc2")) return 1;

  /* Decoder: 64 -> 32 channels, upsampled 8x by a transposed convolution (16 taps, stride 8, padding 4). */
  convkit_conv_transpose1d_desc dec;
  convkit_conv_transpose1d_desc_init(&dec);
  dec.batch = 1, dec.in_channels = 64, dec.in_length = frames2, dec.out_channels = 32;
  dec.kernel_size = 16, dec.stride = 8, dec.pad_begin = 4, dec.pad_end = 4, dec.layout = CONVKIT_LAYOUT_NHWC;
  if (!check(convkit_conv_transpose1d_output_length(&dec, &restored), "dec")) return 1;

  float* wave = malloc(sizeof(float) * (size_t)samples);
  float* w1 = malloc(sizeof(float) * 64 * 10);
  float* w2 = malloc(sizeof(float) * 64 * 64 * 3);
  float* w3 = malloc(sizeof(float) * 64 * 32 * 16);
  float* b1 = malloc(sizeof(float) * 64);
  float* b2 = malloc(sizeof(float) * 64);
  float* b3 = malloc(sizeof(float) * 32);
  float* h1 = malloc(sizeof(float) * (size_t)(frames1 * 64));
  float* h2 = malloc(sizeof(float) * (size_t)(frames2 * 64));
  float* out = malloc(sizeof(float) * (size_t)(restored * 32));
  fill(wave, (size_t)samples, 1), fill(w1, 640, 2), fill(w2, 64 * 64 * 3, 3), fill(w3, 64 * 32 * 16, 4);
  fill(b1, 64, 5), fill(b2, 64, 6), fill(b3, 32, 7);

  convkit_plan *p1 = NULL, *p2 = NULL, *p3 = NULL;
  int ok = check(convkit_plan_create_conv1d(&enc1, w1, b1, &options, &gelu, &p1), "plan enc1") &&
           check(convkit_plan_create_conv1d(&enc2, w2, b2, &options, &gelu, &p2), "plan enc2") &&
           check(convkit_plan_create_transposed1d(&dec, w3, b3, &options, NULL, &p3), "plan dec") &&
           check(convkit_plan_run(p1, wave, h1, NULL, 0), "run enc1") &&
           check(convkit_plan_run(p2, h1, h2, NULL, 0), "run enc2") &&
           check(convkit_plan_run(p3, h2, out, NULL, 0), "run dec");
  if (ok) {
    const double e1 = conv1d_error(&enc1, wave, w1, b1, h1, frames1);
    const double e2 = conv1d_error(&enc2, h1, w2, b2, h2, frames2);
    const double e3 = transposed_error(&dec, h2, w3, b3, out, restored);
    printf("%lld samples -> %lld frames (%s) -> %lld frames (%s) -> %lld samples (%s)\n", (long long)samples,
           (long long)frames1, convkit_plan_description(p1), (long long)frames2, convkit_plan_description(p2),
           (long long)restored, convkit_plan_description(p3));
    printf("largest error against plain loops: %.2g, %.2g, %.2g\n", e1, e2, e3);
    ok = e1 < 1e-4 && e2 < 1e-4 && e3 < 1e-4;
  }
  convkit_plan_destroy(p1), convkit_plan_destroy(p2), convkit_plan_destroy(p3);
  free(wave), free(w1), free(w2), free(w3), free(b1), free(b2), free(b3), free(h1), free(h2), free(out);
  return ok ? 0 : 1;
}
