#!/usr/bin/env bash
# Builds the real control plane (etcd, kube-apiserver, kube-controller-manager) from the Go module
# beside this script into a cache directory keyed by the Kubernetes version, and does nothing when
# the binaries there already match go.mod/go.sum. Idempotent; safe to run concurrently (flock).
#
#   bash test/k8s-real/build.sh            build if needed; prints the binary directory last
#   bash test/k8s-real/build.sh --check    build nothing; exit 0 and print the directory if up to date, else exit 1
#
# Environment: FULCRUM_K8S_CACHE (default ~/.cache/fulcrum-k8s), FULCRUM_K8S_BUILD_JOBS (go build -p,
# default 1: the machines have 2 shared cores), FULCRUM_K8S_FORCE=1 (rebuild).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")" # absolute: the build cds into $here
mode="${1:-build}"
case "$mode" in build | --check) ;; *) echo "build.sh: unknown argument \"$mode\" (expected --check or nothing)" >&2; exit 2 ;; esac

log() { [[ "$mode" == --check ]] || echo "[k8s-real] $*" >&2; }

# The versions are the ones go.mod pins; everything else follows from them.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
[[ -n "$k8s_version" && -n "$etcd_version" ]] || { echo "build.sh: cannot read the k8s.io/kubernetes or etcd version from $here/go.mod" >&2; exit 1; }

bin_dir="${FULCRUM_K8S_CACHE:-$HOME/.cache/fulcrum-k8s}/$k8s_version"
binaries=(etcd kube-apiserver kube-controller-manager)

# What the binaries were built from: a change to any of these rebuilds (the Go toolchain is left
# out on purpose: a Go patch release does not change what the tests exercise).
stamp_expected() {
  {
    echo "k8s $k8s_version etcd $etcd_version"
    (cd "$here" && sha256sum go.mod go.sum cmd/*/main.go)
    sed -n '/^ldflags_for()/,/^}/p' "$self" | sha256sum
  }
}

# Built = the stamp matches and every binary runs and reports the pinned version.
built() {
  [[ -f "$bin_dir/.stamp" ]] && diff -q <(stamp_expected) "$bin_dir/.stamp" > /dev/null || return 1
  local b
  for b in "${binaries[@]}"; do [[ -x "$bin_dir/$b" ]] || return 1; done
  "$bin_dir/kube-apiserver" --version 2> /dev/null | grep -x "Kubernetes $k8s_version" > /dev/null || return 1
  "$bin_dir/kube-controller-manager" --version 2> /dev/null | grep -x "Kubernetes $k8s_version" > /dev/null || return 1
  "$bin_dir/etcd" --version 2> /dev/null | grep -x "etcd Version: ${etcd_version#v}" > /dev/null || return 1
}

up_to_date() { [[ -z "${FULCRUM_K8S_FORCE:-}" ]] && built; }

# The version variables upstream's hack/lib/version.sh sets, so /version answers like a release
# build (without them the server calls itself v0.0.0-master). buildDate is fixed: reproducible.
ldflags_for() {
  local minor="${k8s_version#v1.}"
  minor="${minor%%.*}"
  local flags="-s -w" pkg
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

if [[ "$mode" == --check ]]; then
  up_to_date && { echo "$bin_dir"; exit 0; }
  exit 1
fi

mkdir -p "$bin_dir"
exec 9> "$bin_dir/.lock"
flock 9 # a second build.sh waits here, then finds the binaries up to date

if up_to_date; then
  log "up to date: k8s $k8s_version, etcd $etcd_version in $bin_dir"
  echo "$bin_dir"
  exit 0
fi

command -v go > /dev/null || { echo "build.sh: go is not installed (Go >= 1.26 is needed to build the real control plane)" >&2; exit 1; }
jobs="${FULCRUM_K8S_BUILD_JOBS:-1}"
log "building k8s $k8s_version (kube-apiserver, kube-controller-manager) and etcd $etcd_version with $(go env GOVERSION), -p=$jobs, nice 19"
log "a cold build takes tens of minutes on 2 cores; later runs reuse $bin_dir and Go's build cache"
started=$SECONDS
rm -f "$bin_dir/.stamp"
staging="$(mktemp -d "$bin_dir/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

cd "$here"
log "downloading modules (go mod download)"
nice -n 19 go mod download
for b in "${binaries[@]}"; do
  log "go build ./cmd/$b"
  # CGO off, as upstream builds its server binaries: static, and no C compiler needed.
  # -mod=readonly: go.mod and go.sum are the lock; -buildvcs=false: no git needed (nor stamped).
  CGO_ENABLED=0 nice -n 19 go build -p "$jobs" -mod=readonly -buildvcs=false -trimpath \
    -ldflags "$(ldflags_for)" -o "$staging/$b" "./cmd/$b"
  log "  done after $((SECONDS - started))s"
done
for b in "${binaries[@]}"; do mv -f "$staging/$b" "$bin_dir/$b"; done
stamp_expected > "$bin_dir/.stamp"
built || { echo "build.sh: built binaries in $bin_dir do not report k8s $k8s_version / etcd $etcd_version" >&2; exit 1; }
log "built in $((SECONDS - started))s: $bin_dir"
echo "$bin_dir"
