// filter_example: a minimal processor plugin to copy from. It keeps events at
// or above a severity, tags the ones it keeps, and counts what it drops.
// Built outside the edge tree against two headers; see CMakeLists.txt here
// and docs/plugins.md.
#include <edge/plugin_sdk.hpp>

namespace sdk = edge::plugin_sdk;

namespace {

// Options are data: the gateway validates them and generates the docs from them.
constexpr edge_plugin_option kOptions[] = {
    sdk::option("max_severity", EDGE_OPT_STRING, "info",
                "Keep events at this severity or more severe (emergency ... debug); drop the rest"),
    sdk::option("tag", EDGE_OPT_STRING, "",
                "If set, kept events get a field tagged_by with this value"),
};

int severityNumber(const std::string& name) {
  static constexpr const char* kNames[] = {"emergency", "alert",  "critical", "error",
                                           "warning",   "notice", "info",     "debug"};
  for (int i = 0; i < 8; ++i) {
    if (name == kNames[i]) return i;
  }
  // sdk::Error text reaches the operator verbatim: name the option and the fix.
  throw sdk::Error(
      "option max_severity: unknown severity \"" + name +
      "\"; use one of emergency, alert, critical, error, warning, notice, info, debug");
}

class FilterExample final : public sdk::Processor {
 public:
  // Runs once per instance (one per gateway worker). Throwing refuses the options.
  explicit FilterExample(const sdk::Context& ctx)
      : max_severity_(severityNumber(ctx.options.string("max_severity"))),
        tag_(ctx.options.string("tag")),
        dropped_(ctx.host.counter("below_severity_total",
                                  "Events dropped for being below max_severity")) {}

  void process(sdk::Batch& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      sdk::Event event = batch[i];
      if (event.severity() > max_severity_) {  // larger numbers are less severe
        event.drop();
        dropped_.add();
      } else if (!tag_.empty()) {
        event.setString("tagged_by", tag_);
      }
    }
  }

 private:
  int max_severity_;
  std::string tag_;
  sdk::Counter dropped_;
};

}  // namespace

EDGE_PROCESSOR_PLUGIN(FilterExample, "filter_example", "1.0.0",
                      "Example plugin: keeps events at or above a severity and tags them.",
                      kOptions)
