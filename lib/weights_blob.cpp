// The binary format of saved packed weights (docs/packed-weights.md): writing, and reading with every field checked.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "arithmetic.hpp"
#include "error.hpp"
#include "kernels/direct_ukernels.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "packed_weights.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

constexpr unsigned char kMagic[8] = {'C', 'K', 'P', 'W', 'E', 'I', 'G', 'H'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint32_t kByteOrderMark = 0x01020304;
constexpr std::size_t kIsaBytes = 16;
constexpr std::size_t kHeaderBytes = 128;
constexpr std::size_t kChecksumBytes = 8;
constexpr std::size_t kAlignment = 64;
constexpr std::uint64_t kMaxKeyBytes = 256;
// Every size of the shape at most this: their products then fit in 64 bits, and no real layer comes near it.
constexpr std::uint64_t kMaxDimension = std::uint64_t{1} << 24;

// Header fields: offsets in bytes.
constexpr std::size_t kVersionAt = 8, kByteOrderAt = 12, kDirectIsaAt = 16, kGemmIsaAt = 32, kTotalSizeAt = 48,
                      kShapeAt = 56, kHasBiasAt = 96, kFormCountAt = 104, kWeightsFloatsAt = 112, kBiasFloatsAt = 120;

const char* gemm_isa() {
  const GemmUkernels* gemm = gemm_ukernels();
  return gemm != nullptr ? gemm->isa : "none";
}

std::size_t aligned(std::size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

class Writer {
 public:
  void u32(std::size_t at, std::uint32_t value) { std::memcpy(blob.data() + at, &value, sizeof value); }
  void u64(std::size_t at, std::uint64_t value) { std::memcpy(blob.data() + at, &value, sizeof value); }
  void append_u64(std::uint64_t value) {
    const std::size_t at = blob.size();
    blob.resize(at + sizeof value);
    u64(at, value);
  }
  void append(const void* data, std::size_t bytes) {
    const auto* begin = static_cast<const unsigned char*>(data);
    blob.insert(blob.end(), begin, begin + bytes);
  }
  void pad() { blob.resize(aligned(blob.size()), 0); }
  std::vector<unsigned char> blob;
};

std::uint64_t mix(std::uint64_t h) {
  h *= 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 29);
}

// The checksum's lanes: kLanes independent multiply-xorshift chains, word i of each 64-byte block into lane i, so
// that the multiplier's latency is hidden and checking runs near memory speed.
constexpr int kLanes = 8;
constexpr std::size_t kHashBlock = 8 * kLanes;

class Hasher {
 public:
  // Absorbs `bytes` (a multiple of kHashBlock) at `data`, and copies them to `copy` unless it is null: loading reads
  // each byte once.
  void absorb(const unsigned char* data, std::size_t bytes, unsigned char* copy) {
    for (std::size_t i = 0; i < bytes; i += kHashBlock) {
      std::uint64_t words[kLanes];
      std::memcpy(words, data + i, sizeof words);
      for (int l = 0; l < kLanes; ++l) lanes_[l] = mix(lanes_[l] ^ words[l]);
      if (copy != nullptr) std::memcpy(copy + i, words, sizeof words);
    }
  }
  // Fewer than kHashBlock bytes: zero-padded words into lanes 0, 1, ... in turn.
  void absorb_tail(const unsigned char* data, std::size_t bytes) {
    for (int l = 0; bytes > 0; ++l) {
      std::uint64_t word = 0;
      const std::size_t n = std::min<std::size_t>(8, bytes);
      std::memcpy(&word, data, n);
      lanes_[l] = mix(lanes_[l] ^ word);
      data += n;
      bytes -= n;
    }
  }
  std::uint64_t finish(std::size_t size) const {
    std::uint64_t h = mix(size ^ 0x886A3F24D308A385ull);
    for (std::uint64_t lane : lanes_) h = mix(h ^ lane);
    return h;
  }

 private:
  std::uint64_t lanes_[kLanes] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull,
                                  0x082EFA98EC4E6C89ull, 0x452821E638D01377ull, 0xBE5466CF34E90C6Cull,
                                  0xC0AC29B7C97C50DDull, 0x3F84D5B5B5470917ull};
};

// The data is hashed in chunks of this many bytes (a multiple of kHashBlock), each on its own, so that loading
// hashes and copies them on several threads; the chunks' digests are then combined in order.
constexpr std::size_t kHashChunk = std::size_t{1} << 20;

std::uint64_t combine(const std::vector<std::uint64_t>& digests, std::size_t size) {
  std::uint64_t h = mix(size ^ 0x9216D5D98979FB1Bull);
  for (std::uint64_t digest : digests) h = mix(h ^ digest);
  return h;
}

// A view of the blob that never reads outside it: each read is checked against the end first.
class Reader {
 public:
  Reader(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}
  std::uint32_t u32(std::size_t at) const {
    std::uint32_t value;
    std::memcpy(&value, data_ + at, sizeof value);
    return value;
  }
  std::uint64_t u64(std::size_t at) const {
    std::uint64_t value;
    std::memcpy(&value, data_ + at, sizeof value);
    return value;
  }
  // The NUL-terminated name in a field of kIsaBytes.
  std::string isa(std::size_t at, const char* field) const {
    const auto* begin = reinterpret_cast<const char*>(data_ + at);
    const std::size_t length = strnlen(begin, kIsaBytes);
    if (length == kIsaBytes) invalid("packed weights: the ", field, " field is not NUL-terminated");
    return std::string(begin, length);
  }
  // Claims `bytes` at the cursor, within the end of the forms (the checksum follows), and returns their offset.
  std::size_t take(std::uint64_t bytes, const char* what) {
    const std::size_t end = size_ - kChecksumBytes;
    if (bytes > end - cursor_)
      invalid("packed weights: ", what, " needs ", bytes, " bytes at offset ", cursor_, " but the forms end at ", end);
    const std::size_t at = cursor_;
    cursor_ += static_cast<std::size_t>(bytes);
    // Padding to the alignment; the forms end at a multiple of the alignment (checked), so this stays within them.
    cursor_ = std::min(aligned(cursor_), end);
    return at;
  }
  std::size_t cursor() const { return cursor_; }
  void seek(std::size_t at) { cursor_ = at; }
  const unsigned char* at(std::size_t offset) const { return data_ + offset; }

 private:
  const unsigned char* data_;
  std::size_t size_;
  std::size_t cursor_ = 0;
};

std::uint64_t checked_product(std::initializer_list<std::uint64_t> factors) {
  std::uint64_t product = 1;
  for (std::uint64_t factor : factors)
    if (__builtin_mul_overflow(product, factor, &product)) invalid("packed weights: a form's size overflows");
  return product;
}

std::uint64_t parse_number(const std::string& key, const std::string& token, const char* name) {
  const std::string prefix = std::string(name) + "=";
  if (token.compare(0, prefix.size(), prefix) != 0 || token.size() == prefix.size() ||
      token.size() > prefix.size() + 4 ||
      !std::all_of(token.begin() + static_cast<std::ptrdiff_t>(prefix.size()), token.end(),
                   [](char c) { return c >= '0' && c <= '9'; }))
    invalid("packed weights: the form key \"", key, "\" has \"", token, "\" where ", name, "=<1 to 4 digits> belongs");
  const std::uint64_t value = std::stoull(token.substr(prefix.size()));
  if (value == 0) invalid("packed weights: the form key \"", key, "\" has ", name, " = 0");
  return value;
}

// The float count a form of that key holds for weights of that shape; Error(InvalidArgument) for a key of unknown
// syntax. The keys are those the primitives use (lib/algorithm_*.cpp, lib/direct_*.cpp).
std::uint64_t expected_floats(const std::string& key, const WeightShape& s) {
  std::vector<std::string> tokens;
  std::istringstream words(key);
  for (std::string word; words >> word;) tokens.push_back(word);
  std::string rebuilt;
  for (const std::string& token : tokens) rebuilt += (rebuilt.empty() ? "" : " ") + token;
  if (tokens.empty() || rebuilt != key)
    invalid("packed weights: the form key \"", key, "\" is not words split by one space");
  const std::uint64_t cog = s.out_channels / s.groups, cig = s.in_channels / s.groups;
  const std::uint64_t taps =
      checked_product({static_cast<std::uint64_t>(s.kernel_height), static_cast<std::uint64_t>(s.kernel_width)});
  const std::uint64_t k = checked_product({cig, taps}), groups = s.groups;
  const auto round_up_u = [](std::uint64_t value, std::uint64_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
  };
  const std::string& kind = tokens[0];
  const std::size_t n = tokens.size();
  const bool order = n >= 2 && (tokens[1] == "OIHW" || tokens[1] == "OHWI");
  if (kind == "weights" && n == 2 && tokens[1] == "OHWI")
    return checked_product({static_cast<std::uint64_t>(s.out_channels), k});
  if (kind == "bias_or_zeros" && n == 1) return static_cast<std::uint64_t>(s.out_channels);
  if (kind == "panels" && n == 4 && order) {
    const std::uint64_t block = parse_number(key, tokens[2], "block"), width = parse_number(key, tokens[3], "width");
    return checked_product({groups, (cog + block - 1) / block, round_up_u(block, width), k});
  }
  if (kind == "channel_slices" && n == 2) {
    const std::uint64_t lanes = parse_number(key, tokens[1], "lanes");
    return checked_product({cog, taps + 1, round_up_u(groups, lanes)});
  }
  if (kind == "tiny_columns" && n == 2)
    return checked_product({groups, k, round_up_u(cog, parse_number(key, tokens[1], "lanes"))});
  if (kind == "tiny_bias" && n == 2)
    return checked_product({groups, round_up_u(cog, parse_number(key, tokens[1], "lanes"))});
  if (kind == "winograd" && (n == 2 || (n == 4 && tokens[2] == "strips"))) {
    const std::uint64_t tile = parse_number(key, tokens[1], "tile");
    if (tile != 2 && tile != 4) invalid("packed weights: the form key \"", key, "\" has tile = ", tile, " (2 or 4)");
    const std::uint64_t points = (tile + 2) * (tile + 2);
    if (n == 2) return checked_product({groups, points, cig, cog});
    return checked_product({groups, points, cig, round_up_u(cog, parse_number(key, tokens[3], "width"))});
  }
  invalid("packed weights: unknown form key \"", key, "\"");
}

// A region of floats in the blob: the canonical weights, the bias or a form.
struct Region {
  std::string key;
  std::size_t at;
  std::uint64_t floats;
};

struct BlobLayout {
  WeightShape shape;
  std::vector<Region> regions;  // in the blob's order
};

// Every field after the checksum's: the ISAs, the shape, and where each region lies. Reads only within the blob.
BlobLayout parse(Reader& r, std::size_t size) {
  const std::string direct_isa = r.isa(kDirectIsaAt, "direct ISA"), gemm = r.isa(kGemmIsaAt, "GEMM ISA");
  if (direct_isa != direct_ukernels().isa)
    invalid("packed weights: packed for direct kernels of ISA \"", direct_isa, "\", this process runs \"",
            direct_ukernels().isa, "\"");
  if (gemm != gemm_isa())
    invalid("packed weights: packed for GEMM kernels of ISA \"", gemm, "\", this process runs \"", gemm_isa(), "\"");

  static const char* const kShapeFields[] = {"in_channels", "out_channels", "kernel_height", "kernel_width", "groups"};
  std::uint64_t shape[5];
  for (std::size_t i = 0; i < 5; ++i) {
    shape[i] = r.u64(kShapeAt + 8 * i);
    if (shape[i] < 1 || shape[i] > kMaxDimension)
      invalid("packed weights: ", kShapeFields[i], " = ", shape[i], " is outside [1, ", kMaxDimension, "]");
  }
  BlobLayout layout;
  WeightShape& s = layout.shape;
  s = {static_cast<std::int64_t>(shape[0]), static_cast<std::int64_t>(shape[1]), static_cast<std::int64_t>(shape[2]),
       static_cast<std::int64_t>(shape[3]), static_cast<std::int64_t>(shape[4])};
  if (s.in_channels % s.groups != 0 || s.out_channels % s.groups != 0)
    invalid("packed weights: groups = ", s.groups, " does not divide in_channels = ", s.in_channels,
            " and out_channels = ", s.out_channels);
  const std::uint64_t has_bias = r.u64(kHasBiasAt);
  if (has_bias > 1) invalid("packed weights: has_bias = ", has_bias, " is neither 0 nor 1");
  const std::uint64_t weights_floats = r.u64(kWeightsFloatsAt), bias_floats = r.u64(kBiasFloatsAt);
  const std::uint64_t expected_weights = checked_product({shape[1], shape[0] / shape[4], shape[2], shape[3]});
  if (weights_floats != expected_weights)
    invalid("packed weights: weights_floats = ", weights_floats, " does not match the shape's ", expected_weights);
  if (bias_floats != (has_bias ? shape[1] : 0))
    invalid("packed weights: bias_floats = ", bias_floats, " where the shape and has_bias give ",
            has_bias ? shape[1] : 0);
  const std::uint64_t form_count = r.u64(kFormCountAt);

  // Every region is claimed before it is read.
  const auto float_bytes = [](std::uint64_t count) { return checked_product({count, sizeof(float)}); };
  r.seek(kHeaderBytes);
  layout.regions.push_back(
      {weights_key(WeightsLayout::OIHW), r.take(float_bytes(weights_floats), "the canonical weights"), weights_floats});
  const std::size_t bias_at = r.take(float_bytes(bias_floats), "the bias");
  if (has_bias) layout.regions.push_back({kBiasKey, bias_at, bias_floats});
  std::set<std::string> keys;
  for (std::uint64_t f = 0; f < form_count; ++f) {
    const std::size_t entry = r.take(16, "a form's key length and float count");
    const std::uint64_t key_bytes = r.u64(entry), floats = r.u64(entry + 8);
    if (key_bytes == 0 || key_bytes > kMaxKeyBytes)
      invalid("packed weights: form ", f, " has a key of ", key_bytes, " bytes (1 to ", kMaxKeyBytes, ")");
    r.seek(entry + 16);
    const std::size_t key_at = r.take(key_bytes, "a form's key");
    std::string key(reinterpret_cast<const char*>(r.at(key_at)), static_cast<std::size_t>(key_bytes));
    if (key == weights_key(WeightsLayout::OIHW) || key == kBiasKey || !keys.insert(key).second)
      invalid("packed weights: the form \"", key, "\" appears twice");
    const std::uint64_t expected = expected_floats(key, s);
    if (floats != expected)
      invalid("packed weights: the form \"", key, "\" holds ", floats, " floats where its key and the shape give ",
              expected);
    layout.regions.push_back({std::move(key), r.take(float_bytes(floats), "a form's floats"), floats});
  }
  if (r.cursor() != size - kChecksumBytes)
    invalid("packed weights: ", size - kChecksumBytes - r.cursor(), " bytes after the last form are not part of it");
  return layout;
}

}  // namespace

std::uint64_t blob_checksum(const unsigned char* data, std::size_t size) {
  std::vector<std::uint64_t> digests;
  for (std::size_t at = 0; at < size; at += kHashChunk) {
    const std::size_t bytes = std::min(kHashChunk, size - at), whole = bytes / kHashBlock * kHashBlock;
    Hasher hasher;
    hasher.absorb(data + at, whole, nullptr);
    hasher.absorb_tail(data + at + whole, bytes - whole);
    digests.push_back(hasher.finish(bytes));
  }
  return combine(digests, size);
}

std::vector<unsigned char> save_packed_weights(const PackedWeights::State& state) {
  const WeightShape& s = state.shape;
  const std::vector<std::pair<std::string, WeightCache::Form>> all = state.cache.forms();
  const std::uint64_t weights_floats =
      static_cast<std::uint64_t>(s.out_channels * (s.in_channels / s.groups) * s.kernel_height * s.kernel_width);
  const std::uint64_t bias_floats = state.bias ? static_cast<std::uint64_t>(s.out_channels) : 0;
  std::vector<const std::pair<std::string, WeightCache::Form>*> forms;
  for (const auto& form : all)
    if (form.first != weights_key(WeightsLayout::OIHW) && form.first != kBiasKey) forms.push_back(&form);

  // The blob's size first: growing it form by form would copy what it holds again at each growth.
  std::size_t total = kHeaderBytes + aligned(weights_floats * sizeof(float)) + aligned(bias_floats * sizeof(float));
  for (const auto* form : forms)
    total += aligned(16 + form->first.size()) + aligned(form->second.count * sizeof(float));
  Writer w;
  w.blob.reserve(total + kChecksumBytes);
  w.blob.assign(kHeaderBytes, 0);
  std::memcpy(w.blob.data(), kMagic, sizeof kMagic);
  w.u32(kVersionAt, kVersion);
  w.u32(kByteOrderAt, kByteOrderMark);
  std::strncpy(reinterpret_cast<char*>(w.blob.data() + kDirectIsaAt), direct_ukernels().isa, kIsaBytes - 1);
  std::strncpy(reinterpret_cast<char*>(w.blob.data() + kGemmIsaAt), gemm_isa(), kIsaBytes - 1);
  const std::int64_t shape[] = {s.in_channels, s.out_channels, s.kernel_height, s.kernel_width, s.groups};
  for (std::size_t i = 0; i < 5; ++i) w.u64(kShapeAt + 8 * i, static_cast<std::uint64_t>(shape[i]));
  w.u64(kHasBiasAt, state.bias ? 1 : 0);
  w.u64(kFormCountAt, forms.size());
  w.u64(kWeightsFloatsAt, weights_floats);
  w.u64(kBiasFloatsAt, bias_floats);
  w.append(state.weights.get(), weights_floats * sizeof(float));
  w.pad();
  if (state.bias) w.append(state.bias.get(), bias_floats * sizeof(float));
  w.pad();
  for (const auto* form : forms) {
    w.append_u64(form->first.size());
    w.append_u64(form->second.count);
    w.append(form->first.data(), form->first.size());
    w.pad();
    w.append(form->second.floats.get(), form->second.count * sizeof(float));
    w.pad();
  }
  w.u64(kTotalSizeAt, w.blob.size() + kChecksumBytes);
  w.append_u64(blob_checksum(w.blob.data(), w.blob.size()));
  return std::move(w.blob);
}

std::shared_ptr<PackedWeights::State> load_packed_weights(const void* data, std::size_t size) {
  if (data == nullptr) invalid("packed weights: data is null");
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (size < kHeaderBytes + kChecksumBytes)
    invalid("packed weights: truncated: ", size, " bytes given, a blob has at least ", kHeaderBytes + kChecksumBytes);
  Reader r(bytes, size);
  if (std::memcmp(bytes, kMagic, sizeof kMagic) != 0) invalid("packed weights: bad magic: not a packed-weights blob");
  const std::uint32_t mark = r.u32(kByteOrderAt);
  if (mark != kByteOrderMark) {
    std::ostringstream hex;
    hex << std::hex << mark;
    invalid("packed weights: byte-order mark 0x", hex.str(),
            " is not 0x1020304: ", mark == 0x04030201 ? "written with the other byte order" : "the field is corrupt");
  }
  const std::uint32_t version = r.u32(kVersionAt);
  if (version != kVersion)
    invalid("packed weights: unknown format version ", version, " (this library reads ", kVersion, ")");
  const std::uint64_t total = r.u64(kTotalSizeAt);
  if (total > size) invalid("packed weights: truncated: the blob says ", total, " bytes, ", size, " are given");
  if (total < size) invalid("packed weights: ", size, " bytes given where the blob says ", total);
  if ((size - kChecksumBytes) % kAlignment != 0)
    invalid("packed weights: the size ", size, " is not a multiple of ", kAlignment, " plus the checksum's ",
            kChecksumBytes);
  const std::uint64_t stored = r.u64(size - kChecksumBytes);
  const auto checksum_mismatch = [] { invalid("packed weights: checksum mismatch: the blob is corrupt"); };
  BlobLayout layout;
  try {
    layout = parse(r, size);
  } catch (const Error&) {
    // A corrupt blob is reported as corrupt, whatever field the damage reached.
    if (blob_checksum(bytes, size - kChecksumBytes) != stored) checksum_mismatch();
    throw;
  }

  // One pass: every byte before the checksum hashed, the regions copied on the way, a chunk per unit of work. Each
  // region starts at a multiple of 64 and its padding lies within the forms (parse), as do the chunks' ends, so every
  // piece is whole blocks.
  auto state = std::make_shared<PackedWeights::State>();
  state->shape = layout.shape;
  try {
    const std::vector<Region>& regions = layout.regions;
    std::vector<AlignedFloats> copies;
    std::vector<std::size_t> ends;  // of each region with its padding
    for (const Region& region : regions) {
      ends.push_back(region.at + aligned(static_cast<std::size_t>(region.floats) * sizeof(float)));
      copies.push_back(allocate_floats((ends.back() - region.at) / sizeof(float)));
    }
    const std::size_t data_bytes = size - kChecksumBytes;
    std::vector<std::uint64_t> digests((data_bytes + kHashChunk - 1) / kHashChunk);
    const auto hash_chunk = [&](std::size_t chunk) {
      const std::size_t begin = chunk * kHashChunk, end = std::min(begin + kHashChunk, data_bytes);
      Hasher hasher;
      std::size_t at = begin;
      for (std::size_t i = 0; i < regions.size() && at < end; ++i) {
        if (ends[i] <= at) continue;
        if (regions[i].at >= end) break;
        const std::size_t start = std::min(std::max(regions[i].at, at), end);
        hasher.absorb(bytes + at, start - at, nullptr);
        const std::size_t stop = std::min(ends[i], end);
        auto* copy = reinterpret_cast<unsigned char*>(copies[i].get()) + (start - regions[i].at);
        hasher.absorb(bytes + start, stop - start, copy);
        at = stop;
      }
      hasher.absorb(bytes + at, end - at, nullptr);
      digests[chunk] = hasher.finish(end - begin);
    };
    parallel_for(usable_threads(default_thread_count()), static_cast<std::int64_t>(digests.size()),
                 [&](std::int64_t begin, std::int64_t end, int) {
                   for (std::int64_t chunk = begin; chunk < end; ++chunk) hash_chunk(static_cast<std::size_t>(chunk));
                 });
    if (combine(digests, data_bytes) != stored) checksum_mismatch();
    for (std::size_t i = 0; i < layout.regions.size(); ++i) {
      const Region& region = layout.regions[i];
      SharedFloats floats = share(std::move(copies[i]));
      if (region.key == weights_key(WeightsLayout::OIHW)) state->weights = floats;
      if (region.key == kBiasKey) state->bias = floats;
      state->cache.insert(region.key, std::move(floats), static_cast<std::size_t>(region.floats));
    }
  } catch (const std::bad_alloc&) {
    fail(Status::OutOfMemory, "packed weights: out of memory while loading ", size, " bytes");
  }
  return state;
}

}  // namespace convkit::detail
