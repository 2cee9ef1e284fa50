import { flattenLists, readDocuments } from '../config/documents.js';
import { IssueList, isMapping } from '../config/issues.js';
import { convertMetalLB, isMetalLBObject } from '../config/metallb.js';
import { parseConfig } from '../config/parse.js';
import { CONFIGMAP_KEY, CONFIGMAP_NAME, CONFIGMAP_NAMESPACE, type Config, type ConfigIssue } from '../config/types.js';
import type { ServiceLike } from '../ipam/request.js';
import type { NamespaceLabels } from '../ipam/types.js';

/**
 * What `fulcrum migrate-from-metallb` reads, pure: API-shaped objects (a `kubectl get … -o yaml`
 * dump, the manifests a user applies, or what the command listed from a cluster) sorted into the
 * MetalLB config, the Services, and the namespace and node labels the config's selectors need.
 */

/** A Service as the report reads it: what allocation reads, and its status. */
export type MigrationService = ServiceLike & {
  readonly metadata?: { readonly deletionTimestamp?: unknown };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string; readonly hostname?: string }[] } };
};

export interface MigrationNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Where the pools come from: MetalLB's resources, its legacy ConfigMap, or nothing usable. */
export type MigrationSource = 'metallb' | 'configMap' | 'none';

export interface MigrationInput {
  readonly source: MigrationSource;
  /**
   * The pools as far as they could be read. With errors this may be partial (MetalLB's resources
   * convert object by object); it is only shown, never allocated from, since Fulcrum refuses a
   * config with errors as a whole.
   */
  readonly config: Config | undefined;
  /** Every problem of the config, errors and warnings, each naming the object, field and value. */
  readonly issues: readonly ConfigIssue[];
  /** The legacy ConfigMap the pools came from (`metallb-system/config`), when they did. */
  readonly configMap?: string;
  readonly services: readonly MigrationService[];
  /** Labels of the namespaces in the input; a namespace not there has only its name label. */
  readonly namespaces: NamespaceLabels;
  /** The nodes in the input, if any: then each pool lists the nodes that may announce it. */
  readonly nodes: readonly MigrationNode[] | undefined;
}

/** The input of the text of a file (YAML or JSON, multi-document, `kind: List` flattened). */
export function migrationInputFromText(text: string): MigrationInput {
  const issues = new IssueList();
  const values = readDocuments(issues, text);
  if (values === undefined) return { source: 'none', config: undefined, issues: issues.all, services: [], namespaces: new Map(), nodes: undefined };
  return migrationInput(flattenLists(values));
}

/**
 * Sorts the objects: `metallb.io` objects make the config (MetalLB's rules, as `fulcrum
 * check-config`), else the one ConfigMap with `data.config` (MetalLB's legacy format); Services,
 * Namespaces and Nodes are kept; anything else is skipped. MetalLB has read only its resources
 * since v0.13, so a legacy ConfigMap beside them is ignored, with a warning.
 */
export function migrationInput(objects: readonly unknown[]): MigrationInput {
  const issues = new IssueList();
  const services = objects.filter((o): o is MigrationService => isKind(o, 'Service'));
  const namespaces = new Map<string, Readonly<Record<string, string>>>();
  for (const o of objects.filter((x) => isKind(x, 'Namespace'))) namespaces.set(nameOf(o), labelsOf(o));
  const nodeObjects = objects.filter((o) => isKind(o, 'Node'));
  const nodes = nodeObjects.length > 0 ? nodeObjects.map((o) => ({ name: nameOf(o), labels: labelsOf(o) })) : undefined;
  const configMaps = objects.filter((o): o is Record<string, unknown> => isKind(o, 'ConfigMap') && isMapping(o.data) && typeof o.data[CONFIGMAP_KEY] === 'string');
  const base = { services, namespaces, nodes };

  if (objects.some(isMetalLBObject)) {
    for (const cm of configMaps) {
      const id = idOf(cm);
      if (id === `${CONFIGMAP_NAMESPACE}/${CONFIGMAP_NAME}`) {
        issues.error('FUL_ERR_CONFIG_MANIFEST', { input: `ConfigMap "${id}"`, reason: "is Fulcrum's own config, beside MetalLB's resources: Fulcrum reads one source, remove one of them" });
      } else {
        issues.warn('FUL_WARN_CONFIG_IGNORED', { field: `ConfigMap "${id}"`, reason: 'MetalLB reads only its resources since v0.13; do not copy it, Fulcrum refuses a ConfigMap beside the resources of its namespace' });
      }
    }
    const config = convertMetalLB(issues, objects);
    return { ...base, source: 'metallb', config, issues: issues.all };
  }
  if (configMaps.length === 0) {
    issues.error('FUL_ERR_CONFIG_MANIFEST', { input: 'input', reason: 'has no IPAddressPool or L2Advertisement (metallb.io/v1beta1) and no ConfigMap with data.config: no MetalLB config to migrate' });
    return { ...base, source: 'none', config: undefined, issues: issues.all };
  }
  if (configMaps.length > 1) {
    issues.error('FUL_ERR_CONFIG_MANIFEST', { input: 'input', reason: `has ${configMaps.length} ConfigMaps with data.config (${configMaps.map(idOf).join(', ')}): keep MetalLB's one` });
    return { ...base, source: 'configMap', config: undefined, issues: issues.all };
  }
  const cm = configMaps[0]!;
  const parsed = parseConfig((cm.data as Record<string, string>)[CONFIGMAP_KEY]!);
  const where = `ConfigMap "${idOf(cm)}": data.${CONFIGMAP_KEY}: `;
  const all = parsed.issues.map((i) => (i.message.startsWith('pool ') ? i : { ...i, message: where + i.message }));
  return { ...base, source: 'configMap', config: parsed.ok ? parsed.config : undefined, configMap: idOf(cm), issues: [...issues.all, ...all] };
}

function isKind(o: unknown, kind: string): o is Record<string, unknown> {
  return isMapping(o) && o.kind === kind && (o.apiVersion === undefined || o.apiVersion === 'v1');
}

function metadataOf(o: Record<string, unknown>): Record<string, unknown> {
  return isMapping(o.metadata) ? o.metadata : {};
}

function nameOf(o: Record<string, unknown>): string {
  const name = metadataOf(o).name;
  return typeof name === 'string' ? name : '';
}

function idOf(o: Record<string, unknown>): string {
  const ns = metadataOf(o).namespace;
  return `${typeof ns === 'string' ? ns : 'default'}/${nameOf(o)}`;
}

function labelsOf(o: Record<string, unknown>): Readonly<Record<string, string>> {
  const labels = metadataOf(o).labels;
  if (!isMapping(labels)) return {};
  return Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
