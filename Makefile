# callscope: the usual entry points. Everything is plain `go`; no cgo.
GO        ?= go
FUZZTIME  ?= 30s
BIN       ?= bin/callscope
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

export CGO_ENABLED = 0

.PHONY: all build test fuzz bench pgo lint captures clean

all: lint build test

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/callscope

test:
	$(GO) test ./...

# Every fuzz target, FUZZTIME each. `go test -fuzz` takes one target and one
# package at a time, hence the loop.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# callscope against tshark on seeded synthetic captures (scripts/bench.sh;
# BENCH_SIZES, BENCH_RUNS, BENCH_DIR there), then the Go micro-benchmarks.
bench:
	GO=$(GO) scripts/bench.sh
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Re-makes cmd/callscope/default.pgo, the profile the build optimizes with
# (scripts/pgo.sh).
pgo:
	GO=$(GO) scripts/pgo.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Re-records the reference captures with coturn, SIPp and tcpdump (root).
captures:
	pcaps/make-captures.sh
	pcaps/make-sip-captures.sh
	pcaps/make-webrtc-captures.sh

clean:
	rm -rf bin
