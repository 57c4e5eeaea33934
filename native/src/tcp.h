// TCP sockets with the options BGP needs before the first packet: TCP-MD5 and GTSM TTLs.
#pragma once

#include <napi.h>

namespace tabby {

/**
 * Adds to `exports`, all working on raw fds that the TypeScript wrapper hands to net.Socket / net.Server:
 *   connect(host, port, {timeoutMs, ttl?, minTtl?, md5?: {peerAddress, key}, localAddress?}): Promise<fd>
 *   listen(address, port, backlog): fd
 *   setMd5(fd, peerAddress, key): void        ('' removes the key)
 *   setTtl(fd, ttl, minTtl?): void
 */
void RegisterTcp(Napi::Env env, Napi::Object exports);

}  // namespace tabby
