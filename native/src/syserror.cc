#include "syserror.h"

#include <cerrno>
#include <cstring>

namespace tabby {

SysResult LastError(const char* call) { return SysResult::Failure(errno, call); }

Napi::Error SystemError(Napi::Env env, const SysResult& result, const std::string& target,
                        const std::string& detail) {
  const char* name = strerrorname_np(result.err);
  std::string code = name != nullptr ? name : "E" + std::to_string(result.err);
  std::string call = result.call;
  std::string message =
      call + " " + code + " " + target + " (" + (detail.empty() ? std::strerror(result.err) : detail) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", code);
  error.Set("errno", Napi::Number::New(env, -result.err));
  // "setsockopt TCP_MD5SIG" → syscall "setsockopt".
  error.Set("syscall", call.substr(0, call.find(' ')));
  return error;
}

}  // namespace tabby
