#!/usr/bin/env node
// Renders config/ into the two files that install it whole:
//   config/install/fulcrum.yaml   every config/NN-*.yaml (samples left out) in one file, for
//                                 `kubectl apply -f config/install/fulcrum.yaml`
//   config/Kustomization          the same files as a kustomization, for `kubectl apply -k config/`
//                                 (named "Kustomization", one of the three names kustomize reads,
//                                 so that `kubectl apply -f config/`, which reads every *.yaml of
//                                 the folder, does not take it for a manifest)
//
//   npm run render-install                       write both
//   node bin/render-install.mjs --check          write nothing; exit 1 naming each stale file
//   node bin/render-install.mjs --config DIR     another config folder (the tests use a copy)
//
// Plain Node, no build step: it runs from a fresh clone before `tsc`. It lives in bin/, which the
// npm package does not ship (only bin/fulcrum), because it is a maintainer's tool, not a command.
// A new config/NN-*.yaml is picked up by running it again; test/integration/install-manifests.test.ts
// fails while the committed files are out of date.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** The files rendered: NN-name.yaml, in name order, without the sample Services (9x-sample-*). */
export function sourceFiles(configDir) {
  return readdirSync(configDir)
    .filter((f) => /^\d\d-[a-z0-9-]+\.ya?ml$/.test(f) && !/sample/.test(f))
    .sort();
}

/** Checks each document is an object with apiVersion, kind and metadata.name; throws naming the file, document and field. */
function checkManifest(file, text) {
  const docs = parseAllDocuments(text);
  let n = 0;
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length > 0) throw new Error(`${file}: document ${i + 1}: ${doc.errors[0].message}`);
    const o = doc.toJSON();
    if (o === null || o === undefined) continue;
    for (const field of ['apiVersion', 'kind']) {
      if (typeof o[field] !== 'string' || o[field] === '') throw new Error(`${file}: document ${i + 1}: ${field} is ${JSON.stringify(o[field])} (expected a non-empty string)`);
    }
    const name = o.metadata?.name;
    if (typeof name !== 'string' || name === '') throw new Error(`${file}: document ${i + 1} (${o.kind}): metadata.name is ${JSON.stringify(name)} (expected a non-empty string)`);
    n++;
  }
  if (n === 0) throw new Error(`${file}: no manifest in it`);
  return n;
}

const HEADER = `# GENERATED FILE: do not edit. Rendered from config/NN-*.yaml (the sample Services left out) by
#   npm run render-install        (node bin/render-install.mjs)
# and checked by test/integration/install-manifests.test.ts. Edit the files in config/, then run it again.
#
# Fulcrum in one file: namespace fulcrum-system, MetalLB's IPAddressPool and L2Advertisement CRDs,
# RBAC, an example pool ConfigMap, the allocator Deployment and the speaker DaemonSet.
#   kubectl apply -f config/install/fulcrum.yaml
`;

/** The contents of both generated files for a config folder. */
export function render(configDir) {
  const files = sourceFiles(configDir);
  if (files.length === 0) throw new Error(`${configDir}: no NN-*.yaml manifest to render`);
  const parts = files.map((f) => {
    const text = readFileSync(join(configDir, f), 'utf8');
    checkManifest(`config/${f}`, text);
    // A leading "---" would make an empty document after ours; trailing blank lines are dropped.
    const body = text.replace(/^---\s*\n/, '').replace(/\s+$/, '');
    return `# Source: config/${f}\n${body}\n`;
  });
  const install = `${HEADER}---\n${parts.join('---\n')}`;
  const kustomization = `# GENERATED FILE: do not edit. Written by \`npm run render-install\` (node bin/render-install.mjs) with
# the same files as config/install/fulcrum.yaml, so that \`kubectl apply -k config/\` installs the same
# objects. Named "Kustomization" (a name kustomize reads) rather than kustomization.yaml so that
# \`kubectl apply -f config/\` does not take it for a manifest.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
${files.map((f) => `  - ${f}\n`).join('')}`;
  return { [join('install', 'fulcrum.yaml')]: install, Kustomization: kustomization };
}

function main(argv) {
  let configDir = join(REPO, 'config');
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--config') {
      const v = argv[++i];
      if (!v) throw new Error('--config: expected a folder after it');
      configDir = resolve(v);
    } else throw new Error(`unknown argument "${a}" (expected --check or --config DIR)`);
  }
  const out = render(configDir);
  const stale = [];
  for (const [rel, text] of Object.entries(out)) {
    const path = join(configDir, rel);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === text) continue;
    stale.push(rel);
    if (!check) {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
    }
  }
  const sources = sourceFiles(configDir).join(', ');
  if (check) {
    if (stale.length > 0) {
      for (const rel of stale) process.stderr.write(`render-install: ${join(configDir, rel)} is out of date with ${sources}: run \`npm run render-install\`\n`);
      return 1;
    }
    process.stdout.write(`render-install: up to date (${sources})\n`);
    return 0;
  }
  process.stdout.write(stale.length > 0 ? `render-install: wrote ${stale.join(', ')} from ${sources}\n` : `render-install: already up to date (${sources})\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`render-install: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
