// The plugin loader against the real first-party .so files and deliberately
// broken ones: every refusal must carry the exact reason and fix. Also option
// validation, instance lifecycle, the sink path, and the generated reference.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_test_support.h"

namespace edge::plugins {
namespace {

using namespace edge::plugins::testing;

class LoaderTest : public ::testing::Test {
 protected:
  // Drops a test plugin into the temp dir and loads it.
  Result<PluginPtr> loadTest(const std::string& name) {
    return loadPlugin(dropIn(testPluginPath(name), dir_, name + ".so"));
  }
  std::string path(const std::string& name) const { return dir_.file(name + ".so"); }

  TempDir dir_;
};

// --- loading ----------------------------------------------------------------

TEST_F(LoaderTest, LoadsFirstPartyPluginsFromADirectory) {
  for (const char* name : {"filter_fields", "filter_lookup", "filter_dedup"}) {
    dropIn(firstPartyPath(name), dir_, std::string(name) + ".so");
  }
  writeFile(dir_.file("README.txt"), "not a plugin");
  writeFile(dir_.file(".filter_new.so.tmp"), "an in-progress copy");
  DirectoryLoad load = loadPluginDirectory(dir_.path());
  ASSERT_TRUE(load.ok()) << load.errorText();
  ASSERT_EQ(load.catalog.plugins().size(), 3u);
  EXPECT_EQ(load.catalog.plugins()[0]->name(), "filter_dedup");  // sorted by name
  EXPECT_EQ(load.catalog.plugins()[1]->name(), "filter_fields");
  EXPECT_EQ(load.catalog.plugins()[2]->name(), "filter_lookup");

  PluginPtr dedup = load.catalog.find("filter_dedup");
  ASSERT_NE(dedup, nullptr);
  EXPECT_EQ(dedup->kind(), PluginKind::kProcessor);
  EXPECT_EQ(dedup->version(), "1.0.0");
  EXPECT_EQ(dedup->path(), path("filter_dedup"));
  const OptionSpec* key = dedup->findOption("key");
  ASSERT_NE(key, nullptr);
  EXPECT_TRUE(key->required);
  EXPECT_EQ(key->type, OptionType::kString);
  const OptionSpec* window = dedup->findOption("window");
  ASSERT_NE(window, nullptr);
  EXPECT_EQ(window->type, OptionType::kDuration);
  EXPECT_EQ(window->default_value.value_or("<none>"), "60s");
  EXPECT_EQ(load.catalog.find("filter_nonexistent"), nullptr);
}

TEST_F(LoaderTest, LoadsAPluginWrittenInC) {
  auto plugin = loadTest("test_c_tagger");
  ASSERT_TRUE(plugin) << plugin.error().message;
  EXPECT_EQ((*plugin)->name(), "test_c_tagger");
  EXPECT_EQ((*plugin)->description(), "A test processor written in C.");
  EXPECT_EQ((*plugin)->options().size(), 3u);
}

TEST_F(LoaderTest, RefusesAbiMajorMismatch) {
  auto plugin = loadTest("broken_abi_major");
  ASSERT_FALSE(plugin);
  EXPECT_EQ(plugin.error().code, ErrorCode::kUnsupportedVersion);
  EXPECT_EQ(plugin.error().message,
            path("broken_abi_major") +
                ": ABI major version mismatch: plugin was built for ABI 2.0 but this gateway "
                "implements ABI 1.0; rebuild the plugin against this gateway's edge/plugin_abi.h");
}

TEST_F(LoaderTest, RefusesNewerAbiMinor) {
  auto plugin = loadTest("broken_abi_minor");
  ASSERT_FALSE(plugin);
  EXPECT_EQ(plugin.error().code, ErrorCode::kUnsupportedVersion);
  EXPECT_EQ(plugin.error().message,
            path("broken_abi_minor") +
                ": ABI minor version too new: plugin needs ABI 1.1 but this gateway implements ABI "
                "1.0; upgrade the gateway or rebuild the plugin against this gateway's headers");
}

TEST_F(LoaderTest, RefusesTooSmallStructSize) {
  auto plugin = loadTest("broken_struct_size");
  ASSERT_FALSE(plugin);
  EXPECT_EQ(plugin.error().message,
            path("broken_struct_size") + ": descriptor struct_size is 16 bytes, smaller than the " +
                std::to_string(sizeof(edge_plugin_descriptor)) +
                " bytes of an ABI 1.0 descriptor; set struct_size = sizeof(edge_plugin_descriptor) "
                "and rebuild");
}

TEST_F(LoaderTest, RefusesBuildSignatureMismatch) {
  auto plugin = loadTest("broken_signature");
  ASSERT_FALSE(plugin);
  const std::string host = "pointer=8 size_t=8 long=8 time_t=8 double=8 int=4 byte_order=L";
  const std::string theirs = "pointer=8 size_t=8 long=8 time_t=4 double=8 int=4 byte_order=L";
  if (sizeof(void*) != 8 || sizeof(time_t) != 8) GTEST_SKIP() << "expectations written for LP64";
  EXPECT_EQ(plugin.error().message,
            path("broken_signature") +
                ": build signature mismatch (sizeof(time_t) differs): plugin has " + theirs +
                ", gateway has " + host +
                "; rebuild the plugin for this platform with this gateway's edge/plugin_abi.h");
}

TEST_F(LoaderTest, RefusesMissingEntrySymbol) {
  auto plugin = loadTest("broken_no_entry");
  ASSERT_FALSE(plugin);
  EXPECT_EQ(plugin.error().message,
            path("broken_no_entry") +
                ": not an edge plugin: missing entry symbol edge_plugin_entry; define it with "
                "EDGE_PROCESSOR_PLUGIN / EDGE_SINK_PLUGIN (edge/plugin_sdk.hpp) or export it with "
                "EDGE_PLUGIN_EXPORT");
}

TEST_F(LoaderTest, RefusesUnresolvedSymbolAtLoadTime) {
  // RTLD_NOW: the missing symbol is found now, not when a batch first hits it.
  auto plugin = loadTest("broken_unresolved");
  ASSERT_FALSE(plugin);
  const std::string& message = plugin.error().message;
  EXPECT_EQ(message.rfind(path("broken_unresolved") + ": cannot load shared object: ", 0), 0u)
      << message;
  EXPECT_NE(message.find("undefined symbol: edge_test_symbol_that_does_not_exist"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("; check its dependencies with: ldd -r " + path("broken_unresolved")),
            std::string::npos)
      << message;
}

TEST_F(LoaderTest, RefusesInvalidOptionTables) {
  auto bad_default = loadTest("broken_option_default");
  ASSERT_FALSE(bad_default);
  EXPECT_EQ(
      bad_default.error().message,
      path("broken_option_default") +
          ": invalid option table: option 1 (max_severity): default value: expected an integer, "
          "got \"lots\"");
  auto duplicate = loadTest("broken_duplicate_option");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(
      duplicate.error().message,
      path("broken_duplicate_option") + ": invalid option table: option 2 (tag): declared twice");
}

TEST_F(LoaderTest, RefusesProcessorWithoutProcessHook) {
  auto plugin = loadTest("broken_no_process");
  ASSERT_FALSE(plugin);
  EXPECT_EQ(plugin.error().message,
            path("broken_no_process") +
                ": plugin broken_no_process: a processor must implement edge_plugin_on_process");
}

TEST_F(LoaderTest, RefusesDuplicateNameNamingBothFiles) {
  dropIn(testPluginPath("test_c_tagger"), dir_, "a_tagger.so");
  dropIn(testPluginPath("test_c_tagger"), dir_, "b_tagger.so");
  dropIn(firstPartyPath("filter_dedup"), dir_, "filter_dedup.so");
  DirectoryLoad load = loadPluginDirectory(dir_.path());
  ASSERT_FALSE(load.ok());
  ASSERT_EQ(load.errors.size(), 1u);
  EXPECT_EQ(load.errors[0].message,
            dir_.file("b_tagger.so") +
                ": duplicate plugin name 'test_c_tagger': already provided by " +
                dir_.file("a_tagger.so") + "; remove one of the two files");
  // The rest still loaded; the caller decides whether a partial set is acceptable.
  EXPECT_NE(load.catalog.find("test_c_tagger"), nullptr);
  EXPECT_NE(load.catalog.find("filter_dedup"), nullptr);
  EXPECT_FALSE(load.status().ok());
}

TEST_F(LoaderTest, RefusesWorldWritableFile) {
  std::string file = dropIn(firstPartyPath("filter_dedup"), dir_, "filter_dedup.so", 0666);
  auto plugin = loadPlugin(file);
  ASSERT_FALSE(plugin);
  EXPECT_EQ(plugin.error().message,
            file +
                ": refusing to load a plugin writable by group or others (mode 0666): they could "
                "change the code the gateway runs; fix: chmod go-w " +
                file);
}

TEST_F(LoaderTest, RefusesGroupWritableFile) {
  std::string file = dropIn(firstPartyPath("filter_dedup"), dir_, "filter_dedup.so", 0775);
  auto plugin = loadPlugin(file);
  ASSERT_FALSE(plugin);
  EXPECT_NE(plugin.error().message.find("(mode 0775)"), std::string::npos)
      << plugin.error().message;
  ASSERT_EQ(::chmod(file.c_str(), 0755), 0);
  EXPECT_TRUE(loadPlugin(file)) << "the fix in the message must make it loadable";
}

TEST_F(LoaderTest, RefusesFileOwnedBySomeoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  std::string file = dropIn(firstPartyPath("filter_dedup"), dir_, "filter_dedup.so");
  ASSERT_EQ(::chown(file.c_str(), 65534, static_cast<gid_t>(-1)), 0);
  auto plugin = loadPlugin(file);
  ASSERT_FALSE(plugin);
  EXPECT_EQ(plugin.error().message,
            file +
                ": refusing to load a plugin owned by uid 65534 (only root or the gateway's user, "
                "uid 0, may own plugins, since the owner can change its code); fix: chown 0 " +
                file);
}

TEST_F(LoaderTest, RefusesWritableDirectory) {
  std::string file = dropIn(firstPartyPath("filter_dedup"), dir_, "filter_dedup.so");
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0777), 0);
  auto plugin = loadPlugin(file);
  ::chmod(dir_.path().c_str(), 0700);
  ASSERT_FALSE(plugin);
  char resolved[PATH_MAX];
  ASSERT_NE(::realpath(dir_.path().c_str(), resolved), nullptr);
  EXPECT_EQ(plugin.error().message,
            file + ": refusing to load from directory " + resolved +
                " writable by group or others (mode 0777): they could replace "
                "the plugin; fix: chmod go-w " +
                resolved);
}

TEST_F(LoaderTest, ReportsMissingFileAndDirectory) {
  auto plugin = loadPlugin(dir_.file("nope.so"));
  ASSERT_FALSE(plugin);
  EXPECT_EQ(plugin.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(plugin.error().message,
            dir_.file("nope.so") + ": cannot read plugin file: No such file or directory");
  DirectoryLoad load = loadPluginDirectory(dir_.file("missing-dir"));
  ASSERT_EQ(load.errors.size(), 1u);
  EXPECT_EQ(load.errors[0].message,
            dir_.file("missing-dir") + ": cannot read plugin directory: No such file or directory");
}

TEST_F(LoaderTest, NonPluginSharedObjectIsRefused) {
  // A random library dropped into the plugin directory.
  std::string file =
      dropIn(std::string(EDGE_TEST_PLUGIN_DIR) + "/broken_no_entry.so", dir_, "libfoo.so");
  DirectoryLoad load = loadPluginDirectory(dir_.path());
  ASSERT_EQ(load.errors.size(), 1u);
  EXPECT_NE(load.errors[0].message.find("not an edge plugin"), std::string::npos);
}

// --- options ----------------------------------------------------------------

TEST(OptionsTest, AppliesDefaultsAndTypedValuesFromYaml) {
  PluginPtr dedup = loadFirstParty("filter_dedup");
  ASSERT_NE(dedup, nullptr);
  auto options = optionsFromYaml(*dedup, "key: \"{host}:{msg}\"\nmax_keys: 500\n");
  ASSERT_TRUE(options) << options.error().message;
  const OptionValues::Value* key = options->find("key");
  ASSERT_NE(key, nullptr);
  EXPECT_TRUE(key->is_set);
  EXPECT_EQ(key->text, "{host}:{msg}");
  const OptionValues::Value* window = options->find("window");
  ASSERT_NE(window, nullptr);
  EXPECT_FALSE(window->is_set);
  EXPECT_TRUE(window->has_value);
  EXPECT_EQ(window->integer, 60000);  // 60s default, in ms
  EXPECT_EQ(options->find("max_keys")->integer, 500);
}

TEST(OptionsTest, WrongTypeNamesPluginOptionAndExpectedTypeWithLine) {
  PluginPtr dedup = loadFirstParty("filter_dedup");
  ASSERT_NE(dedup, nullptr);
  auto doc =
      ConfigDocument::parse("key: \"{host}\"\nmax_keys: lots\nwindow: [1, 2]\n", "gateway.yaml");
  ASSERT_TRUE(doc);
  auto options = validateOptions(*dedup, (*doc)->root());
  ASSERT_FALSE(options);
  EXPECT_EQ(
      options.error().message,
      "window: plugin filter_dedup, option window: expected a duration such as 250ms, 5s, 2m or "
      "1h, got a list\n"
      "max_keys: plugin filter_dedup, option max_keys: expected an integer, got \"lots\"");
  // The same errors land in the document, with file and line.
  ASSERT_EQ((*doc)->errors().size(), 2u);
  EXPECT_EQ((*doc)->errors()[1],
            "gateway.yaml:2: max_keys: plugin filter_dedup, option max_keys: expected an integer, "
            "got \"lots\"");
}

TEST(OptionsTest, UnknownOptionSuggestsTheClosestAndMissingRequiredIsNamed) {
  PluginPtr dedup = loadFirstParty("filter_dedup");
  ASSERT_NE(dedup, nullptr);
  auto options = optionsFromYaml(*dedup, "windw: 5s\n");
  ASSERT_FALSE(options);
  EXPECT_NE(options.error().message.find(
                "windw: plugin filter_dedup has no option 'windw'; did you mean 'window'?"),
            std::string::npos)
      << options.error().message;
  EXPECT_NE(
      options.error().message.find("key: plugin filter_dedup, option key: missing required option "
                                   "(expected a string: "),
      std::string::npos)
      << options.error().message;
}

TEST(OptionsTest, StringListsFromYamlSequencesScalarsAndCommaText) {
  PluginPtr fields = loadFirstParty("filter_fields");
  ASSERT_NE(fields, nullptr);
  auto from_yaml = optionsFromYaml(*fields, "remove: [a, b]\nredact: password\n");
  ASSERT_TRUE(from_yaml) << from_yaml.error().message;
  EXPECT_EQ(from_yaml->find("remove")->list, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(from_yaml->find("redact")->list, (std::vector<std::string>{"password"}));
  EXPECT_TRUE(from_yaml->find("hash")->list.empty());

  auto from_map = validateOptions(*fields, {{"remove", "a, b ,c"}, {"clear_raw", "yes"}});
  ASSERT_TRUE(from_map) << from_map.error().message;
  EXPECT_EQ(from_map->find("remove")->list, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(from_map->find("clear_raw")->integer, 1);

  auto bad = optionsFromYaml(*fields, "remove:\n  - a\n  - {x: 1}\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(
      bad.error().message.find("plugin filter_fields, option remove: expected a list of strings, "
                               "got an element that is a map"),
      std::string::npos)
      << bad.error().message;
}

TEST(OptionsTest, PlainStringMapChecksTypes) {
  PluginPtr lookup = loadFirstParty("filter_lookup");
  ASSERT_NE(lookup, nullptr);
  auto options = validateOptions(*lookup, {{"file", "/x.csv"},
                                           {"key", "{host}"},
                                           {"max_file_size", "2MiB"},
                                           {"reload_interval", "1.5s"},
                                           {"overwrite", "maybe"}});
  ASSERT_FALSE(options);
  EXPECT_EQ(options.error().message,
            "plugin filter_lookup, option overwrite: expected true or false, got \"maybe\"");
  auto good = validateOptions(*lookup, {{"file", "/x.csv"},
                                        {"key", "{host}"},
                                        {"max_file_size", "2MiB"},
                                        {"reload_interval", "1.5s"}});
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->find("max_file_size")->integer, 2 * 1024 * 1024);
  EXPECT_EQ(good->find("reload_interval")->integer, 1500);
}

TEST(OptionsTest, NonMapOptionsNode) {
  PluginPtr dedup = loadFirstParty("filter_dedup");
  ASSERT_NE(dedup, nullptr);
  auto options = optionsFromYaml(*dedup, "- key\n");
  ASSERT_FALSE(options);
  EXPECT_EQ(options.error().message, "plugin filter_dedup: expected a map of options");
}

// --- instances ----------------------------------------------------------------

TEST(InstanceTest, CPluginDrivesTheHostTable) {
  TempDir dir;
  auto plugin = loadPlugin(dropIn(testPluginPath("test_c_tagger"), dir, "tagger.so"));
  ASSERT_TRUE(plugin) << plugin.error().message;
  auto options = validateOptions(
      **plugin, {{"tag", "seen-by-c"}, {"max_severity", "6"}, {"emit_summary", "true"}});
  ASSERT_TRUE(options) << options.error().message;
  MetricsRegistry metrics;
  CapturedLog log;
  HostEnvironment env;
  env.metrics = &metrics;
  env.log = log.fn();
  auto instance = ProcessorInstance::create(*plugin, "tagger1", *options, env);
  ASSERT_TRUE(instance) << instance.error().message;

  std::vector<Event> events;
  events.push_back(
      makeEvent("log", {{"secret", std::string("s3cr3t")}, {"msg", std::string("a")}}));
  events.push_back(makeEvent("log", {{"msg", std::string("b")}}));
  events[1].severity = Severity::kDebug;  // 7 > 6: dropped
  events.push_back(makeEvent("log", {{"msg", std::string("c")}}));
  ProcessOutcome out = (*instance)->process(events, BatchContext{"agent-1", 42, 0, "acme"});
  ASSERT_FALSE(out.failed) << out.error;
  EXPECT_EQ(out.dropped, 1u);
  EXPECT_EQ(out.emitted, 1u);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(stringField(events[0], "msg"), "a");  // order kept
  EXPECT_EQ(stringField(events[1], "msg"), "c");
  EXPECT_EQ(stringField(events[0], "tag"), "seen-by-c");
  EXPECT_EQ(field(events[0], "secret"), nullptr);
  EXPECT_EQ(events[0].tenant, "acme");  // the plugin's attempt to change it was refused
  EXPECT_EQ(events[2].kind, "summary");
  EXPECT_EQ(events[2].tenant, "acme");  // emitted events carry the batch's tenant
  ASSERT_NE(field(events[2], "kept"), nullptr);
  EXPECT_EQ(std::get<int64_t>(*field(events[2], "kept")), 2);

  std::string text = metrics.renderPrometheus();
  EXPECT_NE(text.find("edge_plugin_test_c_tagger_seen_total{instance=\"tagger1\"} 3"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "edge_plugins_events_dropped_total{plugin=\"test_c_tagger\",instance=\"tagger1\"} 1"),
      std::string::npos)
      << text;
  EXPECT_TRUE(log.contains("test_c_tagger/tagger1: processed 3 events"));
}

TEST(InstanceTest, PluginFailureIsReportedCountedAndTheBatchPassesOn) {
  TempDir dir;
  auto plugin = loadPlugin(dropIn(testPluginPath("test_c_tagger"), dir, "tagger.so"));
  ASSERT_TRUE(plugin) << plugin.error().message;
  auto options = validateOptions(**plugin, {});
  ASSERT_TRUE(options);
  auto instance = ProcessorInstance::create(*plugin, "t", *options);
  ASSERT_TRUE(instance) << instance.error().message;
  std::vector<Event> events{makeEvent("fail"), makeEvent("log")};
  ProcessOutcome out = (*instance)->process(events);
  EXPECT_TRUE(out.failed);
  EXPECT_EQ(out.error, "event of kind fail: failing the batch on purpose");
  EXPECT_EQ(events.size(), 2u);
  EXPECT_NE((*instance)->metrics().renderPrometheus().find(
                "edge_plugins_errors_total{plugin=\"test_c_tagger\",instance=\"t\"} 1"),
            std::string::npos);
}

TEST(InstanceTest, CreationRefusalCarriesThePluginsReason) {
  TempDir dir;
  auto plugin = loadPlugin(dropIn(testPluginPath("test_c_tagger"), dir, "tagger.so"));
  ASSERT_TRUE(plugin);
  auto options = validateOptions(**plugin, {{"tag", "refuse"}});
  ASSERT_TRUE(options);
  auto instance = ProcessorInstance::create(*plugin, "t1", *options);
  ASSERT_FALSE(instance);
  EXPECT_EQ(instance.error().message,
            "plugin test_c_tagger, instance t1: option tag: \"refuse\" is refused on purpose; pick "
            "another tag");
  EXPECT_FALSE((*plugin)->descriptor().edge_plugin_on_reload);
}

TEST(InstanceTest, OptionsMustBelongToThePlugin) {
  PluginPtr dedup = loadFirstParty("filter_dedup");
  PluginPtr fields = loadFirstParty("filter_fields");
  ASSERT_TRUE(dedup && fields);
  auto options = validateOptions(*fields, {});
  ASSERT_TRUE(options);
  auto instance = ProcessorInstance::create(dedup, "d", *options);
  ASSERT_FALSE(instance);
  EXPECT_EQ(
      instance.error().message,
      "options were validated for plugin 'filter_fields', not for plugin 'filter_dedup'; validate "
      "them with this plugin");
}

TEST(InstanceTest, ReconfigureWithoutReloadHookAsksForANewInstance) {
  TempDir dir;
  auto plugin = loadPlugin(dropIn(testPluginPath("test_c_tagger"), dir, "tagger.so"));
  ASSERT_TRUE(plugin);
  auto options = validateOptions(**plugin, {});
  ASSERT_TRUE(options);
  auto instance = ProcessorInstance::create(*plugin, "t", *options);
  ASSERT_TRUE(instance);
  EXPECT_FALSE((*instance)->supportsReload());
  auto result = (*instance)->reconfigure(*options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message,
            "plugin test_c_tagger cannot apply new options in place; create a new instance");
}

TEST(InstanceTest, KindMismatchIsRefused) {
  TempDir dir;
  auto sink = loadPlugin(dropIn(testPluginPath("test_sdk_sink"), dir, "sink.so"));
  ASSERT_TRUE(sink) << sink.error().message;
  auto options = validateOptions(**sink, {});
  ASSERT_TRUE(options);
  auto processor = ProcessorInstance::create(*sink, "s", *options);
  ASSERT_FALSE(processor);
  EXPECT_EQ(processor.error().message,
            "plugin test_sdk_sink is a sink, not a processor; use it in a route's sinks");
}

TEST(InstanceTest, SinkAnswersAndExceptionsStayInsideThePlugin) {
  TempDir dir;
  auto sink = loadPlugin(dropIn(testPluginPath("test_sdk_sink"), dir, "sink.so"));
  ASSERT_TRUE(sink) << sink.error().message;
  EXPECT_EQ((*sink)->kind(), PluginKind::kSink);
  auto options = validateOptions(**sink, {{"label", "db"}});
  ASSERT_TRUE(options);
  auto instance = SinkInstance::create(*sink, "db1", *options);
  ASSERT_TRUE(instance) << instance.error().message;

  std::vector<Event> events{makeEvent("log"), makeEvent("log")};
  EXPECT_EQ((*instance)->write(events, {"agent-7", 1, 0, "acme"}).status, SinkStatus::kOk);
  SinkOutcome retry = (*instance)->write(events, {"agent-7", 2, 0, "retry"});
  EXPECT_EQ(retry.status, SinkStatus::kRetry);
  EXPECT_EQ(retry.reason, "db: store busy, try again");
  SinkOutcome error = (*instance)->write(events, {"agent-7", 3, 0, "error"});
  EXPECT_EQ(error.status, SinkStatus::kError);
  EXPECT_EQ(error.reason, "db: store rejected the batch");

  std::vector<Event> throwing{makeEvent("throw")};
  SinkOutcome thrown = (*instance)->write(throwing, {"agent-7", 4, 0, "acme"});
  EXPECT_EQ(thrown.status, SinkStatus::kError);
  EXPECT_EQ(thrown.reason, "internal error in plugin: bug while writing agent-7");

  std::vector<Event> modifying{makeEvent("modify")};
  SinkOutcome modified = (*instance)->write(modifying, {"agent-7", 5, 0, "acme"});
  EXPECT_EQ(modified.status, SinkStatus::kError);
  EXPECT_NE(modified.reason.find("read-only"), std::string::npos) << modified.reason;
  EXPECT_EQ(modifying[0].host, "web-1");
  EXPECT_NE((*instance)->metrics().renderPrometheus().find(
                "edge_plugin_test_sdk_sink_written_total{instance=\"db1\"} 2"),
            std::string::npos);
}

// --- reference docs -------------------------------------------------------------

std::vector<PluginPtr> firstPartyPlugins() {
  std::vector<PluginPtr> plugins;
  for (const char* name : {"filter_dedup", "filter_fields", "filter_lookup"})
    plugins.push_back(loadFirstParty(name));
  return plugins;
}

TEST(ReferenceTest, RendersOptionTables) {
  std::string text = renderMarkdownReference(firstPartyPlugins());
  EXPECT_NE(text.find("### filter_dedup\n\n*processor, version 1.0.0, ABI 1.0*\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("| `key` | string | *required* | Template naming what makes two events duplicates"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("| `window` | duration | `60s` |"), std::string::npos);
  EXPECT_NE(text.find("| `remove` | string list | *empty* | Fields to remove |"),
            std::string::npos);
}

TEST(ReferenceTest, DocsPluginsMdIsCurrent) {
  const std::string path = std::string(EDGE_SOURCE_DIR) + "/docs/plugins.md";
  std::string doc = readFile(path);
  const std::string begin = "<!-- BEGIN GENERATED PLUGIN REFERENCE -->\n";
  const std::string end = "<!-- END GENERATED PLUGIN REFERENCE -->";
  size_t b = doc.find(begin);
  size_t e = doc.find(end);
  ASSERT_NE(b, std::string::npos) << path << " lacks the generated reference markers";
  ASSERT_NE(e, std::string::npos);
  std::string current = doc.substr(b + begin.size(), e - b - begin.size());
  EXPECT_EQ(current, renderMarkdownReference(firstPartyPlugins()))
      << path
      << " is out of date with the plugins' option tables. Regenerate the section between the "
      << "markers with: edge_plugin_docs <build>/plugins/lib --update docs/plugins.md";
}

}  // namespace
}  // namespace edge::plugins
