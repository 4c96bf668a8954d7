import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Proxy {
  /** `http://127.0.0.1:<port>` plus the target URL's path. */
  url: string;
  /**
   * The next response to a request whose first line matches `pattern` is cut off with a TCP reset
   * after `afterBytes` bytes of it: a connection reset in the middle of a download.
   */
  cutNext(pattern: RegExp, afterBytes: number): void;
  /** Like cutNext, but the response just stops after `afterBytes`: the connection stays open and silent. */
  stallNext(pattern: RegExp, afterBytes: number): void;
  /** How many responses were cut. */
  readonly cuts: number;
  stop(): Promise<void>;
}

/** A loopback TCP proxy in front of `target` (an http:// URL) that can cut a download short. */
export async function startProxy(target: string): Promise<Proxy> {
  const url = new URL(target);
  let armed: { pattern: RegExp; afterBytes: number; stall: boolean } | null = null;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    const upstream = connect(Number(url.port), url.hostname);
    sockets.add(upstream);
    let cutAfter: number | null = null;
    let stall = false;
    let seen = 0;
    client.on('data', (chunk: Buffer) => {
      const line = chunk.subarray(0, Math.min(chunk.length, 2048)).toString('latin1').split('\r\n')[0] ?? '';
      if (armed !== null && armed.pattern.test(line)) {
        cutAfter = armed.afterBytes;
        stall = armed.stall;
        seen = 0;
        armed = null;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutAfter !== null) {
        seen += chunk.length;
        if (seen > cutAfter) {
          if (seen - chunk.length <= cutAfter) {
            cuts += 1;
            client.write(chunk.subarray(0, chunk.length - (seen - cutAfter)));
          }
          if (stall) return;
          client.resetAndDestroy();
          upstream.destroy();
          return;
        }
      }
      client.write(chunk);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}${url.pathname === '/' ? '' : url.pathname}`,
    cutNext(pattern, afterBytes) {
      armed = { pattern, afterBytes, stall: false };
    },
    stallNext(pattern, afterBytes) {
      armed = { pattern, afterBytes, stall: true };
    },
    get cuts() {
      return cuts;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface BlackHole {
  /** `http://127.0.0.1:<port>`: accepts connections, reads requests, never answers. */
  url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  stop(): Promise<void>;
}

/** A server that accepts connections and never answers: what a hung storage endpoint looks like. */
export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    get connections() {
      return connections;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
