# keyspaces-cdc-s3: the front door. `make help` lists the targets.
#
# Tools are pinned and installed into the repo (git ignores them): the CDK CLI in
# infra/node_modules, dynalite and DuckDB (@duckdb/node-api) in test/node_modules, versitygw
# and golangci-lint in .bin/.

SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BIN := $(ROOT)/.bin
GO ?= go

VERSITYGW_VERSION := v1.8.0
VERSITYGW := $(BIN)/versitygw
GOLANGCI_LINT_VERSION := v2.15.0
# The version is in the file name: a new pin installs anew, an unchanged one never rebuilds.
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
DYNALITE := $(ROOT)/test/node_modules/.bin/dynalite
DUCKDB := $(ROOT)/test/node_modules/@duckdb/node-api/package.json
CDK := $(ROOT)/infra/node_modules/.bin/cdk

# Node is v20 here; jsii prints an end-of-life banner on every call without this.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# Tests find the local servers through these (consumer/devservers).
export CDC_TEST_DYNALITE := $(DYNALITE)
export CDC_TEST_VERSITYGW := $(VERSITYGW)

MODULES := consumer constructs infra test
GO_TEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# ---- the consumer binary ---------------------------------------------------------------
# consumer/Dockerfile runs exactly this target, so what is tested here is what ships.
.PHONY: build
build: ## Build the static consumer binary into bin/keyspaces-cdc-s3
	cd consumer && CGO_ENABLED=0 GOWORK=off $(GO) build -trimpath -ldflags='-s -w' \
		-o $(ROOT)/bin/keyspaces-cdc-s3 ./cmd/keyspaces-cdc-s3

.PHONY: build-emulator
build-emulator: ## Build the Keyspaces Streams emulator into bin/streams-emulator
	cd consumer && CGO_ENABLED=0 GOWORK=off $(GO) build -trimpath -o $(ROOT)/bin/streams-emulator ./cmd/streams-emulator

# ---- tools ---------------------------------------------------------------------------
.PHONY: tools
tools: $(CDK) $(DYNALITE) $(DUCKDB) $(VERSITYGW) $(GOLANGCI_LINT) ## Install the pinned CDK CLI, dynalite, DuckDB, versitygw and golangci-lint

$(CDK): infra/package.json infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# One npm ci installs both (test/package.json); DuckDB reads the Parquet files in tests.
$(DYNALITE) $(DUCKDB) &: test/package.json test/package-lock.json
	cd test && npm ci --no-audit --no-fund --loglevel=error
	@touch $(DYNALITE) $(DUCKDB)

$(VERSITYGW):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) GOWORK=off $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# Built from source by the Go toolchain the repo uses (the linter must know its Go version).
$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) GOWORK=off $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/golangci-lint $@

# ---- checks and tests ------------------------------------------------------------------
.PHONY: fmt
fmt: ## gofmt every Go file of the repo
	git ls-files '*.go' | xargs gofmt -w

# Every Go package of the workspace; golangci-lint, like go vet, takes them from the root (go.work).
PACKAGES := $(addsuffix /...,$(addprefix ./,$(MODULES)))
# No non-test Go file may be longer than this (a longer one is split along its seams).
MAX_FILE_LINES := 600

.PHONY: check
check: lint ## gofmt, go vet, golangci-lint (.golangci.yml) and the file-length limit, across the workspace
	@out=$$(git ls-files '*.go' | xargs gofmt -l); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PACKAGES)
	@git ls-files '*.go' ':!:*_test.go' | xargs awk 'FNR == $(MAX_FILE_LINES) + 1 { print FILENAME ": over $(MAX_FILE_LINES) lines"; bad = 1 } END { exit bad }' \
		|| { echo "split the files above along their seams"; exit 1; }

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml) across the workspace
	$(GOLANGCI_LINT) run $(PACKAGES)

.PHONY: reference
reference: ## Regenerate docs/configuration-reference.md from the settings and context parameters
	$(GO) test -count=1 -run '^TestConfigurationReference$$' ./infra -update

.PHONY: test
test: tools ## Run every module's tests (unit, servers, CDK, end-to-end)
	$(GO) test $(GO_TEST_FLAGS) $(PACKAGES)

.PHONY: bench
bench: tools ## Run the benchmarks recorded in docs/benchmarks.md
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./consumer/... ./test/...

# ---- local demo ------------------------------------------------------------------------
.PHONY: demo
demo: $(DYNALITE) $(VERSITYGW) ## Run the whole pipeline locally (emulator, dynalite, versitygw, 2 workers); DEMO_ARGS='-format avro'
	$(GO) run ./test/demo $(DEMO_ARGS)

# ---- CDK -------------------------------------------------------------------------------
.PHONY: synth
synth: $(CDK) ## Synthesize the CloudFormation into cdk.out/ (offline, no AWS account)
	$(CDK) synth --quiet $(CDK_ARGS)
	@ls cdk.out/*.template.json

.PHONY: deploy
deploy: $(CDK) ## Deploy with your AWS credentials: make deploy CDK_ARGS='-c keyspace=... -c table=...'
	$(CDK) deploy $(CDK_ARGS)

.PHONY: clean
clean: ## Remove build output (keeps the installed tools)
	rm -rf bin cdk.out

# Each pipeline benchmark runs one fixed workload on fresh servers (seconds each): once.
.PHONY: bench-pipeline
bench-pipeline: $(DYNALITE) $(VERSITYGW) ## Run only the pipeline benchmarks (docs/benchmarks.md, section pipeline)
	$(GO) test -run '^$$' -bench . -benchtime=1x -timeout 30m -v ./test/bench
