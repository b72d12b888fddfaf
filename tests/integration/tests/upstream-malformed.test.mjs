// Malformed upstream responses: a raw Node TCP server stands in for Ollama
// and answers each request with the bytes of one case (chosen by the path
// /case/ID). What the client must see: a 502 when nothing was sent yet, a
// truncated response (closed without its end) when the head already went
// out, or, for the valid controls, the response itself. Then, on the same
// client connection when it is still open and on a fresh one, a request to
// /ok must get exactly its own answer: leftover bytes of the bad response
// must never be read as the next response (no response desync), and a
// poisoned upstream connection must never go back to the pool.
import { test } from '../lib/harness.mjs';
import { RawConn } from '../lib/http.mjs';
import { startRawUpstream } from '../lib/raw-upstream.mjs';
import { sleep } from '../lib/proc.mjs';

const CRLF = '\r\n';
const H = (status, ...fields) => `HTTP/1.1 ${status}${CRLF}${fields.map((f) => f + CRLF).join('')}${CRLF}`;
const RFC = 'RFC 9112';

// expect: '502'         the client gets tollgate's 502
//         'cut'         a 502, or the response head then a close before its end
//         'ok'          a complete response with `status` and `body`
//         'either'      a 502, or a complete response passing `check`
// after:  'keep' (default) the upstream keeps the connection open after the
//         bytes; 'close' it closes it
export const UPSTREAM_CASES = [
  { id: 'u01', name: 'Content-Length and Transfer-Encoding', bytes: H('200 OK', 'Content-Length: 5', 'Transfer-Encoding: chunked') + `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: '502',
    reason: 'TE with CL ought to be handled as an error', source: RFC + ' 6.3; PortSwigger' },
  { id: 'u02', name: 'two different Content-Lengths', bytes: H('200 OK', 'Content-Length: 5', 'Content-Length: 2') + 'hello', expect: '502',
    reason: 'differing lengths: MUST be treated as an unrecoverable error (502 for a proxy)', source: RFC + ' 6.3' },
  { id: 'u03', name: 'two identical Content-Lengths', bytes: H('200 OK', 'Content-Length: 5', 'Content-Length: 5') + 'hello', expect: 'either',
    check: (r) => (r.status === 200 && r.text() === 'hello' ? null : 'not the 5-byte body'), reason: 'identical duplicates MAY be collapsed', source: 'RFC 9110 8.6' },
  { id: 'u04', name: 'Content-Length with junk', bytes: H('200 OK', 'Content-Length: 5x') + 'hello', expect: '502', reason: 'Content-Length = 1*DIGIT', source: RFC + ' 6.3' },
  { id: 'u05', name: 'negative Content-Length', bytes: H('200 OK', 'Content-Length: -1') + 'hello', expect: '502', reason: 'Content-Length = 1*DIGIT', source: RFC + ' 6.3' },
  { id: 'u06', name: 'Content-Length overflowing 64 bits', bytes: H('200 OK', 'Content-Length: 18446744073709551621') + 'hello', expect: '502', reason: 'no wrap-around', source: 'http-garden' },
  { id: 'u07', name: 'chunk size 0x5', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `0x5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'cut', reason: 'chunk-size = 1*HEXDIG', source: 'http-garden' },
  { id: 'u08', name: 'chunk size +5', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `+5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'cut', reason: 'chunk-size = 1*HEXDIG', source: 'http-garden' },
  { id: 'u09', name: 'chunk size overflowing 64 bits', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `10000000000000005${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'cut', reason: 'no wrap-around', source: 'http-garden' },
  { id: 'u10', name: 'space before the chunk size', bytes: H('200 OK', 'Transfer-Encoding: chunked') + ` 5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'cut', reason: 'no whitespace before chunk-size', source: 'http-garden' },
  { id: 'u11', name: 'bare LF after the chunk size', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `5\nhello${CRLF}0${CRLF}${CRLF}`, expect: 'cut', reason: 'chunk lines end with CRLF', source: 'http-garden' },
  { id: 'u12', name: 'junk instead of the CRLF after chunk data', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `5${CRLF}helloXX0${CRLF}${CRLF}`, expect: 'cut', reason: 'chunk data ends with CRLF', source: 'http-garden' },
  { id: 'u13', name: 'bare CR in a chunk extension', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `5;a\rb${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'cut', reason: 'CR not allowed in chunk-ext', source: 'http-garden' },
  { id: 'u14', name: 'status code of four digits', bytes: H('2000 OK', 'Content-Length: 2') + 'hi', expect: '502', reason: 'status-code = 3DIGIT', source: RFC + ' 4' },
  { id: 'u15', name: 'status line without a code', bytes: 'HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nhi', expect: '502', reason: 'status-code = 3DIGIT', source: RFC + ' 4' },
  { id: 'u16', name: 'HTTP/2.0 in a status line', bytes: 'HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nhi', expect: '502', reason: 'not an HTTP/1 response', source: RFC + ' 2.3' },
  { id: 'u17', name: 'XTTP/1.1', bytes: 'XTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi', expect: '502', reason: 'HTTP-name is "HTTP"', source: RFC + ' 2.3' },
  { id: 'u18', name: 'garbage instead of a response', bytes: 'hello, I am not HTTP\r\n\r\n', expect: '502', reason: 'not a status line', source: RFC + ' 4' },
  { id: 'u19', name: 'NUL in a header value', bytes: H('200 OK', 'X-Bad: a\0b', 'Content-Length: 2') + 'hi', expect: '502', reason: 'NUL MUST be refused (or replaced)', source: 'RFC 9110 5.5' },
  { id: 'u20', name: 'bare CR in a header value', bytes: H('200 OK', 'X-Bad: a\rb', 'Content-Length: 2') + 'hi', expect: 'either',
    check: (r) => (/[\r\n]/.test(r.headers['x-bad'] || '') ? `x-bad forwarded as ${JSON.stringify(r.headers['x-bad'])}` : null), reason: 'CR MUST be refused or replaced by SP', source: 'RFC 9110 5.5' },
  { id: 'u21', name: 'obs-fold in a header', bytes: H('200 OK', 'X-Fold: a', ' b', 'Content-Length: 2') + 'hi', expect: 'either',
    check: (r) => (r.status === 200 && r.text() === 'hi' && /^a[ \t]+b$/.test(r.headers['x-fold'] || '') ? null : `x-fold forwarded as ${JSON.stringify(r.headers['x-fold'])}`),
    reason: 'a proxy MUST replace with 502 or unfold', source: RFC + ' 5.2' },
  { id: 'u22', name: 'obs-fold hiding Transfer-Encoding', bytes: H('200 OK', 'X: y', '\tTransfer-Encoding: chunked', 'Content-Length: 2') + 'hi', expect: 'either',
    check: (r) => (r.status === 200 && r.text() === 'hi' ? null : 'body not the 2 bytes of Content-Length'), reason: 'reject, or unfold (then only CL frames)', source: RFC + ' 5.2; PortSwigger' },
  { id: 'u23', name: 'space before a colon', bytes: H('200 OK', 'Content-Length : 2') + 'hi', expect: 'either',
    check: (r) => (r.status === 200 && r.text() === 'hi' ? null : 'not framed by the 2-byte length'), reason: 'a proxy MUST remove such whitespace (or refuse)', source: RFC + ' 5.1' },
  { id: 'u24', name: 'header line without a colon', bytes: H('200 OK', 'NoColon', 'Content-Length: 2') + 'hi', expect: '502', reason: 'field-line = name ":" value', source: RFC + ' 5' },
  { id: 'u25', name: 'head over 64 KiB', bytes: H('200 OK', ...Array.from({ length: 80 }, (_, i) => `X-Pad-${i}: ${'p'.repeat(1000)}`), 'Content-Length: 2') + 'hi', expect: '502',
    reason: 'the upstream head is bounded', source: 'HAProxy reg-tests/http-messaging' },
  { id: 'u26', name: 'bare LF line endings', bytes: 'HTTP/1.1 200 OK\nContent-Length: 2\n\nhi', expect: '502', reason: 'only CRLF (a bare LF MAY be accepted; tollgate does not)', source: RFC + ' 2.2' },
  { id: 'u27', name: 'unsolicited 101 Switching Protocols', bytes: H('101 Switching Protocols', 'Upgrade: h2c', 'Connection: Upgrade') + 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', expect: '502',
    reason: 'no upgrade was asked for', source: 'RFC 9110 15.2.2' },
  { id: 'u28', name: 'Transfer-Encoding chunked twice', bytes: H('200 OK', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked') + `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'either',
    check: (r) => (r.text() === 'hello' ? null : 'body is not "hello"'), reason: 'chunked MUST NOT be applied twice; refusing or decoding once are both safe here', source: RFC + ' 6.1' },
  { id: 'u29', name: 'Transfer-Encoding "gzip, chunked"', bytes: H('200 OK', 'Transfer-Encoding: gzip, chunked') + `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'either',
    check: (r) => (/gzip/i.test(r.headers['transfer-encoding'] || '') || /gzip/i.test(r.headers['content-encoding'] || '') ? null
      : `gzip coding dropped: the client got transfer-encoding ${JSON.stringify(r.headers['transfer-encoding'])} for gzip data`),
    reason: 'a proxy that re-frames must keep (or decode) the other codings', source: RFC + ' 6.1, 7' },
  { id: 'u30', name: 'Transfer-Encoding xchunked, then close', bytes: H('200 OK', 'Transfer-Encoding: xchunked') + 'until-close', after: 'close', expect: 'either',
    check: (r) => (r.text() === 'until-close' ? null : `body ${JSON.stringify(r.text())}`), reason: 'a response whose final coding is not chunked runs until close', source: RFC + ' 6.3' },
  { id: 'u31', name: 'Content-Length 10, 3 bytes, close', bytes: H('200 OK', 'Content-Length: 10') + 'abc', after: 'close', expect: 'cut', reason: 'incomplete: the client must see it cut', source: RFC + ' 8' },
  { id: 'u32', name: 'chunked, closed inside a chunk', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `a${CRLF}abc`, after: 'close', expect: 'cut', reason: 'incomplete: the client must see it cut', source: RFC + ' 8' },
  { id: 'u33', name: 'chunked, closed before the last chunk', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `3${CRLF}abc${CRLF}`, after: 'close', expect: 'cut', reason: 'incomplete: the client must see it cut', source: RFC + ' 8' },
  { id: 'u34', name: 'a second response hidden after a CL body', bytes: H('200 OK', 'Content-Length: 2') + 'hi' + H('200 OK', 'Content-Length: 8') + 'smuggled', expect: 'ok', status: 200, body: 'hi',
    reason: 'bytes after a complete response: the connection is not reused', source: 'PortSwigger (response queue poisoning)' },
  { id: 'u35', name: '204 with a Content-Length body', bytes: H('204 No Content', 'Content-Length: 8') + 'smuggled', expect: 'ok', status: 204, body: '',
    reason: '204 has no body: the bytes are not the next response', source: 'RFC 9110 15.3.5; HAProxy reg-tests' },
  { id: 'u36', name: '304 with a chunked body', bytes: H('304 Not Modified', 'Transfer-Encoding: chunked') + `8${CRLF}smuggled${CRLF}0${CRLF}${CRLF}`, expect: 'ok', status: 304, body: '',
    reason: '304 has no body', source: 'RFC 9110 15.4.5' },
  { id: 'u37', name: 'no framing, keep-alive claimed, then close (control)', bytes: H('200 OK', 'Content-Type: text/plain', 'Connection: keep-alive') + 'until-close body', after: 'close', expect: 'ok', status: 200, body: 'until-close body',
    reason: 'no CL and no TE: the body runs until close; re-framed for the client', source: RFC + ' 6.3' },
  { id: 'u38', name: '100 Continue then the response (control)', bytes: H('100 Continue') + H('200 OK', 'Content-Length: 2') + 'ok', expect: 'ok', status: 200, body: 'ok',
    reason: 'interim responses are skipped', source: 'RFC 9110 15.2' },
  { id: 'u39', name: 'chunked with extensions and trailers (control)', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `5;x=1${CRLF}hello${CRLF}0${CRLF}X-T: 1${CRLF}${CRLF}`, expect: 'ok', status: 200, body: 'hello',
    reason: 'legal chunked framing', source: RFC + ' 7.1' },
  { id: 'u40', name: 'Content-Length 0 then garbage', bytes: H('200 OK', 'Content-Length: 0') + 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled', expect: 'ok', status: 200, body: '',
    reason: 'bytes after a complete response: the connection is not reused', source: 'PortSwigger (response queue poisoning)' },
  { id: 'u41', name: 'empty line, then a head ended by a bare LF', bytes: CRLF + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nhi', expect: '502',
    reason: 'the empty line a parser skips before the status line does not end the head', source: RFC + ' 2.2; fuzz_proxy_response' },
  { id: 'u42', name: 'empty line before the status line (control)', bytes: CRLF + H('200 OK', 'Content-Length: 2') + 'ok', expect: 'either',
    check: (r) => (r.status === 200 && r.text() === 'ok' ? null : 'not the 2-byte body'), reason: 'a leading CRLF MAY be skipped', source: RFC + ' 2.2' },
  { id: 'u43', name: 'Transfer_Encoding: chunked beside a Content-Length (control)', bytes: H('200 OK', 'Transfer_Encoding: chunked', 'Content-Length: 2') + 'hi', expect: 'ok', status: 200, body: 'hi',
    reason: 'an underscore spelling is another field: only Content-Length frames', source: 'RFC 9110 5.1' },
  { id: 'u44', name: 'bare LF ending the trailer section', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `5${CRLF}hello${CRLF}0${CRLF}\n`, expect: 'cut',
    reason: 'chunked lines end with CRLF; a strict reader is still waiting for the end', source: RFC + ' 7.1; fuzz_proxy_response' },
  { id: 'u45', name: 'obs-fold in a trailer field', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `5${CRLF}hello${CRLF}0${CRLF}X-T: a${CRLF} b${CRLF}${CRLF}`, expect: 'cut',
    reason: 'trailer lines are field lines: no obs-fold', source: RFC + ' 5.2, 7.1.2' },
  { id: 'u46', name: 'chunk size of 17 digits with leading zeros', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `00000000000000005${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'cut',
    reason: 'tollgate reads at most 16 hex digits, as it does for requests', source: RFC + ' 7.1; fuzz_proxy_response' },
  { id: 'u47', name: 'interim status 0102, then a head ended by a bare LF', bytes: 'HTTP/1.1 0102\r\n\r\n' + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nhi', expect: '502',
    reason: 'status-code = 3DIGIT (llhttp reads 0102 as 102)', source: RFC + ' 4; fuzz_proxy_response' },
  { id: 'u48', name: 'chunked with 150 trailer fields (control)', bytes: H('200 OK', 'Transfer-Encoding: chunked') + `5${CRLF}hello${CRLF}0${CRLF}`
      + Array.from({ length: 150 }, (_, i) => `X-T${i}: ${i}${CRLF}`).join('') + CRLF, expect: 'ok', status: 200, body: 'hello',
    reason: 'trailer fields are dropped, not counted against the head\'s 100-field limit', source: RFC + ' 7.1.2; fuzz_proxy_response' },
];

// The raw upstream: answers /case/ID with the case's bytes and /ok?n=X with "ok-X".
function startUpstream() {
  return startRawUpstream((s, target) => {
    let m;
    if ((m = /^\/case\/(\w+)/.exec(target))) {
      const c = UPSTREAM_CASES.find((x) => x.id === m[1]);
      s.write(Buffer.from(c ? c.bytes : 'HTTP/1.1 500 x\r\nContent-Length: 0\r\n\r\n', 'latin1'));
      if (c && c.after === 'close') s.end();
    } else if ((m = /^\/ok\?n=([\w-]+)/.exec(target))) {
      const body = `ok-${m[1]}`;
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    } else {
      s.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    }
  });
}

async function get(conn, path, method = 'GET') {
  await conn.write(Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: a\r\n\r\n`, 'latin1'), method);
  return conn.response(5000);
}

async function followUp(port, conn, tag) {
  const problems = [];
  const check = async (c, n) => {
    try {
      const r = await get(c, `/ok?n=${n}`);
      if (r.status !== 200 || r.text() !== `ok-${n}` || !r.complete) {
        problems.push(`RESPONSE DESYNC: the next request /ok?n=${n} got ${r.status} ${JSON.stringify(r.text().slice(0, 80))}`);
      }
    } catch (err) {
      problems.push(`the next request /ok?n=${n} failed: ${err.message}`);
    }
  };
  if (conn && !conn.closed) await check(conn, `${tag}-same`);
  if (conn) conn.destroy();
  const fresh = await RawConn.connect(port);
  await check(fresh, `${tag}-fresh`);
  fresh.destroy();
  return problems;
}

test(`${UPSTREAM_CASES.length} malformed responses: 502 or cut short, never a desync on the next request`, async (t) => {
  const up = await startUpstream();
  t.defer(() => up.close());
  const tg = await t.tollgate({ upstream: `http://127.0.0.1:${up.port}`, workers: 1, accessLog: 'off' });
  const fails = [];
  const counts = { bad502: 0, cut: 0, ok: 0 };
  for (const c of UPSTREAM_CASES) {
    const problems = [];
    const conn = await RawConn.connect(tg.port);
    let r = null;
    try {
      r = await get(conn, `/case/${c.id}`);
    } catch (err) {
      problems.push(`no response: ${err.message}`);
    }
    if (r) {
      // a cut response shows as complete=false once the connection closes
      if (!r.complete || c.expect === 'cut') await conn.waitClose(c.expect === 'cut' ? 3000 : 200);
      const gw502 = r.status === 502 && /"error"/.test(r.text());
      const cut = !r.complete && conn.closed;
      if (gw502) counts.bad502++;
      else if (cut) counts.cut++;
      else counts.ok++;
      const desc = `${r.status} ${r.complete ? 'complete' : 'incomplete'}${conn.closed ? ', closed' : ''} ${JSON.stringify(r.text().slice(0, 60))}`;
      if (c.expect === '502' && !gw502) problems.push(`got ${desc}, want 502`);
      if (c.expect === 'cut' && !gw502 && !cut) problems.push(`got ${desc}, want 502 or a response cut short`);
      if (c.expect === 'ok' && (r.status !== c.status || r.text() !== c.body || !r.complete)) problems.push(`got ${desc}, want ${c.status} ${JSON.stringify(c.body)}`);
      if (c.expect === 'either' && !gw502) {
        const e = !r.complete ? 'incomplete response' : c.check(r);
        if (e) problems.push(`got ${desc}: ${e}`);
      }
    }
    await sleep(10);
    problems.push(...(await followUp(tg.port, conn, c.id)));
    if (tg.exited) problems.push(`tollgate exited (code ${tg.exitCode}, signal ${tg.exitSignal})`);
    if (problems.length) fails.push(`[${c.id}] ${c.name} (expect ${c.expect}): ${problems.join('; ')}; bytes ${JSON.stringify(c.bytes.length > 120 ? c.bytes.slice(0, 100) + '…' : c.bytes)}`);
    if (tg.exited) break;
  }
  // only /case and /ok requests ever reach the upstream
  const odd = up.log.map((e) => e.target).filter((p) => !/^\/(case\/\w+|ok\?n=[\w-]+)$/.test(p));
  if (odd.length) fails.push(`the upstream got unexpected requests: ${odd.join(', ')}`);
  t.note(`${UPSTREAM_CASES.length} cases: ${counts.bad502} got 502, ${counts.cut} cut short, ${counts.ok} relayed; ${UPSTREAM_CASES.length - fails.length} as expected`);
  if (fails.length) throw new Error(`${fails.length} of ${UPSTREAM_CASES.length} cases failed:\n${fails.join('\n')}`);
}, { timeoutMs: 120000 });
