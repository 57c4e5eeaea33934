// tabby_native: what Node's own modules cannot do for tabby. One source file per concern; each registers its
// functions on the exports here.
#include <napi.h>

#include "ipip.h"
#include "netns_link.h"
#include "spawn.h"
#include "tcp.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tabby::RegisterTcp(env, exports);
  tabby::RegisterIpip(env, exports);
  tabby::RegisterSpawn(env, exports);
  tabby::RegisterNetnsLink(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tabby_native, Init)
