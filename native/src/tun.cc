#include "tun.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

namespace tabby {

namespace {

/** An ifreq naming `name`; the caller has checked that it fits (IFNAMSIZ - 1 bytes). */
ifreq InterfaceRequest(const std::string& name) {
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return request;
}

}  // namespace

SysResult OpenTun(const std::string& name, bool persistent, UniqueFd* out) {
  if (name.empty() || name.size() >= IFNAMSIZ) return SysResult::Failure(EINVAL, "TUNSETIFF");
  UniqueFd fd(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.Valid()) return LastError("open /dev/net/tun");
  ifreq request = InterfaceRequest(name);
  request.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd.Get(), TUNSETIFF, &request) != 0) return LastError("ioctl TUNSETIFF");
  unsigned offloads = TUN_F_CSUM | TUN_F_TSO4;
  if (ioctl(fd.Get(), TUNSETOFFLOAD, offloads) != 0) return LastError("ioctl TUNSETOFFLOAD");
  // Also clears persistence on a device left persistent before, when this datapath is not to keep it.
  if (ioctl(fd.Get(), TUNSETPERSIST, persistent ? 1 : 0) != 0) return LastError("ioctl TUNSETPERSIST");
  *out = std::move(fd);
  return SysResult::Ok();
}

SysResult SetInterfaceMtu(const std::string& name, int mtu) {
  // Any socket will do for interface ioctls.
  UniqueFd control(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!control.Valid()) return LastError("socket");
  ifreq request = InterfaceRequest(name);
  request.ifr_mtu = mtu;
  if (ioctl(control.Get(), SIOCSIFMTU, &request) != 0) return LastError("ioctl SIOCSIFMTU");
  return SysResult::Ok();
}

}  // namespace tabby
