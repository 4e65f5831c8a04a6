// Gateway: wires the worker, the sinks and the admin HTTP server together,
// reloads the pipeline, and runs the shutdown drain (see gateway.h).
#include "edge/gateway/gateway.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>
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

// The global in-flight budget is split evenly: each worker withholds credit
// on its own share, so together they stay within gateway.max_in_flight_bytes
// without sharing a counter on the hot path.
GatewayConfig workerConfig(const GatewayConfig& config) {
  GatewayConfig worker = config;
  worker.workers = std::max<uint32_t>(1, config.workers);
  worker.max_in_flight_bytes = std::max<uint64_t>(1, config.max_in_flight_bytes / worker.workers);
  return worker;
}

// Runs `task` on a worker's loop and waits for its answer; nothing when
// the worker is closed or does not answer within `timeout`.
template <typename T>
std::optional<T> askWorker(Worker& worker, std::function<T()> task,
                           std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> answer = promise->get_future();
  if (!worker.post([promise, task = std::move(task)] { promise->set_value(task()); })) {
    return std::nullopt;
  }
  if (answer.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return answer.get();
}

}  // namespace

// A worker beyond the first: its own loop, run by its own thread from
// start() until the worker closed and the loop ran dry.
struct WorkerThread {
  uv_loop_t loop;
  std::unique_ptr<Worker> worker;
  std::thread thread;
  size_t index = 0;
};

Gateway::Gateway(uv_loop_t* loop, GatewayConfig config, SinkMap sinks, MetricsRegistry& metrics)
    : loop_(loop),
      config_(std::move(config)),
      worker_config_(workerConfig(config_)),
      sinks_(std::move(sinks)),
      registry_(metrics),
      metrics_(metrics),
      worker_(std::make_unique<Worker>(loop, worker_config_, sinks_, metrics_, registry_)) {}

Gateway::Gateway(uv_loop_t* loop, GatewayConfig config, std::shared_ptr<Sink> sink,
                 MetricsRegistry& metrics)
    : Gateway(loop, std::move(config), single(std::move(sink)), metrics) {}

Gateway::~Gateway() { stopExtraWorkers(); }

size_t Gateway::workerCount() const { return 1 + extra_workers_.size(); }

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
  auto mailbox = LoopMailbox::create(loop_);
  if (!mailbox) {
    stopSinks();
    started_ = false;
    return mailbox.error();
  }
  mailbox_ = std::move(*mailbox);
  worker_->shareConnectionCount(open_connections_);
  if (auto listening = worker_->start(worker_config_.workers > 1 ? PortSharing::kFirstOfGroup
                                                                  : PortSharing::kExclusive); !listening) {
    mailbox_->close();
    stopSinks();
    started_ = false;
    return listening;
  }
  // The others join the port the first one got (it may have been 0).
  worker_config_.listen.port = worker_->port();
  if (auto extra = startExtraWorkers(); !extra) {
    worker_->close();
    mailbox_->close();
    stopSinks();
    started_ = false;
    return extra;
  }
  spdlog::info("pipeline: {}; sinks {}; {} worker(s) on port {}",
               worker_->pipeline().spec().summary(), sinkNames(sinks_), workerCount(),
               worker_->port());
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
      stopExtraWorkers();
      mailbox_->close();
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

Result<void> Gateway::startExtraWorkers() {
  for (size_t i = 1; i < worker_config_.workers; ++i) {
    auto thread = std::make_unique<WorkerThread>();
    thread->index = i;
    uv_loop_init(&thread->loop);
    thread->worker =
        std::make_unique<Worker>(&thread->loop, worker_config_, sinks_, metrics_, registry_);
    thread->worker->shareConnectionCount(open_connections_);
    // Started here, before its loop runs (Worker allows that); the thread
    // only runs the loop.
    if (auto started = thread->worker->start(PortSharing::kJoinGroup); !started) {
      uv_run(&thread->loop, UV_RUN_DEFAULT);  // finish the closes of the failed start
      uv_loop_close(&thread->loop);
      stopExtraWorkers();
      return makeError(started.error().code,
                       "worker " + std::to_string(i) + ": " + started.error().message);
    }
    WorkerThread* raw = thread.get();
    thread->thread = std::thread([raw] { uv_run(&raw->loop, UV_RUN_DEFAULT); });
    extra_workers_.push_back(std::move(thread));
  }
  return okResult();
}

void Gateway::stopExtraWorkers() {
  for (auto& thread : extra_workers_) {
    Worker* worker = thread->worker.get();
    // Once closed the worker's loop has only closing handles left: it runs
    // them and uv_run returns. A worker already closed refuses the post and
    // its loop is ending anyway.
    worker->post([worker] { worker->close(); });
    if (thread->thread.joinable()) thread->thread.join();
    if (int rc = uv_loop_close(&thread->loop); rc != 0) {
      spdlog::warn("worker {}: event loop closed with handles still open: {}", thread->index,
                   uv_strerror(rc));
    }
  }
  extra_workers_.clear();
}

uint16_t Gateway::listenPort() const { return worker_->port(); }

void Gateway::reloadCrl() {
  if (!started_ || shutting_down_) return;
  worker_->reloadCrl();
  for (auto& thread : extra_workers_) {
    Worker* worker = thread->worker.get();
    worker->post([worker] { worker->reloadCrl(); });
  }
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
  // The first worker built it, so the others (same spec, same sinks) will
  // too; a plugin that refuses only on some worker is reported as such.
  for (auto& thread : extra_workers_) {
    Worker* worker = thread->worker.get();
    PipelineSpecPtr shared = *spec;
    auto replaced = askWorker<Result<void>>(
        *worker, [worker, shared] { return worker->replacePipeline(shared); },
        std::chrono::seconds(30));
    if (!replaced || !*replaced) {
      return fail(makeError(ErrorCode::kInternal,
                            "worker " + std::to_string(thread->index) +
                                " kept the previous pipeline: " +
                                (replaced ? replaced->error().message : "it did not answer")));
    }
  }
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
  WorkerStats total;
  std::vector<size_t> unresponsive;
  const std::vector<std::optional<WorkerStats>> stats = collectStats();
  for (size_t i = 0; i < stats.size(); ++i) {
    if (!stats[i]) {
      unresponsive.push_back(i);
      continue;
    }
    total.connections += stats[i]->connections;
    total.agents_with_heartbeat += stats[i]->agents_with_heartbeat;
    total.in_flight_batches += stats[i]->in_flight_batches;
    total.in_flight_bytes += stats[i]->in_flight_bytes;
    total.throttled_connections += stats[i]->throttled_connections;
  }
  const bool healthy = sinks_healthy && !shutting_down_ && unresponsive.empty();
  nlohmann::json doc = {
      {"status", shutting_down_                             ? "draining"
                 : sinks_healthy && unresponsive.empty() ? "ok"
                                                         : "failing"},
      {"gateway_id", config_.id},
      {"workers", workerCount()},
      {"connections", total.connections},
      {"agents_with_heartbeat", total.agents_with_heartbeat},
      {"in_flight_batches", total.in_flight_batches},
      {"in_flight_bytes", total.in_flight_bytes},
      {"throttled_connections", total.throttled_connections},
      // The sink fields of the one-sink gateway, summed over every sink.
      {"sink", sinkNames(sinks_)},
      {"sink_queue_batches", queued},
      {"sink_above_high_watermark", above},
      {"sinks", std::move(sinks)},
  };
  if (!sinks_healthy) doc["sink_error"] = first_error;
  if (!unresponsive.empty()) doc["unresponsive_workers"] = unresponsive;
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
  size_t in_flight_bytes = 0;
  bool over_budget = false;
  const std::vector<std::optional<WorkerStats>> stats = collectStats();
  for (size_t i = 0; i < stats.size(); ++i) {
    if (!stats[i]) {
      reasons.push_back("worker " + std::to_string(i) + " does not answer (stuck event loop?)");
      continue;
    }
    in_flight_bytes += stats[i]->in_flight_bytes;
    over_budget = over_budget || stats[i]->over_budget;
  }
  if (over_budget) {
    reasons.push_back("in-flight batches hold " + std::to_string(in_flight_bytes) +
                      " bytes, above gateway.max_in_flight_bytes (" +
                      std::to_string(config_.max_in_flight_bytes) + "), split between " +
                      std::to_string(workerCount()) + " workers");
  }
  const bool ready = reasons.empty();
  nlohmann::json doc = {
      {"ready", ready},
      {"gateway_id", config_.id},
      {"reasons", reasons},
      {"in_flight_bytes", in_flight_bytes},
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
            "drain timeout: batches still inside the sinks; closing anyway (agents resend them)");
        self->finishShutdown();
      },
      static_cast<uint64_t>(config_.drain_timeout.count()), 0);
  workers_draining_ = workerCount();
  for (auto& thread : extra_workers_) {
    Worker* worker = thread->worker.get();
    std::shared_ptr<LoopMailbox> home = mailbox_;
    const bool posted = worker->post([this, worker, home] {
      worker->beginDrain([this, home] { home->post([this] { workerDrained(); }); });
    });
    if (!posted) workerDrained();  // already closed: nothing left in it
  }
  worker_->beginDrain([this] { workerDrained(); });
}

void Gateway::workerDrained() {
  if (workers_draining_ > 0 && --workers_draining_ == 0) finishShutdown();
}

std::vector<std::optional<WorkerStats>> Gateway::collectStats() const {
  std::vector<std::optional<WorkerStats>> stats;
  stats.push_back(worker_->stats());
  for (const auto& thread : extra_workers_) {
    Worker* worker = thread->worker.get();
    stats.push_back(askWorker<WorkerStats>(
        *worker, [worker] { return worker->stats(); }, std::chrono::seconds(1)));
  }
  return stats;
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
  stopExtraWorkers();
  if (mailbox_) mailbox_->close();
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
