# Healthcare AI Platform. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
DATA ?= data
# Test flags: the race detector everywhere; CI runs exactly this.
TEST_FLAGS ?= -race -count=1 -timeout 25m

.DEFAULT_GOAL := help

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-14s %s\n", $$1, $$2}'

setup: ## install build/test dependencies and fetch the ONNX Runtime library (idempotent)
	@scripts/setup.sh

run: setup ## run the main job: 1000 synthetic X-rays through the whole platform on the embedded default
	$(GO) run ./cmd/hap demo -data $(DATA)

serve: setup ## keep the platform running for real use (embedded NATS, local storage)
	$(GO) run ./cmd/hap serve -data $(DATA)

test: setup ## vet and run every test (what CI runs)
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...
	$(GO) test -count=1 -timeout 15m -run 'TestDemoScenarios' ./cmd/hap

bench: setup ## run the benchmarks (figures go to BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./...

generate: ## generate the synthetic data set (Kaggle layout) in $(DATA)
	$(GO) run ./cmd/hap generate -out $(DATA)

train: ## regenerate the training data and retrain both models into models/ (installs python3-torch)
	@scripts/setup.sh train
	@scripts/train.sh

fuzz: setup ## run every fuzz target for a bounded number of executions (FUZZ_N, default 100000x)
	@scripts/fuzz.sh $${FUZZ_N:-100000x}

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

clean: ## remove build output and run data (keeps the downloaded libraries in .cache)
	rm -rf bin var

.PHONY: help setup run serve test bench generate train fuzz lint clean
