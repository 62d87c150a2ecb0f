// UDP for the engine: one socket shared by every loop, read and answered in batches with
// recvmmsg and sendmmsg, each answer leaving from the address its query was sent to.
#ifndef BALLAST_DATAGRAMS_H
#define BALLAST_DATAGRAMS_H

#include "ballast_linux.h"

/// A UDP socket bound to `address`: non-blocking, close-on-exec, SO_REUSEADDR, reporting each
/// datagram's destination address (IP_PKTINFO, IPV6_RECVPKTINFO; IPv6 sockets are v6-only),
/// so that a socket bound to 0.0.0.0 or :: answers from the address it was asked on; with
/// `reusePort`, SO_REUSEPORT too, so that several sockets share the address; -errno on failure.
int ballast_udp_bind(const ballast_address *address, int reusePort);

/// One loop's datagrams: `count` slots, each holding a received datagram of up to `size`
/// bytes, its sender and destination, and room for an answer of up to `size` bytes. Made once
/// per loop, so that no datagram allocates.
typedef struct ballast_datagrams ballast_datagrams;

/// A batch of `count` slots of `size` bytes; NULL when out of memory.
ballast_datagrams *ballast_datagrams_create(int count, int size);
void ballast_datagrams_destroy(ballast_datagrams *batch);

/// Receives up to the batch's count of datagrams from `fd` into its slots (forgetting the
/// previous ones and any answer not sent); how many, or -errno (-EAGAIN when none waits).
int ballast_datagrams_receive(ballast_datagrams *batch, int fd);

/// Slot `index`'s datagram: its bytes, their length, and whether it was longer than the slot
/// (then the bytes are its first `size`).
const uint8_t *ballast_datagram_bytes(const ballast_datagrams *batch, int index);
int ballast_datagram_length(const ballast_datagrams *batch, int index);
int ballast_datagram_truncated(const ballast_datagrams *batch, int index);

/// Who sent slot `index`'s datagram, and the address it was sent to (port 0 when the kernel
/// did not say).
void ballast_datagram_sender(const ballast_datagrams *batch, int index, ballast_address *sender);
void ballast_datagram_destination(const ballast_datagrams *batch, int index, ballast_address *destination);

/// Where to write slot `index`'s answer, and how many bytes fit.
uint8_t *ballast_datagram_answer_buffer(ballast_datagrams *batch, int index);
int ballast_datagram_answer_capacity(const ballast_datagrams *batch);

/// Queues slot `index`'s answer of `length` bytes, to its sender, from its destination.
void ballast_datagram_answer(ballast_datagrams *batch, int index, int length);

/// Sends the queued answers with sendmmsg and empties the queue. An answer the socket refuses
/// (its buffer full, the sender unreachable) is dropped, as UDP does. Returns how many were
/// sent; `dropped` gets how many were not.
int ballast_datagrams_send(ballast_datagrams *batch, int fd, int *dropped);

/// Sends one datagram from `fd` to `address` (a NOTIFY, say: any thread may); bytes sent or -errno.
long ballast_udp_send_to(int fd, const void *bytes, unsigned long count, const ballast_address *address);

/// One datagram for `ballast_udp_send_many`: to `address`, from `source` (the address the
/// request came to; family 0 lets the kernel choose).
typedef struct ballast_outgoing {
    const void *bytes;
    unsigned long length;
    ballast_address address;
    ballast_address source;
} ballast_outgoing;

/// Sends each datagram to its address with sendmmsg (any thread may): answers that waited for
/// a disk write leave together. Returns how many the socket took; the rest are dropped, as UDP does.
int ballast_udp_send_many(int fd, const ballast_outgoing *items, int count);

#endif
