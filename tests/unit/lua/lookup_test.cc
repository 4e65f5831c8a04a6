// Lookup tables: line and CSV files, reload on change, errors with file:line.
#include "edge/lua/lookup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lua_test_support.h"

namespace edge::lua {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

TEST(LookupTest, LinesSkipCommentsAndBlanks) {
  TempDir dir;
  const std::string path = dir.write("iocs.txt", "\xEF\xBB\xBF# list\n1.2.3.4\r\n\n  evil.example  \n# 5.6.7.8\n");
  auto table = LookupTable::load(path, LookupFormat::kLines);
  ASSERT_TRUE(table.ok()) << table.error().message;
  EXPECT_EQ((*table)->size(), 2u);
  EXPECT_TRUE((*table)->contains("1.2.3.4"));
  EXPECT_TRUE((*table)->contains("evil.example"));
  EXPECT_FALSE((*table)->contains("5.6.7.8"));
}

TEST(LookupTest, CsvRowsByKeyColumn) {
  TempDir dir;
  const std::string path =
      dir.write("assets.csv", "host,owner,note\nweb-1,alice,\"says \"\"hi\"\", ok\"\ndb-1,bob,\n");
  auto table = LookupTable::load(path, LookupFormat::kCsv, "owner");
  ASSERT_TRUE(table.ok()) << table.error().message;
  const auto* row = (*table)->row("alice");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ((*row)[0], "web-1");
  EXPECT_EQ((*row)[2], "says \"hi\", ok");
  EXPECT_EQ((*(*table)->row("bob"))[2], "");
}

TEST(LookupTest, CsvErrorsNameFileAndLine) {
  TempDir dir;
  const std::string ragged = dir.write("ragged.csv", "a,b\n1,2\n3\n");
  auto table = LookupTable::load(ragged, LookupFormat::kCsv);
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(table.error().message, HasSubstr("ragged.csv:3: expected 2 columns"));
  const std::string nokey = dir.write("nokey.csv", "a,b\n");
  table = LookupTable::load(nokey, LookupFormat::kCsv, "c");
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(table.error().message, HasSubstr("nokey.csv:1: no column \"c\""));
  table = LookupTable::load(dir.path() + "/missing.txt", LookupFormat::kLines);
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(table.error().message, HasSubstr("missing.txt does not exist"));
}

TEST(LookupTest, ReloadsOnlyWhenTheFileChanges) {
  TempDir dir;
  const std::string path = dir.write("list.txt", "a\n");
  auto table = LookupTable::load(path, LookupFormat::kLines);
  ASSERT_TRUE(table.ok());
  auto unchanged = (*table)->reloadIfChanged();
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(*unchanged);
  dir.write("list.txt", "b\nc\n");
  auto changed = (*table)->reloadIfChanged();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_FALSE((*table)->contains("a"));
  EXPECT_EQ((*table)->size(), 2u);
  // A file that disappears keeps the old contents.
  dir.remove("list.txt");
  EXPECT_FALSE((*table)->reloadIfChanged().ok());
  EXPECT_TRUE((*table)->contains("b"));
}

TEST(LookupTest, CsvLineSplitting) {
  auto fields = parseCsvLine("a, b ,\"c,d\",");
  ASSERT_TRUE(fields.ok());
  EXPECT_EQ(*fields, (std::vector<std::string>{"a", "b", "c,d", ""}));
  EXPECT_FALSE(parseCsvLine("\"open").ok());
  EXPECT_FALSE(parseCsvLine("\"a\"b").ok());
}

}  // namespace
}  // namespace edge::lua
