#!/usr/bin/env bash
# Builds helm from its released Go module (helm.sh/helm/v4, pinned in controlplane/helm/go.mod and go.sum, no
# replace directives) into the same cache as the control plane, keyed by helm's version and a hash of the
# pinning files, so a second build is free. Prints the path of the helm binary on stdout; progress goes to
# stderr. The Helm tests (tests/cluster.rs, tests/offline.rs) find it through OPERATOR_UPGRADE_HELM, which
# .ci/run and controlplane/run.sh set from this script's output.
#
# Environment: OPERATOR_UPGRADE_CACHE overrides the cache root (default ~/.cache/operator-upgrade).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v go >/dev/null 2>&1; then
  echo "controlplane/build-helm.sh: no Go toolchain on PATH; helm cannot be built here" >&2
  exit 3
fi

version="$(awk '$1 == "helm.sh/helm/v4" { print $2; exit }' "$here/helm/go.mod")"
[ -n "$version" ] || { echo "controlplane/build-helm.sh: cannot read the pinned helm version" >&2; exit 2; }

key="$(cat "$here/build-helm.sh" "$here/helm/go.mod" "$here/helm/go.sum" | sha256sum | cut -c1-12)"
cache_root="${OPERATOR_UPGRADE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/operator-upgrade}"
bin="$cache_root/controlplane/helm-$version-$key/bin"

if [ -x "$bin/helm" ]; then
  echo "helm: reusing $bin/helm" >&2
  echo "$bin/helm"
  exit 0
fi

# Build into a fresh directory and move it in place at the end, so an interrupted build never leaves a
# binary that a later run would take as complete.
mkdir -p "$(dirname "$bin")"
staging="$(mktemp -d "$(dirname "$bin")/build-helm.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

# helm reports the version it was linked with; a module build without this says "v4.3".
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

start=$(date +%s)
echo "helm: building $version (a cold build takes a few minutes)" >&2
(cd "$here/helm" && go build -trimpath -ldflags "$ldflags" -o "$staging/helm" helm.sh/helm/v4/cmd/helm)
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
echo "helm: built in $(( $(date +%s) - start )) s into $bin" >&2
echo "$bin/helm"
