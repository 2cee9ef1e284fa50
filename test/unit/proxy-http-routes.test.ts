import assert from 'node:assert/strict';
import { RouteTable, prefixMatches } from '../../speaker/proxy/http-routes.js';
import type { Route } from '../../speaker/proxy/model.js';

const route = (backend: string, hosts: string[] = [], pathPrefix = '/'): Route => ({ match: { kind: 'http', hosts, pathPrefix }, backend });

const ROUTES: Route[] = [
  route('any'),
  route('api-any', [], '/api'),
  route('a', ['a.example.com']),
  route('a-api', ['a.example.com'], '/api'),
  route('a-api-v2', ['a.example.com'], '/api/v2'),
  route('wild-b', ['*.b.example.com']),
  route('wild-deep', ['*.x.b.example.com']),
  route('wild-b-static', ['*.b.example.com'], '/static'),
  route('first-dup', ['dup.example.com']),
  route('second-dup', ['dup.example.com']),
  route('upper', ['Upper.Example.COM']),
];

const rows: Array<{ name: string; host: string; path: string; want: string | undefined }> = [
  { name: 'an exact host takes its default route', host: 'a.example.com', path: '/', want: 'a' },
  { name: 'the longest path prefix of the host wins', host: 'a.example.com', path: '/api/v2/users', want: 'a-api-v2' },
  { name: 'a prefix matches the path itself', host: 'a.example.com', path: '/api', want: 'a-api' },
  { name: 'a prefix matches at a segment boundary only (/apix is not /api)', host: 'a.example.com', path: '/apix', want: 'a' },
  { name: 'a query right after the prefix still matches it', host: 'a.example.com', path: '/api?x=1', want: 'a-api' },
  { name: 'a wildcard host matches one label before its suffix', host: 'c.b.example.com', path: '/', want: 'wild-b' },
  { name: 'a wildcard host matches several labels too', host: 'd.c.b.example.com', path: '/', want: 'wild-b' },
  { name: 'the longest wildcard suffix wins', host: 'y.x.b.example.com', path: '/', want: 'wild-deep' },
  { name: 'a wildcard does not match its bare suffix', host: 'b.example.com', path: '/', want: 'any' },
  { name: 'within a wildcard the longest prefix wins', host: 'c.b.example.com', path: '/static/app.js', want: 'wild-b-static' },
  { name: 'an unknown host goes to the routes without hosts', host: 'unknown.example.org', path: '/', want: 'any' },
  { name: 'the routes without hosts honour path prefixes', host: 'unknown.example.org', path: '/api/x', want: 'api-any' },
  { name: 'two routes for the same host and prefix: the first in the model', host: 'dup.example.com', path: '/', want: 'first-dup' },
  { name: 'hosts in the model are matched case-insensitively (the request host comes lower case)', host: 'upper.example.com', path: '/', want: 'upper' },
];

describe('RouteTable: Host and path to a route', () => {
  const table = new RouteTable(ROUTES, (r) => r.backend);
  for (const row of rows) {
    it(row.name, () => assert.equal(table.match(row.host, row.path), row.want, `match(${row.host}, ${row.path})`));
  }

  it('an exact host whose prefixes do not match the path falls through to the wildcard, then to the default tier', () => {
    const t = new RouteTable([route('exact-api', ['h.example.com'], '/api'), route('wild', ['*.example.com']), route('default', [], '/')], (r) => r.backend);
    assert.equal(t.match('h.example.com', '/other'), 'wild');
    const u = new RouteTable([route('exact-api', ['h.example.com'], '/api'), route('default', [], '/')], (r) => r.backend);
    assert.equal(u.match('h.example.com', '/other'), 'default');
  });

  it('no route at all: undefined (404)', () => {
    const t = new RouteTable([route('only', ['a.example.com'])], (r) => r.backend);
    assert.equal(t.match('b.example.com', '/'), undefined);
  });

  it('an L4 route (kind any) counts as a route without hosts for prefix /', () => {
    const t = new RouteTable([{ match: { kind: 'any' }, backend: 'web' }], (r) => r.backend);
    assert.equal(t.match('whatever', '/x'), 'web');
  });

  it('prefixMatches: / matches everything; a trailing slash in the prefix is the same prefix', () => {
    assert.equal(prefixMatches('/', '/anything'), true);
    const t = new RouteTable([route('api', [], '/api/')], (r) => r.backend);
    assert.equal(t.match('h', '/api'), 'api');
  });
});
