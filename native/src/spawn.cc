// Node's child_process forks the whole process, and fork() copies page tables in proportion to the parent's memory:
// a tabby-node of 100-200 MB pays 3-6 ms of main-thread CPU per command, and felix and the CNI calls it runs start
// many (ip, iptables-restore, ipset). glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK), whose cost does not
// grow with the parent. The pipes are handed to JavaScript as fds (net.Socket); the child is reaped on a thread of
// its own (libuv reaps only the pids it started itself, by pid, so it never takes ours).
#include "spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "syserror.h"
#include "unique_fd.h"

extern char** environ;

namespace tabby {
namespace {

struct Pipe {
  UniqueFd read, write;
};

SysResult MakePipe(Pipe& p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return LastError("pipe2");
  p.read = UniqueFd(fds[0]);
  p.write = UniqueFd(fds[1]);
  return SysResult::Ok();
}

/** The child starts with default signal dispositions and none blocked: Node ignores SIGPIPE, a tool must not. */
SysResult ChildAttributes(posix_spawnattr_t& attr) {
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  int err = posix_spawnattr_setsigdefault(&attr, &all);
  if (err == 0) err = posix_spawnattr_setsigmask(&attr, &none);
  if (err == 0) err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  return err == 0 ? SysResult::Ok() : SysResult::Failure(err, "posix_spawnattr");
}

/**
 * posix_spawn on a thread of libuv's pool: with CLONE_VFORK the calling thread waits until the child has exec'd,
 * which on a loaded machine is milliseconds that the main thread need not spend.
 */
class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Env env, std::string file, std::vector<std::string> words, bool withStdin)
      : Napi::AsyncWorker(env, "tabby spawnCommand"),
        deferred_(Napi::Promise::Deferred::New(env)),
        file_(std::move(file)),
        words_(std::move(words)),
        withStdin_(withStdin) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    std::vector<char*> argv;
    for (auto& w : words_) argv.push_back(w.data());
    argv.push_back(nullptr);
    if (withStdin_) result_ = MakePipe(in_);
    if (!result_.Failed()) result_ = MakePipe(out_);
    if (!result_.Failed()) result_ = MakePipe(err_);
    if (result_.Failed()) return;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    // dup2 clears close-on-exec on the copy: only these three reach the command.
    if (withStdin_) posix_spawn_file_actions_adddup2(&actions, in_.read.Get(), 0);
    else posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_.write.Get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err_.write.Get(), 2);
    result_ = ChildAttributes(attr);
    if (!result_.Failed()) {
      int e = posix_spawnp(&pid_, file_.c_str(), &actions, &attr, argv.data(), environ);
      if (e != 0) result_ = SysResult::Failure(e, "posix_spawn");
    }
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (result_.Failed()) {
      deferred_.Reject(SystemError(env, result_, file_).Value());
      return;
    }
    Napi::Object child = Napi::Object::New(env);
    child.Set("pid", Napi::Number::New(env, pid_));
    child.Set("stdin", Napi::Number::New(env, withStdin_ ? in_.write.Release() : -1));
    child.Set("stdout", Napi::Number::New(env, out_.read.Release()));
    child.Set("stderr", Napi::Number::New(env, err_.read.Release()));
    deferred_.Resolve(child);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string file_;
  std::vector<std::string> words_;
  bool withStdin_;
  Pipe in_, out_, err_;
  SysResult result_ = SysResult::Ok();
  pid_t pid_ = -1;
};

Napi::Value SpawnCommand(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "spawnCommand(file, args, withStdin)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string file = info[0].As<Napi::String>();
  Napi::Array args = info[1].As<Napi::Array>();
  std::vector<std::string> words{file};
  for (uint32_t i = 0; i < args.Length(); i++) words.push_back(args.Get(i).ToString());
  auto* worker = new SpawnWorker(env, file, std::move(words), info[2].As<Napi::Boolean>());
  worker->Queue();
  return worker->Promise();
}

struct ExitStatus {
  int code;
  int signal;
};

Napi::Value WaitCommand(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "waitCommand(pid, callback)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  auto callback = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "tabby waitCommand", 0, 1);
  std::thread([pid, callback]() mutable {
    int status = 0;
    pid_t reaped;
    do reaped = waitpid(pid, &status, 0);
    while (reaped < 0 && errno == EINTR);
    // ECHILD: not ours to reap (never happens for a pid spawnCommand returned): reported as exit 127.
    auto* exit = new ExitStatus{reaped < 0 ? 127 : WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                                reaped >= 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0};
    callback.BlockingCall(exit, [](Napi::Env env, Napi::Function js, ExitStatus* e) {
      js.Call({Napi::Number::New(env, e->code), Napi::Number::New(env, e->signal)});
      delete e;
    });
    callback.Release();
  }).detach();
  return env.Undefined();
}

}  // namespace

void RegisterSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnCommand", Napi::Function::New(env, SpawnCommand, "spawnCommand"));
  exports.Set("waitCommand", Napi::Function::New(env, WaitCommand, "waitCommand"));
}

}  // namespace tabby
