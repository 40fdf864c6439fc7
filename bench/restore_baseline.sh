#!/usr/bin/env bash
# The seed's restore (3.3) as a plain script: the commands an administrator would type, in the order
# /etcd restore runs them, with the same waits, polling every second. bench/restore.py times it as the
# baseline. Arguments: the backup folder on this machine, the recovery host, then the other masters.
# Environment: SSH_KEY, KNOWN_HOSTS (the lab's), KUBECONFIG.
set -euo pipefail
backup=$1
recovery=$2
shift 2
others=("$@")
ssh_opts=(-i "$SSH_KEY" -o "UserKnownHostsFile=$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes)
on() { ssh "${ssh_opts[@]}" "core@$1" "${@:2}"; }
staging=/home/core/baseline-restore-$$
aside=/var/lib/baseline-aside-$$

on "$recovery" "mkdir -p $staging"
scp -q "${ssh_opts[@]}" "$backup"/* "core@$recovery:$staging/"
for ip in "${others[@]}"; do
  on "$ip" "sudo mkdir -p $aside && sudo mv /etc/kubernetes/manifests/etcd-pod.yaml $aside/"
  until [ -z "$(on "$ip" 'sudo crictl ps | grep etcd | grep -v operator || true')" ]; do sleep 1; done
  on "$ip" "sudo mv /etc/kubernetes/manifests/kube-apiserver-pod.yaml $aside/"
  until [ -z "$(on "$ip" 'sudo crictl ps | grep kube-apiserver | grep -v operator || true')" ]; do sleep 1; done
  on "$ip" "sudo mv /var/lib/etcd $aside/etcd"
done
on "$recovery" "sudo -E /usr/local/bin/cluster-restore.sh $staging" >/dev/null
for ip in "$recovery" "${others[@]}"; do on "$ip" "sudo systemctl restart kubelet.service"; done
until on "$recovery" "sudo crictl ps" | grep etcd | grep -v operator | grep -q Running; do sleep 1; done
until kubectl get pods -n openshift-etcd 2>/dev/null | grep '^etcd-' | grep -q Running; do sleep 1; done

revision() { kubectl get "$1" cluster -o jsonpath='{.status.latestAvailableRevision}' 2>/dev/null || echo 0; }
# "AllNodesAtLatestRevision 3 nodes are at revision 7" → 7 once every node runs the latest revision, else 0
at_revision() {
  kubectl get "$1" cluster -o jsonpath='{range .status.conditions[?(@.type=="NodeInstallerProgressing")]}{.reason} {.message}{end}' \
    2>/dev/null | sed -n 's/^AllNodesAtLatestRevision [0-9]* nodes are at revision \([0-9]*\)$/\1/p' | grep . || echo 0
}
for operator in etcd kubeapiserver kubecontrollermanager kubescheduler; do
  before=$(revision "$operator")
  reason="recovery-$(date --rfc-3339=ns)"
  kubectl patch "$operator" cluster --type=merge -p "{\"spec\":{\"forceRedeploymentReason\":\"$reason\"}}" >/dev/null
  until [ "$(at_revision "$operator")" -gt "$before" ]; do sleep 1; done
done
until [ "$(kubectl get pods -n openshift-etcd | grep '^etcd-' | grep -c ' 3/3 *Running')" -eq 3 ]; do sleep 1; done
pod=$(kubectl get pods -n openshift-etcd | awk '/^etcd-/ {print $1; exit}')
until kubectl exec -n openshift-etcd "$pod" -c etcdctl -- etcdctl endpoint health --cluster >/dev/null 2>&1; do
  sleep 1
done
