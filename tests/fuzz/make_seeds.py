#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the proxy and framing fuzz targets
into tests/fuzz/corpus/<name>/ (run from anywhere; existing files of the
same name are overwritten). The bytes of each seed are documented by the
target's header comment: fuzz_proxy_request.c, fuzz_proxy_response.c,
fuzz_framing.c. Several requests come from tests/integration/vectors/requests.mjs."""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

GET = b"GET /api/version HTTP/1.1\r\nHost: a\r\n\r\n"
SMUG = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
Z = b"0\r\n\r\n"


def post(headers, body=b""):
    return b"POST /api/generate HTTP/1.1\r\nHost: a\r\n" + headers + b"\r\n" + body


REQUESTS = {
    # name: (variant byte 0, variant byte 1, client bytes)
    "get": (0x00, 0x00, GET),
    "get-close": (0x10, 0x00, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
    "get-bytewise": (0x01, 0x00, GET),
    "post-cl": (0x00, 0x00, post(b"Content-Length: 5\r\n", b"hello")),
    "post-chunked": (0x08, 0x00, post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n")),
    "post-chunked-split": (0x03, 0x00, post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n")),
    "pipelined": (0x00, 0x04, GET + post(b"Content-Length: 3\r\n", b"abc") + b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n" + GET),
    "pipelined-then-bad": (0x04, 0x00, GET + b"GET /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    "cl-te": (0x00, 0x00, post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", Z + SMUG)),
    "te-cl": (0x00, 0x00, post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", Z + SMUG)),
    "double-cl": (0x00, 0x00, post(b"Content-Length: 0\r\nContent-Length: 5\r\n", Z + SMUG)),
    "te-te": (0x00, 0x00, post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n", Z + SMUG)),
    "te-obsfold": (0x00, 0x00, post(b"Transfer-Encoding:\r\n chunked\r\n", Z + SMUG)),
    "chunk-size-underscore": (0x00, 0x00, post(b"Transfer-Encoding: chunked\r\n", b"0_2e\r\n" + b"x" * 46 + b"\r\n0\r\n\r\n" + SMUG)),
    "chunk-bare-lf": (0x00, 0x00, post(b"Transfer-Encoding: chunked\r\n", b"5\nhello\r\n0\r\n\r\n" + SMUG)),
    "cl0-get-body": (0x00, 0x00, b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\n\r\n" + SMUG),
    "underscore-framing": (0x00, 0x00, post(b"Transfer_Encoding: chunked\r\nContent-Length: 5\r\n", b"hello")),
    "connection-listed": (0x00, 0x00, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-a, keep-alive\r\nX-A: 1\r\nX_A: 2\r\nKeep-Alive: 5\r\n\r\n"),
    "credentials": (0x40, 0x00, b"GET / HTTP/1.1\r\nHost: a:1\r\nAuthorization: Bearer x\r\nCookie: c=1\r\nProxy-Authorization: y\r\n\r\n"),
    "credentials-dropped": (0x00, 0x00, b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization : x\r\nCookie: c=1\r\n\r\n"),
    "mount": (0x20, 0x00, b"GET /m/api/tags HTTP/1.1\r\nHost: a\r\n\r\nGET /m HTTP/1.1\r\nHost: a\r\n\r\nGET /mx HTTP/1.1\r\nHost: a\r\n\r\n"),
    "http10": (0x00, 0x00, b"GET / HTTP/1.0\r\n\r\n" + GET),
    "expect": (0x00, 0x00, post(b"Expect: 100-continue\r\nContent-Length: 2\r\n", b"hi") + post(b"Expect: x\r\nContent-Length: 2\r\n", b"hi")),
    "websocket": (0x00, 0x00, b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\nframes"),
    "h2c": (0x00, 0x00, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    "leading-crlf": (0x00, 0x00, b"\r\n" + GET),
    "absolute-form": (0x00, 0x00, b"GET http://other/x HTTP/1.1\r\nHost: a\r\n\r\n"),
    "big-header": (0x05, 0x00, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n"),
    "stall-partial-body": (0x80, 0x03, post(b"Content-Length: 10\r\n", b"abc")),
    "stall-keepalive": (0x80, 0x03, GET),
}

RESP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
SEP = b"~~~~"

RESPONSES = {
    # name: (variant byte 0, variant byte 1, upstream segments joined by ~~~~)
    "cl": (0x00, 0x00, RESP_OK),
    "chunked-ndjson": (0x00, 0x00, CHUNKED + b'10\r\n{"response":"a"}\n\r\n10\r\n{"response":"b"}\n\r\n0\r\n\r\n'),
    "chunked-bytewise": (0x01, 0x00, CHUNKED + b"3\r\nabc\r\n1;ext=1\r\nd\r\n0\r\nTrailer: x\r\n\r\n"),
    "until-close": (0x40, 0x00, b"HTTP/1.1 200 OK\r\n\r\nstreamed until close"),
    "until-close-http10": (0x60, 0x00, b"HTTP/1.0 200 OK\r\n\r\nold"),
    "head": (0x08, 0x00, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
    "post-cl": (0x10, 0x00, RESP_OK),
    "post-chunked-early": (0x98, 0x00, RESP_OK),
    "pipelined": (0x28, 0x00, RESP_OK + SEP + CHUNKED + b"2\r\nok\r\n0\r\n\r\n"),
    "pipelined-extra": (0x28, 0x00, RESP_OK + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" + SEP + RESP_OK),
    "interim-100": (0x38, 0x00, b"HTTP/1.1 100 Continue\r\n\r\n" + RESP_OK),
    "interim-103": (0x00, 0x00, b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + RESP_OK),
    "204-cl": (0x00, 0x00, b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
    "304-chunked": (0x00, 0x00, b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "cl-te": (0x00, 0x00, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "double-cl": (0x00, 0x00, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    "gzip-chunked": (0x40, 0x00, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    "chunk-bad-size": (0x00, 0x00, CHUNKED + b"3\r\nabc\r\n0x5\r\nhello\r\n0\r\n\r\n"),
    "chunk-bare-lf": (0x00, 0x00, CHUNKED + b"3\nabc\r\n0\r\n\r\n"),
    "chunk-cut": (0x40, 0x00, CHUNKED + b"a\r\nabc"),
    "cl-cut": (0x40, 0x00, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
    "bare-lf-head": (0x00, 0x00, b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
    "obs-fold": (0x00, 0x00, b"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok"),
    "status-garbage": (0x00, 0x00, b"HTTP/1.1 20 OK\r\n\r\n"),
    "http2": (0x00, 0x00, b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    "unsolicited-101": (0x00, 0x00, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nxx"),
    "stall-idle": (0x00, 0x03, CHUNKED + b"3\r\nabc\r\n"),
    "stall-header": (0x00, 0x03, b"HTTP/1.1 200 OK\r\n"),
    "keepalive-reuse": (0x28, 0x00, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + SEP + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
}

FRAMING = {
    # name: (variant byte, chunked body bytes)
    "simple": (0x00, b"5\r\nhello\r\n0\r\n\r\n"),
    "ext-trailer": (0x01, b"5;a=b\r\nhello\r\n0\r\nX: 1\r\n\r\n"),
    "split": (0x07, b"3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n"),
    "bare-lf": (0x00, b"5\nhello\r\n0\r\n\r\n"),
    "underscore": (0x00, b"0_2e\r\n"),
    "leading-sp": (0x00, b" 5\r\nhello\r\n0\r\n\r\n"),
    "trailing-bytes": (0x00, b"0\r\n\r\nGET / HTTP/1.1\r\n"),
    "head-ok": (0x80, b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n"),
    "head-fold": (0x80, b"GET / HTTP/1.1\r\nHost: a\r\n X: 1\r\n\r\n"),
    "head-bare-lf": (0x81, b"GET / HTTP/1.1\nHost: a\r\n\r\n"),
    "head-leading-crlf": (0x80, b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
}


def write(name, files):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for fname, parts in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(bytes(parts[:-1]) + parts[-1])


write("proxy_request", REQUESTS)
write("proxy_response", RESPONSES)
write("framing", FRAMING)
