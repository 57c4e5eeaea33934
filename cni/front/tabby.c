// tabby: the CNI plugin's executable, a small native front. A runtime starts a plugin process per call, and a
// Node.js process costs about 0.1 s of CPU before it runs a line (20 pods at once: seconds). This front hands
// the whole call (environment and stdin) to tabby-node over <run_dir>/ipam.sock, where the plugin's code runs in
// the node's long-lived process (node/cni-calls.ts), and prints what the node answers with its exit status.
// Where the node cannot do the call -- no socket, nobody listening, a node too old (404) or one that does not see
// the workload's namespace (421), or a connection that drops before the answer -- it execs the plugin in
// Node.js, `tabby-js` beside this executable, with the same arguments, environment and stdin. That plugin does
// the same work itself (every step of an ADD is idempotent, so a call the node dropped half-way is redone).
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_RUN_DIR "/var/run/tabby"
#define NODE_SOCKET "ipam.sock"
#define FALLBACK_PLUGIN "tabby-js"
#define MAX_CONFIG_BYTES (16 << 20)
// A node that accepted the call but says nothing for this long is stuck; the runtime is told to try again.
#define REPLY_TIMEOUT_MS 120000
#define CNI_TRY_AGAIN_LATER 11
#define CNI_IO_FAILURE 5

struct buffer {
  char *data;
  size_t len, cap;
};

static void append(struct buffer *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->len + n + 1 > cap) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
      fputs("tabby: out of memory\n", stderr);
      exit(1);
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void append_str(struct buffer *b, const char *s) { append(b, s, strlen(s)); }

static void append_json_string(struct buffer *b, const char *s, size_t n) {
  append(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char escaped[2] = {'\\', (char)c};
      append(b, escaped, 2);
    } else if (c < 0x20) {
      char escaped[8];
      snprintf(escaped, sizeof escaped, "\\u%04x", c);
      append_str(b, escaped);
    } else {
      append(b, (const char *)&s[i], 1);
    }
  }
  append(b, "\"", 1);
}

/** Reads fd to its end; -1 on an error or more than limit bytes. */
static int read_all(int fd, struct buffer *b, size_t limit) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (b->len + (size_t)n > limit) return -1;
    append(b, chunk, (size_t)n);
  }
}

/** The end of the JSON string starting at json[i] == '"' (the index of its closing quote), or len. */
static size_t string_end(const char *json, size_t len, size_t i) {
  for (i++; i < len && json[i] != '"'; i++) {
    if (json[i] == '\\') i++;
  }
  return i < len ? i : len;
}

static size_t skip_space(const char *json, size_t len, size_t i) {
  while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) i++;
  return i;
}

enum lookup { ABSENT, FOUND, UNREADABLE };

/**
 * The value of a member of the config's top-level object. UNREADABLE when it is there but not a plain string
 * (not a string, or with escapes): the caller leaves such a config to the Node.js plugin, which parses JSON.
 */
static enum lookup top_level_string(const char *json, size_t len, const char *key, char *out, size_t out_size) {
  int depth = 0;
  for (size_t i = 0; i < len; i++) {
    char c = json[i];
    if (c == '{' || c == '[') depth++;
    else if (c == '}' || c == ']') depth--;
    if (c != '"') continue;
    size_t start = i + 1, end = string_end(json, len, i);
    if (end == len) return ABSENT;
    i = end;
    size_t colon = skip_space(json, len, end + 1);
    if (depth != 1 || colon >= len || json[colon] != ':') continue;
    if (end - start != strlen(key) || memcmp(json + start, key, end - start) != 0) continue;
    size_t value = skip_space(json, len, colon + 1);
    if (value >= len || json[value] != '"') return UNREADABLE;
    size_t value_end = string_end(json, len, value);
    size_t n = value_end - value - 1;
    if (value_end == len || n >= out_size || memchr(json + value + 1, '\\', n)) return UNREADABLE;
    memcpy(out, json + value + 1, n);
    out[n] = '\0';
    return FOUND;
  }
  return ABSENT;
}

static struct buffer config;
static char cni_version[64] = "1.0.0";

/** A CNI error object on stdout, as the plugin prints one; exit status 1. */
static void fail(int code, const char *format, ...) {
  char message[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  struct buffer out = {0};
  append_str(&out, "{\"cniVersion\":");
  append_json_string(&out, cni_version, strlen(cni_version));
  append_str(&out, ",\"code\":");
  char number[16];
  snprintf(number, sizeof number, "%d", code);
  append_str(&out, number);
  append_str(&out, ",\"msg\":");
  append_json_string(&out, message, strlen(message));
  append_str(&out, "}\n");
  fwrite(out.data, 1, out.len, stdout);
  exit(1);
}

/** Runs the Node.js plugin in this process's place, with the config it would have read on stdin. */
static void exec_fallback(char **argv) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) fail(CNI_IO_FAILURE, "tabby: cannot find its own executable: %s", strerror(errno));
  self[n] = '\0';
  char plugin[PATH_MAX];
  snprintf(plugin, sizeof plugin, "%s/%s", dirname(self), FALLBACK_PLUGIN);
  int fd = memfd_create("tabby-cni-config", MFD_CLOEXEC);
  if (fd < 0) fail(CNI_IO_FAILURE, "tabby: memfd_create: %s", strerror(errno));
  if (config.len > 0 && write(fd, config.data, config.len) != (ssize_t)config.len)
    fail(CNI_IO_FAILURE, "tabby: writing the config for %s: %s", plugin, strerror(errno));
  if (lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, STDIN_FILENO) < 0)
    fail(CNI_IO_FAILURE, "tabby: passing the config to %s: %s", plugin, strerror(errno));
  argv[0] = plugin;
  execv(plugin, argv);
  fail(CNI_IO_FAILURE, "tabby: cannot run %s: %s", plugin, strerror(errno));
}

/** Writes all of b; false when the node went away. */
static int send_all(int fd, const struct buffer *b) {
  for (size_t off = 0; off < b->len;) {
    ssize_t n = send(fd, b->data + off, b->len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    off += (size_t)n;
  }
  return 1;
}

static long long monotonic_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/** The reply until the node closes the connection: 1, or 0 when it dropped; fails on the timeout. */
static int read_reply(int fd, struct buffer *reply, const char *socket_path) {
  long long deadline = monotonic_ms() + REPLY_TIMEOUT_MS;
  char chunk[65536];
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    long long left = deadline - monotonic_ms();
    if (left <= 0)
      fail(CNI_TRY_AGAIN_LATER, "tabby: tabby-node on %s did not answer within %d s", socket_path,
           REPLY_TIMEOUT_MS / 1000);
    int ready = poll(&p, 1, (int)left);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 0;
    if (n == 0) return 1;
    append(reply, chunk, (size_t)n);
  }
}

/** A header's value in the reply's header block, or NULL. */
static const char *header(const char *headers, const char *name) {
  size_t n = strlen(name);
  for (const char *line = strstr(headers, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, name, n) == 0 && line[2 + n] == ':') return line + 3 + n;
  }
  return NULL;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) exec_fallback(argv);
  }
  if (read_all(STDIN_FILENO, &config, MAX_CONFIG_BYTES) < 0)
    fail(CNI_IO_FAILURE, "tabby: cannot read the network config on stdin (over %d bytes, or %s)", MAX_CONFIG_BYTES,
         strerror(errno));
  if (top_level_string(config.data, config.len, "cniVersion", cni_version, sizeof cni_version) != FOUND)
    strcpy(cni_version, "1.0.0");

  char run_dir[PATH_MAX] = DEFAULT_RUN_DIR;
  enum lookup found = config.len ? top_level_string(config.data, config.len, "run_dir", run_dir, sizeof run_dir) : ABSENT;
  if (found == UNREADABLE) exec_fallback(argv);
  if (found == ABSENT || run_dir[0] == '\0') strcpy(run_dir, DEFAULT_RUN_DIR);

  struct sockaddr_un address = {.sun_family = AF_UNIX};
  int length = snprintf(address.sun_path, sizeof address.sun_path, "%s/%s", run_dir, NODE_SOCKET);
  if (length < 0 || (size_t)length >= sizeof address.sun_path) exec_fallback(argv);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) < 0) exec_fallback(argv);

  struct buffer body = {0};
  append_str(&body, "{\"env\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    if (!first) append(&body, ",", 1);
    first = 0;
    append_json_string(&body, *e, (size_t)(eq - *e));
    append(&body, ":", 1);
    append_json_string(&body, eq + 1, strlen(eq + 1));
  }
  append_str(&body, "},\"stdin\":");
  append_json_string(&body, config.data ? config.data : "", config.len);
  append_str(&body, "}");

  struct buffer request = {0};
  char head[256];
  snprintf(head, sizeof head,
           "POST /v1/cni HTTP/1.1\r\nHost: tabby-node\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\nConnection: close\r\n\r\n",
           body.len);
  append_str(&request, head);
  append(&request, body.data, body.len);
  if (!send_all(fd, &request)) exec_fallback(argv);

  struct buffer reply = {0};
  if (!read_reply(fd, &reply, address.sun_path) || reply.len == 0) exec_fallback(argv);
  int status = 0;
  char *end_of_headers = strstr(reply.data, "\r\n\r\n");
  if (sscanf(reply.data, "HTTP/1.%*d %d", &status) != 1 || !end_of_headers) exec_fallback(argv);
  *end_of_headers = '\0';
  const char *content = end_of_headers + 4;
  size_t content_length = reply.len - (size_t)(content - reply.data);
  if (status == 404 || status == 421) exec_fallback(argv);
  // A reply cut short: the node died while answering. What it did is redone by the fallback (idempotent).
  const char *declared = header(reply.data, "content-length");
  if (declared && strtoull(declared, NULL, 10) != content_length) exec_fallback(argv);
  const char *exit_code = header(reply.data, "x-cni-exit-code");
  if (status != 200 || !exit_code)
    fail(CNI_IO_FAILURE, "tabby: tabby-node on %s answered %d: %.*s", address.sun_path, status, (int)content_length,
         content);
  fwrite(content, 1, content_length, stdout);
  return atoi(exit_code);
}
