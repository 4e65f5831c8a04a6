// Gateway: wires the worker, the sinks and the admin HTTP server together,
// reloads the pipeline, and runs the shutdown drain (see gateway.h).
#include "edge/gateway/gateway.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "worker.h"

namespace edge::gateway {

namespace {

SinkMap single(std::shared_ptr<Sink> sink) {
  SinkMap sinks;
  std::string name(sink->name());
  sinks.emplace(std::move(name), std::move(sink));
  return sinks;
}

std::string sinkNames(const SinkMap& sinks) {
  std::string out;
  for (const auto& [name, sink] : sinks) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

Gateway::Gateway(uv_loop_t* loop, GatewayConfig config, SinkMap sinks, MetricsRegistry& metrics)
    : loop_(loop),
      config_(std::move(config)),
      sinks_(std::move(sinks)),
      registry_(metrics),
      metrics_(metrics),
      worker_(std::make_unique<Worker>(loop, config_, sinks_, metrics_, registry_)) {}

Gateway::Gateway(uv_loop_t* loop, GatewayConfig config, std::shared_ptr<Sink> sink,
                 MetricsRegistry& metrics)
    : Gateway(loop, std::move(config), single(std::move(sink)), metrics) {}

Gateway::~Gateway() = default;

Result<void> Gateway::start() {
  if (started_) return makeError(ErrorCode::kInvalidArgument, "gateway already started");
  started_ = true;
  for (auto it = sinks_.begin(); it != sinks_.end(); ++it) {
    if (auto started = it->second->start(); !started) {
      for (auto done = sinks_.begin(); done != it; ++done) done->second->stop();
      started_ = false;
      return started;
    }
  }
  if (auto listening = worker_->start(false); !listening) {
    stopSinks();
    started_ = false;
    return listening;
  }
  spdlog::info("pipeline: {}; sinks {}", worker_->pipeline().spec().summary(), sinkNames(sinks_));
  if (config_.admin_enabled) {
    admin_ = std::make_unique<AdminHttpServer>(loop_);
    admin_->route("/metrics", [this](const HttpRequest&) {
      HttpResponse response;
      response.content_type = "text/plain; version=0.0.4";
      response.body = registry_.renderPrometheus();
      return response;
    });
    admin_->route("/healthz", [this](const HttpRequest&) {
      auto [body, healthy] = healthJson();
      HttpResponse response;
      response.status = healthy ? 200 : 503;
      response.content_type = "application/json";
      response.body = std::move(body);
      return response;
    });
    admin_->route("/readyz", [this](const HttpRequest&) {
      auto [body, ready] = readyJson();
      HttpResponse response;
      response.status = ready ? 200 : 503;
      response.content_type = "application/json";
      response.body = std::move(body);
      return response;
    });
    if (auto listening = admin_->listen(config_.admin.host, config_.admin.port); !listening) {
      admin_->close();
      admin_closed_ = true;
      worker_->close();
      stopSinks();
      started_ = false;
      return makeError(listening.error().code,
                       "admin HTTP on " + config_.admin.toString() +
                           " (admin.listen): " + listening.error().message +
                           "; choose another address or set admin.listen: \"\"");
    }
    spdlog::info("admin HTTP on {}:{} (/metrics, /healthz, /readyz)", config_.admin.host,
                 admin_->port());
  }
  return okResult();
}

uint16_t Gateway::listenPort() const { return worker_->port(); }

void Gateway::reloadCrl() {
  if (started_ && !shutting_down_) worker_->reloadCrl();
}

Result<void> Gateway::reloadPipeline(const std::string& config_path) {
  auto fail = [&](const Error& error) -> Result<void> {
    metrics_.pipeline_reload_failures.inc();
    spdlog::error("pipeline reload from {} failed; the running pipeline stays in force:\n{}",
                  config_path, error.message);
    return error;
  };
  if (!started_ || shutting_down_) {
    return makeError(ErrorCode::kInvalidArgument, "the gateway is not running");
  }
  std::vector<std::string> names;
  for (const auto& [name, sink] : sinks_) names.push_back(name);
  auto spec = loadPipelineForReload(config_path, names);
  if (!spec) return fail(spec.error());
  if (auto replaced = worker_->replacePipeline(*spec); !replaced) return fail(replaced.error());
  metrics_.pipeline_reloads.inc();
  spdlog::info("pipeline reloaded from {}: {}; new batches use it, {} in flight finish as routed",
               config_path, (*spec)->summary(), worker_->inFlightBatches());
  return okResult();
}

PipelineSpecPtr Gateway::pipeline() const { return worker_->pipeline().specPtr(); }

void Gateway::stopSinks() {
  for (auto& [name, sink] : sinks_) sink->stop();
}

uint16_t Gateway::adminPort() const { return admin_ ? admin_->port() : 0; }

std::pair<std::string, bool> Gateway::healthJson() const {
  bool sinks_healthy = true;
  size_t queued = 0;
  bool above = false;
  std::string first_error;
  nlohmann::json sinks = nlohmann::json::object();
  for (const auto& [name, sink] : sinks_) {
    const SinkHealth health = sink->health();
    nlohmann::json entry = {{"healthy", health.healthy},
                            {"queue_batches", sink->queuedBatches()},
                            {"above_high_watermark", sink->aboveHighWatermark()}};
    if (!health.healthy) {
      entry["error"] = health.last_error;
      if (sinks_healthy) first_error = name + ": " + health.last_error;
      sinks_healthy = false;
    }
    queued += sink->queuedBatches();
    above = above || sink->aboveHighWatermark();
    sinks[name] = std::move(entry);
  }
  const bool healthy = sinks_healthy && !shutting_down_;
  nlohmann::json doc = {
      {"status", shutting_down_  ? "draining"
                 : sinks_healthy ? "ok"
                                 : "failing"},
      {"gateway_id", config_.id},
      {"connections", worker_->connectionCount()},
      {"agents_with_heartbeat", worker_->agentsWithHeartbeat()},
      {"in_flight_batches", worker_->inFlightBatches()},
      {"in_flight_bytes", worker_->inFlightBytes()},
      {"throttled_connections", worker_->throttledConnections()},
      // The sink fields of the one-sink gateway, summed over every sink.
      {"sink", sinkNames(sinks_)},
      {"sink_queue_batches", queued},
      {"sink_above_high_watermark", above},
      {"sinks", std::move(sinks)},
  };
  if (!sinks_healthy) doc["sink_error"] = first_error;
  return {doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), healthy};
}

std::pair<std::string, bool> Gateway::readyJson() const {
  std::vector<std::string> reasons;
  if (!started_) reasons.emplace_back("not started");
  if (shutting_down_) reasons.emplace_back("draining (shutting down)");
  for (const auto& [name, sink] : sinks_) {
    const SinkHealth health = sink->health();
    if (!health.healthy) reasons.push_back("sink " + name + " is failing: " + health.last_error);
  }
  if (worker_->overBudget()) {
    reasons.push_back("in-flight batches hold " + std::to_string(worker_->inFlightBytes()) +
                      " bytes, above gateway.max_in_flight_bytes (" +
                      std::to_string(config_.max_in_flight_bytes) + ")");
  }
  const bool ready = reasons.empty();
  nlohmann::json doc = {
      {"ready", ready},
      {"gateway_id", config_.id},
      {"reasons", reasons},
      {"in_flight_bytes", worker_->inFlightBytes()},
      {"max_in_flight_bytes", config_.max_in_flight_bytes},
  };
  return {doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), ready};
}

void Gateway::shutdown(std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  done_ = std::move(done);
  if (!started_) {
    finishShutdown();
    return;
  }
  spdlog::info("shutting down: draining connections (at most {}ms, gateway.drain_timeout)",
               config_.drain_timeout.count());
  drain_timer_ = new uv_timer_t;
  uv_timer_init(loop_, drain_timer_);
  drain_timer_->data = this;
  uv_timer_start(
      drain_timer_,
      [](uv_timer_t* timer) {
        auto* self = static_cast<Gateway*>(timer->data);
        spdlog::warn(
            "drain timeout: {} batches still inside the sink; closing anyway (agents resend them)",
            self->worker_->inFlightBatches());
        self->finishShutdown();
      },
      static_cast<uint64_t>(config_.drain_timeout.count()), 0);
  worker_->beginDrain([this] { finishShutdown(); });
}

void Gateway::finishShutdown() {
  if (finished_) return;
  finished_ = true;
  if (drain_timer_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(drain_timer_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    drain_timer_ = nullptr;
  }
  worker_->close();
  if (admin_ && !admin_closed_) admin_->close();
  admin_closed_ = true;
  // Joins the sink threads after they committed what is queued; completions
  // that arrive now find the mailbox closed and are dropped.
  stopSinks();
  spdlog::info("gateway stopped");
  if (done_) {
    auto done = std::move(done_);
    done_ = nullptr;
    done();
  }
}

}  // namespace edge::gateway
