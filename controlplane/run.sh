#!/usr/bin/env bash
# Runs a command beside a real Kubernetes control plane on loopback: etcd, kube-apiserver and
# kube-controller-manager built by controlplane/build.sh (cached), on free ports, with a kubeconfig written
# out. Every process is stopped when the command ends, whatever its exit status.
#
#   controlplane/run.sh cargo test            # the cluster-facing tests run against the real server too
#   controlplane/run.sh bash                  # a shell with KUBECONFIG set, to look around with kubectl
#
# The command sees OPERATOR_UPGRADE_REAL_KUBECONFIG (what the tests look for), KUBECONFIG (the same file, for
# kubectl), OPERATOR_UPGRADE_HELM (helm from controlplane/build-helm.sh) and PATH with the built kubectl
# first. Logs of the servers and the node agent are in $CONTROLPLANE_DIR/logs (CONTROLPLANE_KEEP_DIR=1 keeps
# them). OPERATOR_UPGRADE_BIN names a built operator-upgrade binary for the node agent (default: cargo builds it).
#
# Real operators: where this machine lets us make a bridge and network namespaces (root, iproute2), the Pods
# get a network of their own (a bridge with a private /24 of 10.213.0.0/16, a namespace and veth per Pod) and
# the API server serves on the bridge's address, so it can proxy to Pods and Pods can reach it. When the real
# operators are built (controlplane/build-operators.sh), the node agent runs them in their Pods and the
# command sees OPERATOR_UPGRADE_REAL_OPERATORS (the image table). Each Pod's output is in
# $CONTROLPLANE_DIR/logs/pods. Every namespace, veth and process of the Pod network is removed at the end.
# Exit status: the command's, or 3 when the control plane could not be built or started.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -gt 0 ] || { echo "usage: controlplane/run.sh COMMAND [ARGS...]" >&2; exit 2; }

bin="$("$here/build.sh")" || exit 3
# The Helm tests' helm (built from its Go module and cached like the control plane).
[ -n "${OPERATOR_UPGRADE_HELM:-}" ] || OPERATOR_UPGRADE_HELM="$("$here/build-helm.sh")" || exit 3
export OPERATOR_UPGRADE_HELM
dir="$(mktemp -d "${TMPDIR:-/tmp}/operator-upgrade-controlplane.XXXXXX")"
mkdir -p "$dir/logs" "$dir/pki" "$dir/etcd"
pids=()
bridge="" netns_prefix=""

# Removes the Pod network: every process in its namespaces, the namespaces (their veths go with them), the
# bridge. Also what a killed agent left behind.
remove_pod_network() {
  [ -n "$bridge" ] || return 0
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^$netns_prefix" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" 2>/dev/null || true
  done
  ip link delete "$bridge" 2>/dev/null || true
}

stop() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  remove_pod_network
  # Pods' root directories may hold mount points of processes that are gone now; nothing is mounted on the
  # host itself (each Pod mounts in a namespace of its own).
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

# The Pod network: a free /24 of 10.213.0.0/16 on a bridge of our own (names carry the subnet's number, so
# several control planes on one machine never collide). Without it the API server stays on loopback.
api_address=127.0.0.1 pod_network=""
if command -v ip >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  for attempt in $(seq 1 20); do
    n=$(( (RANDOM % 250) + 2 ))
    ip -4 -o addr show 2>/dev/null | grep -q " 10\.213\.$n\." && continue
    if ip link add "oubr$n" type bridge 2>/dev/null; then
      bridge="oubr$n" netns_prefix="oup$n-"
      if ip addr add "10.213.$n.1/24" dev "$bridge" && ip link set "$bridge" up; then
        api_address="10.213.$n.1"
        pod_network="$bridge,10.213.$n.1/24,$netns_prefix,$dir/pods,$dir/logs/pods"
        mkdir -p "$dir/pods" "$dir/logs/pods"
      else
        remove_pod_network; bridge=""
      fi
      break
    fi
  done
fi
[ -n "$pod_network" ] || echo "controlplane: no Pod network (needs root and iproute2): Pods get loopback addresses" >&2

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
  --secure-port "$api_port" --bind-address "$api_address" --advertise-address "$api_address" \
  --enable-aggregator-routing=true \
  --service-cluster-ip-range 10.0.0.0/24 --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
  --token-auth-file "$dir/pki/tokens.csv" --authorization-mode RBAC --allow-privileged=true \
  --watch-cache-sizes configmaps#0 --etcd-compaction-interval 5s ${svm_api[@]+"${svm_api[@]}"} \
  >"$dir/logs/kube-apiserver.log" 2>&1 &
pids+=($!)
wait_ready kube-apiserver "https://$api_address:$api_port/readyz" "$dir/logs/kube-apiserver.log"

kubeconfig="$dir/kubeconfig"
ca="$(base64 -w0 "$dir/pki/apiserver.crt")"
cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: controlplane
  cluster:
    server: https://$api_address:$api_port
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
real_args=()
if [ -n "$pod_network" ] && images="$("$here/build-operators.sh" --if-built 2>/dev/null)"; then
  real_args=(--images "$images" --pod-network "$pod_network" --api-server "$api_address:$api_port")
  export OPERATOR_UPGRADE_REAL_OPERATORS="$images"
else
  echo "controlplane: real operators not built (controlplane/build-operators.sh builds them): none run in Pods" >&2
fi
"$agent" node-agent --kubeconfig "$kubeconfig" --scenario "$here/../examples/demo-operator/scenario.yaml" \
  "${real_args[@]}" >"$dir/logs/node-agent.log" 2>&1 &
pids+=($!)

echo "controlplane: Kubernetes $("$bin/kubectl" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])') on https://$api_address:$api_port, kubeconfig $kubeconfig" >&2
export OPERATOR_UPGRADE_REAL_KUBECONFIG="$kubeconfig" KUBECONFIG="$kubeconfig" CONTROLPLANE_DIR="$dir"
export PATH="$bin:$PATH"
status=0
"$@" || status=$?
exit "$status"
