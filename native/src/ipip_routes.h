// The userspace IPIP datapath's forwarding table: which remote node an inner packet's destination is tunnelled to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace tabby {

/** One route of the table, addresses in host byte order: `network/prefixLength` is behind node `remote`. */
struct IpipRoute {
  uint32_t network = 0;
  uint32_t prefixLength = 0;
  uint32_t remote = 0;
};

/**
 * An immutable longest-prefix-match table. The datapath's threads read it without locks while a new one is built
 * beside it; the only per-packet cost is one hash probe per distinct prefix length (a Calico node has one or two:
 * its blocks' /26 and borrowed /32s).
 */
class IpipRouteTable {
 public:
  /** A table of `routes`; a later duplicate of the same network/prefixLength replaces the earlier one. */
  explicit IpipRouteTable(const std::vector<IpipRoute>& routes);

  /** The remote node for `destination` (host byte order), or 0 when no route covers it. */
  uint32_t Lookup(uint32_t destination) const;

  /** Whether `address` is the remote of some route: the nodes whose encapsulated packets are accepted. */
  bool IsKnownRemote(uint32_t address) const;

  size_t size() const { return size_; }

 private:
  /** The routes of one prefix length, by network. */
  struct LengthLevel {
    uint32_t mask = 0;
    std::unordered_map<uint32_t, uint32_t> remoteByNetwork;
  };

  /** Longest prefix first, so the first hit is the answer. */
  std::vector<LengthLevel> levels_;
  /** Sorted, without duplicates. */
  std::vector<uint32_t> remotes_;
  size_t size_ = 0;
};

}  // namespace tabby
