#!/usr/bin/env bash
# End to end on a real container cluster: create a kind cluster, build and load the manager image,
# `helm install` the chart (with KWOK for simulated hosts), apply examples/, wait until every
# CellCloud object is Ready, run the product smoke suite against it, tear it all down.
# Where no container engine runs (as on CellCloud's build machines) it prints one line and exits 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if ! docker info >/dev/null 2>&1; then
  echo "e2e-kind: skipped: no container engine here ('docker info' failed); run it where Docker works"
  exit 0
fi
source hack/versions.sh
KIND_VERSION=v0.30.0 NODE_IMAGE=kindest/node:v1.34.0
hack/build
source hack/lib.sh
GOBIN="$CACHE_ROOT/kind-$KIND_VERSION" go install "sigs.k8s.io/kind@$KIND_VERSION"
KIND="$CACHE_ROOT/kind-$KIND_VERSION/kind"
cluster="cellcloud-e2e-$$"
work=$(mktemp -d)
export KUBECONFIG="$work/kubeconfig"
cleanup() { "$KIND" delete cluster --name "$cluster" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"$KIND" create cluster --name "$cluster" --image "$NODE_IMAGE" --wait 180s
docker build -t cellcloud/manager:e2e .
"$KIND" load docker-image cellcloud/manager:e2e --name "$cluster"
"$BIN/helm" install cellcloud charts/cellcloud --namespace cellcloud-system --create-namespace \
  --set image.repository=cellcloud/manager --set image.tag=e2e --set image.pullPolicy=Never \
  --set kwok.enabled=true --wait --timeout 5m
"$BIN/kubectl" apply -k examples/
for crd in $("$BIN/kubectl" get crd -o name | grep 'cellcloud\.io$'); do
  kind=${crd#*/}
  "$BIN/kubectl" wait --for=condition=Ready --all --all-namespaces --timeout=300s "$kind"
done
PATH="$(hack/node):$PATH" CELLCLOUD_KUBECONFIG="$KUBECONFIG" node_modules/.bin/vitest run e2e/smoke.test.ts
echo "e2e-kind: passed"
