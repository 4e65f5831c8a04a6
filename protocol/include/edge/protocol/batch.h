// EventBatch encoding (FlatBuffers, see protocol/schemas/event_batch.fbs)
// and the batch frame payload (optionally zstd-compressed FlatBuffer).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge::protocol {

struct DecodedBatch {
  uint64_t batch_id = 0;
  std::string agent_id;
  std::vector<Event> events;  // tenant is left empty: the gateway sets it
};

// Builds the FlatBuffer bytes for a batch.
std::string encodeBatch(uint64_t batch_id, std::string_view agent_id, std::span<const Event> events);

// Verifies the FlatBuffer (identifier, structure, required fields, nesting
// and table limits) before reading it; kCorrupt with a reason on failure.
Result<DecodedBatch> decodeBatch(std::string_view flatbuffer);

// Frame payload for a kBatch frame. With level > 0 the FlatBuffer is
// zstd-compressed and *flags gets kFlagZstd.
struct BatchPayload {
  std::string bytes;
  uint16_t flags = 0;
};
Result<BatchPayload> encodeBatchPayload(uint64_t batch_id, std::string_view agent_id,
                                        std::span<const Event> events, int zstd_level);

// The encoder the agent's spool keeps for its whole life. It produces the
// same bytes as encodeBatchPayload(), but reuses its FlatBuffer builder and
// its compression buffer, so a batch costs no large allocation: fresh
// megabyte buffers for every batch meant page faults and heap trimming that
// took about a quarter of the agent's CPU under load.
class BatchEncoder {
 public:
  struct Encoded {
    std::string_view bytes;  // valid until the next encode() or the encoder's end
    uint16_t flags = 0;      // kFlagZstd when compressed
  };

  BatchEncoder();
  ~BatchEncoder();
  BatchEncoder(const BatchEncoder&) = delete;
  BatchEncoder& operator=(const BatchEncoder&) = delete;

  Result<Encoded> encode(uint64_t batch_id, std::string_view agent_id,
                         std::span<const Event> events, int zstd_level);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Decompresses (bounded by max_decompressed) if flagged, then verifies and decodes.
Result<DecodedBatch> decodeBatchPayload(std::string_view payload, uint16_t flags,
                                        size_t max_decompressed);

}  // namespace edge::protocol
