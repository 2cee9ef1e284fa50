/**
 * The membership wire protocol's messages, as data. codec.ts turns them into bytes.
 * Every packet carries its sender's name and incarnation, plus piggybacked updates.
 */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/** What one member believes about another. `by` is the accuser of a suspicion, else ''. */
export interface Update {
  readonly name: string;
  readonly state: MemberState;
  readonly incarnation: number;
  readonly by: string;
}

/**
 * ping: "are you `target`? ack `seq`". ack: the answer (relayed by a helper for an indirect
 * probe). pingReq: "probe `target` for me, ack my `seq`". nack: a helper's "no answer from the
 * target" (Lifeguard: a missing nack means our own side is slow). gossip: updates only.
 */
export type PacketType = 'ping' | 'ack' | 'pingReq' | 'nack' | 'gossip';

export interface Packet {
  readonly type: PacketType;
  readonly from: string;
  readonly incarnation: number;
  /** 0 for gossip. */
  readonly seq: number;
  /** The probed member for ping and pingReq, else ''. */
  readonly target: string;
  readonly updates: readonly Update[];
}

export interface Outgoing {
  readonly to: string;
  readonly packet: Packet;
}
