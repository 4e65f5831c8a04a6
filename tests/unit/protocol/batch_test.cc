// Tests for the EventBatch FlatBuffers codec and BATCH frame payloads: round
// trips, and hostile buffers refused by the verifier and the size bounds.
#include "edge/protocol/batch.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "edge/protocol/compression.h"
#include "edge/protocol/event_batch_generated.h"
#include "edge/protocol/frame.h"

namespace edge::protocol {
namespace {

Event sampleEvent(uint64_t seq) {
  Event e;
  e.ts_ns = 1700000000123456789 + static_cast<int64_t>(seq);
  e.seq = seq;
  e.kind = "log";
  e.source = "/var/log/app/service.log";
  e.host = "web-01.example.net";
  e.severity = Severity::kWarning;
  e.tenant = "must-not-survive";
  e.raw = "2024-01-01T00:00:00Z web-01 app[123]: user=alice action=login status=ok seq=" +
          std::to_string(seq);
  e.fields.push_back(Field{"user", std::string("alice")});
  e.fields.push_back(Field{"bytes", int64_t{-42}});
  e.fields.push_back(Field{"ratio", 0.25});
  e.fields.push_back(Field{"ok", true});
  return e;
}

void expectSameEvent(const Event& got, const Event& want) {
  EXPECT_EQ(got.ts_ns, want.ts_ns);
  EXPECT_EQ(got.seq, want.seq);
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.source, want.source);
  EXPECT_EQ(got.host, want.host);
  EXPECT_EQ(got.severity, want.severity);
  EXPECT_EQ(got.raw, want.raw);
  EXPECT_TRUE(got.tenant.empty()) << "tenant must come from the gateway, not the wire";
  ASSERT_EQ(got.fields.size(), want.fields.size());
  for (size_t i = 0; i < want.fields.size(); ++i) {
    EXPECT_EQ(got.fields[i].key, want.fields[i].key);
    ASSERT_EQ(got.fields[i].value.index(), want.fields[i].value.index()) << want.fields[i].key;
    EXPECT_EQ(got.fields[i].value, want.fields[i].value) << want.fields[i].key;
  }
}

TEST(ProtocolBatch, RoundTripsEveryFieldAndType) {
  std::vector<Event> events = {sampleEvent(1), sampleEvent(2)};
  events[1].severity = Severity::kEmergency;
  events[1].fields.push_back(Field{"max", std::numeric_limits<int64_t>::max()});
  events[1].fields.push_back(Field{"min", std::numeric_limits<int64_t>::min()});
  events[1].fields.push_back(Field{"zero_int", int64_t{0}});
  events[1].fields.push_back(Field{"false", false});
  events[1].fields.push_back(Field{"empty", std::string()});
  events[1].fields.push_back(Field{"inf", std::numeric_limits<double>::infinity()});
  events[1].fields.push_back(Field{"nul\0byte", std::string("a\0b\xc3\xa9", 5)});
  const std::string bytes = encodeBatch(77, "agent-xyz", events);

  auto decoded = decodeBatch(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->batch_id, 77u);
  EXPECT_EQ(decoded->agent_id, "agent-xyz");
  ASSERT_EQ(decoded->events.size(), 2u);
  expectSameEvent(decoded->events[0], events[0]);
  expectSameEvent(decoded->events[1], events[1]);
}

TEST(ProtocolBatch, FloatSpecialValuesSurvive) {
  Event e;
  e.fields.push_back(Field{"nan", std::numeric_limits<double>::quiet_NaN()});
  e.fields.push_back(Field{"negzero", -0.0});
  e.fields.push_back(Field{"tiny", std::numeric_limits<double>::denorm_min()});
  auto decoded = decodeBatch(encodeBatch(1, "a", std::span<const Event>(&e, 1)));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  const auto& f = decoded->events.at(0).fields;
  ASSERT_EQ(f.size(), 3u);
  EXPECT_TRUE(std::isnan(std::get<double>(f[0].value)));
  EXPECT_TRUE(std::signbit(std::get<double>(f[1].value)));
  EXPECT_EQ(std::get<double>(f[2].value), std::numeric_limits<double>::denorm_min());
}

TEST(ProtocolBatch, EmptyBatch) {
  const std::string bytes = encodeBatch(0, "", {});
  auto decoded = decodeBatch(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->batch_id, 0u);
  EXPECT_TRUE(decoded->agent_id.empty());
  EXPECT_TRUE(decoded->events.empty());
}

TEST(ProtocolBatch, EventWithNothingSetDecodesToDefaults) {
  const Event blank;
  auto decoded = decodeBatch(encodeBatch(5, "a", std::span<const Event>(&blank, 1)));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded->events.size(), 1u);
  expectSameEvent(decoded->events[0], blank);
}

TEST(ProtocolBatch, MissingEventsVectorIsAnEmptyBatch) {
  flatbuffers::FlatBufferBuilder builder;
  const auto agent = builder.CreateString("agent-1");
  fb::EventBatchBuilder b(builder);
  b.add_batch_id(9);
  b.add_agent_id(agent);
  fb::FinishEventBatchBuffer(builder, b.Finish());
  const std::string bytes(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                          builder.GetSize());
  auto decoded = decodeBatch(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->batch_id, 9u);
  EXPECT_EQ(decoded->agent_id, "agent-1");
  EXPECT_TRUE(decoded->events.empty());
}

TEST(ProtocolBatch, ManyEventsRoundTrip) {
  std::vector<Event> events;
  for (uint64_t i = 0; i < 2000; ++i) events.push_back(sampleEvent(i));
  auto decoded = decodeBatch(encodeBatch(1234, "agent-many", events));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded->events.size(), events.size());
  for (size_t i = 0; i < events.size(); i += 97) expectSameEvent(decoded->events[i], events[i]);
  expectSameEvent(decoded->events.back(), events.back());
}

// The spool's reusable encoder must produce exactly what the one-shot
// functions produce, batch after batch, whether the batches grow or shrink
// (its buffers are reused, never re-zeroed).
TEST(ProtocolBatch, ReusedEncoderMatchesOneShotEncodingAcrossBatchSizes) {
  BatchEncoder encoder;
  for (size_t count : {size_t{3}, size_t{800}, size_t{1}, size_t{0}, size_t{250}}) {
    std::vector<Event> events;
    for (uint64_t i = 0; i < count; ++i) events.push_back(sampleEvent(i * 7 + count));
    for (int level : {0, 3}) {
      auto reused = encoder.encode(count, "agent-reuse", events, level);
      ASSERT_TRUE(reused.ok()) << reused.error().message;
      auto one_shot = encodeBatchPayload(count, "agent-reuse", events, level);
      ASSERT_TRUE(one_shot.ok()) << one_shot.error().message;
      EXPECT_EQ(reused->flags, one_shot->flags) << count << " events, level " << level;
      EXPECT_EQ(std::string(reused->bytes), one_shot->bytes) << count << " events, level " << level;
      auto decoded = decodeBatchPayload(reused->bytes, reused->flags, 64u << 20);
      ASSERT_TRUE(decoded.ok()) << decoded.error().message;
      ASSERT_EQ(decoded->events.size(), count);
      if (count > 0) expectSameEvent(decoded->events.back(), events.back());
    }
  }
}

TEST(ProtocolBatch, MisalignedInputIsHandled) {
  std::vector<Event> events = {sampleEvent(3)};
  const std::string bytes = encodeBatch(3, "agent-odd", events);
  std::string shifted = "x" + bytes;
  auto decoded = decodeBatch(std::string_view(shifted).substr(1));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  expectSameEvent(decoded->events.at(0), events[0]);
}

TEST(ProtocolBatch, WrongIdentifierRefused) {
  std::string bytes = encodeBatch(1, "a", {});
  bytes[4] = 'X';
  auto decoded = decodeBatch(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(decoded.error().message.find("EDGB"), std::string::npos) << decoded.error().message;
}

TEST(ProtocolBatch, TooShortRefused) {
  for (std::string_view bytes :
       {std::string_view(), std::string_view("EDGB"), std::string_view("\0\0\0\0EDG", 7)}) {
    auto decoded = decodeBatch(bytes);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
  }
}

TEST(ProtocolBatch, TruncatedBuffersRefused) {
  std::vector<Event> events = {sampleEvent(1), sampleEvent(2)};
  const std::string bytes = encodeBatch(8, "agent-trunc", events);
  // Up to 3 trailing bytes can be alignment padding; anything shorter loses
  // data the tables point at and must fail verification.
  for (size_t len = 0; len + 3 < bytes.size(); ++len) {
    auto decoded = decodeBatch(std::string_view(bytes.data(), len));
    ASSERT_FALSE(decoded.ok()) << "prefix of " << len << " of " << bytes.size()
                               << " bytes accepted";
    EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
  }
}

TEST(ProtocolBatch, FlippedBytesNeverCrashAndStructureDamageIsCaught) {
  std::vector<Event> events = {sampleEvent(1), sampleEvent(2)};
  const std::string bytes = encodeBatch(8, "agent-flip", events);
  size_t refused = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0xff);
    auto decoded = decodeBatch(bad);
    if (!decoded.ok()) {
      ++refused;
      EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
    }
  }
  // Scalars (timestamps, string bytes) may change without breaking the
  // structure, but offsets, lengths and the identifier may not.
  EXPECT_GT(refused, bytes.size() / 10);
  for (size_t i = 0; i < 8; ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0xff);
    EXPECT_FALSE(decodeBatch(bad).ok()) << "flip at " << i;
  }
}

TEST(ProtocolBatch, HugeStringLengthRefused) {
  const std::string bytes = encodeBatch(8, "agent-length-victim", {});
  const size_t pos = bytes.find("agent-length-victim");
  ASSERT_NE(pos, std::string::npos);
  ASSERT_GE(pos, 4u);
  std::string bad = bytes;
  bad[pos - 4] = '\xff';
  bad[pos - 3] = '\xff';
  bad[pos - 2] = '\xff';
  bad[pos - 1] = '\x7f';
  auto decoded = decodeBatch(bad);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
}

// Builds a batch with one event holding the given field tables.
std::string batchWithFields(flatbuffers::FlatBufferBuilder& builder,
                            const std::vector<flatbuffers::Offset<fb::Field>>& fields,
                            uint8_t severity = 6) {
  const auto vec = builder.CreateVector(fields);
  fb::EventBuilder eb(builder);
  eb.add_fields(vec);
  eb.add_severity(severity);
  const auto event = eb.Finish();
  const std::vector<flatbuffers::Offset<fb::Event>> events = {event};
  const auto events_vec = builder.CreateVector(events);
  fb::FinishEventBatchBuffer(builder, fb::CreateEventBatch(builder, 1, 0, events_vec));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

TEST(ProtocolBatch, FieldWithoutRequiredKeyRefused) {
  flatbuffers::FlatBufferBuilder builder;
  // Built by hand: the generated builder would assert on the missing key.
  const auto start = builder.StartTable();
  builder.AddElement<int64_t>(fb::Field::VT_INT_VAL, 5, 0);
  builder.AddElement<uint8_t>(fb::Field::VT_TYPE, 1, 0);
  const flatbuffers::Offset<fb::Field> keyless(builder.EndTable(start));
  auto decoded = decodeBatch(batchWithFields(builder, {keyless}));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
}

TEST(ProtocolBatch, UnknownValueTypeRefused) {
  flatbuffers::FlatBufferBuilder builder;
  const auto key = builder.CreateString("future");
  const auto start = builder.StartTable();
  builder.AddOffset(fb::Field::VT_KEY, key);
  builder.AddElement<uint8_t>(fb::Field::VT_TYPE, 9, 0);
  const flatbuffers::Offset<fb::Field> field(builder.EndTable(start));
  auto decoded = decodeBatch(batchWithFields(builder, {field}));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(decoded.error().message.find("type 9"), std::string::npos) << decoded.error().message;
  EXPECT_NE(decoded.error().message.find("future"), std::string::npos) << decoded.error().message;
}

TEST(ProtocolBatch, SeverityOutOfRangeRefused) {
  flatbuffers::FlatBufferBuilder builder;
  auto decoded = decodeBatch(batchWithFields(builder, {}, 8));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(decoded.error().message.find("severity 8"), std::string::npos)
      << decoded.error().message;
}

TEST(ProtocolBatch, SharedTablesCannotAmplifyMemory) {
  // 100k offsets to one field holding 4 KiB: about 400 KB on the wire, but
  // 400 MB once decoded. The decoder must refuse it up front.
  flatbuffers::FlatBufferBuilder builder;
  const auto key = builder.CreateString("k");
  const auto str = builder.CreateString(std::string(4096, 's'));
  const auto field = fb::CreateField(builder, key, fb::ValueType::String, str);
  const std::vector<flatbuffers::Offset<fb::Field>> fields(100000, field);
  auto decoded = decodeBatch(batchWithFields(builder, fields));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(decoded.error().message.find("memory"), std::string::npos) << decoded.error().message;
}

TEST(ProtocolBatch, QuadraticTableSharingRefusedByVerifier) {
  // 2000 events all pointing at one event that has 2000 fields pointing at
  // one field: 4 million table visits from a buffer of about 16 KB.
  flatbuffers::FlatBufferBuilder builder;
  const auto key = builder.CreateString("k");
  const auto field = fb::CreateField(builder, key, fb::ValueType::Int, 0, 1);
  const auto fields =
      builder.CreateVector(std::vector<flatbuffers::Offset<fb::Field>>(2000, field));
  fb::EventBuilder eb(builder);
  eb.add_fields(fields);
  const auto event = eb.Finish();
  const auto events =
      builder.CreateVector(std::vector<flatbuffers::Offset<fb::Event>>(2000, event));
  fb::FinishEventBatchBuffer(builder, fb::CreateEventBatch(builder, 1, 0, events));
  const std::string bytes(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                          builder.GetSize());
  auto decoded = decodeBatch(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(decoded.error().message.find("verification"), std::string::npos)
      << decoded.error().message;
}

TEST(ProtocolBatchPayload, UncompressedIsTheRawFlatBuffer) {
  std::vector<Event> events = {sampleEvent(10)};
  auto payload = encodeBatchPayload(10, "agent-raw", events, 0);
  ASSERT_TRUE(payload.ok()) << payload.error().message;
  EXPECT_EQ(payload->flags, 0);
  EXPECT_EQ(payload->bytes, encodeBatch(10, "agent-raw", events));
  auto decoded = decodeBatchPayload(payload->bytes, payload->flags, kDefaultMaxDecompressedSize);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  expectSameEvent(decoded->events.at(0), events[0]);
}

TEST(ProtocolBatchPayload, CompressedRoundTrip) {
  std::vector<Event> events;
  for (uint64_t i = 0; i < 500; ++i) events.push_back(sampleEvent(i));
  auto payload = encodeBatchPayload(11, "agent-z", events, 3);
  ASSERT_TRUE(payload.ok()) << payload.error().message;
  EXPECT_EQ(payload->flags, kFlagZstd);
  EXPECT_LT(payload->bytes.size(), encodeBatch(11, "agent-z", events).size() / 3);
  auto decoded = decodeBatchPayload(payload->bytes, payload->flags, kDefaultMaxDecompressedSize);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->batch_id, 11u);
  ASSERT_EQ(decoded->events.size(), events.size());
  expectSameEvent(decoded->events[499], events[499]);
}

TEST(ProtocolBatchPayload, DecompressedBoundApplies) {
  std::vector<Event> events;
  for (uint64_t i = 0; i < 200; ++i) events.push_back(sampleEvent(i));
  const size_t flat_size = encodeBatch(12, "agent-b", events).size();
  auto compressed = encodeBatchPayload(12, "agent-b", events, 3);
  ASSERT_TRUE(compressed.ok());
  auto refused = decodeBatchPayload(compressed->bytes, compressed->flags, flat_size - 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
  EXPECT_TRUE(decodeBatchPayload(compressed->bytes, compressed->flags, flat_size).ok());

  auto raw = encodeBatchPayload(12, "agent-b", events, 0);
  ASSERT_TRUE(raw.ok());
  auto raw_refused = decodeBatchPayload(raw->bytes, raw->flags, flat_size - 1);
  ASSERT_FALSE(raw_refused.ok());
  EXPECT_EQ(raw_refused.error().code, ErrorCode::kTooLarge);
}

TEST(ProtocolBatchPayload, FlagMismatchRefused) {
  std::vector<Event> events = {sampleEvent(1)};
  auto raw = encodeBatchPayload(1, "a", events, 0);
  auto zst = encodeBatchPayload(1, "a", events, 3);
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(zst.ok());
  auto flagged_raw = decodeBatchPayload(raw->bytes, kFlagZstd, 1u << 20);
  ASSERT_FALSE(flagged_raw.ok());
  EXPECT_EQ(flagged_raw.error().code, ErrorCode::kCorrupt);
  auto unflagged_zstd = decodeBatchPayload(zst->bytes, 0, 1u << 20);
  ASSERT_FALSE(unflagged_zstd.ok());
  EXPECT_EQ(unflagged_zstd.error().code, ErrorCode::kCorrupt);
  auto unknown_flag = decodeBatchPayload(raw->bytes, 0x8000, 1u << 20);
  ASSERT_FALSE(unknown_flag.ok());
  EXPECT_EQ(unknown_flag.error().code, ErrorCode::kProtocol);
}

TEST(ProtocolBatchPayload, CompressedGarbageIsCorrupt) {
  // Valid zstd, but what it holds is not an EventBatch.
  auto compressed = zstdCompress(std::string(1000, 'g'), 3);
  ASSERT_TRUE(compressed.ok());
  auto decoded = decodeBatchPayload(*compressed, kFlagZstd, 1u << 20);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace edge::protocol
