// The PostgreSQL sink. Without a server: the config reader, table names,
// connection-string checks and the migrations' checksums. With a real server
// (EDGE_TEST_PG_DSN, set by tests/integration/postgres_sink_test.py, which
// starts one with pg_harness.py; skipped otherwise): commits, redelivery,
// bisection of refused rows into a real dead-letter queue, table routing,
// partitions, retention and a changed migration. Each server test works in
// a schema of its own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "edge/common/config.h"
#include "edge/common/metrics.h"
#include "edge/gateway/dead_letter_queue.h"
#include "edge/sinks/postgres_schema.h"
#include "edge/sinks/postgres_sink.h"

namespace edge::sinks {
namespace {

using gateway::SinkBatch;
using gateway::SinkResult;
using gateway::SinkStatus;

constexpr std::chrono::seconds kGuard{60};
constexpr int64_t kDayNs = 86'400'000'000'000;

// --- without a server -------------------------------------------------------

struct ReadResult {
  bool enabled = false;
  PostgresSinkOptions options;
  std::string errors;  // "" when the section is valid
};

ReadResult readSection(const std::string& yaml) {
  auto doc = ConfigDocument::parse(yaml, "gateway.yaml");
  EXPECT_TRUE(doc.ok());
  ReadResult out;
  out.enabled = readPostgresSinkOptions((*doc)->root()["sinks"]["postgres"], out.options);
  auto finished = (*doc)->finish();
  if (!finished) out.errors = finished.error().message;
  return out;
}

TEST(PostgresSinkConfig, DefaultsWhenTheSectionIsEmpty) {
  ReadResult r = readSection("sinks:\n  postgres: {}\n");
  EXPECT_EQ(r.errors, "");
  EXPECT_TRUE(r.enabled);
  EXPECT_EQ(r.options.dsn, "");
  EXPECT_EQ(r.options.pool_size, 2u);
  EXPECT_TRUE(r.options.migrate);
  EXPECT_EQ(r.options.table, "events");
  EXPECT_EQ(r.options.retention_days, 0u);
  EXPECT_FALSE(r.options.row_level_security);
}

TEST(PostgresSinkConfig, ReadsEveryKey) {
  ReadResult r = readSection(R"(sinks:
  postgres:
    dsn: "host=db port=5433 dbname=edge user=edge"
    pool_size: 4
    migrate: false
    table: logs
    retention_days: 14
    maintenance_interval: 10m
    row_level_security: true
    queue_max_batches: 32
    max_group_batches: 16
)");
  EXPECT_EQ(r.errors, "");
  EXPECT_EQ(r.options.dsn, "host=db port=5433 dbname=edge user=edge");
  EXPECT_EQ(r.options.pool_size, 4u);
  EXPECT_FALSE(r.options.migrate);
  EXPECT_EQ(r.options.table, "logs");
  EXPECT_EQ(r.options.retention_days, 14u);
  EXPECT_EQ(r.options.maintenance_interval, std::chrono::minutes(10));
  EXPECT_TRUE(r.options.row_level_security);
  EXPECT_EQ(r.options.queue_max_batches, 32u);
  EXPECT_EQ(r.options.max_group_batches, 16u);
}

TEST(PostgresSinkConfig, EnabledFalseTurnsItOff) {
  EXPECT_FALSE(readSection("sinks:\n  postgres: {enabled: false}\n").enabled);
}

TEST(PostgresSinkConfig, NamesEveryMistakeWithItsLine) {
  ReadResult r = readSection(R"(sinks:
  postgres:
    dsn: "host=db port"
    pool_size: 0
    table: "Events-2024"
    retension_days: 3
)");
  EXPECT_NE(r.errors.find("gateway.yaml:3: sinks.postgres.dsn: expected a libpq connection string"),
            std::string::npos)
      << r.errors;
  EXPECT_NE(r.errors.find("gateway.yaml:4: sinks.postgres.pool_size"), std::string::npos) << r.errors;
  EXPECT_NE(r.errors.find("gateway.yaml:5: sinks.postgres.table: expected a table name"),
            std::string::npos)
      << r.errors;
  EXPECT_NE(r.errors.find("retention_days"), std::string::npos) << r.errors;  // did you mean
}

TEST(PostgresSinkConfig, FactoryIsEmptyWhenDisabled) {
  auto doc = ConfigDocument::parse("sinks:\n  postgres: {enabled: false}\n", "g.yaml");
  ASSERT_TRUE(doc.ok());
  ConfigNode section = (*doc)->root()["sinks"]["postgres"];
  EXPECT_FALSE(static_cast<bool>(readPostgresSink(section)));
}

TEST(PostgresSinkTables, AcceptsOnlyNamesThatFitAPartitionSuffix) {
  EXPECT_TRUE(isValidPostgresEventTable("events"));
  EXPECT_TRUE(isValidPostgresEventTable("alerts"));
  EXPECT_TRUE(isValidPostgresEventTable("_events_acme_2"));
  EXPECT_TRUE(isValidPostgresEventTable(std::string(53, 'a')));
  EXPECT_FALSE(isValidPostgresEventTable(std::string(54, 'a')));
  EXPECT_FALSE(isValidPostgresEventTable(""));
  EXPECT_FALSE(isValidPostgresEventTable("2events"));
  EXPECT_FALSE(isValidPostgresEventTable("Events"));
  EXPECT_FALSE(isValidPostgresEventTable("events;drop"));
  EXPECT_FALSE(isValidPostgresEventTable("agents"));
  EXPECT_FALSE(isValidPostgresEventTable("edge_schema_migrations"));
}

TEST(PostgresSchema, MigrationsAreOrderedWithDistinctChecksums) {
  const auto& all = postgresMigrations();
  ASSERT_GE(all.size(), 2u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i) + 1);
    EXPECT_EQ(all[i].checksum.rfind("sha256:", 0), 0u);
    EXPECT_EQ(all[i].checksum.size(), 7u + 64u);
    for (size_t j = 0; j < i; ++j) EXPECT_NE(all[i].checksum, all[j].checksum);
  }
}

TEST(PostgresSchema, DsnChecksAndDescriptionsHideSecrets) {
  EXPECT_TRUE(validatePostgresDsn("").ok());
  EXPECT_TRUE(validatePostgresDsn("host=a dbname=b").ok());
  EXPECT_TRUE(validatePostgresDsn("postgresql://u:secret@h:5432/d").ok());
  EXPECT_FALSE(validatePostgresDsn("host=a nonsense_key=1").ok());
  EXPECT_FALSE(validatePostgresDsn("host='unterminated").ok());
  const std::string shown = describePostgresDsn("host=db user=edge password=hunter2 dbname=e");
  EXPECT_EQ(shown.find("hunter2"), std::string::npos);
  EXPECT_NE(shown.find("host=db"), std::string::npos);
  EXPECT_EQ(describePostgresDsn("postgresql://u:hunter2@h/d").find("hunter2"), std::string::npos);
}

TEST(PostgresSinkStart, AnUnreachableServerFailsStartNamingIt) {
  MetricsRegistry metrics;
  PostgresSinkOptions options;
  options.dsn = "host=127.0.0.1 port=1 dbname=nowhere user=x password=secret connect_timeout=5";
  PostgresSink sink(options, metrics, nullptr);
  auto started = sink.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("cannot connect"), std::string::npos) << started.error().message;
  EXPECT_NE(started.error().message.find("port=1"), std::string::npos) << started.error().message;
  EXPECT_EQ(started.error().message.find("secret"), std::string::npos) << started.error().message;
}

// --- with a server ------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "edge-pg-test-XXXXXX").string();
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class PostgresSinkServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dsn = std::getenv("EDGE_TEST_PG_DSN");
    if (dsn == nullptr || *dsn == '\0') {
      GTEST_SKIP() << "EDGE_TEST_PG_DSN is not set; tests/integration/postgres_sink_test.py runs "
                      "these against a server it starts (ctest -R postgres)";
    }
    std::random_device random;
    schema_ = "t" + std::to_string(getpid()) + "_" + std::to_string(random() % 1000000);
    base_dsn_ = dsn;
    pqxx::connection conn(base_dsn_);
    pqxx::nontransaction tx(conn);
    tx.exec("CREATE SCHEMA " + schema_);
  }

  void TearDown() override {
    if (schema_.empty()) return;
    pqxx::connection conn(base_dsn_);
    pqxx::nontransaction tx(conn);
    tx.exec("DROP SCHEMA " + schema_ + " CASCADE");
  }

  // The DSN with this test's schema first on the search path.
  std::string dsn() const { return base_dsn_ + " options='-c search_path=" + schema_ + "'"; }

  PostgresSinkOptions options() const {
    PostgresSinkOptions o;
    o.dsn = dsn();
    return o;
  }

  std::string scalar(const std::string& sql) {
    pqxx::connection conn(dsn());
    pqxx::nontransaction tx(conn);
    pqxx::result r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }

  static Event event(uint64_t seq, std::string raw, int64_t ts_ns = 1'700'000'000'000'000'000) {
    Event e;
    e.seq = seq;
    e.ts_ns = ts_ns;
    e.kind = "log";
    e.source = "/var/log/test.log";
    e.host = "host-1";
    e.tenant = "acme";
    e.raw = std::move(raw);
    e.fields.push_back({"n", static_cast<int64_t>(seq)});
    return e;
  }

  static gateway::SinkBatchPtr batch(const std::string& agent, uint64_t batch_id,
                                     std::vector<Event> events, std::string table = "") {
    auto b = std::make_shared<SinkBatch>();
    b->agent_id = agent;
    b->batch_id = batch_id;
    b->received_at_ns = 1'700'000'100'000'000'000;
    b->events = std::move(events);
    b->table = std::move(table);
    return b;
  }

  static std::vector<Event> numbered(uint64_t first, uint64_t count) {
    std::vector<Event> events;
    for (uint64_t s = first; s < first + count; ++s) events.push_back(event(s, "line " + std::to_string(s)));
    return events;
  }

  // Submits all batches before waiting, so the sink may group them.
  static std::vector<SinkResult> commit(gateway::Sink& sink, std::vector<gateway::SinkBatchPtr> batches) {
    std::vector<std::future<SinkResult>> futures;
    for (auto& b : batches) {
      auto promise = std::make_shared<std::promise<SinkResult>>();
      futures.push_back(promise->get_future());
      sink.submit(b, [promise](SinkResult r) { promise->set_value(std::move(r)); });
    }
    std::vector<SinkResult> results;
    for (auto& f : futures) {
      EXPECT_EQ(f.wait_for(kGuard), std::future_status::ready);
      results.push_back(f.get());
    }
    return results;
  }

  std::string schema_;
  std::string base_dsn_;
  MetricsRegistry metrics_;
};

TEST_F(PostgresSinkServerTest, StoresEveryEventOnceAndCountsRedelivery) {
  PostgresSink sink(options(), metrics_, nullptr);
  ASSERT_TRUE(sink.start().ok());
  auto results = commit(sink, {batch("agent-a", 1, numbered(1, 500)), batch("agent-b", 1, numbered(1, 300))});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, SinkStatus::kOk) << results[0].reason;
  EXPECT_EQ(results[0].inserted, 500u);
  EXPECT_EQ(results[1].inserted, 300u);
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), "800");
  EXPECT_EQ(scalar("SELECT count(DISTINCT (agent_id, seq)) FROM events"), "800");
  EXPECT_EQ(scalar("SELECT raw || '|' || fields::text || '|' || tenant || '|' || host || '|' || "
                   "severity || '|' || (ts = to_timestamp(1700000000)) FROM events "
                   "WHERE agent_id = 'agent-a' AND seq = 7"),
            "line 7|{\"n\": 7}|acme|host-1|6|true");

  // The same batch again, and a batch overlapping it, in one group.
  results = commit(sink, {batch("agent-a", 1, numbered(1, 500)), batch("agent-a", 2, numbered(401, 200))});
  EXPECT_EQ(results[0].status, SinkStatus::kOk) << results[0].reason;
  EXPECT_EQ(results[0].inserted, 0u);
  EXPECT_EQ(results[0].duplicates, 500u);
  EXPECT_EQ(results[1].inserted, 100u);
  EXPECT_EQ(results[1].duplicates, 100u);
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), "900");
  EXPECT_EQ(metrics_.counter("edge_gateway_postgres_rows_inserted_total", "").value(), 900u);
  EXPECT_EQ(metrics_.counter("edge_gateway_postgres_duplicates_total", "").value(), 600u);

  // Migrations recorded, the agents table kept.
  EXPECT_EQ(scalar("SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM edge_schema_migrations"),
            "1:event tables,2:agents");
  EXPECT_EQ(scalar("SELECT string_agg(id || ':' || tenant || ':' || host, ',' ORDER BY id) FROM agents"),
            "agent-a:acme:host-1,agent-b:acme:host-1");
  sink.stop();
}

TEST_F(PostgresSinkServerTest, BisectsSoOnlyRefusedRowsGoToTheDeadLetterQueue) {
  TempDir dir;
  auto dlq = gateway::DeadLetterQueue::open(gateway::DeadLetterOptions{dir.file("dlq.db")});
  ASSERT_TRUE(dlq.ok()) << dlq.error().message;
  PostgresSink sink(options(), metrics_, *dlq);
  ASSERT_TRUE(sink.start().ok());

  std::vector<Event> events = numbered(1, 200);
  events[10].raw = std::string("has a NUL \0 byte", 16);               // text refuses 0x00
  events[50].fields.push_back({"bad", std::string("nul\0inside", 10)});  // jsonb refuses \u0000
  events[51].raw = "invalid utf-8 \xff\xfe";                            // not UTF-8
  events[120].severity = static_cast<Severity>(9);                      // CHECK (severity 0..7)
  auto results = commit(sink, {batch("agent-a", 1, events), batch("agent-b", 7, numbered(1, 100))});
  ASSERT_EQ(results[0].status, SinkStatus::kOk) << results[0].reason;
  EXPECT_EQ(results[0].inserted, 196u);
  EXPECT_EQ(results[0].dead_lettered, 4u);
  EXPECT_EQ(results[0].duplicates, 0u);
  EXPECT_EQ(results[1].status, SinkStatus::kOk);
  EXPECT_EQ(results[1].inserted, 100u);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE agent_id = 'agent-a'"), "196");
  EXPECT_EQ(scalar("SELECT string_agg(g.s::text, ',' ORDER BY g.s) FROM generate_series(1, 200) g(s) "
                   "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.agent_id = 'agent-a' AND e.seq = g.s)"),
            "11,51,52,121");

  auto letters = (*dlq)->list({});
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 4u);
  std::map<uint64_t, std::string> reasons;
  for (const auto& letter : *letters) {
    EXPECT_EQ(letter.sink, "postgres");
    EXPECT_EQ(letter.agent_id, "agent-a");
    reasons[letter.event.seq] = letter.reason;
  }
  EXPECT_NE(reasons[11].find("0x00"), std::string::npos) << reasons[11];
  EXPECT_NE(reasons[51].find("\\u0000"), std::string::npos) << reasons[51];
  EXPECT_NE(reasons[52].find("UTF8"), std::string::npos) << reasons[52];
  EXPECT_NE(reasons[121].find("severity"), std::string::npos) << reasons[121];
  EXPECT_EQ(metrics_.counter("edge_gateway_postgres_dead_lettered_total", "").value(), 4u);

  // Redelivered after the ack was lost: the good rows are duplicates and the
  // refused ones go to the DLQ again (it is the agent's data, not a dup).
  results = commit(sink, {batch("agent-a", 1, events)});
  EXPECT_EQ(results[0].status, SinkStatus::kOk);
  EXPECT_EQ(results[0].inserted, 0u);
  EXPECT_EQ(results[0].duplicates, 196u);
  EXPECT_EQ(results[0].dead_lettered, 4u);
  sink.stop();
}

TEST_F(PostgresSinkServerTest, WithoutADeadLetterQueueARefusedRowIsAnError) {
  PostgresSinkOptions o = options();
  o.pool_size = 1;
  PostgresSink sink(o, metrics_, nullptr);
  ASSERT_TRUE(sink.start().ok());
  std::vector<Event> events = numbered(1, 20);
  events[3].raw = std::string("\0", 1);
  auto results = commit(sink, {batch("agent-a", 1, events), batch("agent-b", 1, numbered(1, 5))});
  EXPECT_EQ(results[0].status, SinkStatus::kError);
  EXPECT_NE(results[0].reason.find("0x00"), std::string::npos) << results[0].reason;
  EXPECT_EQ(results[1].status, SinkStatus::kOk);
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), "24");
  sink.stop();
}

TEST_F(PostgresSinkServerTest, RoutesTablesAndCreatesThemOnDemand) {
  TempDir dir;
  auto dlq = gateway::DeadLetterQueue::open(gateway::DeadLetterOptions{dir.file("dlq.db")});
  ASSERT_TRUE(dlq.ok());
  PostgresSink sink(options(), metrics_, *dlq);
  ASSERT_TRUE(sink.start().ok());
  auto results = commit(sink, {batch("a", 1, numbered(1, 3), "alerts"), batch("a", 2, numbered(4, 2)),
                               batch("a", 3, numbered(6, 4), "events_acme"),
                               batch("a", 4, numbered(10, 1), "agents")});
  for (const auto& r : results) EXPECT_EQ(r.status, SinkStatus::kOk) << r.reason;
  EXPECT_EQ(scalar("SELECT count(*) FROM alerts"), "3");
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), "2");
  EXPECT_EQ(scalar("SELECT count(*) FROM events_acme"), "4");
  EXPECT_EQ(results[3].dead_lettered, 1u);
  auto letters = (*dlq)->list({});
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_NE(letters->front().reason.find("cannot be an event table"), std::string::npos);
  EXPECT_EQ(scalar("SELECT string_agg(name, ',' ORDER BY name) FROM edge_event_tables"),
            "alerts,events,events_acme");
  sink.stop();
}

TEST_F(PostgresSinkServerTest, CreatesDailyPartitionsAndRetentionDropsOldOnes) {
  PostgresSinkOptions o = options();
  o.retention_days = 30;
  // The sweep runs at start, then not again during the test: an old event
  // sent after it must make its partition again, not race a second sweep.
  o.maintenance_interval = std::chrono::hours(1);
  // Old events first, with no retention thread yet: their partitions appear.
  {
    PostgresSinkOptions keep = options();
    PostgresSink sink(keep, metrics_, nullptr);
    ASSERT_TRUE(sink.start().ok());
    const int64_t jan1_2020 = 1'577'836'800'000'000'000;
    std::vector<Event> events = {event(1, "a", jan1_2020), event(2, "b", jan1_2020 + kDayNs + 5),
                                 event(3, "c", jan1_2020 - 1)};
    auto results = commit(sink, {batch("a", 1, events)});
    ASSERT_EQ(results[0].status, SinkStatus::kOk) << results[0].reason;
    EXPECT_EQ(scalar("SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c "
                     "ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass AND "
                     "(c.relname LIKE 'events_p2019%' OR c.relname LIKE 'events_p2020%')"),
              "events_p20191231,events_p20200101,events_p20200102");
    sink.stop();
  }
  PostgresSink sink(o, metrics_, nullptr);
  ASSERT_TRUE(sink.start().ok());
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (scalar("SELECT count(*) FROM events") != "0" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), "0");
  EXPECT_EQ(scalar("SELECT to_regclass('events_p20200101')"), "");
  // Today's and tomorrow's partitions are made ahead.
  EXPECT_EQ(scalar("SELECT to_regclass('events_p' || to_char((now() AT TIME ZONE 'UTC')::date + 1, "
                   "'YYYYMMDD'))::text IS NOT NULL"),
            "t");
  // An old event after the drop makes its partition again (nothing refused).
  auto results = commit(sink, {batch("a", 2, {event(9, "late", 1'577'836'800'000'000'000)})});
  EXPECT_EQ(results[0].status, SinkStatus::kOk) << results[0].reason;
  EXPECT_EQ(results[0].inserted, 1u);
  EXPECT_GE(metrics_.counter("edge_gateway_postgres_partitions_dropped_total", "").value(), 3u);
  sink.stop();
}

TEST_F(PostgresSinkServerTest, RefusesAChangedMigration) {
  {
    PostgresSink sink(options(), metrics_, nullptr);
    ASSERT_TRUE(sink.start().ok());
    sink.stop();
  }
  scalar("UPDATE edge_schema_migrations SET checksum = 'sha256:0000' WHERE version = 1 RETURNING 1");
  PostgresSink sink(options(), metrics_, nullptr);
  auto started = sink.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("migration 1 (event tables) was applied with checksum sha256:0000"),
            std::string::npos)
      << started.error().message;

  PostgresSinkOptions no_migrate = options();
  no_migrate.migrate = false;
  PostgresSink checked(no_migrate, metrics_, nullptr);
  EXPECT_FALSE(checked.start().ok());
}

TEST_F(PostgresSinkServerTest, WithoutMigrateAnEmptyDatabaseIsRefused) {
  PostgresSinkOptions o = options();
  o.migrate = false;
  PostgresSink sink(o, metrics_, nullptr);
  auto started = sink.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("edgectl db migrate"), std::string::npos) << started.error().message;
}

TEST_F(PostgresSinkServerTest, RowLevelSecurityKeepsTenantsApart) {
  PostgresSinkOptions o = options();
  o.row_level_security = true;
  PostgresSink sink(o, metrics_, nullptr);
  ASSERT_TRUE(sink.start().ok());
  std::vector<Event> acme = numbered(1, 3);
  std::vector<Event> globex = numbered(1, 2);
  for (Event& e : globex) e.tenant = "globex";
  auto results = commit(sink, {batch("a", 1, acme), batch("g", 1, globex)});
  ASSERT_EQ(results[1].status, SinkStatus::kOk) << results[1].reason;
  // A reader role that is not the owner sees only its session's tenant.
  const std::string role = schema_ + "_reader";
  scalar("CREATE ROLE " + role + "; GRANT USAGE ON SCHEMA " + schema_ + " TO " + role +
         "; GRANT SELECT ON events TO " + role + "; SELECT 1");
  auto count_as = [&](const std::string& tenant) {
    pqxx::connection conn(dsn());
    pqxx::work tx(conn);
    tx.exec("SET LOCAL ROLE " + role);
    if (!tenant.empty()) tx.exec("SET LOCAL edge.tenant = " + tx.quote(tenant));
    return tx.exec("SELECT count(*) FROM events")[0][0].as<std::string>();
  };
  EXPECT_EQ(count_as("acme"), "3");
  EXPECT_EQ(count_as("globex"), "2");
  EXPECT_EQ(count_as(""), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), "5");  // the owner (the gateway) sees all
  sink.stop();
  scalar("DROP OWNED BY " + role + "; DROP ROLE " + role + "; SELECT 1");
}

}  // namespace
}  // namespace edge::sinks
