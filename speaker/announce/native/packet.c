// fulcrum_packet: a Linux AF_PACKET socket bound to one interface and one ethertype, for ARP
// (raw-socket only opens AF_INET/AF_INET6 raw sockets). Frames reach JS through a uv_poll on the
// non-blocking fd, on the main loop. N-API only (no V8/nan), so one build runs on Node 20/22/24.
//
//   new PacketSocket(ifname, ethertype, onFrame(frame: Buffer, pktType: number))
//     .ifindex, .mac (Buffer), .send(frame) -> bytes, .close()
//   withNetns(path, fn) -> fn()  (runs fn with the calling thread in another network namespace;
//     sockets made inside keep that namespace; used by tests and the lab)
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

// Jumbo frames fit; ARP frames are 42-60 bytes. Longer frames are cut (MSG_TRUNC tells).
#define FRAME_BUFFER_BYTES 9216
// Frames read per wakeup before yielding to the loop, so one busy socket cannot starve others.
#define FRAMES_PER_WAKEUP 64

typedef struct {
  napi_env env;
  int fd;
  uv_poll_t *poll;
  napi_ref self;      // strong while open: an open socket is not collected
  napi_ref on_frame;
  napi_async_context async;
  unsigned char buf[FRAME_BUFFER_BYTES];
} packet_socket;

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, "FUL_ERR_ADDON", "napi call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[4400];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EUNKNOWN", msg);
  return NULL;
}

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void stop_socket(packet_socket *s) {
  if (s->poll) {
    uv_poll_stop(s->poll);
    uv_close((uv_handle_t *)s->poll, on_poll_closed);
    s->poll = NULL;
  }
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  packet_socket *s = h->data;
  napi_env env = s->env;
  if (status < 0) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv;
  napi_get_reference_value(env, s->on_frame, &cb);
  napi_get_reference_value(env, s->self, &recv);
  for (int i = 0; i < FRAMES_PER_WAKEUP && s->fd >= 0; i++) {
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(s->fd, s->buf, sizeof s->buf, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
    if (n < 0) break;  // EAGAIN: drained; other errors surface on the next send
    size_t len = (size_t)n > sizeof s->buf ? sizeof s->buf : (size_t)n;
    napi_value argv[2], result;
    void *data;
    napi_create_buffer_copy(env, len, s->buf, &data, &argv[0]);
    napi_create_uint32(env, from.sll_pkttype, &argv[1]);
    napi_status st = napi_make_callback(env, s->async, recv, cb, 2, argv, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
      break;
    }
  }
  napi_close_handle_scope(env, scope);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  packet_socket *s = data;
  stop_socket(s);
  if (s->on_frame) napi_delete_reference(env, s->on_frame);
  if (s->async) napi_async_destroy(env, s->async);
  free(s);
}

static napi_value ps_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  char ifname[IF_NAMESIZE + 1];
  size_t iflen = 0;
  uint32_t ethertype = 0;
  napi_valuetype cbtype;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &iflen) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &ethertype) != napi_ok || napi_typeof(env, argv[2], &cbtype) != napi_ok ||
      cbtype != napi_function || iflen == 0 || iflen >= IF_NAMESIZE || ethertype > 0xffff) {
    napi_throw_type_error(env, "FUL_ERR_ADDON", "PacketSocket(ifname: string, ethertype: number, onFrame: function)");
    return NULL;
  }
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return throw_errno(env, ifname, errno);
  // Protocol 0 first, so nothing is queued from other interfaces before bind() narrows it.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons((uint16_t)ethertype);
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", err);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, iflen);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "SIOCGIFHWADDR", err);
  }
  packet_socket *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  uv_loop_t *loop;
  napi_value resource_name;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[2], 1, &s->on_frame) != napi_ok ||
      napi_create_string_utf8(env, "FulcrumPacketSocket", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, self, resource_name, &s->async) != napi_ok ||
      napi_wrap(env, self, s, finalize, NULL, &s->self) != napi_ok) {
    close(fd);
    free(s);
    napi_throw_error(env, "FUL_ERR_ADDON", "PacketSocket: napi setup failed");
    return NULL;
  }
  napi_reference_ref(env, s->self, NULL);
  s->poll = malloc(sizeof *s->poll);
  if (!s->poll || uv_poll_init_socket(loop, s->poll, fd) != 0) {
    free(s->poll);
    s->poll = NULL;
    return throw_errno(env, "uv_poll_init", EIO);
  }
  s->poll->data = s;
  uv_poll_start(s->poll, UV_READABLE, on_readable);

  napi_value v_index, v_mac;
  void *mac;
  CHECK(napi_create_uint32(env, ifindex, &v_index));
  CHECK(napi_create_buffer_copy(env, 6, ifr.ifr_hwaddr.sa_data, &mac, &v_mac));
  CHECK(napi_set_named_property(env, self, "ifindex", v_index));
  CHECK(napi_set_named_property(env, self, "mac", v_mac));
  return self;
}

static packet_socket *unwrap_open(napi_env env, napi_value self) {
  packet_socket *s = NULL;
  if (napi_unwrap(env, self, (void **)&s) != napi_ok || !s || s->fd < 0) {
    napi_throw_error(env, "EBADF", "PacketSocket is closed");
    return NULL;
  }
  return s;
}

static napi_value ps_send(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  packet_socket *s = unwrap_open(env, self);
  if (!s) return NULL;
  void *data;
  size_t len;
  bool is_buffer = false;
  if (argc < 1 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "FUL_ERR_ADDON", "send(frame: Buffer)");
    return NULL;
  }
  ssize_t n = send(s->fd, data, len, 0);
  if (n < 0) return throw_errno(env, "send(AF_PACKET)", errno);
  napi_value out;
  CHECK(napi_create_int64(env, n, &out));
  return out;
}

static napi_value ps_close(napi_env env, napi_callback_info info) {
  napi_value self;
  CHECK(napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
  packet_socket *s = NULL;
  if (napi_unwrap(env, self, (void **)&s) == napi_ok && s && s->fd >= 0) {
    stop_socket(s);
    napi_reference_unref(env, s->self, NULL);
  }
  return NULL;
}

static napi_value with_netns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result = NULL, undef;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t plen;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok) {
    napi_throw_type_error(env, "FUL_ERR_ADDON", "withNetns(path: string, fn: function)");
    return NULL;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) return throw_errno(env, path, errno);
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    int err = errno;
    close(target);
    return throw_errno(env, "/proc/thread-self/ns/net", err);
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int err = errno;
    close(target);
    close(home);
    return throw_errno(env, "setns", err);
  }
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, argv[1], 0, NULL, &result);  // an exception stays pending
  // Staying in the wrong namespace would silently send every later socket elsewhere.
  if (setns(home, CLONE_NEWNET) < 0) napi_fatal_error("withNetns", NAPI_AUTO_LENGTH, "cannot return to the original network namespace", NAPI_AUTO_LENGTH);
  close(target);
  close(home);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"send", NULL, ps_send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, ps_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, fn;
  CHECK(napi_define_class(env, "PacketSocket", NAPI_AUTO_LENGTH, ps_new, NULL, 2, methods, &cls));
  CHECK(napi_set_named_property(env, exports, "PacketSocket", cls));
  CHECK(napi_create_function(env, "withNetns", NAPI_AUTO_LENGTH, with_netns, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "withNetns", fn));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
