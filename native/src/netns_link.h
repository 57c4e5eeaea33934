// Configuring a workload's interface inside its network namespace over netlink, without starting `nsenter ip`.
#pragma once

#include <napi.h>

namespace tabby {

/**
 * Adds to `exports` (both run on a libuv pool thread that enters the namespace and leaves it again):
 *   configureWorkloadInterface(netnsPath, ifname, address, gateway): Promise<void>
 *       address/32 on ifname, ifname up, `gateway dev ifname scope link`, `default via gateway dev ifname`
 *   deleteWorkloadInterface(netnsPath, ifname): Promise<boolean>   -- false when the namespace or link is gone
 * Failures reject with a system error naming the step (code EEXIST, ENODEV, ENOENT, ...).
 */
void RegisterNetnsLink(Napi::Env env, Napi::Object exports);

}  // namespace tabby
