#include "tcp.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <uv.h>

#include <cerrno>
#include <climits>
#include <memory>
#include <string>
#include <utility>

#include "args.h"
#include "inet.h"
#include "sockopt.h"
#include "syserror.h"
#include "unique_fd.h"

namespace tabby {

namespace {

/** Throws `error`; a binding that returns the result has thrown. */
Napi::Value Throw(const Napi::Error& error) {
  error.ThrowAsJavaScriptException();
  return Napi::Value();
}

/** Throws the error of the Node-API call that just failed. */
Napi::Value ThrowLastNapiError(Napi::Env env) { return Throw(Napi::Error::New(env)); }

bool ReadIpLiteral(Napi::Env env, const std::string& text, uint16_t port, const std::string& name,
                   SocketAddress* out) {
  if (ParseIpLiteral(text, port, out)) return true;
  Napi::TypeError::New(env, name + " must be an IPv4 or IPv6 address, not \"" + text + "\"")
      .ThrowAsJavaScriptException();
  return false;
}

bool ReadMd5Key(Napi::Env env, Napi::Value value, std::string* out) {
  if (!ReadString(env, value, "md5 key", out)) return false;
  if (out->size() <= TCP_MD5SIG_MAXKEYLEN) return true;
  Napi::RangeError::New(env, "a TCP-MD5 key is at most " + std::to_string(TCP_MD5SIG_MAXKEYLEN) + " bytes, not " +
                                 std::to_string(out->size()))
      .ThrowAsJavaScriptException();
  return false;
}

bool ReadFd(Napi::Env env, Napi::Value value, int* out) {
  int64_t fd = 0;
  if (!ReadInteger(env, value, "fd", 0, INT_MAX, &fd)) return false;
  *out = static_cast<int>(fd);
  return true;
}

/**
 * One non-blocking connect in flight. libuv watches the socket for writability (the connect's outcome) next to a
 * timer, on the event loop's own thread: no thread waits however long the peer stays silent, so any number of
 * connects can be pending. The promise settles once; then both handles close and the object frees itself when
 * libuv is done with them. If the environment ends first (a worker thread exits), the fd is closed unsettled.
 */
class PendingConnect {
 public:
  /** Watches `fd`, whose connect() is under way, and returns the promise of its fd once connected. */
  static Napi::Value Start(Napi::Env env, UniqueFd fd, std::string target, uint64_t timeoutMs) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return ThrowLastNapiError(env);
    std::unique_ptr<PendingConnect> self(new PendingConnect(env, std::move(fd), std::move(target), timeoutMs));
    if (env.IsExceptionPending()) return Napi::Value();  // The async context could not be created.
    napi_value promise = nullptr;
    if (napi_create_promise(env, &self->deferred_, &promise) != napi_ok) return ThrowLastNapiError(env);
    if (int err = uv_poll_init_socket(loop, &self->poll_, self->fd_.Get()); err != 0) {
      napi_reject_deferred(env, self->deferred_, SystemError(env, {-err, "uv_poll_init"}, self->target_).Value());
      return Napi::Value(env, promise);
    }
    uv_timer_init(loop, &self->timer_);
    self->poll_.data = self.get();
    self->timer_.data = self.get();
    self->openHandles_ = 2;
    // From here on libuv holds the object: OnHandleClosed deletes it.
    PendingConnect* pending = self.release();
    // Without the hook (only if the environment is already going away) a worker's exit could leave the fd open.
    napi_add_async_cleanup_hook(env, OnEnvTeardown, pending, &pending->cleanupHook_);
    uv_poll_start(&pending->poll_, UV_WRITABLE, OnWritable);
    uv_timer_start(&pending->timer_, OnTimeout, timeoutMs, 0);
    return Napi::Value(env, promise);
  }

 private:
  PendingConnect(Napi::Env env, UniqueFd fd, std::string target, uint64_t timeoutMs)
      : env_(env),
        context_(env, "tabby.connectTcp"),
        fd_(std::move(fd)),
        target_(std::move(target)),
        timeoutMs_(timeoutMs) {}

  static void OnWritable(uv_poll_t* poll, int status, int /*events*/) {
    auto* self = static_cast<PendingConnect*>(poll->data);
    // libuv reports any socket error as UV_EBADF; the connect's own outcome is SO_ERROR.
    int err = 0;
    socklen_t length = sizeof err;
    if (getsockopt(self->fd_.Get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
    if (err == 0 && status < 0) err = -status;
    self->Finish(err == 0 ? SysResult::Ok() : SysResult::Failure(err, "connect"), "");
  }

  static void OnTimeout(uv_timer_t* timer) {
    auto* self = static_cast<PendingConnect*>(timer->data);
    // libuv runs due timers before it polls: on a loop that was held up past the deadline, a connect that did
    // complete in time would be reported as timed out. Ask the socket itself first.
    pollfd ready{self->fd_.Get(), POLLOUT, 0};
    if (poll(&ready, 1, 0) == 1) return OnWritable(&self->poll_, 0, 0);
    // No SYN-ACK and no RST: the peer is down or unreachable, or drops our SYNs (TCP-MD5 key or GTSM TTL mismatch).
    self->Finish(SysResult::Failure(ETIMEDOUT, "connect"), "no answer within " + std::to_string(self->timeoutMs_) +
                                                               " ms");
  }

  static void OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
    // Nobody is left to take the promise's outcome: drop the connect. The fd closes with the object.
    static_cast<PendingConnect*>(arg)->CloseHandles();
  }

  static void OnHandleClosed(uv_handle_t* handle) {
    auto* self = static_cast<PendingConnect*>(handle->data);
    if (--self->openHandles_ > 0) return;
    if (self->cleanupHook_ != nullptr) napi_remove_async_cleanup_hook(self->cleanupHook_);
    delete self;
  }

  void Finish(const SysResult& result, const std::string& detail) {
    // Closing the poll handle makes libuv forget the fd at once (only freeing the handle waits for a later loop
    // phase), so uv_tcp_open() can take the fd when JavaScript wraps it in a net.Socket.
    CloseHandles();
    Napi::Env env(env_);
    Napi::HandleScope handleScope(env);
    // As for any callback from the loop: when the scope closes, Node runs the promise's reactions.
    Napi::CallbackScope callbackScope(env, context_);
    if (result.Failed()) {
      fd_.Reset();
      napi_reject_deferred(env_, deferred_, SystemError(env, result, target_, detail).Value());
    } else if (napi_resolve_deferred(env_, deferred_, Napi::Number::New(env, fd_.Get())) == napi_ok) {
      fd_.Release();
    }
  }

  void CloseHandles() {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnHandleClosed);
  }

  napi_env env_;
  Napi::AsyncContext context_;
  napi_deferred deferred_ = nullptr;
  napi_async_cleanup_hook_handle cleanupHook_ = nullptr;
  UniqueFd fd_;
  std::string target_;
  uint64_t timeoutMs_;
  uv_poll_t poll_{};
  uv_timer_t timer_{};
  int openHandles_ = 0;
  bool closing_ = false;
};

/** A stream socket for `family`, non-blocking from the start (libuv and Node expect that of any fd they adopt). */
UniqueFd TcpSocket(int family) { return UniqueFd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)); }

// connect(host, port, {timeoutMs, ttl?, minTtl?, md5?: {peerAddress, key}, localAddress?}): Promise<fd>
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string host;
  int64_t port = 0;
  if (!ReadString(env, info[0], "host", &host) || !ReadInteger(env, info[1], "port", 1, 65535, &port)) return {};
  SocketAddress peer;
  if (!ReadIpLiteral(env, host, static_cast<uint16_t>(port), "host", &peer)) return {};
  if (!info[2].IsObject()) return Throw(Napi::TypeError::New(env, "options must be an object"));
  Napi::Object options = info[2].As<Napi::Object>();

  int64_t timeoutMs = 0;
  int64_t ttl = kUnchanged;
  int64_t minTtl = kUnchanged;
  std::string localText;
  if (!ReadInteger(env, options.Get("timeoutMs"), "timeoutMs", 1, INT_MAX, &timeoutMs) ||
      !ReadOptionalInteger(env, options, "ttl", 1, 255, &ttl) ||
      !ReadOptionalInteger(env, options, "minTtl", 0, 255, &minTtl) ||
      !ReadOptionalString(env, options, "localAddress", &localText)) {
    return {};
  }
  SocketAddress local;
  if (!localText.empty() && !ReadIpLiteral(env, localText, 0, "localAddress", &local)) return {};
  std::string md5Key;
  SocketAddress md5Peer;
  if (Napi::Value md5 = options.Get("md5"); !md5.IsUndefined()) {
    if (!md5.IsObject()) return Throw(Napi::TypeError::New(env, "md5 must be an object {peerAddress, key}"));
    Napi::Object md5Options = md5.As<Napi::Object>();
    std::string md5PeerText;
    if (!ReadString(env, md5Options.Get("peerAddress"), "md5 peerAddress", &md5PeerText) ||
        !ReadMd5Key(env, md5Options.Get("key"), &md5Key) ||
        !ReadIpLiteral(env, md5PeerText, 0, "md5 peerAddress", &md5Peer)) {
      return {};
    }
  }

  std::string target = FormatEndpoint(host, static_cast<uint16_t>(port));
  UniqueFd fd = TcpSocket(peer.Family());
  if (!fd.Valid()) return Throw(SystemError(env, LastError("socket"), target));
  // Everything before connect(), so that the SYN already carries the MD5 signature and the TTL.
  if (!md5Key.empty()) {
    if (SysResult r = SetTcpMd5(fd.Get(), md5Peer, md5Key); r.Failed()) return Throw(SystemError(env, r, target));
  }
  if (SysResult r = SetTtl(fd.Get(), static_cast<int>(ttl), static_cast<int>(minTtl)); r.Failed()) {
    return Throw(SystemError(env, r, target));
  }
  if (!localText.empty() && bind(fd.Get(), local.Raw(), local.length) != 0) {
    return Throw(SystemError(env, LastError("bind"), target, "cannot bind to " + localText));
  }
  if (connect(fd.Get(), peer.Raw(), peer.length) != 0 && errno != EINPROGRESS) {
    return Throw(SystemError(env, LastError("connect"), target));
  }
  return PendingConnect::Start(env, std::move(fd), std::move(target), static_cast<uint64_t>(timeoutMs));
}

// listen(address, port, backlog): fd
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string address;
  int64_t port = 0;
  int64_t backlog = 0;
  if (!ReadString(env, info[0], "address", &address) || !ReadInteger(env, info[1], "port", 0, 65535, &port) ||
      !ReadInteger(env, info[2], "backlog", 1, INT_MAX, &backlog)) {
    return {};
  }
  SocketAddress local;
  if (!ReadIpLiteral(env, address, static_cast<uint16_t>(port), "address", &local)) return {};
  std::string target = FormatEndpoint(address, static_cast<uint16_t>(port));
  UniqueFd fd = TcpSocket(local.Family());
  if (!fd.Valid()) return Throw(SystemError(env, LastError("socket"), target));
  int one = 1;
  if (setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return Throw(SystemError(env, LastError("setsockopt SO_REUSEADDR"), target));
  }
  if (bind(fd.Get(), local.Raw(), local.length) != 0) return Throw(SystemError(env, LastError("bind"), target));
  if (listen(fd.Get(), static_cast<int>(backlog)) != 0) return Throw(SystemError(env, LastError("listen"), target));
  return Napi::Number::New(env, fd.Release());
}

// setMd5(fd, peerAddress, key): void
Napi::Value SetMd5(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  std::string peerText;
  std::string key;
  SocketAddress peer;
  if (!ReadFd(env, info[0], &fd) || !ReadString(env, info[1], "peerAddress", &peerText) ||
      !ReadMd5Key(env, info[2], &key) || !ReadIpLiteral(env, peerText, 0, "peerAddress", &peer)) {
    return {};
  }
  if (SysResult r = SetTcpMd5(fd, peer, key); r.Failed()) return Throw(SystemError(env, r, "peer " + peerText));
  return env.Undefined();
}

// setTtl(fd, ttl, minTtl?): void
Napi::Value SetTtlBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int64_t ttl = 0;
  int64_t minTtl = kUnchanged;
  if (!ReadFd(env, info[0], &fd) || !ReadInteger(env, info[1], "ttl", 1, 255, &ttl) ||
      (!info[2].IsUndefined() && !ReadInteger(env, info[2], "minTtl", 0, 255, &minTtl))) {
    return {};
  }
  if (SysResult r = SetTtl(fd, static_cast<int>(ttl), static_cast<int>(minTtl)); r.Failed()) {
    return Throw(SystemError(env, r, "fd " + std::to_string(fd)));
  }
  return env.Undefined();
}

}  // namespace

void RegisterTcp(Napi::Env env, Napi::Object exports) {
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  exports.Set("listen", Napi::Function::New(env, Listen, "listen"));
  exports.Set("setMd5", Napi::Function::New(env, SetMd5, "setMd5"));
  exports.Set("setTtl", Napi::Function::New(env, SetTtlBinding, "setTtl"));
}

}  // namespace tabby
