#include "tcp_coalesce.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "checksum.h"

namespace tabby {

namespace {

constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;
/** The header a super-packet keeps: IPv4 without options (all that Linux puts on a TCP segment). */
constexpr size_t kIpHeader = 20;
constexpr size_t kMaxIpv4Length = 65535;

bool IsTcp(const uint8_t* packet, size_t length) {
  size_t ipHeader = (packet[0] & 0x0f) * 4u;
  return packet[9] == IPPROTO_TCP && ipHeader + 20 <= length;
}

/**
 * A hash of the TCP flow (addresses and ports), never 0; 0 for anything else. Equal keys only make two packets
 * candidates: Continues() compares the headers themselves.
 */
uint64_t FlowKeyOf(const uint8_t* packet, size_t length) {
  if (!IsTcp(packet, length)) return 0;
  const uint8_t* ports = packet + (packet[0] & 0x0f) * 4u;
  uint64_t key = (uint64_t{Load32(packet + 12)} << 32 | Load32(packet + 16)) * 0x9e3779b97f4a7c15ull;
  return (key ^ Load32(ports)) | 1;
}

/** Whether the segment's TCP checksum is right. A super-packet's is never checked again, so check before merging. */
bool TcpChecksumValid(const uint8_t* packet, size_t length) {
  size_t ipHeader = (packet[0] & 0x0f) * 4u;
  uint16_t tcpLength = static_cast<uint16_t>(length - ipHeader);
  uint64_t sum = ChecksumAdd(Ipv4PseudoHeaderSum(packet, IPPROTO_TCP, tcpLength), packet + ipHeader, tcpLength);
  return ChecksumFold(sum) == 0xffff;
}

/**
 * Whether a TCP segment may be merged at all: no IP options, not a fragment, only ACK (and PSH) set, some payload,
 * and a valid checksum. Returns its payload length (0: no).
 */
size_t MergeablePayload(const uint8_t* packet, size_t length) {
  if ((packet[0] & 0x0f) * 4u != kIpHeader || (Load16(packet + 6) & 0x3fff) != 0) return 0;
  const uint8_t* tcp = packet + kIpHeader;
  size_t headerLength = kIpHeader + (tcp[12] >> 4) * 4u;
  if ((tcp[13] & ~kTcpPsh) != kTcpAck || headerLength < kIpHeader + 20 || headerLength >= length) return 0;
  return TcpChecksumValid(packet, length) ? length - headerLength : 0;
}

}  // namespace

TcpCoalescer::TcpCoalescer(unsigned maxPackets) : maxPackets_(maxPackets), items_(new Pending[maxPackets]) {
  // An item holds its virtio-net header, its first packet and at most every other packet of the batch.
  for (unsigned i = 0; i < maxPackets; ++i) items_[i].parts.reset(new iovec[maxPackets + 1]);
}

bool TcpCoalescer::Add(uint8_t* packet, size_t length) {
  uint64_t flowKey = FlowKeyOf(packet, length);
  if (flowKey != 0) {
    // Only the flow's latest item may grow: merging into an older one would put this segment ahead of others.
    for (unsigned i = count_; i-- > 0;) {
      Pending& pending = items_[i];
      if (pending.flowKey != flowKey) continue;
      if (!Continues(pending, packet, length)) break;
      const uint8_t* tcp = packet + kIpHeader;
      size_t payload = length - pending.headerLength;
      pending.parts[pending.partCount++] = {packet + pending.headerLength, payload};
      pending.totalLength += payload;
      pending.segments += 1;
      pending.nextSequence += static_cast<uint32_t>(payload);
      pending.push = (tcp[13] & kTcpPsh) != 0;
      // A short segment or PSH ends a burst, as in the kernel's GRO.
      pending.open = payload == pending.segmentSize && !pending.push;
      return true;
    }
  }
  if (count_ == maxPackets_) return false;
  Start(items_[count_++], packet, length);
  items_[count_ - 1].flowKey = flowKey;
  return true;
}

bool TcpCoalescer::Continues(const Pending& pending, const uint8_t* packet, size_t length) const {
  if (!pending.open || length <= pending.headerLength) return false;
  const uint8_t* first = pending.first;
  const uint8_t* tcp = packet + kIpHeader;
  const uint8_t* firstTcp = first + kIpHeader;
  size_t payload = length - pending.headerLength;
  return (packet[0] & 0x0f) * 4u == kIpHeader &&
         // TOS (ECN marks too), TTL, addresses; DF alike and no fragment.
         packet[1] == first[1] && packet[8] == first[8] && std::memcmp(packet + 12, first + 12, 8) == 0 &&
         (Load16(packet + 6) & 0x3fff) == 0 && packet[6] == first[6] &&
         // Ports, then header length and every option byte (timestamps included), acknowledgement and window.
         std::memcmp(tcp, firstTcp, 4) == 0 && tcp[12] == firstTcp[12] &&
         std::memcmp(tcp + 20, firstTcp + 20, pending.headerLength - kIpHeader - 20) == 0 &&
         std::memcmp(tcp + 8, firstTcp + 8, 4) == 0 && std::memcmp(tcp + 14, firstTcp + 14, 2) == 0 &&
         Load32(tcp + 4) == pending.nextSequence && (tcp[13] & ~kTcpPsh) == kTcpAck && payload <= pending.segmentSize &&
         pending.totalLength + payload <= kMaxIpv4Length && TcpChecksumValid(packet, length);
}

void TcpCoalescer::Start(Pending& pending, uint8_t* packet, size_t length) {
  pending.first = packet;
  pending.totalLength = length;
  pending.segments = 1;
  pending.parts[0] = {&pending.vnet, sizeof pending.vnet};
  pending.parts[1] = {packet, length};
  pending.partCount = 2;
  size_t payload = IsTcp(packet, length) ? MergeablePayload(packet, length) : 0;
  pending.push = payload > 0 && (packet[kIpHeader + 13] & kTcpPsh) != 0;
  pending.open = payload > 0 && !pending.push;
  pending.headerLength = length - payload;
  pending.segmentSize = payload;
  pending.nextSequence = payload > 0 ? Load32(packet + kIpHeader + 4) + static_cast<uint32_t>(payload) : 0;
}

void TcpCoalescer::Finish(Pending& pending) {
  pending.vnet = VirtioNetHeader{};
  if (pending.segments == 1) return;  // As it arrived, checksums complete: the kernel checks them itself.
  uint8_t* first = pending.first;
  first[2] = static_cast<uint8_t>(pending.totalLength >> 8);
  first[3] = static_cast<uint8_t>(pending.totalLength);
  SetIpv4HeaderChecksum(first, kIpHeader);
  uint8_t* tcp = first + kIpHeader;
  if (pending.push) tcp[13] |= kTcpPsh;
  // CHECKSUM_PARTIAL: the field holds the pseudo header's sum, the kernel (or a NIC) adds the rest if it must.
  uint16_t tcpLength = static_cast<uint16_t>(pending.totalLength - kIpHeader);
  StoreRaw16(tcp + 16, ChecksumFold(Ipv4PseudoHeaderSum(first, IPPROTO_TCP, tcpLength)));
  pending.vnet.flags = kVirtioNeedsChecksum;
  pending.vnet.gsoType = kVirtioGsoTcpv4;
  pending.vnet.headerLength = static_cast<uint16_t>(pending.headerLength);
  pending.vnet.gsoSize = static_cast<uint16_t>(pending.segmentSize);
  pending.vnet.checksumStart = kIpHeader;
  pending.vnet.checksumOffset = 16;
}

}  // namespace tabby
