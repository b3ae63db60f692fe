/* The caller's thread pool through the C API, compiled as C99: a pool that runs its tasks last first on the calling
   thread gives the bits of convkit's own workers, with and without a residual; the plan reports its threads; each
   misuse is answered with INVALID_ARGUMENT and a message naming the field, the output untouched. */
#include <convkit/convkit.h>
#include <stdio.h>
#include <string.h>

#include "c_expect.h"

/* The pool's state: how many tasks it ran, in all. */
typedef struct counting_pool {
  size_t tasks_run;
} counting_pool;

static void reverse_on_caller(void* context, size_t task_count, convkit_task task, void* task_argument) {
  counting_pool* pool = (counting_pool*)context;
  size_t i;
  for (i = task_count; i-- > 0;) {
    task(task_argument, i);
    ++pool->tasks_run;
  }
}

enum { kIn = 16 * 40 * 40, kWeights = 16 * 16 * 3 * 3, kOut = 16 * 40 * 40 };

int main(void) {
  convkit_conv2d_desc desc;
  convkit_options options;
  convkit_epilogue epilogue;
  convkit_thread_pool pool;
  counting_pool state = {0};
  convkit_plan *plan = NULL, *fused = NULL;
  static float x[kIn], w[kWeights], own[kOut], on_pool[kOut], residual[kOut], own_fused[kOut];
  int32_t threads = -1;
  int i;
  unsigned seed = 777u;
  for (i = 0; i < kIn; ++i) x[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0xFF) / 128.0f - 1.0f;
  for (i = 0; i < kWeights; ++i) w[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0xFF) / 256.0f - 0.5f;
  for (i = 0; i < kOut; ++i) residual[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0xFF) / 64.0f - 2.0f;

  convkit_conv2d_desc_init(&desc);
  desc.batch = 1;
  desc.in_channels = 16;
  desc.in_height = desc.in_width = 40;
  desc.out_channels = 16;
  desc.kernel_height = desc.kernel_width = 3;
  desc.pad_top = desc.pad_left = desc.pad_bottom = desc.pad_right = 1;
  convkit_options_init(&options);
  options.threads = 2;
  EXPECT(convkit_plan_create(&desc, w, NULL, &options, &plan) == CONVKIT_STATUS_OK);
  EXPECT(convkit_plan_get_threads(plan, &threads) == CONVKIT_STATUS_OK);
  EXPECT(threads >= 1 && threads <= 2);
  EXPECT(convkit_default_threads() >= 1);

  convkit_thread_pool_init(&pool);
  EXPECT(pool.struct_size == sizeof(convkit_thread_pool) && pool.width == 1 && pool.parallel_for == NULL);
  pool.context = &state;
  pool.parallel_for = reverse_on_caller;
  pool.width = 2;
  EXPECT(convkit_plan_run(plan, x, own, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(convkit_plan_run_on_pool(plan, &pool, x, NULL, on_pool, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(memcmp(own, on_pool, sizeof own) == 0);
  EXPECT(threads == 1 || state.tasks_run > 0); /* two threads asked: the pool ran the tasks */

  /* A residual, accumulated in place, on the pool and on convkit's own workers. */
  convkit_epilogue_init(&epilogue);
  epilogue.activation = CONVKIT_ACTIVATION_SILU;
  epilogue.residual = 1;
  EXPECT(convkit_plan_create_fused(&desc, w, NULL, &options, &epilogue, &fused) == CONVKIT_STATUS_OK);
  memcpy(own_fused, residual, sizeof residual);
  memcpy(on_pool, residual, sizeof residual);
  EXPECT(convkit_plan_run_residual(fused, x, own_fused, own_fused, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(convkit_plan_run_on_pool(fused, &pool, x, on_pool, on_pool, NULL, 0) == CONVKIT_STATUS_OK);
  EXPECT(memcmp(own_fused, on_pool, sizeof own_fused) == 0);

  /* Misuse: nothing is written. */
  memcpy(on_pool, residual, sizeof residual);
  EXPECT(convkit_plan_run_on_pool(plan, NULL, x, NULL, on_pool, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(mentions("pool is null"));
  pool.struct_size = 8;
  EXPECT(convkit_plan_run_on_pool(plan, &pool, x, NULL, on_pool, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(mentions("pool->struct_size = 8"));
  pool.struct_size = sizeof(convkit_thread_pool);
  pool.width = 0;
  EXPECT(convkit_plan_run_on_pool(plan, &pool, x, NULL, on_pool, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(mentions("pool.width = 0"));
  pool.width = 2;
  pool.parallel_for = NULL;
  EXPECT(convkit_plan_run_on_pool(plan, &pool, x, NULL, on_pool, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(mentions("parallel_for is null"));
  pool.parallel_for = reverse_on_caller;
  EXPECT(convkit_plan_run_on_pool(plan, &pool, x, residual, on_pool, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(mentions("no residual"));
  EXPECT(convkit_plan_run_on_pool(fused, &pool, x, NULL, on_pool, NULL, 0) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(mentions("residual"));
  EXPECT(memcmp(on_pool, residual, sizeof residual) == 0);
  EXPECT(convkit_plan_get_threads(NULL, &threads) == CONVKIT_STATUS_INVALID_ARGUMENT);
  EXPECT(convkit_plan_get_threads(plan, NULL) == CONVKIT_STATUS_INVALID_ARGUMENT);

  convkit_plan_destroy(fused);
  convkit_plan_destroy(plan);
  if (failures != 0) fprintf(stderr, "%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
