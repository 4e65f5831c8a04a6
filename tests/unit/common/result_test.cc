// Tests for Result<T>, Result<void>, EDGE_TRY and error code names.
#include "edge/common/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

namespace edge {
namespace {

Result<int> half(int v) {
  if (v % 2 != 0) return makeError(ErrorCode::kInvalidArgument, std::to_string(v) + " is odd");
  return v / 2;
}

Result<int> quarter(int v) {
  auto h = half(v);
  if (!h) return h.error();
  return half(*h);
}

Result<void> checkEven(int v) {
  EDGE_TRY(half(v));
  return okResult();
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(*r, 4);
  EXPECT_EQ(r.value(), 4);
}

TEST(ResultTest, HoldsError) {
  Result<int> r = half(3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "3 is odd");
}

TEST(ResultTest, PropagatesThroughCallers) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "3 is odd");
}

TEST(ResultTest, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);
}

TEST(ResultTest, StringValueArrowAccess) {
  Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
}

TEST(ResultTest, VoidResult) {
  Result<void> ok = okResult();
  EXPECT_TRUE(ok.ok());
  Result<void> bad = makeError(ErrorCode::kIo, "disk full");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kIo);
  EXPECT_EQ(bad.error().message, "disk full");
}

TEST(ResultTest, TryMacroReturnsFirstError) {
  EXPECT_TRUE(checkEven(4).ok());
  auto r = checkEven(5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "5 is odd");
}

TEST(ResultTest, ErrorCodeNamesAreDistinct) {
  const ErrorCode all[] = {
      ErrorCode::kInvalidArgument,
      ErrorCode::kNotFound,
      ErrorCode::kIo,
      ErrorCode::kProtocol,
      ErrorCode::kTooLarge,
      ErrorCode::kCorrupt,
      ErrorCode::kUnsupportedVersion,
      ErrorCode::kTimeout,
      ErrorCode::kClosed,
      ErrorCode::kBusy,
      ErrorCode::kConfig,
      ErrorCode::kInternal,
  };
  std::set<std::string> names;
  for (ErrorCode code : all) {
    std::string name = errorCodeName(code);
    EXPECT_NE(name, "unknown");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_STREQ(errorCodeName(ErrorCode::kTooLarge), "too_large");
  EXPECT_STREQ(errorCodeName(ErrorCode::kConfig), "config");
}

}  // namespace
}  // namespace edge
