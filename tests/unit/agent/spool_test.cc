// Tests of the SQLite spool: seq and batch id assignment across reopen,
// events and positions committed in one transaction, pending/remove/counts,
// agent id persistence, moving unusable files aside (garbage, truncated,
// corrupt pages, foreign or newer schema), the version 1 upgrade, and
// drop_oldest's deletes.
#include "edge/agent/spool.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "edge/protocol/batch.h"
#include "edge/protocol/frame.h"
#include "test_support.h"

namespace edge::agent {
namespace {

using testing::makeEvent;
using testing::TempDir;

class SpoolTest : public ::testing::Test {
 protected:
  std::unique_ptr<Spool> open(const std::string& agent_id = "", int level = 3) {
    SpoolOptions options;
    options.path = dir_.file("spool.db");
    options.agent_id = agent_id;
    options.compression_level = level;
    auto spool = Spool::open(options);
    EXPECT_TRUE(spool.ok()) << (spool.ok() ? "" : spool.error().message);
    return spool.ok() ? std::move(*spool) : nullptr;
  }

  static std::vector<Event> events(int n, const std::string& prefix = "line") {
    std::vector<Event> out;
    for (int i = 0; i < n; ++i) out.push_back(makeEvent(prefix + " " + std::to_string(i)));
    return out;
  }

  // Runs SQL on the spool file through a separate connection.
  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.file("spool.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  TempDir dir_;
};

TEST_F(SpoolTest, AppendAssignsConsecutiveSeqsAndBatchIdsAcrossReopen) {
  std::string agent_id;
  {
    auto spool = open();
    ASSERT_NE(spool, nullptr);
    agent_id = spool->agentId();
    auto first = events(3);
    auto a = spool->append(first, {});
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_EQ(a->batch_id, 1u);
    EXPECT_EQ(a->first_seq, 1u);
    EXPECT_EQ(a->last_seq, 3u);
    EXPECT_EQ(first[0].seq, 1u);
    EXPECT_EQ(first[2].seq, 3u);
    auto second = events(2);
    auto b = spool->append(second, {});
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->batch_id, 2u);
    EXPECT_EQ(b->first_seq, 4u);
    EXPECT_EQ(b->last_seq, 5u);
  }
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->agentId(), agent_id);
  EXPECT_EQ(spool->nextSeq(), 6u);
  EXPECT_EQ(spool->nextBatchId(), 3u);
  auto third = events(1);
  auto c = spool->append(third, {});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->batch_id, 3u);
  EXPECT_EQ(c->first_seq, 6u);

  // The payload is a ready-to-send batch frame payload with the same ids.
  auto pending = spool->pending(0, 10);
  ASSERT_TRUE(pending.ok()) << pending.error().message;
  ASSERT_EQ(pending->size(), 3u);
  const SpooledBatch& second_batch = (*pending)[1];
  EXPECT_EQ(second_batch.batch_id, 2u);
  EXPECT_EQ(second_batch.event_count, 2u);
  EXPECT_EQ(second_batch.first_seq, 4u);
  EXPECT_EQ(second_batch.last_seq, 5u);
  EXPECT_EQ(second_batch.flags, protocol::kFlagZstd);
  auto decoded = protocol::decodeBatchPayload(second_batch.payload, second_batch.flags,
                                              protocol::kDefaultMaxDecompressedSize);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->batch_id, 2u);
  EXPECT_EQ(decoded->agent_id, agent_id);
  ASSERT_EQ(decoded->events.size(), 2u);
  EXPECT_EQ(decoded->events[0].seq, 4u);
  EXPECT_EQ(decoded->events[0].raw, "line 0");
  EXPECT_EQ(decoded->events[1].seq, 5u);
  EXPECT_EQ(decoded->events[1].source, "/var/log/test.log");
}

TEST_F(SpoolTest, UncompressedWhenLevelIsZero) {
  auto spool = open("", 0);
  ASSERT_NE(spool, nullptr);
  auto batch = events(2);
  ASSERT_TRUE(spool->append(batch, {}).ok());
  auto got = spool->get(1);
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->flags, 0);
  auto decoded = protocol::decodeBatchPayload((*got)->payload, (*got)->flags, 1 << 20);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->events.size(), 2u);
}

TEST_F(SpoolTest, PositionsAreCommittedWithTheBatch) {
  std::vector<InputPosition> positions = {
      {"files", "/var/log/a.log", 64769, 1234, 100},
      {"files", "/var/log/b.log", 64769, 5678, 7},
      {"other", "/var/log/a.log", 64769, 1234, 55},
  };
  {
    auto spool = open();
    ASSERT_NE(spool, nullptr);
    auto batch = events(2);
    ASSERT_TRUE(spool->append(batch, positions).ok());
    // A later append moves one position on.
    auto more = events(1);
    InputPosition moved{"files", "/var/log/a.log", 64769, 1234, 150};
    ASSERT_TRUE(spool->append(more, std::vector<InputPosition>{moved}).ok());
  }
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->batchCount(), 2u);
  auto files = spool->loadPositions("files");
  ASSERT_TRUE(files.ok()) << files.error().message;
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0], (InputPosition{"files", "/var/log/a.log", 64769, 1234, 150}));
  EXPECT_EQ((*files)[1], positions[1]);
  auto other = spool->loadPositions("other");
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->size(), 1u);
  EXPECT_EQ((*other)[0].offset, 55u);
  auto none = spool->loadPositions("missing");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(SpoolTest, PositionOnlyAppendStoresNoBatch) {
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  std::vector<Event> none;
  auto r = spool->append(none, std::vector<InputPosition>{{"in", "/x", 1, 2, 3}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->batch_id, 0u);
  EXPECT_EQ(spool->batchCount(), 0u);
  EXPECT_EQ(spool->nextBatchId(), 1u);
  EXPECT_EQ(spool->nextSeq(), 1u);
  auto positions = spool->loadPositions("in");
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 1u);
  EXPECT_EQ((*positions)[0].offset, 3u);
}

TEST_F(SpoolTest, FailedAppendStoresNeitherBatchNorPositions) {
  {
    auto spool = open();
    ASSERT_NE(spool, nullptr);
  }
  // Make the position write fail after the batch row was inserted, inside
  // the same transaction.
  sql("CREATE TRIGGER fail_position BEFORE INSERT ON positions WHEN NEW.path = '/boom' "
      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  auto batch = events(3);
  auto failed = spool->append(
      batch, std::vector<InputPosition>{{"in", "/ok", 1, 1, 10}, {"in", "/boom", 1, 2, 20}});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("injected failure"), std::string::npos)
      << failed.error().message;
  EXPECT_NE(failed.error().message.find(dir_.file("spool.db")), std::string::npos)
      << failed.error().message;
  EXPECT_EQ(spool->batchCount(), 0u);
  EXPECT_EQ(spool->nextSeq(), 1u);
  EXPECT_EQ(spool->nextBatchId(), 1u);
  auto pending = spool->pending(0, 10);
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
  auto positions = spool->loadPositions("in");
  ASSERT_TRUE(positions.ok());
  EXPECT_TRUE(positions->empty()) << "the position before the failing one was rolled back too";

  // The next append reuses the ids that were not committed.
  auto ok = spool->append(batch, std::vector<InputPosition>{{"in", "/ok", 1, 1, 10}});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->batch_id, 1u);
  EXPECT_EQ(ok->first_seq, 1u);
}

TEST_F(SpoolTest, RemoveAllDeletesAckedBatchesTogetherAndSkipsMissingOnes) {
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  for (int n : {1, 2, 3, 4}) {
    auto batch = events(n);
    ASSERT_TRUE(spool->append(batch, {}).ok());
  }
  const std::vector<uint64_t> acked{1, 3, 42};  // 42 was never spooled
  auto removed = spool->removeAll(acked);
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(spool->batchCount(), 2u);
  EXPECT_EQ(spool->eventCount(), 2u + 4u);
  auto rest = spool->pending(0, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].batch_id, 2u);
  EXPECT_EQ((*rest)[1].batch_id, 4u);

  // The counts survive a reopen: they were committed, not just counted.
  spool.reset();
  spool = open();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->batchCount(), 2u);
  EXPECT_EQ(spool->eventCount(), 6u);
  const std::vector<uint64_t> one{2};
  EXPECT_EQ(*spool->removeAll(one), 1u);
  EXPECT_EQ(*spool->removeAll(std::span<const uint64_t>()), 0u);
  EXPECT_EQ(spool->batchCount(), 1u);
}

// Polls until done() (for work on another thread); false after the guard.
bool waitUntil(const std::function<bool()>& done,
               std::chrono::milliseconds guard = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + guard;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Checkpoints run on the spool's own thread (the loop never waits for their
// fsync); they must still happen, or the WAL file would grow without end.
TEST_F(SpoolTest, WalIsCheckpointedOffTheWritersThreadAndStaysBounded) {
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  // Random-looking raw text so zstd cannot shrink it: ~64 KiB per batch,
  // 640 batches = ~40 MiB written without a pause, 2.5 times the 16 MiB
  // (4 x 1000 pages) past which a RESTART checkpoint bounds the WAL.
  uint64_t state = 88172645463325252ull;
  std::vector<uint64_t> ids;
  for (int b = 0; b < 640; ++b) {
    std::vector<Event> batch = events(16);
    for (Event& e : batch) {
      e.raw.clear();
      for (int i = 0; i < 4096; ++i) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        e.raw.push_back(static_cast<char>('a' + state % 26));
      }
    }
    auto appended = spool->append(batch, {});
    ASSERT_TRUE(appended.ok()) << appended.error().message;
    ids.push_back(appended->batch_id);
    if (ids.size() == 8) {  // acked as they would be in flight
      ASSERT_TRUE(spool->removeAll(ids).ok());
      ids.clear();
    }
  }
  EXPECT_TRUE(waitUntil([&] { return spool->walCheckpoints() >= 1; }))
      << "no checkpoint completed";
  // One more commit after a complete checkpoint restarts the WAL from its
  // beginning, so it stops growing.
  std::vector<Event> last = events(1);
  ASSERT_TRUE(spool->append(last, {}).ok());
  const auto wal_bytes = std::filesystem::file_size(dir_.file("spool.db-wal"));
  EXPECT_LT(wal_bytes, 28u << 20) << "the WAL kept every batch: checkpoints did not keep up";
  spool.reset();
  EXPECT_FALSE(std::filesystem::exists(dir_.file("spool.db-wal")))
      << "closing the spool checkpoints and removes the WAL";
}

TEST_F(SpoolTest, PendingRemoveAndCounts) {
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  uint64_t bytes = 0;
  for (int n : {1, 2, 3}) {
    auto batch = events(n);
    auto r = spool->append(batch, {});
    ASSERT_TRUE(r.ok());
    bytes += r->payload_bytes;
  }
  EXPECT_EQ(spool->batchCount(), 3u);
  EXPECT_EQ(spool->eventCount(), 6u);
  EXPECT_EQ(spool->payloadBytes(), bytes);

  auto all = spool->pending(0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].batch_id, 1u);
  EXPECT_EQ((*all)[2].batch_id, 3u);
  auto after_one = spool->pending(1, 1);
  ASSERT_TRUE(after_one.ok());
  ASSERT_EQ(after_one->size(), 1u);
  EXPECT_EQ((*after_one)[0].batch_id, 2u);
  EXPECT_EQ((*after_one)[0].event_count, 2u);

  uint64_t second_bytes = (*all)[1].payload.size();
  auto removed = spool->remove(2);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  auto again = spool->remove(2);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(spool->batchCount(), 2u);
  EXPECT_EQ(spool->eventCount(), 4u);
  EXPECT_EQ(spool->payloadBytes(), bytes - second_bytes);
  auto rest = spool->pending(0, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[1].batch_id, 3u);
  auto gone = spool->get(2);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());

  spool.reset();
  spool = open();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->batchCount(), 2u);
  EXPECT_EQ(spool->eventCount(), 4u);
  EXPECT_EQ(spool->payloadBytes(), bytes - second_bytes);
  ASSERT_TRUE(spool->remove(1).ok());
  ASSERT_TRUE(spool->remove(3).ok());
  EXPECT_EQ(spool->batchCount(), 0u);
  EXPECT_EQ(spool->payloadBytes(), 0u);
  // Ids keep increasing after the spool drained.
  auto batch = events(1);
  auto next = spool->append(batch, {});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->batch_id, 4u);
  EXPECT_EQ(next->first_seq, 7u);
}

TEST_F(SpoolTest, AgentIdIsGeneratedOnceAndKept) {
  std::string id;
  {
    auto spool = open();
    ASSERT_NE(spool, nullptr);
    id = spool->agentId();
  }
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->agentId(), id);

  TempDir other;
  SpoolOptions options;
  options.path = other.file("spool.db");
  auto second = Spool::open(options);
  ASSERT_TRUE(second.ok());
  EXPECT_NE((*second)->agentId(), id);
}

TEST_F(SpoolTest, ConfiguredAgentIdIsStoredButNotOverPendingBatches) {
  {
    auto spool = open("edge-01");
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->agentId(), "edge-01");
    auto batch = events(1);
    ASSERT_TRUE(spool->append(batch, {}).ok());
  }
  {
    auto spool = open();  // no configured id: the stored one
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->agentId(), "edge-01");
  }
  SpoolOptions options;
  options.path = dir_.file("spool.db");
  options.agent_id = "edge-02";
  auto refused = Spool::open(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kConfig);
  EXPECT_NE(refused.error().message.find("edge-01"), std::string::npos) << refused.error().message;
  {
    auto spool = open();
    ASSERT_NE(spool, nullptr);
    ASSERT_TRUE(spool->remove(1).ok());
  }
  auto changed = open("edge-02");
  ASSERT_NE(changed, nullptr);
  EXPECT_EQ(changed->agentId(), "edge-02");
}

// Files in the test directory whose name starts with spool.db.corrupt-.
std::vector<std::string> movedAside(const TempDir& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("spool.db.corrupt-")) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Opens the spool and expects it to have moved the old file aside and
// started fresh (seq 1, no batches).
void expectFreshAfterMovingAside(const TempDir& dir, const std::string& old_content) {
  SpoolOptions options;
  options.path = dir.file("spool.db");
  auto spool = Spool::open(options);
  ASSERT_TRUE(spool.ok()) << spool.error().message;
  EXPECT_EQ((*spool)->batchCount(), 0u);
  EXPECT_EQ((*spool)->nextSeq(), 1u);
  ASSERT_FALSE((*spool)->movedAside().empty());
  std::vector<std::string> aside = movedAside(dir);
  ASSERT_FALSE(aside.empty());
  EXPECT_EQ(dir.file(aside.front()), (*spool)->movedAside());
  if (!old_content.empty()) {
    std::ifstream in((*spool)->movedAside(), std::ios::binary);
    std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(kept, old_content) << "the old file is kept byte for byte";
  }
  // The fresh spool works.
  std::vector<Event> batch{makeEvent("after")};
  auto appended = (*spool)->append(batch, {});
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(appended->first_seq, 1u);
}

TEST_F(SpoolTest, GarbageFileIsMovedAsideAndAFreshSpoolStarted) {
  std::string garbage = "these are not the bytes you are looking for\n";
  testing::writeFile(dir_.file("spool.db"), garbage);
  testing::writeFile(dir_.file("spool.db-wal"), "stale wal bytes");
  expectFreshAfterMovingAside(dir_, garbage);
  std::vector<std::string> aside = movedAside(dir_);
  ASSERT_EQ(aside.size(), 2u);
  EXPECT_TRUE(aside[1].ends_with("-wal")) << aside[1];
}

TEST_F(SpoolTest, RefusesUnusableFilesWhenMovingAsideIsOff) {
  testing::writeFile(dir_.file("spool.db"), "these are not the bytes you are looking for\n");
  SpoolOptions options;
  options.path = dir_.file("spool.db");
  options.move_aside_unusable = false;
  auto spool = Spool::open(options);
  ASSERT_FALSE(spool.ok());
  EXPECT_EQ(spool.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(spool.error().message.find(options.path), std::string::npos) << spool.error().message;
  EXPECT_TRUE(movedAside(dir_).empty());
}

TEST_F(SpoolTest, AnotherSqliteDatabaseIsMovedAside) {
  sql("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);");
  expectFreshAfterMovingAside(dir_, "");
}

TEST_F(SpoolTest, NewerSchemaIsMovedAside) {
  {
    auto spool = open();
    ASSERT_NE(spool, nullptr);
    auto batch = events(3);
    ASSERT_TRUE(spool->append(batch, {}).ok());
  }
  sql("UPDATE meta SET value = 99 WHERE key = 'schema_version';");
  expectFreshAfterMovingAside(dir_, "");
  // The moved file still holds the old batches for inspection.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.file(movedAside(dir_).front()).c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM batches", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(SpoolTest, TruncatedFileIsMovedAside) {
  {
    auto spool = open("", 0);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 50; ++i) {
      auto batch = events(20, std::string(200, 'x'));
      ASSERT_TRUE(spool->append(batch, {}).ok());
    }
  }
  ASSERT_FALSE(std::filesystem::exists(dir_.file("spool.db-wal")))
      << "closing checkpoints the WAL into the file";
  uintmax_t size = std::filesystem::file_size(dir_.file("spool.db"));
  ASSERT_GT(size, 100000u);
  std::filesystem::resize_file(dir_.file("spool.db"), size / 2);
  expectFreshAfterMovingAside(dir_, "");
}

TEST_F(SpoolTest, CorruptPagesAreMovedAside) {
  {
    auto spool = open("", 0);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 50; ++i) {
      auto batch = events(20, std::string(200, 'x'));
      ASSERT_TRUE(spool->append(batch, {}).ok());
    }
  }
  // Overwrite a few interior pages (past the schema page) with noise.
  {
    std::fstream f(dir_.file("spool.db"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 3);
    std::string noise(4096 * 4, '\x5a');
    f.write(noise.data(), static_cast<std::streamsize>(noise.size()));
  }
  expectFreshAfterMovingAside(dir_, "");
}

TEST_F(SpoolTest, UpgradesASchemaVersion1SpoolInPlace) {
  {
    auto spool = open();
    ASSERT_NE(spool, nullptr);
    auto batch = events(2);
    ASSERT_TRUE(spool->append(batch, {}).ok());
  }
  // What version 1 looked like: no input column, no index.
  sql("DROP INDEX batches_by_input; ALTER TABLE batches DROP COLUMN input;"
      "UPDATE meta SET value = 1 WHERE key = 'schema_version';");
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  EXPECT_TRUE(spool->movedAside().empty());
  EXPECT_EQ(spool->batchCount(), 1u);
  EXPECT_EQ(spool->nextSeq(), 3u);
  auto batch = events(1);
  ASSERT_TRUE(spool->append(batch, {}, "in").ok());
}

TEST_F(SpoolTest, DropOldestDeletesTheInputsOldestBatchesSkippingInFlight) {
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  for (const char* input : {"a", "b", "a", "a", "b"}) {
    auto batch = events(3);
    ASSERT_TRUE(spool->append(batch, {}, input).ok());
  }
  // Batches of a: 1, 3, 4; batch 1 is in flight.
  auto dropped = spool->dropOldest("a", 1, [](uint64_t id) { return id == 1; });
  ASSERT_TRUE(dropped.ok()) << dropped.error().message;
  EXPECT_EQ(dropped->batches, 1u);
  EXPECT_EQ(dropped->events, 3u);
  EXPECT_EQ(spool->batchCount(), 4u);
  EXPECT_EQ(spool->eventCount(), 12u);
  auto pending = spool->pending(0, 10);
  ASSERT_TRUE(pending.ok());
  std::vector<uint64_t> ids;
  for (const SpooledBatch& b : *pending) ids.push_back(b.batch_id);
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 4, 5}));
  // Enough bytes to need everything: only 4 is left to take.
  dropped = spool->dropOldest("a", UINT64_MAX, [](uint64_t id) { return id == 1; });
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->batches, 1u);
  dropped = spool->dropOldest("a", UINT64_MAX, [](uint64_t id) { return id == 1; });
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->batches, 0u);
}

TEST_F(SpoolTest, ForgottenPositionsAreDeleted) {
  auto spool = open();
  ASSERT_NE(spool, nullptr);
  std::vector<InputPosition> positions{{"in", "/a", 1, 2, 10}, {"in", "/b", 1, 3, 20}};
  ASSERT_TRUE(spool->append({}, positions).ok());
  InputPosition gone{"in", "/a", 1, 2, 0, true};
  ASSERT_TRUE(spool->append({}, std::vector<InputPosition>{gone}).ok());
  auto loaded = spool->loadPositions("in");
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].path, "/b");
}

TEST_F(SpoolTest, UsesWalAndCreatesItsDirectory) {
  SpoolOptions options;
  options.path = dir_.path() + "/nested/dir/spool.db";
  options.synchronous_full = true;
  auto spool = Spool::open(options);
  ASSERT_TRUE(spool.ok()) << spool.error().message;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace edge::agent
