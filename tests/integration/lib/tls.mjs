// TLS for the integration tests.
//
// TLS mode: when TG_IT_TLS_DIR names a directory holding cert.pem and
// key.pem (scripts/test.sh makes them, and starts node with
// NODE_EXTRA_CA_CERTS pointing at cert.pem so that fetch-based clients
// trust it), every tollgate a test starts serves TLS with that certificate
// and every client helper (RawConn, request, wsUrl, connectSocket) speaks
// TLS to it: the same tests run over both transports.
//
// makeCert: a certificate for the TLS tests themselves (openssl CLI).
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.TG_IT_TLS_DIR;
export const TLS = dir && existsSync(path.join(dir, 'cert.pem'))
  ? { dir, cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), ca: readFileSync(path.join(dir, 'cert.pem')) }
  : null;

// The ports of the tollgates started in TLS mode: client helpers speak TLS
// to these and plain HTTP to every other port (the mock, admin listeners).
// A count per port: a restart on the same port may begin before the old
// process's exit is seen.
const tlsPorts = new Map();
export const isTlsPort = (port) => !!TLS && (tlsPorts.get(Number(port)) || 0) > 0;
export function tlsPortOpen(port) { tlsPorts.set(Number(port), (tlsPorts.get(Number(port)) || 0) + 1); }
export function tlsPortClosed(port) {
  port = Number(port);
  const n = (tlsPorts.get(port) || 0) - 1;
  if (n > 0) tlsPorts.set(port, n);
  else tlsPorts.delete(port);
}

// Writes NAME.pem and NAME.key into dir: a self-signed certificate for the
// DNS names (and 127.0.0.1), EC P-256 unless rsa is set. Returns the paths.
export function makeCert(dir, name, { names = [name], days = 30, rsa = false, ip = true } = {}) {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  const san = names.map((n) => `DNS:${n}`).concat(ip ? ['IP:127.0.0.1'] : []).join(',');
  const keyArgs = rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', key, '-out', cert,
    '-days', String(days), '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`], { stdio: 'pipe' });
  return { cert, key, pem: readFileSync(cert) };
}

// Adds TLS to a config text written for a plain listener: every
// `listen ADDR;` in a site becomes `listen ADDR tls;` and the site gets
// the mode's certificate.
export function tlsConfig(text) {
  return text
    .replace(/(\blisten\s+[^\s;]+)\s*;/g, '$1 tls;')
    .replace(/(\bsite\s+[^\s{]+\s*\{)/g, `$1\n  tls cert ${TLS.cert} key ${TLS.key};`);
}

// A config text for a running tollgate's reload: TLS added when it serves TLS.
export const configFor = (tg, text) => (tg.tls ? tlsConfig(text) : text);
