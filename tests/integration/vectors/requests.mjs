// Request-smuggling and strict-HTTP vectors for tollgate, in the spirit of
// HAProxy's reg-tests/http-messaging .vtc files: raw request bytes and what
// must happen. Run by tests/smuggling.test.mjs; the families and the policy
// behind each expectation are described in docs/security.md.
//
// A vector:
//   id       unique, short; "@ID@" in raw is replaced by it, so every request
//            the mock logs carries ?tgv=ID in its path
//   family   group (one tollgate + mock per family)
//   name     what it is
//   raw      the bytes, a latin1 string (or an array of strings, written in
//            separate writes 30 ms apart)
//   expect   'refuse'  4xx (or one of `status`), and the connection closed;
//                      `before` lists the statuses of valid pipelined
//                      requests sent ahead of the bad one
//            'accept'  the statuses in `statuses` (default [200]); `close`
//                      false means the vector keeps the connection alive
//                      (the runner waits a grace period for any extra answer)
//            'either'  RFC 9112 allows refusing or accepting: either is fine,
//                      but an accepted one must pass `check`
//   upstream how many requests the mock may log (default: 0 for refused, the
//            number of statuses for accepted)
//   check    (mockRequests) => error string or null, for accepted vectors
//   reason   why (the RFC 9112 / RFC 9110 rule or the project policy)
//   source   where the vector comes from
//
// "/smuggled" in a path marks bytes that under RFC 9112 are body (or part of
// a refused message), never a request: the mock must never log it.

const GET = (extra = '', tail = 'Connection: close\r\n') =>
  `GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n${extra}${tail}\r\n`;
const POST = (headers, body = '') =>
  `POST /echo?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nX-Mock-Echo: 1\r\n${headers}\r\n${body}`;
const SMUG = 'GET /smuggled?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n';
const Z = '0\r\n\r\n';
const CHUNKED = 'Transfer-Encoding: chunked\r\n';
// A request whose framing is decided by `hdrs`: a 5-byte "0\r\n\r\n" that is
// a chunked body and a Content-Length: 5 body at once, then a smuggled GET.
// Any gateway that accepts such a head forwards /smuggled (whichever framing
// it picked), so a wrong acceptance is always visible at the mock.
const SMUGGLE = (hdrs) => POST(hdrs, Z + SMUG);

const RFC = 'RFC 9112';
const PS = 'PortSwigger HTTP desync research (http-request-smuggler mutations)';
const HG = 'http-garden (narfindustries/http-garden) findings';
const HA = 'HAProxy reg-tests/http-messaging';
const POLICY = 'tollgate policy (issue 3)';

const names = (reqs) => reqs.map((r) => `${r.method} ${r.path}`).join(', ');
// checks on what the mock received
const noHeader = (...hs) => (reqs) => {
  for (const r of reqs) {
    for (const h of hs) {
      if (h in (r.headers || {})) return `the upstream got ${h}: ${JSON.stringify(r.headers[h])} (${r.method} ${r.path})`;
    }
  }
  return null;
};
const bodyBytes = (n) => (reqs) => {
  const bad = reqs.find((r) => r.method === 'POST' && r.body_bytes !== n);
  return bad ? `the upstream got a ${bad.body_bytes}-byte body, want ${n}` : null;
};
const all = (...fs) => (reqs) => {
  for (const f of fs) { const e = f(reqs); if (e) return e; }
  return null;
};
const headerLen = (h, n) => (reqs) => {
  const v = reqs[0] && reqs[0].headers[h];
  return v && v.length === n ? null : `the upstream got ${h} of ${v ? v.length : 'no'} bytes, want ${n}`;
};

const unfolded = (h) => (reqs) => {
  const v = reqs[0] && reqs[0].headers[h];
  return typeof v === 'string' && /^a[ \t]+b$/.test(v) ? null : `${h} forwarded as ${JSON.stringify(v)} (want "a b" unfolded)`;
};

const V = [];
const add = (family, list) => { for (const v of list) V.push({ family, ...v }); };

// ---------------------------------------------------------------------------
add('request-line', [
  { id: 'rl01', name: 'HTTP/1.2', raw: 'GET /api/version?tgv=@ID@ HTTP/1.2\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 505],
    reason: 'only HTTP/1.0 and 1.1 are spoken (RFC 9110 15.6.6 allows 505)', source: RFC + ' 2.3; ' + HA },
  { id: 'rl02', name: 'HTTP/2.0 in an HTTP/1 request line', raw: 'GET /api/version?tgv=@ID@ HTTP/2.0\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 505],
    reason: 'HTTP/2 is not an HTTP/1 request line', source: RFC + ' 2.3' },
  { id: 'rl03', name: 'HTTP/0.9 version token', raw: 'GET /api/version?tgv=@ID@ HTTP/0.9\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 505],
    reason: 'HTTP/0.9 is not supported', source: RFC + ' 2.3' },
  { id: 'rl04', name: 'no version (HTTP/0.9 simple request)', raw: 'GET /api/version?tgv=@ID@\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 505],
    reason: 'a request line needs an HTTP-version', source: RFC + ' 3' },
  { id: 'rl05', name: 'lowercase http/1.1', raw: 'GET /api/version?tgv=@ID@ http/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'HTTP-name is case-sensitive "HTTP"', source: RFC + ' 2.3' },
  { id: 'rl06', name: 'HTTP/1.1 followed by a space', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1 \r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'nothing may follow HTTP-version but CRLF', source: RFC + ' 3; ' + HG },
  { id: 'rl07', name: 'HTTP/1.10', raw: 'GET /api/version?tgv=@ID@ HTTP/1.10\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 505],
    reason: 'HTTP-version = HTTP-name "/" DIGIT "." DIGIT', source: RFC + ' 2.3' },
  { id: 'rl08', name: 'HTTP/11', raw: 'GET /api/version?tgv=@ID@ HTTP/11\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 505],
    reason: 'HTTP-version = HTTP-name "/" DIGIT "." DIGIT', source: RFC + ' 2.3' },
  { id: 'rl09', name: 'HTTP/1.1x', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1x\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'junk after the version', source: RFC + ' 2.3' },
  { id: 'rl10', name: 'lowercase method "get"', raw: 'get /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 501],
    reason: 'methods are case-sensitive; an unknown one is refused', source: 'RFC 9110 9.1; ' + PS },
  { id: 'rl11', name: 'method with "(" ', raw: 'G(ET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 501],
    reason: 'not a known method (and "(" is not a tchar)', source: 'RFC 9110 9.1' },
  { id: 'rl12', name: 'NUL inside the method', raw: 'GE\0T /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 501],
    reason: 'NUL is not a tchar', source: RFC + ' 3.1; ' + PS },
  { id: 'rl13', name: 'tab between method and target', raw: 'GET\t/api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 501],
    reason: 'SP is the separator; lenient whitespace parsing is a MAY tollgate does not take', source: RFC + ' 3; ' + PS },
  { id: 'rl14', name: 'unknown method FOO', raw: 'FOO /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse', status: ['4xx', 501],
    reason: 'unknown methods are not forwarded', source: 'RFC 9110 9.1' },
  { id: 'rl15', name: 'absolute-form target to another host', raw: 'GET http://other-host/api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'a gateway is not a forward proxy: only origin-form targets (host confusion)', source: POLICY + '; ' + RFC + ' 3.2.2' },
  { id: 'rl16', name: 'absolute-form target, https to another host', raw: 'GET https://evil.example:443/api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'only origin-form targets', source: POLICY + '; ' + PS },
  { id: 'rl17', name: 'authority-form CONNECT', raw: 'CONNECT other-host:443 HTTP/1.1\r\nHost: other-host:443\r\n\r\n', expect: 'refuse', status: ['4xx', 501],
    reason: 'CONNECT is not served by a gateway', source: RFC + ' 3.2.3' },
  { id: 'rl18', name: 'asterisk-form on GET', raw: 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'asterisk-form is for OPTIONS only, and tollgate serves paths only', source: RFC + ' 3.2.4' },
  { id: 'rl19', name: 'space inside the target', raw: 'GET /api/version?tgv=@ID@ x HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'three words only; an invalid request-line gets 400', source: RFC + ' 3' },
  { id: 'rl20', name: 'tab inside the target', raw: 'GET /api/version?tgv=@ID@\tx HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'HTAB is not allowed in a request-target; a recipient splitting on whitespace would see another target', source: RFC + ' 3.2; ' + HG },
  { id: 'rl21', name: 'NUL inside the target', raw: 'GET /api/version?tgv=@ID@\0x HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'NUL is not allowed in a request-target', source: RFC + ' 3.2; ' + HG },
  { id: 'rl22', name: 'DEL (0x7f) inside the target', raw: 'GET /api/version?tgv=@ID@\x7fx HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'CTLs are not allowed in a request-target', source: RFC + ' 3.2; ' + HG },
  { id: 'rl23', name: 'bare CR ending the request line', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\rHost: a\r\n\r\n', expect: 'refuse',
    reason: 'a bare CR is an invalid line ending', source: RFC + ' 2.2; ' + PS },
  { id: 'rl24', name: 'bare LF ending the request line', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'tollgate takes only CRLF (a bare LF MAY be accepted, it is not)', source: RFC + ' 2.2; ' + PS },
  { id: 'rl25', name: 'request line without a target', raw: 'GET HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'refuse',
    reason: 'method SP request-target SP HTTP-version', source: RFC + ' 3' },
  { id: 'rl26', name: 'HTTP/1.1 without Host', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\r\n\r\n', expect: 'refuse',
    reason: 'a server MUST respond 400 to an HTTP/1.1 request lacking Host', source: RFC + ' 3.2' },
  { id: 'rl27', name: 'two Host fields', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', expect: 'refuse',
    reason: 'a server MUST respond 400 to more than one Host', source: RFC + ' 3.2' },
  { id: 'rl28', name: 'Host written as a list', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a, b\r\n\r\n', expect: 'refuse',
    reason: 'a Host field with an invalid value gets 400', source: RFC + ' 3.2' },
  { id: 'rl29', name: 'leading CRLF before the request line (control)', raw: '\r\n' + GET(), expect: 'accept',
    reason: 'a server SHOULD ignore at least one empty line before the request-line', source: RFC + ' 2.2' },
  { id: 'rl30', name: 'HTTP/1.0 without Host (control)', raw: 'GET /api/version?tgv=@ID@ HTTP/1.0\r\n\r\n', expect: 'accept',
    reason: 'Host is required only from HTTP/1.1; the response ends with the connection', source: RFC + ' 3.2' },
  { id: 'rl31', name: 'two spaces between method and target', raw: 'GET  /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', expect: 'either',
    reason: 'recipients MAY parse on whitespace word boundaries; refusing is fine too', source: RFC + ' 3' },
]);

// ---------------------------------------------------------------------------
const big = (n, ch = 'a') => ch.repeat(n);
add('limits', [
  { id: 'lm01', name: 'request target past max_header_size (16k) → 414', raw: `GET /api/version?tgv=@ID@&p=${big(17000)} HTTP/1.1\r\nHost: a\r\n\r\n`, expect: 'refuse', status: [414],
    reason: 'a target longer than the server accepts gets 414', source: 'RFC 9110 15.5.15; ' + HA },
  { id: 'lm02', name: 'one header value past 16k → 431', raw: GET(`X-Big: ${big(17000)}\r\n`), expect: 'refuse', status: [431],
    reason: 'head fields larger than max_header_size get 431', source: 'RFC 6585 5; ' + HA },
  { id: 'lm03', name: 'one header name past 16k → 431', raw: GET(`X-${big(17000)}: 1\r\n`), expect: 'refuse', status: [431],
    reason: 'head fields larger than max_header_size get 431', source: 'RFC 6585 5' },
  { id: 'lm04', name: 'many small headers past 16k in total → 431', raw: GET(Array.from({ length: 90 }, (_, i) => `X-H${i}: ${big(200)}\r\n`).join('')), expect: 'refuse', status: [431],
    reason: 'the sum of the fields counts', source: 'RFC 6585 5' },
  { id: 'lm05', name: '101 header fields → 431', raw: GET(Array.from({ length: 101 }, (_, i) => `X-N${i}: ${i}\r\n`).join('')), expect: 'refuse', status: [431],
    reason: 'at most 100 fields per head (TG_HEAD_MAX_FIELDS)', source: 'RFC 6585 5; ' + POLICY },
  { id: 'lm06', name: 'a 15k header value (control)', raw: GET(`X-Big: ${big(15000)}\r\n`), expect: 'accept', check: headerLen('x-big', 15000),
    reason: 'a large but legal head passes intact', source: HA },
  { id: 'lm07', name: '90 header fields (control)', raw: GET(Array.from({ length: 90 }, (_, i) => `X-N${i}: ${i}\r\n`).join('')), expect: 'accept',
    check: (reqs) => (reqs[0] && reqs[0].headers['x-n89'] === '89' ? null : 'x-n89 not forwarded'),
    reason: 'many fields under the limit pass', source: HA },
  { id: 'lm08', name: 'an 8k target (control)', raw: `GET /api/version?tgv=@ID@&p=${big(8000)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, expect: 'accept',
    reason: 'a long but legal target passes', source: HA },
  { id: 'lm09', name: 'head past 16k sent in pieces → 431', raw: [GET('', '').slice(0, -2), `X-A: ${big(9000)}\r\n`, `X-B: ${big(9000)}\r\n\r\n`], expect: 'refuse', status: [431],
    reason: 'the limit holds across reads', source: HA },
]);

// a tollgate with max_header_size 1k
add('limits-1k', [
  { id: 'lk01', name: 'max_header_size 1k: a 1.5k header → 431', raw: GET(`X-Big: ${big(1500)}\r\n`), expect: 'refuse', status: [431],
    reason: 'max_header_size is configurable', source: 'docs/configuration.md' },
  { id: 'lk02', name: 'max_header_size 1k: a 1.5k target → 414', raw: `GET /api/version?tgv=@ID@&p=${big(1500)} HTTP/1.1\r\nHost: a\r\n\r\n`, expect: 'refuse', status: [414],
    reason: 'max_header_size is configurable', source: 'docs/configuration.md' },
  { id: 'lk03', name: 'max_header_size 1k: a 700-byte header (control)', raw: GET(`X-Big: ${big(700)}\r\n`), expect: 'accept', check: headerLen('x-big', 700),
    reason: 'under the configured limit', source: 'docs/configuration.md' },
]);

// ---------------------------------------------------------------------------
add('content-length', [
  { id: 'cl01', name: 'CL then TE chunked (CL.TE)', raw: SMUGGLE('Content-Length: 5\r\n' + CHUNKED), expect: 'refuse',
    reason: 'TE with CL "ought to be handled as an error"; a server MAY reject, and tollgate does (then closes)', source: RFC + ' 6.3; ' + PS },
  { id: 'cl02', name: 'TE chunked then CL (TE.CL)', raw: SMUGGLE(CHUNKED + 'Content-Length: 5\r\n'), expect: 'refuse',
    reason: 'as above, order does not matter', source: RFC + ' 6.3; ' + PS },
  { id: 'cl03', name: 'TE.CL classic with a short CL', raw: POST('Content-Length: 4\r\n' + CHUNKED, `${(SMUG.length).toString(16)}\r\n${SMUG}\r\n${Z}`), expect: 'refuse',
    reason: 'TE with CL', source: PS },
  { id: 'cl04', name: 'two identical Content-Length', raw: POST('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse',
    reason: 'duplicates MAY be collapsed; tollgate refuses any repeated Content-Length', source: 'RFC 9110 8.6; ' + POLICY },
  { id: 'cl05', name: 'two different Content-Length (CL.CL)', raw: POST('Content-Length: 0\r\nContent-Length: 5\r\n', Z + SMUG), expect: 'refuse',
    reason: 'differing lengths: unrecoverable error, MUST be 400', source: RFC + ' 6.3; ' + PS },
  { id: 'cl06', name: 'Content-Length list "5, 5"', raw: POST('Content-Length: 5, 5\r\n', 'hello'), expect: 'refuse',
    reason: 'a list MAY be collapsed; tollgate refuses', source: 'RFC 9110 8.6; ' + POLICY },
  { id: 'cl07', name: 'Content-Length list "5, 0"', raw: POST('Content-Length: 5, 0\r\n', Z + SMUG), expect: 'refuse',
    reason: 'differing values: 400', source: RFC + ' 6.3' },
  { id: 'cl08', name: 'empty Content-Length then a real one', raw: POST('Content-Length: \r\nContent-Length: 5\r\n', Z + SMUG), expect: 'refuse',
    reason: 'an empty value is not 1*DIGIT; two fields', source: HG },
  { id: 'cl09', name: 'a real Content-Length then an empty one', raw: POST('Content-Length: 5\r\nContent-Length: \r\n', Z + SMUG), expect: 'refuse',
    reason: 'an empty value is not 1*DIGIT; two fields', source: HG },
  { id: 'cl10', name: 'empty Content-Length alone', raw: POST('Content-Length: \r\n', Z + SMUG), expect: 'refuse',
    reason: 'Content-Length = 1*DIGIT', source: HG },
  { id: 'cl11', name: 'Content-Length +5', raw: POST('Content-Length: +5\r\n', Z + SMUG), expect: 'refuse', reason: 'Content-Length = 1*DIGIT', source: HG },
  { id: 'cl12', name: 'Content-Length -1', raw: POST('Content-Length: -1\r\n', Z + SMUG), expect: 'refuse', reason: 'Content-Length = 1*DIGIT', source: HG },
  { id: 'cl13', name: 'Content-Length 0x5', raw: POST('Content-Length: 0x5\r\n', Z + SMUG), expect: 'refuse', reason: 'Content-Length = 1*DIGIT', source: HG },
  { id: 'cl14', name: 'Content-Length 5.0', raw: POST('Content-Length: 5.0\r\n', Z + SMUG), expect: 'refuse', reason: 'Content-Length = 1*DIGIT', source: HG },
  { id: 'cl15', name: 'Content-Length 1_0', raw: POST('Content-Length: 1_0\r\n', 'helloworld' + SMUG), expect: 'refuse', reason: 'Content-Length = 1*DIGIT', source: HG },
  { id: 'cl16', name: 'Content-Length "5" quoted', raw: POST('Content-Length: "5"\r\n', Z + SMUG), expect: 'refuse', reason: 'Content-Length = 1*DIGIT', source: PS },
  { id: 'cl17', name: 'Content-Length "5 5"', raw: POST('Content-Length: 5 5\r\n', Z + SMUG), expect: 'refuse', reason: 'Content-Length = 1*DIGIT', source: HG },
  { id: 'cl18', name: 'Content-Length overflowing 64 bits', raw: POST('Content-Length: 18446744073709551621\r\n', Z + SMUG), expect: 'refuse',
    reason: 'a length that overflows must not wrap (to 5)', source: HG + '; ' + HA },
  { id: 'cl19', name: 'Content-Length far over client_max_body_size → 413', raw: POST('Content-Length: 999999999999\r\n', 'hello'), expect: 'refuse', status: [413],
    reason: 'over the site limit: 413 before any body', source: 'RFC 9110 15.5.14' },
  { id: 'cl20', name: 'Content-Length with a vertical tab before the value', raw: POST('Content-Length: \x0b5\r\n', Z + SMUG), expect: 'refuse',
    reason: 'VT is not OWS', source: PS },
  { id: 'cl21', name: 'Content-Length with a NUL after the value', raw: POST('Content-Length: 5\0\r\n', Z + SMUG), expect: 'refuse',
    reason: 'NUL in a field value MUST be refused (or replaced)', source: 'RFC 9110 5.5; ' + PS },
  { id: 'cl22', name: 'space before the colon of Content-Length', raw: POST('Content-Length : 5\r\n', Z + SMUG), expect: 'refuse',
    reason: 'no whitespace between field name and colon: MUST reject with 400', source: RFC + ' 5.1; ' + PS },
  { id: 'cl23', name: 'Content-Length with SP around the value (control)', raw: POST('Content-Length:  5  \r\nConnection: close\r\n', 'hello'), expect: 'accept', check: bodyBytes(5),
    reason: 'OWS around a field value is not part of it', source: 'RFC 9110 5.5' },
  { id: 'cl23b', name: 'Content-Length with a tab after the value', raw: POST('Content-Length:\t5\t\r\nConnection: close\r\n', 'hello'), expect: 'either', check: bodyBytes(5),
    reason: 'HTAB is OWS, not part of the value: legal, but llhttp 8.1 refuses it (a safe deviation, docs/security.md)', source: 'RFC 9110 5.5' },
  { id: 'cl24', name: 'Content-Length 005 (control)', raw: POST('Content-Length: 005\r\nConnection: close\r\n', 'hello'), expect: 'accept', check: bodyBytes(5),
    reason: '1*DIGIT: leading zeros are legal', source: RFC + ' 6.2' },
  { id: 'cl25', name: 'CL body hiding a request (control: it is body)', raw: POST(`Content-Length: ${SMUG.length}\r\n`, SMUG), expect: 'accept', close: false,
    check: bodyBytes(SMUG.length), reason: 'the bytes are body; the upstream gets them as body, with the same length', source: PS },
  { id: 'cl26', name: 'GET with a CL body hiding a request (control: it is body)', raw: `GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nContent-Length: ${SMUG.length}\r\n\r\n${SMUG}`,
    expect: 'accept', close: false, reason: 'a GET body is framed like any other', source: PS + ' (GET with body)' },
  { id: 'cl27', name: 'mixed-case content-LENGTH with TE (CL.TE)', raw: SMUGGLE('content-LENGTH: 5\r\ntransfer-ENCODING: chunked\r\n'), expect: 'refuse',
    reason: 'field names are case-insensitive', source: PS },
]);

// ---------------------------------------------------------------------------
add('transfer-encoding', [
  { id: 'te01', name: 'TE chunked alone (control)', raw: POST(CHUNKED + 'Connection: close\r\n', '5\r\nhello\r\n' + Z), expect: 'accept', check: bodyBytes(5),
    reason: 'the one transfer coding tollgate accepts', source: RFC + ' 7.1' },
  { id: 'te02', name: 'TE Chunked (case)', raw: POST('Transfer-Encoding: Chunked\r\nConnection: close\r\n', '5\r\nhello\r\n' + Z), expect: 'accept', check: bodyBytes(5),
    reason: 'transfer-coding names are case-insensitive', source: RFC + ' 7' },
  { id: 'te03', name: 'TE CHUNKED (case)', raw: POST('Transfer-Encoding: CHUNKED\r\nConnection: close\r\n', '5\r\nhello\r\n' + Z), expect: 'accept', check: bodyBytes(5),
    reason: 'transfer-coding names are case-insensitive', source: RFC + ' 7' },
  { id: 'te04', name: 'TE "chunked " with trailing SP', raw: POST('Transfer-Encoding: chunked \r\nConnection: close\r\n', '5\r\nhello\r\n' + Z), expect: 'accept', check: bodyBytes(5),
    reason: 'trailing OWS is not part of the value', source: 'RFC 9110 5.5; ' + PS },
  { id: 'te05', name: 'TE with a tab before chunked', raw: POST('Transfer-Encoding:\tchunked\r\nConnection: close\r\n', '5\r\nhello\r\n' + Z), expect: 'accept', check: bodyBytes(5),
    reason: 'HTAB is OWS', source: 'RFC 9110 5.5; ' + PS },
  { id: 'te05b', name: 'TE with a tab after chunked', raw: POST('Transfer-Encoding: chunked\t\r\nConnection: close\r\n', '5\r\nhello\r\n' + Z), expect: 'either', check: bodyBytes(5),
    reason: 'trailing HTAB is OWS, not part of the value: legal, but llhttp 8.1 refuses it (a safe deviation, docs/security.md)', source: 'RFC 9110 5.5; ' + PS },
  { id: 'te06', name: 'TE "chunked, chunked"', raw: SMUGGLE('Transfer-Encoding: chunked, chunked\r\n'), expect: 'refuse',
    reason: 'a sender MUST NOT apply chunked more than once; only "chunked" alone is accepted', source: RFC + ' 6.1; ' + POLICY },
  { id: 'te07', name: 'two TE chunked fields', raw: SMUGGLE(CHUNKED + CHUNKED), expect: 'refuse',
    reason: 'combined: "chunked, chunked"', source: RFC + ' 6.1; ' + PS },
  { id: 'te08', name: 'TE gzip', raw: SMUGGLE('Transfer-Encoding: gzip\r\n'), expect: 'refuse',
    reason: 'final coding not chunked in a request: MUST respond 400 and close', source: RFC + ' 6.3' },
  { id: 'te09', name: 'TE "gzip, chunked"', raw: POST('Transfer-Encoding: gzip, chunked\r\n', `5\r\nhello\r\n${Z}`), expect: 'refuse', status: ['4xx', 501],
    reason: 'legal HTTP, but tollgate re-frames and would drop gzip: only chunked alone (501 allowed)', source: RFC + ' 6.1; ' + POLICY },
  { id: 'te10', name: 'TE chunked then TE gzip', raw: SMUGGLE(CHUNKED + 'Transfer-Encoding: gzip\r\n'), expect: 'refuse',
    reason: 'final coding not chunked', source: RFC + ' 6.3; ' + PS },
  { id: 'te11', name: 'TE identity', raw: SMUGGLE('Transfer-Encoding: identity\r\n'), expect: 'refuse',
    reason: 'identity is no longer a transfer coding; final coding not chunked', source: RFC + ' 6.3; ' + PS },
  { id: 'te12', name: 'TE "identity, chunked"', raw: SMUGGLE('Transfer-Encoding: identity, chunked\r\n'), expect: 'refuse', status: ['4xx', 501],
    reason: 'unknown coding in front of chunked', source: PS },
  { id: 'te13', name: 'TE ",chunked"', raw: SMUGGLE('Transfer-Encoding: ,chunked\r\n'), expect: 'refuse',
    reason: 'only exactly "chunked" (RFC 9110 5.6.1 would let empty list elements be ignored)', source: POLICY + '; ' + PS },
  { id: 'te14', name: 'TE "chunked,"', raw: SMUGGLE('Transfer-Encoding: chunked,\r\n'), expect: 'refuse',
    reason: 'only exactly "chunked"', source: POLICY + '; ' + PS },
  { id: 'te15', name: 'TE xchunked', raw: SMUGGLE('Transfer-Encoding: xchunked\r\n'), expect: 'refuse', reason: 'not chunked', source: PS },
  { id: 'te16', name: 'TE chunkedx', raw: SMUGGLE('Transfer-Encoding: chunkedx\r\n'), expect: 'refuse', reason: 'not chunked', source: PS },
  { id: 'te17', name: 'TE chunk', raw: SMUGGLE('Transfer-Encoding: chunk\r\n'), expect: 'refuse', reason: 'not chunked', source: PS },
  { id: 'te18', name: 'TE "chunked" quoted', raw: SMUGGLE('Transfer-Encoding: "chunked"\r\n'), expect: 'refuse', reason: 'a quoted string is not a token', source: PS },
  { id: 'te19', name: 'TE chunked;q=1 (parameter)', raw: SMUGGLE('Transfer-Encoding: chunked;q=1\r\n'), expect: 'refuse',
    reason: 'chunked takes no parameters; only exactly "chunked"', source: POLICY + '; ' + PS },
  { id: 'te20', name: 'empty TE', raw: SMUGGLE('Transfer-Encoding: \r\n'), expect: 'refuse', reason: 'only exactly "chunked"', source: PS },
  { id: 'te21', name: 'empty TE with CL', raw: SMUGGLE('Transfer-Encoding: \r\nContent-Length: 5\r\n'), expect: 'refuse', reason: 'TE with CL', source: PS },
  { id: 'te22', name: 'TE chunked with a vertical tab after it', raw: SMUGGLE('Transfer-Encoding: chunked\x0b\r\n'), expect: 'refuse', reason: 'VT is not OWS', source: PS },
  { id: 'te23', name: 'TE chunked with a vertical tab before it', raw: SMUGGLE('Transfer-Encoding: \x0bchunked\r\n'), expect: 'refuse', reason: 'VT is not OWS', source: PS },
  { id: 'te24', name: 'TE chunked with a form feed before it', raw: SMUGGLE('Transfer-Encoding: \x0cchunked\r\n'), expect: 'refuse', reason: 'FF is not OWS', source: PS },
  { id: 'te25', name: 'TE chunked with a NUL before it', raw: SMUGGLE('Transfer-Encoding: \0chunked\r\n'), expect: 'refuse', reason: 'NUL in a value', source: PS },
  { id: 'te26', name: 'TE chunked with 0x01 after it', raw: SMUGGLE('Transfer-Encoding: chunked\x01\r\n'), expect: 'refuse', reason: 'CTL in a framing value', source: PS },
  { id: 'te27', name: 'TE chunked with 0x7f after it', raw: SMUGGLE('Transfer-Encoding: chunked\x7f\r\n'), expect: 'refuse', reason: 'DEL in a framing value', source: PS },
  { id: 'te28', name: 'TE chunked with 0xff after it', raw: SMUGGLE('Transfer-Encoding: chunked\xff\r\n'), expect: 'refuse', reason: 'obs-text in a framing value', source: PS },
  { id: 'te29', name: 'TE chunked with 0xa0 (NBSP) before it', raw: SMUGGLE('Transfer-Encoding: \xa0chunked\r\n'), expect: 'refuse', reason: 'NBSP is not OWS', source: PS },
  { id: 'te30', name: 'TE in an HTTP/1.0 request', raw: `POST /echo?tgv=@ID@ HTTP/1.0\r\nHost: a\r\nX-Mock-Echo: 1\r\n${CHUNKED}\r\n${Z}${SMUG}`, expect: 'refuse',
    reason: 'TE in HTTP/1.0: MUST treat the framing as faulty', source: RFC + ' 6.1; ' + HG },
  { id: 'te31', name: 'TE chunked with CL 0 and a chunked body (CL.TE, zero)', raw: POST('Content-Length: 0\r\n' + CHUNKED, '5\r\nhello\r\n' + Z + SMUG), expect: 'refuse',
    reason: 'TE with CL', source: PS },
  { id: 'te32', name: 'TE gzip with CL', raw: SMUGGLE('Content-Length: 5\r\nTransfer-Encoding: gzip\r\n'), expect: 'refuse', reason: 'TE with CL', source: PS },
]);

// ---------------------------------------------------------------------------
add('header-name', [
  { id: 'hn01', name: 'space before the colon of TE', raw: SMUGGLE('Transfer-Encoding : chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'whitespace between name and colon: MUST 400', source: RFC + ' 5.1; ' + PS },
  { id: 'hn02', name: 'tab before the colon of TE', raw: SMUGGLE('Transfer-Encoding\t: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'whitespace between name and colon: MUST 400', source: RFC + ' 5.1; ' + PS },
  { id: 'hn03', name: 'vertical tab before the colon of TE', raw: SMUGGLE('Transfer-Encoding\x0b: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'VT is not a tchar', source: PS },
  { id: 'hn04', name: 'form feed before the colon of TE', raw: SMUGGLE('Transfer-Encoding\x0c: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'FF is not a tchar', source: PS },
  { id: 'hn05', name: 'NUL before the colon of TE', raw: SMUGGLE('Transfer-Encoding\0: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'NUL is not a tchar', source: PS },
  { id: 'hn06', name: 'bare CR before the colon of TE', raw: SMUGGLE('Transfer-Encoding\r: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'CR is not a tchar', source: PS },
  { id: 'hn07', name: 'vertical tab before the TE name', raw: SMUGGLE('\x0bTransfer-Encoding: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'VT is not a tchar', source: PS },
  { id: 'hn08', name: 'space before the TE name (obs-fold on the first field)', raw: `POST /echo?tgv=@ID@ HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\nContent-Length: 5\r\n\r\n${Z}${SMUG}`, expect: 'refuse',
    reason: 'whitespace between the start line and the first field: MUST reject', source: RFC + ' 2.2; ' + PS },
  { id: 'hn09', name: 'tab before the TE name after another field', raw: SMUGGLE('X: y\r\n\tTransfer-Encoding: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'obs-fold that hides a TE; refused (obs-fold MAY also be unfolded, but never forwarded)', source: RFC + ' 5.2; ' + PS },
  { id: 'hn10', name: 'space inside the TE name', raw: SMUGGLE('Transfer Encoding: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'SP is not a tchar', source: PS },
  { id: 'hn11', name: '0x80 inside the TE name', raw: SMUGGLE('Transfer-\x80Encoding: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'non-ASCII is not a tchar', source: PS },
  { id: 'hn12', name: 'dotless i (UTF-8) in the TE name', raw: SMUGGLE('Transfer-Encod\xc4\xb1ng: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'non-ASCII is not a tchar (case folding tricks)', source: PS },
  { id: 'hn13', name: 'DEL after the TE name', raw: SMUGGLE('Transfer-Encoding\x7f: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'DEL is not a tchar', source: PS },
  { id: 'hn14', name: 'empty field name', raw: SMUGGLE(': chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'field-name = token (1 or more tchar)', source: RFC + ' 5; ' + HG },
  { id: 'hn15', name: 'a lone colon line', raw: GET(':\r\n'), expect: 'refuse', reason: 'field-name = token', source: HG },
  { id: 'hn16', name: 'a field line without a colon', raw: GET('Transfer-Encoding chunked\r\n'), expect: 'refuse', reason: 'field-line = name ":" value', source: RFC + ' 5' },
  { id: 'hn17', name: 'space before the colon of Host', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost : a\r\n\r\n', expect: 'refuse',
    reason: 'whitespace between name and colon', source: RFC + ' 5.1' },
  { id: 'hn18', name: 'vertical tab before the colon of CL', raw: SMUGGLE('Content-Length\x0b: 5\r\n'), expect: 'refuse', reason: 'VT is not a tchar', source: PS },
  { id: 'hn19', name: 'Transfer_Encoding with a real CL', raw: POST(`Transfer_Encoding: chunked\r\nContent-Length: ${(Z + SMUG).length}\r\n`, Z + SMUG), expect: 'either', close: false,
    check: all(noHeader('transfer_encoding', 'transfer-encoding'), bodyBytes((Z + SMUG).length)),
    reason: 'an underscore form of a framing field is dropped or refused, never forwarded (CGI-style servers read it as Transfer-Encoding)', source: POLICY + '; ' + PS },
  { id: 'hn20', name: 'Content_Length beside TE chunked', raw: POST('Content_Length: 3\r\n' + CHUNKED + 'Connection: close\r\n', '5\r\nhello\r\n' + Z), expect: 'either',
    check: all(noHeader('content_length'), bodyBytes(5)),
    reason: 'an underscore form of a framing field is dropped or refused, never forwarded', source: POLICY + '; ' + PS },
  { id: 'hn21', name: 'Content_Length alone on a GET', raw: GET('Content_Length: 5\r\n'), expect: 'either', check: noHeader('content_length'),
    reason: 'an underscore form of a framing field is dropped or refused, never forwarded', source: POLICY },
  { id: 'hn22', name: 'TRANSFER_ENCODING (upper case) with a real CL', raw: POST(`TRANSFER_ENCODING: chunked\r\nContent-Length: 5\r\nConnection: close\r\n`, 'hello'), expect: 'either',
    check: all(noHeader('transfer_encoding'), bodyBytes(5)),
    reason: 'an underscore form of a framing field is dropped or refused, never forwarded', source: POLICY },
]);

// ---------------------------------------------------------------------------
add('header-value', [
  { id: 'hv01', name: 'obs-fold continuing TE', raw: SMUGGLE('Transfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'obs-fold in a framing field', source: RFC + ' 5.2; ' + PS },
  { id: 'hv01b', name: 'obs-fold continuing TE, no CL', raw: SMUGGLE('Transfer-Encoding:\r\n chunked\r\n'), expect: 'refuse',
    reason: 'obs-fold in a framing field: a peer that does not unfold sees no chunked', source: RFC + ' 5.2; ' + PS },
  { id: 'hv02', name: 'obs-fold after TE chunked', raw: SMUGGLE(CHUNKED + ' x\r\n'), expect: 'refuse',
    reason: 'obs-fold: "chunked x" is not chunked', source: RFC + ' 5.2; ' + PS },
  { id: 'hv03', name: 'obs-fold in an ordinary field', raw: GET('X-Fold: a\r\n  b\r\n'), expect: 'either', check: unfolded('x-fold'),
    reason: 'obs-fold: MUST reject with 400 or replace it by SP before forwarding; never forwarded folded', source: RFC + ' 5.2; ' + HA },
  { id: 'hv04', name: 'obs-fold with a tab', raw: GET('X-Fold: a\r\n\tb\r\n'), expect: 'either', check: unfolded('x-fold'),
    reason: 'obs-fold: reject or unfold, never forwarded folded', source: RFC + ' 5.2' },
  { id: 'hv05', name: 'bare LF hiding TE after another field', raw: SMUGGLE('X: x\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'a bare LF inside a field line', source: PS },
  { id: 'hv06', name: 'bare CR hiding TE after another field', raw: SMUGGLE('X: x\rTransfer-Encoding: chunked\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'a bare CR MUST be rejected or replaced by SP', source: RFC + ' 2.2; ' + PS },
  { id: 'hv07', name: 'bare LF ending the TE field', raw: SMUGGLE('Transfer-Encoding: chunked\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'bare LF line ending', source: PS },
  { id: 'hv08', name: 'bare LF ending the head', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\n', expect: 'refuse',
    reason: 'bare LF line ending', source: PS },
  { id: 'hv09', name: 'bare LF line endings throughout', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\nHost: a\n\n', expect: 'refuse',
    reason: 'bare LF line endings', source: PS },
  { id: 'hv10', name: 'CR CR LF ending a field', raw: GET('X: y\r\r\n'), expect: 'refuse', reason: 'a bare CR', source: PS },
  { id: 'hv11', name: 'NUL in a field value', raw: GET('X-Bad: a\0b\r\n'), expect: 'refuse', reason: 'NUL MUST be refused (or replaced)', source: 'RFC 9110 5.5; ' + HG },
  { id: 'hv12', name: 'NUL at the end of a field value', raw: GET('X-Bad: ab\0\r\n'), expect: 'refuse', reason: 'NUL MUST be refused (or replaced)', source: 'RFC 9110 5.5; ' + HG },
  { id: 'hv13', name: 'bare CR inside a field value', raw: GET('X-Bad: a\rb\r\n'), expect: 'refuse', reason: 'CR MUST be refused (or replaced)', source: 'RFC 9110 5.5; ' + PS },
  { id: 'hv14', name: 'bare CR inside the Host value', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\rb\r\n\r\n', expect: 'refuse', reason: 'CR MUST be refused (or replaced)', source: PS },
  { id: 'hv15', name: 'vertical tab inside an ordinary value', raw: GET('X-Ctl: a\x0bb\r\n'), expect: 'either',
    check: (reqs) => (reqs[0] && /^a[\x0b ]b$/.test(reqs[0].headers['x-ctl'] || '') ? null : `x-ctl forwarded as ${JSON.stringify(reqs[0] && reqs[0].headers['x-ctl'])}`),
    reason: 'other CTLs are invalid but MAY be retained', source: 'RFC 9110 5.5' },
  { id: 'hv16', name: 'obs-text in an ordinary value (control)', raw: GET('X-Text: caf\xe9\r\n'), expect: 'accept',
    reason: 'obs-text is allowed in field values', source: 'RFC 9110 5.5' },
  { id: 'hv17', name: 'empty value (control)', raw: GET('X-Empty:\r\n'), expect: 'accept',
    check: (reqs) => (reqs[0] && reqs[0].headers['x-empty'] === '' ? null : 'x-empty lost'),
    reason: 'field-value may be empty', source: 'RFC 9110 5.5' },
  { id: 'hv18', name: 'Expect with an unknown expectation → 417', raw: POST('Expect: 101-dance\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse', status: [417],
    reason: 'an unknown expectation may be answered 417', source: 'RFC 9110 10.1.1' },
  { id: 'hv19', name: 'Expect: 100-continue (control)', raw: POST('Expect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n', 'hello'), expect: 'accept',
    check: all(noHeader('expect'), bodyBytes(5)), reason: 'the gateway answers Expect itself', source: 'RFC 9110 10.1.1' },
]);

// ---------------------------------------------------------------------------
const CH = (sizeLine, rest = 'hello\r\n' + Z) => POST(CHUNKED, `${sizeLine}\r\n${rest}${SMUG}`);
add('chunked-body', [
  { id: 'ck01', name: 'chunk size 0x5', raw: CH('0x5'), expect: 'refuse', reason: 'chunk-size = 1*HEXDIG', source: HG },
  { id: 'ck02', name: 'chunk size +5', raw: CH('+5'), expect: 'refuse', reason: 'chunk-size = 1*HEXDIG', source: HG },
  { id: 'ck03', name: 'chunk size -5', raw: CH('-5'), expect: 'refuse', reason: 'chunk-size = 1*HEXDIG', source: HG },
  { id: 'ck04', name: 'chunk size 1_0', raw: POST(CHUNKED, `1_0\r\n${'x'.repeat(16)}\r\n${Z}${SMUG}`), expect: 'refuse', reason: 'chunk-size = 1*HEXDIG', source: HG },
  { id: 'ck05', name: 'chunk size 0_2e', raw: POST(CHUNKED, `0_2e\r\n\r\n${SMUG}`), expect: 'refuse',
    reason: 'chunk-size = 1*HEXDIG: "0" then junk is not the last chunk', source: HG },
  { id: 'ck06', name: 'space before the chunk size', raw: CH(' 5'), expect: 'refuse', reason: 'no whitespace before chunk-size', source: HG },
  { id: 'ck07', name: 'tab before the chunk size', raw: CH('\t5'), expect: 'refuse', reason: 'no whitespace before chunk-size', source: HG },
  { id: 'ck08', name: 'space after the chunk size', raw: CH('5 '), expect: 'refuse',
    reason: 'BWS is allowed only before ";" of an extension', source: RFC + ' 7.1.1; ' + HG },
  { id: 'ck09', name: 'junk after the chunk size', raw: CH('5z'), expect: 'refuse', reason: 'chunk-size = 1*HEXDIG', source: HG },
  { id: 'ck10', name: 'chunk size overflowing 64 bits', raw: CH('10000000000000005'), expect: 'refuse', reason: 'a size that overflows must not wrap (to 5)', source: HG + '; ' + HA },
  { id: 'ck11', name: 'chunk size of 18 f', raw: CH('ffffffffffffffffff'), expect: 'refuse', reason: 'overflow', source: HG },
  { id: 'ck12', name: 'chunk size far over client_max_body_size → 413', raw: POST(CHUNKED, '7fffffffffffffff\r\nhello'), expect: 'refuse', status: [413, 400],
    reason: 'a chunk larger than the body limit is refused at its size line, not after 100 MB', source: HA + '; nginx' },
  { id: 'ck13', name: 'bare LF after the chunk size', raw: POST(CHUNKED, `5\nhello\r\n${Z}${SMUG}`), expect: 'refuse', reason: 'chunk lines end with CRLF', source: HG },
  { id: 'ck14', name: 'bare LF after the chunk data', raw: POST(CHUNKED, `5\r\nhello\n${Z}${SMUG}`), expect: 'refuse', reason: 'chunk data ends with CRLF', source: HG },
  { id: 'ck15', name: 'no CRLF after the chunk data', raw: POST(CHUNKED, `5\r\nhelloXX${Z}${SMUG}`), expect: 'refuse', reason: 'chunk data ends with CRLF', source: HG },
  { id: 'ck16', name: 'chunk data longer than its size', raw: POST(CHUNKED, `3\r\nhello\r\n${Z}${SMUG}`), expect: 'refuse', reason: 'chunk data ends with CRLF', source: HG },
  { id: 'ck17', name: 'bare LF after the last chunk', raw: POST(CHUNKED, `5\r\nhello\r\n0\n\r\n${SMUG}`), expect: 'refuse', reason: 'chunk lines end with CRLF', source: HG },
  { id: 'ck18', name: 'bare LF ending the trailer section', raw: POST(CHUNKED, `5\r\nhello\r\n0\r\n\n${SMUG}`), expect: 'refuse', reason: 'the chunked body ends with CRLF', source: HG },
  { id: 'ck19', name: 'bare CR inside a chunk extension', raw: CH('5;a\rb'), expect: 'refuse', reason: 'CR is not allowed in chunk-ext', source: HG },
  { id: 'ck20', name: 'bare LF inside a chunk extension', raw: CH('5;a\nb'), expect: 'refuse', reason: 'LF is not allowed in chunk-ext', source: HG },
  { id: 'ck21', name: 'NUL inside a chunk extension', raw: CH('5;a\0b'), expect: 'refuse', reason: 'NUL is not allowed in chunk-ext', source: HG },
  { id: 'ck22', name: 'bare LF in a trailer field', raw: POST(CHUNKED, `5\r\nhello\r\n0\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n${SMUG}`), expect: 'refuse', reason: 'bare LF in a trailer', source: HG },
  { id: 'ck23', name: 'space before the colon in a trailer', raw: POST(CHUNKED, `5\r\nhello\r\n0\r\nX : y\r\n\r\n${SMUG}`), expect: 'refuse', reason: 'as in the head', source: HG },
  { id: 'ck24', name: 'missing chunk size line', raw: POST(CHUNKED, `\r\nhello\r\n${Z}${SMUG}`), expect: 'refuse', reason: 'chunk-size = 1*HEXDIG', source: HG },
  { id: 'ck25', name: 'chunk with extensions (control)', raw: POST(CHUNKED + 'Connection: close\r\n', '5;ext=1\r\nhello\r\n0;last\r\n\r\n'), expect: 'accept', check: bodyBytes(5),
    reason: 'chunk extensions are legal (and not forwarded)', source: RFC + ' 7.1.1' },
  { id: 'ck25c', name: 'chunk with two extensions', raw: POST(CHUNKED + 'Connection: close\r\n', '5;a=1;b=2\r\nhello\r\n0\r\n\r\n'), expect: 'either', check: bodyBytes(5),
    reason: 'chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ): any number of them; legal, but llhttp 8.1 refuses it (a safe deviation, docs/security.md)', source: RFC + ' 7.1.1' },
  { id: 'ck25b', name: 'chunk extension with a quoted-string value', raw: POST(CHUNKED + 'Connection: close\r\n', '5;name="a;b c"\r\nhello\r\n' + Z), expect: 'accept', check: bodyBytes(5),
    reason: 'chunk-ext-val = token / quoted-string', source: RFC + ' 7.1.1; ' + HG },
  { id: 'ck26', name: 'trailer fields (control)', raw: POST(CHUNKED + 'Connection: close\r\n', '5\r\nhello\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n'), expect: 'accept', check: bodyBytes(5),
    reason: 'a trailer section is legal', source: RFC + ' 7.1.2' },
  { id: 'ck27', name: 'uppercase hex and leading zeros (control)', raw: POST(CHUNKED + 'Connection: close\r\n', `000A\r\n${'x'.repeat(10)}\r\n0000\r\n\r\n`), expect: 'accept', check: bodyBytes(10),
    reason: 'chunk-size = 1*HEXDIG, either case, leading zeros allowed', source: RFC + ' 7.1' },
  { id: 'ck28', name: 'several chunks, one written per read (control)', raw: [POST(CHUNKED + 'Connection: close\r\n', '3\r\nabc\r\n'), '4\r\ndefg\r\n', '0\r\n\r\n'], expect: 'accept', check: bodyBytes(7),
    reason: 'chunked framing across reads', source: RFC + ' 7.1' },
  { id: 'ck29', name: 'chunk data hiding a request (control: it is body)', raw: POST(CHUNKED, `${(Z + SMUG).length.toString(16)}\r\n${Z}${SMUG}\r\n${Z}`), expect: 'accept', close: false,
    check: bodyBytes((Z + SMUG).length), reason: 'the upstream gets the bytes as chunk data', source: PS },
  { id: 'ck30', name: 'TE chunked body then a pipelined request (control)', raw: POST(CHUNKED, `5\r\nhello\r\n${Z}`) + 'GET /api/version?tgv=@ID@&second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    expect: 'accept', statuses: [200, 200], reason: 'what follows the last chunk is the next request', source: RFC + ' 9.3.2' },
  { id: 'ck31', name: 'BWS before a chunk extension', raw: POST(CHUNKED + 'Connection: close\r\n', '5 ;a=b\r\nhello\r\n' + Z), expect: 'either', check: bodyBytes(5),
    reason: 'chunk-ext = *( BWS ";" ... ): legal, refusing is the safer reading', source: RFC + ' 7.1.1; ' + HG },
]);

// ---------------------------------------------------------------------------
add('desync', [
  { id: 'ds01', name: 'CL.TE classic (PortSwigger lab shape)', raw: `POST /echo?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED${SMUG}`, expect: 'refuse',
    reason: 'TE with CL', source: PS },
  { id: 'ds02', name: 'TE.CL classic (PortSwigger lab shape)', raw: `POST /echo?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n${(SMUG.length).toString(16)}\r\n${SMUG}\r\n${Z}`, expect: 'refuse',
    reason: 'TE with CL', source: PS },
  { id: 'ds03', name: 'TE.TE: chunked then an obfuscated TE', raw: SMUGGLE(CHUNKED + 'Transfer-encoding: x\r\nContent-Length: 5\r\n'), expect: 'refuse',
    reason: 'TE with CL, final coding not chunked', source: PS },
  { id: 'ds04', name: 'CL.0: a GET with CL whose body is a request', raw: `GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nContent-Length: ${SMUG.length}\r\nConnection: keep-alive\r\n\r\n${SMUG}`, expect: 'accept', close: false,
    reason: 'the body is body: the upstream must get it framed, never as a request', source: PS + ' (CL.0)' },
  { id: 'ds05', name: 'Connection: close then a pipelined request', raw: GET() + 'GET /api/version?tgv=@ID@&second HTTP/1.1\r\nHost: a\r\n\r\n', expect: 'accept', upstream: 1,
    reason: 'nothing after a close request is processed', source: RFC + ' 9.6' },
  { id: 'ds06', name: 'three pipelined requests (control)', raw: GET('', '') + POST('Content-Length: 5\r\n', 'hello') + GET('X-Third: 1\r\n'), expect: 'accept', statuses: [200, 200, 200],
    reason: 'pipelined requests are answered in order', source: RFC + ' 9.3.2' },
  { id: 'ds07', name: 'valid request then a CL.CL request', raw: GET('', '') + SMUGGLE('Content-Length: 0\r\nContent-Length: 5\r\n'), expect: 'refuse', before: [200], upstream: 1,
    reason: 'the bad second request is refused after the first is answered', source: HA },
  { id: 'ds08', name: 'valid request then a bad chunk size', raw: GET('', '') + CH('0x5'), expect: 'refuse', before: [200], upstream: 1,
    reason: 'the bad second request is refused after the first is answered', source: HG },
  { id: 'ds09', name: 'h2c upgrade then the HTTP/2 preface', raw: 'GET /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    expect: 'accept', upstream: 1, check: noHeader('upgrade', 'http2-settings', 'connection'),
    reason: 'h2c is not forwarded as an upgrade; the response is a normal 200 and the connection closes', source: 'BishopFox h2c smuggling; RFC 9110 7.8' },
  { id: 'ds10', name: 'h2c upgrade on a POST with a body', raw: POST('Connection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n', 'hello') + SMUG,
    expect: 'accept', upstream: 1, check: all(noHeader('upgrade'), bodyBytes(5)),
    reason: 'h2c is not forwarded; the connection ends after the response', source: 'BishopFox h2c smuggling' },
  { id: 'ds11', name: 'Upgrade without Connection: upgrade', raw: GET('Upgrade: h2c\r\n'), expect: 'accept', check: noHeader('upgrade'),
    reason: 'Upgrade is hop-by-hop and never forwarded', source: 'RFC 9110 7.8' },
  { id: 'ds12', name: 'hop-by-hop header named in Connection is dropped', raw: GET('Connection: X-Hop\r\nX-Hop: 1\r\n', ''), expect: 'accept', close: false,
    check: noHeader('x-hop', 'connection'), reason: 'fields listed in Connection are removed by intermediaries', source: 'RFC 9110 7.6.1' },
  { id: 'ds13', name: 'HTTP/1.0 POST with CL then a second request', raw: `POST /echo?tgv=@ID@ HTTP/1.0\r\nHost: a\r\nX-Mock-Echo: 1\r\nContent-Length: 5\r\n\r\nhello${SMUG}`,
    expect: 'accept', upstream: 1, check: bodyBytes(5), reason: 'HTTP/1.0 without keep-alive ends with the response; nothing after it is processed', source: RFC + ' 9.3' },
  { id: 'ds14', name: 'chunked request with CL in the trailer', raw: POST(CHUNKED + 'Connection: close\r\n', '5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n'), expect: 'either', check: bodyBytes(5),
    reason: 'framing fields in a trailer MUST NOT be used for framing', source: RFC + ' 7.1.2; ' + HG },
  { id: 'ds15', name: 'HEAD then a pipelined GET (control)', raw: 'HEAD /api/version?tgv=@ID@ HTTP/1.1\r\nHost: a\r\n\r\n' + GET(), methods: ['HEAD', 'GET'], expect: 'accept', statuses: [200, 200],
    reason: 'a HEAD response has no body: the next response must not be eaten', source: HA },
  { id: 'ds16', name: 'GET then POST chunked on one connection (control)', raw: GET('', '') + POST(CHUNKED + 'Connection: close\r\n', '5\r\nhello\r\n' + Z), expect: 'accept', statuses: [200, 200],
    reason: 'keep-alive across framings', source: RFC + ' 9.3' },
]);

// ---------------------------------------------------------------------------
add('controls', [
  { id: 'ok01', name: 'plain GET', raw: GET(), expect: 'accept', reason: 'baseline', source: RFC },
  { id: 'ok02', name: 'POST with Content-Length', raw: POST('Content-Length: 5\r\nConnection: close\r\n', 'hello'), expect: 'accept', check: bodyBytes(5), reason: 'baseline', source: RFC },
  { id: 'ok03', name: 'POST with Content-Length: 0', raw: POST('Content-Length: 0\r\nConnection: close\r\n'), expect: 'accept', check: bodyBytes(0), reason: 'baseline', source: RFC },
  { id: 'ok04', name: 'POST without a body length', raw: POST('Connection: close\r\n'), expect: 'accept', check: bodyBytes(0), reason: 'no CL and no TE: no body', source: RFC + ' 6.3' },
  { id: 'ok05', name: 'HTTP/1.0 POST with Content-Length', raw: 'POST /echo?tgv=@ID@ HTTP/1.0\r\nX-Mock-Echo: 1\r\nContent-Length: 5\r\n\r\nhello', expect: 'accept', check: bodyBytes(5), reason: 'HTTP/1.0', source: RFC },
  { id: 'ok06', name: 'HTTP/1.0 keep-alive then a second request', raw: 'GET /api/version?tgv=@ID@ HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /api/version?tgv=@ID@&second HTTP/1.0\r\n\r\n', expect: 'accept', upstream: 1,
    reason: 'tollgate ends every HTTP/1.0 exchange with the connection (docs/ARCHITECTURE.md): the second request is never read', source: RFC + ' 9.3' },
  { id: 'ok07', name: 'keep-alive: two requests, two writes', raw: [GET('', ''), GET()], expect: 'accept', statuses: [200, 200], reason: 'keep-alive', source: RFC + ' 9.3' },
  { id: 'ok08', name: 'query string with encoded bytes', raw: 'GET /api/version?tgv=@ID@&q=%00%0d%0a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', expect: 'accept',
    check: (reqs) => (reqs[0] && reqs[0].path.endsWith('&q=%00%0d%0a') ? null : `path forwarded as ${reqs[0] && reqs[0].path}`),
    reason: 'percent-encoding passes as is', source: RFC + ' 3.2' },
  { id: 'ok09', name: 'DELETE with a JSON body', raw: 'DELETE /api/delete?tgv=@ID@ HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{"model":"gone1"}', expect: 'accept',
    reason: 'methods other than GET/POST', source: RFC },
  { id: 'ok10', name: 'field name with every tchar kind', raw: GET("X-!#$%&'*+.^_`|~09az: 1\r\n"), expect: 'accept', reason: 'tchar set', source: 'RFC 9110 5.6.2' },
]);

export const vectors = V;

// One request's worth of expectations: refuse → [...before, status];
// accept → statuses.
export function expectedStatuses(v) {
  if (v.expect === 'refuse') return [...(v.before || []), v.status || ['4xx']];
  return v.statuses || [200];
}
