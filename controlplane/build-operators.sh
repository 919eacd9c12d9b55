#!/usr/bin/env bash
# Builds the real operators the test bed runs as Pods (controlplane/operators/images.tsv lists them) from their
# Go modules at released versions, into the control plane's cache outside the clone, keyed by version and a
# hash of the pinning files, reusing Go's build cache. Prints the path of the image table the node agent reads
# (image, then the absolute path of the built binary); progress and timings go to stderr.
#
# - prometheus-operator (cmd/operator): its go.mod replaces two nested modules with local directories, which
#   a dependency's go.mod cannot carry, so it is built from the wrapper module in
#   controlplane/operators/prometheus-operator-<version>, which requires the root module and the two nested ones
#   at the same version and repeats the non-local replace of k8s.io/klog/v2.
# - Argo Rollouts (cmd/rollouts-controller): no local replaces, so it is built inside its own module directory
#   (from the module cache) as the main module, with its own go.sum.
#
# With --if-built it builds nothing: it prints the table when every operator is built, else exits 1
# (controlplane/run.sh uses that, so only .ci/run and a user asking for it pay for the builds).
#
# Environment: OPERATOR_UPGRADE_CACHE overrides the cache root (default ~/.cache/operator-upgrade).
# Exit status: 0, 1 with --if-built when something is not built, or 3 when Go is missing or a build fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if_built=""
[ "${1:-}" = --if-built ] && if_built=1

if [ -z "$if_built" ] && ! command -v go >/dev/null 2>&1; then
  echo "controlplane/build-operators.sh: no Go toolchain on PATH; the real operators cannot be built here" >&2
  exit 3
fi
cache_root="${OPERATOR_UPGRADE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/operator-upgrade}"
out="$cache_root/controlplane/operators"
# Part of every build's key: change it when a recipe below changes (flags, ldflags), so stale builds are
# not reused; comments and the rest of this script can change without a rebuild.
recipe=1
mkdir -p "$out"

# Builds one operator version unless its keyed binary exists; prints the binary's path.
build_one() { # operator version
  local operator=$1 version=$2 key binary staging start
  case "$operator" in
    prometheus-operator)
      local wrapper="$here/operators/prometheus-operator-$version"
      key="$(echo "recipe $recipe" | cat - "$wrapper/go.mod" "$wrapper/go.sum" | sha256sum | cut -c1-12)" ;;
    argo-rollouts)
      key="$(echo "recipe $recipe $version" | sha256sum | cut -c1-12)" ;;
    *) echo "controlplane/build-operators.sh: no recipe for operator $operator" >&2; return 3 ;;
  esac
  binary="$out/$operator-$version-$key"
  if [ -x "$binary" ]; then echo "$binary"; return 0; fi
  [ -z "$if_built" ] || return 1
  start=$(date +%s)
  echo "controlplane: building $operator $version (a cold build takes minutes)" >&2
  # Built beside its final name and moved in place at the end, so an interrupted build is never taken as done.
  staging="$(mktemp "$out/.build.XXXXXX")"
  case "$operator" in
    prometheus-operator)
      local pkg=github.com/prometheus/common/version
      (cd "$here/operators/prometheus-operator-$version" && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X $pkg.Version=${version#v} -X $pkg.Revision=$version -X $pkg.Branch=$version" \
        -o "$staging" github.com/prometheus-operator/prometheus-operator/cmd/operator) ;;
    argo-rollouts)
      local module=github.com/argoproj/argo-rollouts dir
      dir="$(cd "$here" && go mod download -json "$module@$version" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
      (cd "$dir" && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X $module/utils/version.version=$version -X $module/utils/version.gitTreeState=clean" \
        -o "$staging" ./cmd/rollouts-controller) ;;
  esac || { rm -f "$staging"; echo "controlplane: building $operator $version failed" >&2; return 3; }
  mv "$staging" "$binary"
  echo "controlplane: built $operator $version in $(( $(date +%s) - start )) s" >&2
  echo "$binary"
}

table="$out/images.tsv.$$"
trap 'rm -f "$table"' EXIT
while IFS=$'\t' read -r image operator version; do
  case "$image" in ''|'#'*) continue ;; esac
  binary="$(build_one "$operator" "$version")" || exit $([ -n "$if_built" ] && echo 1 || echo 3)
  printf '%s\t%s\n' "$image" "$binary" >>"$table"
done <"$here/operators/images.tsv"
key="$(sha256sum "$table" | cut -c1-12)"
mv "$table" "$out/images-$key.tsv"
trap - EXIT
echo "$out/images-$key.tsv"
