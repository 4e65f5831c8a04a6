// libFuzzer target: arbitrary bytes as a BATCH payload, both as a raw
// FlatBuffer and as zstd. Besides memory safety it checks that whatever
// decodes re-encodes to a buffer that decodes to the same batch.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "edge/protocol/batch.h"
#include "edge/protocol/compression.h"
#include "edge/protocol/frame.h"

namespace {

constexpr size_t kMaxDecompressed = 1u << 20;

void checkRoundTrip(const edge::protocol::DecodedBatch& batch, size_t decoded_from) {
  for (const edge::Event& e : batch.events) {
    if (!e.tenant.empty()) std::abort();  // never taken from the wire
  }
  const std::string once =
      edge::protocol::encodeBatch(batch.batch_id, batch.agent_id, batch.events);
  auto again = edge::protocol::decodeBatch(once);
  if (!again.ok()) {
    // The decoded-size budget scales with the buffer, so a re-encoding
    // smaller than the input (which carried unused bytes) may legitimately
    // fall outside it; one at least as large may not.
    if (once.size() >= decoded_from) std::abort();
    return;
  }
  // The encoder is deterministic, so equal batches give equal bytes (this
  // also compares NaN payloads bit for bit).
  if (edge::protocol::encodeBatch(again->batch_id, again->agent_id, again->events) != once)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto raw = edge::protocol::decodeBatchPayload(input, 0, kMaxDecompressed);
  if (raw.ok()) checkRoundTrip(*raw, input.size());

  auto compressed =
      edge::protocol::decodeBatchPayload(input, edge::protocol::kFlagZstd, kMaxDecompressed);
  if (compressed.ok()) {
    auto flat = edge::protocol::zstdDecompress(input, kMaxDecompressed);
    if (!flat.ok()) std::abort();  // decodeBatchPayload just decompressed it
    checkRoundTrip(*compressed, flat->size());
  }
  return 0;
}
