// A CNI ADD plumbs the pod's end of its veth from inside the pod's network namespace: with iproute2 that is
// `nsenter --net=<path> ip -batch`, two program starts per pod (and two more for DEL), which on a node starting
// many pods at once compete for the CPU with everything else. Here a pool thread enters the namespace (setns is
// per thread for network namespaces), opens a netlink socket there (a socket stays in the namespace it was made
// in), sends the four requests `ip` would, and returns to the node's namespace before the thread goes back to
// the pool.
#include "netns_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "syserror.h"
#include "unique_fd.h"

namespace tabby {
namespace {

/** A netlink request under construction: header, family header, attributes. */
struct Request {
  alignas(NLMSG_ALIGNTO) char buf[512];
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf); }

  template <typename FamilyHeader>
  FamilyHeader* Start(uint16_t type, uint16_t flags) {
    std::memset(buf, 0, sizeof buf);
    header()->nlmsg_len = NLMSG_LENGTH(sizeof(FamilyHeader));
    header()->nlmsg_type = type;
    header()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    return reinterpret_cast<FamilyHeader*>(NLMSG_DATA(header()));
  }

  void Attr(uint16_t type, const void* data, size_t len) {
    auto* rta = reinterpret_cast<rtattr*>(buf + NLMSG_ALIGN(header()->nlmsg_len));
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    std::memcpy(RTA_DATA(rta), data, len);
    header()->nlmsg_len = NLMSG_ALIGN(header()->nlmsg_len) + RTA_ALIGN(rta->rta_len);
  }
};

/** Sends one request and reads its acknowledgement: 0, or the errno the kernel answered. */
int Exchange(int fd, Request& request) {
  static uint32_t sequence = 0;
  request.header()->nlmsg_seq = __atomic_add_fetch(&sequence, 1, __ATOMIC_RELAXED);
  if (send(fd, request.buf, request.header()->nlmsg_len, 0) < 0) return errno;
  alignas(NLMSG_ALIGNTO) char reply[1024];
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != request.header()->nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      return -static_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
    }
  }
}

/** The pool thread inside `netnsPath` for the life of this object; back in its own namespace afterwards. */
class InNamespace {
 public:
  explicit InNamespace(const std::string& netnsPath) {
    home_ = UniqueFd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!home_.Valid()) {
      result_ = LastError("open /proc/thread-self/ns/net");
      return;
    }
    UniqueFd target(open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target.Valid()) {
      result_ = LastError("open");
      return;
    }
    if (setns(target.Get(), CLONE_NEWNET) != 0) {
      result_ = LastError("setns");
      return;
    }
    entered_ = true;
  }
  ~InNamespace() {
    // A pool thread left in a pod's namespace would run the node's later work there: there is no going on.
    if (entered_ && setns(home_.Get(), CLONE_NEWNET) != 0) std::abort();
  }
  const SysResult& result() const { return result_; }

 private:
  UniqueFd home_;
  bool entered_ = false;
  SysResult result_ = SysResult::Ok();
};

SysResult OpenNetlink(UniqueFd& fd) {
  fd = UniqueFd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.Valid()) return LastError("socket NETLINK_ROUTE");
  return SysResult::Ok();
}

SysResult Step(int err, const char* call) { return err == 0 ? SysResult::Ok() : SysResult::Failure(err, call); }

SysResult Configure(const std::string& netns, const std::string& ifname, in_addr address, in_addr gateway) {
  InNamespace inside(netns);
  if (inside.result().Failed()) return inside.result();
  UniqueFd fd;
  SysResult r = OpenNetlink(fd);
  if (r.Failed()) return r;
  int index = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (index == 0) return LastError("if_nametoindex");
  Request q;

  auto* addr = q.Start<ifaddrmsg>(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  addr->ifa_family = AF_INET;
  addr->ifa_prefixlen = 32;
  addr->ifa_index = index;
  q.Attr(IFA_LOCAL, &address, sizeof address);
  q.Attr(IFA_ADDRESS, &address, sizeof address);
  if ((r = Step(Exchange(fd.Get(), q), "RTM_NEWADDR")).Failed()) return r;

  auto* link = q.Start<ifinfomsg>(RTM_NEWLINK, 0);
  link->ifi_family = AF_UNSPEC;
  link->ifi_index = index;
  link->ifi_flags = IFF_UP;
  link->ifi_change = IFF_UP;
  if ((r = Step(Exchange(fd.Get(), q), "RTM_NEWLINK up")).Failed()) return r;

  // `<gateway> dev <ifname> scope link`, then `default via <gateway> dev <ifname>`, as `ip route add` writes them.
  for (bool isDefault : {false, true}) {
    auto* route = q.Start<rtmsg>(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    route->rtm_family = AF_INET;
    route->rtm_dst_len = isDefault ? 0 : 32;
    route->rtm_table = RT_TABLE_MAIN;
    route->rtm_protocol = RTPROT_BOOT;
    route->rtm_scope = isDefault ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    route->rtm_type = RTN_UNICAST;
    if (isDefault) q.Attr(RTA_GATEWAY, &gateway, sizeof gateway);
    else q.Attr(RTA_DST, &gateway, sizeof gateway);
    q.Attr(RTA_OIF, &index, sizeof index);
    if ((r = Step(Exchange(fd.Get(), q), isDefault ? "RTM_NEWROUTE default" : "RTM_NEWROUTE gateway")).Failed())
      return r;
  }
  return SysResult::Ok();
}

/** Deletes the link; `gone` when the namespace or the link does not exist. */
SysResult Delete(const std::string& netns, const std::string& ifname, bool& gone) {
  InNamespace inside(netns);
  if (inside.result().Failed()) {
    gone = inside.result().err == ENOENT || inside.result().err == EINVAL;
    return gone ? SysResult::Ok() : inside.result();
  }
  UniqueFd fd;
  SysResult r = OpenNetlink(fd);
  if (r.Failed()) return r;
  int index = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (index == 0) {
    gone = errno == ENODEV || errno == ENXIO;
    return gone ? SysResult::Ok() : LastError("if_nametoindex");
  }
  Request q;
  auto* link = q.Start<ifinfomsg>(RTM_DELLINK, 0);
  link->ifi_family = AF_UNSPEC;
  link->ifi_index = index;
  int err = Exchange(fd.Get(), q);
  gone = err == ENODEV;
  return gone ? SysResult::Ok() : Step(err, "RTM_DELLINK");
}

class NetnsWorker : public Napi::AsyncWorker {
 public:
  NetnsWorker(Napi::Env env, std::string netns, std::string ifname, bool remove, in_addr address, in_addr gateway)
      : Napi::AsyncWorker(env, "tabby netns link"),
        deferred_(Napi::Promise::Deferred::New(env)),
        netns_(std::move(netns)),
        ifname_(std::move(ifname)),
        remove_(remove),
        address_(address),
        gateway_(gateway) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { result_ = remove_ ? Delete(netns_, ifname_, gone_) : Configure(netns_, ifname_, address_, gateway_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (result_.Failed()) deferred_.Reject(SystemError(env, result_, ifname_ + " in " + netns_).Value());
    else deferred_.Resolve(remove_ ? Napi::Boolean::New(env, !gone_) : env.Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string netns_, ifname_;
  bool remove_;
  in_addr address_, gateway_;
  SysResult result_ = SysResult::Ok();
  bool gone_ = false;
};

bool ParseIpv4(const Napi::Value& value, in_addr& out) {
  return value.IsString() && inet_pton(AF_INET, value.As<Napi::String>().Utf8Value().c_str(), &out) == 1;
}

Napi::Value ConfigureWorkloadInterface(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  in_addr address{}, gateway{};
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !ParseIpv4(info[2], address) ||
      !ParseIpv4(info[3], gateway)) {
    Napi::TypeError::New(env, "configureWorkloadInterface(netnsPath, ifname, ipv4, gatewayIpv4)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new NetnsWorker(env, info[0].As<Napi::String>(), info[1].As<Napi::String>(), false, address, gateway);
  worker->Queue();
  return worker->Promise();
}

Napi::Value DeleteWorkloadInterface(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "deleteWorkloadInterface(netnsPath, ifname)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new NetnsWorker(env, info[0].As<Napi::String>(), info[1].As<Napi::String>(), true, {}, {});
  worker->Queue();
  return worker->Promise();
}

}  // namespace

void RegisterNetnsLink(Napi::Env env, Napi::Object exports) {
  exports.Set("configureWorkloadInterface", Napi::Function::New(env, ConfigureWorkloadInterface));
  exports.Set("deleteWorkloadInterface", Napi::Function::New(env, DeleteWorkloadInterface));
}

}  // namespace tabby
