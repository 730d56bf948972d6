// auth/auth_internal.h (internal) — libsodium helpers the auth files share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inhouse::auth::detail {

void init_sodium();  // once per process; throws Error when libsodium cannot start
std::vector<uint8_t> random_bytes(size_t n);
std::string to_hex(const std::vector<uint8_t>& bytes);
std::string base64url(const std::vector<uint8_t>& bytes);  // no padding
// BLAKE2b of text keyed with key, as raw bytes.
std::string keyed_digest(const std::vector<uint8_t>& key, std::string_view text);

}  // namespace inhouse::auth::detail

