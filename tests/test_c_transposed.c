/* Transposed and 1-D convolutions through the C API, compiled as C99: the descriptors' defaults, sizes, ONNX's
   output_shape, the one-shot calls (with the algorithm that ran) against a scatter loop in double, plans made, run
   (on their own workers and on a caller's pool, with an epilogue and a residual in place) and destroyed, the 1-D calls
   against the 2-D ones, and each misuse answered with its status and a message naming the field. */
#include <convkit/convkit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "c_expect.h"

enum { N = 2, CI = 4, H = 3, W = 4, CO = 6, G = 2, K = 3, HO = 6, WO = 8 };

/* The definition in its scatter form, NCHW and IOHW: every input element times every tap added into the output. */
static void scatter(const convkit_conv_transpose2d_desc* d, const float* in, const float* w, const float* bias,
                    double* out, int64_t ho, int64_t wo) {
  int64_t n, c, iy, ix, o, i, j;
  const int64_t cg = d->in_channels / d->groups, og = d->out_channels / d->groups;
  for (n = 0; n < d->batch; ++n)
    for (o = 0; o < d->out_channels; ++o)
      for (i = 0; i < ho * wo; ++i) out[(n * d->out_channels + o) * ho * wo + i] = bias ? bias[o] : 0.0;
  for (n = 0; n < d->batch; ++n)
    for (c = 0; c < d->in_channels; ++c)
      for (iy = 0; iy < d->in_height; ++iy)
        for (ix = 0; ix < d->in_width; ++ix)
          for (o = (c / cg) * og; o < (c / cg + 1) * og; ++o)
            for (i = 0; i < d->kernel_height; ++i)
              for (j = 0; j < d->kernel_width; ++j) {
                const int64_t y = iy * d->stride_height - d->pad_top + i * d->dilation_height;
                const int64_t x = ix * d->stride_width - d->pad_left + j * d->dilation_width;
                if (y < 0 || y >= ho || x < 0 || x >= wo) continue;
                out[((n * d->out_channels + o) * ho + y) * wo + x] +=
                    (double)in[((n * d->in_channels + c) * d->in_height + iy) * d->in_width + ix] *
                    w[((c * og + (o - (c / cg) * og)) * d->kernel_height + i) * d->kernel_width + j];
              }
}

/* A pool that runs every task on the calling thread, last first. */
static void serial_parallel_for(void* context, size_t count, convkit_task task, void* argument) {
  size_t i;
  (void)context;
  for (i = count; i > 0; --i) task(argument, i - 1);
}

static float x[N * CI * H * W], wt[CI * (CO / G) * K * K], bias[CO], residual[N * CO * HO * WO];
static float one_shot[N * CO * HO * WO], planned[N * CO * HO * WO], pooled[N * CO * HO * WO];
static float in_place[N * CO * HO * WO], apart[N * CO * HO * WO];
static double want[N * CO * HO * WO];

static convkit_conv_transpose2d_desc valid_desc(void) {
  convkit_conv_transpose2d_desc d;
  convkit_conv_transpose2d_desc_init(&d);
  d.batch = N, d.in_channels = CI, d.in_height = H, d.in_width = W, d.out_channels = CO, d.groups = G;
  d.kernel_height = d.kernel_width = K;
  d.stride_height = d.stride_width = 2;
  /* Ho = 2 * 2 + 1 + 2 + 1 - 1 - 1 = 6, Wo = 2 * 3 + 1 + 2 + 1 - 2 - 0 = 8 */
  d.pad_top = 1, d.pad_bottom = 1, d.pad_left = 2, d.pad_right = 0;
  d.output_padding_height = d.output_padding_width = 1;
  return d;
}

int main(void) {
  convkit_conv_transpose2d_desc d = valid_desc(), bad;
  convkit_tensor_sizes sizes;
  convkit_algorithm used = CONVKIT_ALGORITHM_AUTO, chosen = CONVKIT_ALGORITHM_AUTO, planned_algorithm;
  convkit_plan* plan = NULL;
  convkit_epilogue epilogue;
  int64_t ho = 0, wo = 0;
  int i;
  unsigned state = 2026u;
  for (i = 0; i < N * CI * H * W; ++i) x[i] = (float)((state = state * 1103515245u + 12345u) >> 16 & 0xFF) / 128.0f - 1;
  for (i = 0; i < CI * (CO / G) * K * K; ++i)
    wt[i] = (float)((state = state * 1103515245u + 12345u) >> 16 & 0xFF) / 256.0f - 0.5f;
  for (i = 0; i < CO; ++i) bias[i] = 0.125f * (float)i - 0.25f;
  for (i = 0; i < N * CO * HO * WO; ++i)
    residual[i] = (float)((state = state * 1103515245u + 12345u) >> 16 & 0xFF) / 64.0f - 2.0f;

  /* Defaults. */
  convkit_conv_transpose2d_desc_init(&bad);
  EXPECT(bad.stride_height == 1 && bad.stride_width == 1 && bad.dilation_height == 1 && bad.dilation_width == 1);
  EXPECT(bad.groups == 1 && bad.batch == 0 && bad.pad_top == 0 && bad.output_padding_height == 0);
  EXPECT(bad.output_padding_width == 0 && bad.layout == CONVKIT_LAYOUT_NCHW);
  EXPECT(bad.weights_layout == CONVKIT_TRANSPOSED_WEIGHTS_IOHW);

  /* Sizes. */
  EXPECT(convkit_conv_transpose2d_output_size(&d, &ho, &wo) == CONVKIT_STATUS_OK && ho == HO && wo == WO);
  EXPECT(convkit_conv_transpose2d_tensor_sizes(&d, &sizes) == CONVKIT_STATUS_OK);
  EXPECT(sizes.input == N * CI * H * W && sizes.weights == CI * (CO / G) * K * K && sizes.bias == CO);
  EXPECT(sizes.output == N * CO * HO * WO);

  /* The one-shot call against the scatter loop, and the algorithm it reports. */
  scatter(&d, x, wt, bias, want, HO, WO);
  EXPECT(convkit_conv_transpose2d_algorithm(&d, NULL, &chosen) == CONVKIT_STATUS_OK);
  EXPECT(chosen != CONVKIT_ALGORITHM_AUTO);
  EXPECT(convkit_conv_transpose2d(&d, x, wt, bias, NULL, one_shot, NULL, NULL, &used) == CONVKIT_STATUS_OK);
  EXPECT(used == chosen);
  for (i = 0; i < N * CO * HO * WO; ++i) EXPECT(fabs(one_shot[i] - want[i]) <= 1e-5 * (1.0 + fabs(want[i])));
  EXPECT(convkit_conv_transpose2d(&d, x, wt, bias, NULL, one_shot, NULL, NULL, NULL) == CONVKIT_STATUS_OK);

  /* A plan: the same bits, on its own workers and on the caller's pool. */
  EXPECT(convkit_plan_create_transposed(&d, wt, bias, NULL, NULL, &plan) == CONVKIT_STATUS_OK && plan != NULL);
  EXPECT(strncmp(convkit_plan_description(plan), "conv_transpose_", 15) == 0);
  EXPECT(convkit_plan_get_algorithm(plan, &planned_algorithm) == CONVKIT_STATUS_OK && planned_algorithm == chosen);
  EXPECT(strcmp(convkit_plan_algorithm(plan), convkit_algorithm_name(chosen)) == 0);
  EXPECT(convkit_plan_run(plan, x, planned, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(memcmp(planned, one_shot, sizeof planned) == 0);
  {
    convkit_thread_pool pool;
    convkit_thread_pool_init(&pool);
    pool.width = 3;
    pool.parallel_for = serial_parallel_for;
    EXPECT(convkit_plan_run_on_pool(plan, &pool, x, NULL, pooled, NULL, 0) == CONVKIT_STATUS_OK);
    EXPECT(memcmp(pooled, one_shot, sizeof pooled) == 0);
  }
  /* Misuse of the plan: overlapping output, null input. */
  EXPECT(convkit_plan_run(plan, planned + 1, planned, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("output overlaps input"));
  EXPECT(convkit_plan_run(plan, NULL, planned, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT && mentions("input"));
  convkit_plan_destroy(plan);
  plan = NULL;

  /* An epilogue with a residual: relu(conv_transpose + bias + 0.5 * residual), in place and apart. */
  convkit_epilogue_init(&epilogue);
  epilogue.activation = CONVKIT_ACTIVATION_RELU;
  epilogue.residual = 1;
  epilogue.residual_scale = 0.5f;
  EXPECT(convkit_plan_create_transposed(&d, wt, bias, NULL, &epilogue, &plan) == CONVKIT_STATUS_OK);
  memcpy(in_place, residual, sizeof residual);
  EXPECT(convkit_plan_run_residual(plan, x, in_place, in_place, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(convkit_plan_run_residual(plan, x, residual, apart, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(memcmp(in_place, apart, sizeof apart) == 0);
  for (i = 0; i < N * CO * HO * WO; ++i) {
    const double v = want[i] + 0.5 * residual[i];
    EXPECT(fabs(apart[i] - (v > 0 ? v : 0)) <= 1e-5 * (1.0 + fabs(v)));
  }
  EXPECT(convkit_plan_run(plan, x, apart, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT && mentions("run_residual"));
  convkit_plan_destroy(plan);
  plan = NULL;
  EXPECT(convkit_conv_transpose2d(&d, x, wt, bias, residual, one_shot, NULL, &epilogue, &used) == CONVKIT_STATUS_OK);
  EXPECT(memcmp(one_shot, apart, sizeof apart) == 0);
  /* A residual without an epilogue that takes one; an epilogue of an unknown version. */
  EXPECT(convkit_conv_transpose2d(&d, x, wt, bias, residual, one_shot, NULL, NULL, NULL) ==
             CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("residual"));
  epilogue.struct_size = 4;
  EXPECT(convkit_plan_create_transposed(&d, wt, bias, NULL, &epilogue, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("struct_size") && plan == NULL);

  /* Algorithm::Reference by name: the reference entry. */
  {
    convkit_options options;
    convkit_options_init(&options);
    options.algorithm = CONVKIT_ALGORITHM_REFERENCE;
    EXPECT(convkit_plan_create_transposed(&d, wt, NULL, &options, NULL, &plan) == CONVKIT_STATUS_OK);
    EXPECT(strncmp(convkit_plan_description(plan), "conv_transpose_reference", 24) == 0);
    convkit_plan_destroy(plan);
    plan = NULL;
    EXPECT(convkit_conv_transpose2d_algorithm(&d, &options, &chosen) == CONVKIT_STATUS_OK);
    EXPECT(chosen == CONVKIT_ALGORITHM_REFERENCE);
    options.threads = -1;
    EXPECT(convkit_conv_transpose2d(&d, x, wt, bias, NULL, one_shot, &options, NULL, NULL) ==
               CONVKIT_STATUS_INVALID_ARGUMENT &&
           mentions("threads"));
  }

  /* ONNX's output_shape: 7 x 9 from pads (lower: the extra at the begin), and an output it cannot reach. */
  bad = d;
  EXPECT(convkit_conv_transpose2d_set_output_shape(&bad, 7, 9, CONVKIT_SAME_LOWER) == CONVKIT_STATUS_OK);
  /* full height 2 * 2 + 1 + 2 + 1 = 8: total 1 -> top 1, bottom 0; full width 10: total 1 -> left 1, right 0 */
  EXPECT(bad.pad_top == 1 && bad.pad_bottom == 0 && bad.pad_left == 1 && bad.pad_right == 0);
  EXPECT(convkit_conv_transpose2d_output_size(&bad, &ho, &wo) == CONVKIT_STATUS_OK && ho == 7 && wo == 9);
  EXPECT(convkit_conv_transpose2d_set_output_shape(&bad, 7, 9, CONVKIT_SAME_UPPER) == CONVKIT_STATUS_OK);
  EXPECT(bad.pad_top == 0 && bad.pad_bottom == 1 && bad.pad_left == 0 && bad.pad_right == 1);
  {
    const convkit_conv_transpose2d_desc before = bad;
    EXPECT(convkit_conv_transpose2d_set_output_shape(&bad, 20, 9, CONVKIT_SAME_UPPER) ==
               CONVKIT_STATUS_INVALID_ARGUMENT &&
           mentions("out_height"));
    EXPECT(convkit_conv_transpose2d_set_output_shape(&bad, 7, 0, CONVKIT_SAME_UPPER) ==
               CONVKIT_STATUS_INVALID_ARGUMENT &&
           mentions("out_width"));
    EXPECT(memcmp(&before, &bad, sizeof bad) == 0);
  }

  /* Misuse, each with its field named; a failed plan_create leaves the plan NULL, a failed call the output. */
  memcpy(planned, one_shot, sizeof planned);
#define EXPECT_BAD(change, field)                                                                                      \
  do {                                                                                                                 \
    bad = valid_desc();                                                                                                \
    change;                                                                                                            \
    plan = (convkit_plan*)&bad;                                                                                        \
    EXPECT(convkit_plan_create_transposed(&bad, wt, bias, NULL, NULL, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT &&     \
           mentions(field) && plan == NULL);                                                                           \
    EXPECT(convkit_conv_transpose2d(&bad, x, wt, bias, NULL, planned, NULL, NULL, NULL) ==                             \
               CONVKIT_STATUS_INVALID_ARGUMENT &&                                                                      \
           mentions(field));                                                                                           \
    EXPECT(convkit_conv_transpose2d_output_size(&bad, &ho, &wo) == CONVKIT_STATUS_INVALID_ARGUMENT &&                  \
           mentions(field));                                                                                           \
    EXPECT(convkit_conv_transpose2d_tensor_sizes(&bad, &sizes) == CONVKIT_STATUS_INVALID_ARGUMENT && mentions(field)); \
  } while (0)
  EXPECT_BAD(bad.batch = 0, "batch");
  EXPECT_BAD(bad.in_channels = -1, "in_channels");
  EXPECT_BAD(bad.in_height = 0, "in_height");
  EXPECT_BAD(bad.out_channels = 0, "out_channels");
  EXPECT_BAD(bad.kernel_width = 0, "kernel_width");
  EXPECT_BAD(bad.stride_height = 0, "stride_height");
  EXPECT_BAD(bad.dilation_width = 0, "dilation_width");
  EXPECT_BAD(bad.pad_left = -1, "pad_left");
  EXPECT_BAD(bad.output_padding_height = 2, "output_padding_height");
  EXPECT_BAD(bad.output_padding_width = -1, "output_padding_width");
  EXPECT_BAD(bad.groups = 3, "groups");
  EXPECT_BAD(bad.layout = (convkit_layout)2, "layout");
  EXPECT_BAD(bad.weights_layout = (convkit_transposed_weights_layout)7, "weights_layout");
  EXPECT(memcmp(planned, one_shot, sizeof planned) == 0);
  EXPECT(convkit_conv_transpose2d(&d, NULL, wt, bias, NULL, planned, NULL, NULL, NULL) ==
             CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("input"));
  EXPECT(convkit_conv_transpose2d(&d, x, NULL, bias, NULL, planned, NULL, NULL, NULL) ==
             CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("weights"));
  EXPECT(convkit_conv_transpose2d(&d, x, wt, bias, NULL, NULL, NULL, NULL, NULL) == CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("output"));
  EXPECT(convkit_conv_transpose2d(NULL, x, wt, bias, NULL, planned, NULL, NULL, NULL) ==
         CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(convkit_plan_create_transposed(&d, NULL, bias, NULL, NULL, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("weights"));
  EXPECT(convkit_plan_create_transposed(&d, wt, bias, NULL, NULL, NULL) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(convkit_conv_transpose2d_output_size(&d, NULL, &wo) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(convkit_conv_transpose2d_algorithm(&d, NULL, NULL) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(memcmp(planned, one_shot, sizeof planned) == 0);

  /* 1-D: the 2-D calls of as_2d, bit for bit. */
  {
    convkit_conv1d_desc f;
    convkit_conv2d_desc f2;
    convkit_conv_transpose1d_desc t;
    convkit_conv_transpose2d_desc t2;
    int64_t length = 0;
    float y1[2 * 6 * 11], y2[2 * 6 * 11], y3[2 * 6 * 11];
    convkit_conv1d_desc_init(&f);
    EXPECT(f.stride == 1 && f.dilation == 1 && f.groups == 1 && f.pad_begin == 0 && f.in_length == 0);
    EXPECT(f.layout == CONVKIT_LAYOUT_NCHW && f.weights_layout == CONVKIT_WEIGHTS_OIHW);
    f.batch = 2, f.in_channels = 4, f.in_length = 12, f.out_channels = 5, f.kernel_size = 3;
    f.stride = 2, f.pad_begin = 1, f.pad_end = 1, f.layout = CONVKIT_LAYOUT_NHWC;
    convkit_conv1d_desc_as_2d(&f, &f2);
    EXPECT(f2.in_height == 1 && f2.kernel_height == 1 && f2.in_width == 12 && f2.kernel_width == 3);
    EXPECT(f2.stride_width == 2 && f2.pad_left == 1 && f2.pad_right == 1 && f2.layout == CONVKIT_LAYOUT_NHWC);
    EXPECT(convkit_conv1d_output_length(&f, &length) == CONVKIT_STATUS_OK && length == 6);
    EXPECT(convkit_conv1d(&f, x, wt, bias, y1, NULL, &used) == CONVKIT_STATUS_OK && used != CONVKIT_ALGORITHM_AUTO);
    EXPECT(convkit_conv2d_reporting(&f2, x, wt, bias, y2, NULL, &chosen) == CONVKIT_STATUS_OK && chosen == used);
    EXPECT(memcmp(y1, y2, 2 * 5 * 6 * sizeof(float)) == 0);
    EXPECT(convkit_plan_create_conv1d(&f, wt, bias, NULL, NULL, &plan) == CONVKIT_STATUS_OK);
    EXPECT(convkit_plan_run(plan, x, y3, NULL, 0) == CONVKIT_STATUS_OK);
    EXPECT(memcmp(y3, y2, 2 * 5 * 6 * sizeof(float)) == 0);
    convkit_plan_destroy(plan);
    plan = NULL;
    f.in_length = 0;
    EXPECT(convkit_conv1d(&f, x, wt, bias, y1, NULL, NULL) == CONVKIT_STATUS_INVALID_ARGUMENT && mentions("in_length"));
    EXPECT(convkit_conv1d_output_length(&f, &length) == CONVKIT_STATUS_INVALID_ARGUMENT && mentions("in_length"));
    f.in_length = 12, f.kernel_size = 0;
    EXPECT(convkit_plan_create_conv1d(&f, wt, bias, NULL, NULL, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT &&
           mentions("kernel_size") && plan == NULL);

    convkit_conv_transpose1d_desc_init(&t);
    EXPECT(t.stride == 1 && t.dilation == 1 && t.groups == 1 && t.output_padding == 0);
    EXPECT(t.weights_layout == CONVKIT_TRANSPOSED_WEIGHTS_IOHW);
    /* Lo = 2 * 4 + 1 + 2 + 1 - 1 - 0 = 11 */
    t.batch = 2, t.in_channels = 4, t.in_length = 5, t.out_channels = 6, t.groups = 2, t.kernel_size = 3;
    t.stride = 2, t.pad_begin = 1, t.output_padding = 1;
    convkit_conv_transpose1d_desc_as_2d(&t, &t2);
    EXPECT(t2.in_height == 1 && t2.kernel_height == 1 && t2.in_width == 5 && t2.output_padding_width == 1);
    EXPECT(t2.output_padding_height == 0 && t2.pad_left == 1 && t2.pad_top == 0 && t2.groups == 2);
    EXPECT(convkit_conv_transpose1d_output_length(&t, &length) == CONVKIT_STATUS_OK && length == 11);
    EXPECT(convkit_conv_transpose1d(&t, x, wt, bias, y1, NULL, &used) == CONVKIT_STATUS_OK);
    EXPECT(convkit_conv_transpose2d(&t2, x, wt, bias, NULL, y2, NULL, NULL, &chosen) == CONVKIT_STATUS_OK);
    EXPECT(used == chosen && memcmp(y1, y2, 2 * 6 * 11 * sizeof(float)) == 0);
    EXPECT(convkit_plan_create_transposed1d(&t, wt, bias, NULL, NULL, &plan) == CONVKIT_STATUS_OK);
    EXPECT(convkit_plan_run(plan, x, y3, NULL, 0) == CONVKIT_STATUS_OK);
    EXPECT(memcmp(y3, y2, 2 * 6 * 11 * sizeof(float)) == 0);
    convkit_plan_destroy(plan);
    plan = NULL;
    t.output_padding = 2;
    EXPECT(convkit_conv_transpose1d(&t, x, wt, bias, y1, NULL, NULL) == CONVKIT_STATUS_INVALID_ARGUMENT &&
           mentions("output_padding") && !mentions("output_padding_width"));
    t.output_padding = 1, t.stride = 0;
    EXPECT(convkit_plan_create_transposed1d(&t, wt, bias, NULL, NULL, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT &&
           mentions("stride") && !mentions("stride_width") && plan == NULL);
    t.stride = 2, t.in_length = -2;
    EXPECT(convkit_conv_transpose1d_output_length(&t, &length) == CONVKIT_STATUS_INVALID_ARGUMENT &&
           mentions("in_length"));
  }

  if (failures != 0) fprintf(stderr, "%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
