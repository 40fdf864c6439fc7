#!/usr/bin/env bash
# cluster-backup.sh [--force] <dir> — the lab's copy of OpenShift's etcd backup script.
# Same steps and output as OpenShift's: find the latest static pod resources from the manifests, refuse
# while a control-plane operator is progressing (unless --force), snapshot the LOCAL member, verify it,
# and remove partial files on any failure.
set -o errexit
set -o pipefail
set -o errtrace

if [[ $EUID -ne 0 ]]; then
  echo "This script must be run as root"
  exit 1
fi

function usage {
  echo 'Path to backup dir required: ./cluster-backup.sh [--force] <path-to-backup-dir>'
  exit 1
}

FORCE=false
if [ "$1" == "--force" ]; then
  FORCE=true
  shift
fi
if [ -z "$1" ] || [ -f "$1" ]; then
  usage
fi

CONFIG_FILE_DIR=/etc/kubernetes
MANIFEST_DIR="${CONFIG_FILE_DIR}/manifests"
BACKUP_DIR="$1"
DATESTRING=$(date "+%F_%H%M%S")
SUFFIX=""
if [ "$FORCE" == "true" ]; then
  SUFFIX="__POSSIBLY_DIRTY__"
fi
BACKUP_TAR_FILE="${BACKUP_DIR}/static_kuberesources_${DATESTRING}${SUFFIX}.tar.gz"
SNAPSHOT_FILE="${BACKUP_DIR}/snapshot_${DATESTRING}${SUFFIX}.db"
BACKUP_RESOURCE_LIST=("kube-apiserver-pod" "kube-controller-manager-pod" "kube-scheduler-pod" "etcd-pod")
OPERATORS=("etcd" "kube-apiserver" "kube-controller-manager" "kube-scheduler")

trap 'rm -f "${BACKUP_TAR_FILE}" "${SNAPSHOT_FILE}"' ERR

# ETCDCTL_* of this member and the etcd tools' paths, maintained by the etcd operator on every master.
source /etc/kubernetes/static-pod-resources/etcd-certs/configmaps/etcd-scripts/etcd.env

function check_if_operator_is_progressing {
  local operator="$1"
  local progressing
  if ! progressing=$(kubectl --kubeconfig "${NODE_KUBECONFIG}" --request-timeout=5s get co "${operator}" \
      -o jsonpath='{.status.conditions[?(@.type=="Progressing")].status}' 2>/dev/null); then
    echo "warning: could not read clusteroperator ${operator} (is the API down?); continuing"
    return 0
  fi
  if [ "${progressing}" != "False" ] && [ -n "${progressing}" ]; then
    echo "Currently the ${operator} operator is progressing. A reliable backup requires that a rollout is not in progress."
    echo "Aborting the backup. Use --force to override."
    return 1
  fi
}

function backup_latest_kube_static_resources {
  local resources=("$@")
  local latest_dirs=()
  for resource in "${resources[@]}"; do
    local latest
    latest=$(grep -oE "${CONFIG_FILE_DIR}/static-pod-resources/${resource}-[0-9]+" \
      "${MANIFEST_DIR}/${resource}.yaml" 2>/dev/null | head -1) || true
    if [ -z "${latest}" ]; then
      echo "error finding static-pod-resources for ${resource}: is ${MANIFEST_DIR}/${resource}.yaml in place?"
      exit 1
    fi
    echo "found latest ${resource}: ${latest}"
    latest_dirs+=("${latest#"${CONFIG_FILE_DIR}"/}")
  done
  tar -cpzf "${BACKUP_TAR_FILE}" -C "${CONFIG_FILE_DIR}" "${latest_dirs[@]}"
  chmod 600 "${BACKUP_TAR_FILE}"
}

if [ "$FORCE" == "false" ]; then
  for operator in "${OPERATORS[@]}"; do
    check_if_operator_is_progressing "${operator}"
  done
fi

mkdir -p "${BACKUP_DIR}"
sha256sum "${ETCD_ETCDCTL_BIN}" | cut -d' ' -f1
"${ETCD_ETCDCTL_BIN}" version

backup_latest_kube_static_resources "${BACKUP_RESOURCE_LIST[@]}"

ETCDCTL_ENDPOINTS="${ETCD_LOCAL_ENDPOINT}" "${ETCD_ETCDCTL_BIN}" snapshot save "${SNAPSHOT_FILE}"

if ! "${ETCD_ETCDUTL_BIN}" snapshot status "${SNAPSHOT_FILE}" -w json >/dev/null; then
  echo "Backup integrity verification failed. Backup appears corrupted. Aborting"
  false
fi
chmod 600 "${SNAPSHOT_FILE}"
echo "snapshot db and kube resources are successfully saved to ${BACKUP_DIR}"
