// Testers of convkit's microkernels on their own (lib/kernels/*_ukernels.hpp), in the manner of XNNPACK's
// GemmMicrokernelTester: a fluent description of one call, run on one ISA's table and compared with a naive loop.
//
//   GemmUkernelTester().m(13).n(33).k(449).ldc(40).bias(true).activation(Activation::Relu).test(table, kPackedA);
//
// Every tester:
// - places the operands the kernel reads where the contract bounds them at the end of a page whose successor is
//   inaccessible (GuardedFloats), so a read past the documented region faults, and fills what lies around them
//   inside the buffer (leading-dimension gaps, the slack before the page) with NaN, so a read that reaches the result
//   makes it NaN;
// - fills the output it must write with NaN and everything around it (gaps of the leading dimension, guard runs
//   before and after) with kGuard, and checks both afterwards: an element left unwritten or a write outside fails;
// - prints the ISA and the whole shape (INFO) with the first few mismatches, and uses the printed seed kSeed.
// Sums are compared with a double-accumulating loop within 1e-5 of (|bias| + sum of |products|): the kernels sum
// blocks of at most kReductionBlock (448) float products, which stay far inside that bound. Copies are compared
// bitwise.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/direct_ukernels.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "oracle.hpp"

namespace convkit_test {

using convkit::Activation;
using convkit::detail::DirectUkernels;
using convkit::detail::GemmUkernels;

constexpr float kGuard = 12345.0f;         // around every output: must survive the call
constexpr std::int64_t kGuardFloats = 64;  // guard run before and after every output
constexpr double kTolerance = 1e-5;

inline float nan_value() { return std::numeric_limits<float>::quiet_NaN(); }

inline const char* activation_name(Activation a) {
  return a == Activation::Relu ? "relu" : (a == Activation::Clamp ? "clamp" : "none");
}

// Activation in double, as the kernels' contract defines it.
inline double activate(double v, Activation a, float lo, float hi) {
  if (a == Activation::Relu) return v < 0.0 ? 0.0 : v;
  if (a == Activation::Clamp) return v < lo ? lo : (v > hi ? hi : v);
  return v;
}

// `count` floats ending where an inaccessible page begins (up to align - 1 floats before it when the start must be
// aligned to `align` floats); everything else accessible in the mapping is NaN.
class GuardedFloats {
 public:
  explicit GuardedFloats(std::int64_t count, std::int64_t align = 1) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t wanted = static_cast<std::size_t>(std::max<std::int64_t>(count, 1) + align) * sizeof(float);
    accessible_ = (wanted + page - 1) / page * page;
    bytes_ = accessible_ + page;
    void* base = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(base != MAP_FAILED);
    base_ = static_cast<unsigned char*>(base);
    REQUIRE(mprotect(base_ + accessible_, page, PROT_NONE) == 0);
    float* floats = reinterpret_cast<float*>(base_);
    const std::int64_t total = static_cast<std::int64_t>(accessible_ / sizeof(float));
    std::fill(floats, floats + total, nan_value());
    std::int64_t start = total - count;
    start -= start % align;
    data_ = floats + start;
  }
  GuardedFloats(const GuardedFloats&) = delete;
  GuardedFloats& operator=(const GuardedFloats&) = delete;
  ~GuardedFloats() { munmap(base_, bytes_); }

  float* data() const { return data_; }

 private:
  unsigned char* base_ = nullptr;
  std::size_t accessible_ = 0, bytes_ = 0;
  float* data_ = nullptr;
};

// A read past a guard page kills the process before doctest prints the INFO context of the failing call: while one
// lives, a SIGSEGV first prints the shape of the call in flight, then hands the signal back to the handler that was
// there before (doctest's, which reports the crash) by returning to the faulting instruction with it restored.
class CrashNote {
 public:
  explicit CrashNote(const std::string& what) {
    const std::size_t n = std::min(what.size(), sizeof(text()) - 2);
    std::memcpy(text(), what.data(), n);
    text()[n] = '\n';
    length() = n + 1;
    struct sigaction action {};
    action.sa_handler = &CrashNote::handle;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &action, &previous());
  }
  CrashNote(const CrashNote&) = delete;
  CrashNote& operator=(const CrashNote&) = delete;
  ~CrashNote() { sigaction(SIGSEGV, &previous(), nullptr); }

 private:
  static void handle(int) {
    static const char kPrefix[] = "SIGSEGV in the microkernel call: ";
    ssize_t ignored = write(STDERR_FILENO, kPrefix, sizeof(kPrefix) - 1);
    ignored = write(STDERR_FILENO, text(), length());
    (void)ignored;
    sigaction(SIGSEGV, &previous(), nullptr);
  }
  static char (&text())[2048] {
    static char buffer[2048];
    return buffer;
  }
  static std::size_t& length() {
    static std::size_t n = 0;
    return n;
  }
  static struct sigaction& previous() {
    static struct sigaction action {};
    return action;
  }
};

// An output of `rows` rows of `columns` elements `column_stride` apart, rows `row_stride` apart: NaN where the kernel
// must write, kGuard everywhere else, with kGuardFloats of guard before and after.
class GuardedOutput {
 public:
  GuardedOutput(std::int64_t rows, std::int64_t columns, std::int64_t row_stride, std::int64_t column_stride = 1)
      : rows_(rows), columns_(columns), row_stride_(row_stride), column_stride_(column_stride) {
    const std::int64_t span = rows > 0 && columns > 0 ? (rows - 1) * row_stride + (columns - 1) * column_stride + 1 : 0;
    storage_.assign(static_cast<std::size_t>(span + 2 * kGuardFloats), kGuard);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < columns; ++c) at(r, c) = nan_value();
  }

  float* data() { return storage_.data() + kGuardFloats; }
  float& at(std::int64_t r, std::int64_t c) { return data()[r * row_stride_ + c * column_stride_]; }

  // Whether every element outside the rows x columns block still holds kGuard; reports the first that does not.
  bool guards_intact() {
    std::vector<bool> inside(storage_.size(), false);
    for (std::int64_t r = 0; r < rows_; ++r)
      for (std::int64_t c = 0; c < columns_; ++c)
        inside[static_cast<std::size_t>(kGuardFloats + r * row_stride_ + c * column_stride_)] = true;
    for (std::size_t i = 0; i < storage_.size(); ++i) {
      if (inside[i] || storage_[i] == kGuard) continue;
      FAIL_CHECK("written outside the output: offset ", static_cast<std::int64_t>(i) - kGuardFloats,
                 " from its first element holds ", storage_[i]);
      return false;
    }
    return true;
  }

 private:
  std::int64_t rows_, columns_, row_stride_, column_stride_;
  std::vector<float> storage_;
};

// Counts mismatches of one call and reports the first few, with where they are.
class Mismatches {
 public:
  void compare(const std::string& where, float got, double want, double bound) {
    if (std::fabs(static_cast<double>(got) - want) <= bound) return;  // NaN fails
    if (++count_ <= 5) FAIL_CHECK(where, ": got ", got, ", want ", want, " (bound ", bound, ")");
  }
  void exact(const std::string& where, float got, float want) {
    if (std::memcmp(&got, &want, sizeof(float)) == 0) return;
    if (++count_ <= 5) FAIL_CHECK(where, ": got ", got, ", want ", want, " (a copy: bitwise)");
  }
  ~Mismatches() {
    if (count_ > 5) FAIL_CHECK(count_, " mismatches in all");
  }

 private:
  std::int64_t count_ = 0;
};

inline std::string at_string(std::int64_t a, std::int64_t b, std::int64_t c = -1) {
  std::ostringstream s;
  s << "(" << a << ", " << b;
  if (c >= 0) s << ", " << c;
  s << ")";
  return s.str();
}

// ---------------------------------------------------------------------------------------------------------------
// GemmUkernels::packed_a and packed_b (gemm_ukernels.hpp): C[m x n] = activation(bias + A[m x k] * B[k x n]).
class GemmUkernelTester {
 public:
  enum class Packed { A, B };

  GemmUkernelTester& m(std::int64_t v) { return m_ = v, *this; }
  GemmUkernelTester& n(std::int64_t v) { return n_ = v, *this; }
  GemmUkernelTester& k(std::int64_t v) { return k_ = v, *this; }
  // Leading dimensions beyond the width (0: the width): of the row-major operand and of C.
  GemmUkernelTester& ld_extra(std::int64_t v) { return ld_extra_ = v, *this; }
  GemmUkernelTester& ldc_extra(std::int64_t v) { return ldc_extra_ = v, *this; }
  GemmUkernelTester& bias(bool v) { return bias_ = v, *this; }
  GemmUkernelTester& activation(Activation a) { return activation_ = a, *this; }

  void test(const GemmUkernels& table, Packed packed) const {
    const std::int64_t m = m_, n = n_, k = k_;
    const bool packed_a = packed == Packed::A;
    // The row-major operand: B (k x n) for packed_a, A (m x k) for packed_b.
    const std::int64_t rows = packed_a ? k : m, columns = packed_a ? n : k, ld = columns + ld_extra_;
    const std::int64_t ldc = n + ldc_extra_;
    const float lo = -0.3f, hi = 0.4f;
    std::ostringstream shape;
    shape << "isa=" << table.isa << (packed_a ? " packed_a" : " packed_b") << " m=" << m << " n=" << n << " k=" << k
          << (packed_a ? " ldb=" : " lda=") << ld << " ldc=" << ldc << " bias=" << bias_
          << " activation=" << activation_name(activation_) << " (panel_rows=" << table.panel_rows
          << " strip_columns=" << table.strip_columns << ") seed=" << kSeed;
    INFO(shape.str());

    const std::vector<float> a = random_floats(static_cast<std::size_t>(m * k), kSeed);
    const std::vector<float> b = random_floats(static_cast<std::size_t>(k * n), kSeed + 1);
    const std::vector<float> bias_values = random_floats(static_cast<std::size_t>(packed_a ? m : n), kSeed + 2);
    const auto a_at = [&](std::int64_t i, std::int64_t p) { return a[static_cast<std::size_t>(i * k + p)]; };
    const auto b_at = [&](std::int64_t p, std::int64_t j) { return b[static_cast<std::size_t>(p * n + j)]; };

    // The row-major operand ends at the guard page: its last row's last element is the last accessible float.
    GuardedFloats row_major((rows - 1) * ld + columns);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < columns; ++c) row_major.data()[r * ld + c] = packed_a ? b_at(r, c) : a_at(r, c);
    // The packed operand: panels of `width` rows of A or columns of B, k-major, zeros beyond m or n; 64-byte aligned
    // as the driver's (packing.hpp), the few floats up to the guard page NaN.
    const std::int64_t width = packed_a ? table.panel_rows : table.strip_columns;
    const std::int64_t extent = packed_a ? m : n;
    const std::int64_t panels = (extent + width - 1) / width;
    GuardedFloats packed_operand(panels * width * k, 16);
    for (std::int64_t q = 0; q < panels; ++q)
      for (std::int64_t p = 0; p < k; ++p)
        for (std::int64_t r = 0; r < width; ++r) {
          const std::int64_t e = q * width + r;
          packed_operand.data()[q * width * k + p * width + r] =
              e < extent ? (packed_a ? a_at(e, p) : b_at(p, e)) : 0.0f;
        }
    GuardedFloats bias_buffer(packed_a ? m : n);
    std::copy(bias_values.begin(), bias_values.end(), bias_buffer.data());

    GuardedOutput c(m, n, ldc);
    convkit::detail::MicroGemm g{};
    g.m = m, g.n = n, g.k = k;
    g.a = packed_a ? packed_operand.data() : row_major.data();
    g.lda = packed_a ? 0 : ld;
    g.b = packed_a ? row_major.data() : packed_operand.data();
    g.ldb = packed_a ? ld : 0;
    g.c = c.data();
    g.ldc = ldc;
    g.bias = bias_ ? bias_buffer.data() : nullptr;
    g.activation = activation_;
    g.clamp_min = lo, g.clamp_max = hi;
    {
      const CrashNote note(shape.str());
      (packed_a ? table.packed_a : table.packed_b)(g);
    }

    Mismatches mismatches;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        const double start = bias_ ? bias_values[static_cast<std::size_t>(packed_a ? i : j)] : 0.0;
        double sum = start, magnitude = std::fabs(start);
        for (std::int64_t p = 0; p < k; ++p) {
          const double product = static_cast<double>(a_at(i, p)) * b_at(p, j);
          sum += product;
          magnitude += std::fabs(product);
        }
        mismatches.compare("C" + at_string(i, j), c.at(i, j), activate(sum, activation_, lo, hi),
                           kTolerance * magnitude + 1e-30);
      }
    CHECK(c.guards_intact());
  }

 private:
  std::int64_t m_ = 1, n_ = 1, k_ = 1, ld_extra_ = 0, ldc_extra_ = 0;
  bool bias_ = true;
  Activation activation_ = Activation::None;
};

// ---------------------------------------------------------------------------------------------------------------
// GemmUkernels::channelwise (gemm_ukernels.hpp):
//   C[p * ldc + c * channel_stride] = activation(bias[c] + sum over t of A[p * lda + t * channels + c] * W[t * ldw +
//   c])
class ChannelwiseTester {
 public:
  ChannelwiseTester& pixels(std::int64_t v) { return pixels_ = v, *this; }
  ChannelwiseTester& channels(std::int64_t v) { return channels_ = v, *this; }
  ChannelwiseTester& taps(std::int64_t v) { return taps_ = v, *this; }
  ChannelwiseTester& lda_extra(std::int64_t v) { return lda_extra_ = v, *this; }
  // One slice of a channel multiplier: every channel_stride-th output channel.
  ChannelwiseTester& channel_stride(std::int64_t v) { return channel_stride_ = v, *this; }
  ChannelwiseTester& bias(bool v) { return bias_ = v, *this; }
  ChannelwiseTester& activation(Activation a) { return activation_ = a, *this; }

  void test(const GemmUkernels& table) const {
    const std::int64_t P = pixels_, C = channels_, T = taps_, lda = T * C + lda_extra_;
    const std::int64_t padded = (C + table.channelwise_tile - 1) / table.channelwise_tile * table.channelwise_tile;
    const std::int64_t ldc = C * channel_stride_ + 3;
    const float lo = -0.3f, hi = 0.4f;
    std::ostringstream shape;
    shape << "isa=" << table.isa << " channelwise pixels=" << P << " channels=" << C << " taps=" << T << " lda=" << lda
          << " ldc=" << ldc << " channel_stride=" << channel_stride_ << " bias=" << bias_
          << " activation=" << activation_name(activation_) << " (tile " << table.channelwise_pixels << " x "
          << table.channelwise_tile << ") seed=" << kSeed;
    INFO(shape.str());
    const std::vector<float> a = random_floats(static_cast<std::size_t>(P * T * C), kSeed);
    const std::vector<float> w = random_floats(static_cast<std::size_t>(T * C), kSeed + 1);
    const std::vector<float> bias_values = random_floats(static_cast<std::size_t>(C), kSeed + 2);
    // A's last pixel ends at the guard page.
    GuardedFloats a_buffer((P - 1) * lda + T * C);
    for (std::int64_t p = 0; p < P; ++p)
      std::copy(a.begin() + p * T * C, a.begin() + (p + 1) * T * C, a_buffer.data() + p * lda);
    // W then the bias, packed as the driver packs them (algorithm_gemm.cpp, pack_channelwise): zero up to `padded`.
    GuardedFloats packed((T + 1) * padded, 16);
    std::fill(packed.data(), packed.data() + (T + 1) * padded, 0.0f);
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t c = 0; c < C; ++c) packed.data()[t * padded + c] = w[static_cast<std::size_t>(t * C + c)];
    for (std::int64_t c = 0; c < C; ++c) packed.data()[T * padded + c] = bias_values[static_cast<std::size_t>(c)];

    GuardedOutput out(P, C, ldc, channel_stride_);
    convkit::detail::ChannelwiseGemm g{};
    g.pixels = P, g.channels = C, g.taps = T;
    g.a = a_buffer.data(), g.lda = lda;
    g.w = packed.data(), g.ldw = padded;
    g.bias = bias_ ? packed.data() + T * padded : nullptr;
    g.c = out.data(), g.ldc = ldc, g.channel_stride = channel_stride_;
    g.activation = activation_, g.clamp_min = lo, g.clamp_max = hi;
    {
      const CrashNote note(shape.str());
      table.channelwise(g);
    }

    Mismatches mismatches;
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t c = 0; c < C; ++c) {
        const double start = bias_ ? bias_values[static_cast<std::size_t>(c)] : 0.0;
        double sum = start, magnitude = std::fabs(start);
        for (std::int64_t t = 0; t < T; ++t) {
          const double product = static_cast<double>(a[static_cast<std::size_t>((p * T + t) * C + c)]) *
                                 w[static_cast<std::size_t>(t * C + c)];
          sum += product;
          magnitude += std::fabs(product);
        }
        mismatches.compare("C(pixel, channel) " + at_string(p, c), out.at(p, c), activate(sum, activation_, lo, hi),
                           kTolerance * magnitude + 1e-30);
      }
    CHECK(out.guards_intact());
  }

 private:
  std::int64_t pixels_ = 1, channels_ = 1, taps_ = 1, lda_extra_ = 0, channel_stride_ = 1;
  bool bias_ = true;
  Activation activation_ = Activation::None;
};

// ---------------------------------------------------------------------------------------------------------------
// DirectUkernels::stage_rows: element k of phase q of staged row r is source row r's column k*stride + q - pad_left,
// or zero outside [0, width).
class StageRowsTester {
 public:
  StageRowsTester& rows(std::int64_t v) { return rows_ = v, *this; }
  StageRowsTester& width(std::int64_t v) { return width_ = v, *this; }
  StageRowsTester& source_extra(std::int64_t v) { return source_extra_ = v, *this; }
  StageRowsTester& pad_left(std::int64_t v) { return pad_left_ = v, *this; }
  StageRowsTester& stride(std::int64_t v) { return stride_ = v, *this; }
  StageRowsTester& length(std::int64_t v) { return length_ = v, *this; }

  void test(const DirectUkernels& table) const {
    const std::int64_t source_stride = width_ + source_extra_, staged_floats = rows_ * stride_ * length_;
    std::ostringstream shape;
    shape << "isa=" << table.isa << " stage_rows rows=" << rows_ << " width=" << width_
          << " source_stride=" << source_stride << " pad_left=" << pad_left_ << " stride=" << stride_
          << " length=" << length_ << " seed=" << kSeed;
    INFO(shape.str());
    const std::vector<float> values = random_floats(static_cast<std::size_t>(rows_ * width_), kSeed);
    GuardedFloats source((rows_ - 1) * source_stride + width_);
    for (std::int64_t r = 0; r < rows_; ++r)
      std::copy(values.begin() + r * width_, values.begin() + (r + 1) * width_, source.data() + r * source_stride);
    // The driver stages into 64-byte aligned memory at whole-row offsets (algorithm_direct.cpp, stage).
    GuardedOutput staged(1, staged_floats, 0);
    {
      const CrashNote note(shape.str());
      table.stage_rows(source.data(), source_stride, rows_, width_, pad_left_, stride_, length_, staged.data());
    }
    Mismatches mismatches;
    for (std::int64_t r = 0; r < rows_; ++r)
      for (std::int64_t q = 0; q < stride_; ++q)
        for (std::int64_t e = 0; e < length_; ++e) {
          const std::int64_t column = e * stride_ + q - pad_left_;
          const float want =
              column >= 0 && column < width_ ? values[static_cast<std::size_t>(r * width_ + column)] : 0.0f;
          mismatches.exact("staged (row, phase, element) " + at_string(r, q, e),
                           staged.at(0, (r * stride_ + q) * length_ + e), want);
        }
    CHECK(staged.guards_intact());
  }

 private:
  std::int64_t rows_ = 1, width_ = 1, source_extra_ = 0, pad_left_ = 0, stride_ = 1, length_ = 1;
};

// DirectUkernels::copy_taps: for j < taps, `count` floats from row + tap_offsets[j] to dst + j * ld.
class CopyTapsTester {
 public:
  CopyTapsTester& offsets(std::vector<std::int64_t> v) { return offsets_ = std::move(v), *this; }
  CopyTapsTester& count(std::int64_t v) { return count_ = v, *this; }
  CopyTapsTester& ld_extra(std::int64_t v) { return ld_extra_ = v, *this; }

  void test(const DirectUkernels& table) const {
    const std::int64_t taps = static_cast<std::int64_t>(offsets_.size()), ld = count_ + ld_extra_;
    std::ostringstream shape;
    shape << "isa=" << table.isa << " copy_taps count=" << count_ << " ld=" << ld << " offsets=";
    for (std::int64_t o : offsets_) shape << o << ",";
    shape << " seed=" << kSeed;
    INFO(shape.str());
    // The row ends at the guard page right after the farthest float a tap copies.
    const std::int64_t span = *std::max_element(offsets_.begin(), offsets_.end()) + count_;
    const std::vector<float> values = random_floats(static_cast<std::size_t>(span), kSeed);
    GuardedFloats row(span);
    std::copy(values.begin(), values.end(), row.data());
    GuardedOutput dst(taps, count_, ld);
    {
      const CrashNote note(shape.str());
      table.copy_taps(row.data(), offsets_.data(), taps, count_, dst.data(), ld);
    }
    Mismatches mismatches;
    for (std::int64_t j = 0; j < taps; ++j)
      for (std::int64_t e = 0; e < count_; ++e)
        mismatches.exact("dst (tap, element) " + at_string(j, e), dst.at(j, e),
                         values[static_cast<std::size_t>(offsets_[static_cast<std::size_t>(j)] + e)]);
    CHECK(dst.guards_intact());
  }

 private:
  std::vector<std::int64_t> offsets_{0};
  std::int64_t count_ = 1, ld_extra_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// A convolution of one image for the direct kernels: `channels` input channels, and for depthwise_nhwc_rows as many
// outputs (one per channel), for rows one output channel.
struct ConvShape {
  std::int64_t channels = 1, in_height = 5, in_width = 5, kernel_height = 3, kernel_width = 3;
  std::int64_t stride_height = 1, stride_width = 1, dilation_height = 1, dilation_width = 1;
  std::int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;

  std::int64_t out_height() const {
    return (in_height + pad_top + pad_bottom - (kernel_height - 1) * dilation_height - 1) / stride_height + 1;
  }
  std::int64_t out_width() const {
    return (in_width + pad_left + pad_right - (kernel_width - 1) * dilation_width - 1) / stride_width + 1;
  }
  std::string describe() const {
    std::ostringstream s;
    s << "channels=" << channels << " in=" << in_height << "x" << in_width << " kernel=" << kernel_height << "x"
      << kernel_width << " stride=" << stride_height << "," << stride_width << " dilation=" << dilation_height << ","
      << dilation_width << " pad(t,l,b,r)=" << pad_top << "," << pad_left << "," << pad_bottom << "," << pad_right
      << " out=" << out_height() << "x" << out_width();
    return s.str();
  }
};

// The sum at output (y, x) of the taps inside the input, in double, with the sum of |products| for the bound.
// input(c, h, w) and weight(c, i, j) are callables.
template <class Input, class Weight>
void naive_sum(const ConvShape& s, std::int64_t c_begin, std::int64_t c_end, std::int64_t y, std::int64_t x,
               const Input& input, const Weight& weight, double& sum, double& magnitude) {
  for (std::int64_t c = c_begin; c < c_end; ++c)
    for (std::int64_t i = 0; i < s.kernel_height; ++i) {
      const std::int64_t h = y * s.stride_height - s.pad_top + i * s.dilation_height;
      if (h < 0 || h >= s.in_height) continue;
      for (std::int64_t j = 0; j < s.kernel_width; ++j) {
        const std::int64_t w = x * s.stride_width - s.pad_left + j * s.dilation_width;
        if (w < 0 || w >= s.in_width) continue;
        const double product = static_cast<double>(input(c, h, w)) * weight(c, i, j);
        sum += product;
        magnitude += std::fabs(product);
      }
    }
}

// DirectUkernels::depthwise_nhwc_rows, with the task filled as lib/direct_depthwise.cpp fills it.
class DepthwiseNhwcTester {
 public:
  DepthwiseNhwcTester& shape(const ConvShape& s) { return shape_ = s, *this; }
  // Output rows [row_begin, row_end); row_end < 0 counts from out_height + 1.
  DepthwiseNhwcTester& rows(std::int64_t begin, std::int64_t end) { return row_begin_ = begin, row_end_ = end, *this; }
  // Output pixels this many floats beyond `channels` apart (a strided output).
  DepthwiseNhwcTester& pixel_extra(std::int64_t v) { return pixel_extra_ = v, *this; }
  DepthwiseNhwcTester& bias(bool v) { return bias_ = v, *this; }
  DepthwiseNhwcTester& activation(Activation a) { return activation_ = a, *this; }

  void test(const DirectUkernels& table) const {
    const ConvShape& s = shape_;
    const std::int64_t C = s.channels, Ho = s.out_height(), Wo = s.out_width(), taps = s.kernel_height * s.kernel_width;
    const std::int64_t row_begin = row_begin_, row_end = row_end_ < 0 ? Ho + 1 + row_end_ : row_end_;
    const std::int64_t padded = (C + table.vector_floats - 1) / table.vector_floats * table.vector_floats;
    const std::int64_t pixel_stride = C + pixel_extra_, row_stride = Wo * pixel_stride + 2 * pixel_extra_;
    // As lib/direct_depthwise.cpp: columns whose kernel columns all lie inside the input.
    const std::int64_t span = (s.kernel_width - 1) * s.dilation_width;
    const std::int64_t interior_begin = std::min(Wo, (s.pad_left + s.stride_width - 1) / s.stride_width);
    const std::int64_t last_start = s.in_width - 1 + s.pad_left - span;
    const std::int64_t interior_end =
        last_start < 0 ? interior_begin : std::clamp(last_start / s.stride_width + 1, interior_begin, Wo);
    const float lo = -0.3f, hi = 0.4f;
    std::ostringstream description;
    description << "isa=" << table.isa << " depthwise_nhwc_rows " << s.describe() << " rows=[" << row_begin << ","
                << row_end << ") interior=[" << interior_begin << "," << interior_end
                << ") out_pixel_stride=" << pixel_stride << " out_row_stride=" << row_stride << " bias=" << bias_
                << " activation=" << activation_name(activation_) << " seed=" << kSeed;
    INFO(description.str());

    const std::vector<float> input = random_floats(static_cast<std::size_t>(s.in_height * s.in_width * C), kSeed);
    const std::vector<float> weights = random_floats(static_cast<std::size_t>(taps * C), kSeed + 1);  // [c][tap]
    const std::vector<float> bias_values = random_floats(static_cast<std::size_t>(C), kSeed + 2);
    GuardedFloats input_buffer(s.in_height * s.in_width * C);  // the image ends at the guard page
    std::copy(input.begin(), input.end(), input_buffer.data());
    GuardedFloats packed((taps + 1) * padded, 16);  // 64-byte aligned, zero beyond C: the driver's packing
    std::fill(packed.data(), packed.data() + (taps + 1) * padded, 0.0f);
    for (std::int64_t c = 0; c < C; ++c) {
      for (std::int64_t t = 0; t < taps; ++t)
        packed.data()[t * padded + c] = weights[static_cast<std::size_t>(c * taps + t)];
      if (bias_) packed.data()[taps * padded + c] = bias_values[static_cast<std::size_t>(c)];
    }

    // Rows of Wo pixels of C channels: NaN, the gaps between pixels and rows and the runs around kGuard.
    std::vector<float> storage(static_cast<std::size_t>((row_end - row_begin) * row_stride + 2 * kGuardFloats), kGuard);
    float* output = storage.data() + kGuardFloats;
    const auto out_at = [&](std::int64_t y, std::int64_t x, std::int64_t c) -> float& {
      return output[(y - row_begin) * row_stride + x * pixel_stride + c];
    };
    for (std::int64_t y = row_begin; y < row_end; ++y)
      for (std::int64_t x = 0; x < Wo; ++x)
        for (std::int64_t c = 0; c < C; ++c) out_at(y, x, c) = nan_value();

    convkit::detail::DepthwiseNhwcTask t{};
    t.input = input_buffer.data();
    t.output = output - row_begin * row_stride;  // row y at output[y * out_row_stride]
    t.out_row_stride = row_stride, t.out_pixel_stride = pixel_stride;
    t.channels = C, t.in_height = s.in_height, t.in_width = s.in_width, t.out_width = Wo;
    t.kernel_height = s.kernel_height, t.kernel_width = s.kernel_width;
    t.stride_height = s.stride_height, t.stride_width = s.stride_width;
    t.dilation_height = s.dilation_height, t.dilation_width = s.dilation_width;
    t.pad_top = s.pad_top, t.pad_left = s.pad_left;
    t.interior_begin = interior_begin, t.interior_end = interior_end;
    t.weights = packed.data(), t.bias = packed.data() + taps * padded, t.padded_channels = padded;
    t.activation = activation_, t.clamp_min = lo, t.clamp_max = hi;
    t.row_begin = row_begin, t.row_end = row_end;
    {
      const CrashNote note(description.str());
      table.depthwise_nhwc_rows(t);
    }

    Mismatches mismatches;
    const auto in = [&](std::int64_t c, std::int64_t h, std::int64_t w) {
      return input[static_cast<std::size_t>((h * s.in_width + w) * C + c)];
    };
    const auto weight = [&](std::int64_t c, std::int64_t i, std::int64_t j) {
      return weights[static_cast<std::size_t>(c * taps + i * s.kernel_width + j)];
    };
    for (std::int64_t y = row_begin; y < row_end; ++y)
      for (std::int64_t x = 0; x < Wo; ++x)
        for (std::int64_t c = 0; c < C; ++c) {
          const double start = bias_ ? bias_values[static_cast<std::size_t>(c)] : 0.0;
          double sum = start, magnitude = std::fabs(start);
          naive_sum(
              s, c, c + 1, y, x, in, [&](std::int64_t, std::int64_t i, std::int64_t j) { return weight(c, i, j); }, sum,
              magnitude);
          mismatches.compare("output (y, x, c) " + at_string(y, x, c), out_at(y, x, c),
                             activate(sum, activation_, lo, hi), kTolerance * magnitude + 1e-30);
        }
    // Everything else (pixel gaps, row gaps, the runs before and after) must still be a guard.
    std::vector<bool> inside(storage.size(), false);
    for (std::int64_t y = row_begin; y < row_end; ++y)
      for (std::int64_t x = 0; x < Wo; ++x)
        for (std::int64_t c = 0; c < C; ++c)
          inside[static_cast<std::size_t>(kGuardFloats + (y - row_begin) * row_stride + x * pixel_stride + c)] = true;
    for (std::size_t i = 0; i < storage.size(); ++i)
      if (!inside[i] && storage[i] != kGuard) {
        FAIL_CHECK("written outside the output: offset ", static_cast<std::int64_t>(i) - kGuardFloats, " holds ",
                   storage[i]);
        break;
      }
  }

 private:
  ConvShape shape_;
  std::int64_t row_begin_ = 0, row_end_ = -1, pixel_extra_ = 0;
  bool bias_ = true;
  Activation activation_ = Activation::None;
};

// DirectUkernels::rows: one output channel from a staged input built per the layout at the top of
// direct_ukernels.hpp, the task filled as lib/algorithm_direct.cpp's compute fills it, the channels cut into blocks
// of channel_block (accumulate on all but the first, finish on the last). in_place: staged is null and the kernel
// reads the input plane (only where the table reads_in_place, for one channel, 3x3, strides <= 2, no dilation).
class DirectRowsTester {
 public:
  DirectRowsTester& shape(const ConvShape& s) { return shape_ = s, *this; }
  DirectRowsTester& rows(std::int64_t begin, std::int64_t end) { return row_begin_ = begin, row_end_ = end, *this; }
  DirectRowsTester& channel_block(std::int64_t v) { return channel_block_ = v, *this; }
  DirectRowsTester& ohwi(bool v) { return ohwi_ = v, *this; }
  // Output columns out_col_stride apart (an NHWC output's channels), rows out_width * out_col_stride + extra apart.
  DirectRowsTester& out_col_stride(std::int64_t v) { return out_col_stride_ = v, *this; }
  DirectRowsTester& out_row_extra(std::int64_t v) { return out_row_extra_ = v, *this; }
  DirectRowsTester& in_place(bool v) { return in_place_ = v, *this; }
  DirectRowsTester& bias(bool v) { return bias_ = v, *this; }
  DirectRowsTester& activation(Activation a) { return activation_ = a, *this; }

  void test(const DirectUkernels& table) const {
    const ConvShape& s = shape_;
    const std::int64_t C = s.channels, Ho = s.out_height(), Wo = s.out_width();
    const std::int64_t kh = s.kernel_height, kw = s.kernel_width, sw = s.stride_width, vw = table.vector_floats;
    const std::int64_t row_begin = row_begin_, row_end = row_end_ < 0 ? Ho + 1 + row_end_ : row_end_;
    const std::int64_t block = channel_block_ > 0 ? channel_block_ : C;
    // As lib/algorithm_direct.cpp.
    const auto round = [](std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; };
    const std::int64_t row_floats = round(round(Wo, vw) + (kw - 1) * s.dilation_width / sw, vw);
    const std::int64_t staged_rows = (Ho - 1) * s.stride_height + (kh - 1) * s.dilation_height + 1;
    const std::int64_t plane_floats = staged_rows * sw * row_floats;
    const std::int64_t col_stride = out_col_stride_, row_stride = Wo * col_stride + out_row_extra_;
    const float lo = -0.3f, hi = 0.4f;
    std::ostringstream description;
    description << "isa=" << table.isa << " rows " << s.describe() << " rows=[" << row_begin << "," << row_end
                << ") channel_block=" << block << " weights=" << (ohwi_ ? "OHWI" : "OIHW")
                << " out_col_stride=" << col_stride << " out_row_stride=" << row_stride << " in_place=" << in_place_
                << " row_floats=" << row_floats << " bias=" << bias_ << " activation=" << activation_name(activation_)
                << " seed=" << kSeed;
    INFO(description.str());

    const std::vector<float> input = random_floats(static_cast<std::size_t>(C * s.in_height * s.in_width), kSeed);
    const std::vector<float> weights = random_floats(static_cast<std::size_t>(C * kh * kw), kSeed + 1);
    const float bias_value = random_floats(1, kSeed + 2)[0];
    const auto in = [&](std::int64_t c, std::int64_t h, std::int64_t w) {
      return input[static_cast<std::size_t>((c * s.in_height + h) * s.in_width + w)];
    };
    const std::int64_t wc = ohwi_ ? 1 : kh * kw, wi = ohwi_ ? kw * C : kw, wj = ohwi_ ? C : 1;
    const auto weight = [&](std::int64_t c, std::int64_t i, std::int64_t j) {
      return weights[static_cast<std::size_t>(c * wc + i * wi + j * wj)];
    };

    // The staged copy ends at the guard page: "a whole vector at the last output column stays inside the copy".
    GuardedFloats staged(in_place_ ? 1 : C * plane_floats);
    GuardedFloats plane(in_place_ ? s.in_height * s.in_width : 1);
    if (in_place_) {
      std::copy(input.begin(), input.end(), plane.data());
    } else {
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t r = 0; r < staged_rows; ++r)
          for (std::int64_t q = 0; q < sw; ++q)
            for (std::int64_t e = 0; e < row_floats; ++e) {
              const std::int64_t h = r - s.pad_top, w = e * sw + q - s.pad_left;
              staged.data()[c * plane_floats + (r * sw + q) * row_floats + e] =
                  h >= 0 && h < s.in_height && w >= 0 && w < s.in_width ? in(c, h, w) : 0.0f;
            }
    }
    std::vector<std::int64_t> tap_offsets(static_cast<std::size_t>(kw));
    for (std::int64_t j = 0; j < kw; ++j)
      tap_offsets[static_cast<std::size_t>(j)] =
          ((j * s.dilation_width) % sw) * row_floats + (j * s.dilation_width) / sw;

    GuardedOutput out(row_end - row_begin, Wo, row_stride, col_stride);
    convkit::detail::DirectRowsTask t{};
    t.plane_floats = plane_floats, t.row_floats = row_floats, t.phases = sw;
    t.stride_width = sw, t.dilation_width = s.dilation_width;
    t.input = in_place_ ? plane.data() : nullptr;
    t.in_height = s.in_height, t.in_width = s.in_width, t.pad_top = s.pad_top, t.pad_left = s.pad_left;
    t.kernel_height = kh, t.kernel_width = kw, t.stride_height = s.stride_height;
    t.dilation_height = s.dilation_height;
    t.tap_offsets = tap_offsets.data();
    t.weight_stride_c = wc, t.weight_stride_i = wi, t.weight_stride_j = wj;
    t.bias = bias_ ? bias_value : 0.0f;
    t.activation = activation_, t.clamp_min = lo, t.clamp_max = hi;
    t.output = out.data() - row_begin * row_stride;
    t.out_row_stride = row_stride, t.out_col_stride = col_stride, t.out_width = Wo;
    t.row_begin = row_begin, t.row_end = row_end;
    for (std::int64_t c = 0; c < C; c += block) {
      t.staged = in_place_ ? nullptr : staged.data() + c * plane_floats;
      t.channels = std::min(block, C - c);
      t.weights = weights.data() + c * wc;
      t.accumulate = c > 0;
      t.finish = c + t.channels == C;
      const CrashNote note(description.str());
      table.rows(t);
    }

    Mismatches mismatches;
    for (std::int64_t y = row_begin; y < row_end; ++y)
      for (std::int64_t x = 0; x < Wo; ++x) {
        const double start = bias_ ? bias_value : 0.0;
        double sum = start, magnitude = std::fabs(start);
        naive_sum(s, 0, C, y, x, in, weight, sum, magnitude);
        mismatches.compare("output (y, x) " + at_string(y, x), out.at(y - row_begin, x),
                           activate(sum, activation_, lo, hi), kTolerance * magnitude + 1e-30);
      }
    CHECK(out.guards_intact());
  }

 private:
  ConvShape shape_;
  std::int64_t row_begin_ = 0, row_end_ = -1, channel_block_ = 0, out_col_stride_ = 1, out_row_extra_ = 0;
  bool ohwi_ = false, in_place_ = false, bias_ = true;
  Activation activation_ = Activation::None;
};

}  // namespace convkit_test
