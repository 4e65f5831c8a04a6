// edge_plugin_docs: loads every plugin in a directory, exactly as the gateway
// would, and prints their configuration reference as Markdown (or rewrites
// the generated section of a Markdown file). Refused plugins are reported on
// stderr and make the exit status non-zero.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "edge/plugins/host.h"

namespace {

constexpr const char* kBegin = "<!-- BEGIN GENERATED PLUGIN REFERENCE -->\n";
constexpr const char* kEnd = "<!-- END GENERATED PLUGIN REFERENCE -->";

// Replaces the text between the markers in `path` with `reference`.
bool updateFile(const std::string& path, const std::string& reference) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "edge_plugin_docs: cannot read " << path << "\n";
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  size_t begin = text.find(kBegin);
  size_t end = text.find(kEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    std::cerr << "edge_plugin_docs: " << path << " lacks the lines\n"
              << kBegin << kEnd << "\nadd them where the reference belongs\n";
    return false;
  }
  begin += std::string(kBegin).size();
  text.replace(begin, end - begin, reference);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    std::cerr << "edge_plugin_docs: cannot write " << path << "\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Print the configuration reference of the edge plugins in a directory (Markdown), "
      "loading them exactly as the gateway would"};
  std::string dir;
  std::string update;
  app.add_option("plugin_dir", dir, "Directory holding plugin .so files")->required();
  app.add_option("--update", update,
                 "Rewrite the generated section of this Markdown file (e.g. docs/plugins.md) "
                 "instead of printing");
  CLI11_PARSE(app, argc, argv);

  edge::plugins::DirectoryLoad load = edge::plugins::loadPluginDirectory(dir);
  if (!load.ok()) {
    std::cerr << "edge_plugin_docs: some plugins were refused:\n" << load.errorText() << "\n";
    return 1;
  }
  if (load.catalog.empty()) {
    std::cerr << "edge_plugin_docs: no plugins (*.so) in " << dir << "\n";
    return 1;
  }
  std::string reference = edge::plugins::renderMarkdownReference(load.catalog.plugins());
  if (!update.empty()) return updateFile(update, reference) ? 0 : 1;
  std::cout << reference;
  return 0;
}
