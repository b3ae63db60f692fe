// Result records and their CSV and JSON text, for convkit_bench's --csv and --json.
//
// A record is an ordered list of named values, so that one function decides a result's fields and every output
// format follows it: the CSV header is the first record's names, and a JSON object has the same members.
#ifndef CONVKIT_BENCH_REPORT_FORMATS_HPP
#define CONVKIT_BENCH_REPORT_FORMATS_HPP

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace convkit_bench {

/// Text that is already JSON (an array or object), for nesting; CSV writes it as text.
struct JsonText {
  std::string text;
};

/// One value of a record. std::monostate and non-finite reals are "missing": an empty CSV cell, a JSON null.
using Value = std::variant<std::monostate, std::string, std::int64_t, double, bool, JsonText>;

struct Field {
  std::string name;
  Value value;
};
using Record = std::vector<Field>;

/// A real with 6 significant digits: enough for any timing, and stable in diffs of reports.
inline std::string format_real(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

/// A quoted JSON string with the escapes of RFC 8259 (quote, backslash, and every control character).
inline std::string json_quote(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\r':
        quoted += "\\r";
        break;
      case '\t':
        quoted += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          quoted += escape;
        } else {
          quoted += c;  // UTF-8 bytes pass through: JSON text is UTF-8
        }
    }
  }
  return quoted + "\"";
}

/// A CSV cell by RFC 4180: quoted (with doubled quotes) when it holds a comma, quote or line break.
inline std::string csv_quote(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

inline std::string json_value(const Value& value) {
  struct Visitor {
    std::string operator()(std::monostate) const { return "null"; }
    std::string operator()(const std::string& text) const { return json_quote(text); }
    std::string operator()(std::int64_t number) const { return std::to_string(number); }
    std::string operator()(double number) const { return std::isfinite(number) ? format_real(number) : "null"; }
    std::string operator()(bool flag) const { return flag ? "true" : "false"; }
    std::string operator()(const JsonText& json) const { return json.text; }
  };
  return std::visit(Visitor{}, value);
}

inline std::string csv_value(const Value& value) {
  struct Visitor {
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(const std::string& text) const { return csv_quote(text); }
    std::string operator()(std::int64_t number) const { return std::to_string(number); }
    std::string operator()(double number) const { return std::isfinite(number) ? format_real(number) : ""; }
    std::string operator()(bool flag) const { return flag ? "true" : "false"; }
    std::string operator()(const JsonText& json) const { return csv_quote(json.text); }
  };
  return std::visit(Visitor{}, value);
}

/// `{"name": value, ...}` on one line.
inline std::string json_object(const Record& record) {
  std::string text = "{";
  for (std::size_t i = 0; i < record.size(); ++i) {
    if (i > 0) text += ", ";
    text += json_quote(record[i].name) + ": " + json_value(record[i].value);
  }
  return text + "}";
}

/// `[a, b, ...]` of already formatted JSON values.
inline JsonText json_array(const std::vector<std::string>& items) {
  std::string text = "[";
  for (std::size_t i = 0; i < items.size(); ++i) text += (i > 0 ? ", " : "") + items[i];
  return JsonText{text + "]"};
}

/// A header line (the first record's names) and one line per record. All records have the same fields.
inline void write_csv(std::ostream& out, const std::vector<Record>& records) {
  if (records.empty()) return;
  for (std::size_t i = 0; i < records.front().size(); ++i)
    out << (i > 0 ? "," : "") << csv_quote(records.front()[i].name);
  out << '\n';
  for (const Record& record : records) {
    for (std::size_t i = 0; i < record.size(); ++i) out << (i > 0 ? "," : "") << csv_value(record[i].value);
    out << '\n';
  }
}

/// `{"context": {...}, "rows": [{...}, ...]}`, one row a line.
inline void write_json(std::ostream& out, const Record& context, const std::vector<Record>& rows) {
  out << "{\n  \"context\": " << json_object(context) << ",\n  \"rows\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) out << (i > 0 ? ",\n    " : "\n    ") << json_object(rows[i]);
  out << (rows.empty() ? "]\n}\n" : "\n  ]\n}\n");
}

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_REPORT_FORMATS_HPP
