// QueuedSink: the machinery every sink shares, so a concrete sink only says
// how to open its store and how to commit a group of batches.
//
// submit() appends to a queue (watermarked, see WatermarkCounter) and wakes
// the sink's thread; the thread takes up to `max_group_batches` batches at a
// time and calls commitGroup() — one transaction for the whole group is the
// point: a COMMIT (and its fsync) per group instead of per batch. Every batch
// of the group is completed only after commitGroup() returns.
//
// Metrics (shared by all sinks of the process):
//   edge_gateway_sink_queue_batches   gauge, batches queued or committing
//   edge_gateway_sink_commit_seconds  histogram, time per commitGroup()
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "edge/common/metrics.h"
#include "edge/gateway/sink.h"

namespace edge::gateway {

struct QueuedSinkOptions {
  size_t high_watermark = 64;     // queue_max_batches
  size_t max_group_batches = 64;  // batches per commitGroup() call
};

class QueuedSink : public Sink {
 public:
  QueuedSink(std::string name, QueuedSinkOptions options, MetricsRegistry& metrics);
  // Derived classes must call stop() in their destructor: the thread calls
  // their virtual methods.
  ~QueuedSink() override;

  std::string_view name() const override { return name_; }
  Result<void> start() override;
  void submit(SinkBatchPtr batch, SinkCompletion done) override;
  void stop() override;
  size_t queuedBatches() const override;
  bool aboveHighWatermark() const override;
  void addWatermarkListener(std::shared_ptr<WatermarkListener> listener) override;
  SinkHealth health() const override;

 protected:
  // Caller's thread, from start(): open the store. The thread starts after.
  virtual Result<void> openStore() = 0;
  // Sink thread: commit the group durably; exactly one result per batch, in
  // order. Must not throw.
  virtual std::vector<SinkResult> commitGroup(std::span<const SinkBatchPtr> batches) = 0;
  // Sink thread (or stop()'s caller if the thread never ran): release the store.
  virtual void closeStore() = 0;

  MetricsRegistry& metrics() { return metrics_; }

 private:
  struct Pending {
    SinkBatchPtr batch;
    SinkCompletion done;
  };
  void run();
  void notify(WatermarkCounter::Crossing crossing);

  const std::string name_;
  const QueuedSinkOptions options_;
  MetricsRegistry& metrics_;
  Gauge& queue_gauge_;
  Histogram& commit_seconds_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  WatermarkCounter depth_;  // queued + committing
  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  SinkHealth health_;
  std::vector<std::shared_ptr<WatermarkListener>> listeners_;
  std::thread thread_;
};

}  // namespace edge::gateway
