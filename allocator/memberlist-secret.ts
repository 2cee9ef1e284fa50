import { randomBytes } from 'node:crypto';
import type { Logger } from '../src/log.js';
import type { V1Secret } from '@kubernetes/client-node';
import type { ApiClients } from '../src/k8s/client.js';
import { classifyApiError, describeApiFailure, isConflict, isNotFound } from '../src/k8s/api-error.js';
import { MEMBERLIST_KEY_BYTES, newMemberlistSecret } from '../src/memberlist-secret.js';

/** After a failed attempt (RBAC, API away), the next one; the speakers wait for the Secret meanwhile. */
const RETRY_MS = 10_000;

/**
 * The leader makes the speakers' memberlist Secret when it is missing, with a random key, as
 * MetalLB's controller does: an install from config/ or the chart then needs no manual step,
 * and a key the user made (or rotated) is never touched. Adapter: the decision is "absent →
 * create"; a 409 means another replica won the race.
 */
export class MemberlistSecretKeeper {
  readonly #clients: ApiClients;
  readonly #namespace: string;
  readonly #name: string;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #active = false;

  constructor(o: { clients: ApiClients; namespace: string; name: string; logger: Logger }) {
    this.#clients = o.clients;
    this.#namespace = o.namespace;
    this.#name = o.name;
    this.#log = o.logger.child({ part: 'memberlist' });
  }

  /** While leading: make sure the Secret exists (retried every 10 s until it does). */
  start(): void {
    this.#active = true;
    void this.#ensure();
  }

  stop(): void {
    this.#active = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #ensure(): Promise<void> {
    if (!this.#active) return;
    const where = `${this.#namespace}/${this.#name}`;
    try {
      try {
        await this.#clients.core.readNamespacedSecret({ namespace: this.#namespace, name: this.#name });
        this.#log.debug({ event: 'memberlistSecretPresent', secret: where }, 'memberlist Secret present');
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const secret = newMemberlistSecret(this.#namespace, randomBytes(MEMBERLIST_KEY_BYTES));
      await this.#clients.core.createNamespacedSecret({ namespace: this.#namespace, body: { ...secret, metadata: { ...secret.metadata, name: this.#name } } as V1Secret });
      this.#log.info({ event: 'memberlistSecretCreated', secret: where }, `created the speakers' membership key Secret ${where} with a random key`);
    } catch (err) {
      if (isConflict(err)) return; // another replica made it first
      this.#log.error({ event: 'memberlistSecretFailed', secret: where, reason: describeApiFailure(classifyApiError(err)) }, `could not make the speakers' membership key Secret ${where} (retrying in ${RETRY_MS / 1000} s): ${describeApiFailure(classifyApiError(err))}`);
      if (this.#active) {
        this.#timer = setTimeout(() => void this.#ensure(), RETRY_MS);
        this.#timer.unref();
      }
    }
  }
}
