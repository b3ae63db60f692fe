// Where a run's time goes, for `convkit_bench --breakdown`: each primitive marks its phases with a PhaseTimer, whose
// cost when profiling is off (always, but in that tool) is one relaxed atomic load. The seconds are summed over every
// worker. The weights are packed when a plan is made, never in a run, so packing has no phase.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace convkit::detail {

enum class Phase : int {
  Unfold,    // im2col / im2row, the implicit GEMM's band copies, direct's staging, Winograd's input transform
  Multiply,  // the GEMMs (with the bias and activation when convkit's kernels apply them in registers), direct loops
  Epilogue,  // what follows a product: bias and activation passes, transposes into the output, Winograd's output
             // transform
  Count
};

struct PhaseSeconds {
  double seconds[static_cast<int>(Phase::Count)];
};

// Inline, so that a PhaseTimer costs a load and a test, not a call: the lesson's calls take tens of nanoseconds.
inline std::atomic<bool> g_profiling_enabled{false};

void enable_profiling(bool enabled);
inline bool profiling_enabled() { return g_profiling_enabled.load(std::memory_order_relaxed); }
void reset_phase_seconds();
PhaseSeconds phase_seconds();
void add_phase_nanoseconds(Phase phase, std::int64_t nanoseconds);

// Times its scope into `phase` while profiling is enabled.
class PhaseTimer {
 public:
  explicit PhaseTimer(Phase phase) : phase_(phase), on_(profiling_enabled()) {
    if (on_) start_ = std::chrono::steady_clock::now();
  }
  ~PhaseTimer() {
    if (on_)
      add_phase_nanoseconds(
          phase_,
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count());
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  Phase phase_;
  bool on_;
  std::chrono::steady_clock::time_point start_{};
};

}  // namespace convkit::detail
