// QueuedSink: bounded, watermarked queue and one commit thread per sink.
#include "edge/gateway/queued_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace edge::gateway {
namespace {

std::vector<double> commitBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace

QueuedSink::QueuedSink(std::string name, QueuedSinkOptions options, MetricsRegistry& metrics)
    : name_(std::move(name)),
      options_(options),
      metrics_(metrics),
      queue_gauge_(metrics.gauge("edge_gateway_sink_queue_batches",
                                 "Batches queued in sinks or being committed")),
      commit_seconds_(metrics.histogram("edge_gateway_sink_commit_seconds",
                                        "Time sinks take to commit one group of batches",
                                        commitBuckets())),
      depth_(options.high_watermark) {}

QueuedSink::~QueuedSink() { stop(); }

Result<void> QueuedSink::start() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_ || stopping_) {
      return makeError(ErrorCode::kInvalidArgument, "sink " + name_ + " was already started");
    }
  }
  EDGE_TRY(openStore());
  std::lock_guard<std::mutex> lock(mutex_);
  started_ = true;
  thread_ = std::thread([this] { run(); });
  return okResult();
}

void QueuedSink::submit(SinkBatchPtr batch, SinkCompletion done) {
  WatermarkCounter::Crossing crossing;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (stopping_) {
      lock.unlock();
      SinkResult result;
      result.status = SinkStatus::kRetry;
      result.reason = "sink " + name_ + " is stopped";
      done(std::move(result));
      return;
    }
    queue_.push_back(Pending{std::move(batch), std::move(done)});
    crossing = depth_.add(1);
    queue_gauge_.add(1);
  }
  wake_.notify_one();
  notify(crossing);
}

void QueuedSink::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  // Batches queued on a sink whose thread never ran: fail them so no
  // completion is lost.
  std::deque<Pending> orphans;
  WatermarkCounter::Crossing crossing = WatermarkCounter::Crossing::kNone;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    orphans.swap(queue_);
    if (!orphans.empty()) {
      crossing = depth_.sub(orphans.size());
      queue_gauge_.add(-static_cast<int64_t>(orphans.size()));
    }
  }
  for (Pending& pending : orphans) {
    SinkResult result;
    result.status = SinkStatus::kRetry;
    result.reason = "sink " + name_ + " stopped before committing the batch";
    pending.done(std::move(result));
  }
  notify(crossing);
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
  listeners_.clear();
}

size_t QueuedSink::queuedBatches() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return depth_.value();
}

bool QueuedSink::aboveHighWatermark() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return depth_.above();
}

void QueuedSink::addWatermarkListener(std::shared_ptr<WatermarkListener> listener) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!stopped_) listeners_.push_back(std::move(listener));
}

SinkHealth QueuedSink::health() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return health_;
}

void QueuedSink::notify(WatermarkCounter::Crossing crossing) {
  if (crossing == WatermarkCounter::Crossing::kNone) return;
  std::vector<std::shared_ptr<WatermarkListener>> listeners;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    listeners = listeners_;
  }
  for (const auto& listener : listeners) {
    if (crossing == WatermarkCounter::Crossing::kAboveHigh) {
      listener->onAboveHighWatermark();
    } else {
      listener->onBelowLowWatermark();
    }
  }
}

void QueuedSink::run() {
  for (;;) {
    std::vector<Pending> group;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) break;  // stopping, and everything is committed
      const size_t n = std::min(queue_.size(), std::max<size_t>(options_.max_group_batches, 1));
      group.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }

    std::vector<SinkBatchPtr> batches;
    batches.reserve(group.size());
    for (const Pending& pending : group) batches.push_back(pending.batch);

    const auto started = std::chrono::steady_clock::now();
    std::vector<SinkResult> results = commitGroup(batches);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    commit_seconds_.observe(took.count());

    if (results.size() != group.size()) {
      // A sink bug; never leave a batch without a completion.
      spdlog::error("sink {}: commitGroup returned {} results for {} batches; retrying all", name_,
                    results.size(), group.size());
      results.assign(group.size(), SinkResult{SinkStatus::kRetry, "internal sink error", 0, 0});
    }

    {
      std::lock_guard<std::mutex> lock(mutex_);
      health_ = SinkHealth{};
      for (const SinkResult& result : results) {
        if (result.status != SinkStatus::kOk) {
          health_.healthy = false;
          health_.last_error = result.reason;
        }
      }
    }

    // Completions go out before the queue shrinks, so a gateway that sees
    // "below low watermark" has already been handed these completions.
    for (size_t i = 0; i < group.size(); ++i) {
      group[i].done(std::move(results[i]));
    }
    WatermarkCounter::Crossing crossing;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      crossing = depth_.sub(group.size());
      queue_gauge_.add(-static_cast<int64_t>(group.size()));
    }
    notify(crossing);
  }
  closeStore();
}

}  // namespace edge::gateway
