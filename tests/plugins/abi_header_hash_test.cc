// Guards the plugin ABI against accidental change: the header's SHA-256 must
// match the committed value, and C and C++ must agree on the struct layout,
// with the never-moving fields where every host expects them.
#include <edge/plugin_abi.h>
#include <gtest/gtest.h>
#include <mbedtls/md.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

extern "C" {
size_t edge_test_c_sizeof_descriptor(void);
size_t edge_test_c_offsetof_name(void);
size_t edge_test_c_offsetof_reserved(void);
size_t edge_test_c_sizeof_host_api(void);
size_t edge_test_c_sizeof_option(void);
size_t edge_test_c_sizeof_option_value(void);
}

namespace {

// SHA-256 of plugins/include/edge/plugin_abi.h as committed. Changing it is
// changing the ABI: see the failure message below.
constexpr const char* kAbiHeaderSha256 =
    "a713db325e73e5a7abe80603c3246ec637e11c321c6552db2534b6c2a291265e";
constexpr unsigned kAbiMajor = 1;
constexpr unsigned kAbiMinor = 0;

std::string sha256Hex(const std::string& data) {
  unsigned char digest[32];
  const mbedtls_md_info_t* info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  EXPECT_EQ(
      mbedtls_md(info, reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest),
      0);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

TEST(AbiHeaderHash, MatchesCommittedValue) {
  const std::string path = std::string(EDGE_SOURCE_DIR) + "/plugins/include/edge/plugin_abi.h";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_EQ(sha256Hex(text.str()), kAbiHeaderSha256)
      << path << " changed. The plugin ABI is a contract with plugins built elsewhere, so every "
      << "change must be deliberate:\n"
      << "  - an addition at the END of a struct (or use of a reserved slot) keeps old plugins "
      << "working: bump EDGE_PLUGIN_ABI_MINOR;\n"
      << "  - anything else (moving, removing, retyping a field; changing a constant) breaks "
      << "them: bump EDGE_PLUGIN_ABI_MAJOR and reset the minor to 0;\n"
      << "  - comment-only edits still change the hash: confirm no declaration changed.\n"
      << "Then update kAbiHeaderSha256 and kAbiMajor/kAbiMinor in this test, and note the change "
      << "in docs/plugins.md. Never change a released struct without a version bump.";
}

TEST(AbiHeaderHash, VersionMatchesThisTest) {
  // A hash update without a version bump (or the reverse) fails here.
  EXPECT_EQ(EDGE_PLUGIN_ABI_MAJOR, kAbiMajor);
  EXPECT_EQ(EDGE_PLUGIN_ABI_MINOR, kAbiMinor);
}

TEST(AbiLayout, FixedHeaderFieldsNeverMove) {
  EXPECT_EQ(offsetof(edge_plugin_descriptor, abi_major), 0u);
  EXPECT_EQ(offsetof(edge_plugin_descriptor, abi_minor), 4u);
  EXPECT_EQ(offsetof(edge_plugin_descriptor, struct_size), 8u);
  EXPECT_EQ(offsetof(edge_plugin_descriptor, build_signature), 12u);
  EXPECT_EQ(sizeof(edge_plugin_descriptor::build_signature), 16u);
  EXPECT_EQ(offsetof(edge_host_api, struct_size), 0u);
  EXPECT_EQ(offsetof(edge_plugin_config, struct_size), 0u);
  EXPECT_EQ(offsetof(edge_batch_info, struct_size), 0u);
}

TEST(AbiLayout, CAndCppAgree) {
  EXPECT_EQ(edge_test_c_sizeof_descriptor(), sizeof(edge_plugin_descriptor));
  EXPECT_EQ(edge_test_c_offsetof_name(), offsetof(edge_plugin_descriptor, name));
  EXPECT_EQ(edge_test_c_offsetof_reserved(), offsetof(edge_plugin_descriptor, reserved));
  EXPECT_EQ(edge_test_c_sizeof_host_api(), sizeof(edge_host_api));
  EXPECT_EQ(edge_test_c_sizeof_option(), sizeof(edge_plugin_option));
  EXPECT_EQ(edge_test_c_sizeof_option_value(), sizeof(edge_option_value));
}

TEST(AbiLayout, BuildSignatureDescribesThisPlatform) {
  constexpr uint8_t kSig[EDGE_PLUGIN_SIGNATURE_SIZE] = EDGE_PLUGIN_BUILD_SIGNATURE_INIT;
  EXPECT_EQ(kSig[0], 'E');
  EXPECT_EQ(kSig[1], sizeof(void*));
  EXPECT_EQ(kSig[4], sizeof(time_t));
  uint16_t probe = 1;
  uint8_t first_byte = 0;
  std::memcpy(&first_byte, &probe, 1);
  EXPECT_EQ(kSig[7], first_byte == 1 ? 'L' : 'B');
}

}  // namespace
