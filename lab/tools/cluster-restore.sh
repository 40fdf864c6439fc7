#!/usr/bin/env bash
# cluster-restore.sh <backup dir> — the lab's copy of OpenShift 4.4's etcd restore script.
# Stops the four static pods, waits for their containers, moves the etcd data aside (never deletes it),
# unpacks the backup's static pod resources, starts the restore-etcd pod (a one-member etcd restored from
# the snapshot) and the control-plane pods of the backup's revisions.
set -o errexit
set -o pipefail
set -o errtrace

if [[ $EUID -ne 0 ]]; then
  echo "This script must be run as root"
  exit 1
fi

function usage {
  echo 'Path to the directory containing backup files is required: ./cluster-restore.sh <path-to-backup>'
  echo 'The backup directory is expected to be contain two files:'
  echo '        1. etcd snapshot'
  echo '        2. A copy of the Static POD resources at the time of backup'
  exit 1
}

BACKUP_DIR="$1"
if [ -z "${BACKUP_DIR}" ] || [ ! -d "${BACKUP_DIR}" ]; then
  usage
fi

CONFIG_FILE_DIR=/etc/kubernetes
MANIFEST_DIR="${CONFIG_FILE_DIR}/manifests"
MANIFEST_STOPPED_DIR=/home/core/assets/manifests-stopped
ETCD_DATA_DIR=/var/lib/etcd
ETCD_DATA_DIR_BACKUP=/var/lib/etcd-backup
RESTORE_ETCD_POD_YAML="${CONFIG_FILE_DIR}/static-pod-resources/etcd-certs/configmaps/restore-etcd-pod/pod.yaml"
STATIC_POD_LIST=("kube-apiserver-pod.yaml" "kube-controller-manager-pod.yaml" "kube-scheduler-pod.yaml")
STOP_POD_LIST=("kube-scheduler-pod.yaml" "kube-controller-manager-pod.yaml" "etcd-pod.yaml" "kube-apiserver-pod.yaml")
STATIC_POD_CONTAINERS=("etcd" "etcdctl" "etcd-metrics" "kube-controller-manager" "kube-apiserver" "kube-scheduler")

source /etc/kubernetes/static-pod-resources/etcd-certs/configmaps/etcd-scripts/etcd.env

# shellcheck disable=SC2012
BACKUP_FILE=$(ls -v "${BACKUP_DIR}"/static_kuberesources*.tar.gz 2>/dev/null | tail -1) || true
# shellcheck disable=SC2012
SNAPSHOT_FILE=$(ls -v "${BACKUP_DIR}"/snapshot*.db 2>/dev/null | tail -1) || true

if [ -z "${SNAPSHOT_FILE}" ] || [ ! -f "${SNAPSHOT_FILE}" ]; then
  echo "etcd snapshot ${SNAPSHOT_FILE} does not exist."
  exit 1
fi
if [ -z "${BACKUP_FILE}" ] || [ ! -f "${BACKUP_FILE}" ]; then
  echo "static pod resources ${BACKUP_FILE} do not exist."
  exit 1
fi

if ! "${ETCD_ETCDUTL_BIN}" snapshot status "${SNAPSHOT_FILE}" -w json >/dev/null; then
  echo "Backup integrity verification failed. Backup appears corrupted. Aborting"
  exit 1
fi

mkdir -p "${MANIFEST_STOPPED_DIR}"
for pod_file in "${STOP_POD_LIST[@]}"; do
  if [ -f "${MANIFEST_DIR}/${pod_file}" ]; then
    echo "...stopping ${pod_file}"
    mv "${MANIFEST_DIR}/${pod_file}" "${MANIFEST_STOPPED_DIR}/"
  fi
done

for name in "${STATIC_POD_CONTAINERS[@]}"; do
  echo -n "Waiting for container ${name} to stop"
  while [ -n "$(crictl ps --label io.kubernetes.container.name="${name}" -q)" ]; do
    echo -n "."
    sleep 1
  done
  echo "complete"
done

mkdir -p "${ETCD_DATA_DIR_BACKUP}"
if [ -d "${ETCD_DATA_DIR}/member" ]; then
  if [ -d "${ETCD_DATA_DIR_BACKUP}/member" ]; then
    echo "removing previous backup ${ETCD_DATA_DIR_BACKUP}/member"
    rm -rf "${ETCD_DATA_DIR_BACKUP}/member"
  fi
  echo "Moving etcd data-dir ${ETCD_DATA_DIR}/member to ${ETCD_DATA_DIR_BACKUP}"
  mv "${ETCD_DATA_DIR}/member" "${ETCD_DATA_DIR_BACKUP}/"
fi
mkdir -p "${ETCD_DATA_DIR}"

tar -C "${CONFIG_FILE_DIR}" -xzf "${BACKUP_FILE}" static-pod-resources

cp -p "${SNAPSHOT_FILE}" "${ETCD_DATA_DIR_BACKUP}/snapshot.db"

echo "starting restore-etcd static pod"
cp -p "${RESTORE_ETCD_POD_YAML}" "${MANIFEST_DIR}/.etcd-pod.yaml.tmp"
mv "${MANIFEST_DIR}/.etcd-pod.yaml.tmp" "${MANIFEST_DIR}/etcd-pod.yaml"

for pod_file in "${STATIC_POD_LIST[@]}"; do
  resource="${pod_file%.yaml}"
  path=$(tar -tzf "${BACKUP_FILE}" | grep -E "^static-pod-resources/${resource}-[0-9]+/${pod_file}$" | head -1) || true
  if [ -z "${path}" ]; then
    echo "error: ${pod_file} is not in ${BACKUP_FILE}"
    exit 1
  fi
  echo "starting ${pod_file}"
  echo "${path}"
  cp -p "${CONFIG_FILE_DIR}/${path}" "${MANIFEST_DIR}/.${pod_file}.tmp"
  mv "${MANIFEST_DIR}/.${pod_file}.tmp" "${MANIFEST_DIR}/${pod_file}"
done
