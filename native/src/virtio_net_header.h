// The virtio-net header a TUN device opened with IFF_VNET_HDR puts before every packet, read and written. The same
// layout as struct virtio_net_hdr in <linux/virtio_net.h>, which cannot be included from C++ (a field is named
// `class`). TUN uses legacy virtio byte order unless told otherwise: the host's own.
#pragma once

#include <cstdint>

namespace tabby {

struct VirtioNetHeader {
  uint8_t flags = 0;
  uint8_t gsoType = 0;
  /** IP + TCP header bytes of a GSO packet. */
  uint16_t headerLength = 0;
  /** Payload bytes per segment of a GSO packet (the MSS). */
  uint16_t gsoSize = 0;
  /** With kVirtioNeedsChecksum: the checksum covers [checksumStart, end) and goes at checksumStart + checksumOffset. */
  uint16_t checksumStart = 0;
  uint16_t checksumOffset = 0;
};
static_assert(sizeof(VirtioNetHeader) == 10, "the virtio_net_hdr layout");

constexpr uint8_t kVirtioNeedsChecksum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kVirtioGsoNone = 0;        // VIRTIO_NET_HDR_GSO_NONE
constexpr uint8_t kVirtioGsoTcpv4 = 1;       // VIRTIO_NET_HDR_GSO_TCPV4

}  // namespace tabby
