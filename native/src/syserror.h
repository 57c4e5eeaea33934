// Failed system calls, and the JavaScript errors that report them the way Node's own do
// (code 'ECONNREFUSED', errno -111, syscall 'connect', message "connect ECONNREFUSED 192.0.2.2:179 (...)").
#pragma once

#include <napi.h>

#include <string>

namespace tabby {

/** The outcome of a system call: err 0 on success, else the errno and the call ("bind", "setsockopt IP_TTL"). */
struct SysResult {
  int err = 0;
  const char* call = nullptr;

  bool Failed() const { return err != 0; }
  static SysResult Ok() { return {}; }
  static SysResult Failure(int err, const char* call) { return {err, call}; }
};

/** The errno of the last call, as a failure of `call`. */
SysResult LastError(const char* call);

/**
 * An Error for `result` about `target` (an endpoint such as "192.0.2.2:179"): `code` is the errno's name, `errno`
 * its negated number (as Node reports it), `syscall` the function's name. `detail` replaces strerror() in the message.
 */
Napi::Error SystemError(Napi::Env env, const SysResult& result, const std::string& target,
                        const std::string& detail = "");

}  // namespace tabby
