// Name templates: rendering, missing values, escapes, the sanitising rule of
// each mode, and compile errors that name the position.
#include "edge/gateway/pipeline/template.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace edge::gateway::pipeline::testing {
namespace {

std::string render(std::string_view text, const Event& event, TemplateMode mode,
                   const EventContext& context = {}, std::string_view missing = "unknown") {
  auto t = Template::compile(text, mode, missing);
  if (!t) {
    ADD_FAILURE() << t.error().message;
    return {};
  }
  std::string out = "stale";
  t->render(event, context, out);
  return out;
}

std::string compileError(std::string_view text, TemplateMode mode = TemplateMode::kTopic,
                         std::string_view missing = "unknown") {
  auto t = Template::compile(text, mode, missing);
  if (t) return "compiled";
  return t.error().message;
}

TEST(PipelineTemplateTest, RendersPlaceholders) {
  Event e = makeEvent("auth", "web-1", Severity::kWarning);
  e.setField("app", std::string("billing"));
  e.setField("code", int64_t{-7});
  e.setField("ratio", 0.25);
  e.setField("flag", true);
  EXPECT_EQ(render("edge.{tenant}.{kind}", e, TemplateMode::kTopic), "edge.acme.auth");
  EXPECT_EQ(render("{kind}", e, TemplateMode::kTopic), "auth");
  EXPECT_EQ(render("constant-topic", e, TemplateMode::kTopic), "constant-topic");
  EXPECT_EQ(render("{severity}-{fields.app}", e, TemplateMode::kTopic), "warning-billing");
  EXPECT_EQ(render("{fields.code}.{fields.ratio}.{fields.flag}.{seq}", e, TemplateMode::kTopic),
            "-7.0.25.true.42");
  EXPECT_EQ(render("{agent_id}/{host}", e, TemplateMode::kKey, EventContext{"ag-1"}), "ag-1/web-1");
  EXPECT_EQ(render("{kind}{host}", e, TemplateMode::kKey), "authweb-1");
  auto t = Template::compile("a.{kind}", TemplateMode::kTopic);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->isConstant());
  EXPECT_EQ(t->source(), "a.{kind}");
  EXPECT_TRUE(Template::compile("abc", TemplateMode::kTopic)->isConstant());
}

TEST(PipelineTemplateTest, MissingAndEmptyValuesRenderTheDefault) {
  Event e = makeEvent();
  e.host.clear();
  e.setField("empty", std::string());
  EXPECT_EQ(render("edge.{host}.{fields.nope}.{fields.empty}", e, TemplateMode::kTopic),
            "edge.unknown.unknown.unknown");
  EXPECT_EQ(render("edge.{agent_id}", e, TemplateMode::kTopic, {}, "none"), "edge.none");
  // The default is sanitised like a value.
  EXPECT_EQ(render("edge.{host}", e, TemplateMode::kTopic, {}, "no host!"), "edge.no_host_");
  EXPECT_EQ(render("t_{host}", e, TemplateMode::kTable, {}, "No-Host"), "t_no_host");
  // In key mode an empty default is allowed and nothing is replaced.
  EXPECT_EQ(render("k:{host}", e, TemplateMode::kKey, {}, ""), "k:");
  EXPECT_EQ(compileError("edge.{host}", TemplateMode::kTopic, ""),
            "template \"edge.{host}\": the value for missing fields must not be empty (a topic "
            "name cannot be empty)");
}

TEST(PipelineTemplateTest, TopicModeSanitisesValues) {
  Event e = makeEvent();
  e.tenant = "Acme Corp/EU";
  e.kind = "app.log-v2_x";
  EXPECT_EQ(render("edge.{tenant}.{kind}", e, TemplateMode::kTopic),
            "edge.Acme_Corp_EU.app.log-v2_x");
  e.tenant = "caf\xc3\xa9";  // each byte outside the set becomes '_'
  EXPECT_EQ(render("{tenant}", e, TemplateMode::kTopic), "caf__");
  e.tenant = ".";
  EXPECT_EQ(render("{tenant}", e, TemplateMode::kTopic), "_");
  e.tenant = "..";
  EXPECT_EQ(render("{tenant}", e, TemplateMode::kTopic), "__");
  EXPECT_EQ(render("x{tenant}", e, TemplateMode::kTopic), "x..");
  e.tenant = std::string(300, 'a');
  std::string long_topic = render("edge.{tenant}", e, TemplateMode::kTopic);
  EXPECT_EQ(long_topic.size(), kMaxTopicLength);
  EXPECT_EQ(long_topic.substr(0, 6), "edge.a");
}

TEST(PipelineTemplateTest, TableModeSanitisesValues) {
  Event e = makeEvent();
  e.tenant = "Acme Corp.EU-1";
  EXPECT_EQ(render("Events_{tenant}", e, TemplateMode::kTable), "events_acme_corp_eu_1");
  e.tenant = "9lives";
  EXPECT_EQ(render("{tenant}", e, TemplateMode::kTable), "_9lives");
  EXPECT_EQ(render("{seq}", e, TemplateMode::kTable), "_42");
  e.tenant = std::string(100, 'B');
  std::string table = render("t_{tenant}", e, TemplateMode::kTable);
  EXPECT_EQ(table.size(), kMaxTableLength);
  EXPECT_EQ(table.substr(0, 4), "t_bb");
}

TEST(PipelineTemplateTest, KeyModeIsVerbatim) {
  Event e = makeEvent();
  e.tenant = "Acme Corp/EU \xff";
  EXPECT_EQ(render("{tenant}|{kind}", e, TemplateMode::kKey), "Acme Corp/EU \xff|log");
  e.tenant = std::string(1000, 'x');
  EXPECT_EQ(render("{tenant}", e, TemplateMode::kKey).size(), 1000u);
}

TEST(PipelineTemplateTest, BraceEscapes) {
  Event e = makeEvent();
  EXPECT_EQ(render("{{{kind}}}", e, TemplateMode::kKey), "{log}");
  EXPECT_EQ(render("a{{b}}c", e, TemplateMode::kKey), "a{b}c");
  // Topics and tables have no braces, escaped or not.
  EXPECT_EQ(compileError("a{{b", TemplateMode::kTopic),
            "template \"a{{b\": '{' is not allowed in a Kafka topic name (use letters, digits, "
            "'.', '_' and '-') at position 2");
}

TEST(PipelineTemplateTest, CompileErrorsNameThePosition) {
  EXPECT_EQ(compileError("edge.{tenant"),
            "template \"edge.{tenant\": unclosed '{' (a placeholder is {name}; write '{{' for a "
            "literal brace) at position 6");
  EXPECT_EQ(compileError("edge.tenant}"),
            "template \"edge.tenant}\": '}' without a matching '{' (write '}}' for a literal "
            "brace) at position 12");
  EXPECT_EQ(compileError("edge.{}"), "template \"edge.{}\": empty placeholder {} at position 6");
  EXPECT_EQ(compileError("edge.{ten{ant}"),
            "template \"edge.{ten{ant}\": '{' inside the placeholder opened at position 6 at "
            "position 10");
  const std::string unknown = compileError("e.{tennant}");
  EXPECT_TRUE(
      unknown.starts_with("template \"e.{tennant}\": placeholder {tennant}: unknown field "
                          "\"tennant\"; did you mean 'tenant'?"))
      << unknown;
  EXPECT_TRUE(unknown.ends_with("at position 3")) << unknown;
  EXPECT_EQ(compileError("edge {kind}"),
            "template \"edge {kind}\": ' ' is not allowed in a Kafka topic name (use letters, "
            "digits, '.', '_' and '-') at position 5");
  EXPECT_EQ(compileError("ev.{kind}", TemplateMode::kTable),
            "template \"ev.{kind}\": '.' is not allowed in a table name (use letters, digits and "
            "'_') at position 3");
  EXPECT_TRUE(
      compileError("a\tb", TemplateMode::kTopic).starts_with("template \"a\tb\": byte 0x09 is"));
  EXPECT_EQ(compileError(""), "empty template; write a name such as edge.{tenant}.{kind}");
  EXPECT_EQ(compileError(".."),
            "template \"..\": \".\" and \"..\" are not valid Kafka topic names");
  EXPECT_EQ(compileError(std::string(64, 'a'), TemplateMode::kTable),
            "template \"" + std::string(64, 'a') +
                "\": the fixed text alone is 64 bytes; a table name has at most 63");
  EXPECT_EQ(compileError("{fields.}"),
            "template \"{fields.}\": placeholder {fields.}: field name \"fields.\" has no field "
            "key; write fields.<name>, e.g. fields.user at position 1");
}

TEST(PipelineTemplateTest, RenderReusesTheBuffer) {
  Event e = makeEvent();
  auto t = Template::compile("edge.{tenant}.{kind}", TemplateMode::kTopic);
  ASSERT_TRUE(t.ok());
  std::string out;
  out.reserve(64);
  const char* data = out.data();
  for (int i = 0; i < 10; ++i) {
    t->render(e, {}, out);
    EXPECT_EQ(out, "edge.acme.log");
  }
  EXPECT_EQ(out.data(), data);
}

}  // namespace
}  // namespace edge::gateway::pipeline::testing
