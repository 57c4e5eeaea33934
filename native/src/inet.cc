#include "inet.h"

#include <netdb.h>

#include <cstring>

namespace tabby {

bool ParseIpLiteral(const std::string& text, uint16_t port, SocketAddress* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // AI_NUMERICHOST: literals only, getaddrinfo then never touches the network. Unlike inet_pton it also takes
  // IPv6 zones (fe80::1%eth0), which link-local BGP peers need.
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (getaddrinfo(text.c_str(), nullptr, &hints, &found) != 0) return false;
  std::memcpy(&out->storage, found->ai_addr, found->ai_addrlen);
  out->length = found->ai_addrlen;
  freeaddrinfo(found);
  if (out->Family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&out->storage)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&out->storage)->sin6_port = htons(port);
  }
  return true;
}

SocketAddress MapToIpv6(const SocketAddress& ipv4) {
  const auto& in4 = reinterpret_cast<const sockaddr_in&>(ipv4.storage);
  SocketAddress mapped;
  auto& in6 = reinterpret_cast<sockaddr_in6&>(mapped.storage);
  in6.sin6_family = AF_INET6;
  in6.sin6_port = in4.sin_port;
  in6.sin6_addr.s6_addr[10] = 0xff;
  in6.sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&in6.sin6_addr.s6_addr[12], &in4.sin_addr, sizeof in4.sin_addr);
  mapped.length = sizeof in6;
  return mapped;
}

std::string FormatEndpoint(const std::string& host, uint16_t port) {
  bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace tabby
