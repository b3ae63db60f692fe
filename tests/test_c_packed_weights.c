/* Packed weights through the C API, compiled as C99: plans made from one object for other sizes give the bits of
   plans made from the raw weights, with and without an epilogue; the object may be destroyed before its plans run;
   save and load round trip (the size query, a short buffer, a truncated and a corrupt blob); and each misuse is
   answered with INVALID_ARGUMENT and a message naming what is wrong. */
#include <convkit/convkit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_expect.h"

enum { kInChannels = 3, kOutChannels = 4, kMaxSize = 9, kMaxBatch = 2 };

static float x[kMaxBatch * kInChannels * kMaxSize * kMaxSize];
static float w[kOutChannels * kInChannels * 3 * 3], bias[kOutChannels];
static float from_raw[kMaxBatch * kOutChannels * kMaxSize * kMaxSize];
static float from_packed[kMaxBatch * kOutChannels * kMaxSize * kMaxSize];

/* Runs `plan` on x into `out` and destroys it; 0 when anything failed. */
static int run_and_destroy(convkit_plan* plan, float* out) {
  int ok = plan != NULL && convkit_plan_run(plan, x, out, NULL, 0) == CONVKIT_STATUS_OK;
  convkit_plan_destroy(plan);
  return ok;
}

int main(void) {
  convkit_conv2d_desc desc, other;
  convkit_epilogue epilogue;
  convkit_packed_weights* packed = NULL;
  convkit_packed_weights* loaded = NULL;
  convkit_plan* plan = NULL;
  convkit_plan* kept = NULL;
  unsigned char* blob;
  size_t size = 0, written = 0, outputs;
  int i;
  unsigned state = 777u;
  for (i = 0; i < (int)(sizeof x / sizeof x[0]); ++i)
    x[i] = (float)((state = state * 1103515245u + 12345u) >> 16 & 0xFF) / 128.0f - 1.0f;
  for (i = 0; i < (int)(sizeof w / sizeof w[0]); ++i)
    w[i] = (float)((state = state * 1103515245u + 12345u) >> 16 & 0xFF) / 256.0f - 0.5f;
  for (i = 0; i < kOutChannels; ++i) bias[i] = 0.125f * (float)i - 0.25f;

  convkit_conv2d_desc_init(&desc);
  desc.batch = 1;
  desc.in_channels = kInChannels;
  desc.in_height = desc.in_width = 7;
  desc.out_channels = kOutChannels;
  desc.kernel_height = desc.kernel_width = 3;
  desc.pad_top = desc.pad_left = desc.pad_bottom = desc.pad_right = 1;

  EXPECT(convkit_packed_weights_create(&desc, w, bias, NULL, &packed) == CONVKIT_STATUS_OK);
  EXPECT(convkit_packed_weights_size(packed) >= sizeof w + sizeof bias);

  /* Another batch and image size, and another padding: the bits of a plan from the raw weights. */
  other = desc;
  other.batch = kMaxBatch;
  other.in_height = other.in_width = kMaxSize;
  other.pad_top = other.pad_left = 0;
  outputs = (size_t)kMaxBatch * kOutChannels * 8 * 8;
  EXPECT(convkit_plan_create(&other, w, bias, NULL, &plan) == CONVKIT_STATUS_OK);
  EXPECT(run_and_destroy(plan, from_raw));
  EXPECT(convkit_plan_create_packed(&other, packed, NULL, NULL, &plan) == CONVKIT_STATUS_OK);
  EXPECT(run_and_destroy(plan, from_packed));
  EXPECT(memcmp(from_raw, from_packed, outputs * sizeof(float)) == 0);

  /* With an epilogue: the bits of the fused plan from the raw weights. */
  convkit_epilogue_init(&epilogue);
  epilogue.activation = CONVKIT_ACTIVATION_HARD_SWISH;
  EXPECT(convkit_plan_create_fused(&other, w, bias, NULL, &epilogue, &plan) == CONVKIT_STATUS_OK);
  EXPECT(run_and_destroy(plan, from_raw));
  EXPECT(convkit_plan_create_packed(&other, packed, NULL, &epilogue, &kept) == CONVKIT_STATUS_OK);

  /* Save: the size query, a buffer too small, then the blob. */
  EXPECT(convkit_packed_weights_save(packed, NULL, 0, &size) == CONVKIT_STATUS_OK);
  EXPECT(size > sizeof w);
  blob = (unsigned char*)malloc(size);
  EXPECT(blob != NULL);
  if (blob == NULL) return 1;
  EXPECT(convkit_packed_weights_save(packed, blob, size - 1, &written) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(mentions("capacity"));
  EXPECT(convkit_packed_weights_save(packed, blob, size, &written) == CONVKIT_STATUS_OK && written == size);

  /* The object may go while the plan made from it lives. */
  convkit_packed_weights_destroy(packed);
  packed = NULL;
  EXPECT(run_and_destroy(kept, from_packed));
  EXPECT(memcmp(from_raw, from_packed, outputs * sizeof(float)) == 0);

  /* Load, and a plan from the loaded weights: the same bits. */
  EXPECT(convkit_packed_weights_load(blob, size, &loaded) == CONVKIT_STATUS_OK);
  EXPECT(convkit_plan_create_packed(&other, loaded, NULL, &epilogue, &plan) == CONVKIT_STATUS_OK);
  memset(from_packed, 0, sizeof from_packed);
  EXPECT(run_and_destroy(plan, from_packed));
  EXPECT(memcmp(from_raw, from_packed, outputs * sizeof(float)) == 0);

  /* A descriptor of another weight shape names the field and both values. */
  other.out_channels = kOutChannels + 1;
  EXPECT(convkit_plan_create_packed(&other, loaded, NULL, NULL, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(plan == NULL && mentions("out_channels") && mentions("5") && mentions("4"));
  convkit_packed_weights_destroy(loaded);

  /* A truncated blob and a corrupt one. */
  loaded = (convkit_packed_weights*)&written; /* must be reset to NULL on failure */
  EXPECT(convkit_packed_weights_load(blob, size - 8, &loaded) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(loaded == NULL && mentions("truncated"));
  blob[size / 2] ^= 0x10;
  EXPECT(convkit_packed_weights_load(blob, size, &loaded) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(loaded == NULL && mentions("checksum"));
  free(blob);

  /* NULL arguments. */
  EXPECT(convkit_packed_weights_create(&desc, NULL, bias, NULL, &packed) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(packed == NULL && mentions("weights"));
  EXPECT(convkit_plan_create_packed(&desc, NULL, NULL, NULL, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(mentions("packed"));
  EXPECT(convkit_packed_weights_save(NULL, NULL, 0, &size) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(convkit_packed_weights_load(NULL, 64, &loaded) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(convkit_packed_weights_size(NULL) == 0);
  convkit_packed_weights_destroy(NULL);

  if (failures != 0) fprintf(stderr, "%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
