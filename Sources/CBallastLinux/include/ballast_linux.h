// Thin, allocation-free wrappers over the Linux socket and epoll calls the relay engine
// uses, so that Swift never builds sockaddr structs by hand.
#ifndef BALLAST_LINUX_H
#define BALLAST_LINUX_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/// An IPv4 or IPv6 address and port, family 4 or 6, bytes in network order.
typedef struct {
    uint8_t family;
    uint8_t bytes[16];
    uint16_t port;
} ballast_address;

/// A non-blocking, close-on-exec TCP socket for `family` (4 or 6); -errno on failure.
int ballast_socket(uint8_t family);

/// A listening socket bound to `address`, non-blocking, SO_REUSEADDR and TCP_NODELAY (which
/// accepted sockets inherit); -errno on failure.
int ballast_listen(const ballast_address *address, int backlog);

/// Accepts one connection, non-blocking and close-on-exec, and the peer's address; -errno on failure.
int ballast_accept(int fd, ballast_address *peer);

/// Starts a non-blocking connect: 0 when connected, -EINPROGRESS while under way, else -errno.
int ballast_connect(int fd, const ballast_address *address);

/// The local address of a socket; 0 or -errno.
int ballast_local_address(int fd, ballast_address *address);

/// The pending error of a socket (SO_ERROR): 0 when none.
int ballast_socket_error(int fd);

/// Sets TCP_NODELAY.
int ballast_set_nodelay(int fd);

/// Sets SO_RCVBUF.
int ballast_set_receive_buffer(int fd, int bytes);

/// read(2) and write(2) returning -errno instead of setting errno.
long ballast_read(int fd, void *buffer, unsigned long count);
long ballast_write(int fd, const void *buffer, unsigned long count);

/// Sends two byte ranges in one call (the second may be empty), as write(2) would send them
/// one after the other; bytes sent or -errno.
long ballast_write2(int fd, const void *first, unsigned long firstCount, const void *second, unsigned long secondCount);

/// Looks at the socket without taking anything: 1 when bytes wait, 0 when the peer closed,
/// -EAGAIN when it is open and empty, else -errno.
long ballast_peek(int fd);

/// shutdown(fd, SHUT_WR).
int ballast_shutdown_write(int fd);

/// epoll_ctl with the event mask and 64-bit tag; -errno on failure.
int ballast_epoll_add(int epfd, int fd, uint32_t events, uint64_t tag);
int ballast_epoll_modify(int epfd, int fd, uint32_t events, uint64_t tag);
int ballast_epoll_delete(int epfd, int fd);

/// Starts a detached thread named `name` (at most 15 bytes) running `body(context)`; 0 or -errno.
int ballast_start_thread(void (*body)(void *), void *context, const char *name);

/// Linux's scheduling policy numbers (SCHED_BATCH needs _GNU_SOURCE, which Swift's view of
/// the headers lacks).
enum { ballast_policy_other = 0, ballast_policy_batch = 3 };

/// Puts the calling thread under SCHED_BATCH (same priority, no preemption of the thread
/// running when it wakes); 0 or -errno.
int ballast_schedule_as_batch(void);

/// The calling thread's scheduling policy (SCHED_OTHER, SCHED_BATCH, ...), or -errno.
int ballast_scheduling_policy(void);

/// Names the calling thread (at most 15 bytes shown), as `top -H` and `perf` show it.
void ballast_name_thread(const char *name);

/// Monotonic milliseconds.
uint64_t ballast_now_ms(void);

/// The soft and hard limits on open files; raises the soft one to the hard one.
int ballast_raise_file_limit(uint64_t *soft, uint64_t *hard);

/// Returns the memory free in the allocator's arenas to the system (glibc's malloc_trim); 1 when
/// some was returned.
int ballast_trim_memory(void);

#endif
