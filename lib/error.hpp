// Building the library's exception with a message that names the field, its value and the rule it breaks.
#pragma once

#include <convkit/convkit.hpp>
#include <sstream>
#include <string>
#include <utility>

namespace convkit::detail {

template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

template <typename... Parts>
[[noreturn]] void fail(Status status, Parts&&... parts) {
  throw Error(status, concat(std::forward<Parts>(parts)...));
}

template <typename... Parts>
[[noreturn]] void invalid(Parts&&... parts) {
  fail(Status::InvalidArgument, std::forward<Parts>(parts)...);
}

}  // namespace convkit::detail
