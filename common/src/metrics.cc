// Metrics registry and its Prometheus text exposition (format 0.0.4).
#include "edge/common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace edge {
namespace {

// Misnamed metrics are programming errors: fail loudly in the first test run
// rather than export something a scraper rejects.
[[noreturn]] void fatal(const std::string& message) {
  std::fprintf(stderr, "edge metrics: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

bool validMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool validLabelName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return name.rfind("__", 0) != 0;  // reserved for Prometheus itself
}

void appendEscaped(std::string& out, const std::string& text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void appendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    (void)ec;
    out.append(buf, end);
  }
}

// {a="1",b="2"} with an optional extra label (le for histogram buckets).
void appendLabels(std::string& out, const MetricLabels& labels, const char* extra_name = nullptr,
                  const std::string& extra_value = {}) {
  if (labels.empty() && extra_name == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    appendEscaped(out, value, true);
    out += '"';
  }
  if (extra_name != nullptr) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

// Takes the registry's private Type as an int: the enum is not nameable here.
const char* typeName(int type) {
  switch (type) {
    case 0:
      return "counter";
    case 1:
      return "gauge";
    default:
      return "histogram";
  }
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  // +Inf is implicit; NaN bounds make no sense. Both are dropped, then sorted
  // so that a careless list still yields valid cumulative buckets.
  bounds_.erase(std::remove_if(bounds_.begin(), bounds_.end(),
                               [](double b) { return std::isnan(b) || (std::isinf(b) && b > 0); }),
                bounds_.end());
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // Buckets are "less than or equal" (le); NaN lands in +Inf only.
  size_t index = bounds_.size();
  if (!std::isnan(v)) {
    index =
        static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  }
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (std::isfinite(v)) {
    // Two's complement wrap-around makes negative observations subtract.
    int64_t micros = static_cast<int64_t>(std::llround(std::clamp(v, -9.0e12, 9.0e12) * 1e6));
    sum_micros_.fetch_add(static_cast<uint64_t>(micros), std::memory_order_relaxed);
  }
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  snap.bounds = bounds_;
  snap.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snap.cumulative[i] = running;
  }
  // count is taken from the buckets so that _count always equals the +Inf
  // bucket, even while other threads observe.
  snap.count = running;
  snap.sum =
      static_cast<double>(static_cast<int64_t>(sum_micros_.load(std::memory_order_relaxed))) / 1e6;
  return snap;
}

MetricsRegistry::Series& MetricsRegistry::findOrAdd(const std::string& name,
                                                    const std::string& help, Type type,
                                                    const MetricLabels& labels) {
  if (!validMetricName(name)) {
    fatal("invalid metric name \"" + name + "\": names must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  for (const auto& label : labels) {
    if (!validLabelName(label.first) || (type == Type::kHistogram && label.first == "le")) {
      fatal("invalid label name \"" + label.first + "\" on metric \"" + name +
            "\": label names must match [a-zA-Z_][a-zA-Z0-9_]*, not start with __, and histograms "
            "cannot use \"le\"");
    }
  }
  auto [it, inserted] = families_.try_emplace(name);
  Family& family = it->second;
  if (inserted) {
    family.type = type;
    family.help = help;
  } else if (family.type != type) {
    fatal("metric \"" + name + "\" registered as a " + typeName(static_cast<int>(type)) +
          " but it already exists as a " + typeName(static_cast<int>(family.type)));
  }
  for (auto& series : family.series) {
    if (series->labels == labels) return *series;
  }
  auto series = std::make_unique<Series>();
  series->labels = labels;
  if (type == Type::kCounter) series->counter = std::make_unique<Counter>();
  if (type == Type::kGauge) series->gauge = std::make_unique<Gauge>();
  family.series.push_back(std::move(series));
  return *family.series.back();
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  return *findOrAdd(name, help, Type::kCounter, labels).counter;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  return *findOrAdd(name, help, Type::kGauge, labels).gauge;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      std::vector<double> bounds, const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  Series& series = findOrAdd(name, help, Type::kHistogram, labels);
  if (!series.histogram) series.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *series.histogram;
}

std::string MetricsRegistry::renderPrometheus() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    appendEscaped(out, family.help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += typeName(static_cast<int>(family.type));
    out += '\n';
    for (const auto& series : family.series) {
      switch (family.type) {
        case Type::kCounter:
          out += name;
          appendLabels(out, series->labels);
          out += ' ';
          out += std::to_string(series->counter->value());
          out += '\n';
          break;
        case Type::kGauge:
          out += name;
          appendLabels(out, series->labels);
          out += ' ';
          out += std::to_string(series->gauge->value());
          out += '\n';
          break;
        case Type::kHistogram: {
          Histogram::Snapshot snap = series->histogram->snapshot();
          for (size_t i = 0; i < snap.cumulative.size(); ++i) {
            std::string le;
            if (i < snap.bounds.size()) {
              appendDouble(le, snap.bounds[i]);
            } else {
              le = "+Inf";
            }
            out += name;
            out += "_bucket";
            appendLabels(out, series->labels, "le", le);
            out += ' ';
            out += std::to_string(snap.cumulative[i]);
            out += '\n';
          }
          out += name;
          out += "_sum";
          appendLabels(out, series->labels);
          out += ' ';
          appendDouble(out, snap.sum);
          out += '\n';
          out += name;
          out += "_count";
          appendLabels(out, series->labels);
          out += ' ';
          out += std::to_string(snap.count);
          out += '\n';
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace edge
