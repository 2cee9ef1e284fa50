import client from 'prom-client';

/**
 * The one Prometheus registry of a process. Every component registers its metrics here; the
 * programs serve it on their metrics port. Names start with `fulcrum_`.
 */
export const registry = new client.Registry();

let defaultsCollected = false;
/** Process metrics (CPU, RSS, event-loop lag); called once by long-running programs. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  client.collectDefaultMetrics({ register: registry, prefix: 'fulcrum_' });
}

/**
 * Returns the metric of that name if one is registered already, else makes it with `make`.
 * Lets a module be loaded twice (tests) or several instances share one series family.
 */
export function metric<T extends client.Metric<string>>(name: string, make: () => T): T {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as T;
  return make();
}

export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): client.Counter<L> {
  return metric(name, () => new client.Counter<L>({ name, help, labelNames, registers: [registry] }));
}

export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): client.Gauge<L> {
  return metric(name, () => new client.Gauge<L>({ name, help, labelNames, registers: [registry] }));
}

/** Fills a metric when it is scraped (prom-client calls `collect`): for values read, not counted. */
export function onCollect<M extends client.Counter<string> | client.Gauge<string>>(metric: M, fill: (this: M) => void): M {
  (metric as unknown as { collect: () => void }).collect = fill.bind(metric);
  return metric;
}

export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
): client.Histogram<L> {
  return metric(name, () => new client.Histogram<L>({ name, help, labelNames, buckets, registers: [registry] }));
}
