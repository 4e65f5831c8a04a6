// Renders the configuration reference of loaded plugins as Markdown, from
// the same option tables the host validates against, so the docs cannot
// drift from what the gateway accepts.
#include <string>

#include "internal.h"

namespace edge::plugins {
namespace {

// Table cells: a pipe or a newline would break the row.
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string defaultCell(const OptionSpec& spec) {
  if (spec.required) return "*required*";
  if (!spec.default_value) return "*none*";
  if (spec.default_value->empty())
    return spec.type == OptionType::kStringList ? "*empty*" : "`\"\"`";
  return "`" + cell(*spec.default_value) + "`";
}

}  // namespace

std::string renderMarkdownReference(const std::vector<PluginPtr>& plugins) {
  std::string out;
  for (const PluginPtr& plugin : plugins) {
    out += "### " + plugin->name() + "\n\n";
    out += std::string("*") + pluginKindName(plugin->kind()) + ", version " + plugin->version() +
           ", ABI " + std::to_string(plugin->descriptor().abi_major) + "." +
           std::to_string(plugin->abiMinor()) + "*\n\n";
    if (!plugin->description().empty()) out += plugin->description() + "\n\n";
    if (plugin->options().empty()) {
      out += "This plugin takes no options.\n\n";
      continue;
    }
    out += "| Option | Type | Default | Description |\n";
    out += "|--------|------|---------|-------------|\n";
    for (const OptionSpec& spec : plugin->options()) {
      out += "| `" + spec.name + "` | " + optionTypeName(spec.type) + " | " + defaultCell(spec) +
             " | " + cell(spec.help) + " |\n";
    }
    out += "\n";
  }
  return out;
}

}  // namespace edge::plugins
