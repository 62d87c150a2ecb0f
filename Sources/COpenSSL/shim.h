// OpenSSL 3 from Debian's libssl-dev, for CBallastTLS.
#include <openssl/ssl.h>
