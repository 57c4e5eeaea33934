// IP socket addresses: parsing literals (never a name lookup, so never blocking) and printing endpoints.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace tabby {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int Family() const { return storage.ss_family; }
  const sockaddr* Raw() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

/**
 * Parses an IPv4 or IPv6 literal (an IPv6 one may carry a %zone) with `port`. Returns false for anything else,
 * host names included: BGP peers are addresses, and resolving a name could block.
 */
bool ParseIpLiteral(const std::string& text, uint16_t port, SocketAddress* out);

/** An IPv4 address as IPv4-mapped IPv6 (::ffff:a.b.c.d): how an IPv6 socket that also carries IPv4 names it. */
SocketAddress MapToIpv6(const SocketAddress& ipv4);

/** "192.0.2.2:179" or "[2001:db8::2]:179", for messages. */
std::string FormatEndpoint(const std::string& host, uint16_t port);

}  // namespace tabby
