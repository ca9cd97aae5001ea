# keyspaces-cdc-s3: the front door. `make help` lists the targets.
#
# Tools are pinned and installed into the repo (git ignores them): the CDK CLI in
# infra/node_modules, dynalite and DuckDB (@duckdb/node-api) in test/node_modules, versitygw
# and golangci-lint in .bin/. versitygw is built once per version into TOOLS_CACHE, which every
# clone (and CI, when it keeps the folder) shares.

SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BIN := $(ROOT)/.bin
GO ?= go

VERSITYGW_VERSION := v1.8.0
VERSITYGW := $(BIN)/versitygw
GOLANGCI_LINT_VERSION := v2.15.0
# The version is in the file name: a new pin installs anew, an unchanged one never rebuilds.
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/keyspaces-cdc-s3
VERSITYGW_CACHED := $(TOOLS_CACHE)/versitygw-$(VERSITYGW_VERSION)/versitygw
GOLANGCI_LINT_CACHED := $(TOOLS_CACHE)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
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
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
		'{name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1)} \
		END {for (i = 1; i <= NR; i++) printf "  %-*s  %s\n", w, name[i], text[i]}'

# ---- the consumer binary ---------------------------------------------------------------
# consumer/Dockerfile runs exactly this target, so what is tested here is what ships.
# VERSION names the build in --version and the start-up log: git's description of the
# checkout, or where there is no .git (the image's build context) a hash of consumer/'s
# files, "src-<12 hex>", the same for the same sources.
VERSION ?= $(shell git -C $(ROOT) describe --tags --always --dirty 2>/dev/null || \
	echo src-$$(cd $(ROOT)/consumer && find . -type f -not -name '*_test.go' -not -path '*/testdata/*' | \
	LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12))

.PHONY: build
build: ## Build the static consumer binary into bin/keyspaces-cdc-s3
	cd consumer && CGO_ENABLED=0 GOWORK=off $(GO) build -trimpath \
		-ldflags='-s -w -X main.version=$(VERSION)' \
		-o $(ROOT)/bin/keyspaces-cdc-s3 ./cmd/keyspaces-cdc-s3

.PHONY: build-emulator
build-emulator: ## Build the Keyspaces Streams emulator into bin/streams-emulator
	cd consumer && CGO_ENABLED=0 GOWORK=off $(GO) build -trimpath -o $(ROOT)/bin/streams-emulator ./cmd/streams-emulator

# ---- tools ---------------------------------------------------------------------------
.PHONY: tools install-tools
tools: ## Install the pinned CDK CLI, dynalite, DuckDB, versitygw and golangci-lint (at once)
	@$(MAKE) --no-print-directory -j3 install-tools

install-tools: $(CDK) $(DYNALITE) $(DUCKDB) $(VERSITYGW) $(GOLANGCI_LINT)
	@:

$(CDK): infra/package.json infra/package-lock.json
	@echo "tools: the pinned CDK CLI into infra/node_modules (npm ci)"
	cd infra && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# One npm ci installs both (test/package.json); DuckDB reads the Parquet files in tests.
$(DYNALITE) $(DUCKDB) &: test/package.json test/package-lock.json
	@echo "tools: dynalite and DuckDB into test/node_modules (npm ci)"
	cd test && npm ci --no-audit --no-fund --loglevel=error
	@touch $(DYNALITE) $(DUCKDB)

$(VERSITYGW): $(VERSITYGW_CACHED)
	@mkdir -p $(BIN)
	cp -f $< $@

$(VERSITYGW_CACHED):
	@echo "tools: building versitygw $(VERSITYGW_VERSION) once into $(@D) (the first time: ~100 Go modules, a minute or more)"
	@mkdir -p $(@D)
	GOBIN=$(@D) GOWORK=off $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

.PHONY: deps
deps: ## Download the Go modules of the four modules at once (synth, test and demo do it as needed)
	@echo "deps: downloading the Go modules of consumer, constructs, infra and test (a new machine: ~400 MB)"
	$(GO) mod download

# Built from source by the Go toolchain the repo uses (the linter must know its Go version),
# once per version into TOOLS_CACHE, like versitygw.
$(GOLANGCI_LINT): $(GOLANGCI_LINT_CACHED)
	@mkdir -p $(BIN)
	cp -f $< $@

$(GOLANGCI_LINT_CACHED):
	@echo "tools: building golangci-lint $(GOLANGCI_LINT_VERSION) once into $(@D) (the first time: a few minutes)"
	@mkdir -p $(@D)
	GOBIN=$(@D) GOWORK=off $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

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
	@echo "test: compiling, then each package prints ok as it passes (a new machine: minutes of compiling first)"
	$(GO) test $(GO_TEST_FLAGS) $(PACKAGES)

.PHONY: bench
bench: tools ## Run the benchmarks recorded in docs/benchmarks.md
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./consumer/... ./test/...

# ---- local demo ------------------------------------------------------------------------
.PHONY: demo
demo: $(DYNALITE) $(VERSITYGW) ## Run the whole pipeline locally (emulator, dynalite, versitygw, 2 workers); DEMO_ARGS='-format avro'
	@echo "demo: compiling the demo"
	$(GO) run ./test/demo $(DEMO_ARGS)

# ---- CDK -------------------------------------------------------------------------------
# The app is compiled first, in its own step (the long one on a new machine), then run by
# cdk. Without CDK_ARGS, synth reviews the stack for the sample table: -c demo=true.
CDK_APP := $(BIN)/cdk-app
# jsii's runtime sometimes prints this, without a newline, as the app exits: harmless (two
# waits race for its node process), but glued to the next line it looked like an error.
# synth drops it.
JSII_WAITID := Runtime process exited abnormally: waitid: no child processes
SYNTH_ARGS = $(if $(strip $(CDK_ARGS)),$(CDK_ARGS),-c demo=true)

.PHONY: cdk-app
cdk-app:
	@echo "cdk: compiling the CDK app (a new machine first downloads ~400 MB of Go modules and compiles awscdk: minutes)"
	$(GO) build -o $(CDK_APP) ./infra

.PHONY: synth
synth: $(CDK) cdk-app ## Synthesize the CloudFormation into cdk.out/ (offline); CDK_ARGS='-c keyspace=... -c table=...', none: the sample table
	@$(if $(strip $(CDK_ARGS)),,echo "synth: no CDK_ARGS: the sample table media.media_content (-c demo=true); name yours with CDK_ARGS='-c keyspace=... -c table=...'")
	@echo "$(CDK) synth --quiet --app $(CDK_APP) $(SYNTH_ARGS)"
	@set -o pipefail; $(CDK) synth --quiet --app $(CDK_APP) $(SYNTH_ARGS) 2>&1 | sed -u 's/$(JSII_WAITID)//'
	@ls cdk.out/*.template.json

.PHONY: deploy
deploy: $(CDK) cdk-app ## Deploy with your AWS credentials: make deploy CDK_ARGS='-c keyspace=... -c table=...'
	$(CDK) deploy --app $(CDK_APP) $(CDK_ARGS)

.PHONY: clean
clean: ## Remove build output (keeps the installed tools)
	rm -rf bin cdk.out

# Each pipeline benchmark runs one fixed workload on fresh servers (seconds each): once.
.PHONY: bench-pipeline
bench-pipeline: $(DYNALITE) $(VERSITYGW) ## Run only the pipeline benchmarks (docs/benchmarks.md, section pipeline)
	$(GO) test -run '^$$' -bench . -benchtime=1x -timeout 30m -v ./test/bench

# The consumer is built with profile-guided optimisation: `go build` reads the CPU profile
# beside its main package (default.pgo). This refreshes that profile from the pipeline
# benchmarks, each format's worker profiled once (docs/development.md, "Profile-guided
# optimisation"). Minutes; commit the new file. Each profile is read alone first: a profile
# that does not decode fails the target, where the merge would only leave it out.
PGO_PROFILE := consumer/cmd/keyspaces-cdc-s3/default.pgo
PGO_BENCH := SteadyState/(json|avro)|Throughput/parquet|Iceberg$$

.PHONY: pgo-profile
pgo-profile: $(DYNALITE) $(VERSITYGW) ## Refresh the consumer's build profile (default.pgo) from the pipeline benchmarks
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	GOFLAGS=-tags=cdcprofile CDC_TEST_CPU_PROFILE_DIR=$$dir \
		$(GO) test -run '^$$' -bench '$(PGO_BENCH)' -benchtime=1x -timeout 30m ./test/bench; \
	for f in $$dir/keyspaces-cdc-s3-*.prof; do $(GO) tool pprof -proto $$f > /dev/null; done; \
	$(GO) tool pprof -proto $$dir/keyspaces-cdc-s3-*.prof > $(PGO_PROFILE).new; \
	mv $(PGO_PROFILE).new $(PGO_PROFILE); ls -l $(PGO_PROFILE)
