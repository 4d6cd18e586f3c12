#!/usr/bin/env bash
# End to end on a local Kubernetes (kind) with Docker: build the image, install KubeRay,
# run the scan RayJob, watch it autoscale, clean up. For users with Docker and kind; it
# cannot run on the development machines (no Docker engine, no Kubernetes).
#
#   cluster/kind-e2e.sh            # needs: docker, kind, kubectl, helm
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-accelerate-rl}
IMAGE=${IMAGE:-ghcr.io/accelerate-rl/accelerate-rl:0.1.0}
KUBERAY_VERSION=${KUBERAY_VERSION:-1.7.0}

kind create cluster --name "$CLUSTER"
docker build -f images/Dockerfile -t "$IMAGE" .
kind load docker-image --name "$CLUSTER" "$IMAGE"

# CRDs first, server-side (they are too large for client-side apply), then the operator.
helm repo add kuberay https://ray-project.github.io/kuberay-helm/
helm repo update
kubectl apply --server-side -k "github.com/ray-project/kuberay/ray-operator/config/crd?ref=v${KUBERAY_VERSION}"
helm install kuberay-operator kuberay/kuberay-operator --version "$KUBERAY_VERSION" --skip-crds

kubectl apply -f cluster/rayjob-scan.yaml
echo "watching pods: workers of group 'sim' appear while the scan has queued work"
timeout 1800 bash -c 'until kubectl get rayjob accelerate-rl-scan \
    -o jsonpath="{.status.jobStatus}" | grep -qE "SUCCEEDED|FAILED"; do
  kubectl get pods -l ray.io/cluster --no-headers 2>/dev/null | awk "{print \$1, \$3}"; sleep 10
done'
kubectl get rayjob accelerate-rl-scan -o jsonpath='{.status.jobStatus}{"\n"}'
kubectl logs -l job-name=accelerate-rl-scan --tail=5 || true

kind delete cluster --name "$CLUSTER"
