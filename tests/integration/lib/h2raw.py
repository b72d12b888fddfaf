#!/usr/bin/python3
"""Raw HTTP/2 frames against an h2c listener, for http2-attacks.test.mjs.

    /usr/bin/python3 h2raw.py PORT ATTACK [ARG]

Builds the frames by hand (so that it can send what a well-behaved client
library refuses to) and encodes header blocks with the hpack module of
Debian's python3-h2 stack (python3-hpack comes with python3-h2). Sends the
attack, reads what the server answers until it closes the connection, a
GOAWAY arrives or a few seconds pass, and, when the connection is still
open, asks GET /api/version on it once more. Prints one JSON object:

    {"goaway": {"code": N, "last": ID} or null, "resets": {"ID": CODE},
     "status": {"ID": STATUS}, "closed": bool, "followup": STATUS or null}

"closed": the server closed the connection (after a GOAWAY, within 3 s).

Attacks: rapid-reset, continuation, ping, settings, empty-data, hpack-size,
big-headers, uppercase, conn-header NAME[:VALUE], cl-short, cl-long.
Uses /usr/bin/python3 (Debian's, which has python3-h2), not another python3.
"""
import json
import socket
import struct
import sys
import time

import hpack

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
MAX_FRAME = 16384


def frame(kind, flags, sid, payload=b''):
    return struct.pack('>I', len(payload))[1:] + bytes([kind, flags]) + struct.pack('>I', sid) + payload


def request_fields(method='GET', path='/api/version', extra=()):
    return [(':method', method), (':scheme', 'http'), (':path', path), (':authority', 'localhost')] + list(extra)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.inbuf = b''
        self.goaway = None
        self.resets = {}
        self.status = {}
        self.ended = set()
        self.closed = False
        self.block = None  # a response header block arriving over CONTINUATION
        self.send(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        if self.closed:
            return
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def encode(self, fields):
        return self.enc.encode(fields)

    def headers(self, sid, fields, end_stream=True):
        self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid, self.encode(fields)))

    def handle(self, kind, flags, sid, payload):
        if kind == SETTINGS and not flags & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        elif kind == GOAWAY:
            last, code = struct.unpack('>II', payload[:8])
            self.goaway = {'code': code, 'last': last & 0x7FFFFFFF}
        elif kind == RST_STREAM:
            self.resets[sid] = struct.unpack('>I', payload[:4])[0]
        elif kind in (HEADERS, CONTINUATION):
            if kind == HEADERS:
                pad = payload[0] if flags & 0x8 else 0
                start = (1 if flags & 0x8 else 0) + (5 if flags & 0x20 else 0)
                self.block = payload[start:len(payload) - pad]
                if flags & END_STREAM:
                    self.ended.add(sid)
            else:
                self.block += payload
            if flags & END_HEADERS:
                for name, value in self.dec.decode(self.block):
                    if name == ':status':
                        self.status.setdefault(sid, int(value))
                self.block = None
        elif kind == DATA:
            if flags & END_STREAM:
                self.ended.add(sid)
            if payload:  # keep the windows open
                inc = struct.pack('>I', len(payload))
                self.send(frame(WINDOW_UPDATE, 0, 0, inc) + frame(WINDOW_UPDATE, 0, sid, inc))

    def read_until(self, done, seconds=5.0):
        """Reads frames until done() is true, the peer closes, or seconds pass."""
        deadline = time.monotonic() + seconds
        while not done() and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            except OSError:
                self.closed = True
                return
            if not data:
                self.closed = True
                return
            self.inbuf += data
            while len(self.inbuf) >= 9:
                length = int.from_bytes(self.inbuf[:3], 'big')
                if len(self.inbuf) < 9 + length:
                    break
                kind, flags = self.inbuf[3], self.inbuf[4]
                sid = struct.unpack('>I', self.inbuf[5:9])[0] & 0x7FFFFFFF
                payload = self.inbuf[9:9 + length]
                self.inbuf = self.inbuf[9 + length:]
                self.handle(kind, flags, sid, payload)

    def answered(self, sid):
        return lambda: sid in self.resets or sid in self.ended or self.goaway is not None

    def followup(self, sid):
        """GET /api/version on stream sid of this connection, when it is still open."""
        if self.goaway is not None or self.closed:
            return None
        self.headers(sid, request_fields())
        self.read_until(self.answered(sid))
        return self.status.get(sid)

    def report(self, followup):
        return {'goaway': self.goaway, 'resets': {str(k): v for k, v in self.resets.items()},
                'status': {str(k): v for k, v in self.status.items()}, 'closed': self.closed, 'followup': followup}


def until_goaway(c, seconds=5.0):
    c.read_until(lambda: c.goaway is not None, seconds)


def attack(c, name, arg):
    """Sends the attack; returns the stream id the follow-up request may use."""
    if name == 'rapid-reset':  # CVE-2023-44487: HEADERS then RST_STREAM, again and again
        out = b''
        for i in range(400):
            sid = 1 + 2 * i
            out += frame(HEADERS, END_HEADERS | END_STREAM, sid, c.encode(request_fields()))
            out += frame(RST_STREAM, 0, sid, struct.pack('>I', 0x8))  # CANCEL
        c.send(out)
        until_goaway(c)
        return 801
    if name == 'continuation':  # CVE-2024-27316: a header block that never ends
        c.send(frame(HEADERS, END_STREAM, 1, c.encode(request_fields())))
        # ten at a time, reading between: a server that has closed would
        # otherwise answer our next write with a reset that loses its GOAWAY
        for i in range(0, 200, 10):
            c.send(b''.join(frame(CONTINUATION, 0, 1, c.encode([('x-pad-%d' % j, 'v' * 20)])) for j in range(i, i + 10)))
            c.read_until(lambda: c.goaway is not None, 0.2)
            if c.goaway is not None or c.closed:
                break
        until_goaway(c)
        return 3
    if name == 'ping':
        c.send(b''.join(frame(PING, 0, 0, struct.pack('>Q', i)) for i in range(500)))
        until_goaway(c)
        return 1
    if name == 'settings':
        c.send(b''.join(frame(SETTINGS, 0, 0) for _ in range(200)))
        until_goaway(c)
        return 1
    if name == 'empty-data':  # a request body of empty DATA frames without END_STREAM
        c.headers(1, request_fields('POST', '/api/generate', [('content-type', 'application/json')]), end_stream=False)
        c.send(b''.join(frame(DATA, 0, 1) for _ in range(500)))
        until_goaway(c)
        return 3
    if name == 'hpack-size':  # a dynamic table size update to 65536, past the 4096 we allow
        update = b'\x3f\xe1\xff\x03'
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, update + c.encode(request_fields('GET', '/api/tags'))))
        until_goaway(c)
        return 3
    if name == 'big-headers':  # a header list past max_header_size (16k), over HEADERS and CONTINUATION
        block = c.encode(request_fields('GET', '/api/tags') + [hpack.NeverIndexedHeaderTuple('x-big', 'a' * 20000)])
        first, rest = block[:MAX_FRAME], block[MAX_FRAME:]
        c.send(frame(HEADERS, END_STREAM, 1, first) + frame(CONTINUATION, END_HEADERS, 1, rest))
        c.read_until(c.answered(1))
        return 3
    if name == 'uppercase':
        c.headers(1, request_fields('GET', '/api/tags', [('X-Upper', '1')]))
        c.read_until(c.answered(1))
        return 3
    if name == 'conn-header':
        hname, _, value = arg.partition(':')
        c.headers(1, request_fields('GET', '/api/tags', [(hname, value or 'x')]))
        c.read_until(c.answered(1))
        return 3
    if name in ('cl-short', 'cl-long'):  # content-length and the DATA disagree
        announced, sent = (100, 10) if name == 'cl-short' else (5, 40)
        c.headers(1, request_fields('POST', '/api/generate', [('content-type', 'application/json'), ('content-length', str(announced))]),
                  end_stream=False)
        c.send(frame(DATA, END_STREAM, 1, b'{' + b' ' * (sent - 2) + b'}'))
        c.read_until(c.answered(1))
        return 3
    raise SystemExit('h2raw: unknown attack %r' % name)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    port, name, arg = int(sys.argv[1]), sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else '')
    c = Conn(port)
    c.read_until(lambda: False, 0.2)  # the server's SETTINGS
    nxt = attack(c, name, arg)
    follow = c.followup(nxt)
    if c.goaway is not None:  # a connection error: the server is to close the connection after its GOAWAY
        c.read_until(lambda: False, 3.0)
    print(json.dumps(c.report(follow)))


if __name__ == '__main__':
    main()
