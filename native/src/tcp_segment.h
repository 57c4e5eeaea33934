// Segmentation offload done in userspace. With TUN_F_CSUM | TUN_F_TSO4 the kernel hands the TUN device TCP/IPv4
// "super-packets" of up to 64 KiB and packets whose checksum it left to the device, each behind a virtio-net
// header; the raw socket that sends them on takes neither, so they are cut into MSS-sized segments and checksummed
// here, as a NIC would. That is what makes the userspace datapath fast: one read() per super-packet instead of one
// per segment, and the kernel's forwarding path never segments in software.
#pragma once


#include <cstddef>
#include <cstdint>

#include "virtio_net_header.h"

namespace tabby {

/** Bytes of IPv4 + TCP header one segment can carry (both at most 60). */
constexpr size_t kMaxSegmentHeaders = 120;

/** How to send one packet read from the TUN device. */
struct TunPacketPlan {
  /** IPv4 + TCP header bytes repeated in every segment; 0 when the packet goes whole. */
  size_t headerLength = 0;
  /** Payload bytes per segment (the last may be shorter). */
  size_t segmentSize = 0;
  unsigned segments = 1;
};

/**
 * Checks an IPv4 packet read from the TUN device against its virtio-net header and plans its sending: a packet
 * without GSO goes whole, its checksum completed in place when the kernel left it partial; a TCP/IPv4 GSO packet is
 * split. Returns false when the header and the packet do not hold together, or for an offload that was never
 * enabled: drop the packet.
 */
bool PlanTunPacket(const VirtioNetHeader& vnet, uint8_t* packet, size_t length, TunPacketPlan* plan);

/**
 * Writes the IPv4 and TCP headers of segment `index` of a split packet into `out` (plan.headerLength bytes: length,
 * IP id, sequence number, flags and both checksums as that segment's own) and returns its payload length. The
 * payload is sent from where it lies: `packet + plan.headerLength + index * plan.segmentSize`.
 */
size_t WriteSegmentHeaders(const TunPacketPlan& plan, const uint8_t* packet, size_t length, unsigned index,
                           uint8_t* out);

}  // namespace tabby
