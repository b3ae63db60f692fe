// How convkit_bench measures: aligned buffers of random data, and the timing rule shared by every figure it prints
// (convkit, bare OpenBLAS and oneDNN), so that their ratios compare like with like.
//
// Header-only; depends on the standard library alone.
#ifndef CONVKIT_BENCH_MEASURE_HPP
#define CONVKIT_BENCH_MEASURE_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace convkit_bench {

/// An uninitialised array of a trivial type on a 64-byte boundary (a cache line, and a whole AVX-512 vector), so that
/// no library under test is favoured or penalised by the alignment of its buffers.
template <typename T>
class AlignedArray {
 public:
  static constexpr std::size_t kAlignment = 64;

  AlignedArray() = default;
  explicit AlignedArray(std::size_t count)
      : data_(static_cast<T*>(
            ::operator new (std::max<std::size_t>(count, 1) * sizeof(T), std::align_val_t{kAlignment}))),
        size_(count) {}

  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }

 private:
  struct Free {
    void operator()(T* pointer) const noexcept { ::operator delete (pointer, std::align_val_t{kAlignment}); }
  };
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

/// Fills values with reproducible pseudo-random floats in [-1, 1). A xorshift generator rather than <random>: the
/// largest buffers hold about 10^8 floats, and only their being ordinary numbers (no zeros pattern, no denormals)
/// matters to the timing.
inline void fill_random(float* values, std::size_t count, std::uint32_t seed) {
  std::uint32_t state = seed * 2654435761u + 1u;  // any non-zero state; the multiplier spreads small seeds apart
  for (std::size_t i = 0; i < count; ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    // The top 24 bits as a float in [0, 2), shifted to [-1, 1): exact, since a float has a 24-bit significand.
    values[i] = static_cast<float>(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

/// An aligned array of `count` random floats (see fill_random).
inline AlignedArray<float> random_array(std::size_t count, std::uint32_t seed) {
  AlignedArray<float> array(count);
  fill_random(array.data(), count, seed);
  return array;
}

/// Wall-clock seconds per call of a measured operation.
struct Timing {
  double median = 0.0;       ///< median over the samples: the figure reported
  double minimum = 0.0;      ///< the fastest sample
  std::int64_t calls = 0;    ///< timed calls in all; 0 means "not measured"
  std::int64_t samples = 0;  ///< samples taken (each times calls / samples consecutive calls)

  bool measured() const noexcept { return calls > 0; }
};

/// The shortest sample: calls shorter than this are timed in batches, so that the clock's resolution and the cost of
/// reading it stay well under 1% of a sample.
constexpr double kMinSampleSeconds = 2e-4;
/// The fewest samples behind a median, however long a call takes.
constexpr std::int64_t kMinSamples = 3;

/// Times call(): one untimed warm-up (first-touch page faults, caches, lazy initialisation such as thread pools and
/// JIT code), then samples until `min_seconds` have passed and at least kMinSamples were taken. Reports the median
/// and the minimum per-call time over the samples. The median rather than the mean: a preempted sample on a shared
/// machine moves it little.
template <typename Call>
Timing time_calls(Call&& call, double min_seconds) {
  using Clock = std::chrono::steady_clock;
  const auto seconds_between = [](Clock::time_point start, Clock::time_point end) {
    return std::chrono::duration<double>(end - start).count();
  };
  const auto time_batch = [&](std::int64_t batch) {
    const Clock::time_point start = Clock::now();
    for (std::int64_t i = 0; i < batch; ++i) call();
    return seconds_between(start, Clock::now());
  };

  call();
  const Clock::time_point begin = Clock::now();
  // Calibrate the batch: grow it until one batch lasts kMinSampleSeconds. That last batch is already a valid sample
  // (taken after the warm-up), which spares one call of the slowest layers.
  std::int64_t batch = 1;
  double elapsed = time_batch(batch);
  while (elapsed < kMinSampleSeconds) {
    const double factor = elapsed > 0.0 ? kMinSampleSeconds / elapsed * 1.2 : 10.0;
    batch = std::max(batch * 2, static_cast<std::int64_t>(static_cast<double>(batch) * std::min(factor, 100.0)));
    elapsed = time_batch(batch);
  }
  std::vector<double> per_call{elapsed / static_cast<double>(batch)};
  while (static_cast<std::int64_t>(per_call.size()) < kMinSamples || seconds_between(begin, Clock::now()) < min_seconds)
    per_call.push_back(time_batch(batch) / static_cast<double>(batch));

  std::sort(per_call.begin(), per_call.end());
  const std::size_t count = per_call.size();
  Timing timing;
  timing.median = count % 2 == 1 ? per_call[count / 2] : 0.5 * (per_call[count / 2 - 1] + per_call[count / 2]);
  timing.minimum = per_call.front();
  timing.samples = static_cast<std::int64_t>(count);
  timing.calls = timing.samples * batch;
  return timing;
}

/// GFLOP/s of `flops` done in `seconds`.
inline double gflops_per_second(double flops, double seconds) { return flops * 1e-9 / seconds; }

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_MEASURE_HPP
