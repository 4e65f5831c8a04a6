// The boundary between inputs (which read records from somewhere) and the
// agent core (which commits them to the spool). An input never persists its
// own position: it hands events together with the position they reach, and
// the position becomes durable only in the same spool transaction as the
// events (docs/spool.md). After a crash the input resumes from the last
// committed position, so nothing is lost and nothing is read twice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge::agent {

// Where an input stands in one of its sources. For files: the byte offset
// just after the last line delivered, in the file identified by
// (device, inode) that was found at `path`.
struct InputPosition {
  std::string input;
  std::string path;
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t offset = 0;
  // The source is gone for good (a deleted file): the spool deletes the
  // saved position instead of storing it.
  bool forget = false;

  bool operator==(const InputPosition&) const = default;
};

// Set by the core so that one delivery always fits in one spool batch: the
// core never has to split a delivery, so every batch ends on a position an
// input reported.
struct DeliveryLimits {
  uint32_t max_events = 500;
  uint64_t max_bytes = 1 << 20;  // by estimateEventBytes()
};

// Roughly what an event costs in a batch before compression; used for
// batch_max_bytes so batches stay well below the frame size limit.
inline uint64_t estimateEventBytes(const Event& event) {
  uint64_t bytes =
      48 + event.raw.size() + event.source.size() + event.host.size() + event.kind.size();
  for (const Field& field : event.fields) {
    bytes += 16 + field.key.size();
    if (const auto* text = std::get_if<std::string>(&field.value)) bytes += text->size();
  }
  return bytes;
}

class InputSink {
 public:
  virtual ~InputSink() = default;
  // `events` were read by input `input`; `positions` are where that input
  // stands once these events are durable. Either may be empty (a
  // position-only delivery records where reading starts). A delivery never
  // exceeds the DeliveryLimits the input was given, except that a single
  // event larger than max_bytes travels alone.
  virtual void deliver(std::string_view input, std::vector<Event>&& events,
                       std::vector<InputPosition>&& positions) = 0;
};

struct InputStats {
  uint64_t events_read = 0;
  uint64_t events_dropped = 0;
  uint64_t lines_truncated = 0;
  uint64_t errors = 0;  // I/O errors (open, read, stat) seen
  // Fields the input's own record parsing dropped beyond its limit (the
  // syslog input's structured data), also in
  // edge_agent_parser_fields_dropped_total{input}, the series where the
  // core counts what a `parser:` drops.
  uint64_t fields_dropped = 0;
};

// An input lives on the agent's single loop thread.
class Input {
 public:
  virtual ~Input() = default;
  virtual const std::string& name() const = 0;
  virtual std::string_view type() const = 0;

  // Starts reading on the loop. `saved` are this input's positions as last
  // committed in the spool.
  virtual Result<void> start(std::vector<InputPosition> saved) = 0;
  // Pause stops reading (the sources keep the data, e.g. the file on disk);
  // resume continues where it stopped. Both are idempotent.
  virtual void pause() = 0;
  virtual void resume() = 0;
  // Stops reading and closes its handles; the loop finishes the closes and
  // the object must outlive that.
  virtual void close() = 0;

  virtual InputStats stats() const = 0;
};

}  // namespace edge::agent
