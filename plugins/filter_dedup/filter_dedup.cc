// filter_dedup: drops events whose key (a template such as "{host}:{msg}")
// already passed within the last `window`, on the host's clock. Memory is
// bounded: at most max_keys keys, least recently seen evicted first (and
// counted), and long keys are kept as their SHA-256 digest.
#include <mbedtls/md.h>

#include <edge/plugin_sdk.hpp>
#include <list>
#include <unordered_map>

namespace sdk = edge::plugin_sdk;

namespace {

constexpr edge_plugin_option kOptions[] = {
    sdk::requiredOption("key", EDGE_OPT_STRING,
                        "Template naming what makes two events duplicates, e.g. {host}:{msg}; "
                        "events missing a field of the key always pass"),
    sdk::option("window", EDGE_OPT_DURATION, "60s",
                "An event is dropped if an event with the same key passed less than this long ago"),
    sdk::option("max_keys", EDGE_OPT_INT, "100000",
                "Keys remembered at most; beyond it the least recently seen key is evicted "
                "(counted in evictions_total)"),
};

constexpr const char* kDescription =
    "Time-window de-duplication: the first event with a given key passes and starts a window; "
    "events with the same key inside the window are dropped (counted in duplicates_total); the "
    "first one after it passes and starts a new window. State is per instance, i.e. per gateway "
    "worker, and an agent's connection stays on one worker. Memory stays under about max_keys x "
    "(min(key length, 65) + 100) bytes.";

// Keys up to this length are stored as they are; longer ones as a digest.
constexpr size_t kMaxStoredKey = 64;

class Digester {
 public:
  Digester() {
    mbedtls_md_init(&ctx_);
    const mbedtls_md_info_t* info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (info == nullptr || mbedtls_md_setup(&ctx_, info, 0) != 0) {
      mbedtls_md_free(&ctx_);
      throw std::runtime_error("cannot set up SHA-256 (mbedTLS)");
    }
  }
  ~Digester() { mbedtls_md_free(&ctx_); }
  Digester(const Digester&) = delete;
  Digester& operator=(const Digester&) = delete;

  // 's' + key for short keys, 'h' + digest for long ones, so the two never collide.
  void storedKey(std::string_view key, std::string& out) {
    out.clear();
    if (key.size() <= kMaxStoredKey) {
      out += 's';
      out += key;
      return;
    }
    unsigned char digest[32];
    if (mbedtls_md_starts(&ctx_) != 0 ||
        mbedtls_md_update(&ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size()) !=
            0 ||
        mbedtls_md_finish(&ctx_, digest) != 0) {
      throw std::runtime_error("SHA-256 failed (mbedTLS)");
    }
    out += 'h';
    out.append(reinterpret_cast<const char*>(digest), sizeof(digest));
  }

 private:
  mbedtls_md_context_t ctx_;
};

class FilterDedup final : public sdk::Processor {
 public:
  explicit FilterDedup(const sdk::Context& ctx)
      : host_(ctx.host),
        duplicates_(
            host_.counter("duplicates_total", "Events dropped as duplicates within the window")),
        evictions_(
            host_.counter("evictions_total",
                          "Keys evicted before their window ended because max_keys was reached")) {
    configure(ctx.options);
  }

  // Keeps the remembered keys; a new key template starts from scratch.
  void reload(const sdk::Options& options) {
    std::string old_key = key_text_;
    configure(options);
    if (key_text_ != old_key) clear();
    const int64_t now = host_.nowNs();
    while (index_.size() > max_keys_) evictOldest(now);
  }

  void process(sdk::Batch& batch) override {
    const int64_t now = host_.nowNs();
    expire(now);
    for (size_t i = 0; i < batch.size(); ++i) {
      sdk::Event event = batch[i];
      if (event.dropped()) continue;
      rendered_.clear();
      if (!key_.renderTo(event, rendered_)) continue;  // never drop on a missing field
      digester_.storedKey(rendered_, stored_);
      auto found = index_.find(std::string_view(stored_));
      if (found != index_.end()) {
        Entry& entry = *found->second;
        lru_.splice(lru_.end(), lru_, found->second);  // most recently seen
        if (now - entry.window_start < window_ns_) {
          event.drop();
          duplicates_.add();
        } else {
          entry.window_start = now;
        }
        continue;
      }
      if (index_.size() >= max_keys_) evictOldest(now);
      lru_.push_back(Entry{stored_, now});
      index_.emplace(std::string_view(lru_.back().key), std::prev(lru_.end()));
    }
  }

 private:
  struct Entry {
    std::string key;
    int64_t window_start;  // when the event that opened the current window passed
  };

  void configure(const sdk::Options& options) {
    std::string text = options.string("key");
    sdk::Template key;
    try {
      key = sdk::Template::parse(text);
    } catch (const sdk::Error& e) {
      throw sdk::Error(std::string("option key: ") + e.what());
    }
    if (key.empty())
      throw sdk::Error("option key is empty; set it to a template such as {host}:{msg}");
    int64_t window_ms = options.duration("window").count();
    if (window_ms <= 0) throw sdk::Error("option window must be positive, e.g. 60s");
    int64_t max_keys = options.integer("max_keys");
    if (max_keys < 1 || max_keys > 100000000) {
      throw sdk::Error("option max_keys must be from 1 to 100000000, got " +
                       std::to_string(max_keys));
    }
    key_ = std::move(key);
    key_text_ = text;
    window_ns_ = window_ms * 1000000LL;
    max_keys_ = static_cast<size_t>(max_keys);
  }

  // Front of the list is least recently seen; drop entries whose window is
  // over while they are there. (An expired entry further back is harmless: it
  // restarts its window when seen and is evicted like any other.)
  void expire(int64_t now) {
    while (!lru_.empty() && now - lru_.front().window_start >= window_ns_) {
      index_.erase(std::string_view(lru_.front().key));
      lru_.pop_front();
    }
  }

  void evictOldest(int64_t now) {
    if (lru_.empty()) return;
    // Only a key whose window was still open costs de-duplication.
    if (now - lru_.front().window_start < window_ns_) evictions_.add();
    index_.erase(std::string_view(lru_.front().key));
    lru_.pop_front();
  }

  void clear() {
    index_.clear();
    lru_.clear();
  }

  sdk::Host host_;
  sdk::Counter duplicates_;
  sdk::Counter evictions_;
  sdk::Template key_;
  std::string key_text_;
  int64_t window_ns_ = 0;
  size_t max_keys_ = 0;
  Digester digester_;
  std::list<Entry> lru_;
  // Views into the list's keys: list nodes never move.
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
  std::string rendered_;
  std::string stored_;
};

}  // namespace

EDGE_PROCESSOR_PLUGIN(FilterDedup, "filter_dedup", "1.0.0", kDescription, kOptions)
