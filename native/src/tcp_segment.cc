#include "tcp_segment.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "checksum.h"

namespace tabby {

namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;
/** Where UDP keeps its checksum; a computed 0 is sent as 0xffff there (0 means "no checksum", RFC 768). */
constexpr uint16_t kUdpChecksumOffset = 6;

void Store16(uint8_t* at, uint16_t value) { StoreRaw16(at, htons(value)); }

void Store32(uint8_t* at, uint32_t value) {
  value = htonl(value);
  std::memcpy(at, &value, sizeof value);
}

/** Completes a checksum the kernel left partial: the field holds the pseudo header's sum already. */
bool CompleteChecksum(const VirtioNetHeader& vnet, uint8_t* packet, size_t length) {
  size_t start = vnet.checksumStart;
  size_t field = start + vnet.checksumOffset;
  if (start >= length || field + 2 > length) return false;
  uint16_t checksum = static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(0, packet + start, length - start)));
  if (checksum == 0 && vnet.checksumOffset == kUdpChecksumOffset) checksum = 0xffff;
  StoreRaw16(packet + field, checksum);
  return true;
}

}  // namespace

bool PlanTunPacket(const VirtioNetHeader& vnet, uint8_t* packet, size_t length, TunPacketPlan* plan) {
  if (vnet.gsoType == kVirtioGsoNone) {
    *plan = TunPacketPlan{};
    return (vnet.flags & kVirtioNeedsChecksum) == 0 || CompleteChecksum(vnet, packet, length);
  }
  // Only TUN_F_TSO4 is enabled: ECN-marked super-packets, UDP and IPv6 are segmented by the kernel itself.
  if (vnet.gsoType != kVirtioGsoTcpv4 || vnet.gsoSize == 0 || length < 40) return false;
  size_t ipHeader = (packet[0] & 0x0f) * 4u;
  if (ipHeader < 20 || packet[9] != IPPROTO_TCP || ipHeader + 20 > length) return false;
  size_t tcpHeader = (packet[ipHeader + 12] >> 4) * 4u;
  size_t headerLength = ipHeader + tcpHeader;
  if (tcpHeader < 20 || headerLength >= length) return false;
  size_t payload = length - headerLength;
  plan->headerLength = headerLength;
  plan->segmentSize = vnet.gsoSize;
  plan->segments = static_cast<unsigned>((payload + plan->segmentSize - 1) / plan->segmentSize);
  return true;
}

size_t WriteSegmentHeaders(const TunPacketPlan& plan, const uint8_t* packet, size_t length, unsigned index,
                           uint8_t* out) {
  size_t totalPayload = length - plan.headerLength;
  size_t offset = index * plan.segmentSize;
  size_t payload = std::min(plan.segmentSize, totalPayload - offset);
  const uint8_t* payloadStart = packet + plan.headerLength + offset;
  std::memcpy(out, packet, plan.headerLength);

  size_t ipHeader = (out[0] & 0x0f) * 4u;
  Store16(out + 2, static_cast<uint16_t>(plan.headerLength + payload));
  // As the kernel's own segmentation: consecutive IP ids, counting from the super-packet's.
  Store16(out + 4, static_cast<uint16_t>(Load16(packet + 4) + index));
  SetIpv4HeaderChecksum(out, ipHeader);

  uint8_t* tcp = out + ipHeader;
  size_t tcpHeader = plan.headerLength - ipHeader;
  Store32(tcp + 4, Load32(packet + ipHeader + 4) + static_cast<uint32_t>(offset));
  bool last = offset + payload == totalPayload;
  // FIN and PSH belong to the last segment, CWR to the first.
  if (!last) tcp[13] &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
  if (index > 0) tcp[13] &= static_cast<uint8_t>(~kTcpCwr);
  StoreRaw16(tcp + 16, 0);
  uint64_t sum = Ipv4PseudoHeaderSum(out, IPPROTO_TCP, static_cast<uint16_t>(tcpHeader + payload));
  sum = ChecksumAdd(sum, tcp, tcpHeader);
  sum = ChecksumAdd(sum, payloadStart, payload);
  StoreRaw16(tcp + 16, static_cast<uint16_t>(~ChecksumFold(sum)));
  return payload;
}

}  // namespace tabby
