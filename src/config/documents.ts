import YAML from 'yaml';
import { isMapping, type IssueList } from './issues.js';

/**
 * Text → the YAML documents in it, shared by both sources. YAML is read as 1.2 (so a label
 * value `no` stays a string); boolean fields take the YAML 1.1 words themselves (src/config/pool.ts).
 */
export type YamlResult = { ok: true; values: unknown[] } | { ok: false; message: string };

export function readYaml(text: string): YamlResult {
  try {
    // logLevel 'error': the library would otherwise print a process warning (a pure parser must
    // not) for a key that is a list or mapping; such a key is stringified and reported as unknown.
    const docs = YAML.parseAllDocuments(text, { prettyErrors: false, logLevel: 'error' });
    const list = Array.isArray(docs) ? docs : [];
    for (const doc of list) {
      const first = doc.errors[0];
      if (first) return { ok: false, message: firstLine(first.message) };
    }
    return { ok: true, values: list.map((d) => d.toJS({ maxAliasCount: 100 }) as unknown).filter((v) => v !== null && v !== undefined) };
  } catch (err) {
    // The yaml package throws on alias bombs and similar; its message is still one line.
    return { ok: false, message: firstLine(err instanceof Error ? err.message : String(err)) };
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** The documents of the input, or undefined (and the error reported) when it is not YAML. */
export function readDocuments(issues: IssueList, text: string): unknown[] | undefined {
  // YAML forbids C0 controls (but tab, LF, CR) and DEL; U+FFFD is what invalid UTF-8 decodes to.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(text)) {
    issues.error('FUL_ERR_CONFIG_YAML', { input: 'input', reason: 'is not YAML: it contains control characters or invalid UTF-8 (a binary file?)' });
    return undefined;
  }
  const outer = readYaml(text);
  if (!outer.ok) {
    issues.error('FUL_ERR_CONFIG_YAML', { input: 'input', reason: `is not YAML: ${outer.message}` });
    return undefined;
  }
  return outer.values;
}

/** An API object (it has a kind or an apiVersion), as opposed to a bare config. */
export function isManifest(value: unknown): value is Record<string, unknown> {
  return isMapping(value) && (value.kind !== undefined || value.apiVersion !== undefined);
}

/**
 * The objects of the documents, with every list (`kind: List` from `kubectl get -o yaml`, or
 * `IPAddressPoolList` and the like) replaced by its items, recursively.
 */
export function flattenLists(values: readonly unknown[]): unknown[] {
  return values.flatMap((v) => (isMapping(v) && typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items) ? flattenLists(v.items) : [v]));
}
