// Agent: builds the components from the configuration, connects their
// callbacks (spool writer -> shipper wake-ups, spool pressure -> input
// pauses, acks -> gauges), runs the loop and shuts down on a signal.
#include "edge/agent/agent.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <vector>

#include "edge/agent/credentials.h"
#include "edge/agent/input.h"
#include "edge/agent/shipper.h"
#include "edge/agent/spool.h"
#include "edge/common/admin_http.h"
#include "edge/common/config.h"
#include "edge/agent/input_registry.h"
#include "edge/agent/parser.h"
#include "spool_writer.h"

namespace edge::agent {
namespace {

std::string localHostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace

struct Agent::Impl {
  explicit Impl(AgentConfig config_in) : config(std::move(config_in)) {}

  ~Impl() {
    if (loop_initialized) {
      // Close whatever is still open (a failed create, or run() never
      // called) while the objects owning the handles are alive.
      if (admin) admin->close();
      uv_walk(
          &loop,
          [](uv_handle_t* handle, void*) {
            if (!uv_is_closing(handle)) uv_close(handle, nullptr);
          },
          nullptr);
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    admin.reset();
    shipper.reset();
    inputs.clear();
    writer.reset();
    spool.reset();
    if (loop_initialized) uv_loop_close(&loop);
  }

  Result<void> build() {
    hostname = config.hostname.empty() ? localHostname() : config.hostname;
    int rc = uv_loop_init(&loop);
    if (rc != 0)
      return makeError(ErrorCode::kInternal,
                       std::string("cannot create the event loop: ") + uv_strerror(rc));
    loop_initialized = true;

    SpoolOptions spool_options;
    spool_options.path = config.spoolPath();
    spool_options.synchronous_full = config.spool.synchronous_full;
    spool_options.agent_id = config.id;
    if (config.output.tls.enabled) {
      CredentialsOptions tls;
      tls.ca_path = config.tlsCaPath();
      tls.cert_path = config.tlsCertPath();
      tls.key_path = config.tlsKeyPath();
      tls.state_dir = config.tlsStateDir();
      tls.token = config.output.enrollment.token;
      tls.token_file = config.output.enrollment.token_file;
      tls.tenant_hint = config.output.enrollment.tenant_hint;
      tls.renew_fraction = config.output.tls.renew_fraction;
      tls.renew_before_s = config.output.tls.renew_before.count();
      auto loaded = AgentCredentials::load(std::move(tls));
      if (!loaded) return loaded.error();
      credentials = std::move(*loaded);
      // The certificate names the agent: gateways require HELLO's agent id
      // to be its CN.
      if (const auto& cert = credentials->certificate()) {
        if (config.id.empty()) {
          spool_options.agent_id = cert->common_name;
        } else if (config.id != cert->common_name) {
          return makeError(ErrorCode::kConfig,
                           "agent.id is \"" + config.id + "\" but the agent certificate " +
                               config.tlsCertPath() + " is for \"" + cert->common_name +
                               "\"; leave agent.id empty (the certificate names the agent) or "
                               "install that agent's certificate");
        }
      }
    }
    spool_options.compression_level = config.output.compression_level;
    auto opened = Spool::open(spool_options);
    if (!opened) return opened.error();
    spool = std::move(*opened);

    writer = std::make_unique<SpoolWriter>(&loop, *spool, config.spool, metrics);
    for (const std::shared_ptr<const InputSpec>& spec : config.inputs) {
      auto positions = spool->loadPositions(spec->name());
      if (!positions) return positions.error();
      auto parser = makeParser(spec->common().parser);
      if (!parser) {
        return makeError(parser.error().code,
                         "input " + spec->name() + ": parser: " + parser.error().message);
      }
      writer->addInput(spec->name(), spec->common().when_full, std::move(*parser),
                       spec->common().parser.type);
      InputContext context;
      context.loop = &loop;
      context.hostname = hostname;
      context.limits = writer->limits();
      context.sink = writer.get();
      context.metrics = &metrics;
      auto input = spec->create(context);
      if (!input) {
        return makeError(input.error().code,
                         "input " + spec->name() + ": " + input.error().message);
      }
      inputs.push_back(InputSlot{spec, std::move(*input)});
      saved_positions.push_back(std::move(*positions));
    }

    ShipperOptions shipper_options;
    shipper_options.gateways = config.output.gateways;
    shipper_options.agent_version = agentVersion();
    shipper_options.hostname = hostname;
    shipper_options.max_in_flight_batches = config.output.max_in_flight_batches;
    shipper_options.reconnect_min = config.output.reconnect_min;
    shipper_options.reconnect_max = config.output.reconnect_max;
    shipper_options.heartbeat_interval = config.output.heartbeat_interval;
    shipper_options.connection_ttl = config.output.connection_ttl;
    shipper_options.ack_timeout_warning = config.output.ack_timeout_warning;
    shipper_options.drain_timeout = config.output.drain_timeout;
    shipper_options.credentials = credentials;
    shipper_options.tls_server_name = config.output.tls.server_name;
    shipper_options.tls_handshake_timeout = config.output.tls.handshake_timeout;
    shipper_options.enrollment_retry_min = config.output.enrollment.retry_min;
    shipper_options.enrollment_retry_max = config.output.enrollment.retry_max;
    shipper = std::make_unique<Shipper>(&loop, *spool, shipper_options, metrics);

    if (!config.admin_listen.empty()) {
      auto listen = parseHostPort(config.admin_listen);
      if (!listen) return makeError(ErrorCode::kConfig, "admin.listen: " + listen.error().message);
      admin = std::make_unique<AdminHttpServer>(&loop);
      admin->route("/metrics", [this](const HttpRequest&) {
        HttpResponse response;
        response.content_type = "text/plain; version=0.0.4; charset=utf-8";
        response.body = metrics.renderPrometheus();
        return response;
      });
      admin->route("/healthz", [](const HttpRequest&) {
        HttpResponse response;
        response.body = "ok\n";
        return response;
      });
      if (auto listening = admin->listen(listen->host, listen->port); !listening) {
        return makeError(listening.error().code,
                         "admin.listen " + config.admin_listen + ": " + listening.error().message +
                             "; pick a free port or leave admin.listen empty");
      }
    }
    return okResult();
  }

  Result<void> run() {
    started = std::chrono::steady_clock::now();
    for (uv_signal_t* handle : {&sigint, &sigterm}) {
      uv_signal_init(&loop, handle);
      handle->data = this;
    }
    auto on_signal = [](uv_signal_t* handle, int signum) {
      auto* self = static_cast<Impl*>(handle->data);
      spdlog::info("received {}; stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
      self->stop();
    };
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    signals_initialized = true;

    writer->setOnAppended([this] { shipper->wake(); });
    writer->setOnPressure([this](SpoolWriter::Pressure pressure) {
      for (InputSlot& slot : inputs) {
        bool pause = pressure == SpoolWriter::Pressure::kFailing ||
                     (pressure == SpoolWriter::Pressure::kFull &&
                      slot.spec->common().when_full == WhenFull::kBlock);
        if (pause) {
          slot.input->pause();
        } else {
          slot.input->resume();
        }
      }
    });
    writer->setInFlightCheck([this](uint64_t batch_id) { return shipper->isInFlight(batch_id); });
    shipper->setOnSpoolShrunk([this] { writer->onSpoolShrunk(); });
    shipper->setTelemetryProvider([this] { return telemetry(); });

    auto fail = [this](const Error& error) -> Result<void> {
      stop();
      uv_run(&loop, UV_RUN_DEFAULT);
      return error;
    };
    if (auto st = writer->start(); !st) return fail(st.error());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (auto st = inputs[i].input->start(std::move(saved_positions[i])); !st) {
        return fail(makeError(st.error().code,
                              "input " + inputs[i].spec->name() + ": " + st.error().message));
      }
    }
    saved_positions.clear();
    if (auto st = shipper->start(); !st) return fail(st.error());

    std::string input_list;
    for (const InputSlot& slot : inputs) {
      if (!input_list.empty()) input_list += ", ";
      input_list += slot.spec->name() + " (" + slot.spec->type() +
                    ", when_full: " + whenFullName(slot.spec->common().when_full) + ")";
    }
    spdlog::info(
        "edge-agent {} started: agent id {}, host {}, spool {} ({} batches pending), inputs: {}, "
        "gateways {}{}",
        agentVersion(), spool->agentId(), hostname, spool->path(), spool->batchCount(),
        input_list.empty() ? "none" : input_list, join(config.output.gateways),
        config.admin_listen.empty() ? std::string() : ", admin http://" + config.admin_listen);
    if (inputs.empty())
      spdlog::warn("no inputs are configured: the agent only sends what is already spooled");

    uv_run(&loop, UV_RUN_DEFAULT);
    spdlog::info("edge-agent stopped ({} batches remain in the spool)", spool->batchCount());
    return okResult();
  }

  void stop() {
    if (stopping) return;
    stopping = true;
    for (InputSlot& slot : inputs) slot.input->close();
    if (writer) {
      size_t buffered = writer->bufferedEvents();
      if (auto flushed = writer->flush(); !flushed) {
        // Their positions were not committed either: they are read again on
        // the next start, so nothing is lost.
        spdlog::error(
            "could not spool {} buffered events at shutdown: {}; they will be read again on the "
            "next "
            "start",
            buffered, flushed.error().message);
      }
      writer->close();
    }
    if (shipper) shipper->close();
    if (admin) admin->close();
    if (signals_initialized) {
      uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
      signals_initialized = false;
    }
  }

  AgentTelemetry telemetry() const {
    AgentTelemetry t;
    t.uptime_s = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count());
    t.events_dropped = writer ? writer->droppedEvents() : 0;
    for (const InputSlot& slot : inputs) {
      InputStats stats = slot.input->stats();
      uint64_t dropped = stats.events_dropped + (writer ? writer->droppedEvents(slot.spec->name()) : 0);
      t.events_dropped += stats.events_dropped;
      t.inputs.push_back(InputTelemetry{slot.spec->name(), slot.spec->type(), stats.events_read,
                                        dropped, stats.errors});
    }
    return t;
  }

  AgentConfig config;
  std::string hostname;
  uv_loop_t loop{};
  bool loop_initialized = false;
  struct InputSlot {
    std::shared_ptr<const InputSpec> spec;
    std::unique_ptr<Input> input;
  };

  MetricsRegistry metrics;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<SpoolWriter> writer;
  std::vector<InputSlot> inputs;
  std::vector<std::vector<InputPosition>> saved_positions;
  std::shared_ptr<AgentCredentials> credentials;  // null: plaintext
  std::unique_ptr<Shipper> shipper;
  std::unique_ptr<AdminHttpServer> admin;
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  bool signals_initialized = false;
  bool stopping = false;
  std::chrono::steady_clock::time_point started;
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::create(AgentConfig config) {
  auto impl = std::make_unique<Impl>(std::move(config));
  EDGE_TRY(impl->build());
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

Result<void> Agent::run() { return impl_->run(); }

void Agent::requestStop() { impl_->stop(); }

const std::string& Agent::agentId() const { return impl_->spool->agentId(); }

MetricsRegistry& Agent::metrics() { return impl_->metrics; }

}  // namespace edge::agent
