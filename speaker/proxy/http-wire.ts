/**
 * Small pieces of the HTTP wire the exchange uses, with no state of their own: the sticky
 * cookie (read from the request's Cookie headers, written as a Set-Cookie value) and corking a
 * socket until the end of the current turn so a head and its body leave in one write.
 */
import type net from 'node:net';

/** The value of cookie `name` in the request's Cookie headers, if any. */
export function stickyCookieValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length !== 6 || headers[i]!.toLowerCase() !== 'cookie') continue;
    for (const part of headers[i + 1]!.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}

/** The Set-Cookie value naming the endpoint a client sticks to (not readable by scripts). */
export function stickyCookie(name: string, endpointId: string): string {
  return `${name}=${endpointId}; Path=/; HttpOnly`;
}

const kCorked = Symbol('fulcrum.corked');
type Corkable = net.Socket & { [kCorked]?: boolean };

/**
 * Holds a socket's writes until the current turn of the event loop ends, then sends them in one
 * writev: a response head and its body (or a request head and its body) read from one chunk go
 * out in one system call instead of one each (node:http does the same).
 */
export function corkUntilTick(socket: net.Socket): void {
  const s = socket as Corkable;
  if (s[kCorked] === true) return;
  s[kCorked] = true;
  s.cork();
  process.nextTick(uncork, s);
}

function uncork(s: Corkable): void {
  s[kCorked] = false;
  s.uncork();
}
