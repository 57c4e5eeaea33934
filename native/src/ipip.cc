#include "ipip.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "ipip_datapath.h"
#include "syserror.h"

namespace tabby {

namespace {

/** JavaScript names of IpipDrop's reasons, in its order. */
constexpr const char* kDropNames[] = {"noRoute", "notIpv4", "sendFailed", "unknownRemote", "malformed",
                                      "tunWriteFailed"};
static_assert(sizeof kDropNames / sizeof kDropNames[0] == static_cast<size_t>(IpipDrop::kCount));

/** What a failed TUNSETIFF means for a device name, in words. */
std::string TunSetupDetail(const SysResult& result, const std::string& ifname) {
  if (std::strcmp(result.call, "ioctl TUNSETIFF") != 0) return "";
  if (result.err == EINVAL) {
    return "a device named " + ifname + " exists and is not a TUN device (a kernel ipip tunl0?)";
  }
  if (result.err == EBUSY) return "another process holds the TUN device " + ifname;
  return "";
}

class IpipDatapathObject : public Napi::ObjectWrap<IpipDatapathObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "IpipDatapath",
                       {InstanceMethod<&IpipDatapathObject::SetRoutes>("setRoutes"),
                        InstanceMethod<&IpipDatapathObject::Stats>("stats"),
                        InstanceMethod<&IpipDatapathObject::Stop>("stop")});
  }

  // new IpipDatapath({ifname, localAddress, mtu?, acceptAnyRemote?, persistent?})
  explicit IpipDatapathObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IpipDatapathObject>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
      Napi::TypeError::New(env, "options must be an object").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object options = info[0].As<Napi::Object>();
    IpipConfig config;
    std::string localText;
    int64_t mtu = 0;
    if (!ReadString(env, options.Get("ifname"), "ifname", &config.ifname) ||
        !ReadString(env, options.Get("localAddress"), "localAddress", &localText) ||
        !ReadOptionalInteger(env, options, "mtu", 68, 65535 - 20, &mtu)) {
      return;
    }
    if (config.ifname.empty() || config.ifname.size() >= IFNAMSIZ) {
      Napi::RangeError::New(env, "ifname must have 1.." + std::to_string(IFNAMSIZ - 1) + " characters")
          .ThrowAsJavaScriptException();
      return;
    }
    in_addr local{};
    if (inet_pton(AF_INET, localText.c_str(), &local) != 1) {
      Napi::TypeError::New(env, "localAddress must be an IPv4 address, not \"" + localText + "\"")
          .ThrowAsJavaScriptException();
      return;
    }
    Napi::Value acceptAny = options.Get("acceptAnyRemote");
    if (!acceptAny.IsUndefined() && !acceptAny.IsBoolean()) {
      Napi::TypeError::New(env, "acceptAnyRemote must be a boolean").ThrowAsJavaScriptException();
      return;
    }
    config.localAddress = local.s_addr;
    config.mtu = static_cast<int>(mtu);
    config.acceptAnyRemote = acceptAny.IsBoolean() && acceptAny.As<Napi::Boolean>().Value();
    Napi::Value persistent = options.Get("persistent");
    if (!persistent.IsUndefined() && !persistent.IsBoolean()) {
      Napi::TypeError::New(env, "persistent must be a boolean").ThrowAsJavaScriptException();
      return;
    }
    config.persistent = persistent.IsBoolean() && persistent.As<Napi::Boolean>().Value();
    if (SysResult r = IpipDatapath::Start(config, &datapath_); r.Failed()) {
      SystemError(env, r, config.ifname + " (local " + localText + ")", TunSetupDetail(r, config.ifname))
          .ThrowAsJavaScriptException();
    }
  }

 private:
  /** The datapath; null (an Error thrown) once stop() has been called. */
  IpipDatapath* Running(Napi::Env env, const char* method) {
    if (datapath_ == nullptr) {
      Napi::Error::New(env, std::string(method) + ": the IPIP datapath is stopped").ThrowAsJavaScriptException();
    }
    return datapath_.get();
  }

  // setRoutes(Uint32Array [network, prefixLength, remote] × n)
  Napi::Value SetRoutes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    IpipDatapath* datapath = Running(env, "setRoutes");
    if (datapath == nullptr) return {};
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      Napi::TypeError::New(env, "routes must be a Uint32Array").ThrowAsJavaScriptException();
      return {};
    }
    Napi::Uint32Array flat = info[0].As<Napi::Uint32Array>();
    if (flat.ElementLength() % 3 != 0) {
      Napi::RangeError::New(env, "routes must hold [network, prefixLength, remote] triples")
          .ThrowAsJavaScriptException();
      return {};
    }
    std::vector<IpipRoute> routes;
    routes.reserve(flat.ElementLength() / 3);
    for (size_t i = 0; i < flat.ElementLength(); i += 3) {
      IpipRoute route{flat[i], flat[i + 1], flat[i + 2]};
      if (route.prefixLength > 32 || route.remote == 0) {
        Napi::RangeError::New(env, "route " + std::to_string(i / 3) + ": prefix length over 32 or remote 0.0.0.0")
            .ThrowAsJavaScriptException();
        return {};
      }
      routes.push_back(route);
    }
    datapath->SetRoutes(routes);
    return env.Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    IpipDatapath* datapath = Running(env, "stats");
    if (datapath == nullptr) return {};
    IpipStats stats = datapath->Stats();
    auto number = [&](uint64_t value) { return Napi::Number::New(env, static_cast<double>(value)); };
    Napi::Object result = Napi::Object::New(env);
    result.Set("encapsulatedPackets", number(stats.encapsulatedPackets));
    result.Set("encapsulatedBytes", number(stats.encapsulatedBytes));
    result.Set("decapsulatedPackets", number(stats.decapsulatedPackets));
    result.Set("decapsulatedBytes", number(stats.decapsulatedBytes));
    result.Set("segmentedSuperPackets", number(stats.segmentedSuperPackets));
    result.Set("coalescedSuperPackets", number(stats.coalescedSuperPackets));
    Napi::Object drops = Napi::Object::New(env);
    for (size_t reason = 0; reason < static_cast<size_t>(IpipDrop::kCount); ++reason) {
      drops.Set(kDropNames[reason], number(stats.drops[reason]));
    }
    result.Set("drops", drops);
    const char* errorName = stats.lastSendError == 0 ? "" : strerrorname_np(stats.lastSendError);
    result.Set("lastSendError", errorName != nullptr ? errorName : std::to_string(stats.lastSendError));
    result.Set("routes", number(stats.routes));
    return result;
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    // Joins the threads: they are at most one poll() wake-up or one send timeout away from noticing.
    datapath_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<IpipDatapath> datapath_;
};

}  // namespace

void RegisterIpip(Napi::Env env, Napi::Object exports) {
  exports.Set("IpipDatapath", IpipDatapathObject::Define(env));
}

}  // namespace tabby
