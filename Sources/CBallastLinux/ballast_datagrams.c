#define _GNU_SOURCE
#include "ballast_datagrams.h"
#include "ballast_sockaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

// Room for one IPv4 or IPv6 packet-info control message.
#define CONTROL_SIZE 64
_Static_assert(CMSG_SPACE(sizeof(struct in6_pktinfo)) <= CONTROL_SIZE, "control room");
_Static_assert(CMSG_SPACE(sizeof(struct in_pktinfo)) <= CONTROL_SIZE, "control room");

typedef struct {
    struct sockaddr_storage sender;
    union {
        char bytes[CONTROL_SIZE];
        size_t align;  // a cmsghdr's alignment
    } received;
    union {
        char bytes[CONTROL_SIZE];
        size_t align;  // a cmsghdr's alignment
    } sent;
    ballast_address destination;
    int destinationIndex;  // interface the datagram came in on
    struct iovec in;
    struct iovec out;
} slot;

struct ballast_datagrams {
    int count;
    int size;
    int received;
    int queued;
    slot *slots;
    struct mmsghdr *receiving;
    struct mmsghdr *sending;
    uint8_t *memory;  // count * size for datagrams, then count * size for answers
};

int ballast_udp_bind(const ballast_address *address, int reusePort) {
    int fd = socket(address->family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reusePort) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    int ok;
    if (address->family == 6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        ok = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
    } else {
        ok = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
    }
    struct sockaddr_storage storage;
    socklen_t length = ballast_to_sockaddr(address, &storage);
    if (ok != 0 || bind(fd, (struct sockaddr *)&storage, length) != 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

ballast_datagrams *ballast_datagrams_create(int count, int size) {
    if (count <= 0 || size <= 0) return NULL;
    ballast_datagrams *batch = calloc(1, sizeof(*batch));
    if (batch == NULL) return NULL;
    batch->count = count;
    batch->size = size;
    batch->slots = calloc((size_t)count, sizeof(slot));
    batch->receiving = calloc((size_t)count, sizeof(struct mmsghdr));
    batch->sending = calloc((size_t)count, sizeof(struct mmsghdr));
    // Pages are touched only as datagrams fill them: a batch of large slots costs address
    // space, and resident memory only for the sizes that arrive.
    batch->memory = malloc((size_t)count * (size_t)size * 2);
    if (batch->slots == NULL || batch->receiving == NULL || batch->sending == NULL || batch->memory == NULL) {
        ballast_datagrams_destroy(batch);
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        slot *s = &batch->slots[i];
        s->in.iov_base = batch->memory + (size_t)i * (size_t)size;
        s->in.iov_len = (size_t)size;
        s->out.iov_base = batch->memory + (size_t)(count + i) * (size_t)size;
    }
    return batch;
}

void ballast_datagrams_destroy(ballast_datagrams *batch) {
    if (batch == NULL) return;
    free(batch->slots);
    free(batch->receiving);
    free(batch->sending);
    free(batch->memory);
    free(batch);
}

static void read_destination(slot *s, struct msghdr *header) {
    memset(&s->destination, 0, sizeof(s->destination));
    s->destinationIndex = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c != NULL; c = CMSG_NXTHDR(header, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            s->destination.family = 4;
            memcpy(s->destination.bytes, &info.ipi_addr, 4);
            s->destinationIndex = info.ipi_ifindex;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            s->destination.family = 6;
            memcpy(s->destination.bytes, &info.ipi6_addr, 16);
            s->destinationIndex = (int)info.ipi6_ifindex;
        }
    }
}

int ballast_datagrams_receive(ballast_datagrams *batch, int fd) {
    batch->received = 0;
    batch->queued = 0;
    for (int i = 0; i < batch->count; i++) {
        slot *s = &batch->slots[i];
        struct msghdr *header = &batch->receiving[i].msg_hdr;
        header->msg_name = &s->sender;
        header->msg_namelen = sizeof(s->sender);
        header->msg_iov = &s->in;
        header->msg_iovlen = 1;
        header->msg_control = s->received.bytes;
        header->msg_controllen = sizeof(s->received.bytes);
        header->msg_flags = 0;
        batch->receiving[i].msg_len = 0;
    }
    int count = recvmmsg(fd, batch->receiving, (unsigned)batch->count, MSG_DONTWAIT, NULL);
    if (count < 0) return -errno;
    for (int i = 0; i < count; i++) read_destination(&batch->slots[i], &batch->receiving[i].msg_hdr);
    batch->received = count;
    return count;
}

const uint8_t *ballast_datagram_bytes(const ballast_datagrams *batch, int index) {
    return batch->slots[index].in.iov_base;
}

int ballast_datagram_length(const ballast_datagrams *batch, int index) {
    unsigned length = batch->receiving[index].msg_len;
    return length > (unsigned)batch->size ? batch->size : (int)length;
}

int ballast_datagram_truncated(const ballast_datagrams *batch, int index) {
    return (batch->receiving[index].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}

void ballast_datagram_sender(const ballast_datagrams *batch, int index, ballast_address *sender) {
    ballast_from_sockaddr(&batch->slots[index].sender, sender);
}

void ballast_datagram_destination(const ballast_datagrams *batch, int index, ballast_address *destination) {
    *destination = batch->slots[index].destination;
}

uint8_t *ballast_datagram_answer_buffer(ballast_datagrams *batch, int index) {
    return batch->slots[index].out.iov_base;
}

int ballast_datagram_answer_capacity(const ballast_datagrams *batch) { return batch->size; }

// Attaches one packet-info control message (`level`, `type`, `size` bytes of `info`) to
// `header`, in `control` (CONTROL_SIZE bytes).
static void set_packet_info(struct msghdr *header, unsigned char *control, int level, int type, const void *info, size_t size) {
    memset(control, 0, CONTROL_SIZE);
    header->msg_control = control;
    header->msg_controllen = CMSG_SPACE(size);
    struct cmsghdr *c = CMSG_FIRSTHDR(header);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(size);
    memcpy(CMSG_DATA(c), info, size);
}

// Has the datagram of `header` leave from `source` (received on interface `index`): on a socket
// bound to 0.0.0.0 or ::, the kernel would otherwise pick the source by route, which a client
// may refuse. A source of family 0 leaves the choice to the kernel.
static void set_source(struct msghdr *header, unsigned char *control, const ballast_address *source, int index) {
    if (source->family == 4) {
        struct in_pktinfo info;
        memset(&info, 0, sizeof(info));
        memcpy(&info.ipi_spec_dst, source->bytes, 4);
        set_packet_info(header, control, IPPROTO_IP, IP_PKTINFO, &info, sizeof(info));
    } else if (source->family == 6) {
        struct in6_pktinfo info;
        memset(&info, 0, sizeof(info));
        memcpy(&info.ipi6_addr, source->bytes, 16);
        info.ipi6_ifindex = (unsigned)index;  // needed for link-local senders
        set_packet_info(header, control, IPPROTO_IPV6, IPV6_PKTINFO, &info, sizeof(info));
    }
}

void ballast_datagram_answer(ballast_datagrams *batch, int index, int length) {
    if (index < 0 || index >= batch->received || length <= 0 || length > batch->size) return;
    slot *s = &batch->slots[index];
    s->out.iov_len = (size_t)length;
    struct msghdr *header = &batch->sending[batch->queued].msg_hdr;
    memset(header, 0, sizeof(*header));
    header->msg_name = &s->sender;
    header->msg_namelen = batch->receiving[index].msg_hdr.msg_namelen;
    header->msg_iov = &s->out;
    header->msg_iovlen = 1;
    // The answer leaves from the address the query came to.
    set_source(header, (unsigned char *)s->sent.bytes, &s->destination, s->destinationIndex);
    batch->sending[batch->queued].msg_len = 0;
    batch->queued += 1;
}

int ballast_datagrams_send(ballast_datagrams *batch, int fd, int *dropped) {
    int sent = 0;
    int lost = 0;
    int next = 0;
    while (next < batch->queued) {
        int count = sendmmsg(fd, batch->sending + next, (unsigned)(batch->queued - next), MSG_DONTWAIT);
        if (count > 0) {
            sent += count;
            next += count;
            continue;
        }
        if (count < 0 && errno == EINTR) continue;
        if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            lost += batch->queued - next;  // the socket's buffer is full: UDP drops
            break;
        }
        // This one answer failed (its sender unreachable, say): skip it, send the rest.
        lost += 1;
        next += 1;
    }
    batch->queued = 0;
    if (dropped != NULL) *dropped = lost;
    return sent;
}

long ballast_udp_send_to(int fd, const void *bytes, unsigned long count, const ballast_address *address) {
    struct sockaddr_storage storage;
    socklen_t length = ballast_to_sockaddr(address, &storage);
    ssize_t sent = sendto(fd, bytes, count, MSG_DONTWAIT, (struct sockaddr *)&storage, length);
    return sent < 0 ? -errno : sent;
}

int ballast_udp_send_many(int fd, const ballast_outgoing *items, int count) {
    enum { chunk = 64 };
    struct mmsghdr messages[chunk];
    struct iovec vectors[chunk];
    struct sockaddr_storage addresses[chunk];
    union {
        struct cmsghdr align;
        unsigned char bytes[CONTROL_SIZE];
    } controls[chunk];
    int sent = 0;
    for (int start = 0; start < count; start += chunk) {
        int n = count - start < chunk ? count - start : chunk;
        memset(messages, 0, sizeof(struct mmsghdr) * (size_t)n);
        for (int i = 0; i < n; i++) {
            const ballast_outgoing *item = &items[start + i];
            vectors[i].iov_base = (void *)item->bytes;
            vectors[i].iov_len = item->length;
            messages[i].msg_hdr.msg_iov = &vectors[i];
            messages[i].msg_hdr.msg_iovlen = 1;
            messages[i].msg_hdr.msg_name = &addresses[i];
            messages[i].msg_hdr.msg_namelen = ballast_to_sockaddr(&item->address, &addresses[i]);
            set_source(&messages[i].msg_hdr, controls[i].bytes, &item->source, 0);
        }
        int done = 0;
        while (done < n) {
            int result = sendmmsg(fd, messages + done, (unsigned int)(n - done), MSG_DONTWAIT);
            if (result < 0) {
                if (errno == EINTR) continue;
                done++;  // this one is refused (buffer full, unreachable): dropped; go on
                continue;
            }
            done += result;
            sent += result;
        }
    }
    return sent;
}
