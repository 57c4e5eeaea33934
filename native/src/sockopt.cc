#include "sockopt.h"

#include <netinet/tcp.h>

#include <cerrno>
#include <cstring>

namespace tabby {

namespace {

SysResult SetIntOption(int fd, int level, int option, int value, const char* call) {
  if (setsockopt(fd, level, option, &value, sizeof value) != 0) return LastError(call);
  return SysResult::Ok();
}

}  // namespace

SysResult SocketFamily(int fd, int* family) {
  socklen_t length = sizeof *family;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, family, &length) != 0) return LastError("getsockopt SO_DOMAIN");
  return SysResult::Ok();
}

SysResult SetTcpMd5(int fd, const SocketAddress& peer, const std::string& key) {
  const char* call = "setsockopt TCP_MD5SIG";
  if (key.size() > TCP_MD5SIG_MAXKEYLEN) return SysResult::Failure(EINVAL, call);
  int family = 0;
  if (SysResult result = SocketFamily(fd, &family); result.Failed()) return result;
  // The kernel looks keys up by the address as the socket sees it: on an IPv6 socket an IPv4 peer is IPv4-mapped.
  SocketAddress address = family == AF_INET6 && peer.Family() == AF_INET ? MapToIpv6(peer) : peer;
  tcp_md5sig md5{};
  std::memcpy(&md5.tcpm_addr, &address.storage, address.length);
  md5.tcpm_keylen = static_cast<uint16_t>(key.size());
  std::memcpy(md5.tcpm_key, key.data(), key.size());
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof md5) != 0) {
    // Removing a key that was never set is what "no key" asks for.
    if (errno == ENOENT && key.empty()) return SysResult::Ok();
    return LastError(call);
  }
  return SysResult::Ok();
}

SysResult SetTtl(int fd, int ttl, int minTtl) {
  int family = 0;
  if (SysResult result = SocketFamily(fd, &family); result.Failed()) return result;
  // The IPv4 options apply on an IPv6 socket too, to the IPv4(-mapped) connections it carries.
  if (ttl != kUnchanged) {
    if (SysResult r = SetIntOption(fd, IPPROTO_IP, IP_TTL, ttl, "setsockopt IP_TTL"); r.Failed()) return r;
    if (family == AF_INET6) {
      SysResult r = SetIntOption(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl, "setsockopt IPV6_UNICAST_HOPS");
      if (r.Failed()) return r;
    }
  }
  if (minTtl != kUnchanged) {
    if (SysResult r = SetIntOption(fd, IPPROTO_IP, IP_MINTTL, minTtl, "setsockopt IP_MINTTL"); r.Failed()) return r;
    if (family == AF_INET6) {
      SysResult r = SetIntOption(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, minTtl, "setsockopt IPV6_MINHOPCOUNT");
      if (r.Failed()) return r;
    }
  }
  return SysResult::Ok();
}

}  // namespace tabby
