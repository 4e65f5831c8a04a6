// filter_lookup loaded through the real host, against real CSV files that the
// test rewrites while the instance runs; the reload check is driven by an
// injected clock, so "at most once per interval" is exact, not timed.
#include <gtest/gtest.h>

#include <cstdio>

#include "plugin_test_support.h"

namespace edge::plugins {
namespace {

using namespace edge::plugins::testing;

class FilterLookupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin_ = loadFirstParty("filter_lookup");
    ASSERT_NE(plugin_, nullptr);
    env_.metrics = &metrics_;
    env_.clock = clock_.fn();
    env_.log = log_.fn();
    csv_ = dir_.file("assets.csv");
  }

  Result<std::unique_ptr<ProcessorInstance>> make(const std::string& extra_yaml = "") {
    auto options = optionsFromYaml(
        *plugin_,
        "file: " + csv_ + "\nkey: \"{host}\"\nprefix: asset_\nreload_interval: 5s\n" + extra_yaml);
    if (!options) return options.error();
    return ProcessorInstance::create(plugin_, "assets", *options, env_);
  }

  // Replaces the file the way operators should: write a copy, rename it over.
  void replaceCsv(const std::string& text) {
    writeFile(csv_ + ".tmp", text);
    ASSERT_EQ(std::rename((csv_ + ".tmp").c_str(), csv_.c_str()), 0);
  }

  // Runs one event from `host` through the instance and returns it.
  Event run(ProcessorInstance& instance, const std::string& host) {
    std::vector<Event> events{makeEvent("log", {}, host)};
    ProcessOutcome out = instance.process(events);
    EXPECT_FALSE(out.failed) << out.error;
    return events.at(0);
  }

  uint64_t counter(const std::string& name) {
    std::string text = metrics_.renderPrometheus();
    std::string series = "edge_plugin_filter_lookup_" + name + "{instance=\"assets\"} ";
    size_t at = text.find(series);
    return at == std::string::npos ? 0 : std::stoull(text.substr(at + series.size()));
  }

  PluginPtr plugin_;
  TempDir dir_;
  std::string csv_;
  MetricsRegistry metrics_;
  FakeClock clock_;
  CapturedLog log_;
  HostEnvironment env_;
};

TEST_F(FilterLookupTest, EnrichesAndReloadsWhenTheFileChangesCheckedOncePerInterval) {
  replaceCsv("host,owner,env\nweb-1,alice,prod\n");
  auto instance = make();
  ASSERT_TRUE(instance) << instance.error().message;

  Event hit = run(**instance, "web-1");
  EXPECT_EQ(stringField(hit, "asset_owner"), "alice");
  EXPECT_EQ(stringField(hit, "asset_env"), "prod");
  EXPECT_EQ(field(hit, "asset_host"), nullptr);  // the key column is not copied
  Event miss = run(**instance, "db-9");
  EXPECT_EQ(field(miss, "asset_owner"), nullptr);
  EXPECT_EQ(counter("hits_total"), 1u);
  EXPECT_EQ(counter("misses_total"), 1u);

  replaceCsv("host,owner,env\nweb-1,bob,prod\ndb-9,carol,dev\n");
  clock_.advanceMs(1000);  // inside the interval: the file is not even looked at
  EXPECT_EQ(stringField(run(**instance, "web-1"), "asset_owner"), "alice");

  clock_.advanceMs(5000);
  EXPECT_EQ(stringField(run(**instance, "web-1"), "asset_owner"), "bob");
  EXPECT_EQ(stringField(run(**instance, "db-9"), "asset_env"), "dev");
  EXPECT_EQ(counter("reloads_total"), 1u);
  EXPECT_TRUE(log_.contains("filter_lookup/assets: reloaded " + csv_ + " (2 rows)"));

  // Rewritten in place (same inode): the size and mtime still give it away.
  writeFile(csv_, "host,owner,env\nweb-1,dave,staging\n");
  clock_.advanceMs(5000);
  EXPECT_EQ(stringField(run(**instance, "web-1"), "asset_owner"), "dave");
  EXPECT_EQ(field(run(**instance, "db-9"), "asset_owner"), nullptr);
  EXPECT_EQ(counter("reloads_total"), 2u);
}

TEST_F(FilterLookupTest, BadReloadKeepsTheOldTableAndSaysWhyOnce) {
  replaceCsv("host,owner,env\nweb-1,alice,prod\n");
  auto instance = make();
  ASSERT_TRUE(instance) << instance.error().message;

  replaceCsv("host,owner,env\nweb-1,bob,prod\ndb-9,carol\n");  // row 3 lacks a cell
  clock_.advanceMs(5000);
  EXPECT_EQ(stringField(run(**instance, "web-1"), "asset_owner"), "alice");
  EXPECT_TRUE(log_.contains("filter_lookup/assets: cannot reload, keeping the previous table: " +
                            csv_ + ": line 3: 2 cells, but the header has 3"))
      << (log_.lines.empty() ? "no log" : log_.lines.back());
  EXPECT_EQ(counter("reload_failures_total"), 1u);

  size_t logged = log_.lines.size();
  clock_.advanceMs(5000);  // same broken version: not parsed or reported again
  EXPECT_EQ(stringField(run(**instance, "web-1"), "asset_owner"), "alice");
  EXPECT_EQ(log_.lines.size(), logged);
  EXPECT_EQ(counter("reload_failures_total"), 1u);

  replaceCsv("host,owner,env\nweb-1,bob,prod\n");  // fixed
  clock_.advanceMs(5000);
  EXPECT_EQ(stringField(run(**instance, "web-1"), "asset_owner"), "bob");

  ASSERT_EQ(std::remove(csv_.c_str()), 0);  // gone: keep serving, say so once
  clock_.advanceMs(5000);
  EXPECT_EQ(stringField(run(**instance, "web-1"), "asset_owner"), "bob");
  clock_.advanceMs(5000);
  run(**instance, "web-1");
  EXPECT_EQ(counter("reload_failures_total"), 2u);
  EXPECT_TRUE(
      log_.contains("cannot stat " + csv_ + ": No such file or directory; keeping the table"));
}

TEST_F(FilterLookupTest, CsvQuotingColumnsAndOverwrite) {
  replaceCsv(
      "\xEF\xBB\xBFid,name,note,empty\r\n"
      "\"u1\",\"Smith, Jane\",\"says \"\"hi\"\"\non two lines\",\r\n"
      "\r\n"
      "u2,Bob,,\r\n");
  auto options = optionsFromYaml(
      *plugin_,
      "file: " + csv_ + "\nkey: \"{user}\"\nkey_column: id\ncolumns: [name, note, empty]\n");
  ASSERT_TRUE(options) << options.error().message;
  auto instance = ProcessorInstance::create(plugin_, "users", *options, env_);
  ASSERT_TRUE(instance) << instance.error().message;
  std::vector<Event> events{
      makeEvent("log", {{"user", std::string("u1")}, {"name", std::string("kept")}}),
      makeEvent("log", {{"user", std::string("u2")}}),
      makeEvent("log")};  // no key field: left alone
  ASSERT_FALSE((*instance)->process(events).failed);
  EXPECT_EQ(stringField(events[0], "name"), "kept");  // overwrite is off
  EXPECT_EQ(stringField(events[0], "note"), "says \"hi\"\non two lines");
  EXPECT_EQ(field(events[0], "empty"), nullptr);  // empty cells add nothing
  EXPECT_EQ(stringField(events[1], "name"), "Bob");
  EXPECT_EQ(field(events[1], "note"), nullptr);
  EXPECT_EQ(events[2].fields.size(), 0u);

  auto overwrite = optionsFromYaml(
      *plugin_, "file: " + csv_ + "\nkey: \"{user}\"\nkey_column: id\noverwrite: true\n");
  ASSERT_TRUE(overwrite);
  auto instance2 = ProcessorInstance::create(plugin_, "users2", *overwrite, env_);
  ASSERT_TRUE(instance2) << instance2.error().message;
  std::vector<Event> again{
      makeEvent("log", {{"user", std::string("u1")}, {"name", std::string("kept")}})};
  ASSERT_FALSE((*instance2)->process(again).failed);
  EXPECT_EQ(stringField(again[0], "name"), "Smith, Jane");
}

TEST_F(FilterLookupTest, RefusesToStartWithoutAUsableTable) {
  auto missing = make();
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "plugin filter_lookup, instance assets: option file: cannot stat " + csv_ +
                ": No such file or directory");

  replaceCsv("host,owner\nweb-1,\"unterminated\n");
  auto bad = make();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "plugin filter_lookup, instance assets: " + csv_ +
                                     ": line 2: quoted cell is never closed");

  replaceCsv("host,owner\nweb-1,alice\n");
  auto no_column = make("key_column: hostname\n");
  ASSERT_FALSE(no_column);
  EXPECT_EQ(no_column.error().message, "plugin filter_lookup, instance assets: " + csv_ +
                                           ": key_column 'hostname' is not in the header row");

  replaceCsv("host,owner\na,1\nb,2\nc,3\n");
  auto too_many = make("max_rows: 2\n");
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message.find(
                "more than max_rows (2) data rows; raise max_rows or shrink the table"),
            std::string::npos);
  auto too_big = make("max_file_size: 10\n");
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.error().message.find("bytes, over max_file_size (10)"), std::string::npos);
}

}  // namespace
}  // namespace edge::plugins
