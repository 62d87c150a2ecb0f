// TLS for Ballast's engine over the BoringSSL that swift-nio-ssl vendors, or over OpenSSL 3
// when built with BALLAST_OPENSSL (bench/http.sh measures the two). See include/ballast_tls.h.
#define _GNU_SOURCE
#include "ballast_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef BALLAST_OPENSSL
#include "CNIOBoringSSL_err.h"
#include "CNIOBoringSSL_evp.h"
#include "CNIOBoringSSL_hmac.h"
#include "CNIOBoringSSL_rand.h"
#include "CNIOBoringSSL_ssl.h"
#include "CNIOBoringSSL_x509.h"
#else
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

// MARK: The socket BIO

struct ballast_tls_conn {
    SSL *ssl;
    int fd;
    /// The last read from the socket returned fewer bytes than asked, or none: drained then.
    int short_read;
    /// The peer closed its side of the socket.
    int eof;
    /// errno of the last failed system call.
    int sys_errno;
    ballast_tls_session_slot *slot;
#ifndef BALLAST_OPENSSL
    /// BoringSSL has no read-ahead: it asks for a record's 5-byte header, then its body. This
    /// buffer turns those into one system call per socket drain; it is freed once drained.
    uint8_t *ahead;
    size_t ahead_start;
    size_t ahead_end;
#endif
};

#ifndef BALLAST_OPENSSL
enum { ahead_capacity = 16384 + 325 };
#endif

/// The last failure on this thread: read right after the call that failed (the engine's
/// loops are threads), so an idle connection carries no message buffer.
static __thread char last_error[200];

struct ballast_tls_session_slot {
    SSL_SESSION *session;
};

static BIO_METHOD *socket_method;
static pthread_once_t socket_method_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *bio, const char *data, int size) {
    ballast_tls_conn *conn = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    for (;;) {
        ssize_t written = send(conn->fd, data, (size_t)size, MSG_NOSIGNAL);
        if (written >= 0) return (int)written;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            BIO_set_retry_write(bio);
        } else {
            conn->sys_errno = errno;
        }
        return -1;
    }
}

static int bio_read(BIO *bio, char *data, int size) {
    ballast_tls_conn *conn = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
#ifndef BALLAST_OPENSSL
    if (conn->ahead != NULL && conn->ahead_start < conn->ahead_end) {
        size_t count = conn->ahead_end - conn->ahead_start;
        if (count > (size_t)size) count = (size_t)size;
        memcpy(data, conn->ahead + conn->ahead_start, count);
        conn->ahead_start += count;
        return (int)count;
    }
    if ((size_t)size < ahead_capacity) {
        if (conn->ahead == NULL && (conn->ahead = malloc(ahead_capacity)) == NULL) return -1;
        for (;;) {
            ssize_t count = read(conn->fd, conn->ahead, ahead_capacity);
            if (count > 0) {
                conn->short_read = (size_t)count < ahead_capacity;
                size_t taken = (size_t)count < (size_t)size ? (size_t)count : (size_t)size;
                memcpy(data, conn->ahead, taken);
                conn->ahead_start = taken;
                conn->ahead_end = (size_t)count;
                return (int)taken;
            }
            free(conn->ahead);
            conn->ahead = NULL;
            conn->ahead_start = conn->ahead_end = 0;
            if (count < 0 && errno == EINTR) continue;
            conn->short_read = 1;
            if (count == 0) {
                conn->eof = 1;
                return 0;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                BIO_set_retry_read(bio);
            } else {
                conn->sys_errno = errno;
            }
            return -1;
        }
    }
#endif
    for (;;) {
        ssize_t count = read(conn->fd, data, (size_t)size);
        if (count > 0) {
            conn->short_read = count < size;
            return (int)count;
        }
        if (count == 0) {
            conn->short_read = 1;
            conn->eof = 1;
            return 0;
        }
        if (errno == EINTR) continue;
        conn->short_read = 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            BIO_set_retry_read(bio);
        } else {
            conn->sys_errno = errno;
        }
        return -1;
    }
}

static long bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number;
    (void)pointer;
    ballast_tls_conn *conn = BIO_get_data(bio);
    switch (command) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return conn != NULL && conn->eof;
    default:
        return 0;
    }
}

static int bio_create(BIO *bio) {
    BIO_set_init(bio, 1);
    return 1;
}

static void make_socket_method(void) {
    socket_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ballast socket");
    BIO_meth_set_write(socket_method, bio_write);
    BIO_meth_set_read(socket_method, bio_read);
    BIO_meth_set_ctrl(socket_method, bio_ctrl);
    BIO_meth_set_create(socket_method, bio_create);
}

static void fill_error_advising(char *error, size_t size, const char *what, const char *advice) {
    if (error == NULL || size == 0) return;
    unsigned long code = ERR_peek_last_error();
    if (code != 0) {
        char reason[160];
        ERR_error_string_n(code, reason, sizeof reason);
        snprintf(error, size, "%s: %s%s", what, reason, advice);
    } else {
        snprintf(error, size, "%s%s", what, advice);
    }
    ERR_clear_error();
}

static void fill_error(char *error, size_t size, const char *what) { fill_error_advising(error, size, what, ""); }

/// Common settings: TLS 1.2 and 1.3, no renegotiation or compression, buffers released when
/// idle, partial writes with a buffer that may move between retries.
static void configure_common(SSL_CTX *ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
#ifndef BALLAST_OPENSSL
    // BoringSSL never renegotiates unless asked, and reports an EOF without close_notify as
    // SSL_ERROR_SYSCALL, which failure() reads as an end.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
#else
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
#endif
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
}

// MARK: Servers

typedef struct {
    uint8_t name[16];
    uint8_t aes[32];
    uint8_t hmac[32];
} ticket_key;

struct ballast_tls_server {
    SSL_CTX **contexts;
    size_t count;
    uint8_t *alpn;
    size_t alpn_size;
    pthread_mutex_t keys_lock;
    /// keys[0] encrypts; all decrypt.
    ticket_key keys[3];
    size_t key_count;
    uint64_t key_made_at;
    uint64_t ticket_period;
};

static uint64_t monotonic_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec;
}

/// Called with keys_lock held.
static void rotate_locked(ballast_tls_server *server) {
    memmove(&server->keys[1], &server->keys[0], sizeof(ticket_key) * 2);
    ticket_key *key = &server->keys[0];
    if (RAND_bytes(key->name, sizeof key->name) != 1 || RAND_bytes(key->aes, sizeof key->aes) != 1 ||
        RAND_bytes(key->hmac, sizeof key->hmac) != 1) {
        abort();  // no randomness: nothing safe to encrypt tickets with
    }
    if (server->key_count < 3) server->key_count += 1;
    server->key_made_at = monotonic_seconds();
}

/// Rotates once for every period that passed since the current key was made, so that a key
/// never decrypts for longer than three periods however long no handshake came. keys_lock held.
static void advance_locked(ballast_tls_server *server) {
    uint64_t now = monotonic_seconds();
    uint64_t periods = (now - server->key_made_at) / server->ticket_period;
    if (periods == 0) return;
    if (periods >= 3) {
        server->key_count = 0;
        rotate_locked(server);
        return;
    }
    for (uint64_t index = 0; index < periods; index++) rotate_locked(server);
}

#ifndef BALLAST_OPENSSL
typedef HMAC_CTX ticket_mac;
static int set_ticket_mac(HMAC_CTX *mac, uint8_t *key) { return HMAC_Init_ex(mac, key, 32, EVP_sha256(), NULL); }
#else
typedef EVP_MAC_CTX ticket_mac;
static int set_ticket_mac(EVP_MAC_CTX *mac, uint8_t *key) {
    static char digest[] = "SHA256";
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(mac, params);
}
#endif

static int ticket_callback(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cipher,
                           ticket_mac *mac, int encrypt) {
    ballast_tls_server *server = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (server == NULL) return -1;
    pthread_mutex_lock(&server->keys_lock);
    int result;
    advance_locked(server);
    if (encrypt) {
        ticket_key *key = &server->keys[0];
        if (RAND_bytes(iv, 16) != 1) {
            result = -1;
        } else {
            memcpy(name, key->name, 16);
            result = EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key->aes, iv) == 1 &&
                             set_ticket_mac(mac, key->hmac) == 1
                         ? 1
                         : -1;
        }
    } else {
        result = 0;  // an unknown key: a full handshake
        for (size_t index = 0; index < server->key_count; index++) {
            ticket_key *key = &server->keys[index];
            if (memcmp(name, key->name, 16) != 0) continue;
            if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1 ||
                set_ticket_mac(mac, key->hmac) != 1) {
                result = -1;
            } else {
                // 2: accepted, and a new ticket follows. TLS 1.3 clients use a ticket once
                // (RFC 8446 C.4), so they always get a new one; TLS 1.2 ones when the key aged.
                result = (SSL_version(ssl) == TLS1_3_VERSION || index != 0) ? 2 : 1;
            }
            break;
        }
    }
    pthread_mutex_unlock(&server->keys_lock);
    return result;
}

/// The index (in the order added) of the certificate a client asking for `name` (SNI) gets: one
/// naming it exactly, then one whose `*.` wildcard covers it, else 0, the default.
static size_t choose_certificate(ballast_tls_server *server, const char *name) {
    if (name == NULL || server->count < 2) return 0;
    size_t length = strlen(name);
    unsigned int passes[2] = {X509_CHECK_FLAG_NO_WILDCARDS, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS};
    for (int pass = 0; pass < 2; pass++) {
        for (size_t index = 0; index < server->count; index++) {
            X509 *leaf = SSL_CTX_get0_certificate(server->contexts[index]);
            if (leaf != NULL && X509_check_host(leaf, name, length, passes[pass], NULL) == 1) return index;
        }
    }
    return 0;
}

/// Picks the certificate for the name the client sent: a certificate naming it exactly
/// first, then one whose wildcard covers it, else the default.
static int server_name_callback(SSL *ssl, int *alert, void *argument) {
    (void)alert;
    ballast_tls_server *server = argument;
    size_t index = choose_certificate(server, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
    if (index != 0) SSL_set_SSL_CTX(ssl, server->contexts[index]);
    return SSL_TLSEXT_ERR_OK;
}

static int alpn_callback(SSL *ssl, const unsigned char **out, unsigned char *out_size, const unsigned char *offered,
                         unsigned int offered_size, void *argument) {
    (void)ssl;
    ballast_tls_server *server = argument;
    if (server->alpn == NULL) return SSL_TLSEXT_ERR_NOACK;
    unsigned char *chosen = NULL;
    if (SSL_select_next_proto(&chosen, out_size, server->alpn, (unsigned int)server->alpn_size, offered,
                              offered_size) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;  // go on without ALPN, as HAProxy and nginx do
    }
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

ballast_tls_server *ballast_tls_server_new(char *error, size_t error_size) {
    pthread_once(&socket_method_once, make_socket_method);
    ballast_tls_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&server->keys_lock, NULL);
    server->ticket_period = 3600;
    rotate_locked(server);
    return server;
}

int ballast_tls_server_add(ballast_tls_server *server, const char *chain_file, const char *key_file, char *error,
                           size_t error_size) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        fill_error(error, error_size, "cannot make a TLS context");
        return -1;
    }
    configure_common(ctx);
    if (SSL_CTX_use_certificate_chain_file(ctx, chain_file) != 1) {
        char what[512];
        snprintf(what, sizeof what, "cannot load the certificate chain %s", chain_file);
        fill_error_advising(error, error_size, what, "; give a PEM file readable by Ballast, leaf first");
        SSL_CTX_free(ctx);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        char what[1100];
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            snprintf(what, sizeof what, "the key %s does not match the certificate %s", key_file, chain_file);
            fill_error_advising(error, error_size, what, "; give the key the certificate was issued for");
        } else {
            snprintf(what, sizeof what, "cannot load the private key %s", key_file);
            fill_error_advising(error, error_size, what, "; give a PEM file readable by Ballast");
        }
        SSL_CTX_free(ctx);
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        char what[1100];
        snprintf(what, sizeof what, "the key %s does not match the certificate %s", key_file, chain_file);
        fill_error_advising(error, error_size, what, "; give the key the certificate was issued for");
        SSL_CTX_free(ctx);
        return -1;
    }
    // Tickets carry the sessions; no server-side cache to share between threads.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"ballast", 7);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_timeout(ctx, (long)(server->ticket_period * 2));
    SSL_CTX_set_app_data(ctx, server);
#ifndef BALLAST_OPENSSL
    SSL_CTX_set_tlsext_ticket_key_cb(ctx, ticket_callback);
#else
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback);
#endif
    SSL_CTX_set_tlsext_servername_callback(ctx, server_name_callback);
    SSL_CTX_set_tlsext_servername_arg(ctx, server);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_callback, server);
    SSL_CTX **grown = realloc(server->contexts, sizeof(SSL_CTX *) * (server->count + 1));
    if (grown == NULL) {
        snprintf(error, error_size, "out of memory");
        SSL_CTX_free(ctx);
        return -1;
    }
    server->contexts = grown;
    server->contexts[server->count++] = ctx;
    return 0;
}

void ballast_tls_server_set_alpn(ballast_tls_server *server, const uint8_t *protocols, size_t size) {
    free(server->alpn);
    server->alpn = NULL;
    server->alpn_size = 0;
    if (size == 0) return;
    server->alpn = malloc(size);
    if (server->alpn == NULL) return;
    memcpy(server->alpn, protocols, size);
    server->alpn_size = size;
}

void ballast_tls_server_set_ticket_period(ballast_tls_server *server, uint64_t seconds) {
    pthread_mutex_lock(&server->keys_lock);
    server->ticket_period = seconds == 0 ? 1 : seconds;
    pthread_mutex_unlock(&server->keys_lock);
    for (size_t index = 0; index < server->count; index++) {
        SSL_CTX_set_timeout(server->contexts[index], (long)(server->ticket_period * 2));
    }
}

void ballast_tls_server_rotate_ticket_keys(ballast_tls_server *server) {
    pthread_mutex_lock(&server->keys_lock);
    rotate_locked(server);
    pthread_mutex_unlock(&server->keys_lock);
}

void ballast_tls_server_free(ballast_tls_server *server) {
    if (server == NULL) return;
    for (size_t index = 0; index < server->count; index++) SSL_CTX_free(server->contexts[index]);
    free(server->contexts);
    free(server->alpn);
    OPENSSL_cleanse(server->keys, sizeof server->keys);
    pthread_mutex_destroy(&server->keys_lock);
    free(server);
}

// MARK: Clients

struct ballast_tls_client {
    SSL_CTX *ctx;
    int verify;
};

static int new_session_callback(SSL *ssl, SSL_SESSION *session) {
    ballast_tls_conn *conn = SSL_get_app_data(ssl);
    if (conn == NULL || conn->slot == NULL) return 0;
#ifndef BALLAST_OPENSSL
    // BoringSSL's sessions are immutable: the slot keeps this one (returning 1 takes it).
    if (conn->slot->session != NULL) SSL_SESSION_free(conn->slot->session);
    conn->slot->session = session;
    return 1;
#else
    // A copy: OpenSSL marks a connection's own session unresumable when the connection ends
    // without close_notify (a server that closed first), which must not spoil the slot.
    SSL_SESSION *copy = SSL_SESSION_dup(session);
    if (copy == NULL) return 0;
    if (conn->slot->session != NULL) SSL_SESSION_free(conn->slot->session);
    conn->slot->session = copy;
    return 0;
#endif
}

ballast_tls_client *ballast_tls_client_new(int verify, const char *ca_file, char *error, size_t error_size) {
    pthread_once(&socket_method_once, make_socket_method);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        fill_error(error, error_size, "cannot make a TLS context");
        return NULL;
    }
    configure_common(ctx);
    if (verify) {
        int loaded = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                                     : SSL_CTX_set_default_verify_paths(ctx);
        if (loaded != 1) {
            char what[512];
            snprintf(what, sizeof what, "cannot load the trusted certificates %s",
                     ca_file != NULL ? ca_file : "of the system");
            fill_error(error, error_size, what);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_callback);
    ballast_tls_client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        snprintf(error, error_size, "out of memory");
        SSL_CTX_free(ctx);
        return NULL;
    }
    client->ctx = ctx;
    client->verify = verify;
    return client;
}

void ballast_tls_client_free(ballast_tls_client *client) {
    if (client == NULL) return;
    SSL_CTX_free(client->ctx);
    free(client);
}

ballast_tls_session_slot *ballast_tls_session_slot_new(void) { return calloc(1, sizeof(ballast_tls_session_slot)); }

void ballast_tls_session_slot_free(ballast_tls_session_slot *slot) {
    if (slot == NULL) return;
    if (slot->session != NULL) SSL_SESSION_free(slot->session);
    free(slot);
}

int ballast_tls_session_slot_filled(const ballast_tls_session_slot *slot) { return slot->session != NULL; }

// MARK: Connections

static ballast_tls_conn *make_conn(SSL_CTX *ctx, int fd) {
    ballast_tls_conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) return NULL;
    conn->fd = fd;
    conn->ssl = SSL_new(ctx);
    BIO *bio = BIO_new(socket_method);
    if (conn->ssl == NULL || bio == NULL) {
        if (bio != NULL) BIO_free(bio);
        if (conn->ssl != NULL) SSL_free(conn->ssl);
        free(conn);
        return NULL;
    }
    BIO_set_data(bio, conn);
    SSL_set_bio(conn->ssl, bio, bio);
    SSL_set_app_data(conn->ssl, conn);
    return conn;
}

ballast_tls_conn *ballast_tls_accept(ballast_tls_server *server, int fd) {
    if (server->count == 0) return NULL;
    ballast_tls_conn *conn = make_conn(server->contexts[0], fd);
    if (conn != NULL) SSL_set_accept_state(conn->ssl);
    return conn;
}

ballast_tls_conn *ballast_tls_connect(ballast_tls_client *client, int fd, const char *server_name,
                                      ballast_tls_session_slot *slot) {
    ballast_tls_conn *conn = make_conn(client->ctx, fd);
    if (conn == NULL) return NULL;
    conn->slot = slot;
    if (server_name != NULL && server_name[0] != 0) {
        unsigned char address[16];
        int literal = inet_pton(AF_INET, server_name, address) == 1 || inet_pton(AF_INET6, server_name, address) == 1;
        if (!literal) SSL_set_tlsext_host_name(conn->ssl, server_name);  // SNI carries names only
        if (client->verify) {
            X509_VERIFY_PARAM *param = SSL_get0_param(conn->ssl);
            if (literal) {
                X509_VERIFY_PARAM_set1_ip_asc(param, server_name);
            } else {
                X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                X509_VERIFY_PARAM_set1_host(param, server_name, strlen(server_name));  // BoringSSL refuses 0
            }
        }
    }
    if (slot != NULL && slot->session != NULL) SSL_set_session(conn->ssl, slot->session);
    SSL_set_connect_state(conn->ssl);
    return conn;
}

void ballast_tls_conn_free(ballast_tls_conn *conn) {
    if (conn == NULL) return;
#ifndef BALLAST_OPENSSL
    free(conn->ahead);
#endif
    SSL_free(conn->ssl);
    free(conn);
}

/// Turns a failed call into a result, describing a failure in the thread's `last_error`.
static long failure(ballast_tls_conn *conn, int returned) {
    int code = SSL_get_error(conn->ssl, returned);
    switch (code) {
    case SSL_ERROR_WANT_READ:
        return BALLAST_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return BALLAST_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (conn->sys_errno != 0) {
            snprintf(last_error, sizeof last_error, "%s", strerror(conn->sys_errno));
            ERR_clear_error();
        } else if (conn->eof) {
            ERR_clear_error();
            return 0;
        } else {
            fill_error(last_error, sizeof last_error, "TLS failed");
        }
        return BALLAST_TLS_FAILED;
    default: {
        long verified = SSL_get_verify_result(conn->ssl);
        if (verified != X509_V_OK) {
            snprintf(last_error, sizeof last_error, "certificate verify failed: %s",
                     X509_verify_cert_error_string(verified));
            ERR_clear_error();
        } else {
            fill_error(last_error, sizeof last_error, "TLS failed");
        }
        return BALLAST_TLS_FAILED;
    }
    }
}

long ballast_tls_read(ballast_tls_conn *conn, void *buffer, size_t count, int *drained) {
    *drained = 0;
    if (count > INT32_MAX) count = INT32_MAX;
    ERR_clear_error();
    conn->sys_errno = 0;
    int read = SSL_read(conn->ssl, buffer, (int)count);
    if (read > 0) {
        *drained = conn->short_read && !SSL_has_pending(conn->ssl);
#ifndef BALLAST_OPENSSL
        if (conn->ahead != NULL && conn->ahead_start < conn->ahead_end) {
            *drained = 0;
        } else if (*drained && conn->ahead != NULL) {
            free(conn->ahead);  // idle connections hold no read buffer
            conn->ahead = NULL;
        }
#endif
        return read;
    }
    long result = failure(conn, read);
    if (result == BALLAST_TLS_WANT_READ || result == 0) *drained = 1;
    return result;
}

long ballast_tls_write2(ballast_tls_conn *conn, const void *first, size_t first_count, const void *second,
                        size_t second_count) {
    // One record for a head and the body bytes after it: copied together, as HAProxy copies
    // both into its output buffer, rather than two records and two system calls.
    static __thread uint8_t joined[16384];
    const void *bytes;
    size_t count;
    if (first_count == 0) {
        bytes = second;
        count = second_count;
    } else if (second_count == 0 || first_count >= sizeof joined) {
        bytes = first;
        count = first_count;
    } else {
        size_t from_second = second_count < sizeof joined - first_count ? second_count : sizeof joined - first_count;
        memcpy(joined, first, first_count);
        memcpy(joined + first_count, second, from_second);
        bytes = joined;
        count = first_count + from_second;
    }
    if (count == 0) return 0;
    if (count > INT32_MAX) count = INT32_MAX;
    ERR_clear_error();
    conn->sys_errno = 0;
    int written = SSL_write(conn->ssl, bytes, (int)count);
    if (written > 0) return written;
    long result = failure(conn, written);
    return result == 0 ? BALLAST_TLS_FAILED : result;
}

int ballast_tls_shutdown(ballast_tls_conn *conn) {
    if (!SSL_is_init_finished(conn->ssl)) return 0;
    int result = SSL_shutdown(conn->ssl);
    ERR_clear_error();
    return result >= 0;
}

int ballast_tls_handshake_done(const ballast_tls_conn *conn) { return SSL_is_init_finished(conn->ssl); }

int ballast_tls_resumed(const ballast_tls_conn *conn) { return SSL_session_reused(conn->ssl); }

const uint8_t *ballast_tls_alpn(const ballast_tls_conn *conn, unsigned *size) {
    const unsigned char *chosen = NULL;
    SSL_get0_alpn_selected(conn->ssl, &chosen, size);
    return chosen;
}

const char *ballast_tls_server_name(const ballast_tls_conn *conn) {
    return SSL_get_servername(conn->ssl, TLSEXT_NAMETYPE_host_name);
}

int ballast_tls_version(const ballast_tls_conn *conn) {
    return SSL_is_init_finished(conn->ssl) ? SSL_version(conn->ssl) : 0;
}

const char *ballast_tls_conn_error(const ballast_tls_conn *conn) {
    (void)conn;
    return last_error;
}
