// Tests of the file input on real temporary files: appends, partial lines,
// CRLF, long lines, truncation, rotation by rename, start_at end, resuming
// from a saved position, delivery limits and pausing. The input is driven
// by pollNow() so every step is deterministic.
#include "inputs/in_file/file_input.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "test_support.h"

namespace edge::agent {
namespace {

using testing::TempDir;
using testing::writeFile;

// Records deliveries, and keeps the latest position per path as a spool
// would after committing them.
class RecordingSink : public InputSink {
 public:
  void deliver(std::string_view input, std::vector<Event>&& events,
               std::vector<InputPosition>&& positions) override {
    EXPECT_EQ(input, "files");
    deliveries.push_back(events.size());
    for (Event& event : events) lines.push_back(std::move(event));
    for (InputPosition& pos : positions) {
      if (pos.forget) {
        committed.erase(pos.path);
        forgotten.push_back(pos.path);
      } else {
        committed[pos.path] = pos;
      }
    }
    last_positions = positions;
  }
  std::vector<std::string> raw() const {
    std::vector<std::string> out;
    for (const Event& event : lines) out.push_back(event.raw);
    return out;
  }
  std::vector<Event> lines;
  std::vector<size_t> deliveries;
  std::map<std::string, InputPosition> committed;
  std::vector<std::string> forgotten;
  std::vector<InputPosition> last_positions;
};

class FileInputTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    for (auto& input : inputs_) input->close();
    testing::closeLoop(&loop_);
    inputs_.clear();
  }

  FileInput& makeInput(FileInputConfig config, std::vector<InputPosition> saved = {},
                       DeliveryLimits limits = DeliveryLimits{}) {
    config.name = "files";
    inputs_.push_back(
        std::make_unique<FileInput>(&loop_, config, "test-host", limits, sink_, metrics_));
    FileInput& input = *inputs_.back();
    input.setRescanInterval(std::chrono::milliseconds(0));
    input.setClock([this] { return now_ms_; });
    EXPECT_TRUE(input.start(std::move(saved)).ok());
    return input;
  }

  FileInputConfig config(const std::string& path) {
    FileInputConfig c;
    c.paths = {path};
    c.poll_interval = std::chrono::milliseconds(10);
    // Time-based behaviour is off unless a test turns it on with its clock.
    c.partial_line_timeout = std::chrono::milliseconds(0);
    c.rotate_wait = std::chrono::milliseconds(0);
    return c;
  }

  static InputStats statsOf(const FileInput& input) { return input.stats(); }

  uint64_t inodeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_ino);
  }

  uv_loop_t loop_{};
  uint64_t now_ms_ = 1000000;  // the inputs' clock, advanced by hand
  MetricsRegistry metrics_;
  RecordingSink sink_;
  TempDir dir_;
  std::vector<std::unique_ptr<FileInput>> inputs_;
};

using Lines = std::vector<std::string>;

TEST_F(FileInputTest, ReadsAppendedLines) {
  std::string path = dir_.file("app.log");
  writeFile(path, "first\nsecond\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"first", "second"}));
  EXPECT_EQ(sink_.committed[path].offset, 13u);
  EXPECT_EQ(sink_.committed[path].inode, inodeOf(path));

  writeFile(path, "third\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"first", "second", "third"}));
  EXPECT_EQ(sink_.committed[path].offset, 19u);

  const Event& event = sink_.lines[0];
  EXPECT_EQ(event.kind, "log");
  EXPECT_EQ(event.source, path);
  EXPECT_EQ(event.host, "test-host");
  EXPECT_GT(event.ts_ns, 1600000000LL * 1000000000LL);
  const FieldValue* field = event.findField("path");
  ASSERT_NE(field, nullptr);
  EXPECT_EQ(std::get<std::string>(*field), path);
  EXPECT_EQ(statsOf(input).events_read, 3u);
  EXPECT_NE(metrics_.renderPrometheus().find("edge_agent_events_read_total{input=\"files\"} 3"),
            std::string::npos)
      << metrics_.renderPrometheus();
}

TEST_F(FileInputTest, PartialLastLineIsCompletedLater) {
  std::string path = dir_.file("app.log");
  writeFile(path, "whole\nhal");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"whole"}));
  EXPECT_EQ(sink_.committed[path].offset, 6u) << "the position stops before the partial line";
  writeFile(path, "f line\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"whole", "half line"}));
  EXPECT_EQ(sink_.committed[path].offset, 16u);
}

TEST_F(FileInputTest, StripsCarriageReturnsOfCrlfLines) {
  std::string path = dir_.file("app.log");
  writeFile(path, "dos line\r\nkeeps\rinner\r\n\r\nlast\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"dos line", "keeps\rinner", "", "last"}));
}

TEST_F(FileInputTest, TruncatesLongLinesAndCountsThem) {
  std::string path = dir_.file("app.log");
  FileInputConfig c = config(path);
  c.max_line_bytes = 16;
  writeFile(path, std::string(100, 'x') + "\nshort\n" + std::string(16, 'y') + "\r\n");
  FileInput& input = makeInput(c);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{std::string(16, 'x'), "short", std::string(16, 'y')}));
  EXPECT_EQ(statsOf(input).lines_truncated, 1u);
  EXPECT_EQ(sink_.committed[path].offset, 101u + 6u + 18u);

  // A long line arriving in pieces over several polls.
  writeFile(path, std::string(10, 'a'));
  input.pollNow();
  writeFile(path, std::string(10, 'b'));
  input.pollNow();
  writeFile(path, std::string(10, 'c') + "\nend\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw().size(), 5u);
  EXPECT_EQ(sink_.raw()[3], std::string(10, 'a') + std::string(6, 'b'));
  EXPECT_EQ(sink_.raw()[4], "end");
  EXPECT_EQ(statsOf(input).lines_truncated, 2u);
  EXPECT_NE(metrics_.renderPrometheus().find("edge_agent_lines_truncated_total{input=\"files\"} 2"),
            std::string::npos);
}

TEST_F(FileInputTest, TruncationDoesNotSplitUtf8Characters) {
  std::string path = dir_.file("app.log");
  FileInputConfig c = config(path);
  c.max_line_bytes = 16;
  // "é" is two bytes; the 16-byte cut would fall inside the 8th one.
  std::string line = "a";
  for (int i = 0; i < 10; ++i) line += "\xc3\xa9";
  writeFile(path, line + "\n");
  FileInput& input = makeInput(c);
  input.pollNow();
  ASSERT_EQ(sink_.raw().size(), 1u);
  EXPECT_EQ(sink_.raw()[0], line.substr(0, 15));
}

TEST_F(FileInputTest, StartsOverWhenTheFileIsTruncated) {
  std::string path = dir_.file("app.log");
  writeFile(path, "one\ntwo\nthree\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"one", "two", "three"}));
  writeFile(path, "new\n", /*append=*/false);  // copytruncate-style
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"one", "two", "three", "new"}));
  EXPECT_EQ(sink_.committed[path].offset, 4u);
}

TEST_F(FileInputTest, FollowsRotationByRename) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a\nb\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  uint64_t old_inode = inodeOf(path);
  // Written before the rotation but not yet read: must not be lost.
  writeFile(path, "c\nunterminated");
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  writeFile(path, "d\n");
  uint64_t new_inode = inodeOf(path);
  ASSERT_NE(old_inode, new_inode);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "b", "c", "unterminated", "d"}));
  EXPECT_EQ(sink_.committed[path].inode, new_inode);
  EXPECT_EQ(sink_.committed[path].offset, 2u);
  writeFile(path, "e\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw().back(), "e");
  EXPECT_EQ(sink_.committed[path].offset, 4u);
}

TEST_F(FileInputTest, RenamedAwayWithoutReplacementThenRecreated) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  writeFile(path, "b\n");
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "b"}));
  writeFile(path, "c\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "b", "c"}));
  EXPECT_EQ(sink_.committed[path].inode, inodeOf(path));
}

TEST_F(FileInputTest, StartAtEndSkipsExistingLinesButReadsNewFilesWhole) {
  std::string path = dir_.file("app.log");
  writeFile(path, "old1\nold2\npart");
  FileInputConfig c = config(dir_.path() + "/*.log");
  c.start_at = StartAt::kEnd;
  FileInput& input = makeInput(c);
  input.pollNow();
  EXPECT_TRUE(sink_.lines.empty());
  // The start position is recorded so a restart does not skip lines.
  EXPECT_EQ(sink_.committed[path].offset, 10u);
  writeFile(path, "ial\nnew\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"partial", "new"}));

  // A file appearing after start is read from its beginning.
  std::string later = dir_.file("later.log");
  writeFile(later, "early line\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"partial", "new", "early line"}));
}

TEST_F(FileInputTest, ResumesFromASavedPosition) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a\nb\nc\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  InputPosition saved{"files", path, static_cast<uint64_t>(st.st_dev),
                      static_cast<uint64_t>(st.st_ino), 2};
  FileInputConfig c = config(path);
  c.start_at = StartAt::kEnd;  // a saved position wins over start_at
  FileInput& input = makeInput(c, {saved});
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"b", "c"}));
}

TEST_F(FileInputTest, SavedPositionOfAnotherFileIsIgnored) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a\nb\n");
  InputPosition saved{"files", path, 1, inodeOf(path) + 1, 2};  // rotated while stopped
  FileInput& input = makeInput(config(path), {saved});
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "b"}));
}

TEST_F(FileInputTest, RestartInsideAPartialLineReadsTheLineOnce) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a\nhal");
  {
    FileInput& first = makeInput(config(path));
    first.pollNow();
    first.close();
  }
  ASSERT_EQ(sink_.raw(), (Lines{"a"}));
  InputPosition committed = sink_.committed[path];
  writeFile(path, "f\n");
  FileInput& second = makeInput(config(path), {committed});
  second.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "half"}));
}

TEST_F(FileInputTest, DeliveriesRespectTheLimitsAndEndOnLineBoundaries) {
  std::string path = dir_.file("app.log");
  std::string text;
  for (int i = 0; i < 10; ++i) text += "line" + std::to_string(i) + "\n";  // 6 bytes each
  writeFile(path, text);
  class Sink : public InputSink {
   public:
    explicit Sink(std::vector<std::pair<size_t, uint64_t>>& out) : out_(out) {}
    void deliver(std::string_view, std::vector<Event>&& events,
                 std::vector<InputPosition>&& pos) override {
      ASSERT_EQ(pos.size(), 1u);
      if (!events.empty()) {
        EXPECT_EQ(pos[0].offset, 6 * (std::stoul(events.back().raw.substr(4)) + 1))
            << "position after last line";
      }
      out_.emplace_back(events.size(), pos[0].offset);
    }

   private:
    std::vector<std::pair<size_t, uint64_t>>& out_;
  };
  std::vector<std::pair<size_t, uint64_t>> deliveries;
  Sink sink(deliveries);
  FileInputConfig c = config(path);
  c.name = "files";
  FileInput input(&loop_, c, "h", DeliveryLimits{3, 1 << 20}, sink, metrics_);
  ASSERT_TRUE(input.start({}).ok());
  input.pollNow();
  input.close();
  uv_run(&loop_, UV_RUN_DEFAULT);  // finish the close before `input` goes away
  ASSERT_EQ(deliveries.size(), 4u);
  EXPECT_EQ(deliveries[0], (std::pair<size_t, uint64_t>{3, 18}));
  EXPECT_EQ(deliveries[3], (std::pair<size_t, uint64_t>{1, 60}));
}

TEST_F(FileInputTest, PauseStopsReadingUntilResumed) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a\n");
  FileInputConfig c = config(path);
  FileInput& input = makeInput(c);
  input.pause();
  input.pollNow();
  EXPECT_TRUE(sink_.lines.empty());
  input.resume();
  // Resuming schedules a poll on the loop.
  EXPECT_TRUE(testing::runUntil(&loop_, [&] { return sink_.lines.size() == 1; }));
}

TEST_F(FileInputTest, PollsOnItsTimerAndFindsNewFiles) {
  FileInputConfig c = config(dir_.path() + "/*.log");
  makeInput(c);
  writeFile(dir_.file("one.log"), "1\n");
  writeFile(dir_.file("two.log"), "2\n");
  writeFile(dir_.file("ignored.txt"), "x\n");
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return sink_.lines.size() >= 2; }));
  writeFile(dir_.file("one.log"), "3\n");
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return sink_.lines.size() >= 3; }));
  EXPECT_EQ(sink_.raw(), (Lines{"1", "2", "3"}));
}

TEST_F(FileInputTest, MissingFilesAreWatchedUntilTheyAppear) {
  std::string path = dir_.file("later.log");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  EXPECT_TRUE(sink_.lines.empty());
  EXPECT_EQ(statsOf(input).errors, 0u);
  writeFile(path, "here\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"here"}));
}

// --- multiline -------------------------------------------------------------

const char* kJavaTrace =
    "2024-05-01 10:00:00 ERROR request failed\n"
    "java.lang.IllegalStateException: boom\n"
    "\tat com.example.Service.handle(Service.java:42)\n"
    "\tat com.example.Server.run(Server.java:7)\n"
    "Caused by: java.io.IOException: disk\n"
    "\t... 2 more\n";

TEST_F(FileInputTest, MultilineJoinsAStackTraceIntoOneEvent) {
  std::string path = dir_.file("app.log");
  FileInputConfig c = config(path);
  c.multiline.start_pattern = "^\\d{4}-";
  writeFile(path, std::string("2024-05-01 09:59:59 INFO starting\n") + kJavaTrace +
                      "2024-05-01 10:00:01 INFO next\n");
  FileInput& input = makeInput(c);
  input.pollNow();
  // The last record may still grow: it waits for the next start line or
  // the timeout, and the position stays before it.
  std::string trace(kJavaTrace);
  trace.pop_back();
  ASSERT_EQ(sink_.raw(), (Lines{"2024-05-01 09:59:59 INFO starting", trace}));
  uint64_t before_last = 34 + std::string(kJavaTrace).size();
  EXPECT_EQ(sink_.committed[path].offset, before_last);
  EXPECT_EQ(statsOf(input).events_read, 2u);

  now_ms_ += 999;
  input.pollNow();
  EXPECT_EQ(sink_.lines.size(), 2u) << "not yet at multiline.timeout (1s)";
  now_ms_ += 1;
  input.pollNow();
  ASSERT_EQ(sink_.lines.size(), 3u);
  EXPECT_EQ(sink_.lines[2].raw, "2024-05-01 10:00:01 INFO next");
  EXPECT_EQ(sink_.committed[path].offset, before_last + 30);
}

TEST_F(FileInputTest, MultilineRestartInsideARecordReadsItWhole) {
  std::string path = dir_.file("app.log");
  FileInputConfig c = config(path);
  c.multiline.start_pattern = "^\\S";
  writeFile(path, "first\nsecond\n  cont 1\n");
  {
    FileInput& input = makeInput(c);
    input.pollNow();
    input.close();
  }
  ASSERT_EQ(sink_.raw(), (Lines{"first"}));
  InputPosition committed = sink_.committed[path];
  EXPECT_EQ(committed.offset, 6u);
  writeFile(path, "  cont 2\nthird\n");
  FileInput& second = makeInput(c, {committed});
  second.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"first", "second\n  cont 1\n  cont 2"}));
}

TEST_F(FileInputTest, MultilineCutsRecordsAtMaxLinesAndMaxBytes) {
  std::string path = dir_.file("app.log");
  FileInputConfig c = config(path);
  c.multiline.start_pattern = "^start";
  c.multiline.max_lines = 3;
  c.multiline.max_bytes = 20;
  writeFile(path, "start\n a\n b\n c\nstart " + std::string(30, 'x') + "\nstart\n");
  FileInput& input = makeInput(c);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"start\n a\n b", " c", "start " + std::string(14, 'x')}));
  EXPECT_EQ(statsOf(input).lines_truncated, 1u);
}

TEST_F(FileInputTest, MultilineFlushesTheLastRecordWhenTheFileIsRotated) {
  std::string path = dir_.file("app.log");
  FileInputConfig c = config(path);
  c.multiline.start_pattern = "^\\S";
  writeFile(path, "a\n b\nc\n d");
  FileInput& input = makeInput(c);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a\n b"}));
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a\n b", "c\n d"}));
}

// --- unterminated lines and CRLF -------------------------------------------------

TEST_F(FileInputTest, UnterminatedLastLineIsEmittedAfterPartialLineTimeout) {
  std::string path = dir_.file("app.log");
  FileInputConfig c = config(path);
  c.partial_line_timeout = std::chrono::milliseconds(5000);
  writeFile(path, "one\r\nno newline\r");
  FileInput& input = makeInput(c);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"one"}));
  now_ms_ += 4999;
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"one"}));
  now_ms_ += 1;
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"one", "no newline\r"}));
  EXPECT_EQ(sink_.committed[path].offset, 16u);
  // What the writer appends later is a new line.
  writeFile(path, "more\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw().back(), "more");
}

// --- rotation, truncation, deletion ------------------------------------------------

TEST_F(FileInputTest, CopytruncateReadsTheRestFromTheRotatedCopy) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a1\na2\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  // Written after our last read, then copied and truncated (logrotate's
  // copytruncate), then the writer goes on.
  writeFile(path, "a3\na4 part");
  std::filesystem::copy_file(path, path + ".1");
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  writeFile(path, "b1\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a1", "a2", "a3", "a4 part", "b1"}));
  EXPECT_EQ(sink_.committed[path].offset, 3u);
}

TEST_F(FileInputTest, CopytruncateIsSeenEvenWhenTheFileRegrewPastTheOffset) {
  std::string path = dir_.file("app.log");
  writeFile(path, "old line 1\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  std::filesystem::copy_file(path, path + ".1");
  writeFile(path, "new line 1\nnew line 2\n", /*append=*/false);  // longer than before
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"old line 1", "new line 1", "new line 2"}));
}

TEST_F(FileInputTest, CopytruncateWithoutACopyStartsOver) {
  std::string path = dir_.file("app.log");
  writeFile(path, "x1\nx2\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  writeFile(path, "y\n", /*append=*/false);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"x1", "x2", "y"}));
}

TEST_F(FileInputTest, RotatedFileIsDrainedForRotateWait) {
  std::string path = dir_.file("app.log");
  FileInputConfig c = config(path);
  c.rotate_wait = std::chrono::milliseconds(5000);
  writeFile(path, "a\n");
  FileInput& input = makeInput(c);
  input.pollNow();
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  writeFile(path, "new 1\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "new 1"}));
  // The writer has not reopened yet and appends to the renamed file.
  writeFile(path + ".1", "late\n");
  now_ms_ += 1000;
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "new 1", "late"}));
  EXPECT_EQ(sink_.committed[path].inode, inodeOf(path)) << "the path's position is the new file's";
  now_ms_ += 5000;
  input.pollNow();
  writeFile(path + ".1", "too late\n");
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "new 1", "late"})) << "closed after rotate_wait idle";
}

TEST_F(FileInputTest, DeletedFileIsReadToItsEndAndItsPositionForgotten) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a\n");
  FileInput& input = makeInput(config(path));
  input.pollNow();
  writeFile(path, "b\n");
  ASSERT_EQ(::unlink(path.c_str()), 0);
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"a", "b"}));
  EXPECT_EQ(sink_.committed.count(path), 0u);
  EXPECT_EQ(sink_.forgotten, (Lines{path}));
}

TEST_F(FileInputTest, RotationWhileStoppedReadsTheRestOfTheOldFile) {
  std::string path = dir_.file("app.log");
  writeFile(path, "a\nb\nc\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  InputPosition saved{"files", path, static_cast<uint64_t>(st.st_dev),
                      static_cast<uint64_t>(st.st_ino), 2};
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  writeFile(path, "new\n");
  FileInput& input = makeInput(config(path), {saved});
  input.pollNow();
  EXPECT_EQ(sink_.raw(), (Lines{"b", "c", "new"}));
}

TEST_F(FileInputTest, SavedPositionOfAFileThatVanishedIsForgotten) {
  std::string path = dir_.file("gone.log");
  InputPosition saved{"files", path, 1, 2, 10};
  FileInput& input = makeInput(config(dir_.path() + "/*.log"), {saved});
  input.pollNow();
  EXPECT_EQ(sink_.forgotten, (Lines{path}));
}

}  // namespace
}  // namespace edge::agent
