// Reading JavaScript arguments. Each reader throws a TypeError or RangeError naming the argument and returns false,
// so a caller writes `if (!ReadX(...)) return {};` (the addon is built without C++ exceptions).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace tabby {

bool ReadString(Napi::Env env, Napi::Value value, const std::string& name, std::string* out);

/** An integer in [min, max]. */
bool ReadInteger(Napi::Env env, Napi::Value value, const std::string& name, int64_t min, int64_t max, int64_t* out);

/** An object property: absent (undefined) leaves *out unchanged, anything else must be an integer in [min, max]. */
bool ReadOptionalInteger(Napi::Env env, Napi::Object object, const std::string& name, int64_t min, int64_t max,
                         int64_t* out);

/** An object property: absent (undefined) leaves *out unchanged, anything else must be a string. */
bool ReadOptionalString(Napi::Env env, Napi::Object object, const std::string& name, std::string* out);

}  // namespace tabby
