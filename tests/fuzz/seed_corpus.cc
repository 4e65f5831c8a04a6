// Writes the committed seed corpora of the fuzz targets:
//   fuzz_seed_corpus <frame_decoder corpus dir> <batch_decoder corpus dir>
// Valid frames and batches of every kind plus the edge cases the decoders
// must refuse, so fuzzing starts deep inside both parsers. Rebuild with the
// `fuzz_regenerate_seeds` target after a protocol change.
#include <flatbuffers/flatbuffers.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "edge/protocol/batch.h"
#include "edge/protocol/compression.h"
#include "edge/protocol/control.h"
#include "edge/protocol/event_batch_generated.h"
#include "edge/protocol/frame.h"

namespace {

using edge::protocol::FrameType;
namespace fb = edge::fb;

void write(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

std::string unwrap(edge::Result<std::string> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

std::vector<edge::Event> sampleEvents(size_t n) {
  std::vector<edge::Event> events;
  for (size_t i = 0; i < n; ++i) {
    edge::Event e;
    e.ts_ns = 1700000000000000000 + static_cast<int64_t>(i) * 1000;
    e.seq = 100 + i;
    e.kind = i % 2 == 0 ? "log" : "syslog";
    e.source = "/var/log/auth.log";
    e.host = "edge-01";
    e.severity = static_cast<edge::Severity>(i % 8);
    e.raw = "sshd[42]: Accepted publickey for alice from 10.0.0." + std::to_string(i);
    e.fields.push_back(edge::Field{"user", std::string("alice")});
    e.fields.push_back(edge::Field{"port", int64_t{22}});
    e.fields.push_back(edge::Field{"score", 0.5 + static_cast<double>(i)});
    e.fields.push_back(edge::Field{"success", i % 3 != 0});
    events.push_back(std::move(e));
  }
  return events;
}

std::string finished(flatbuffers::FlatBufferBuilder& builder) {
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

// One event whose fields are given tables (possibly malformed).
std::string batchWithFields(flatbuffers::FlatBufferBuilder& builder,
                            const std::vector<flatbuffers::Offset<fb::Field>>& fields,
                            uint8_t severity) {
  const auto vec = builder.CreateVector(fields);
  fb::EventBuilder eb(builder);
  eb.add_fields(vec);
  eb.add_severity(severity);
  eb.add_seq(1);
  const std::vector<flatbuffers::Offset<fb::Event>> events = {eb.Finish()};
  const auto events_vec = builder.CreateVector(events);
  fb::FinishEventBatchBuffer(builder, fb::CreateEventBatch(builder, 1, 0, events_vec));
  return finished(builder);
}

std::string rawHeader(uint8_t m0, uint8_t m1, uint8_t version, uint8_t type, uint16_t flags,
                      uint16_t reserved, uint32_t length) {
  const char h[] = {static_cast<char>(m0),
                    static_cast<char>(m1),
                    static_cast<char>(version),
                    static_cast<char>(type),
                    static_cast<char>(flags >> 8),
                    static_cast<char>(flags & 0xff),
                    static_cast<char>(reserved >> 8),
                    static_cast<char>(reserved & 0xff),
                    static_cast<char>(length >> 24),
                    static_cast<char>((length >> 16) & 0xff),
                    static_cast<char>((length >> 8) & 0xff),
                    static_cast<char>(length & 0xff)};
  return std::string(h, sizeof h);
}

void batchSeeds(const std::string& dir) {
  const auto events = sampleEvents(3);
  const std::string raw = edge::protocol::encodeBatch(7, "agent-seed", events);
  write(dir, "empty_batch", edge::protocol::encodeBatch(0, "", {}));
  write(dir, "one_event", edge::protocol::encodeBatch(1, "agent-seed", std::span(events).first(1)));
  write(dir, "three_events", raw);
  write(dir, "three_events.zst", unwrap(edge::protocol::zstdCompress(raw, 3)));
  write(dir, "blank_event", edge::protocol::encodeBatch(2, "a", std::vector<edge::Event>(1)));
  write(dir, "truncated", raw.substr(0, raw.size() / 2));
  write(dir, "truncated.zst", unwrap(edge::protocol::zstdCompress(raw, 3)).substr(0, 20));
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto agent = builder.CreateString("agent-no-events");
    fb::EventBatchBuilder b(builder);
    b.add_batch_id(3);
    b.add_agent_id(agent);
    fb::FinishEventBatchBuffer(builder, b.Finish());
    write(dir, "no_events_vector", finished(builder));
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto start = builder.StartTable();
    builder.AddElement<uint8_t>(fb::Field::VT_TYPE, 1, 0);
    builder.AddElement<int64_t>(fb::Field::VT_INT_VAL, 5, 0);
    write(dir, "keyless_field",
          batchWithFields(builder, {flatbuffers::Offset<fb::Field>(builder.EndTable(start))}, 6));
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto key = builder.CreateString("future");
    const auto start = builder.StartTable();
    builder.AddOffset(fb::Field::VT_KEY, key);
    builder.AddElement<uint8_t>(fb::Field::VT_TYPE, 9, 0);
    write(dir, "unknown_value_type",
          batchWithFields(builder, {flatbuffers::Offset<fb::Field>(builder.EndTable(start))}, 6));
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    write(dir, "bad_severity", batchWithFields(builder, {}, 9));
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto key = builder.CreateString("k");
    const auto str = builder.CreateString(std::string(256, 's'));
    const auto field = fb::CreateField(builder, key, fb::ValueType::String, str);
    write(dir, "shared_fields",
          batchWithFields(builder, std::vector<flatbuffers::Offset<fb::Field>>(64, field), 6));
  }
  std::string wrong_id = raw;
  wrong_id[4] = 'X';
  write(dir, "wrong_identifier", wrong_id);
}

void frameSeeds(const std::string& dir) {
  edge::wire::Hello hello;
  hello.set_protocol_version(edge::protocol::kProtocolVersion);
  hello.set_agent_id("agent-seed");
  hello.set_agent_version("0.1.0");
  hello.set_hostname("edge-01");
  hello.add_capabilities("zstd");
  write(dir, "hello", edge::protocol::encodeControlFrame(FrameType::kHello, hello));

  edge::wire::Welcome welcome;
  welcome.set_session_id("session-1");
  welcome.set_gateway_id("gw-1");
  welcome.set_credit_batches(16);
  welcome.set_credit_bytes(16u << 20);
  welcome.set_max_frame_bytes(edge::protocol::kDefaultMaxFrameSize);
  welcome.set_heartbeat_interval_ms(10000);
  (*welcome.mutable_policy())["batch_max_events"] = "1000";
  write(dir, "welcome", edge::protocol::encodeControlFrame(FrameType::kWelcome, welcome));

  edge::wire::Ack ack;
  auto* ok = ack.add_entries();
  ok->set_batch_id(7);
  ok->set_status(edge::wire::ACK_STATUS_OK);
  auto* retry = ack.add_entries();
  retry->set_batch_id(8);
  retry->set_status(edge::wire::ACK_STATUS_RETRY);
  retry->set_reason("sink kafka unavailable");
  write(dir, "ack", edge::protocol::encodeControlFrame(FrameType::kAck, ack));

  edge::wire::Credit credit;
  credit.set_batches(4);
  credit.set_bytes(4u << 20);
  write(dir, "credit", edge::protocol::encodeControlFrame(FrameType::kCredit, credit));
  write(dir, "credit_empty",
        edge::protocol::encodeControlFrame(FrameType::kCredit, edge::wire::Credit()));

  edge::wire::Heartbeat heartbeat;
  heartbeat.set_agent_version("0.1.0");
  heartbeat.set_uptime_s(3600);
  heartbeat.set_spool_batches(2);
  auto* input = heartbeat.add_inputs();
  input->set_name("auth");
  input->set_type("tail");
  input->set_events_read(1234);
  write(dir, "heartbeat", edge::protocol::encodeControlFrame(FrameType::kHeartbeat, heartbeat));

  edge::wire::Goaway goaway;
  goaway.set_reason("draining for upgrade");
  goaway.set_reconnect_after_ms(1000);
  write(dir, "goaway", edge::protocol::encodeControlFrame(FrameType::kGoaway, goaway));

  edge::wire::Error error;
  error.set_code(edge::wire::ERROR_CODE_UNSUPPORTED_VERSION);
  error.set_reason("unsupported protocol version 2");
  write(dir, "error", edge::protocol::encodeControlFrame(FrameType::kError, error));

  const auto events = sampleEvents(3);
  const std::string raw_batch = edge::protocol::encodeBatch(7, "agent-seed", events);
  const std::string batch_frame = edge::protocol::encodeFrame(FrameType::kBatch, 0, raw_batch);
  write(dir, "batch_raw", batch_frame);
  const std::string zstd_frame =
      edge::protocol::encodeFrame(FrameType::kBatch, edge::protocol::kFlagZstd,
                                  unwrap(edge::protocol::zstdCompress(raw_batch, 3)));
  write(dir, "batch_zstd", zstd_frame);
  write(
      dir, "batch_zstd_garbage",
      edge::protocol::encodeFrame(FrameType::kBatch, edge::protocol::kFlagZstd, "not zstd at all"));

  std::string session = edge::protocol::encodeControlFrame(FrameType::kHello, hello);
  session += zstd_frame;
  edge::protocol::appendControlFrame(session, FrameType::kHeartbeat, heartbeat);
  session += batch_frame;
  write(dir, "session", session);

  write(dir, "truncated_batch", batch_frame.substr(0, batch_frame.size() - 5));
  write(dir, "oversized_length", rawHeader(0x45, 0x44, 1, 16, 0, 0, 0x7fffffff));
  write(dir, "wrong_version", rawHeader(0x45, 0x44, 2, 1, 0, 0, 0));
  write(dir, "bad_magic", "GET / HTTP/1.1\r\nHost: gateway\r\n\r\n");
  write(dir, "unknown_flags", rawHeader(0x45, 0x44, 1, 4, 0x0002, 0, 0));
  write(dir, "reserved_bits", rawHeader(0x45, 0x44, 1, 5, 0, 1, 0));
  write(dir, "unknown_type", rawHeader(0x45, 0x44, 1, 8, 0, 0, 0));
  write(dir, "good_then_bad",
        edge::protocol::encodeControlFrame(FrameType::kCredit, credit) +
            rawHeader(0x45, 0x44, 1, 99, 0, 0, 0));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <frame_decoder corpus dir> <batch_decoder corpus dir>\n",
                 argv[0]);
    return 2;
  }
  frameSeeds(argv[1]);
  batchSeeds(argv[2]);
  return 0;
}
