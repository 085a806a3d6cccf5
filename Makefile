# `make test` is the project's whole test suite: what CI runs (.ci/run) and
# what the README tells a newcomer to run. `make test-short` is the inner
# loop: every test but the end-to-end runs of real Prometheus and
# Alertmanager, without the race detector, in well under a minute.
GO            ?= go
# golangci-lint runs go vet, staticcheck, errcheck, revive, modernize,
# sloglint and misspell as .golangci.yml says; pinned, built by `go run`.
GOLANGCI_LINT ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
GOTESTSUM   ?= $(GO) run gotest.tools/gotestsum@v1.13.0
FUZZTIME    ?= 5s

.PHONY: all build test test-short checks setup lint unit fuzz bench docker

all: build

# The version --version and covoiturage_exporter_build_info show, from git;
# `go build` and `go install` without these take it from the module version
# Go records (version.go).
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VERSION_PKG = github.com/prometheus/common/version
LDFLAGS  = -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
           -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$$(id -un)@$$(hostname) \
           -X $(VERSION_PKG).BuildDate=$$(date -u +%Y%m%d-%H:%M:%S)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o covoiturage_exporter .
	$(GO) build -ldflags "$(LDFLAGS)" -o registry-simulator ./cmd/registry-simulator

# Installs what the tests need on a fresh Debian machine: the Go modules,
# promtool (Debian's prometheus package) and amtool (prometheus-alertmanager),
# their services kept stopped.
setup:
	./scripts/setup.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GOLANGCI_LINT) run ./...

# gotestsum runs `go test` and closes with the count of tests that ran.
unit:
	$(GOTESTSUM) --format pkgname -- -race -count=1 -timeout 30m ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# The race-enabled tests run beside lint and the fuzz smoke: the two
# alerting runs spend most of their 3 minutes waiting on the alerts'
# `for: 2m`, so the CPU work fits beside them. Each output line stays whole.
test: setup
	@$(MAKE) --no-print-directory -j2 --output-sync=line unit checks

checks:
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory fuzz

test-short:
	$(GO) test -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./...

# The container image (see Dockerfile); needs a Docker engine, so it is not
# part of `make test`.
DOCKER       ?= docker
DOCKER_IMAGE ?= covoiturage_exporter
docker:
	$(DOCKER) build -t $(DOCKER_IMAGE) \
	  --build-arg VERSION="$$(git describe --tags --always --dirty 2>/dev/null || echo unknown)" \
	  --build-arg REVISION="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
	  --build-arg BRANCH="$$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)" \
	  --build-arg BUILD_USER="$$(id -un)@$$(hostname)" \
	  --build-arg BUILD_DATE="$$(date -u +%Y%m%d-%H:%M:%S)" \
	  .
