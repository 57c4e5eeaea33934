// The userspace IPIP datapath (ipip_datapath.h) for JavaScript.
#pragma once

#include <napi.h>

namespace tabby {

/**
 * Adds to `exports` the class
 *   new IpipDatapath({ifname, localAddress, mtu?, acceptAnyRemote?})   creates the TUN device, starts the threads
 *     .setRoutes(Uint32Array [network, prefixLength, remote] × n)     addresses as host-order integers
 *     .stats(): {encapsulatedPackets, encapsulatedBytes, decapsulatedPackets, decapsulatedBytes,
 *                segmentedSuperPackets, coalescedSuperPackets,
 *                drops: {noRoute, notIpv4, sendFailed, unknownRemote, malformed, tunWriteFailed},
 *                lastSendError: '' | errno name, routes}
 *     .stop()                                                          joins the threads, removes the device
 */
void RegisterIpip(Napi::Env env, Napi::Object exports);

}  // namespace tabby
