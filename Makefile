# `make test` is the project's whole test suite: what CI runs (.ci/run) and
# what the README tells a newcomer to run.
GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOTESTSUM   ?= $(GO) run gotest.tools/gotestsum@v1.13.0
FUZZTIME    ?= 5s

.PHONY: all build test setup lint unit fuzz bench

all: build

build:
	$(GO) build -o covoiturage_exporter .
	$(GO) build -o registry-simulator ./cmd/registry-simulator

# Installs what the tests need on a fresh Debian machine: the Go modules.
setup:
	./scripts/setup.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# gotestsum runs `go test` and closes with the count of tests that ran.
unit:
	$(GOTESTSUM) --format pkgname -- -race -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

test: setup lint fuzz unit

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./...
