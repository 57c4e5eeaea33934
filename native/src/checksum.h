// The Internet checksum (RFC 1071) for IPv4, TCP and UDP headers, and reading their fields. Sums are over 16-bit words as they lie in memory,
// which gives the right bytes whatever the host's byte order (RFC 1071 §2(B)); values passed in are network order.
#pragma once

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tabby {

/** Adds `length` bytes at `data` to a running, unfolded sum. Pieces added separately must have even lengths. */
uint64_t ChecksumAdd(uint64_t sum, const uint8_t* data, size_t length);

/** The sum folded to 16 bits, not yet complemented (what a CHECKSUM_PARTIAL field holds). */
uint16_t ChecksumFold(uint64_t sum);

/** The TCP/UDP pseudo header of an IPv4 packet: source, destination, protocol and the transport length. */
uint64_t Ipv4PseudoHeaderSum(const uint8_t* ipHeader, uint8_t protocol, uint16_t transportLength);

/** Recomputes the header checksum of the IPv4 header at `header` (`length` bytes, options included). */
void SetIpv4HeaderChecksum(uint8_t* header, size_t length);

/** Stores a 16-bit value that is already in network byte order (a checksum) at `at`. */
void StoreRaw16(uint8_t* at, uint16_t value);

/** Header fields in network byte order, at any alignment. */
inline uint16_t Load16(const uint8_t* at) {
  uint16_t value;
  std::memcpy(&value, at, sizeof value);
  return ntohs(value);
}

inline uint32_t Load32(const uint8_t* at) {
  uint32_t value;
  std::memcpy(&value, at, sizeof value);
  return ntohl(value);
}

}  // namespace tabby
