#!/usr/bin/env bash
# Builds the real control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) from the Go modules
# pinned in controlplane/kube and controlplane/etcd, into a cache directory outside the clone keyed by the
# Kubernetes version and a hash of the pinning files, so a second build (CI right after a session) is free.
# Prints the bin directory on stdout; progress goes to stderr.
#
# Environment: OPERATOR_UPGRADE_CACHE overrides the cache root (default ~/.cache/operator-upgrade).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v go >/dev/null 2>&1; then
  echo "controlplane/build.sh: no Go toolchain on PATH; the real control plane cannot be built here" >&2
  exit 3
fi

kube_version="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$here/kube/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$here/etcd/go.mod")"
[ -n "$kube_version" ] && [ -n "$etcd_version" ] || { echo "controlplane/build.sh: cannot read the pinned versions" >&2; exit 2; }

key="$(cat "$here/build.sh" "$here/kube/go.mod" "$here/kube/go.sum" "$here/etcd/go.mod" "$here/etcd/go.sum" \
  | sha256sum | cut -c1-12)"
cache_root="${OPERATOR_UPGRADE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/operator-upgrade}"
bin="$cache_root/controlplane/kube-$kube_version-etcd-$etcd_version-$key/bin"
binaries=(etcd kube-apiserver kube-controller-manager kubectl)

complete() {
  local b
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done
}

if complete; then
  echo "controlplane: reusing $bin" >&2
  echo "$bin"
  exit 0
fi

# Build into a fresh directory and move it in place at the end, so an interrupted build never leaves a
# half-filled bin directory that a later run would take as complete.
mkdir -p "$(dirname "$bin")"
staging="$(mktemp -d "$(dirname "$bin")/build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

minor="${kube_version#v1.}"; minor="${minor%%.*}"
pkg=k8s.io/component-base/version
kube_ldflags="-s -w -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"

start=$(date +%s)
echo "controlplane: building Kubernetes $kube_version and etcd $etcd_version (a cold build takes tens of minutes)" >&2
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$staging/etcd" go.etcd.io/etcd/server/v3)
(cd "$here/kube" && go build -trimpath -ldflags "$kube_ldflags" -o "$staging/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl)
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
echo "controlplane: built in $(( $(date +%s) - start )) s into $bin" >&2
echo "$bin"
