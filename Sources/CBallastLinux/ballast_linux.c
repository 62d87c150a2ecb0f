#define _GNU_SOURCE
#include "ballast_linux.h"
#include "ballast_sockaddr.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

socklen_t ballast_to_sockaddr(const ballast_address *address, struct sockaddr_storage *storage) {
    memset(storage, 0, sizeof(*storage));
    if (address->family == 6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)storage;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(address->port);
        memcpy(&in6->sin6_addr, address->bytes, 16);
        return sizeof(*in6);
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)storage;
    in4->sin_family = AF_INET;
    in4->sin_port = htons(address->port);
    memcpy(&in4->sin_addr, address->bytes, 4);
    return sizeof(*in4);
}

void ballast_from_sockaddr(const struct sockaddr_storage *storage, ballast_address *address) {
    memset(address, 0, sizeof(*address));
    if (storage->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)storage;
        address->family = 6;
        address->port = ntohs(in6->sin6_port);
        memcpy(address->bytes, &in6->sin6_addr, 16);
    } else if (storage->ss_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)storage;
        address->family = 4;
        address->port = ntohs(in4->sin_port);
        memcpy(address->bytes, &in4->sin_addr, 4);
    }
}

int ballast_socket(uint8_t family) {
    int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int ballast_listen(const ballast_address *address, int backlog) {
    int fd = ballast_socket(address->family);
    if (fd < 0) return fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Accepted sockets inherit TCP_NODELAY from the listener: no call per connection.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (address->family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    struct sockaddr_storage storage;
    socklen_t length = ballast_to_sockaddr(address, &storage);
    if (bind(fd, (struct sockaddr *)&storage, length) != 0 || listen(fd, backlog) != 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int ballast_accept(int fd, ballast_address *peer) {
    struct sockaddr_storage storage;
    socklen_t length = sizeof(storage);
    int client = accept4(fd, (struct sockaddr *)&storage, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return -errno;
    ballast_from_sockaddr(&storage, peer);
    return client;
}

int ballast_connect(int fd, const ballast_address *address) {
    struct sockaddr_storage storage;
    socklen_t length = ballast_to_sockaddr(address, &storage);
    if (connect(fd, (struct sockaddr *)&storage, length) == 0) return 0;
    return -errno;
}

int ballast_local_address(int fd, ballast_address *address) {
    struct sockaddr_storage storage;
    socklen_t length = sizeof(storage);
    if (getsockname(fd, (struct sockaddr *)&storage, &length) != 0) return -errno;
    ballast_from_sockaddr(&storage, address);
    return 0;
}

int ballast_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
}

int ballast_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 ? 0 : -errno;
}

int ballast_set_receive_buffer(int fd, int bytes) {
    return setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) == 0 ? 0 : -errno;
}

long ballast_read(int fd, void *buffer, unsigned long count) {
    ssize_t n = read(fd, buffer, count);
    return n < 0 ? -errno : n;
}

long ballast_write(int fd, const void *buffer, unsigned long count) {
    ssize_t n = send(fd, buffer, count, MSG_NOSIGNAL);
    return n < 0 ? -errno : n;
}

long ballast_write2(int fd, const void *first, unsigned long firstCount, const void *second, unsigned long secondCount) {
    struct iovec parts[2] = {{(void *)first, firstCount}, {(void *)second, secondCount}};
    struct msghdr message = {0};
    message.msg_iov = parts;
    message.msg_iovlen = secondCount > 0 ? 2 : 1;
    ssize_t n = sendmsg(fd, &message, MSG_NOSIGNAL);
    return n < 0 ? -errno : n;
}

long ballast_peek(int fd) {
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

int ballast_shutdown_write(int fd) {
    return shutdown(fd, SHUT_WR) == 0 ? 0 : -errno;
}

int ballast_epoll_add(int epfd, int fd, uint32_t events, uint64_t tag) {
    struct epoll_event event = {.events = events, .data.u64 = tag};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : -errno;
}

int ballast_epoll_modify(int epfd, int fd, uint32_t events, uint64_t tag) {
    struct epoll_event event = {.events = events, .data.u64 = tag};
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &event) == 0 ? 0 : -errno;
}

int ballast_epoll_delete(int epfd, int fd) {
    struct epoll_event event = {0};
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event) == 0 ? 0 : -errno;
}

uint64_t ballast_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

int ballast_raise_file_limit(uint64_t *soft, uint64_t *hard) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -errno;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
        getrlimit(RLIMIT_NOFILE, &limit);
    }
    *soft = limit.rlim_cur;
    *hard = limit.rlim_max;
    return 0;
}

typedef struct {
    void (*body)(void *);
    void *context;
    char name[16];
} ballast_thread_start;

static void *ballast_thread_main(void *argument) {
    ballast_thread_start start = *(ballast_thread_start *)argument;
    free(argument);
    pthread_setname_np(pthread_self(), start.name);
    start.body(start.context);
    return NULL;
}

int ballast_start_thread(void (*body)(void *), void *context, const char *name) {
    ballast_thread_start *start = malloc(sizeof(*start));
    if (start == NULL) return -ENOMEM;
    start->body = body;
    start->context = context;
    strncpy(start->name, name, sizeof(start->name) - 1);
    start->name[sizeof(start->name) - 1] = 0;
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    int error = pthread_create(&thread, &attributes, ballast_thread_main, start);
    pthread_attr_destroy(&attributes);
    if (error != 0) {
        free(start);
        return -error;
    }
    return 0;
}

_Static_assert(SCHED_BATCH == ballast_policy_batch && SCHED_OTHER == ballast_policy_other, "policy numbers");

int ballast_schedule_as_batch(void) {
    struct sched_param parameters = {0};
    return sched_setscheduler(0, SCHED_BATCH, &parameters) == 0 ? 0 : -errno;
}

void ballast_name_thread(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = 0;
    pthread_setname_np(pthread_self(), truncated);
}

int ballast_scheduling_policy(void) {
    int policy = sched_getscheduler(0);
    return policy >= 0 ? policy : -errno;
}

int ballast_trim_memory(void) { return malloc_trim(0); }
