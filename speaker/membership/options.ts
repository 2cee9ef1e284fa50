import { FulcrumError } from '../../src/errors.js';

/**
 * Timing and fan-out of the failure detector. Defaults aim at a crashed peer seen dead by
 * every member in ≤ 0.4 s p95 (bench/membership.ts measures it) at a constant ~40 packets per
 * second per node whatever the cluster size. speaker/membership/README.md explains each figure.
 */
export interface MembershipOptions {
  /** One probe per node per round; rounds are wall-clock aligned (floor(now / interval)). */
  readonly probeIntervalMs: number;
  /** Wait this long for a direct ack before asking helpers for indirect probes (× local health). */
  readonly directTimeoutMs: number;
  /** Wait this long in all for any ack before suspecting the target (× local health). */
  readonly probeTimeoutMs: number;
  /** Helpers asked to probe the target on our behalf (SWIM's k). */
  readonly indirectProbes: number;
  /** A failed probe is first told to the accused only; it goes public after this without an answer. */
  readonly accusationGraceMs: number;
  /** Lifeguard suspicion timeout: from max (no confirmation) down to min (K confirmations). */
  readonly suspicionMinMs: number;
  readonly suspicionMaxMs: number;
  /** Lifeguard's K: independent accusers after which the suspicion runs for suspicionMinMs. */
  readonly suspicionConfirmations: number;
  /** Members a suspect/dead/left/refute update is sent to at once, by everyone who learns it. */
  readonly gossipFanout: number;
  /** Updates piggybacked on one packet, at most. */
  readonly maxPiggyback: number;
  /** An update is piggybacked retransmitMult × ceil(log10(n + 1)) times (memberlist's rule). */
  readonly retransmitMult: number;
  /** Lifeguard local health multiplier ceiling: timeouts and probe period grow up to (1 + this)×. */
  readonly maxLocalHealth: number;
  /** No packet from any peer for this long, while at least isolationMinPeers are up: isolated. */
  readonly isolationMs: number;
  /** Up peers that must all fall silent at once for the fast isolation verdict (see README). */
  readonly isolationMinPeers: number;
  /** After hearing peers again, stay out of elections this long while the view settles. */
  readonly rejoinSettleMs: number;
  /** A tick this much later than asked for means this node was not running: judge nobody on it. */
  readonly stallThresholdMs: number;
}

export const DEFAULT_MEMBERSHIP_OPTIONS: MembershipOptions = Object.freeze({
  // A crash waits at most one round for its probe: 50 ms keeps failover under the interim
  // all-to-all heartbeats' (bench:failover) at a constant 40 datagrams/s per node.
  probeIntervalMs: 50,
  // LAN round trips are well under 1 ms; the rest is room for a busy event loop.
  directTimeoutMs: 20,
  // Ends before the next round's probe, so a node has one probe in flight.
  probeTimeoutMs: 45,
  indirectProbes: 3,
  accusationGraceMs: 30,
  // A live node has probeTimeoutMs + accusationGraceMs + suspicionMinMs = 240 ms to answer
  // before it can be declared dead, when independent probes confirm that it does not.
  suspicionMinMs: 165,
  suspicionMaxMs: 495,
  suspicionConfirmations: 3,
  // A push epidemic with fanout f misses about e^-f of the members (0.25 % at 6); piggybacking
  // reaches those within a round or two.
  gossipFanout: 6,
  maxPiggyback: 8,
  retransmitMult: 3,
  maxLocalHealth: 8,
  // Shorter than an own dead verdict without confirmations (probeTimeoutMs +
  // accusationGraceMs + suspicionMaxMs = 570 ms), so an isolated node withdraws before it
  // condemns anyone.
  isolationMs: 400,
  // One silent peer may have crashed; every up peer (two or more) silent at once is us.
  isolationMinPeers: 2,
  rejoinSettleMs: 200,
  stallThresholdMs: 100,
});

const INTEGERS = ['indirectProbes', 'gossipFanout', 'maxPiggyback', 'maxLocalHealth', 'suspicionConfirmations', 'retransmitMult', 'isolationMinPeers'] as const;

/** Defaults with overrides; every bad field is reported at once (FUL_ERR_MEMBERSHIP_OPTION). */
export function membershipOptions(overrides: Partial<MembershipOptions> = {}): MembershipOptions {
  const o: MembershipOptions = { ...DEFAULT_MEMBERSHIP_OPTIONS, ...overrides };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(o)) {
    if (!(key in DEFAULT_MEMBERSHIP_OPTIONS)) problems.push(`${key} is not a membership option`);
    else if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) problems.push(`${key} ${JSON.stringify(value)} is not a number ≥ 0`);
  }
  if (problems.length === 0) {
    if (o.probeIntervalMs < 1) problems.push(`probeIntervalMs ${o.probeIntervalMs} is below 1`);
    if (o.directTimeoutMs > o.probeTimeoutMs) problems.push(`directTimeoutMs ${o.directTimeoutMs} is above probeTimeoutMs ${o.probeTimeoutMs}`);
    if (o.probeTimeoutMs > o.probeIntervalMs) problems.push(`probeTimeoutMs ${o.probeTimeoutMs} is above probeIntervalMs ${o.probeIntervalMs}`);
    if (o.suspicionMinMs > o.suspicionMaxMs) problems.push(`suspicionMinMs ${o.suspicionMinMs} is above suspicionMaxMs ${o.suspicionMaxMs}`);
    const ownVerdictMs = o.probeTimeoutMs + o.accusationGraceMs + o.suspicionMaxMs;
    if (o.isolationMs >= ownVerdictMs) problems.push(`isolationMs ${o.isolationMs} is not below probeTimeoutMs + accusationGraceMs + suspicionMaxMs (${ownVerdictMs}): a cut-off node would condemn its peers before it withdraws`);
    for (const key of INTEGERS) if (!Number.isInteger(o[key])) problems.push(`${key} ${o[key]} is not an integer`);
  }
  if (problems.length > 0) throw new FulcrumError('FUL_ERR_MEMBERSHIP_OPTION', { problems: problems.join('; ') });
  return Object.freeze(o);
}

/**
 * The speaker's two knobs (--probe-interval, --fail-after) as options. failAfterMs is how long a
 * peer may answer no probe before it is declared dead when others confirm: probeTimeoutMs +
 * accusationGraceMs + suspicionMinMs (240 ms by default); suspicionMaxMs is three times
 * suspicionMinMs, isolationMs 5/3 of failAfterMs (400 ms), as in the defaults. The probe timeouts
 * and the grace scale with the probe interval. Valid when failAfterMs ≥ 3 × probeIntervalMs
 * (the speaker's flags check it); throws FUL_ERR_MEMBERSHIP_OPTION otherwise.
 */
export function speakerMembershipOptions(probeIntervalMs: number, failAfterMs: number): MembershipOptions {
  const d = DEFAULT_MEMBERSHIP_OPTIONS;
  const f = probeIntervalMs / d.probeIntervalMs;
  const probeTimeoutMs = d.probeTimeoutMs * f;
  const accusationGraceMs = d.accusationGraceMs * f;
  const suspicionMinMs = failAfterMs - probeTimeoutMs - accusationGraceMs;
  if (suspicionMinMs <= 0) {
    throw new FulcrumError('FUL_ERR_MEMBERSHIP_OPTION', { problems: `failAfterMs ${failAfterMs} leaves no suspicion time after the probe timeout and accusation grace (${probeTimeoutMs + accusationGraceMs} ms at probeIntervalMs ${probeIntervalMs})` });
  }
  return membershipOptions({
    probeIntervalMs,
    directTimeoutMs: d.directTimeoutMs * f,
    probeTimeoutMs,
    accusationGraceMs,
    suspicionMinMs,
    suspicionMaxMs: 3 * suspicionMinMs,
    isolationMs: Math.round((failAfterMs * 5) / 3),
    rejoinSettleMs: d.rejoinSettleMs * f,
    stallThresholdMs: d.stallThresholdMs * f,
  });
}
