// Raw HTTP/1.1 over net sockets: an incremental response parser that keeps
// chunked-encoding chunk boundaries and arrival times, a connection wrapper,
// and a small request helper on node:http for the plain cases.
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { TLS, isTlsPort } from './tls.mjs';

// A client socket to a tollgate port: TLS in TLS mode (lib/tls.mjs), for
// ports other than the mock's. Events and writes as on a net.Socket;
// onConnect runs once the handshake is done.
export function connectSocket(port, host = '127.0.0.1', onConnect, { plain = !isTlsPort(port) } = {}) {
  if (plain) return net.connect(port, host, onConnect);
  const raw = net.connect(port, host); // kept as .raw, for tests that reset the TCP connection
  const s = tls.connect({ socket: raw, ca: TLS.ca, servername: 'localhost' }, onConnect);
  s.raw = raw;
  return s;
}

// http.request or https.request, by the port (options as node:http takes them).
export function clientRequest(opts, cb) {
  if (!isTlsPort(opts.port)) return http.request(opts, cb);
  return https.request({ ca: TLS.ca, servername: 'localhost', ...opts }, cb);
}

// A keep-alive agent for a port: an https one with the mode's CA for TLS ports.
export function clientAgent(port, opts = {}) {
  return isTlsPort(port) ? new https.Agent({ ...opts, ca: TLS.ca }) : new http.Agent(opts);
}

// ws:// or wss:// for a tollgate port.
export const wsScheme = (port) => (isTlsPort(port) ? 'wss' : 'ws');

export const now = () => process.hrtime.bigint(); // CLOCK_MONOTONIC ns on Linux

// One parsed response.
//   status, reason, version, headers (lowercased name -> value, repeated
//   headers joined by ", "), rawHeaders [[name, value]...], body (Buffer),
//   chunked (bool), chunks [{data: Buffer, t: bigint}] (each transfer-encoding
//   chunk with the time its last byte arrived), complete (bool: the framing
//   ended cleanly: Content-Length satisfied, terminal 0-chunk, or close for a
//   close-delimited body), tHead (time the head completed).
class Resp {
  constructor() {
    this.status = 0;
    this.reason = '';
    this.version = '';
    this.headers = {};
    this.rawHeaders = [];
    this.bodyParts = [];
    this.chunked = false;
    this.chunks = [];
    this.complete = false;
    this.tHead = 0n;
    this.tEnd = 0n;
    this.trailers = [];
  }
  get body() { return Buffer.concat(this.bodyParts); }
  text() { return this.body.toString('utf8'); }
  json() { return JSON.parse(this.text()); }
  lines() { return this.text().split('\n').filter((l) => l.length > 0); }
}

// Incremental parser for a sequence of responses on one connection.
export class ResponseParser {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.responses = [];    // completed (or cut short) responses
    this.cur = null;
    this.state = 'head';
    this.remaining = 0;     // bytes left of a CL body or chunk
    this.chunkParts = [];
    this.methods = [];      // queue of request methods, for HEAD
    this.error = null;
  }

  expect(method) { this.methods.push(method.toUpperCase()); }

  feed(data, t = now()) {
    if (this.error) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    try {
      this._run(t);
    } catch (err) {
      this.error = err;
    }
  }

  // The peer closed: a close-delimited body completes; anything else in
  // flight is recorded as cut short (complete=false).
  end(t = now()) {
    if (this.cur) {
      if (this.state === 'close-body') {
        this.cur.complete = true;
      }
      if (this.state === 'chunk-data' && this.chunkParts.length) {
        this.cur.partialChunk = Buffer.concat(this.chunkParts);
      }
      this.cur.tEnd = t;
      this.responses.push(this.cur);
      this.cur = null;
    }
    this.state = 'closed';
  }

  _line() {
    const i = this.buf.indexOf('\r\n');
    if (i < 0) return null;
    const line = this.buf.subarray(0, i).toString('latin1');
    this.buf = this.buf.subarray(i + 2);
    return line;
  }

  _run(t) {
    for (;;) {
      if (this.state === 'head') {
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const head = this.buf.subarray(0, i).toString('latin1');
        this.buf = this.buf.subarray(i + 4);
        const r = new Resp();
        r.tHead = t;
        const lines = head.split('\r\n');
        const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
        if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
        r.version = m[1];
        r.status = Number(m[2]);
        r.reason = m[3] || '';
        for (const l of lines.slice(1)) {
          const c = l.indexOf(':');
          if (c <= 0) throw new Error(`bad header line: ${JSON.stringify(l)}`);
          const name = l.slice(0, c).toLowerCase();
          const value = l.slice(c + 1).trim();
          r.rawHeaders.push([l.slice(0, c), value]);
          r.headers[name] = name in r.headers ? `${r.headers[name]}, ${value}` : value;
        }
        if (r.status >= 100 && r.status < 200 && r.status !== 101) {
          // informational: record and keep reading the real head
          r.complete = true;
          r.tEnd = t;
          this.responses.push(r);
          continue;
        }
        this.cur = r;
        const method = this.methods.shift() || 'GET';
        const te = (r.headers['transfer-encoding'] || '').toLowerCase();
        if (method === 'HEAD' || r.status === 204 || r.status === 304 || r.status === 101) {
          this._finish(t);
        } else if (te.split(',').map((s) => s.trim()).includes('chunked')) {
          r.chunked = true;
          this.state = 'chunk-size';
        } else if ('content-length' in r.headers) {
          this.remaining = Number(r.headers['content-length']);
          if (!Number.isSafeInteger(this.remaining)) throw new Error(`bad content-length ${r.headers['content-length']}`);
          if (this.remaining === 0) this._finish(t);
          else this.state = 'cl-body';
        } else {
          this.state = 'close-body';
        }
      } else if (this.state === 'cl-body') {
        if (!this.buf.length) return;
        const n = Math.min(this.remaining, this.buf.length);
        this.cur.bodyParts.push(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) this._finish(t);
      } else if (this.state === 'close-body') {
        if (!this.buf.length) return;
        this.cur.bodyParts.push(this.buf);
        this.buf = Buffer.alloc(0);
        return;
      } else if (this.state === 'chunk-size') {
        const line = this._line();
        if (line === null) return;
        const m = /^([0-9a-fA-F]+)(;.*)?$/.exec(line);
        if (!m) throw new Error(`bad chunk size line: ${JSON.stringify(line)}`);
        const size = parseInt(m[1], 16);
        if (size === 0) {
          this.state = 'trailers';
        } else {
          this.remaining = size;
          this.chunkParts = [];
          this.state = 'chunk-data';
        }
      } else if (this.state === 'chunk-data') {
        if (!this.buf.length) return;
        const n = Math.min(this.remaining, this.buf.length);
        this.chunkParts.push(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) {
          const data = Buffer.concat(this.chunkParts);
          this.chunkParts = [];
          this.cur.chunks.push({ data, t });
          this.cur.bodyParts.push(data);
          this.state = 'chunk-crlf';
        }
      } else if (this.state === 'chunk-crlf') {
        if (this.buf.length < 2) return;
        if (this.buf[0] !== 13 || this.buf[1] !== 10) throw new Error('missing CRLF after chunk data');
        this.buf = this.buf.subarray(2);
        this.state = 'chunk-size';
      } else if (this.state === 'trailers') {
        const line = this._line();
        if (line === null) return;
        if (line === '') this._finish(t);
        else this.cur.trailers.push(line);
      } else {
        // closed: ignore anything else
        return;
      }
    }
  }

  _finish(t) {
    this.cur.complete = true;
    this.cur.tEnd = t;
    this.responses.push(this.cur);
    this.cur = null;
    this.state = 'head';
  }
}

// A raw client connection with a response parser attached.
export class RawConn {
  static connect(port, host = '127.0.0.1', opts = {}) {
    return new Promise((resolve, reject) => {
      const s = connectSocket(port, host, undefined, opts);
      s.setNoDelay(true);
      const onErr = (e) => reject(e);
      s.once('error', onErr);
      s.once(s instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
        s.off('error', onErr);
        resolve(new RawConn(s));
      });
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.parser = new ResponseParser();
    this.data = [];           // [{buf, t}] every read
    this.closed = false;
    this.tClosed = 0n;
    this.sockError = null;
    this._waiters = [];
    this.nextResp = 0;
    sock.on('data', (d) => {
      const t = now();
      this.data.push({ buf: d, t });
      this.parser.feed(d, t);
      this._poke();
    });
    sock.on('error', (e) => { this.sockError = e; });
    sock.on('close', () => {
      this.closed = true;
      this.tClosed = now();
      this.parser.end(this.tClosed);
      this._poke();
    });
  }

  _poke() {
    const ws = this._waiters;
    this._waiters = [];
    for (const w of ws) w();
  }

  write(bytes, method) {
    if (method) this.parser.expect(method);
    return new Promise((resolve) => this.sock.write(bytes, () => resolve()));
  }

  // Send a request built from parts; returns when written.
  send({ method = 'GET', path = '/', headers = {}, body = null, version = 'HTTP/1.1' }) {
    const b = body == null ? null : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const h = { Host: '127.0.0.1', ...headers };
    if (b && !Object.keys(h).some((k) => /^(content-length|transfer-encoding)$/i.test(k))) h['Content-Length'] = String(b.length);
    let head = `${method} ${path} ${version}\r\n`;
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined || v === null) continue;
      for (const vv of Array.isArray(v) ? v : [v]) head += `${k}: ${vv}\r\n`;
    }
    head += '\r\n';
    return this.write(b ? Buffer.concat([Buffer.from(head, 'latin1'), b]) : Buffer.from(head, 'latin1'), method);
  }

  async until(cond, timeoutMs, what = 'condition') {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = cond();
      if (v) return v;
      if (this.parser.error) throw new Error(`response parse error: ${this.parser.error.message}; got ${JSON.stringify(this.allText().slice(0, 300))}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        const got = this.allText();
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${got.length} bytes: ${JSON.stringify(got.slice(0, 300))}`);
      }
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this._waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  // Next response (complete, or cut short by close). Skips 1xx unless keep1xx.
  async response(timeoutMs = 10000, { keep1xx = false } = {}) {
    for (;;) {
      await this.until(() => this.parser.responses.length > this.nextResp || (this.closed && this.parser.responses.length <= this.nextResp),
        timeoutMs, `response #${this.nextResp + 1}`);
      if (this.parser.responses.length <= this.nextResp) {
        throw new Error(`connection closed before response #${this.nextResp + 1}; got ${JSON.stringify(this.allText().slice(0, 300))}`);
      }
      const r = this.parser.responses[this.nextResp++];
      if (!keep1xx && r.status >= 100 && r.status < 200 && r.status !== 101) continue;
      return r;
    }
  }

  // Wait for the peer to close; returns true if closed within timeoutMs.
  async waitClose(timeoutMs) {
    try {
      await this.until(() => this.closed, timeoutMs, 'close');
      return true;
    } catch {
      return false;
    }
  }

  allBytes() { return Buffer.concat(this.data.map((d) => d.buf)); }
  allText() { return this.allBytes().toString('latin1'); }

  destroy() { this.sock.destroy(); }
  end() { this.sock.end(); }
}

// Connect, send raw bytes, read until the peer closes or the timeout passes.
export async function rawExchange(port, bytes, { timeoutMs = 5000, method } = {}) {
  const c = await RawConn.connect(port);
  await c.write(bytes, method);
  const closed = await c.waitClose(timeoutMs);
  c.destroy();
  return { conn: c, closed, text: c.allText(), responses: c.parser.responses, parseError: c.parser.error };
}

// Plain request through node:http with a fresh connection.
// Returns { status, headers, body: Buffer, text, json() }.
export function request(port, { method = 'GET', path = '/', headers = {}, body, timeoutMs = 15000, host = '127.0.0.1', plain = !isTlsPort(port) } = {}) {
  return new Promise((resolve, reject) => {
    const b = body == null ? null : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const opts = { host, port, method, path, headers: { ...headers }, agent: false };
    const mod = plain ? http : https;
    if (!plain) Object.assign(opts, { ca: TLS.ca, servername: 'localhost' }); // not the Host header's name
    const req = mod.request(opts, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        clearTimeout(timer);
        const buf = Buffer.concat(parts);
        const text = buf.toString('utf8');
        resolve({
          status: res.statusCode,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: buf,
          text,
          json() { return JSON.parse(text); },
        });
      });
      res.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
    const timer = setTimeout(() => { req.destroy(new Error(`request ${method} ${path} timed out after ${timeoutMs} ms`)); }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    if (b) req.end(b); else req.end();
  });
}

// Encode a body as chunked transfer encoding in pieces of `size` bytes.
export function chunkedEncode(buf, size = 65536) {
  const parts = [];
  for (let i = 0; i < buf.length; i += size) {
    const c = buf.subarray(i, i + size);
    parts.push(Buffer.from(c.length.toString(16) + '\r\n'), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
