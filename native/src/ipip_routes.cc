#include "ipip_routes.h"

#include <algorithm>
#include <functional>
#include <map>

namespace tabby {

namespace {

uint32_t MaskOf(uint32_t prefixLength) { return prefixLength == 0 ? 0 : ~uint32_t{0} << (32 - prefixLength); }

}  // namespace

IpipRouteTable::IpipRouteTable(const std::vector<IpipRoute>& routes) {
  // Ordered by length, longest first; within a length, the last route for a network wins.
  std::map<uint32_t, std::unordered_map<uint32_t, uint32_t>, std::greater<uint32_t>> byLength;
  for (const IpipRoute& route : routes) {
    uint32_t mask = MaskOf(route.prefixLength);
    byLength[route.prefixLength][route.network & mask] = route.remote;
  }
  for (auto& [length, remoteByNetwork] : byLength) {
    size_ += remoteByNetwork.size();
    for (const auto& entry : remoteByNetwork) remotes_.push_back(entry.second);
    levels_.push_back({MaskOf(length), std::move(remoteByNetwork)});
  }
  std::sort(remotes_.begin(), remotes_.end());
  remotes_.erase(std::unique(remotes_.begin(), remotes_.end()), remotes_.end());
}

uint32_t IpipRouteTable::Lookup(uint32_t destination) const {
  for (const LengthLevel& level : levels_) {
    auto found = level.remoteByNetwork.find(destination & level.mask);
    if (found != level.remoteByNetwork.end()) return found->second;
  }
  return 0;
}

bool IpipRouteTable::IsKnownRemote(uint32_t address) const {
  return std::binary_search(remotes_.begin(), remotes_.end(), address);
}

}  // namespace tabby
