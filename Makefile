# CellCloud developer entry points. `make up` brings up the local cloud, `make test` runs every test.
# Both install what they need: Node 24 (if the system's is older), npm packages and the pinned
# control-plane binaries (built once into ~/.cache/cellcloud).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# Recipes run with Node >= 24 and the project's node_modules/.bin first on PATH.
NODE := PATH="$$(hack/node):$(CURDIR)/node_modules/.bin:$$PATH"
REPORT := .state/vitest-report.json

.PHONY: help console up down clean clean-cache deps binaries test test-unit typecheck status generate verify-generated e2e-kind bench-scheduler bench-webhook bench-ipam bench-slb bench-billing bench-scale plugin

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	@$(NODE) npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.installed ## install Node 24 (if needed) and npm packages

binaries: ## build the pinned etcd/kube-*/kwok/helm binaries into ~/.cache/cellcloud (once)
	@hack/build

up: deps ## start the local cloud (control plane, CRDs, manager, examples) and print KUBECONFIG
	@$(NODE) hack/up

down: ## stop every process `make up` or `make test` started (by pid)
	@for s in .state/*/; do [[ -d $$s/pids ]] && CELLCLOUD_STATE=$(CURDIR)/$${s%/} hack/down; done; true

clean: down ## stop everything and delete all local state (etcd data, certs, logs)
	rm -rf .state dist

clean-cache: ## delete the cached binaries and Node under ~/.cache/cellcloud
	rm -rf "$${CELLCLOUD_CACHE:-$$HOME/.cache/cellcloud}"

status: ## show the local cloud's processes and health
	@hack/status

typecheck: deps ## type-check all TypeScript (strict), the console's web app too
	@$(NODE) tsc --noEmit
	@$(NODE) tsc --noEmit -p console

console: deps ## build the console's web app into console/dist (when its sources changed; make up does it too)
	@$(NODE) hack/console-build

test: deps binaries typecheck ## run every test: unit (no cluster) and e2e (real local control plane)
	@mkdir -p .state
	@$(NODE) vitest run --reporter=json --outputFile.json=$(REPORT) --reporter=default

test-unit: deps ## run only the unit tests (no cluster)
	@$(NODE) vitest run --project unit

generate: deps ## regenerate crds/ from the zod schemas in operators/api
	@$(NODE) node operators/api/generate.ts

verify-generated: generate ## fail if crds/ differs from what `make generate` writes (CI runs this)
	@git diff --exit-code -- crds/ charts/cellcloud/crds/ charts/cellcloud/values.schema.json && test -z "$$(git status --porcelain -- crds/ charts/cellcloud/)" || \
	  { echo "crds/ or charts/cellcloud/crds/ is stale: run 'make generate' and commit the result" >&2; exit 1; }

e2e-kind: deps ## kind cluster + image + helm install + examples + smoke suite (skips without Docker)
	@$(NODE) e2e/kind/run.sh

bench-scheduler: deps binaries ## cell scheduler vs kube-scheduler on a plane of its own (BENCH_SCALE=full: 5000 nodes)
	@$(NODE) node bench/scheduler/run.ts

bench-webhook: deps binaries ## quota admission (our webhook) vs Kubernetes ResourceQuota and vs no admission, at 1000+ objects per namespace, on a plane of its own
	@$(NODE) node bench/webhook/run.ts

bench-ipam: deps binaries ## addresses for 5000 NICs per second vs the raw create rate of as many IPAllocations, on a plane of its own
	@$(NODE) node bench/ipam/run.ts

bench-slb: deps ## requests/s and p99 through the SLB data plane (HAProxy) vs straight to one backend, on loopback
	@$(NODE) node bench/slb/run.ts

bench-billing: deps binaries ## billing ledger: rating an hour at 30000 instances vs raw COPY of the same rows, and a month's rows, size and bills (BENCH_SCALE=full: the month at 30000), on a plane of its own
	@$(NODE) node bench/billing/run.ts

bench-scale: deps binaries ## the whole manager at seed scale (BENCH_SCALE=full: 5000 hosts, 30000 instances) vs the bare floor, footprint, restart, sizes, and the scheduler/quota ceilings, on planes of their own
	@$(NODE) node bench/scale/run.ts

plugin: deps ## build the kubectl-cellcloud archive (dist/, reproducible) and write its sha256 into plugins/krew/cellcloud.yaml
	@$(NODE) hack/plugin-archive
