/**
 * The proxy's own answers to a client: its error responses and its https redirect, as latin1
 * text ready to write (head and body). Pure; the error responses are built once, at load.
 */

export type ErrorStatus = 400 | 404 | 408 | 413 | 431 | 501 | 502 | 503 | 504 | 505;

const ERROR_TEXTS: Readonly<Record<ErrorStatus, readonly [string, string]>> = {
  400: ['Bad Request', 'The request is malformed or ambiguous.'],
  404: ['Not Found', 'No route matches this host and path.'],
  408: ['Request Timeout', 'The request did not arrive in time.'],
  413: ['Content Too Large', 'The request body is too large.'],
  431: ['Request Header Fields Too Large', 'The request headers are too large or too many.'],
  501: ['Not Implemented', 'This proxy does not implement what the request asks for.'],
  502: ['Bad Gateway', 'The endpoint failed or answered something invalid.'],
  503: ['Service Unavailable', 'No endpoint is available.'],
  504: ['Gateway Timeout', 'The endpoint did not answer in time.'],
  505: ['HTTP Version Not Supported', 'Only HTTP/1.0 and HTTP/1.1 are served here.'],
};

/** Each response built once, at load, in its keep-alive and its closing form. */
const ERROR_RESPONSES = new Map<ErrorStatus, readonly [string, string]>(
  (Object.keys(ERROR_TEXTS) as `${ErrorStatus}`[]).map((key) => {
    const status = Number(key) as ErrorStatus;
    const [text, body] = ERROR_TEXTS[status];
    const start = `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length + 1}\r\nCache-Control: no-store\r\n`;
    return [status, [`${start}\r\n${body}\n`, `${start}Connection: close\r\n\r\n${body}\n`]] as const;
  }),
);

/** The proxy's own answer: a short text body, `Connection: close` unless the connection stays open. */
export function errorResponse(status: ErrorStatus, keepAlive: boolean): string {
  const forms = ERROR_RESPONSES.get(status);
  if (forms === undefined) throw new Error(`incoherent error status ${status}`);
  return keepAlive ? forms[0] : forms[1];
}

/** A 308 to `location` (an https redirect keeps the method and body, unlike 301). */
export function redirectResponse(location: string, keepAlive = true): string {
  if (location === '' || /[\x00-\x20\x7f]/.test(location)) throw new Error(`incoherent redirect location ${JSON.stringify(location)}`);
  return `HTTP/1.1 308 Permanent Redirect\r\nLocation: ${location}\r\nContent-Length: 0\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`;
}
