// Gateway: wires the worker, the sink and the admin HTTP server together and
// runs the shutdown drain (see gateway.h).
#include "edge/gateway/gateway.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "worker.h"

namespace edge::gateway {

Gateway::Gateway(uv_loop_t* loop, GatewayConfig config, std::shared_ptr<Sink> sink,
                 MetricsRegistry& metrics)
    : loop_(loop),
      config_(std::move(config)),
      sink_(std::move(sink)),
      registry_(metrics),
      metrics_(metrics),
      worker_(std::make_unique<Worker>(loop, config_, sink_, metrics_)) {}

Gateway::~Gateway() = default;

Result<void> Gateway::start() {
  if (started_) return makeError(ErrorCode::kInvalidArgument, "gateway already started");
  started_ = true;
  if (auto started = sink_->start(); !started) {
    started_ = false;
    return started;
  }
  if (auto listening = worker_->start(false); !listening) {
    sink_->stop();
    started_ = false;
    return listening;
  }
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
    if (auto listening = admin_->listen(config_.admin.host, config_.admin.port); !listening) {
      admin_->close();
      admin_closed_ = true;
      worker_->close();
      sink_->stop();
      started_ = false;
      return makeError(listening.error().code,
                       "admin HTTP on " + config_.admin.toString() +
                           " (admin.listen): " + listening.error().message +
                           "; choose another address or set admin.listen: \"\"");
    }
    spdlog::info("admin HTTP on {}:{} (/metrics, /healthz)", config_.admin.host, admin_->port());
  }
  return okResult();
}

uint16_t Gateway::listenPort() const { return worker_->port(); }

void Gateway::reloadCrl() {
  if (started_ && !shutting_down_) worker_->reloadCrl();
}

uint16_t Gateway::adminPort() const { return admin_ ? admin_->port() : 0; }

std::pair<std::string, bool> Gateway::healthJson() const {
  const SinkHealth sink_health = sink_->health();
  const bool healthy = sink_health.healthy && !shutting_down_;
  nlohmann::json doc = {
      {"status", shutting_down_        ? "draining"
                 : sink_health.healthy ? "ok"
                                       : "failing"},
      {"gateway_id", config_.id},
      {"connections", worker_->connectionCount()},
      {"agents_with_heartbeat", worker_->agentsWithHeartbeat()},
      {"in_flight_batches", worker_->inFlightBatches()},
      {"sink", std::string(sink_->name())},
      {"sink_queue_batches", sink_->queuedBatches()},
      {"sink_above_high_watermark", sink_->aboveHighWatermark()},
  };
  if (!sink_health.healthy) doc["sink_error"] = sink_health.last_error;
  return {doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), healthy};
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
  // Joins the sink thread after it committed what is queued; completions
  // that arrive now find the mailbox closed and are dropped.
  sink_->stop();
  spdlog::info("gateway stopped");
  if (done_) {
    auto done = std::move(done_);
    done_ = nullptr;
    done();
  }
}

}  // namespace edge::gateway
