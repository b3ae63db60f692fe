// Integer helpers for sizes and index ranges (operands already validated: no overflow, positive divisors).
#pragma once

#include <cstdint>

namespace convkit::detail {

// ceil(a / b) for b > 0 and a of either sign (C++ division truncates toward zero).
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// The smallest multiple of `multiple` (> 0) not below value (>= 0).
inline std::int64_t round_up(std::int64_t value, std::int64_t multiple) { return ceil_div(value, multiple) * multiple; }

}  // namespace convkit::detail
