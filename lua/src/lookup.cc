// Lookup tables from files (see lookup.h).
#include "edge/lua/lookup.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace edge::lua {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

bool statFile(const std::string& path, int64_t& mtime_ns, int64_t& size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  size = static_cast<int64_t>(st.st_size);
  return true;
}

}  // namespace

Result<std::vector<std::string>> parseCsvLine(std::string_view line) {
  // A hand-written splitter: Debian has no maintained C++ CSV library, and
  // one record per line with RFC 4180 quoting is all lookup files need.
  std::vector<std::string> out;
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field += line[i++];
      }
      if (!closed) {
        return makeError(ErrorCode::kInvalidArgument,
                         "unterminated quoted field (quoted values cannot span lines)");
      }
      if (i < line.size() && line[i] != ',') {
        return makeError(ErrorCode::kInvalidArgument,
                         "unexpected character after a closing quote at column " +
                             std::to_string(i + 1));
      }
    } else {
      const size_t comma = line.find(',', i);
      const size_t end = comma == std::string_view::npos ? line.size() : comma;
      field.assign(trim(line.substr(i, end - i)));
      i = end;
    }
    out.push_back(field);
    if (i >= line.size()) break;
    ++i;  // the comma
    if (i == line.size()) {
      out.emplace_back();  // trailing comma: an empty last field
      break;
    }
  }
  return out;
}

Result<std::shared_ptr<LookupTable>> LookupTable::load(std::string path, LookupFormat format,
                                                       std::string key_column) {
  std::shared_ptr<LookupTable> table(new LookupTable());
  table->path_ = std::move(path);
  table->format_ = format;
  table->key_column_ = std::move(key_column);
  if (!statFile(table->path_, table->mtime_ns_, table->size_)) {
    return makeError(ErrorCode::kNotFound, "lookup file " + table->path_ + " does not exist or "
                                           "cannot be read");
  }
  EDGE_TRY(table->read());
  return table;
}

Result<void> LookupTable::read() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    return makeError(ErrorCode::kIo, "cannot open lookup file " + path_);
  }
  auto data = std::make_shared<Data>();
  std::string line;
  int line_number = 0;
  bool header = format_ == LookupFormat::kCsv;
  if (format_ == LookupFormat::kLines) data->columns = {"value"};
  while (std::getline(in, line)) {
    ++line_number;
    std::string_view text = trim(line);
    if (line_number == 1 && text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") {
      text.remove_prefix(3);  // a UTF-8 byte order mark from spreadsheet exports
    }
    if (text.empty() || text.front() == '#') continue;
    if (format_ == LookupFormat::kLines) {
      data->rows.emplace(std::string(text), std::vector<std::string>{std::string(text)});
      continue;
    }
    auto fields = parseCsvLine(text);
    if (!fields) {
      return makeError(ErrorCode::kInvalidArgument,
                       path_ + ":" + std::to_string(line_number) + ": " + fields.error().message);
    }
    if (header) {
      header = false;
      data->columns = std::move(*fields);
      if (!key_column_.empty()) {
        bool found = false;
        for (size_t i = 0; i < data->columns.size(); ++i) {
          if (data->columns[i] == key_column_) {
            data->key_column = i;
            found = true;
          }
        }
        if (!found) {
          std::string names;
          for (const auto& c : data->columns) names += (names.empty() ? "" : ", ") + c;
          return makeError(ErrorCode::kInvalidArgument,
                           path_ + ":" + std::to_string(line_number) + ": no column \"" +
                               key_column_ + "\" in the header (columns: " + names + ")");
        }
      }
      continue;
    }
    if (fields->size() != data->columns.size()) {
      return makeError(ErrorCode::kInvalidArgument,
                       path_ + ":" + std::to_string(line_number) + ": expected " +
                           std::to_string(data->columns.size()) + " columns like the header, got " +
                           std::to_string(fields->size()));
    }
    std::string key = (*fields)[data->key_column];
    data->rows.emplace(std::move(key), std::move(*fields));  // the first row of a key wins
  }
  if (in.bad()) return makeError(ErrorCode::kIo, "error reading lookup file " + path_);
  if (format_ == LookupFormat::kCsv && header) {
    return makeError(ErrorCode::kInvalidArgument,
                     path_ + ": a CSV lookup needs a header row naming its columns");
  }
  data_ = std::move(data);
  return okResult();
}

bool LookupTable::contains(std::string_view key) const { return row(key) != nullptr; }

const std::vector<std::string>* LookupTable::row(std::string_view key) const {
  scratch_.assign(key);
  auto it = data_->rows.find(scratch_);
  return it == data_->rows.end() ? nullptr : &it->second;
}

Result<bool> LookupTable::reloadIfChanged() {
  int64_t mtime = 0;
  int64_t size = 0;
  if (!statFile(path_, mtime, size)) {
    if (mtime_ns_ == -2) return false;  // already reported missing
    mtime_ns_ = -2;
    return makeError(ErrorCode::kNotFound,
                     "lookup file " + path_ + " disappeared; keeping its previous contents");
  }
  if (mtime == mtime_ns_ && size == size_) return false;
  mtime_ns_ = mtime;
  size_ = size;
  EDGE_TRY(read());
  ++reloads_;
  return true;
}

}  // namespace edge::lua
