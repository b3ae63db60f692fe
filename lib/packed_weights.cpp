#include "packed_weights.hpp"

#include <cmath>
#include <utility>

#include "error.hpp"
#include "packing.hpp"

namespace convkit::detail {

const char* const kBiasKey = "bias";

SharedFloats share(AlignedFloats floats) {
  if (!floats) return SharedFloats{};
  return SharedFloats(floats.release(), AlignedDelete{});
}

std::string weights_key(WeightsLayout target) {
  return target == WeightsLayout::OIHW ? "weights OIHW" : "weights OHWI";
}

SharedFloats weights_form(WeightCache& cache, const Problem& problem, const float* weights, WeightsLayout target) {
  return cache.get_or_pack(weights_key(target), static_cast<std::size_t>(problem.weights_elements),
                           [&] { return pack_weights(problem, weights, target); });
}

SharedFloats bias_form(WeightCache& cache, const Problem& problem, const float* bias) {
  if (bias == nullptr) return SharedFloats{};
  return cache.get_or_pack(kBiasKey, static_cast<std::size_t>(problem.out_channels),
                           [&] { return copy_bias(problem, bias); });
}

SharedFloats WeightCache::get_or_pack(const std::string& key, std::size_t count,
                                      const std::function<AlignedFloats()>& pack) {
  if (!keeps_forms_) return share(pack());
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto found = forms_.find(key);
  if (found != forms_.end()) {
    if (found->second.count != count)
      invalid("the packed form \"", key, "\" holds ", found->second.count, " floats where ", count, " are expected");
    return found->second.floats;
  }
  Form form{share(pack()), count};
  forms_.emplace(key, form);
  ++packs_;
  return form.floats;
}

bool WeightCache::all_finite(const float* weights, std::int64_t count) {
  const auto scan = [&] {
    for (std::int64_t i = 0; i < count; ++i)
      if (!std::isfinite(weights[i])) return false;
    return true;
  };
  if (!keeps_forms_) return scan();
  const std::lock_guard<std::mutex> lock(mutex_);
  if (finite_weights_ != weights || finite_count_ != count) {
    finite_ = scan();
    finite_weights_ = weights;
    finite_count_ = count;
  }
  return finite_;
}

void WeightCache::insert(const std::string& key, SharedFloats floats, std::size_t count) {
  const std::lock_guard<std::mutex> lock(mutex_);
  forms_[key] = Form{std::move(floats), count};
}

WeightCache::Form WeightCache::find(const std::string& key) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto found = forms_.find(key);
  return found == forms_.end() ? Form{} : found->second;
}

std::size_t WeightCache::form_count() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return forms_.size();
}

std::size_t WeightCache::float_count() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::size_t total = 0;
  for (const auto& entry : forms_) total += entry.second.count;
  return total;
}

std::uint64_t WeightCache::pack_count() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return packs_;
}

std::vector<std::pair<std::string, WeightCache::Form>> WeightCache::forms() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return {forms_.begin(), forms_.end()};
}

}  // namespace convkit::detail
