// A sink written with the C++ SDK, for the host's sink path: it records what
// it was given and answers by the batch's tenant, and throws on request so
// the SDK's exception firewall can be checked.
#include <edge/plugin_sdk.hpp>

namespace sdk = edge::plugin_sdk;

namespace {

constexpr edge_plugin_option kOptions[] = {
    sdk::option("label", EDGE_OPT_STRING, "sink", "Written into the reason of RETRY/ERROR answers"),
};

class RecordingSink final : public sdk::Sink {
 public:
  explicit RecordingSink(const sdk::Context& ctx)
      : label_(ctx.options.string("label")),
        written_(ctx.host.counter("written_total", "Events written")) {}

  sdk::SinkResult write(const sdk::Batch& batch) override {
    sdk::BatchInfo info = batch.info();
    if (info.tenant == "retry") return sdk::SinkResult::retry(label_ + ": store busy, try again");
    if (info.tenant == "error")
      return sdk::SinkResult::error(label_ + ": store rejected the batch");
    for (size_t i = 0; i < batch.size(); ++i) {
      sdk::Event event = batch[i];
      if (event.kind() == "throw")
        throw std::runtime_error("bug while writing " + std::string(info.agent_id));
      if (event.kind() == "modify")
        event.setHost("changed");  // a sink's batch is read-only: throws
    }
    written_.add(batch.size());
    return sdk::SinkResult::ok();
  }

 private:
  std::string label_;
  sdk::Counter written_;
};

}  // namespace

EDGE_SINK_PLUGIN(RecordingSink, "test_sdk_sink", "0.1.0", "A test sink written with the SDK.",
                 kOptions)
