#!/usr/bin/env bash
# Builds helm from the Go module beside this script (helm.sh/helm/v3, the version go.mod pins)
# into a cache directory keyed by that version, and does nothing when the binary there already
# matches go.mod/go.sum. Idempotent; safe to run concurrently (flock).
#
#   bash test/helm/build.sh            build if needed; prints the binary's path last
#   bash test/helm/build.sh --check    build nothing; exit 0 and print the path if up to date, else exit 1
#
# Environment: FULCRUM_HELM_CACHE (default ~/.cache/fulcrum-helm), FULCRUM_HELM_BUILD_JOBS (go build -p,
# default 1: the machines have 2 shared cores), FULCRUM_HELM_FORCE=1 (rebuild).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")" # absolute: the build cds into $here
mode="${1:-build}"
case "$mode" in build | --check) ;; *) echo "build.sh: unknown argument \"$mode\" (expected --check or nothing)" >&2; exit 2 ;; esac

log() { [[ "$mode" == --check ]] || echo "[helm] $*" >&2; }

helm_version="$(awk '$1 == "helm.sh/helm/v3" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
client_go_version="$(awk '$1 == "k8s.io/client-go" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
[[ -n "$helm_version" && -n "$client_go_version" ]] || { echo "build.sh: cannot read the helm.sh/helm/v3 or k8s.io/client-go version from $here/go.mod" >&2; exit 1; }

bin_dir="${FULCRUM_HELM_CACHE:-$HOME/.cache/fulcrum-helm}/$helm_version"
helm="$bin_dir/helm"

stamp_expected() {
  {
    echo "helm $helm_version client-go $client_go_version"
    (cd "$here" && sha256sum go.mod go.sum)
    sed -n '/^ldflags()/,/^}/p' "$self" | sha256sum
  }
}

# Built = the stamp matches and the binary runs and reports the pinned version.
built() {
  [[ -f "$bin_dir/.stamp" ]] && diff -q <(stamp_expected) "$bin_dir/.stamp" > /dev/null || return 1
  [[ -x "$helm" ]] || return 1
  "$helm" version --template '{{.Version}}' 2> /dev/null | grep -x "$helm_version" > /dev/null || return 1
}

up_to_date() { [[ -z "${FULCRUM_HELM_FORCE:-}" ]] && built; }

# The variables helm's Makefile sets: the version `helm version` reports, and the Kubernetes
# version lint and template assume (client-go v0.X.Y is Kubernetes 1.X, as the Makefile derives).
ldflags() {
  local minor="${client_go_version#v0.}"
  minor="${minor%%.*}"
  local flags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
  flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local pkg
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    flags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  echo "$flags"
}

if [[ "$mode" == --check ]]; then
  up_to_date && { echo "$helm"; exit 0; }
  exit 1
fi

mkdir -p "$bin_dir"
exec 9> "$bin_dir/.lock"
flock 9 # a second build.sh waits here, then finds the binary up to date

if up_to_date; then
  log "up to date: helm $helm_version in $bin_dir"
  echo "$helm"
  exit 0
fi

command -v go > /dev/null || { echo "build.sh: go is not installed (Go >= 1.26 is needed to build helm)" >&2; exit 1; }
jobs="${FULCRUM_HELM_BUILD_JOBS:-1}"
log "building helm $helm_version with $(go env GOVERSION), -p=$jobs, nice 10"
started=$SECONDS
rm -f "$bin_dir/.stamp"
staging="$(mktemp -d "$bin_dir/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

cd "$here"
log "downloading modules (go mod download)"
nice -n 10 go mod download
# CGO off, as helm's release builds: static, no C compiler needed. -mod=readonly: go.mod and
# go.sum are the lock; -buildvcs=false: no git needed.
CGO_ENABLED=0 nice -n 10 go build -p "$jobs" -mod=readonly -buildvcs=false -trimpath \
  -ldflags "$(ldflags)" -o "$staging/helm" helm.sh/helm/v3/cmd/helm
mv -f "$staging/helm" "$helm"
stamp_expected > "$bin_dir/.stamp"
built || { echo "build.sh: built $helm does not report $helm_version" >&2; exit 1; }
log "built in $((SECONDS - started))s: $helm"
echo "$helm"
