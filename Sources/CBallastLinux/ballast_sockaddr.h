// Conversions between ballast_address and the kernel's socket addresses, shared by the C
// files of this target (not part of its Swift interface).
#ifndef BALLAST_SOCKADDR_H
#define BALLAST_SOCKADDR_H

#include "ballast_linux.h"
#include <sys/socket.h>

socklen_t ballast_to_sockaddr(const ballast_address *address, struct sockaddr_storage *storage);
void ballast_from_sockaddr(const struct sockaddr_storage *storage, ballast_address *address);

#endif
