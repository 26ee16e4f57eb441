# Targets: test (vet + all tests), bench, demo (the main job), lint, openblas variants.
GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 1s

.PHONY: test bench demo lint fmt test-openblas bench-openblas

test:
	$(GO) vet $(PKGS)
	$(GO) test -timeout 14m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

demo:
	$(GO) run ./examples/odenet-mnist

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# OpenBLAS is optional (Debian's libopenblas-dev); pure Go stays the default.
test-openblas:
	$(GO) test -tags openblas -timeout 14m $(PKGS)

bench-openblas:
	OPENBLAS_NUM_THREADS=1 $(GO) test -tags openblas -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)
