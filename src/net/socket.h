// Socket helpers: the few calls the servers make to set up TCP sockets, each returning
// a Status instead of an errno.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace bale::net {

// Binds and listens on addr:port (port 0 = ephemeral), non-blocking, SO_REUSEADDR, and
// SO_REUSEPORT when `reuse_port` (several sockets share the port; the kernel spreads
// connections among them). *bound_port receives the port actually bound.
Status ListenTcp(const std::string& addr, uint16_t port, int backlog, bool reuse_port, int* fd,
                 uint16_t* bound_port);
Status SetNonBlocking(int fd);
void SetNoDelay(int fd);
// Whether the connected socket's peer is an IPv4 loopback address (127.0.0.0/8).
bool IsLoopbackPeer(int fd);
// The socket's peer (or, with peer false, its own) address as "tcp:1.2.3.4:5" or
// "tcp6:[::1]:5"; empty if it cannot be told.
std::string SocketAddress(int fd, bool peer);

}  // namespace bale::net
