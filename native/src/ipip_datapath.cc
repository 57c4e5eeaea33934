#include "ipip_datapath.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "tcp_coalesce.h"
#include "tcp_segment.h"
#include "tun.h"

namespace tabby {

namespace {

/** The outer header we write: IPv4 without options. */
constexpr size_t kOuterHeader = 20;
constexpr uint8_t kOuterTtl = 64;
/** Packets per recvmmsg. */
constexpr unsigned kBatch = 64;
/** The largest IPv4 packet: whatever MTU the TUN device is given later, a read never truncates. */
constexpr size_t kMaxPacket = 65535;
/** A read from the TUN device: its virtio-net header and a packet (a TCP super-packet at most 64 KiB). */
constexpr size_t kSlotSize = sizeof(VirtioNetHeader) + kMaxPacket;
/** Packets kept from TUN reads per batch, and reads per batch at most (dropped packets free their slot). */
constexpr unsigned kReadSlots = 16;
constexpr unsigned kMaxReadsPerBatch = 4 * kReadSlots;
/** Messages per sendmmsg (its limit is 1024): enough for the segments of several super-packets. */
constexpr unsigned kMaxMessages = 512;
constexpr size_t kIpv4HeaderMin = 20;
/** Socket buffers (root may exceed the sysctl limits): room for bursts while a thread waits for the CPU. */
constexpr int kSocketBufferBytes = 8 << 20;
/** A send blocked this long (the underlay cannot drain) fails instead, so Stop() is never kept waiting. */
constexpr long kSendTimeoutUs = 100'000;
/** After an unexpected read error: wait this long before trying again rather than spin. */
constexpr int kErrorBackoffMs = 100;

uint32_t ReadAddress(const uint8_t* at) {
  uint32_t address;
  std::memcpy(&address, at, sizeof address);
  return ntohl(address);
}

uint16_t ReadU16(const uint8_t* at) {
  uint16_t value;
  std::memcpy(&value, at, sizeof value);
  return ntohs(value);
}

/** SO_RCVBUFFORCE / SO_SNDBUFFORCE as root, else as much as the sysctl limit allows: a larger buffer is only nicer. */
void GrowSocketBuffer(int fd, int forceOption, int option) {
  int bytes = kSocketBufferBytes;
  if (setsockopt(fd, SOL_SOCKET, forceOption, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
  }
}

}  // namespace

const IpipRouteTable& IpipDatapath::RouteView::Current() {
  if (owner_.routesGeneration_.load(std::memory_order_acquire) != generation_) {
    std::lock_guard<std::mutex> lock(owner_.routesMutex_);
    table_ = owner_.routes_;
    generation_ = owner_.routesGeneration_.load(std::memory_order_relaxed);
  }
  return *table_;
}

IpipDatapath::IpipDatapath(const IpipConfig& config)
    : config_(config), routes_(std::make_shared<const IpipRouteTable>(std::vector<IpipRoute>{})) {}

IpipDatapath::~IpipDatapath() { Stop(); }

SysResult IpipDatapath::Start(const IpipConfig& config, std::unique_ptr<IpipDatapath>* out) {
  std::unique_ptr<IpipDatapath> datapath(new IpipDatapath(config));
  if (SysResult r = OpenTun(config.ifname, config.persistent, &datapath->tun_); r.Failed()) return r;
  if (config.mtu > 0) {
    if (SysResult r = SetInterfaceMtu(config.ifname, config.mtu); r.Failed()) return r;
  }

  // Blocking, so that a full send buffer holds the encapsulating thread back (TCP then sees the TUN queue fill)
  // instead of dropping; receives pass MSG_DONTWAIT.
  datapath->raw_ = UniqueFd(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IPIP));
  int raw = datapath->raw_.Get();
  if (raw < 0) return LastError("socket SOCK_RAW IPPROTO_IPIP");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = config.localAddress;
  // Bound: the outer source of what we send, and only packets addressed to this node are received.
  if (bind(raw, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) return LastError("bind");
  // The outer header is ours (IP_HDRINCL): the kernel only fills in its length, id and checksum. That skips the
  // socket's corking path and the checksum it would compute over every payload, the larger part of a send.
  int one = 1;
  if (setsockopt(raw, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) != 0) return LastError("setsockopt IP_HDRINCL");
  timeval sendTimeout{0, kSendTimeoutUs};
  if (setsockopt(raw, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, sizeof sendTimeout) != 0) {
    return LastError("setsockopt SO_SNDTIMEO");
  }
  GrowSocketBuffer(raw, SO_RCVBUFFORCE, SO_RCVBUF);
  GrowSocketBuffer(raw, SO_SNDBUFFORCE, SO_SNDBUF);

  datapath->stopEvent_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!datapath->stopEvent_.Valid()) return LastError("eventfd");

  if (int err = pthread_create(&datapath->encapsulateThread_, nullptr, RunEncapsulate, datapath.get()); err != 0) {
    return SysResult::Failure(err, "pthread_create");
  }
  datapath->encapsulateStarted_ = true;
  if (int err = pthread_create(&datapath->decapsulateThread_, nullptr, RunDecapsulate, datapath.get()); err != 0) {
    return SysResult::Failure(err, "pthread_create");  // The destructor stops the first thread.
  }
  datapath->decapsulateStarted_ = true;
  // Names for top -H and perf (at most 15 characters).
  pthread_setname_np(datapath->encapsulateThread_, "ipip-encap");
  pthread_setname_np(datapath->decapsulateThread_, "ipip-decap");
  *out = std::move(datapath);
  return SysResult::Ok();
}

void IpipDatapath::SetRoutes(const std::vector<IpipRoute>& routes) {
  // Built outside the lock: the threads only ever wait for the pointer copy.
  auto table = std::make_shared<const IpipRouteTable>(routes);
  std::lock_guard<std::mutex> lock(routesMutex_);
  routes_ = std::move(table);
  routesGeneration_.fetch_add(1, std::memory_order_release);
}

IpipStats IpipDatapath::Stats() const {
  IpipStats stats;
  stats.encapsulatedPackets = counters_.encapsulatedPackets.load(std::memory_order_relaxed);
  stats.encapsulatedBytes = counters_.encapsulatedBytes.load(std::memory_order_relaxed);
  stats.decapsulatedPackets = counters_.decapsulatedPackets.load(std::memory_order_relaxed);
  stats.decapsulatedBytes = counters_.decapsulatedBytes.load(std::memory_order_relaxed);
  stats.segmentedSuperPackets = counters_.segmentedSuperPackets.load(std::memory_order_relaxed);
  stats.coalescedSuperPackets = counters_.coalescedSuperPackets.load(std::memory_order_relaxed);
  for (size_t reason = 0; reason < static_cast<size_t>(IpipDrop::kCount); ++reason) {
    stats.drops[reason] = counters_.drops[reason].load(std::memory_order_relaxed);
  }
  stats.lastSendError = counters_.lastSendError.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(routesMutex_);
  stats.routes = routes_->size();
  return stats;
}

void IpipDatapath::Stop() {
  if (!stopping_.exchange(true) && stopEvent_.Valid()) {
    uint64_t one = 1;
    // An eventfd write of 1 cannot fail short of an overflowing counter, which nothing else writes to.
    [[maybe_unused]] ssize_t written = write(stopEvent_.Get(), &one, sizeof one);
  }
  if (encapsulateStarted_) pthread_join(encapsulateThread_, nullptr);
  if (decapsulateStarted_) pthread_join(decapsulateThread_, nullptr);
  encapsulateStarted_ = decapsulateStarted_ = false;
  // Closing the only fd of a non-persistent TUN device removes the device.
  tun_.Reset();
  raw_.Reset();
  stopEvent_.Reset();
}

void* IpipDatapath::RunEncapsulate(void* self) {
  static_cast<IpipDatapath*>(self)->Encapsulate();
  return nullptr;
}

void* IpipDatapath::RunDecapsulate(void* self) {
  static_cast<IpipDatapath*>(self)->Decapsulate();
  return nullptr;
}

bool IpipDatapath::WaitReadable(int fd) const {
  pollfd watched[2] = {{fd, POLLIN, 0}, {stopEvent_.Get(), POLLIN, 0}};
  // A signal (EINTR) just means: look again.
  poll(watched, 2, -1);
  return !stopping_.load(std::memory_order_relaxed);
}

void IpipDatapath::CountDrop(IpipDrop reason, uint64_t packets) {
  if (packets > 0) counters_.drops[static_cast<size_t>(reason)].fetch_add(packets, std::memory_order_relaxed);
}

/** Where the packets of one TUN read go: the remote node, and the outer IPv4 header for it. */
struct IpipDatapath::Destination {
  sockaddr_in address;
  uint8_t outerHeader[kOuterHeader];

  void Set(uint32_t local, uint32_t remote) {
    address = sockaddr_in{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(remote);
    // Version 4, no options; TOS 0; length, id and checksum 0 (the kernel fills them in); DF clear, so that a path
    // with a smaller MTU fragments rather than drops; TTL 64; protocol 4 (IPIP); source and destination.
    std::memset(outerHeader, 0, sizeof outerHeader);
    outerHeader[0] = 0x45;
    outerHeader[8] = kOuterTtl;
    outerHeader[9] = IPPROTO_IPIP;
    std::memcpy(outerHeader + 12, &local, sizeof local);
    std::memcpy(outerHeader + 16, &address.sin_addr.s_addr, sizeof address.sin_addr.s_addr);
  }
};

/**
 * Messages for one sendmmsg: [outer header, whole packet], or for a segment [outer header, its own IP and TCP
 * headers, its payload where it lies].
 */
struct IpipDatapath::SendQueue {
  mmsghdr messages[kMaxMessages];
  iovec parts[kMaxMessages][3];
  uint8_t segmentHeaders[kMaxMessages][kMaxSegmentHeaders];
  unsigned count = 0;

  bool Full() const { return count == kMaxMessages; }
  /** Where the next message's segment headers go. */
  uint8_t* NextHeaders() { return segmentHeaders[count]; }

  void Add(Destination* to, iovec first, iovec second) {
    iovec* messageParts = parts[count];
    messageParts[0] = {to->outerHeader, kOuterHeader};
    messageParts[1] = first;
    messageParts[2] = second;
    mmsghdr& message = messages[count++];
    message = mmsghdr{};
    message.msg_hdr.msg_name = &to->address;
    message.msg_hdr.msg_namelen = sizeof to->address;
    message.msg_hdr.msg_iov = messageParts;
    message.msg_hdr.msg_iovlen = second.iov_len > 0 ? 3 : 2;
  }
};

void IpipDatapath::Flush(SendQueue& queue) {
  unsigned next = 0;
  while (next < queue.count) {
    int result = sendmmsg(raw_.Get(), queue.messages + next, queue.count - next, 0);
    if (result > 0) {
      next += static_cast<unsigned>(result);
      continue;
    }
    if (errno == EINTR) continue;
    // sendmmsg reports an error only for the first message of the call: drop that one and go on with the rest.
    counters_.lastSendError.store(errno, std::memory_order_relaxed);
    CountDrop(IpipDrop::kSendFailed);
    queue.messages[next].msg_len = 0;
    ++next;
  }
  uint64_t sent = 0;
  uint64_t bytes = 0;
  for (unsigned i = 0; i < queue.count; ++i) {
    if (queue.messages[i].msg_len == 0) continue;
    ++sent;
    bytes += queue.messages[i].msg_len - kOuterHeader;
  }
  counters_.encapsulatedPackets.fetch_add(sent, std::memory_order_relaxed);
  counters_.encapsulatedBytes.fetch_add(bytes, std::memory_order_relaxed);
  queue.count = 0;
}

void IpipDatapath::Encapsulate() {
  std::vector<uint8_t> buffers(kReadSlots * kSlotSize);
  Destination destinations[kReadSlots];
  auto queue = std::make_unique<SendQueue>();
  RouteView routes(*this);
  const int tun = tun_.Get();

  while (!stopping_.load(std::memory_order_relaxed)) {
    const IpipRouteTable& table = routes.Current();
    uint64_t noRoute = 0;
    uint64_t notIpv4 = 0;
    uint64_t malformed = 0;
    uint64_t segmented = 0;
    int readError = 0;
    // Read until the slots are used or the device has nothing more, then send everything in one call (or more,
    // when super-packets fill the queue first). A slot stays untouched until its segments are sent. Reads are
    // bounded too: a flood of packets that are all dropped must not keep the thread from seeing Stop().
    unsigned slot = 0;
    for (unsigned attempt = 0; attempt < kMaxReadsPerBatch && slot < kReadSlots; ++attempt) {
      uint8_t* buffer = buffers.data() + slot * kSlotSize;
      ssize_t length = read(tun, buffer, kSlotSize);
      if (length < 0) {
        if (errno == EINTR) continue;
        readError = errno;
        break;
      }
      VirtioNetHeader vnet;
      std::memcpy(&vnet, buffer, sizeof vnet);
      uint8_t* packet = buffer + sizeof vnet;
      if (static_cast<size_t>(length) < sizeof vnet + kIpv4HeaderMin || packet[0] >> 4 != 4) {
        ++notIpv4;
        continue;
      }
      size_t packetLength = static_cast<size_t>(length) - sizeof vnet;
      uint32_t remote = table.Lookup(ReadAddress(packet + 16));
      if (remote == 0) {
        ++noRoute;
        continue;
      }
      TunPacketPlan plan;
      if (!PlanTunPacket(vnet, packet, packetLength, &plan)) {
        ++malformed;
        continue;
      }
      Destination* to = &destinations[slot++];
      to->Set(config_.localAddress, remote);
      if (plan.headerLength == 0) {
        if (queue->Full()) Flush(*queue);
        queue->Add(to, {packet, packetLength}, {});
        continue;
      }
      ++segmented;
      for (unsigned segment = 0; segment < plan.segments; ++segment) {
        if (queue->Full()) Flush(*queue);
        uint8_t* headers = queue->NextHeaders();
        size_t payload = WriteSegmentHeaders(plan, packet, packetLength, segment, headers);
        uint8_t* payloadStart = packet + plan.headerLength + segment * plan.segmentSize;
        queue->Add(to, {headers, plan.headerLength}, {payloadStart, payload});
      }
    }
    CountDrop(IpipDrop::kNoRoute, noRoute);
    CountDrop(IpipDrop::kNotIpv4, notIpv4);
    CountDrop(IpipDrop::kMalformed, malformed);
    counters_.segmentedSuperPackets.fetch_add(segmented, std::memory_order_relaxed);
    if (queue->count > 0) Flush(*queue);
    if (readError == EAGAIN) {
      if (!WaitReadable(tun)) break;
    } else if (readError != 0) {
      // Not expected from a TUN device; do not spin on it.
      pollfd stop{stopEvent_.Get(), POLLIN, 0};
      poll(&stop, 1, kErrorBackoffMs);
    }
  }
}

void IpipDatapath::Decapsulate() {
  std::vector<uint8_t> buffers(kBatch * kMaxPacket);
  iovec slots[kBatch];
  mmsghdr messages[kBatch];
  for (unsigned i = 0; i < kBatch; ++i) {
    slots[i] = {buffers.data() + i * kMaxPacket, kMaxPacket};
    messages[i] = mmsghdr{};
    messages[i].msg_hdr.msg_iov = &slots[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  TcpCoalescer coalescer(kBatch);
  RouteView routes(*this);
  const int raw = raw_.Get();
  const int tun = tun_.Get();

  while (!stopping_.load(std::memory_order_relaxed)) {
    int received = recvmmsg(raw, messages, kBatch, MSG_DONTWAIT, nullptr);
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!WaitReadable(raw)) break;
      } else {
        pollfd stop{stopEvent_.Get(), POLLIN, 0};
        poll(&stop, 1, kErrorBackoffMs);
      }
      continue;
    }
    const IpipRouteTable& table = routes.Current();
    uint64_t malformed = 0;
    uint64_t unknownRemote = 0;
    for (int i = 0; i < received; ++i) {
      uint8_t* outer = buffers.data() + i * kMaxPacket;
      size_t length = messages[i].msg_len;
      // The kernel delivers the outer packet whole (reassembled, header checksum verified): check it anyway, a
      // raw socket is no place to trust lengths.
      size_t outerHeader = length > 0 ? (outer[0] & 0x0f) * 4u : 0;
      if ((messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || length < kIpv4HeaderMin || outer[0] >> 4 != 4 ||
          outerHeader < kIpv4HeaderMin || outerHeader + kIpv4HeaderMin > length || outer[9] != IPPROTO_IPIP) {
        ++malformed;
        continue;
      }
      if (!config_.acceptAnyRemote && !table.IsKnownRemote(ReadAddress(outer + 12))) {
        ++unknownRemote;
        continue;
      }
      uint8_t* inner = outer + outerHeader;
      size_t innerLength = ReadU16(inner + 2);
      if (inner[0] >> 4 != 4 || innerLength < kIpv4HeaderMin || innerLength > length - outerHeader) {
        ++malformed;
        continue;
      }
      // The batch has room for every packet it received.
      coalescer.Add(inner, innerLength);
    }
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t writeFailed = 0;
    uint64_t coalesced = 0;
    coalescer.Flush([&](const iovec* parts, int partCount, uint64_t segments, uint64_t length) {
      ssize_t written;
      do {
        written = writev(tun, parts, partCount);
      } while (written < 0 && errno == EINTR);
      if (written < 0) {
        writeFailed += segments;
        return;
      }
      packets += segments;
      bytes += length;
      if (segments > 1) ++coalesced;
    });
    counters_.decapsulatedPackets.fetch_add(packets, std::memory_order_relaxed);
    counters_.decapsulatedBytes.fetch_add(bytes, std::memory_order_relaxed);
    counters_.coalescedSuperPackets.fetch_add(coalesced, std::memory_order_relaxed);
    CountDrop(IpipDrop::kMalformed, malformed);
    CountDrop(IpipDrop::kUnknownRemote, unknownRemote);
    CountDrop(IpipDrop::kTunWriteFailed, writeFailed);
  }
}

}  // namespace tabby
