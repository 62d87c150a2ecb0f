// TLS for Ballast's engine: one small interface over swift-nio-ssl's BoringSSL (or OpenSSL 3
// when built with BALLAST_TLS_LIBRARY=openssl), reading and writing a non-blocking socket
// through a BIO of Ballast's own, as HAProxy does. Swift sees opaque handles and plain
// integers only. docs/decisions/0003-data-plane-engine.md says why.
#ifndef BALLAST_TLS_H
#define BALLAST_TLS_H

#include <stddef.h>
#include <stdint.h>

/// The certificates, SNI choice, ALPN and ticket keys of one terminating relay.
typedef struct ballast_tls_server ballast_tls_server;
/// What a relay needs to speak TLS to its servers: trust, verification and the protocol offered.
typedef struct ballast_tls_client ballast_tls_client;
/// One TLS connection over one socket.
typedef struct ballast_tls_conn ballast_tls_conn;
/// The last session a server gave, kept for the next connection to it (resumption).
typedef struct ballast_tls_session_slot ballast_tls_session_slot;

/// Results other than a byte count.
enum {
    /// The socket has no more bytes now (read), or no room (write): wait for epoll.
    BALLAST_TLS_WANT_READ = -1,
    BALLAST_TLS_WANT_WRITE = -2,
    /// A protocol or system error; `ballast_tls_conn_error` describes it.
    BALLAST_TLS_FAILED = -3,
};

/// A server context with nothing loaded; NULL with `error` filled when the TLS library cannot make one.
ballast_tls_server *ballast_tls_server_new(char *error, size_t error_size);
/// Adds a certificate chain and key from PEM files; the first added is the default. 0, or -1
/// with `error` filled.
int ballast_tls_server_add(ballast_tls_server *server, const char *chain_file, const char *key_file, char *error,
                           size_t error_size);
/// Sets the protocols offered by ALPN, in the server's order of preference, as a wire-format list.
void ballast_tls_server_set_alpn(ballast_tls_server *server, const uint8_t *protocols, size_t size);
/// Sets how long a ticket key encrypts new tickets; a key decrypts for two more periods.
void ballast_tls_server_set_ticket_period(ballast_tls_server *server, uint64_t seconds);
/// Makes a new ticket key current now, keeping the previous two for decryption.
void ballast_tls_server_rotate_ticket_keys(ballast_tls_server *server);
void ballast_tls_server_free(ballast_tls_server *server);

/// A client context: `verify` checks the chain against `ca_file` (the system's store when NULL).
ballast_tls_client *ballast_tls_client_new(int verify, const char *ca_file, char *error, size_t error_size);
void ballast_tls_client_free(ballast_tls_client *client);

ballast_tls_session_slot *ballast_tls_session_slot_new(void);
void ballast_tls_session_slot_free(ballast_tls_session_slot *slot);
/// Whether the slot holds a session.
int ballast_tls_session_slot_filled(const ballast_tls_session_slot *slot);

/// A server-side connection on `fd`; the handshake runs on the first read or write.
ballast_tls_conn *ballast_tls_accept(ballast_tls_server *server, int fd);
/// A client-side connection on `fd` asking for `server_name` (SNI and the name verified, when
/// not NULL), resuming from `slot` and refilling it with the sessions the server sends.
ballast_tls_conn *ballast_tls_connect(ballast_tls_client *client, int fd, const char *server_name,
                                      ballast_tls_session_slot *slot);
void ballast_tls_conn_free(ballast_tls_conn *conn);

/// Reads decrypted bytes: a count > 0, 0 at the end of the stream, or a BALLAST_TLS_ result.
/// `drained` is set when neither the TLS library nor the socket holds more now.
long ballast_tls_read(ballast_tls_conn *conn, void *buffer, size_t count, int *drained);
/// Encrypts and writes up to `first_count + second_count` bytes of the two ranges (head and
/// body); returns how many were taken, or a BALLAST_TLS_ result. Retry with the same bytes.
long ballast_tls_write2(ballast_tls_conn *conn, const void *first, size_t first_count, const void *second,
                        size_t second_count);
/// Sends close_notify without waiting for the peer's; 1 when sent.
int ballast_tls_shutdown(ballast_tls_conn *conn);
/// Whether the handshake finished.
int ballast_tls_handshake_done(const ballast_tls_conn *conn);
/// Whether this connection resumed an earlier session.
int ballast_tls_resumed(const ballast_tls_conn *conn);
/// The protocol ALPN chose, or NULL; `size` receives its length.
const uint8_t *ballast_tls_alpn(const ballast_tls_conn *conn, unsigned *size);
/// The name the client asked for by SNI, or NULL.
const char *ballast_tls_server_name(const ballast_tls_conn *conn);
/// The negotiated version: 0x0303 for TLS 1.2, 0x0304 for 1.3, 0 before the handshake.
int ballast_tls_version(const ballast_tls_conn *conn);
/// What went wrong after BALLAST_TLS_FAILED, for logs and the operator; valid on the calling
/// thread until its next failure.
const char *ballast_tls_conn_error(const ballast_tls_conn *conn);

#endif
