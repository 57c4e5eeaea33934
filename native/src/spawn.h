// Starting short-lived commands without fork().
#pragma once

#include <napi.h>

namespace tabby {

/**
 * Adds to `exports`:
 *   spawnCommand(file, args, withStdin): Promise<{pid, stdin, stdout, stderr}>  -- pipe fds (stdin -1 without
 *       withStdin), the file looked up on PATH; rejects with a system error (ENOENT, EACCES, ...) when it cannot
 *       be started
 *   waitCommand(pid, callback(code, signal))  -- reaps the child; called back once it has exited
 */
void RegisterSpawn(Napi::Env env, Napi::Object exports);

}  // namespace tabby
