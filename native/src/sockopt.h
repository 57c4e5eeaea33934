// The socket options Node's net module cannot set: TCP-MD5 (RFC 2385) and the TTLs of GTSM (RFC 5082).
#pragma once

#include <string>

#include "inet.h"
#include "syserror.h"

namespace tabby {

/** No change: the value for an option the caller leaves alone. */
constexpr int kUnchanged = -1;

/** The address family of a socket (AF_INET or AF_INET6). */
SysResult SocketFamily(int fd, int* family);

/**
 * Sets the TCP-MD5 key for segments exchanged with `peer` (its port is ignored), or removes it when `key` is empty
 * (removing a key that is not there succeeds). On a listening socket the key applies to every connection accepted
 * from that peer; on a client socket it must be set before connect() so that the SYN is signed.
 */
SysResult SetTcpMd5(int fd, const SocketAddress& peer, const std::string& key);

/**
 * IP_TTL (the TTL of outgoing packets) and IP_MINTTL (drop incoming packets with a smaller TTL), each unless
 * kUnchanged; their IPv6 counterparts on an IPv6 socket.
 */
SysResult SetTtl(int fd, int ttl, int minTtl);

}  // namespace tabby
