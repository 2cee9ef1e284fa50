/**
 * The speakers' membership key Secret (`memberlist`, key `secretkey`, as MetalLB names them):
 * its name, and a new one with a random key. Pure: the caller gives the random bytes. The
 * allocator creates it when it is missing (allocator/memberlist-secret.ts), the lab at start;
 * the speakers read it (speaker/membership/keys.ts).
 */

export const MEMBERLIST_SECRET_NAME = 'memberlist';
/** Random bytes behind a new key: 256 bits. */
export const MEMBERLIST_KEY_BYTES = 32;

export interface MemberlistSecret {
  readonly apiVersion: 'v1';
  readonly kind: 'Secret';
  readonly type: 'Opaque';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>> };
  readonly data: Readonly<Record<string, string>>;
}

/**
 * A memberlist Secret whose key is `random` as base64 text, the same material
 * `kubectl create secret generic memberlist --from-literal=secretkey=$(openssl rand -base64 32)`
 * gives; `previous` (already base64 data) keeps an older key accepted during a rotation.
 */
export function newMemberlistSecret(namespace: string, random: Uint8Array, previous?: string): MemberlistSecret {
  const data: Record<string, string> = { secretkey: Buffer.from(Buffer.from(random).toString('base64')).toString('base64') };
  if (previous !== undefined) data['secretkey-previous'] = previous;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: MEMBERLIST_SECRET_NAME, namespace, labels: { 'app.kubernetes.io/part-of': 'fulcrum' } },
    data,
  };
}
