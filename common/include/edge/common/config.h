// YAML configuration with validation errors a person can act on.
//
// A ConfigDocument parses YAML text (yaml-cpp) and remembers where it came
// from. ConfigNode reads typed values; a wrong type, an out-of-range value or
// an unknown key is recorded in the document's error list with file, line,
// the dotted key path and what was expected, and the default is returned, so
// a single pass reports every mistake at once:
//
//   agent.yaml:14: output.gateways[0]: expected host:port, got "localhost"
//
// Usage:
//   auto doc = ConfigDocument::loadFile("agent.yaml");   // or ::parse(text, "<embedded>")
//   if (!doc) { report(doc.error()); }
//   ConfigNode root = doc->root();
//   auto level = root["log"].getString("level", "info");
//   root.rejectUnknownKeys({"agent", "log", "spool", "inputs", "output"});
//   if (auto st = doc->finish(); !st) { report(st.error()); }  // all errors, one per line
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/result.h"

namespace YAML {
class Node;
}

namespace edge {

class ConfigDocument;

class ConfigNode {
 public:
  // True when the key exists (even if null).
  bool exists() const;
  bool isMap() const;
  bool isSequence() const;
  bool isScalar() const;
  // Dotted path from the root, e.g. "inputs[0].paths".
  const std::string& path() const { return path_; }
  // 1-based line in the source file, 0 if unknown (missing key).
  int line() const;

  // Child access; a missing key yields a node where exists() is false.
  ConfigNode operator[](std::string_view key) const;
  // Elements of a sequence (records an error and returns {} if not a sequence).
  std::vector<ConfigNode> elements() const;
  // Keys of a map, in document order.
  std::vector<std::string> keys() const;

  // Typed getters on a child key. Missing -> default. Wrong type -> error + default.
  std::string getString(std::string_view key, std::string_view def) const;
  bool getBool(std::string_view key, bool def) const;
  int64_t getInt(std::string_view key, int64_t def, int64_t min, int64_t max) const;
  double getDouble(std::string_view key, double def) const;
  std::vector<std::string> getStringList(std::string_view key, std::vector<std::string> def) const;
  // Byte sizes: 1048576, "64KiB", "10MiB", "1GiB", "500MB".
  uint64_t getBytes(std::string_view key, uint64_t def) const;
  // Durations: 250 (ms), "250ms", "5s", "2m", "1h".
  std::chrono::milliseconds getDuration(std::string_view key, std::chrono::milliseconds def) const;
  // One of a fixed set of strings.
  std::string getEnum(std::string_view key, std::string_view def,
                      std::initializer_list<std::string_view> allowed) const;
  // "host:port" with port 1..65535; IPv6 as "[::1]:7400".
  std::string getHostPort(std::string_view key, std::string_view def) const;
  // Mandatory string: records "missing required key" when absent.
  std::string requireString(std::string_view key) const;

  // Scalar value of this node itself (for sequence elements).
  std::string asString() const;

  // Records an error for every key of this map not in `known`, suggesting the
  // closest known key ("did you mean ...?").
  void rejectUnknownKeys(std::initializer_list<std::string_view> known) const;
  // The same with a list built at run time (e.g. common keys plus a plugin's own).
  void rejectUnknownKeys(std::span<const std::string_view> known) const;

  // Records a custom validation error located at this node (or its child key).
  void addError(std::string_view message) const;
  void addError(std::string_view key, std::string_view message) const;

 private:
  friend class ConfigDocument;
  ConfigNode(ConfigDocument* doc, std::shared_ptr<YAML::Node> node, std::string path, int parent_line);
  ConfigDocument* doc_ = nullptr;
  std::shared_ptr<YAML::Node> node_;
  std::string path_;
  int parent_line_ = 0;  // where to point when this node is missing
};

class ConfigDocument {
 public:
  // Parse errors come back as ErrorCode::kConfig with "file:line:col: message".
  static Result<std::unique_ptr<ConfigDocument>> loadFile(const std::string& filename);
  static Result<std::unique_ptr<ConfigDocument>> parse(std::string_view text, std::string filename);

  ~ConfigDocument();
  ConfigNode root();
  const std::string& filename() const { return filename_; }

  void recordError(int line, std::string_view path, std::string_view message);
  const std::vector<std::string>& errors() const { return errors_; }
  // ok if no errors were recorded; otherwise kConfig with all errors, one per line.
  Result<void> finish() const;

 private:
  ConfigDocument() = default;
  std::string filename_;
  std::shared_ptr<YAML::Node> root_;
  std::vector<std::string> errors_;
};

// Parsers used by the getters, exposed for reuse and tests.
Result<uint64_t> parseByteSize(std::string_view text);
Result<std::chrono::milliseconds> parseDuration(std::string_view text);
// Splits "host:port" / "[v6]:port"; validates port range.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
Result<HostPort> parseHostPort(std::string_view text);

}  // namespace edge
