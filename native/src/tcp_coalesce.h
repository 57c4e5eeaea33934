// Receive offload done in userspace, the counterpart of tcp_segment.h: consecutive TCP segments of one flow that
// arrive in one receive batch are written to the TUN device as one super-packet behind a virtio-net GSO header,
// as GRO does for a NIC. The kernel's stack then routes and delivers one packet instead of dozens, and the
// receiving TCP acknowledges the lot at once.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "virtio_net_header.h"

namespace tabby {

class TcpCoalescer {
 public:
  /** Packets per batch at most (Add() beyond that is refused: flush first). */
  explicit TcpCoalescer(unsigned maxPackets);

  /**
   * Takes a decapsulated IPv4 packet (`length` = its total length, checked by the caller), which must stay where
   * it is until Flush(): it joins the flow's latest pending super-packet when it continues it, or starts a new
   * one. Returns false (and takes nothing) when the batch is full.
   */
  bool Add(uint8_t* packet, size_t length);

  /**
   * Hands every pending packet, in arrival order per flow, to `write(const iovec* parts, int partCount,
   * uint64_t segments, uint64_t bytes)`, parts beginning with the virtio-net header, then forgets them.
   */
  template <typename Write>
  void Flush(Write&& write) {
    for (unsigned i = 0; i < count_; ++i) {
      Pending& pending = items_[i];
      Finish(pending);
      write(pending.parts.get(), static_cast<int>(pending.partCount), pending.segments, pending.totalLength);
    }
    count_ = 0;
  }

 private:
  struct Pending {
    /** The first packet, whose headers become the super-packet's at Finish(). */
    uint8_t* first = nullptr;
    size_t headerLength = 0;
    /** Payload bytes of the first segment: what the kernel cuts the super-packet back into if it must. */
    size_t segmentSize = 0;
    size_t totalLength = 0;
    uint64_t segments = 0;
    uint32_t nextSequence = 0;
    /** 0 for a packet that cannot take more (not TCP, flags other than ACK, a short or PSH segment). */
    uint64_t flowKey = 0;
    bool open = false;
    bool push = false;
    VirtioNetHeader vnet{};
    /** [vnet header, first packet, payload of each segment after it]. */
    std::unique_ptr<iovec[]> parts;
    unsigned partCount = 0;
  };

  /** Whether `packet` continues `pending` (same flow, next sequence number, same headers). */
  bool Continues(const Pending& pending, const uint8_t* packet, size_t length) const;
  void Start(Pending& pending, uint8_t* packet, size_t length);
  void Finish(Pending& pending);

  unsigned maxPackets_;
  std::unique_ptr<Pending[]> items_;
  unsigned count_ = 0;
};

}  // namespace tabby
