// filter_lookup: enriches events from a CSV table (an asset inventory, an IOC
// list) keyed by a template over the event. The table is reloaded when the
// file changes (checked at most once per reload_interval on the host's
// clock); a bad new file keeps the old table and says why. Instances (one
// per gateway worker) share one parsed copy of each file version.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <edge/plugin_sdk.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_map>

namespace sdk = edge::plugin_sdk;

namespace {

constexpr edge_plugin_option kOptions[] = {
    sdk::requiredOption("file", EDGE_OPT_STRING,
                        "CSV file with a header row (RFC 4180: quoted fields, \"\" escapes)"),
    sdk::requiredOption("key", EDGE_OPT_STRING,
                        "Template for the lookup key, e.g. {host} or {user_id}; events whose key "
                        "field is missing are left alone"),
    sdk::option("key_column", EDGE_OPT_STRING, "",
                "Column holding the key; empty means the first column"),
    sdk::option("columns", EDGE_OPT_STRING_LIST, "",
                "Columns to add as fields; empty means every column except the key column"),
    sdk::option("prefix", EDGE_OPT_STRING, "", "Prefix for the added field names, e.g. asset_"),
    sdk::option("overwrite", EDGE_OPT_BOOL, "false",
                "Replace fields the event already has (otherwise they are kept)"),
    sdk::option("reload_interval", EDGE_OPT_DURATION, "10s",
                "How often to check whether the file changed (mtime, size, inode); 0 checks on "
                "every batch"),
    sdk::option("max_rows", EDGE_OPT_INT, "1000000", "A file with more data rows is refused"),
    sdk::option("max_file_size", EDGE_OPT_BYTES, "64MiB", "A larger file is refused"),
};

constexpr const char* kDescription =
    "Adds the columns of the CSV row whose key matches the event's key as string fields (empty "
    "cells add nothing; when a key repeats, the last row wins). The file is re-read when its "
    "mtime, size or inode changes; if the new version cannot be read or parsed the old table "
    "stays in use and the reason is logged. Replace the file atomically (write a copy, then "
    "rename it over the old one).";

struct FileVersion {
  bool valid = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileVersion& o) const {
    return valid == o.valid && dev == o.dev && ino == o.ino && size == o.size &&
           mtime_ns == o.mtime_ns;
  }
};

FileVersion statFile(const std::string& path, std::string* error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (error) *error = "cannot stat " + path + ": " + std::strerror(errno);
    return {};
  }
  FileVersion v;
  v.valid = true;
  v.dev = st.st_dev;
  v.ino = st.st_ino;
  v.size = st.st_size;
  v.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return v;
}

struct Table {
  FileVersion version;
  std::vector<std::string> field_names;  // prefixed, one per selected column
  std::unordered_map<std::string, std::vector<std::string>> rows;  // key -> selected cells
};

struct TableSpec {
  std::string path;
  std::string key_column;
  std::vector<std::string> columns;
  std::string prefix;
  int64_t max_rows = 0;
  uint64_t max_file_size = 0;

  std::string cacheKey() const {
    std::string k = path + '\0' + key_column + '\0' + prefix + '\0' + std::to_string(max_rows) +
                    '\0' + std::to_string(max_file_size);
    for (const std::string& c : columns) k += '\0' + c;
    return k;
  }
};

// RFC 4180 records; `line` tracks where each record starts, for messages.
class CsvReader {
 public:
  explicit CsvReader(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);  // UTF-8 BOM
  }

  // False at the end of input. Throws sdk::Error on malformed quoting.
  bool next(std::vector<std::string>& record, size_t& line) {
    record.clear();
    while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;  // blank lines
    }
    if (pos_ >= text_.size()) return false;
    line = line_;
    std::string cell;
    bool quoted = false;
    bool was_quoted = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (quoted) {
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            cell += '"';
            ++pos_;
          } else {
            quoted = false;
          }
        } else {
          if (c == '\n') ++line_;
          cell += c;
        }
        continue;
      }
      if (c == '"' && cell.empty() && !was_quoted) {
        quoted = was_quoted = true;
      } else if (c == ',') {
        record.push_back(std::move(cell));
        cell.clear();
        was_quoted = false;
      } else if (c == '\n' || c == '\r') {
        if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
        ++line_;
        break;
      } else if (was_quoted) {
        throw sdk::Error("line " + std::to_string(line) +
                         ": text after a closing quote; quote the whole "
                         "cell and write \"\" for a quote inside it");
      } else {
        cell += c;
      }
    }
    if (quoted) throw sdk::Error("line " + std::to_string(line) + ": quoted cell is never closed");
    record.push_back(std::move(cell));
    return true;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t line_ = 1;
};

std::shared_ptr<const Table> parseTable(const TableSpec& spec, const FileVersion& version) {
  if (static_cast<uint64_t>(version.size) > spec.max_file_size) {
    throw sdk::Error(spec.path + " is " + std::to_string(version.size) +
                     " bytes, over max_file_size (" + std::to_string(spec.max_file_size) +
                     "); raise max_file_size or shrink the table");
  }
  std::ifstream in(spec.path, std::ios::binary);
  if (!in) throw sdk::Error("cannot open " + spec.path + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.size() > spec.max_file_size) {
    throw sdk::Error(spec.path +
                     " grew over max_file_size while being read; try again after it is replaced");
  }
  try {
    CsvReader reader(text);
    std::vector<std::string> header;
    size_t line = 0;
    if (!reader.next(header, line))
      throw sdk::Error("empty file; the first row must name the columns");
    size_t key_index = 0;
    if (!spec.key_column.empty()) {
      auto it = std::find(header.begin(), header.end(), spec.key_column);
      if (it == header.end())
        throw sdk::Error("key_column '" + spec.key_column + "' is not in the header row");
      key_index = static_cast<size_t>(it - header.begin());
    }
    auto table = std::make_shared<Table>();
    table->version = version;
    std::vector<size_t> selected;
    if (spec.columns.empty()) {
      for (size_t i = 0; i < header.size(); ++i) {
        if (i != key_index) selected.push_back(i);
      }
    } else {
      for (const std::string& name : spec.columns) {
        auto it = std::find(header.begin(), header.end(), name);
        if (it == header.end())
          throw sdk::Error("column '" + name + "' (option columns) is not in the header row");
        selected.push_back(static_cast<size_t>(it - header.begin()));
      }
    }
    for (size_t i : selected) {
      if (header[i].empty())
        throw sdk::Error("column " + std::to_string(i + 1) + " has no name in the header row");
      table->field_names.push_back(spec.prefix + header[i]);
    }
    std::vector<std::string> record;
    int64_t rows = 0;
    while (reader.next(record, line)) {
      if (record.size() != header.size()) {
        throw sdk::Error("line " + std::to_string(line) + ": " + std::to_string(record.size()) +
                         " cells, but the header has " + std::to_string(header.size()));
      }
      if (++rows > spec.max_rows) {
        throw sdk::Error("more than max_rows (" + std::to_string(spec.max_rows) +
                         ") data rows; raise max_rows or shrink the table");
      }
      std::vector<std::string> cells;
      cells.reserve(selected.size());
      for (size_t i : selected) cells.push_back(std::move(record[i]));
      table->rows[std::move(record[key_index])] = std::move(cells);
    }
    return table;
  } catch (const sdk::Error& e) {
    throw sdk::Error(spec.path + ": " + e.what());
  }
}

// One parsed copy per (file version, selection), shared by every instance in
// the process: N workers do not hold N copies of a large table.
class TableCache {
 public:
  static TableCache& instance() {
    static TableCache cache;
    return cache;
  }

  std::shared_ptr<const Table> get(const TableSpec& spec, const FileVersion& version) {
    std::string key = spec.cacheKey();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = tables_.find(key);
      if (it != tables_.end()) {
        if (auto table = it->second.lock(); table && table->version == version) return table;
      }
    }
    // Parse outside the lock; two workers noticing the same change may both
    // parse it, which is harmless.
    std::shared_ptr<const Table> table = parseTable(spec, version);
    std::lock_guard<std::mutex> lock(mutex_);
    tables_[key] = table;
    for (auto it = tables_.begin(); it != tables_.end();) {
      it = it->second.expired() ? tables_.erase(it) : std::next(it);
    }
    return table;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<const Table>> tables_;
};

struct Settings {
  TableSpec spec;
  sdk::Template key;
  bool overwrite = false;
  int64_t reload_interval_ns = 0;
};

Settings parseSettings(const sdk::Options& options) {
  Settings s;
  s.spec.path = options.string("file");
  if (s.spec.path.empty()) throw sdk::Error("option file is empty; set it to the CSV file's path");
  s.spec.key_column = options.string("key_column");
  s.spec.columns = options.list("columns");
  s.spec.prefix = options.string("prefix");
  s.spec.max_rows = options.integer("max_rows");
  if (s.spec.max_rows < 1) throw sdk::Error("option max_rows must be at least 1");
  s.spec.max_file_size = options.bytes("max_file_size");
  try {
    s.key = sdk::Template::parse(options.string("key"));
  } catch (const sdk::Error& e) {
    throw sdk::Error(std::string("option key: ") + e.what());
  }
  if (s.key.empty()) throw sdk::Error("option key is empty; set it to a template such as {host}");
  s.overwrite = options.boolean("overwrite");
  s.reload_interval_ns = options.duration("reload_interval").count() * 1000000LL;
  if (s.reload_interval_ns < 0) throw sdk::Error("option reload_interval must not be negative");
  return s;
}

class FilterLookup final : public sdk::Processor {
 public:
  explicit FilterLookup(const sdk::Context& ctx)
      : host_(ctx.host),
        settings_(parseSettings(ctx.options)),
        hits_(host_.counter("hits_total", "Events enriched from the table")),
        misses_(host_.counter("misses_total", "Events whose key is not in the table")),
        reloads_(host_.counter("reloads_total", "Table versions loaded after a file change")),
        reload_failures_(host_.counter("reload_failures_total",
                                       "File changes that could not be loaded (old table kept)")) {
    std::string error;
    FileVersion version = statFile(settings_.spec.path, &error);
    if (!version.valid) throw sdk::Error("option file: " + error);
    table_ = TableCache::instance().get(settings_.spec, version);
    last_check_ns_ = host_.nowNs();
  }

  void process(sdk::Batch& batch) override {
    maybeReload();
    const Table& table = *table_;
    std::string key;
    for (size_t i = 0; i < batch.size(); ++i) {
      sdk::Event event = batch[i];
      if (event.dropped()) continue;
      key.clear();
      if (!settings_.key.renderTo(event, key)) continue;  // key field missing: leave it alone
      auto row = table.rows.find(key);
      if (row == table.rows.end()) {
        misses_.add();
        continue;
      }
      hits_.add();
      for (size_t c = 0; c < table.field_names.size(); ++c) {
        const std::string& cell = row->second[c];
        if (cell.empty()) continue;
        if (!settings_.overwrite && event.field(table.field_names[c])) continue;
        event.setString(table.field_names[c], cell);
      }
    }
  }

 private:
  void maybeReload() {
    int64_t now = host_.nowNs();
    if (now - last_check_ns_ < settings_.reload_interval_ns) return;
    last_check_ns_ = now;
    std::string error;
    FileVersion version = statFile(settings_.spec.path, &error);
    if (version == table_->version) return;
    if (version.valid && version == failed_version_)
      return;  // already reported; wait for the next change
    if (!version.valid) {
      // A missing file is usually a non-atomic replace in progress; say it once.
      if (!missing_reported_) {
        host_.warn(error + "; keeping the table loaded from the previous version");
        reload_failures_.add();
        missing_reported_ = true;
      }
      return;
    }
    missing_reported_ = false;
    try {
      table_ = TableCache::instance().get(settings_.spec, version);
      reloads_.add();
      host_.info("reloaded " + settings_.spec.path + " (" + std::to_string(table_->rows.size()) +
                 " rows)");
    } catch (const std::exception& e) {
      failed_version_ = version;
      reload_failures_.add();
      host_.warn(std::string("cannot reload, keeping the previous table: ") + e.what());
    }
  }

  sdk::Host host_;
  Settings settings_;
  sdk::Counter hits_;
  sdk::Counter misses_;
  sdk::Counter reloads_;
  sdk::Counter reload_failures_;
  std::shared_ptr<const Table> table_;
  int64_t last_check_ns_ = 0;
  FileVersion failed_version_;
  bool missing_reported_ = false;
};

}  // namespace

EDGE_PROCESSOR_PLUGIN(FilterLookup, "filter_lookup", "1.0.0", kDescription, kOptions)
