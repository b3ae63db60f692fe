// Packed weight forms shared between plans: each array an algorithm reads its weights from (panels, strips, channel
// slices, the bias copy, ...) identified by a key that names every parameter its content depends on. A plan keeps
// shared references to the forms it reads, so the forms live as long as any plan or owner needs them.
#pragma once

#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "memory.hpp"
#include "problem.hpp"

namespace convkit::detail {

// A 64-byte aligned, immutable float array; null when empty.
using SharedFloats = std::shared_ptr<const float>;

SharedFloats share(AlignedFloats floats);

// The forms of one set of weights (one canonical weights array and its bias). Thread-safe: plans made from one cache
// on several threads at once each find or pack every form exactly once.
class WeightCache {
 public:
  struct Form {
    SharedFloats floats;
    std::size_t count = 0;
  };

  // keeps_forms false: a plan's private cache, which only packs (each of a primitive's forms is asked for once, and
  // nothing outlives the plan's creation), so an ordinary plan pays no lock or lookup.
  explicit WeightCache(bool keeps_forms = true) : keeps_forms_(keeps_forms) {}

  // The form of that key: the stored one, or the one `pack` makes (count floats), stored. A stored form whose count
  // differs from `count` is a corrupt or mismatched form: Error(InvalidArgument), never a read past its end.
  // Packs under the cache's lock, so a form needed by several plans at once is packed once.
  SharedFloats get_or_pack(const std::string& key, std::size_t count, const std::function<AlignedFloats()>& pack);

  // Whether every one of the `count` floats at `weights` is finite, remembered for these weights: a shared cache
  // answers each plan made from it without scanning the weights again (on the suite's largest 3x3 layer the scan
  // was most of the time of a plan made from packed weights).
  bool all_finite(const float* weights, std::int64_t count);

  // Stores a form as it is (a loaded one); replaces one of the same key.
  void insert(const std::string& key, SharedFloats floats, std::size_t count);

  // The form of that key, or an empty one.
  Form find(const std::string& key) const;

  std::size_t form_count() const;
  std::size_t float_count() const;   // of every form
  std::uint64_t pack_count() const;  // forms packed by get_or_pack since the cache was made (not inserted ones)
  std::vector<std::pair<std::string, Form>> forms() const;  // in key order

 private:
  const bool keeps_forms_;
  mutable std::mutex mutex_;
  std::map<std::string, Form> forms_;
  std::uint64_t packs_ = 0;
  const float* finite_weights_ = nullptr;  // the weights all_finite last scanned, and its answer
  std::int64_t finite_count_ = 0;
  bool finite_ = false;
};

// The key of the weights as given, reordered to `target` ("weights OIHW"), and of the bias copy ("bias"). A
// PackedWeights holds its canonical copy under weights_key(OIHW) and kBiasKey, so plans read those in place.
std::string weights_key(WeightsLayout target);
extern const char* const kBiasKey;

// The weights reordered to `target` (pack_weights) and the bias copy, as forms of `cache`; null for a null bias.
SharedFloats weights_form(WeightCache& cache, const Problem& problem, const float* weights, WeightsLayout target);
SharedFloats bias_form(WeightCache& cache, const Problem& problem, const float* bias);

// The shape of the weights: what a descriptor must match to use them.
struct WeightShape {
  std::int64_t in_channels, out_channels, kernel_height, kernel_width, groups;
};

}  // namespace convkit::detail

namespace convkit {

// Shared by every copy of a PackedWeights handle; the canonical arrays are also forms of the cache (weights_key(OIHW)
// and kBiasKey), so plans read them in place.
struct PackedWeights::State {
  detail::WeightShape shape;
  detail::SharedFloats weights;  // OIHW
  detail::SharedFloats bias;     // null when none
  detail::WeightCache cache;
};

}  // namespace convkit

namespace convkit::detail {

// The weights and bias of a saved blob (docs/packed-weights.md), every field checked: Error(InvalidArgument).
std::vector<unsigned char> save_packed_weights(const PackedWeights::State& state);
std::shared_ptr<PackedWeights::State> load_packed_weights(const void* data, std::size_t size);

// The 64-bit checksum of the blob format: four lanes of a multiply-xorshift mix over 8-byte words.
std::uint64_t blob_checksum(const unsigned char* data, std::size_t size);

}  // namespace convkit::detail
