import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from './store.js';
import type { Obj } from './status.js';

/** An authenticated caller. */
export interface UserInfo {
  readonly name: string;
  readonly groups: readonly string[];
}

/** What a request asks to do, as RBAC sees it. */
export type RequestAttributes =
  | { readonly kind: 'resource'; readonly verb: string; readonly apiGroup: string; readonly resource: string; readonly subresource: string; readonly namespace: string; readonly name: string }
  | { readonly kind: 'nonResource'; readonly verb: string; readonly path: string };

export type Decision = { allowed: true; reason: 'privilegedGroup' | 'rule' } | { allowed: false; reason: 'noRuleMatched' };

const CLUSTER_ROLES = 'clusterroles.rbac.authorization.k8s.io';
const CLUSTER_BINDINGS = 'clusterrolebindings.rbac.authorization.k8s.io';
const ROLES = 'roles.rbac.authorization.k8s.io';
const BINDINGS = 'rolebindings.rbac.authorization.k8s.io';

/**
 * Bearer tokens: the admin's (random), service-account tokens and user tokens (HMAC-signed with
 * a per-emulator secret, so they need no storage and survive stop/start).
 */
export class Tokens {
  readonly adminToken = `fulcrum-admin.${randomBytes(16).toString('hex')}`;
  readonly #secret = randomBytes(32);

  #sign(payload: string): string {
    return createHmac('sha256', this.#secret).update(payload).digest('base64url');
  }

  /** A token for `system:serviceaccount:NS:NAME`, in the groups a real SA token carries. */
  serviceAccount(namespace: string, name: string): string {
    const payload = Buffer.from(JSON.stringify({ sa: [namespace, name] })).toString('base64url');
    return `fulcrum-sa.${payload}.${this.#sign(payload)}`;
  }

  /** A token for any user name and groups (tests bind Roles to such users). */
  user(name: string, groups: readonly string[] = []): string {
    const payload = Buffer.from(JSON.stringify({ user: name, groups })).toString('base64url');
    return `fulcrum-user.${payload}.${this.#sign(payload)}`;
  }

  authenticate(header: string | undefined): UserInfo | undefined {
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) return undefined;
    const token = m[1]!;
    if (token === this.adminToken) return { name: 'fulcrum-admin', groups: ['system:masters', 'system:authenticated'] };
    const parts = token.split('.');
    if (parts.length !== 3 || (parts[0] !== 'fulcrum-sa' && parts[0] !== 'fulcrum-user')) return undefined;
    const want = Buffer.from(this.#sign(parts[1]!));
    const got = Buffer.from(parts[2]!);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    let claims: Obj;
    try {
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Obj;
    } catch {
      return undefined;
    }
    if (parts[0] === 'fulcrum-sa') {
      const [ns, name] = claims.sa as [string, string];
      return { name: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] };
    }
    return { name: String(claims.user), groups: [...(claims.groups as string[]), 'system:authenticated'] };
  }
}

function subjectMatches(s: Obj, user: UserInfo, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User': return s.name === user.name;
    case 'Group': return user.groups.includes(s.name);
    case 'ServiceAccount': return user.name === `system:serviceaccount:${s.namespace || bindingNamespace}:${s.name}`;
    default: return false;
  }
}

function has(list: unknown, v: string): boolean {
  return Array.isArray(list) && (list.includes('*') || list.includes(v));
}

function resourceMatches(rules: unknown, resource: string, sub: string): boolean {
  if (!Array.isArray(rules)) return false;
  const full = sub ? `${resource}/${sub}` : resource;
  for (const r of rules as string[]) {
    if (r === '*' || r === full) return true;
    if (sub && (r === `*/${sub}` || r === `${resource}/*`)) return true;
  }
  return false;
}

function ruleAllows(rule: Obj, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (a.kind === 'nonResource') {
    return Array.isArray(rule.nonResourceURLs) && (rule.nonResourceURLs as string[]).some((u) => u === '*' || u === a.path || (u.endsWith('*') && a.path.startsWith(u.slice(0, -1))));
  }
  if (!has(rule.apiGroups, a.apiGroup) || !resourceMatches(rule.resources, a.resource, a.subresource)) return false;
  const names = rule.resourceNames;
  return !Array.isArray(names) || names.length === 0 || (a.name !== '' && names.includes(a.name));
}

/**
 * RBAC evaluated from the Role/ClusterRole/Binding objects in the store, as the real
 * authorizer does: system:masters is privileged; ClusterRoleBindings grant everywhere;
 * RoleBindings grant in their own namespace (to a Role there or a ClusterRole).
 */
export function authorize(store: Store, user: UserInfo, a: RequestAttributes): Decision {
  if (user.groups.includes('system:masters')) return { allowed: true, reason: 'privilegedGroup' };
  const roleAllows = (role: Obj | undefined): boolean => !!role && Array.isArray(role.rules) && role.rules.some((r: Obj) => ruleAllows(r, a));
  for (const b of store.list(CLUSTER_BINDINGS, '')) {
    if (b.roleRef?.kind !== 'ClusterRole' || !(b.subjects ?? []).some((s: Obj) => subjectMatches(s, user, ''))) continue;
    if (roleAllows(store.get(CLUSTER_ROLES, '', b.roleRef.name))) return { allowed: true, reason: 'rule' };
  }
  if (a.kind === 'resource' && a.namespace) {
    for (const b of store.list(BINDINGS, a.namespace)) {
      if (!(b.subjects ?? []).some((s: Obj) => subjectMatches(s, user, a.namespace))) continue;
      const role = b.roleRef?.kind === 'ClusterRole' ? store.get(CLUSTER_ROLES, '', b.roleRef.name) : b.roleRef?.kind === 'Role' ? store.get(ROLES, a.namespace, b.roleRef.name) : undefined;
      if (roleAllows(role)) return { allowed: true, reason: 'rule' };
    }
  }
  return { allowed: false, reason: 'noRuleMatched' };
}

/** The real server's 403 text (k8s.io/apiserver responsewriters.forbiddenMessage). */
export function forbiddenMessage(user: UserInfo, a: RequestAttributes): string {
  if (a.kind === 'nonResource') return `forbidden: User "${user.name}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const qualifiedRes = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const who = a.name ? `${qualifiedRes} "${a.name}"` : qualifiedRes;
  const where = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `${who} is forbidden: User "${user.name}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup}" ${where}`;
}

/** Objects every emulator starts with: namespaces, cluster-admin for system:masters, discovery for everyone authenticated, /version and health for everyone. */
export function bootstrapObjects(): { storeKey: string; object: Obj }[] {
  const ns = (name: string) => ({ storeKey: 'namespaces', object: { metadata: { name } } });
  return [
    ns('default'), ns('kube-system'), ns('kube-public'), ns('kube-node-lease'), ns('fulcrum-system'),
    { storeKey: CLUSTER_ROLES, object: { metadata: { name: 'cluster-admin', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }] } },
    { storeKey: CLUSTER_BINDINGS, object: { metadata: { name: 'cluster-admin', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:masters' }] } },
    { storeKey: CLUSTER_ROLES, object: { metadata: { name: 'system:discovery', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, rules: [{ nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/readyz', '/version', '/version/', '/openapi', '/openapi/*'], verbs: ['get'] }] } },
    { storeKey: CLUSTER_BINDINGS, object: { metadata: { name: 'system:discovery', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:discovery' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }] } },
    // What the anonymous user (a request without credentials) may read, as on a real cluster.
    { storeKey: CLUSTER_ROLES, object: { metadata: { name: 'system:public-info-viewer', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, rules: [{ nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] }] } },
    { storeKey: CLUSTER_BINDINGS, object: { metadata: { name: 'system:public-info-viewer', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:public-info-viewer' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }] } },
  ];
}
