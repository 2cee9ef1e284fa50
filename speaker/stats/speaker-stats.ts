/**
 * The speaker's side of the stats page: thin wrappers around the ports the controller already
 * drives (the served table, the proxy, the handoff), so the page learns what was applied
 * without a line in the controller. Each wrapper passes the call on unchanged and records
 * after it succeeded; nothing runs per connection. `read` gives the page everything but the
 * metrics (http.ts adds those).
 */
import type { ProxyModel } from '../proxy/model.js';
import type { ProxyPort } from '../proxy-port.js';
import type { SpeakerPlan } from '../plan/addresses.js';
import type { HandoffEntry, HandoffPort } from '../vip/handoff.js';
import { OwnershipJournal, RecordingServedAddresses } from './journal.js';
import type { StatsSource } from './http.js';
import type { StatsInput } from './snapshot.js';

const NOTHING: ProxyModel = { workers: 1, frontends: [], backends: [] };

export class SpeakerStats implements StatsSource {
  readonly journal: OwnershipJournal;
  /** Hand this to the controller and the responder in place of a plain ServedAddresses. */
  readonly served: RecordingServedAddresses;
  readonly #node: string;
  readonly #startedMs: number;
  #model: ProxyModel = NOTHING;
  #plan: () => SpeakerPlan | undefined = () => undefined;

  constructor(node: string, opts: { now?: () => number } = {}) {
    const now = opts.now ?? Date.now;
    this.#node = node;
    this.#startedMs = now();
    this.journal = new OwnershipJournal({ now });
    this.served = new RecordingServedAddresses(this.journal);
  }

  /** The proxy port, remembering the model it last applied and telling when an address has drained. */
  proxy(port: ProxyPort): ProxyPort {
    return {
      apply: async (model) => {
        await port.apply(model);
        this.#model = model;
      },
      stop: (drainTimeoutMs) => port.stop(drainTimeoutMs),
      drained: async (address) => {
        await port.drained(address);
        this.journal.record('drained', address, 'its connections finished (or the drain deadline cut them); the address comes off lo');
      },
    };
  }

  /** The handoff port, recording each takeover whose open connections go to the previous owner. */
  handoff(port: HandoffPort & { readonly enabled?: boolean }): HandoffPort {
    return {
      forward: async (entries: readonly HandoffEntry[], forMs: number) => {
        await port.forward(entries, forMs);
        const detail = port.enabled === false
          ? (to: string) => `the previous owner ${to} still runs, but nftables is unavailable here: its open connections get a reset`
          : (to: string) => `connections this node does not know go to the previous owner ${to} for ${Math.ceil(forMs / 1000)} s while it drains`;
        for (const e of entries) this.journal.record('handoffStarted', e.address, detail(e.to));
      },
    };
  }

  /** Where the Services of each owned address come from (the controller's last plan). */
  followPlan(plan: () => SpeakerPlan | undefined): void {
    this.#plan = plan;
  }

  read(): Omit<StatsInput, 'metrics' | 'nowMs'> {
    const plan = this.#plan();
    const owned = this.served.addresses().map((address) => ({
      address,
      sinceMs: this.journal.sinceMs(address) ?? this.#startedMs,
      interfaces: [...(this.served.get(address) ?? [])],
      services: [...(plan?.addresses.get(address)?.services ?? [])],
    }));
    return { program: 'speaker', node: this.#node, startedMs: this.#startedMs, model: this.#model, ownership: { owned, events: this.journal.events() } };
  }
}
