// tabby's userspace IPIP datapath, for kernels without the ipip module: a TUN device that the kernel routes remote
// blocks into, and a raw socket for IP protocol 4. Two native threads move the packets, never the JS event loop:
//   encapsulate: TUN → inner IPv4 packet (a TCP super-packet is cut into segments, tcp_segment.h) → longest-prefix
//                match of its destination → sendmmsg to the remote node on the raw socket, behind an outer
//                header of ours (protocol 4, source = the node's address; IP_HDRINCL);
//   decapsulate: raw socket (recvmmsg: the kernel hands over the whole outer packet) → checks → strip the outer
//                header → write the inner packet to the TUN device (a flow's consecutive TCP segments as one
//                super-packet, tcp_coalesce.h).
// On the wire this is plain IPIP (RFC 2003), so it interoperates with a kernel tunl0 on other nodes.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ipip_routes.h"
#include "syserror.h"
#include "unique_fd.h"

namespace tabby {

struct IpipConfig {
  /** The TUN device to create (Calico's name: tunl0). */
  std::string ifname;
  /** The node's own underlay address, network byte order: the outer source, and where tunnelled packets arrive. */
  uint32_t localAddress = 0;
  /** The TUN device's MTU; 0 leaves the kernel's default. */
  int mtu = 0;
  /** Decapsulate packets from any sender, not only from the remotes of the current routes. */
  bool acceptAnyRemote = false;
  /**
   * Keep the device (and the kernel's routes through it) when the datapath stops or the process dies, so a
   * restarted node attaches to it again instead of cutting traffic; removing it is then `ip link del`.
   */
  bool persistent = false;
};

/** Why packets were dropped. */
enum class IpipDrop {
  kNoRoute,        // from the TUN device, no route for the destination
  kNotIpv4,        // from the TUN device, not an IPv4 packet (an IPv6 one, say)
  kSendFailed,     // sendmmsg refused it (no route to the remote, message too long...)
  kUnknownRemote,  // arrived encapsulated from an address that is not the remote of any route
  kMalformed,      // headers that do not hold together (outer, inner, or the TUN device's offload header)
  kTunWriteFailed, // the TUN device refused the decapsulated packet
  kCount,
};

struct IpipStats {
  uint64_t encapsulatedPackets = 0;
  uint64_t encapsulatedBytes = 0;
  uint64_t decapsulatedPackets = 0;
  uint64_t decapsulatedBytes = 0;
  /** TCP super-packets from the TUN device cut into segments, and runs of segments written to it as one. */
  uint64_t segmentedSuperPackets = 0;
  uint64_t coalescedSuperPackets = 0;
  uint64_t drops[static_cast<size_t>(IpipDrop::kCount)] = {};
  /** errno of the latest failed send (0: none yet). */
  int lastSendError = 0;
  size_t routes = 0;
};

class IpipDatapath {
 public:
  /** Creates the TUN device and the raw socket, then starts both threads. */
  static SysResult Start(const IpipConfig& config, std::unique_ptr<IpipDatapath>* out);

  IpipDatapath(const IpipDatapath&) = delete;
  IpipDatapath& operator=(const IpipDatapath&) = delete;
  /** Stops (if still running). */
  ~IpipDatapath();

  /** Replaces the whole route table. The threads pick it up before their next batch. */
  void SetRoutes(const std::vector<IpipRoute>& routes);

  IpipStats Stats() const;

  /** Stops and joins both threads and closes the fds, which removes the TUN device. Idempotent. */
  void Stop();

 private:
  /** Counters, each written by one thread once per batch and read by Stats() at any time. */
  struct Counters {
    std::atomic<uint64_t> encapsulatedPackets{0};
    std::atomic<uint64_t> encapsulatedBytes{0};
    std::atomic<uint64_t> decapsulatedPackets{0};
    std::atomic<uint64_t> decapsulatedBytes{0};
    std::atomic<uint64_t> segmentedSuperPackets{0};
    std::atomic<uint64_t> coalescedSuperPackets{0};
    std::atomic<uint64_t> drops[static_cast<size_t>(IpipDrop::kCount)] = {};
    std::atomic<int> lastSendError{0};
  };

  /**
   * What a thread reads the route table through: a copy of the shared pointer, refreshed only when the generation
   * moved since the thread last looked, so a batch costs one atomic load and SetRoutes never waits on a thread.
   */
  class RouteView {
   public:
    explicit RouteView(const IpipDatapath& owner) : owner_(owner) {}
    const IpipRouteTable& Current();

   private:
    const IpipDatapath& owner_;
    uint64_t generation_ = ~uint64_t{0};
    std::shared_ptr<const IpipRouteTable> table_;
  };

  struct Destination;
  struct SendQueue;

  explicit IpipDatapath(const IpipConfig& config);

  static void* RunEncapsulate(void* self);
  static void* RunDecapsulate(void* self);
  void Encapsulate();
  void Decapsulate();
  /** Sends what is queued, counts it, and empties the queue. */
  void Flush(SendQueue& queue);
  /** Waits until `fd` is readable; false when the datapath is stopping. */
  bool WaitReadable(int fd) const;
  void CountDrop(IpipDrop reason, uint64_t packets = 1);

  IpipConfig config_;
  UniqueFd tun_;
  UniqueFd raw_;
  /** Readable once Stop() begins: wakes both threads from poll(). */
  UniqueFd stopEvent_;
  std::atomic<bool> stopping_{false};
  pthread_t encapsulateThread_{};
  pthread_t decapsulateThread_{};
  bool encapsulateStarted_ = false;
  bool decapsulateStarted_ = false;

  mutable std::mutex routesMutex_;
  std::shared_ptr<const IpipRouteTable> routes_;
  std::atomic<uint64_t> routesGeneration_{0};

  Counters counters_;
};

}  // namespace tabby
