/* The fused epilogue through the C API, compiled as C99: convkit_epilogue_init's defaults, a plan with a residual run
   in place and apart (the same bits), the one-shot call, a concatenated plan, and each misuse answered with
   INVALID_ARGUMENT and a message naming the field. */
#include <convkit/convkit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "c_expect.h"

int main(void) {
  convkit_conv2d_desc desc;
  convkit_epilogue epilogue;
  convkit_plan* plan = NULL;
  float x[2 * 5 * 5], w[3 * 2 * 3 * 3], bias[3], residual[3 * 5 * 5], in_place[3 * 5 * 5], apart[3 * 5 * 5];
  float plain[3 * 5 * 5], one_shot[3 * 5 * 5];
  int i;
  unsigned state = 12345u;
  for (i = 0; i < 50; ++i) x[i] = (float)((state = state * 1103515245u + 12345u) >> 16 & 0xFF) / 128.0f - 1.0f;
  for (i = 0; i < 54; ++i) w[i] = (float)((state = state * 1103515245u + 12345u) >> 16 & 0xFF) / 256.0f - 0.5f;
  for (i = 0; i < 75; ++i) residual[i] = (float)((state = state * 1103515245u + 12345u) >> 16 & 0xFF) / 64.0f - 2.0f;
  bias[0] = 0.5f, bias[1] = -0.25f, bias[2] = 0.0f;

  convkit_conv2d_desc_init(&desc);
  desc.batch = 1;
  desc.in_channels = 2;
  desc.in_height = desc.in_width = 5;
  desc.out_channels = 3;
  desc.kernel_height = desc.kernel_width = 3;
  desc.pad_top = desc.pad_left = desc.pad_bottom = desc.pad_right = 1;

  convkit_epilogue_init(&epilogue);
  EXPECT(epilogue.struct_size == sizeof(convkit_epilogue));
  EXPECT(epilogue.activation == CONVKIT_ACTIVATION_NONE && epilogue.residual == 0);
  EXPECT(epilogue.leaky_relu_alpha == 0.01f && epilogue.hard_sigmoid_alpha == 0.2f);
  EXPECT(epilogue.hard_sigmoid_beta == 0.5f && epilogue.residual_scale == 1.0f);

  /* Without an epilogue, then by hand: relu(conv + bias + residual). */
  EXPECT(convkit_plan_create(&desc, w, bias, NULL, &plan) == CONVKIT_STATUS_OK);
  EXPECT(convkit_plan_run(plan, x, plain, NULL, 0) == CONVKIT_STATUS_OK);
  convkit_plan_destroy(plan);
  for (i = 0; i < 75; ++i) plain[i] = fmaxf(plain[i] + residual[i], 0.0f);

  epilogue.activation = CONVKIT_ACTIVATION_RELU;
  epilogue.residual = 1;
  EXPECT(convkit_plan_create_fused(&desc, w, bias, NULL, &epilogue, &plan) == CONVKIT_STATUS_OK);
  memcpy(in_place, residual, sizeof residual);
  EXPECT(convkit_plan_run_residual(plan, x, in_place, in_place, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(convkit_plan_run_residual(plan, x, residual, apart, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(memcmp(in_place, apart, sizeof apart) == 0);
  for (i = 0; i < 75; ++i) EXPECT(fabsf(apart[i] - plain[i]) <= 1e-5f * (1.0f + fabsf(plain[i])));
  /* A plan with a residual runs only with one; a residual that partly overlaps the output is refused. */
  EXPECT(convkit_plan_run(plan, x, apart, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT && mentions("run_residual"));
  EXPECT(convkit_plan_run_residual(plan, x, apart + 1, apart, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("residual overlaps output"));
  convkit_plan_destroy(plan);

  EXPECT(convkit_conv2d_fused(&desc, x, w, bias, residual, one_shot, NULL, &epilogue) == CONVKIT_STATUS_OK);
  EXPECT(memcmp(one_shot, apart, sizeof apart) == 0);

  /* Misuse: a struct_size of another version, an unknown activation, an activation in both places. */
  epilogue.struct_size = 4;
  EXPECT(convkit_plan_create_fused(&desc, w, bias, NULL, &epilogue, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("struct_size") && plan == NULL);
  convkit_epilogue_init(&epilogue);
  epilogue.activation = (convkit_activation)42;
  EXPECT(convkit_plan_create_fused(&desc, w, bias, NULL, &epilogue, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT &&
         mentions("epilogue.activation = 42"));
  {
    convkit_options options;
    convkit_options_init(&options);
    options.activation = CONVKIT_ACTIVATION_RELU;
    epilogue.activation = CONVKIT_ACTIVATION_SILU;
    EXPECT(convkit_plan_create_fused(&desc, w, bias, &options, &epilogue, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT &&
           mentions("options.activation"));
    /* The old options refuse the new activations, as they always refused unknown ones. */
    options.activation = CONVKIT_ACTIVATION_SILU;
    EXPECT(convkit_plan_create(&desc, w, bias, &options, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);
  }
  EXPECT(convkit_plan_create_fused(&desc, w, bias, NULL, NULL, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);

  /* A concatenated plan: two branches, SiLU on both, no residual. */
  {
    convkit_conv2d_desc descs[2];
    const float* weights[2];
    float concat_out[6 * 5 * 5], each[3 * 5 * 5];
    descs[0] = descs[1] = desc;
    weights[0] = weights[1] = w;
    convkit_epilogue_init(&epilogue);
    epilogue.activation = CONVKIT_ACTIVATION_SILU;
    EXPECT(convkit_plan_create_concat_fused(descs, weights, NULL, 2, NULL, &epilogue, &plan) == CONVKIT_STATUS_OK);
    EXPECT(convkit_plan_run(plan, x, concat_out, NULL, 0) == CONVKIT_STATUS_OK);
    convkit_plan_destroy(plan);
    EXPECT(convkit_conv2d_fused(&desc, x, w, NULL, NULL, each, NULL, &epilogue) == CONVKIT_STATUS_OK);
    for (i = 0; i < 75; ++i) {
      EXPECT(fabsf(concat_out[i] - each[i]) <= 1e-5f * (1.0f + fabsf(each[i])));
      EXPECT(fabsf(concat_out[75 + i] - each[i]) <= 1e-5f * (1.0f + fabsf(each[i])));
    }
  }

  if (failures != 0) fprintf(stderr, "%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
