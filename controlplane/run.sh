#!/usr/bin/env bash
# Runs a command beside a real Kubernetes control plane on loopback: etcd, kube-apiserver and
# kube-controller-manager built by controlplane/build.sh (cached), on free ports, with a kubeconfig written
# out. Every process is stopped when the command ends, whatever its exit status.
#
#   controlplane/run.sh cargo test            # the cluster-facing tests run against the real server too
#   controlplane/run.sh bash                  # a shell with KUBECONFIG set, to look around with kubectl
#
# The command sees OPERATOR_UPGRADE_REAL_KUBECONFIG (what the tests look for), KUBECONFIG (the same file, for
# kubectl), and PATH with the built kubectl first. Logs of the servers and the node agent are in
# $CONTROLPLANE_DIR/logs (CONTROLPLANE_KEEP_DIR=1 keeps them). OPERATOR_UPGRADE_BIN names a built
# operator-upgrade binary for the node agent (default: cargo builds it).
# Exit status: the command's, or 3 when the control plane could not be built or started.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -gt 0 ] || { echo "usage: controlplane/run.sh COMMAND [ARGS...]" >&2; exit 2; }

bin="$("$here/build.sh")" || exit 3
dir="$(mktemp -d "${TMPDIR:-/tmp}/operator-upgrade-controlplane.XXXXXX")"
mkdir -p "$dir/logs" "$dir/pki" "$dir/etcd"
pids=()

stop() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${CONTROLPLANE_KEEP_DIR:-}" = 1 ]; then echo "controlplane: kept $dir" >&2; else rm -rf "$dir"; fi
}
trap stop EXIT
trap 'exit 130' INT TERM

fail() {
  echo "controlplane: $1; the last lines of its log:" >&2
  tail -n 30 "$2" >&2 || true
  exit 3
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until URL answers 200 (curl is not on every machine; python3 is, on this project's kinds).
wait_ready() { # name url log [insecure]
  local deadline=$((SECONDS + 90))
  until python3 - "$2" <<'EOF' 2>/dev/null
import ssl, sys, urllib.request
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
sys.exit(0 if urllib.request.urlopen(sys.argv[1], context=ctx, timeout=2).status == 200 else 1)
EOF
  do
    [ $SECONDS -lt $deadline ] || fail "$1 did not become ready within 90 s" "$3"
    sleep 0.5
  done
}

etcd_port="$(free_port)"; peer_port="$(free_port)"; api_port="$(free_port)"
"$bin/etcd" --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" --initial-cluster "default=http://127.0.0.1:$peer_port" \
  --unsafe-no-fsync --quota-backend-bytes 4294967296 >"$dir/logs/etcd.log" 2>&1 &
pids+=($!)
wait_ready etcd "http://127.0.0.1:$etcd_port/health" "$dir/logs/etcd.log"

# The service-account key pair and the admin credential are ours; the serving certificate the API server
# writes itself into --cert-dir.
openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null
token="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
echo "$token,admin,admin,system:masters" >"$dir/pki/tokens.csv"

# CONTROLPLANE_STORAGE_VERSION_MIGRATOR=1 turns on Kubernetes' own (alpha) storage version migrator, which
# `cargo bench --bench real` compares the tool's migration with (its controller also needs the client-go gate).
svm_api=() svm_kcm=()
if [ "${CONTROLPLANE_STORAGE_VERSION_MIGRATOR:-}" = 1 ]; then
  svm_api=(--feature-gates=StorageVersionMigrator=true --runtime-config=storagemigration.k8s.io/v1alpha1=true)
  svm_kcm=(--feature-gates=StorageVersionMigrator=true,InformerResourceVersion=true)
fi

# Config maps are watched straight from etcd (watch cache off for them) and etcd is compacted every few
# seconds, so a watch from an old resourceVersion gets the real 410 Gone in a test that can wait for it.
"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" --cert-dir "$dir/pki" \
  --secure-port "$api_port" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
  --service-cluster-ip-range 10.0.0.0/24 --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
  --token-auth-file "$dir/pki/tokens.csv" --authorization-mode RBAC --allow-privileged=true \
  --watch-cache-sizes configmaps#0 --etcd-compaction-interval 5s ${svm_api[@]+"${svm_api[@]}"} \
  >"$dir/logs/kube-apiserver.log" 2>&1 &
pids+=($!)
wait_ready kube-apiserver "https://127.0.0.1:$api_port/readyz" "$dir/logs/kube-apiserver.log"

kubeconfig="$dir/kubeconfig"
ca="$(base64 -w0 "$dir/pki/apiserver.crt")"
cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: controlplane
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $token
contexts:
- name: controlplane
  context: {cluster: controlplane, user: admin}
current-context: controlplane
EOF

"$bin/kube-controller-manager" --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" \
  --authorization-kubeconfig "$kubeconfig" --leader-elect=false --secure-port 0 \
  --service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/apiserver.crt" \
  --controllers '*' --concurrent-gc-syncs 5 ${svm_kcm[@]+"${svm_kcm[@]}"} >"$dir/logs/kube-controller-manager.log" 2>&1 &
pids+=($!)

# Nothing runs Pods on a bare control plane: the project's node agent stands in for the kubelet (one Node,
# Pods bound to it and reported Running and Ready, Job Pods succeeding, deletions confirmed), and runs the
# demo scenario's operator images as real controllers in their Pods.
agent="${OPERATOR_UPGRADE_BIN:-}"
if [ -z "$agent" ]; then
  (cd "$here/.." && cargo build --quiet --bin operator-upgrade) || { echo "controlplane: cannot build the node agent" >&2; exit 3; }
  agent="$(cd "$here/.." && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/operator-upgrade"
fi
"$agent" node-agent --kubeconfig "$kubeconfig" --scenario "$here/../examples/demo-operator/scenario.yaml" \
  >"$dir/logs/node-agent.log" 2>&1 &
pids+=($!)

echo "controlplane: Kubernetes $("$bin/kubectl" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])') on https://127.0.0.1:$api_port, kubeconfig $kubeconfig" >&2
export OPERATOR_UPGRADE_REAL_KUBECONFIG="$kubeconfig" KUBECONFIG="$kubeconfig" CONTROLPLANE_DIR="$dir"
export PATH="$bin:$PATH"
status=0
"$@" || status=$?
exit "$status"
