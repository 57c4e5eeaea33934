# tabby's one native addon. Linux only: TCP-MD5 and IP_MINTTL are Linux socket options, and later concerns (TUN,
# raw sockets, netlink) are too. One source file per concern under src/; addon.cc registers them all.
{
  "targets": [
    {
      "target_name": "tabby_native",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/checksum.cc",
        "src/inet.cc",
        "src/ipip.cc",
        "src/ipip_datapath.cc",
        "src/ipip_routes.cc",
        "src/netns_link.cc",
        "src/sockopt.cc",
        "src/spawn.cc",
        "src/syserror.cc",
        "src/tcp.cc",
        "src/tcp_coalesce.cc",
        "src/tcp_segment.cc",
        "src/tun.cc",
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NAPI_VERSION 8: async cleanup hooks, which let a pending connect close its libuv handles when a worker thread
      # exits. Built without C++ exceptions: errors are thrown into JavaScript explicitly.
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-fno-exceptions", "-Wall", "-Wextra", "-Werror"],
      "conditions": [["OS!='linux'", {"type": "none"}]],
    }
  ]
}
