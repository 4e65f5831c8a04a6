// Includes edge/protocol/tls.h next to frame.h: TlsFailure::kProtocolVersion
// shadows protocol::kProtocolVersion under -Wshadow, which is harmless for a
// scoped enumerator, so the warning is silenced for this one include.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include "edge/protocol/tls.h"
#pragma GCC diagnostic pop
