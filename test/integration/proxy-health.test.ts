import assert from 'node:assert/strict';
import { waitFor } from '../helpers/wait.js';
import { backend, endpoint, frontend, model, Resources, whoAnswers } from './proxy-harness.js';

describe('proxy health: passive ejection and active checks', () => {
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('ejects an endpoint after consecutive connect failures, then takes it back once it answers', async () => {
    const live = await res.namedServer('live');
    const flakyPort = await res.deadPort();
    const engine = res.engine();
    const passiveEjection = { consecutiveFailures: 2, baseEjectMs: 500, maxEjectMs: 4000 };
    await engine.apply(model([frontend('p')], [backend('p', [endpoint(flakyPort), endpoint(live.port)], { passiveEjection })]));
    const port = engine.frontendPort('p')!;
    const flaky = engine.pool('p')!.endpoints.find((e) => e.port === flakyPort)!;
    for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(port), 'live', 'retries hide the dead endpoint from clients');
    assert.equal(flaky.ejected, true, 'two refusals in a row eject it');
    const refusals = flaky.errors.connectRefused;
    for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(port), 'live');
    assert.equal(flaky.errors.connectRefused, refusals, 'an ejected endpoint gets no attempts');
    // It comes back on the same port: after the ejection time it is tried again and succeeds.
    await res.namedServer('back', flakyPort);
    await waitFor('the ejection to end', () => !flaky.ejected, { timeoutMs: 5000, intervalMs: 50 });
    await waitFor('the recovered endpoint to answer', async () => (await whoAnswers(port)) === 'back', { timeoutMs: 5000 });
    assert.equal(flaky.ejections, 0, 'a success resets the backoff');
  });

  it('ejection time doubles while an endpoint keeps failing', async () => {
    const live = await res.namedServer('live');
    const deadPort = await res.deadPort();
    const engine = res.engine();
    const passiveEjection = { consecutiveFailures: 1, baseEjectMs: 300, maxEjectMs: 10_000 };
    await engine.apply(model([frontend('b')], [backend('b', [endpoint(deadPort), endpoint(live.port)], { passiveEjection })]));
    const dead = engine.pool('b')!.endpoints.find((e) => e.port === deadPort)!;
    const spans: number[] = [];
    for (let round = 0; round < 2; round++) {
      await waitFor('a connection to hit the dead endpoint', async () => {
        await whoAnswers(engine.frontendPort('b')!);
        return dead.ejected;
      });
      spans.push(dead.ejectMs);
      await waitFor('the ejection to end', () => !dead.ejected, { timeoutMs: 5000, intervalMs: 50 });
    }
    assert.deepEqual(spans, [300, 600]);
    assert.equal(dead.ejections, 2);
  });

  it('active tcp checks take an endpoint out after `fall` failures and back after `rise` successes', async () => {
    const stable = await res.namedServer('stable');
    let flaky = await res.namedServer('flaky', await res.deadPort()); // below the ephemeral range: no self-connect once closed
    const flakyPort = flaky.port;
    const engine = res.engine();
    const healthCheck = { type: 'tcp' as const, intervalMs: 100, rise: 2, fall: 2, timeoutMs: 100 };
    await engine.apply(model([frontend('h')], [backend('h', [endpoint(stable.port), endpoint(flakyPort)], { healthCheck })]));
    const port = engine.frontendPort('h')!;
    const ep = engine.pool('h')!.endpoints.find((e) => e.port === flakyPort)!;
    await waitFor('probes to reach the flaky endpoint', () => flaky.accepted() >= 2);
    assert.equal(ep.healthy, true);
    await flaky.close();
    await waitFor('the endpoint to be marked down', () => !ep.healthy, { timeoutMs: 5000 });
    const refusedBefore = ep.errors.connectRefused;
    for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(port), 'stable');
    assert.equal(ep.errors.connectRefused, refusedBefore, 'no client connection is tried on a down endpoint');
    flaky = await res.namedServer('flaky', flakyPort);
    await waitFor('the endpoint to be marked up again', () => ep.healthy, { timeoutMs: 5000 });
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 4; i++) seen.add(await whoAnswers(port));
    assert.deepEqual([...seen].sort(), ['flaky', 'stable']);
  });

  it('when every endpoint is down, connections are reset at once', async () => {
    let only = await res.namedServer('only', await res.deadPort());
    const engine = res.engine();
    const healthCheck = { type: 'tcp' as const, intervalMs: 100, rise: 1, fall: 1, timeoutMs: 100 };
    await engine.apply(model([frontend('d')], [backend('d', [endpoint(only.port)], { healthCheck })]));
    const ep = engine.pool('d')!.endpoints[0]!;
    await only.close();
    await waitFor('the endpoint to be down', () => !ep.healthy, { timeoutMs: 5000 });
    assert.equal(await whoAnswers(engine.frontendPort('d')!), undefined);
    assert.equal(engine.frontend('d')!.ctx.stats.rejected.noEndpoint, 1);
    only = await res.namedServer('only', ep.port);
    await waitFor('the endpoint to be up again', () => ep.healthy, { timeoutMs: 5000 });
    assert.equal(await whoAnswers(engine.frontendPort('d')!), 'only');
  });
});
