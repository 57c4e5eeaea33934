#include "checksum.h"

#include <arpa/inet.h>

#include <cstring>

namespace tabby {

uint64_t ChecksumAdd(uint64_t sum, const uint8_t* data, size_t length) {
  // 32-bit words into a 64-bit accumulator: no carry is lost for any packet size.
  while (length >= 4) {
    uint32_t word;
    std::memcpy(&word, data, sizeof word);
    sum += word;
    data += 4;
    length -= 4;
  }
  if (length >= 2) {
    uint16_t word;
    std::memcpy(&word, data, sizeof word);
    sum += word;
    data += 2;
    length -= 2;
  }
  if (length == 1) {
    // The odd byte is padded with a zero byte after it.
    uint16_t word = 0;
    std::memcpy(&word, data, 1);
    sum += word;
  }
  return sum;
}

uint16_t ChecksumFold(uint64_t sum) {
  while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

uint64_t Ipv4PseudoHeaderSum(const uint8_t* ipHeader, uint8_t protocol, uint16_t transportLength) {
  // Source and destination addresses (bytes 12..19), then protocol and length as 16-bit network-order words.
  return ChecksumAdd(0, ipHeader + 12, 8) + htons(protocol) + htons(transportLength);
}

void SetIpv4HeaderChecksum(uint8_t* header, size_t length) {
  StoreRaw16(header + 10, 0);
  StoreRaw16(header + 10, static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(0, header, length))));
}

void StoreRaw16(uint8_t* at, uint16_t value) { std::memcpy(at, &value, sizeof value); }

}  // namespace tabby
