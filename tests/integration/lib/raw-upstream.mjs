// A raw upstream, for tests that need exact bytes on the wire: a TCP
// server that reads each request (its head, and a Content-Length or
// chunked body, as it came) and lets the test answer it:
// onRequest(socket, target, conn, head, body), conn the connection's
// number (1, 2... in the order accepted), head and body latin1 strings.
// Every request is logged as { conn, target }; `sockets` holds the open ones.
import net from 'node:net';

export function startRawUpstream(onRequest) {
  const log = [];
  const sockets = new Set();
  let nconn = 0;
  const srv = net.createServer((s) => {
    const conn = ++nconn;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const head = buf.subarray(0, i).toString('latin1');
        let length = Number((/\r\ncontent-length: *(\d+)/i.exec(head) || [0, 0])[1]);
        if (/\r\ntransfer-encoding: *chunked/i.test(head)) { // no trailers here
          const end = buf.indexOf('\r\n0\r\n\r\n', i + 2);
          if (end < 0) return;
          length = end + 7 - (i + 4);
        }
        if (buf.length < i + 4 + length) return;
        const body = buf.subarray(i + 4, i + 4 + length).toString('latin1');
        buf = buf.subarray(i + 4 + length);
        const target = head.split(' ')[1] || '';
        log.push({ conn, target });
        onRequest(s, target, conn, head, body);
      }
    });
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => resolve({
      port: srv.address().port,
      log,
      sockets,
      close: () => new Promise((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }),
    }));
  });
}
