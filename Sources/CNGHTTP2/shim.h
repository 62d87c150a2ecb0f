// nghttp2 from Debian's libnghttp2-dev, for HTTP/2 on the engine.
#include <nghttp2/nghttp2.h>
