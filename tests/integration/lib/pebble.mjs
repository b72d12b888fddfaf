// Debian's pebble (a test ACME server) and pebble-challtestsrv (its DNS
// server, answering 127.0.0.1 for every name, so pebble validates against
// tollgate's own ports). Notes: /work/shared/notes/acme-testing.md.
//   const pb = await startPebble(t, { httpPort, tlsPort, env, validitySeconds });
//   pb.directory, pb.caFile (pebble's own TLS cert, for ca_bundle), await pb.root()
//   const plan = await pebblePlan(t); ...config with plan.directory, plan.caFile...; startPebble(t, { plan })
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { Proc, freePort, waitConnectable } from './proc.mjs';

function findBin(name) {
  for (const d of ['/usr/bin', '/usr/local/bin', ...(process.env.PATH || '').split(':')]) {
    if (d && existsSync(path.join(d, name))) return path.join(d, name);
  }
  throw new Error(`${name} is not installed: apt-get install -y pebble (make test installs it through TEST_PKGS)`);
}

// pebble's own TLS certificate: EC P-256, self-signed, for localhost and 127.0.0.1.
function makeServerCert(dir) {
  const cert = path.join(dir, 'pebble-tls.pem');
  const key = path.join(dir, 'pebble-tls.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

async function startProc(t, name, bin, args, port, env) {
  const p = new Proc(name, bin, args, { env });
  t.procs.push(p);
  const deadline = Date.now() + 10000;
  for (;;) {
    if (p.exited) throw new Error(`${name} exited (code ${p.exitCode}): ${p.stderr.slice(-800)}${p.stdout.slice(-800)}`);
    try {
      await waitConnectable(port, 200);
      return p;
    } catch {
      if (Date.now() > deadline) throw new Error(`${name} does not listen on ${port}: ${p.stdout.slice(-800)}`);
    }
  }
}

function get(url, ca) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

// Where a pebble started later will be: its directory URL and TLS certificate
// file, for a tollgate config written before pebble runs.
export async function pebblePlan(t) {
  const dir = t.tmpDir();
  const listen = await freePort();
  const tls = makeServerCert(dir);
  return { dir, listen, tls, directory: `https://127.0.0.1:${listen}/dir`, caFile: tls.cert };
}

export async function startPebble(t, { httpPort, tlsPort, env = {}, validitySeconds, plan } = {}) {
  const dir = plan ? plan.dir : t.tmpDir();
  const tls = plan ? plan.tls : makeServerCert(dir);
  const [listen, mgmt, dns, dnsMgmt] = [plan ? plan.listen : await freePort(), await freePort(), await freePort(), await freePort()];
  await startProc(t, 'pebble-challtestsrv', findBin('pebble-challtestsrv'), ['-defaultIPv4', '127.0.0.1',
    '-defaultIPv6', '', '-dns01', `127.0.0.1:${dns}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${dnsMgmt}`], dnsMgmt);
  const conf = {
    pebble: {
      listenAddress: `127.0.0.1:${listen}`, managementListenAddress: `127.0.0.1:${mgmt}`,
      certificate: tls.cert, privateKey: tls.key, httpPort: httpPort ?? 5002, tlsPort: tlsPort ?? 5001,
      ocspResponderURL: '', externalAccountBindingRequired: false,
      ...(validitySeconds ? { certificateValidityPeriod: validitySeconds } : {}),
    },
  };
  const file = path.join(dir, 'pebble.json');
  writeFileSync(file, JSON.stringify(conf));
  const proc = await startProc(t, 'pebble', findBin('pebble'), ['-config', file, '-dnsserver', `127.0.0.1:${dns}`],
    listen, { PEBBLE_VA_NOSLEEP: '1', ...env });
  const caPem = tls.cert;
  return {
    proc,
    dir,
    directory: `https://127.0.0.1:${listen}/dir`,
    caFile: caPem,
    // pebble's issuing root, PEM (it makes a new one at every start)
    async root() {
      const { readFileSync } = await import('node:fs');
      const r = await get(`https://127.0.0.1:${mgmt}/roots/0`, readFileSync(caPem));
      if (r.status !== 200) throw new Error(`pebble /roots/0 answered ${r.status}`);
      return r.body;
    },
  };
}
