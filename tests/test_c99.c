/* The C API compiled as C99 (-std=c99 -pedantic-errors) and called from C: the lesson's corr2d_multi_in_out
   one-shot and through a plan, the plan's workspace and ownership contract, the algorithm answers (enum, name and
   implementation, for a descriptor, a call and a plan), "same" padding and the version. */
#include <convkit/convkit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_expect.h"

static const float lesson_x[18] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
static const float lesson_expected[12] = {56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224};

static void lesson_desc(convkit_conv2d_desc* desc) {
  convkit_conv2d_desc_init(desc);
  desc->batch = 1;
  desc->in_channels = 2;
  desc->in_height = desc->in_width = 3;
  desc->out_channels = 3;
  desc->kernel_height = desc->kernel_width = 2;
}

/* K stacked as (K, K+1, K+2). */
static void lesson_weights(float* k3) {
  const float k[8] = {0, 1, 2, 3, 1, 2, 3, 4};
  int o, i;
  for (o = 0; o < 3; ++o)
    for (i = 0; i < 8; ++i) k3[o * 8 + i] = k[i] + (float)o;
}

static int same12(const float* a, const float* b) {
  int i;
  for (i = 0; i < 12; ++i)
    if (a[i] != b[i]) return 0;
  return 1;
}

static void test_one_shot(void) {
  convkit_conv2d_desc desc;
  convkit_options options;
  float k3[24], y[12];
  lesson_desc(&desc);
  lesson_weights(k3);
  convkit_options_init(&options);
  EXPECT(convkit_conv2d(&desc, lesson_x, k3, NULL, y, &options) == CONVKIT_STATUS_OK);
  EXPECT(same12(y, lesson_expected));
  desc.groups = 5; /* does not divide the channels */
  EXPECT(convkit_conv2d(&desc, lesson_x, k3, NULL, y, &options) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(strstr(convkit_last_error(), "groups") != NULL);
}

static void test_plan(void) {
  convkit_conv2d_desc desc;
  convkit_plan* plan = NULL;
  float k3[24], y[12];
  size_t bytes;
  unsigned char* workspace;
  int i;
  lesson_desc(&desc);
  lesson_weights(k3);
  EXPECT(convkit_plan_create(&desc, k3, NULL, NULL, &plan) == CONVKIT_STATUS_OK);
  if (plan == NULL) return;
  /* The plan owns its copy: the caller's weights may change. */
  for (i = 0; i < 24; ++i) k3[i] = -1000.0f;
  EXPECT(strcmp(convkit_plan_algorithm(plan), "direct") == 0);
  EXPECT(convkit_plan_run(plan, lesson_x, y, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(same12(y, lesson_expected));

  bytes = convkit_plan_workspace_size(plan);
  workspace = (unsigned char*)malloc(bytes + 1);
  memset(y, 0, sizeof y);
  /* Any alignment: start one byte into the allocation. */
  EXPECT(convkit_plan_run(plan, lesson_x, y, workspace + 1, bytes) == CONVKIT_STATUS_OK);
  EXPECT(same12(y, lesson_expected));
  if (bytes > 0) {
    for (i = 0; i < 12; ++i) y[i] = -1.0f;
    EXPECT(convkit_plan_run(plan, lesson_x, y, workspace, bytes - 1) == CONVKIT_STATUS_INVALID_ARGUMENT);
    EXPECT(strstr(convkit_last_error(), "workspace_size") != NULL);
    EXPECT(y[0] == -1.0f && y[11] == -1.0f); /* untouched */
  }
  free(workspace);

  EXPECT(convkit_plan_run(plan, NULL, y, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(convkit_plan_run(NULL, lesson_x, y, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT);
  convkit_plan_destroy(plan);
  convkit_plan_destroy(NULL);

  /* A failed creation says why and leaves *plan NULL. */
  plan = (convkit_plan*)&desc; /* any non-NULL value */
  desc.kernel_height = 0;
  EXPECT(convkit_plan_create(&desc, k3, NULL, NULL, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(plan == NULL);
  EXPECT(strstr(convkit_last_error(), "kernel_height") != NULL);
  EXPECT(convkit_plan_create(&desc, k3, NULL, NULL, NULL) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(convkit_plan_workspace_size(NULL) == 0);
  EXPECT(strcmp(convkit_plan_algorithm(NULL), "") == 0);
}

static void test_same_padding(void) {
  convkit_conv2d_desc desc;
  int64_t begin = -1, end = -1, out_h = 0, out_w = 0;
  /* TensorFlow: input 6, kernel 3, stride 2 needs one element of padding, at the end (SAME_UPPER). */
  EXPECT(convkit_same_padding(6, 3, 2, 1, CONVKIT_SAME_UPPER, &begin, &end) == CONVKIT_STATUS_OK);
  EXPECT(begin == 0 && end == 1);
  EXPECT(convkit_same_padding(6, 3, 2, 1, CONVKIT_SAME_LOWER, &begin, &end) == CONVKIT_STATUS_OK);
  EXPECT(begin == 1 && end == 0);
  EXPECT(convkit_same_padding(0, 3, 1, 1, CONVKIT_SAME_UPPER, &begin, &end) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(strstr(convkit_last_error(), "input_size") != NULL);

  convkit_conv2d_desc_init(&desc);
  desc.batch = 1;
  desc.in_channels = desc.out_channels = 4;
  desc.in_height = 7;
  desc.in_width = 10;
  desc.kernel_height = desc.kernel_width = 5;
  desc.stride_height = desc.stride_width = 3;
  EXPECT(convkit_conv2d_desc_set_same_padding(&desc, CONVKIT_SAME_UPPER) == CONVKIT_STATUS_OK);
  EXPECT(convkit_conv2d_output_size(&desc, &out_h, &out_w) == CONVKIT_STATUS_OK);
  EXPECT(out_h == 3 && out_w == 4); /* ceil(7 / 3), ceil(10 / 3) */
}

/* Built against its own header, the library's version is the header's; built against an older header of the same
   major version (CONVKIT_TEST_OLDER_HEADER), the library's is at least as new. */
static void test_version(void) {
  char expected[64];
  int major = 0, minor = 0, patch = 0;
  sprintf(expected, "%d.%d.%d", CONVKIT_VERSION_MAJOR, CONVKIT_VERSION_MINOR, CONVKIT_VERSION_PATCH);
#ifdef CONVKIT_TEST_OLDER_HEADER
  EXPECT(sscanf(convkit_version(), "%d.%d.%d", &major, &minor, &patch) == 3);
  EXPECT(major == CONVKIT_VERSION_MAJOR && major * 10000 + minor * 100 + patch >= CONVKIT_VERSION);
#else
  (void)major, (void)minor, (void)patch;
  EXPECT(strcmp(convkit_version(), expected) == 0);
#endif
  EXPECT(CONVKIT_VERSION == CONVKIT_VERSION_MAJOR * 10000 + CONVKIT_VERSION_MINOR * 100 + CONVKIT_VERSION_PATCH);
}

/* C may hold any int in an enum; the names of values out of range are "unknown". */
static void test_unknown_enum_names(void) {
  EXPECT(strcmp(convkit_status_string((convkit_status)42), "unknown status") == 0);
  EXPECT(strcmp(convkit_algorithm_name((convkit_algorithm)17), "unknown") == 0);
}

/* The three enum answers agree for one descriptor and options: convkit_conv2d_algorithm before a call,
   convkit_conv2d_reporting after it, convkit_plan_get_algorithm for a plan; convkit_plan_algorithm is the family's
   name and convkit_plan_description starts with it. An algorithm that declines the shape is UNSUPPORTED in all. */
static void check_algorithm_answers(const convkit_conv2d_desc* desc, const convkit_options* options) {
  convkit_tensor_sizes sizes;
  convkit_algorithm expected = CONVKIT_ALGORITHM_AUTO, used = CONVKIT_ALGORITHM_AUTO, planned = CONVKIT_ALGORITHM_AUTO;
  convkit_status status;
  convkit_plan* plan = NULL;
  float *input, *weights, *output;
  int64_t i;
  EXPECT(convkit_conv2d_tensor_sizes(desc, &sizes) == CONVKIT_STATUS_OK);
  input = (float*)malloc((size_t)sizes.input * sizeof(float));
  weights = (float*)malloc((size_t)sizes.weights * sizeof(float));
  output = (float*)malloc((size_t)sizes.output * sizeof(float));
  if (input == NULL || weights == NULL || output == NULL) {
    EXPECT(!"out of memory");
    free(input);
    free(weights);
    free(output);
    return;
  }
  for (i = 0; i < sizes.input; ++i) input[i] = (float)(i % 7) - 3.0f;
  for (i = 0; i < sizes.weights; ++i) weights[i] = (float)(i % 5) - 2.0f;
  for (i = 0; i < sizes.output; ++i) output[i] = -7.0f;

  status = convkit_conv2d_algorithm(desc, options, &expected);
  EXPECT(convkit_conv2d_reporting(desc, input, weights, NULL, output, options, &used) == status);
  EXPECT(convkit_plan_create(desc, weights, NULL, options, &plan) == status);
  if (status != CONVKIT_STATUS_OK) {
    EXPECT(status == CONVKIT_STATUS_UNSUPPORTED);
    EXPECT(used == CONVKIT_ALGORITHM_AUTO); /* not written */
    EXPECT(output[0] == -7.0f);             /* untouched */
    EXPECT(plan == NULL);
  } else {
    EXPECT(expected != CONVKIT_ALGORITHM_AUTO);
    EXPECT(used == expected);
    EXPECT(convkit_plan_get_algorithm(plan, &planned) == CONVKIT_STATUS_OK);
    EXPECT(planned == expected);
    EXPECT(strcmp(convkit_plan_algorithm(plan), convkit_algorithm_name(expected)) == 0);
    EXPECT(strncmp(convkit_plan_description(plan), convkit_algorithm_name(expected),
                   strlen(convkit_algorithm_name(expected))) == 0);
    /* With algorithm_used NULL it is convkit_conv2d. */
    EXPECT(convkit_conv2d_reporting(desc, input, weights, NULL, output, options, NULL) == CONVKIT_STATUS_OK);
  }
  convkit_plan_destroy(plan);
  free(input);
  free(weights);
  free(output);
}

static void test_algorithm_answers(void) {
  static const convkit_algorithm requested[6] = {CONVKIT_ALGORITHM_AUTO,        CONVKIT_ALGORITHM_REFERENCE,
                                                 CONVKIT_ALGORITHM_IM2COL_GEMM, CONVKIT_ALGORITHM_GEMM_1X1,
                                                 CONVKIT_ALGORITHM_DIRECT,      CONVKIT_ALGORITHM_WINOGRAD};
  convkit_conv2d_desc desc, one_by_one, three_by_three;
  convkit_options options;
  convkit_plan* plan = NULL;
  convkit_algorithm algorithm = CONVKIT_ALGORITHM_AUTO;
  float k3[24], y[12];
  int a, math;

  lesson_desc(&desc);
  convkit_conv2d_desc_init(&one_by_one);
  one_by_one.batch = 2;
  one_by_one.in_channels = 16;
  one_by_one.out_channels = 8;
  one_by_one.in_height = one_by_one.in_width = 6;
  one_by_one.kernel_height = one_by_one.kernel_width = 1;
  three_by_three = one_by_one;
  three_by_three.kernel_height = three_by_three.kernel_width = 3;
  three_by_three.pad_top = three_by_three.pad_left = three_by_three.pad_bottom = three_by_three.pad_right = 1;
  three_by_three.layout = CONVKIT_LAYOUT_NHWC;
  for (math = 0; math < 2; ++math)
    for (a = 0; a < 6; ++a) {
      convkit_options_init(&options);
      options.algorithm = requested[a];
      options.math_mode = math == 0 ? CONVKIT_MATH_STRICT : CONVKIT_MATH_FAST;
      check_algorithm_answers(&desc, &options);
      check_algorithm_answers(&one_by_one, &options);
      check_algorithm_answers(&three_by_three, &options);
    }
  check_algorithm_answers(&desc, NULL); /* NULL options: the defaults */

  /* The lesson's numbers through the reporting call; then its failures write nothing. */
  lesson_weights(k3);
  EXPECT(convkit_conv2d_reporting(&desc, lesson_x, k3, NULL, y, NULL, &algorithm) == CONVKIT_STATUS_OK);
  EXPECT(same12(y, lesson_expected));
  EXPECT(algorithm == CONVKIT_ALGORITHM_DIRECT);
  algorithm = CONVKIT_ALGORITHM_AUTO;
  y[0] = -1.0f;
  EXPECT(convkit_conv2d_reporting(NULL, lesson_x, k3, NULL, y, NULL, &algorithm) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(strstr(convkit_last_error(), "desc") != NULL);
  EXPECT(convkit_conv2d_reporting(&desc, NULL, k3, NULL, y, NULL, &algorithm) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(strstr(convkit_last_error(), "input") != NULL);
  desc.groups = 5;
  EXPECT(convkit_conv2d_reporting(&desc, lesson_x, k3, NULL, y, NULL, &algorithm) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(strstr(convkit_last_error(), "groups") != NULL);
  EXPECT(algorithm == CONVKIT_ALGORITHM_AUTO && y[0] == -1.0f);
  desc.groups = 1;

  /* The plan's enum form: NULL plan or NULL out-pointer is an invalid argument, and nothing is written. */
  EXPECT(convkit_plan_get_algorithm(NULL, &algorithm) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(strstr(convkit_last_error(), "plan") != NULL);
  EXPECT(algorithm == CONVKIT_ALGORITHM_AUTO);
  EXPECT(convkit_plan_create(&desc, k3, NULL, NULL, &plan) == CONVKIT_STATUS_OK);
  EXPECT(convkit_plan_get_algorithm(plan, NULL) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(strstr(convkit_last_error(), "algorithm") != NULL);
  EXPECT(convkit_plan_get_algorithm(plan, &algorithm) == CONVKIT_STATUS_OK);
  EXPECT(algorithm == CONVKIT_ALGORITHM_DIRECT);
  convkit_plan_destroy(plan);
}

int main(void) {
  test_unknown_enum_names();
  test_one_shot();
  test_plan();
  test_algorithm_answers();
  test_same_padding();
  test_version();
  printf("C99 API (convkit %s): %d failures\n", convkit_version(), failures);
  return failures == 0 ? 0 : 1;
}
