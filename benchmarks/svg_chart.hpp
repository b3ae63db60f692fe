// A grouped horizontal bar chart as self-contained SVG text, for convkit_bench's --svg.
//
// Panels stacked vertically (convkit_bench draws one per thread count), each with a bar per series for every
// category, a dashed reference line, grid, axis and legend. Horizontal bars because the categories are layer names:
// they read better down a column than slanted under it. Nothing beyond the standard library; the output is plain
// SVG 1.1 that browsers and converters (rsvg-convert, Inkscape) render alike.
#ifndef CONVKIT_BENCH_SVG_CHART_HPP
#define CONVKIT_BENCH_SVG_CHART_HPP

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace convkit_bench {

struct ChartSeries {
  std::string label;
  std::string color;           ///< any SVG colour, e.g. "#1f77b4"
  std::vector<double> values;  ///< one per category; NaN draws no bar
};

struct ChartPanel {
  std::string title;
  std::vector<std::string> categories;
  std::vector<ChartSeries> series;
  double reference = NAN;       ///< drawn as a dashed vertical line when finite
  std::string reference_label;  ///< its legend entry
};

namespace detail {

inline std::string xml_escape(const std::string& text) {
  std::string escaped;
  for (const char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

inline std::string number(double value, const char* format = "%.1f") {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// A tick step of 1, 2, 2.5 or 5 times a power of ten that cuts [0, maximum] into at most about 8 intervals.
inline double tick_step(double maximum) {
  const double rough = maximum / 8.0;
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  for (const double multiple : {1.0, 2.0, 2.5, 5.0})
    if (multiple * power >= rough) return multiple * power;
  return 10.0 * power;
}

// Width of text at the chart's font size, estimated: SVG has no text metrics without a renderer, and a generous
// average glyph width only costs some blank margin.
inline double text_width(const std::string& text, double font_size) {
  return 0.62 * font_size * static_cast<double>(text.size());
}

}  // namespace detail

/// The chart as an SVG document: `title` and `subtitle` (may be empty) on top, then the panels, each with its x axis
/// labelled `axis_label`. All panels share one scale.
inline std::string render_bar_chart_svg(const std::string& title, const std::string& subtitle,
                                        const std::string& axis_label, const std::vector<ChartPanel>& panels) {
  using detail::number;
  using detail::xml_escape;
  constexpr double kWidth = 980, kMargin = 16, kFont = 11, kBar = 8, kGroupGap = 7, kLegendRow = 18;
  constexpr double kPlotRightMargin = 56;  // room for the value printed after the longest bar
  const std::string kReferenceColor = "#d62728";

  double label_width = 0;
  for (const ChartPanel& panel : panels)
    for (const std::string& category : panel.categories)
      label_width = std::max(label_width, detail::text_width(category, kFont));
  const double plot_left = kMargin + label_width + 8;
  const double plot_width = kWidth - plot_left - kPlotRightMargin;

  std::ostringstream body;
  double y = kMargin + 18;
  body << "<text x=\"" << kWidth / 2 << "\" y=\"" << y << "\" text-anchor=\"middle\" font-size=\"16\" "
       << "font-weight=\"bold\">" << xml_escape(title) << "</text>\n";
  if (!subtitle.empty()) {
    y += 18;
    body << "<text x=\"" << kWidth / 2 << "\" y=\"" << y << "\" text-anchor=\"middle\" font-size=\"" << kFont
         << "\" fill=\"#444\">" << xml_escape(subtitle) << "</text>\n";
  }
  y += 14;

  // One scale for all panels, so that bars compare across them.
  double maximum = 0.0;
  for (const ChartPanel& panel : panels) {
    if (std::isfinite(panel.reference)) maximum = std::max(maximum, panel.reference);
    for (const ChartSeries& series : panel.series)
      for (const double value : series.values)
        if (std::isfinite(value)) maximum = std::max(maximum, value);
  }
  if (maximum <= 0) maximum = 1;
  const double step = detail::tick_step(maximum * 1.02);
  const double axis_max = std::ceil(maximum * 1.02 / step) * step;
  const auto x_of = [&](double value) { return plot_left + plot_width * value / axis_max; };

  for (const ChartPanel& panel : panels) {
    y += 24;
    body << "<text x=\"" << kMargin << "\" y=\"" << y << "\" font-size=\"14\" font-weight=\"bold\">"
         << xml_escape(panel.title) << "</text>\n";

    // Legend: a swatch and a label per series, then the reference line's, in rows that wrap at the chart's width.
    struct LegendEntry {
      std::string label, color;
      bool dashed_line;
    };
    std::vector<LegendEntry> legend;
    for (const ChartSeries& series : panel.series) legend.push_back({series.label, series.color, false});
    if (std::isfinite(panel.reference)) legend.push_back({panel.reference_label, kReferenceColor, true});
    y += 10;
    double legend_x = plot_left;
    for (const LegendEntry& entry : legend) {
      const double entry_width = 16 + detail::text_width(entry.label, kFont) + 18;
      if (legend_x + entry_width > kWidth - kMargin && legend_x > plot_left) {
        legend_x = plot_left;
        y += kLegendRow;
      }
      if (entry.dashed_line)
        body << "<line x1=\"" << legend_x << "\" y1=\"" << y + 5 << "\" x2=\"" << legend_x + 12 << "\" y2=\"" << y + 5
             << "\" stroke=\"" << entry.color << "\" stroke-width=\"2\" stroke-dasharray=\"4,2\"/>\n";
      else
        body << "<rect x=\"" << legend_x << "\" y=\"" << y << "\" width=\"12\" height=\"10\" fill=\"" << entry.color
             << "\"/>\n";
      body << "<text x=\"" << legend_x + 16 << "\" y=\"" << y + 9 << "\" font-size=\"" << kFont << "\">"
           << xml_escape(entry.label) << "</text>\n";
      legend_x += entry_width;
    }
    y += kLegendRow + 6;

    // Plot area: alternating bands per category, grid lines at the ticks, then the bars.
    const double group_height = static_cast<double>(panel.series.size()) * kBar + kGroupGap;
    const double plot_top = y;
    const double plot_height = static_cast<double>(panel.categories.size()) * group_height;
    for (std::size_t c = 0; c < panel.categories.size(); ++c) {
      const double group_top = plot_top + static_cast<double>(c) * group_height;
      if (c % 2 == 1)
        body << "<rect x=\"" << kMargin << "\" y=\"" << group_top << "\" width=\"" << kWidth - 2 * kMargin
             << "\" height=\"" << group_height << "\" fill=\"#f3f3f3\"/>\n";
      body << "<text x=\"" << plot_left - 6 << "\" y=\"" << group_top + group_height / 2 + 4
           << "\" text-anchor=\"end\" font-size=\"" << kFont << "\">" << xml_escape(panel.categories[c]) << "</text>\n";
    }
    for (double tick = 0; tick <= axis_max + step / 2; tick += step) {
      const double x = x_of(tick);
      body << "<line x1=\"" << x << "\" y1=\"" << plot_top << "\" x2=\"" << x << "\" y2=\"" << plot_top + plot_height
           << "\" stroke=\"#d0d0d0\" stroke-width=\"0.8\"/>\n";
      body << "<text x=\"" << x << "\" y=\"" << plot_top + plot_height + 14 << "\" text-anchor=\"middle\" font-size=\""
           << kFont << "\">" << number(tick, step < 1 ? "%.2g" : "%.0f") << "</text>\n";
    }
    for (std::size_t c = 0; c < panel.categories.size(); ++c) {
      const double group_top = plot_top + static_cast<double>(c) * group_height + kGroupGap / 2;
      for (std::size_t s = 0; s < panel.series.size(); ++s) {
        const ChartSeries& series = panel.series[s];
        if (c >= series.values.size() || !std::isfinite(series.values[c])) continue;
        const double value = series.values[c];
        const double bar_top = group_top + static_cast<double>(s) * kBar;
        body << "<rect x=\"" << plot_left << "\" y=\"" << bar_top << "\" width=\"" << x_of(value) - plot_left
             << "\" height=\"" << kBar - 1 << "\" fill=\"" << series.color << "\"><title>"
             << xml_escape(panel.categories[c] + ", " + series.label + ": " + number(value)) << "</title></rect>\n";
        body << "<text x=\"" << x_of(value) + 3 << "\" y=\"" << bar_top + kBar - 1.5 << "\" font-size=\"7.5\" "
             << "fill=\"#444\">" << number(value, value < 10 ? "%.1f" : "%.0f") << "</text>\n";
      }
    }
    // Axis line, axis label and the reference line on top of the bars.
    body << "<line x1=\"" << plot_left << "\" y1=\"" << plot_top << "\" x2=\"" << plot_left << "\" y2=\""
         << plot_top + plot_height << "\" stroke=\"#333\"/>\n";
    body << "<line x1=\"" << plot_left << "\" y1=\"" << plot_top + plot_height << "\" x2=\"" << plot_left + plot_width
         << "\" y2=\"" << plot_top + plot_height << "\" stroke=\"#333\"/>\n";
    if (std::isfinite(panel.reference))
      body << "<line x1=\"" << x_of(panel.reference) << "\" y1=\"" << plot_top - 4 << "\" x2=\""
           << x_of(panel.reference) << "\" y2=\"" << plot_top + plot_height << "\" stroke=\"" << kReferenceColor
           << "\" stroke-width=\"1.5\" stroke-dasharray=\"6,4\"/>\n";
    y = plot_top + plot_height + 32;
    body << "<text x=\"" << plot_left + plot_width / 2 << "\" y=\"" << y << "\" text-anchor=\"middle\" font-size=\""
         << kFont + 1 << "\">" << xml_escape(axis_label) << "</text>\n";
    y += 8;
  }

  const double height = y + kMargin;
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << kWidth << " " << height << "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << body.str() << "</svg>\n";
  return svg.str();
}

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_SVG_CHART_HPP
