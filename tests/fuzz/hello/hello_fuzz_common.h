// What the HELLO fuzz target and its seed generator share: the fixed time
// at which the seed tokens are valid and the token key they are signed with.
#pragma once

#include <cstdint>

namespace edge::fuzz {

inline constexpr int64_t kHelloFuzzNow = 1700000000;
inline constexpr char kHelloFuzzTokenKeyHex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
inline constexpr char kHelloFuzzTenant[] = "acme";

}  // namespace edge::fuzz
