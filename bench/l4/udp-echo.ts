// UDP echo backend for the UDP request/response workload: `node udp-echo.js HOST PORT`.
// Sends every datagram back to its sender as is; prints "ready PORT" once bound. The harness
// stops it with SIGTERM; `timeout` caps its lifetime in case the harness dies first.
import { createSocket, type RemoteInfo } from 'node:dgram';

const [host = '127.0.0.1', portText = '0'] = process.argv.slice(2);
const sock = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });

function onMessage(msg: Buffer, rinfo: RemoteInfo): void {
  sock.send(msg, rinfo.port, rinfo.address);
}

sock.on('message', onMessage);
sock.bind(Number(portText), host, () => {
  process.stdout.write(`ready ${sock.address().port}\n`);
});
process.on('SIGTERM', () => sock.close(() => process.exit(0)));
