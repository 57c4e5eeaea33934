// TUN devices: a layer-3 network interface whose packets a process reads and writes on a file descriptor.
#pragma once

#include <string>

#include "syserror.h"
#include "unique_fd.h"

namespace tabby {

/**
 * Creates the TUN device `name`, opened non-blocking, carrying IP packets each behind a virtio-net header
 * (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR), with the checksum and TCP/IPv4 segmentation offloads on (TUN_F_CSUM |
 * TUN_F_TSO4): the kernel hands over unsegmented TCP super-packets and partial checksums, and takes them the same
 * way (tcp_segment.h, tcp_coalesce.h). The device lives as long as the fd: closing it removes the device. Fails with
 * EBUSY when another process holds it, and EINVAL when a device of that name exists and is not a TUN device (a
 * kernel `tunl0`, for example).
 */
SysResult OpenTun(const std::string& name, bool persistent, UniqueFd* out);

/** Sets the MTU of interface `name` (SIOCSIFMTU). */
SysResult SetInterfaceMtu(const std::string& name, int mtu);

}  // namespace tabby
