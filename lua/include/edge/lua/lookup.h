// Lookup tables for rules: IOC lists, allow lists, asset inventories. Two
// file formats (docs/lua.md, "Lookup tables"):
//   - lines: one value per line; blank lines and lines starting with # are
//     skipped, surrounding whitespace trimmed;
//   - csv: RFC 4180 (quoted fields, "" inside quotes), a header row naming
//     the columns; rows are keyed by one column (default: the first).
// A table re-reads its file when its modification time or size changed
// (reloadIfChanged); a file that fails to read or parse keeps the previous
// contents. Tables are immutable snapshots swapped whole, so a rule that
// holds a row while a reload happens keeps a consistent one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "edge/common/result.h"

namespace edge::lua {

enum class LookupFormat : uint8_t { kLines, kCsv };

class LookupTable {
 public:
  struct Data {
    std::vector<std::string> columns;  // csv header; lines: {"value"}
    size_t key_column = 0;
    std::unordered_map<std::string, std::vector<std::string>> rows;  // key -> all columns
  };

  // Reads the file now; errors name the file and line.
  static Result<std::shared_ptr<LookupTable>> load(std::string path, LookupFormat format,
                                                   std::string key_column = "");

  bool contains(std::string_view key) const;
  // The row of `key` (every column, header order), or nullptr.
  const std::vector<std::string>* row(std::string_view key) const;
  std::shared_ptr<const Data> data() const { return data_; }
  size_t size() const { return data_->rows.size(); }
  const std::string& path() const { return path_; }
  LookupFormat format() const { return format_; }
  const std::string& keyColumn() const { return key_column_; }

  // Re-reads the file if it changed. true: reloaded; false: unchanged; an
  // error: the file changed but could not be read (the old data stays).
  Result<bool> reloadIfChanged();
  uint64_t reloads() const { return reloads_; }

 private:
  LookupTable() = default;
  Result<void> read();

  std::string path_;
  LookupFormat format_ = LookupFormat::kLines;
  std::string key_column_;
  std::shared_ptr<const Data> data_;
  int64_t mtime_ns_ = -1;
  int64_t size_ = -1;
  uint64_t reloads_ = 0;
  mutable std::string scratch_;
};

// Splits one CSV record (no trailing newline). Exposed for tests.
Result<std::vector<std::string>> parseCsvLine(std::string_view line);

}  // namespace edge::lua
