// Tests of the syslog input with real sockets on loopback (UDP, TCP, unix
// datagram and stream), its stream framing, backpressure, limits and
// configuration.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "edge/common/config.h"
#include "input_test_support.h"
#include "inputs/in_syslog/syslog_framer.h"
#include "inputs/in_syslog/syslog_input.h"
#include "parsers/syslog_parser.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;

// --- framing -----------------------------------------------------------------

struct Framed {
  std::string message;
  bool truncated;
  bool operator==(const Framed&) const = default;
};

void PrintTo(const Framed& framed, std::ostream* out) {
  *out << "{\"" << framed.message << "\"" << (framed.truncated ? ", truncated}" : "}");
}

std::string octetCounted(const std::string& message) {
  return std::to_string(message.size()) + " " + message;
}

std::vector<Framed> frameAll(SyslogStreamFramer& framer, std::string_view data, size_t piece,
                             bool finish = false) {
  std::vector<Framed> out;
  auto on_message = [&](std::string_view m, bool t) {
    out.push_back({std::string(m), t});
    return true;
  };
  for (size_t at = 0; at < data.size(); at += piece) {
    std::string_view part = data.substr(at, piece);
    EXPECT_EQ(framer.feed(part, on_message), part.size());
  }
  if (finish) framer.finish(on_message);
  return out;
}

TEST(SyslogStreamFramer, DetectsFramingPerMessageWhateverTheReadBoundaries) {
  const std::string stream = octetCounted("<13>1 - h a - - - one") +  // octet-counted
                             "<13>Oct 11 22:14:15 h a: two\n" +       // newline
                             "<13>three\r\n" +                        // CRLF
                             "\n" +                    // an empty line between messages
                             octetCounted("<1>x\n") +  // octet-counted, LF inside
                             "\n" +                    // stray LF after an octet-counted frame
                             "2024-01-01 is not a count\n";  // digits, no space after them
  const std::vector<Framed> expected = {{"<13>1 - h a - - - one", false},
                                        {"<13>Oct 11 22:14:15 h a: two", false},
                                        {"<13>three", false},
                                        {"<1>x\n", false},
                                        {"2024-01-01 is not a count", false}};
  for (size_t piece : {stream.size(), size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
    SCOPED_TRACE("pieces of " + std::to_string(piece));
    SyslogStreamFramer framer(1024);
    EXPECT_EQ(frameAll(framer, stream, piece), expected);
    EXPECT_EQ(framer.buffered(), 0u);
  }
}

TEST(SyslogStreamFramer, LongMessagesAreCutAndTheNextOneIsIntact) {
  SyslogStreamFramer framer(10);
  std::string stream = "30 " + std::string(30, 'a') + std::string(25, 'b') + "\n" + "<1>ok\n";
  std::vector<Framed> out = frameAll(framer, stream, 4);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], (Framed{std::string(10, 'a'), true}));
  EXPECT_EQ(out[1], (Framed{std::string(10, 'b'), true}));
  EXPECT_EQ(out[2], (Framed{"<1>ok", false}));
  EXPECT_LE(framer.buffered(), 10u);
}

TEST(SyslogStreamFramer, CutsOnUtf8Boundaries) {
  SyslogStreamFramer framer(5);
  std::vector<Framed> out = frameAll(framer, "abcd\xC3\xA4xyz\n", 100);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (Framed{"abcd", true}));
}

TEST(SyslogStreamFramer, EndOfStreamFlushesTheLastMessage) {
  SyslogStreamFramer lines(100);
  EXPECT_EQ(frameAll(lines, "<1>a\n<1>no newline", 100, true),
            (std::vector<Framed>{{"<1>a", false}, {"<1>no newline", false}}));
  SyslogStreamFramer counted(100);
  EXPECT_EQ(frameAll(counted, "10 <1>abc", 100, true), (std::vector<Framed>{{"<1>abc", true}}))
      << "a frame shorter than its count is reported truncated";
}

TEST(SyslogStreamFramer, StopsWhenAskedAndResumesWhereItStopped) {
  SyslogStreamFramer framer(100);
  std::vector<std::string> got;
  std::string data = "<1>a\n<1>b\n<1>c\n";
  size_t used = framer.feed(data, [&](std::string_view m, bool) {
    got.emplace_back(m);
    return got.size() < 2;
  });
  EXPECT_EQ(used, 10u);
  EXPECT_EQ(got, (std::vector<std::string>{"<1>a", "<1>b"}));
  used = framer.feed(std::string_view(data).substr(used), [&](std::string_view m, bool) {
    got.emplace_back(m);
    return true;
  });
  EXPECT_EQ(got.back(), "<1>c");
}

// --- the input on real sockets -------------------------------------------------

using testing::text;

class SyslogInputTest : public testing::InputLoopTest<SyslogInput> {
 protected:
  SyslogInputTest() : InputLoopTest("syslog", "sys") {}

  void TearDown() override {
    InputLoopTest::TearDown();
    for (int fd : fds_) ::close(fd);
  }

  int track(int fd) {
    fds_.push_back(fd);
    return fd;
  }

  void sendUdp(uint16_t port, std::string_view payload) {
    int fd = track(::socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                       sizeof(to)),
              static_cast<ssize_t>(payload.size()));
  }

  int connectTcp(uint16_t port) {
    int fd = track(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0)
        << std::strerror(errno);
    return fd;
  }

  int connectUnix(const std::string& path, int type) {
    int fd = track(::socket(AF_UNIX, type, 0));
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    std::strncpy(to.sun_path, path.c_str(), sizeof(to.sun_path) - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0)
        << std::strerror(errno);
    return fd;
  }

  static void sendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  testing::TempDir dir_;
  std::vector<int> fds_;
};

TEST_F(SyslogInputTest, UdpMessagesBecomeParsedEvents) {
  SyslogInputConfig config;
  config.listen_udp = "127.0.0.1:0";
  config.utc = true;
  SyslogInput& input = start(config);
  ASSERT_NE(input.udpPort(), 0);
  sendUdp(input.udpPort(),
          "<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 [a@1 k=\"v\"] hello");
  sendUdp(input.udpPort(), "<13>Oct 11 22:14:15 web sshd[42]: Accepted publickey\n");
  sendUdp(input.udpPort(), "no header at all");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 3; }));

  const Event& rfc5424 = sink_.events[0];
  EXPECT_EQ(rfc5424.kind, "syslog");
  EXPECT_EQ(rfc5424.source, "udp:127.0.0.1:" + std::to_string(input.udpPort()));
  EXPECT_EQ(rfc5424.raw, "<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 [a@1 k=\"v\"] hello");
  EXPECT_EQ(rfc5424.host, "mymachine");
  EXPECT_EQ(rfc5424.severity, Severity::kCritical);
  EXPECT_EQ(rfc5424.ts_ns, 1065910455003000000);
  EXPECT_EQ(text(rfc5424, "facility"), "auth");
  EXPECT_EQ(text(rfc5424, "app_name"), "su");
  EXPECT_EQ(text(rfc5424, "msgid"), "ID47");
  EXPECT_EQ(text(rfc5424, "sd.a@1.k"), "v");
  EXPECT_EQ(text(rfc5424, "message"), "hello");
  EXPECT_EQ(text(rfc5424, "sender").rfind("127.0.0.1:", 0), 0u) << text(rfc5424, "sender");

  const Event& bsd = sink_.events[1];
  EXPECT_EQ(bsd.raw, "<13>Oct 11 22:14:15 web sshd[42]: Accepted publickey")
      << "framing LF dropped";
  EXPECT_EQ(bsd.host, "web");
  EXPECT_EQ(text(bsd, "app_name"), "sshd");
  EXPECT_EQ(text(bsd, "procid"), "42");
  EXPECT_EQ(text(bsd, "message"), "Accepted publickey");

  const Event& plain = sink_.events[2];
  EXPECT_EQ(plain.host, "agent-host") << "no HOSTNAME: the agent's";
  EXPECT_EQ(text(plain, "message"), "no header at all");
  EXPECT_EQ(plain.severity, Severity::kNotice);

  EXPECT_EQ(input.stats().events_read, 3u);
  EXPECT_NE(metricsText().find("edge_agent_events_read_total{input=\"sys\"} 3"), std::string::npos)
      << metricsText();
}

TEST_F(SyslogInputTest, LongDatagramsAreTruncatedAndCounted) {
  SyslogInputConfig config;
  config.listen_udp = "127.0.0.1:0";
  config.max_message_bytes = 256;
  SyslogInput& input = start(config);
  sendUdp(input.udpPort(), "<13>Oct 11 22:14:15 h app: " + std::string(1000, 'x'));
  sendUdp(input.udpPort(), "<13>Oct 11 22:14:15 h app: short");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 2; }));
  EXPECT_EQ(sink_.events[0].raw.size(), 256u);
  EXPECT_NE(sink_.events[0].findField("truncated"), nullptr);
  EXPECT_EQ(sink_.events[1].findField("truncated"), nullptr);
  EXPECT_EQ(input.stats().lines_truncated, 1u);
  EXPECT_NE(metricsText().find("edge_agent_lines_truncated_total{input=\"sys\"} 1"),
            std::string::npos);
}

// Structured-data parameters beyond the parser's limit are dropped, and an
// operator sees how many: in the input's stats (heartbeats) and its metrics.
TEST_F(SyslogInputTest, DroppedStructuredDataIsCountedAndExported) {
  SyslogInputConfig config;
  config.listen_udp = "127.0.0.1:0";
  SyslogInput& input = start(config);
  std::string sd;
  for (size_t i = 0; i < kMaxSyslogSdFields + 5; ++i) sd += "[p" + std::to_string(i) + " k=\"v\"]";
  sendUdp(input.udpPort(), "<13>1 2003-10-11T22:14:15Z h app - - " + sd + " body");
  sendUdp(input.udpPort(), "<13>1 2003-10-11T22:14:15Z h app - - [one k=\"v\"] body");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 2; }));
  EXPECT_EQ(text(sink_.events[0], "message"), "body");
  EXPECT_EQ(text(sink_.events[0], "sd.p0.k"), "v");
  EXPECT_EQ(sink_.events[0].findField("sd.p" + std::to_string(kMaxSyslogSdFields) + ".k"), nullptr);
  EXPECT_EQ(input.stats().fields_dropped, 5u);
  EXPECT_TRUE(hasMetric("edge_agent_parser_fields_dropped_total{input=\"sys\"} 5"))
      << metricsText();
}

TEST_F(SyslogInputTest, PausedUdpDatagramsAreReadAndCountedAsDropped) {
  SyslogInputConfig config;
  config.listen_udp = "127.0.0.1:0";
  SyslogInput& input = start(config);
  input.pause();
  for (int i = 0; i < 5; ++i) sendUdp(input.udpPort(), "<13>dropped " + std::to_string(i));
  ASSERT_TRUE(runUntil([&] { return input.stats().events_dropped == 5; }));
  EXPECT_TRUE(sink_.events.empty());
  EXPECT_NE(metricsText().find("edge_agent_input_dropped_total{input=\"sys\",reason=\"paused\"} 5"),
            std::string::npos)
      << metricsText();
  input.resume();
  sendUdp(input.udpPort(), "<13>kept");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 1; }));
  EXPECT_EQ(sink_.events[0].raw, "<13>kept");
}

TEST_F(SyslogInputTest, TcpBothFramingsOnOneConnectionAndTheLastMessageAtClose) {
  SyslogInputConfig config;
  config.listen_tcp = "127.0.0.1:0";
  SyslogInput& input = start(config);
  ASSERT_NE(input.tcpPort(), 0);
  int fd = connectTcp(input.tcpPort());
  const std::string octet = "<165>1 2003-10-11T22:14:15.003Z h app - - - counted";
  sendAll(fd, std::to_string(octet.size()) + " " + octet);
  sendAll(fd, "<13>Oct 11 22:14:15 h app: by newline\n<13>Oct 11 22:14:15 h app: par");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 2; }));
  sendAll(fd, "tial then close");
  ::shutdown(fd, SHUT_WR);
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 3; }));
  EXPECT_EQ(sink_.events[0].raw, octet);
  EXPECT_EQ(text(sink_.events[0], "message"), "counted");
  EXPECT_EQ(text(sink_.events[1], "message"), "by newline");
  EXPECT_EQ(text(sink_.events[2], "message"), "partial then close");
  EXPECT_EQ(sink_.events[2].source, "tcp:127.0.0.1:" + std::to_string(input.tcpPort()));
  EXPECT_FALSE(text(sink_.events[2], "sender").empty());
  ASSERT_TRUE(runUntil([&] { return input.connectionCount() == 0; }));
}

// While paused nothing is read from a TCP sender: its socket buffers fill and
// send() stops (flow control); after resume every message arrives, in order.
TEST_F(SyslogInputTest, PausedTcpPushesBackOnTheSenderAndLosesNothing) {
  SyslogInputConfig config;
  config.listen_tcp = "127.0.0.1:0";
  SyslogInput& input = start(config);
  input.pause();
  int fd = connectTcp(input.tcpPort());
  ASSERT_TRUE(runUntil([&] { return input.connectionCount() == 1; }));
  ASSERT_EQ(::fcntl(fd, F_SETFL, O_NONBLOCK), 0);

  auto message = [](int i) {
    return "<13>Oct 11 22:14:15 h app: message " + std::to_string(i) + " " + std::string(200, 'p') +
           "\n";
  };
  std::string unsent;
  int next = 0;
  bool blocked = false;
  // Fill until the kernel refuses more (a generous cap guards the test).
  while (next < 200000) {
    if (unsent.empty()) unsent = message(next++);
    ssize_t n = ::send(fd, unsent.data(), unsent.size(), MSG_NOSIGNAL);
    if (n < 0) {
      ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
      blocked = true;
      break;
    }
    unsent.erase(0, static_cast<size_t>(n));
    if (next % 64 == 0) uv_run(&loop_, UV_RUN_NOWAIT);
  }
  ASSERT_TRUE(blocked) << "the sender was never pushed back";
  spin();
  EXPECT_TRUE(sink_.events.empty()) << "read while paused";

  input.resume();
  ASSERT_EQ(::fcntl(fd, F_SETFL, 0), 0);
  const int total = next;
  // Finish the message cut by EAGAIN, then let the input drain everything.
  bool all = runUntil([&] {
    if (!unsent.empty()) {
      ssize_t n = ::send(fd, unsent.data(), unsent.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) unsent.erase(0, static_cast<size_t>(n));
    }
    return static_cast<int>(sink_.events.size()) == total;
  });
  ASSERT_TRUE(all) << sink_.events.size() << " of " << total;
  for (int i = 0; i < total; i += 997) {
    EXPECT_EQ(sink_.events[static_cast<size_t>(i)].raw,
              message(i).substr(0, message(i).size() - 1));
  }
  EXPECT_EQ(input.stats().events_dropped, 0u);
}

// Pausing in the middle of a read keeps the rest of that read and frames it
// on resume, so nothing is lost at the pause point.
TEST_F(SyslogInputTest, PauseDuringADeliveryKeepsTheRestOfTheRead) {
  SyslogInputConfig config;
  config.listen_tcp = "127.0.0.1:0";
  SyslogInput& input = start(config);
  sink_.on_deliver = [&] { input.pause(); };
  int fd = connectTcp(input.tcpPort());
  std::string burst;
  for (int i = 0; i < 2000; ++i) burst += "<13>m" + std::to_string(i) + "\n";
  sendAll(fd, burst);
  ASSERT_TRUE(runUntil([&] { return !sink_.events.empty(); }));
  spin();
  size_t first = sink_.events.size();
  EXPECT_LT(first, 2000u) << "the whole burst arrived in one read";
  sink_.on_deliver = nullptr;
  input.resume();
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 2000; }));
  for (size_t i = 0; i < sink_.events.size(); ++i) {
    ASSERT_EQ(sink_.events[i].raw, "<13>m" + std::to_string(i));
  }
}

TEST_F(SyslogInputTest, ConnectionsBeyondTheLimitAreClosedAndCounted) {
  SyslogInputConfig config;
  config.listen_tcp = "127.0.0.1:0";
  config.max_connections = 2;
  SyslogInput& input = start(config);
  int a = connectTcp(input.tcpPort());
  int b = connectTcp(input.tcpPort());
  ASSERT_TRUE(runUntil([&] { return input.connectionCount() == 2; }));
  int c = connectTcp(input.tcpPort());
  char byte;
  // The third connection is closed by the input: its read sees EOF.
  ASSERT_TRUE(runUntil([&] { return ::recv(c, &byte, 1, MSG_DONTWAIT) == 0; }));
  EXPECT_NE(metricsText().find("edge_agent_syslog_connections_rejected_total{input=\"sys\"} 1"),
            std::string::npos)
      << metricsText();
  sendAll(a, "<13>from a\n");
  sendAll(b, "<13>from b\n");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 2; }));
  EXPECT_EQ(input.connectionCount(), 2u);
}

TEST_F(SyslogInputTest, UnixDatagramSocketLikeDevLog) {
  SyslogInputConfig config;
  config.listen_unix = dir_.file("log");
  config.socket_mode = 0620;
  SyslogInput& input = start(config);
  struct stat st {};
  ASSERT_EQ(::stat(config.listen_unix.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0620u);
  int fd = connectUnix(config.listen_unix, SOCK_DGRAM);
  // glibc's syslog(3) sends "<PRI>Mmm dd hh:mm:ss tag[pid]: msg" without a host.
  sendAll(fd, "<30>Jun 15 11:00:00 cron[99]: (root) CMD (run-parts)");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 1; }));
  const Event& event = sink_.events[0];
  EXPECT_EQ(event.source, "unix:" + config.listen_unix);
  EXPECT_EQ(event.host, "agent-host");
  EXPECT_EQ(text(event, "facility"), "daemon");
  EXPECT_EQ(text(event, "app_name"), "cron");
  EXPECT_EQ(text(event, "procid"), "99");
  EXPECT_EQ(text(event, "message"), "(root) CMD (run-parts)");
  input.close();
  EXPECT_FALSE(fs::exists(config.listen_unix)) << "the socket file is removed on close";
}

TEST_F(SyslogInputTest, UnixStreamSocketAndStaleSocketFile) {
  SyslogInputConfig config;
  config.listen_unix_stream = dir_.file("stream.sock");
  {
    // A socket file left behind by a crashed run.
    int stale = track(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, config.listen_unix_stream.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  SyslogInput& input = start(config);
  int fd = connectUnix(config.listen_unix_stream, SOCK_STREAM);
  sendAll(fd, "<13>Oct 11 22:14:15 h a: one\n17 <13>Oct 11 x: two");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 2; }));
  EXPECT_EQ(text(sink_.events[0], "message"), "one");
  EXPECT_EQ(sink_.events[1].raw, "<13>Oct 11 x: two");
  EXPECT_EQ(input.stats().errors, 0u);
}

TEST_F(SyslogInputTest, StartFailuresNameTheListenerAndTheFix) {
  // A TCP port already in use.
  int busy = track(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(busy, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(busy, reinterpret_cast<sockaddr*>(&addr), &len);
  {
    SyslogInputConfig config;
    config.listen_tcp = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    SyslogInput input(context(), common(), config);
    auto started = input.start({});
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.error().message.find("input sys: cannot listen on TCP 127.0.0.1:"),
              std::string::npos)
        << started.error().message;
    EXPECT_NE(started.error().message.find("pick a free port"), std::string::npos);
    input.close();
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  {
    SyslogInputConfig config;
    config.listen_unix = dir_.file("regular-file");
    { std::ofstream(config.listen_unix) << "not a socket"; }
    SyslogInput input(context(), common(), config);
    auto started = input.start({});
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.error().message.find("exists and is not a socket"), std::string::npos)
        << started.error().message;
    EXPECT_TRUE(fs::exists(config.listen_unix)) << "a regular file is never removed";
    input.close();
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
}

// --- configuration -------------------------------------------------------------

struct Parsed {
  std::unique_ptr<InputSpec> spec;
  std::string errors;
};

Parsed parseYaml(const std::string& yaml) {
  auto doc = ConfigDocument::parse(yaml, "agent.yaml");
  EXPECT_TRUE(doc.ok());
  Parsed out;
  ConfigNode node = (*doc)->root()["inputs"].elements().at(0);
  InputCommonConfig common;
  common.type = "syslog";
  common.name = "sys";
  out.spec = syslogInputType().parse(node, common);
  auto finished = (*doc)->finish();
  if (!finished.ok()) out.errors = finished.error().message;
  return out;
}

TEST(SyslogInputConfig, ValidConfigCreatesAWorkingInput) {
  EXPECT_EQ(syslogInputType().type, "syslog");
  EXPECT_EQ(syslogInputType().default_kind, "syslog");
  EXPECT_EQ(syslogInputType().default_when_full, WhenFull::kBlock);
  Parsed parsed = parseYaml(R"(
inputs:
  - type: syslog
    name: sys
    listen_udp: 127.0.0.1:5514
    listen_tcp: "[::1]:5514"
    listen_unix: /run/edge/log
    listen_unix_stream: /run/edge/log.stream
    mode: "0660"
    max_message_bytes: 8KiB
    max_connections: 10
    timezone: utc
    receive_buffer_bytes: 4MiB
)");
  EXPECT_EQ(parsed.errors, "");
  ASSERT_NE(parsed.spec, nullptr);
  EXPECT_EQ(parsed.spec->name(), "sys");
}

TEST(SyslogInputConfig, MistakesAreReportedWithTheKeyAndTheFix) {
  Parsed none = parseYaml("inputs:\n  - type: syslog\n    name: sys\n");
  EXPECT_NE(none.errors.find("expected at least one of listen_udp, listen_tcp"), std::string::npos)
      << none.errors;
  Parsed bad = parseYaml(R"(
inputs:
  - type: syslog
    listen_udp: localhost
    mode: "0999"
    max_message_bytes: 10
    max_conections: 5
)");
  EXPECT_NE(bad.errors.find("agent.yaml:4: inputs[0].listen_udp: expected host:port"),
            std::string::npos)
      << bad.errors;
  EXPECT_NE(bad.errors.find("inputs[0].mode: expected an octal file mode"), std::string::npos)
      << bad.errors;
  EXPECT_NE(bad.errors.find("inputs[0].max_message_bytes: expected a size between 256 and 4MiB"),
            std::string::npos)
      << bad.errors;
  EXPECT_NE(bad.errors.find("max_conections"), std::string::npos) << bad.errors;
  EXPECT_NE(bad.errors.find("max_connections"), std::string::npos)
      << "suggests the right key: " << bad.errors;
}

}  // namespace
}  // namespace edge::agent
