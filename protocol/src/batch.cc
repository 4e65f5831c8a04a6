// EventBatch <-> FlatBuffers, and the (optionally zstd-compressed) payload
// of a BATCH frame. Everything read from the wire is verified before use and
// its decoded size is bounded (see docs/protocol.md, "Limits").
#include "edge/protocol/batch.h"

#include <flatbuffers/flatbuffers.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "edge/protocol/compression.h"
#include "edge/protocol/event_batch_generated.h"
#include "edge/protocol/frame.h"

namespace edge::protocol {
namespace {

// The schema nests batch -> event -> field; anything deeper is not ours.
constexpr flatbuffers::uoffset_t kMaxDepth = 8;
// Widest scalar in the schema (long, ulong, double).
constexpr uintptr_t kScalarAlign = 8;

// FlatBuffers lets many offsets point at one table or string, so a small
// buffer can describe a huge object graph. A decoded batch may take at most
// this many times its wire size in memory (plus a fixed allowance), which no
// honest encoder gets near: a typical event costs 2-4x, an event holding only
// a short kind string about 6x.
constexpr size_t kMaxDecodedRatio = 16;
constexpr size_t kDecodedAllowance = 1u << 20;

// Rough in-memory cost of one decoded event / field: the object plus heap
// bytes of strings too long for the small-string buffer.
size_t stringCost(const flatbuffers::String* s) {
  if (s == nullptr) return 0;
  return s->size() > 15 ? s->size() + 1 : 0;
}

flatbuffers::Offset<flatbuffers::String> optionalString(flatbuffers::FlatBufferBuilder& builder,
                                                        std::string_view s) {
  // Absent and empty decode the same, and absent costs nothing on the wire.
  if (s.empty()) return 0;
  return builder.CreateString(s.data(), s.size());
}

// For the strings that repeat across a batch (kind, source, host, tenant,
// field keys): stored once, referenced by every event. It shrinks what zstd
// has to compress and what goes to disk and the wire.
flatbuffers::Offset<flatbuffers::String> sharedString(flatbuffers::FlatBufferBuilder& builder,
                                                      std::string_view s) {
  if (s.empty()) return 0;
  return builder.CreateSharedString(s.data(), s.size());
}

std::string_view view(const flatbuffers::String* s) {
  if (s == nullptr) return {};
  return {s->c_str(), s->size()};
}

Error corrupt(std::string reason) {
  return makeError(ErrorCode::kCorrupt, "invalid event batch: " + std::move(reason));
}

// Walks the verified batch once without allocating, so an amplifying buffer
// is refused before anything is built from it. The verifier's table limit
// keeps this walk linear in the buffer size even when tables are shared.
Result<void> checkDecodedSize(const fb::EventBatch& batch, size_t wire_size) {
  const size_t budget = wire_size * kMaxDecodedRatio + kDecodedAllowance;
  size_t cost = sizeof(DecodedBatch) + stringCost(batch.agent_id());
  const auto* events = batch.events();
  if (events != nullptr) {
    for (flatbuffers::uoffset_t i = 0; i < events->size(); ++i) {
      const fb::Event* e = events->Get(i);
      cost += sizeof(Event) + stringCost(e->kind()) + stringCost(e->source()) +
              stringCost(e->host()) + stringCost(e->raw());
      if (const auto* fields = e->fields(); fields != nullptr) {
        for (flatbuffers::uoffset_t j = 0; j < fields->size(); ++j) {
          const fb::Field* f = fields->Get(j);
          cost += sizeof(Field) + stringCost(f->key()) + stringCost(f->str());
        }
      }
      if (cost > budget) break;
    }
  }
  if (cost > budget) {
    return corrupt("decoding " + std::to_string(wire_size) + " bytes would take more than " +
                   std::to_string(budget) +
                   " bytes of memory (tables or strings referenced many times over)");
  }
  return okResult();
}

Result<FieldValue> decodeValue(const fb::Field& f, size_t event_index) {
  switch (f.type()) {
    case fb::ValueType::String:
      return FieldValue(std::string(view(f.str())));
    case fb::ValueType::Int:
      return FieldValue(static_cast<int64_t>(f.int_val()));
    case fb::ValueType::Float:
      return FieldValue(f.float_val());
    case fb::ValueType::Bool:
      return FieldValue(f.bool_val());
  }
  return corrupt("event " + std::to_string(event_index) + " field \"" + std::string(view(f.key())) +
                 "\" has unknown value type " + std::to_string(static_cast<unsigned>(f.type())) +
                 "; the sender uses a newer schema, upgrade the receiver");
}

}  // namespace

namespace {

// What a batch will take in the builder, so it grows at most once.
size_t estimateBatchBytes(std::string_view agent_id, std::span<const Event> events) {
  size_t estimate = 64 + agent_id.size();
  for (const Event& e : events) {
    estimate +=
        96 + e.kind.size() + e.source.size() + e.host.size() + e.tenant.size() + e.raw.size();
    for (const Field& f : e.fields) {
      estimate += 40 + f.key.size();
      if (const auto* s = std::get_if<std::string>(&f.value)) estimate += s->size();
    }
  }
  return estimate;
}

// Builds the batch in `builder` (which must be empty); the bytes are
// builder.GetBufferPointer() / GetSize() afterwards.
void buildBatch(flatbuffers::FlatBufferBuilder& builder, uint64_t batch_id,
                std::string_view agent_id, std::span<const Event> events) {
  std::vector<flatbuffers::Offset<fb::Event>> event_offsets;
  event_offsets.reserve(events.size());
  std::vector<flatbuffers::Offset<fb::Field>> field_offsets;
  for (const Event& e : events) {
    // Strings first: FlatBuffers cannot create them while a table is open.
    const auto kind = sharedString(builder, e.kind);
    const auto source = sharedString(builder, e.source);
    const auto host = sharedString(builder, e.host);
    const auto tenant = sharedString(builder, e.tenant);
    field_offsets.clear();
    for (const Field& f : e.fields) {
      // key is required in the schema, so an empty one is stored too.
      const auto key = builder.CreateSharedString(f.key.data(), f.key.size());
      flatbuffers::Offset<flatbuffers::String> str = 0;
      if (const auto* s = std::get_if<std::string>(&f.value)) {
        // A field repeating the source (the file input's "path") shares it.
        str = *s == e.source ? source : optionalString(builder, *s);
      }
      fb::FieldBuilder fbuilder(builder);
      fbuilder.add_key(key);
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
              fbuilder.add_type(fb::ValueType::String);
              if (!str.IsNull()) fbuilder.add_str(str);
            } else if constexpr (std::is_same_v<T, int64_t>) {
              fbuilder.add_type(fb::ValueType::Int);
              fbuilder.add_int_val(v);
            } else if constexpr (std::is_same_v<T, double>) {
              fbuilder.add_type(fb::ValueType::Float);
              // -0.0 compares equal to the 0.0 default and would be dropped.
              const bool negative_zero = v == 0.0 && std::signbit(v);
              if (negative_zero) builder.ForceDefaults(true);
              fbuilder.add_float_val(v);
              if (negative_zero) builder.ForceDefaults(false);
            } else {
              fbuilder.add_type(fb::ValueType::Bool);
              fbuilder.add_bool_val(v);
            }
          },
          f.value);
      field_offsets.push_back(fbuilder.Finish());
    }
    const auto raw = optionalString(builder, e.raw);
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Field>>> fields = 0;
    if (!field_offsets.empty()) fields = builder.CreateVector(field_offsets);
    event_offsets.push_back(fb::CreateEvent(builder, e.ts_ns, e.seq, kind, source, host,
                                            static_cast<uint8_t>(e.severity), tenant, fields, raw));
  }
  const auto agent = optionalString(builder, agent_id);
  const auto events_vec = builder.CreateVector(event_offsets);
  fb::FinishEventBatchBuffer(builder, fb::CreateEventBatch(builder, batch_id, agent, events_vec));
}

std::string_view builtBytes(const flatbuffers::FlatBufferBuilder& builder) {
  return {reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize()};
}

}  // namespace

std::string encodeBatch(uint64_t batch_id, std::string_view agent_id,
                        std::span<const Event> events) {
  flatbuffers::FlatBufferBuilder builder(estimateBatchBytes(agent_id, events));
  buildBatch(builder, batch_id, agent_id, events);
  return std::string(builtBytes(builder));
}

struct BatchEncoder::Impl {
  // Clear() keeps the builder's buffer, so it settles at the largest batch.
  flatbuffers::FlatBufferBuilder builder{1 << 16};
  std::unique_ptr<char[]> compressed;
  size_t compressed_capacity = 0;
};

BatchEncoder::BatchEncoder() : impl_(std::make_unique<Impl>()) {}
BatchEncoder::~BatchEncoder() = default;

Result<BatchEncoder::Encoded> BatchEncoder::encode(uint64_t batch_id, std::string_view agent_id,
                                                   std::span<const Event> events,
                                                   int zstd_level) {
  impl_->builder.Clear();
  buildBatch(impl_->builder, batch_id, agent_id, events);
  const std::string_view flat = builtBytes(impl_->builder);
  if (zstd_level <= 0) return Encoded{flat, 0};
  const size_t bound = zstdCompressBound(flat.size());
  if (bound > impl_->compressed_capacity) {
    impl_->compressed = std::make_unique_for_overwrite<char[]>(bound);
    impl_->compressed_capacity = bound;
  }
  auto written = zstdCompressInto(flat, zstd_level, impl_->compressed.get(), bound);
  if (!written) return written.error();
  return Encoded{std::string_view(impl_->compressed.get(), *written), kFlagZstd};
}

Result<DecodedBatch> decodeBatch(std::string_view flatbuffer) {
  if (flatbuffer.size() < 8) {
    return corrupt("buffer of " + std::to_string(flatbuffer.size()) +
                   " bytes is too short for a FlatBuffer (root offset and identifier take 8)");
  }
  if (flatbuffer.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return makeError(ErrorCode::kTooLarge, "event batch of " + std::to_string(flatbuffer.size()) +
                                               " bytes exceeds the FlatBuffers 2 GiB limit");
  }
  // Accessors read scalars in place; a buffer at an odd address (a slice of
  // some larger buffer) is copied so those reads stay aligned.
  std::string aligned_copy;
  if (reinterpret_cast<uintptr_t>(flatbuffer.data()) % kScalarAlign != 0) {
    aligned_copy.assign(flatbuffer);
    flatbuffer = aligned_copy;
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(flatbuffer.data());
  if (!fb::EventBatchBufferHasIdentifier(bytes)) {
    return corrupt("missing file identifier \"" + std::string(fb::EventBatchIdentifier()) +
                   "\" (not an EventBatch, or compressed without the zstd flag)");
  }

  flatbuffers::Verifier::Options options;
  options.max_depth = kMaxDepth;
  // Every table needs at least 4 bytes of its own plus a 4-byte offset to
  // it, so an honest buffer never holds more; shared tables count each time
  // they are visited, which bounds the verifier's work by the buffer size.
  options.max_tables = static_cast<flatbuffers::uoffset_t>(flatbuffer.size() / 4 + 16);
  options.check_alignment = true;
  flatbuffers::Verifier verifier(bytes, flatbuffer.size(), options);
  if (!fb::VerifyEventBatchBuffer(verifier)) {
    return corrupt("FlatBuffers verification failed for " + std::to_string(flatbuffer.size()) +
                   " bytes (truncated, corrupted, a field key missing, or nested too deep)");
  }
  const fb::EventBatch* batch = fb::GetEventBatch(bytes);
  EDGE_TRY(checkDecodedSize(*batch, flatbuffer.size()));

  DecodedBatch out;
  out.batch_id = batch->batch_id();
  out.agent_id = view(batch->agent_id());
  const auto* events = batch->events();
  if (events == nullptr) return out;
  out.events.reserve(events->size());
  for (flatbuffers::uoffset_t i = 0; i < events->size(); ++i) {
    const fb::Event* e = events->Get(i);
    if (e->severity() > static_cast<uint8_t>(Severity::kDebug)) {
      return corrupt("event " + std::to_string(i) + " has severity " +
                     std::to_string(static_cast<unsigned>(e->severity())) + " (expected 0..7)");
    }
    Event& ev = out.events.emplace_back();
    ev.ts_ns = e->ts_ns();
    ev.seq = e->seq();
    ev.kind = view(e->kind());
    ev.source = view(e->source());
    ev.host = view(e->host());
    ev.severity = static_cast<Severity>(e->severity());
    // The tenant on the wire is ignored: the gateway sets it from the
    // agent's authenticated identity.
    ev.raw = view(e->raw());
    if (const auto* fields = e->fields(); fields != nullptr) {
      ev.fields.reserve(fields->size());
      for (flatbuffers::uoffset_t j = 0; j < fields->size(); ++j) {
        const fb::Field* f = fields->Get(j);
        auto value = decodeValue(*f, i);
        if (!value.ok()) return value.error();
        ev.fields.push_back(Field{std::string(view(f->key())), std::move(*value)});
      }
    }
  }
  return out;
}

Result<BatchPayload> encodeBatchPayload(uint64_t batch_id, std::string_view agent_id,
                                        std::span<const Event> events, int zstd_level) {
  BatchPayload payload;
  payload.bytes = encodeBatch(batch_id, agent_id, events);
  if (zstd_level > 0) {
    auto compressed = zstdCompress(payload.bytes, zstd_level);
    if (!compressed.ok()) return compressed.error();
    payload.bytes = std::move(*compressed);
    payload.flags = kFlagZstd;
  }
  return payload;
}

Result<DecodedBatch> decodeBatchPayload(std::string_view payload, uint16_t flags,
                                        size_t max_decompressed) {
  if ((flags & ~kKnownFlags) != 0) {
    return makeError(ErrorCode::kProtocol, "BATCH frame has unknown flags " +
                                               std::to_string(flags) + " (known: 1 = zstd)");
  }
  if ((flags & kFlagZstd) == 0) {
    if (payload.size() > max_decompressed) {
      return makeError(ErrorCode::kTooLarge,
                       "uncompressed BATCH payload of " + std::to_string(payload.size()) +
                           " bytes exceeds the limit of " + std::to_string(max_decompressed) +
                           " bytes; send smaller batches or raise the receiver's limit");
    }
    return decodeBatch(payload);
  }
  auto flat = zstdDecompress(payload, max_decompressed);
  if (!flat.ok()) return flat.error();
  return decodeBatch(*flat);
}

}  // namespace edge::protocol
