// filter_fields: field operations on every event — rename, remove, set/add
// from value templates, and PII protection by redaction or keyed hashing
// (HMAC-SHA256, so equal values stay joinable without being readable).
#include <mbedtls/md.h>

#include <edge/plugin_sdk.hpp>
#include <fstream>
#include <memory>
#include <sstream>

namespace sdk = edge::plugin_sdk;

namespace {

constexpr edge_plugin_option kOptions[] = {
    sdk::option("rename", EDGE_OPT_STRING_LIST, "",
                "Fields to rename, each as from=to; an existing field named to is replaced"),
    sdk::option("remove", EDGE_OPT_STRING_LIST, "", "Fields to remove"),
    sdk::option("set", EDGE_OPT_STRING_LIST, "",
                "Fields to set, each as name=template, e.g. env=prod or origin={host}:{source}; a "
                "template that is one {field} copies the value with its type"),
    sdk::option("add", EDGE_OPT_STRING_LIST, "",
                "Like set, but only for events that do not have the field yet"),
    sdk::option("redact", EDGE_OPT_STRING_LIST, "",
                "Fields whose value is replaced with \"[REDACTED]\""),
    sdk::option("hash", EDGE_OPT_STRING_LIST, "",
                "Fields whose value is replaced with the hex HMAC-SHA256 of the value under "
                "hash_key (equal values give equal hashes)"),
    sdk::option("hash_key", EDGE_OPT_STRING, nullptr,
                "Secret key for hash, at least 16 bytes (prefer hash_key_file)"),
    sdk::option("hash_key_file", EDGE_OPT_STRING, nullptr,
                "File holding the secret key for hash (trailing newline ignored)"),
    sdk::option("clear_raw", EDGE_OPT_BOOL, "false",
                "Also empty the raw record, which usually contains the redacted or hashed values"),
};

constexpr const char* kDescription =
    "Field operations applied to every event, in this order: rename, remove, set, add, redact, "
    "hash, clear_raw. Templates use {name} for a field or for kind, source, host, severity, "
    "tenant, seq, ts, raw; {field:name} forces a field.";

constexpr size_t kMinKeyBytes = 16;
constexpr std::string_view kRedacted = "[REDACTED]";

// HMAC-SHA256 with the key set up once; reset per value.
class Hmac {
 public:
  explicit Hmac(const std::string& key) {
    mbedtls_md_init(&ctx_);
    const mbedtls_md_info_t* info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (info == nullptr || mbedtls_md_setup(&ctx_, info, 1) != 0 ||
        mbedtls_md_hmac_starts(&ctx_, reinterpret_cast<const unsigned char*>(key.data()),
                               key.size()) != 0) {
      mbedtls_md_free(&ctx_);
      throw std::runtime_error("cannot set up HMAC-SHA256 (mbedTLS)");
    }
  }
  ~Hmac() { mbedtls_md_free(&ctx_); }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  std::string hex(std::string_view value) {
    unsigned char digest[32];
    if (mbedtls_md_hmac_reset(&ctx_) != 0 ||
        mbedtls_md_hmac_update(&ctx_, reinterpret_cast<const unsigned char*>(value.data()),
                               value.size()) != 0 ||
        mbedtls_md_hmac_finish(&ctx_, digest) != 0) {
      throw std::runtime_error("HMAC-SHA256 failed (mbedTLS)");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(64, '0');
    for (size_t i = 0; i < 32; ++i) {
      out[2 * i] = kHex[digest[i] >> 4];
      out[2 * i + 1] = kHex[digest[i] & 15];
    }
    return out;
  }

 private:
  mbedtls_md_context_t ctx_;
};

struct Assignment {
  std::string field;
  sdk::Template value;
};

struct Config {
  std::vector<std::pair<std::string, std::string>> rename;
  std::vector<std::string> remove;
  std::vector<Assignment> set;
  std::vector<Assignment> add;
  std::vector<std::string> redact;
  std::vector<std::string> hash;
  std::unique_ptr<Hmac> hmac;
  bool clear_raw = false;
};

std::pair<std::string, std::string> splitPair(const std::string& option, const std::string& item,
                                              const char* example) {
  size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw sdk::Error("option " + option + ": \"" + item + "\" is not of the form " + example);
  }
  return {item.substr(0, eq), item.substr(eq + 1)};
}

std::string readKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw sdk::Error("option hash_key_file: cannot read " + path +
                     "; check the path and its permissions");
  std::ostringstream text;
  text << in.rdbuf();
  std::string key = text.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  return key;
}

std::unique_ptr<Config> parseConfig(const sdk::Options& options) {
  auto config = std::make_unique<Config>();
  for (const std::string& item : options.list("rename")) {
    auto [from, to] = splitPair("rename", item, "from=to");
    if (to.empty()) throw sdk::Error("option rename: \"" + item + "\" has no new name after '='");
    config->rename.emplace_back(from, to);
  }
  config->remove = options.list("remove");
  for (const char* name : {"set", "add"}) {
    for (const std::string& item : options.list(name)) {
      auto [field, text] = splitPair(name, item, "name=template");
      try {
        Assignment assignment{field, sdk::Template::parse(text)};
        (std::string_view(name) == "set" ? config->set : config->add)
            .push_back(std::move(assignment));
      } catch (const sdk::Error& e) {
        throw sdk::Error(std::string("option ") + name + ": " + e.what());
      }
    }
  }
  config->redact = options.list("redact");
  config->hash = options.list("hash");
  config->clear_raw = options.boolean("clear_raw");

  if (options.has("hash_key") && options.has("hash_key_file")) {
    throw sdk::Error(
        "options hash_key and hash_key_file are both set; keep one (hash_key_file keeps the "
        "secret out of the configuration)");
  }
  std::string key = options.has("hash_key_file") ? readKeyFile(options.string("hash_key_file"))
                                                 : options.string("hash_key");
  if (!config->hash.empty()) {
    if (key.empty()) {
      throw sdk::Error(
          "option hash lists fields but no key is configured; set hash_key_file (or hash_key) "
          "to a random secret of at least 16 bytes");
    }
    if (key.size() < kMinKeyBytes) {
      throw sdk::Error("the hash key is " + std::to_string(key.size()) + " bytes; use at least " +
                       std::to_string(kMinKeyBytes) +
                       " random bytes, or hashed values can be recovered by guessing the key");
    }
    config->hmac = std::make_unique<Hmac>(key);
  }
  return config;
}

class FilterFields final : public sdk::Processor {
 public:
  explicit FilterFields(const sdk::Context& ctx)
      : config_(parseConfig(ctx.options)),
        redacted_(ctx.host.counter("redacted_total", "Field values replaced with [REDACTED]")),
        hashed_(ctx.host.counter("hashed_total", "Field values replaced with their HMAC-SHA256")) {}

  // New options apply atomically: parseConfig throws before anything changes.
  void reload(const sdk::Options& options) { config_ = parseConfig(options); }

  void process(sdk::Batch& batch) override {
    const Config& c = *config_;
    for (size_t i = 0; i < batch.size(); ++i) {
      sdk::Event event = batch[i];
      if (event.dropped()) continue;
      for (const auto& [from, to] : c.rename) {
        auto value = event.field(from);
        if (!value) continue;
        sdk::OwnedValue copy = sdk::toOwned(*value);  // the view dies with the field
        event.removeField(from);
        event.setField(to, sdk::borrow(copy));
      }
      for (const std::string& field : c.remove) event.removeField(field);
      for (const Assignment& a : c.set) assign(event, a);
      for (const Assignment& a : c.add) {
        if (!event.field(a.field)) assign(event, a);
      }
      for (const std::string& field : c.redact) {
        if (!event.field(field)) continue;
        event.setString(field, kRedacted);
        redacted_.add();
      }
      for (const std::string& field : c.hash) {
        auto value = event.field(field);
        if (!value) continue;
        std::string digest = c.hmac->hex(sdk::valueToString(*value));
        event.setString(field, digest);
        hashed_.add();
      }
      if (c.clear_raw) event.setRaw({});
    }
  }

 private:
  static void assign(sdk::Event& event, const Assignment& a) {
    std::optional<sdk::OwnedValue> value = a.value.evaluate(event);
    if (!value) return;  // a lone {field} that is missing: nothing to copy
    event.setField(a.field, sdk::borrow(*value));
  }

  std::unique_ptr<Config> config_;
  sdk::Counter redacted_;
  sdk::Counter hashed_;
};

}  // namespace

EDGE_PROCESSOR_PLUGIN(FilterFields, "filter_fields", "1.0.0", kDescription, kOptions)
