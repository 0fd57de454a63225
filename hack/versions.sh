# Pinned upstream versions of the local control plane. Bumping any of these builds a new set
# under ~/.cache/cellcloud/<VERSION_KEY>/bin; the old set stays until `make clean-cache`.
K8S_VERSION=v1.34.2
K8S_STAGING_VERSION=v0.34.2
ETCD_VERSION=v3.6.5
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.19.5
VERSION_KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}"
