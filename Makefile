# natssl — the two set-up commands are `make demo` and `make test`.
GO       ?= go
# OpenBLAS when Debian's libopenblas-dev is there (2-3x faster training), else gonum's pure-Go BLAS;
# MPI (runs of several processes under mpirun or srun) when libopenmpi-dev is.
TAGS     ?= $(strip $(shell pkg-config --exists openblas 2>/dev/null && echo openblas) \
              $(shell pkg-config --exists ompi-c 2>/dev/null && echo mpi))
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/natssl/natssl/internal/cli.version=$(VERSION)
BIN      := bin/natssl
export CGO_ENABLED := 1
# make sweep-demo's design size (see scripts/sweep-demo.sh).
TRIALS   ?= 12
BUDGET   ?= 10m
PARALLEL ?= 1
RESUME   ?=

.PHONY: deps build test bench bench-augment bench-loader bench-monitor bench-train bench-mpi gpu-bundle gpu-check photos demo sweep-demo methods-demo faults lint fmt clean

# The Debian packages the build, tests and demo need (scripts/deps.sh holds the one list):
# installed when run as root, otherwise the apt-get line to run is printed.
deps:
	scripts/deps.sh

build:
	$(GO) build -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/natssl

# vet + the whole suite under the race detector, then the pure-Go decoder and pixel passes
# (the build without libjpeg-turbo), the build without MPI, and the GPU check's training run on
# the host simulation (two minutes, too slow under the race detector) on their own. (TAGS is expanded
# when a recipe runs, so after deps has installed OpenBLAS and Open MPI.)
test: deps
	$(GO) vet -tags '$(TAGS)' ./...
	$(GO) test -tags '$(TAGS)' -race -count=1 -timeout 20m ./...
	$(GO) test -tags 'noturbojpeg' -count=1 ./decode ./augment ./mpi
	$(GO) test -count=1 -run WithoutMPI ./internal/cli
	$(GO) test -tags '$(TAGS)' -count=1 -run '^TestCUDAGPURunOnHost$$' ./trainer

# Go benchmarks of every package (speed is measured here, never asserted in tests).
bench:
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench . -benchmem ./...

# The main job end to end on real images (Fashion-MNIST from Debian): data conversion, a
# random-init probe, SimCLR training for the demo budget, a probe of the trained encoder and the
# comparison report; ends with the headline. DEMO_FLAGS passes extra flags, e.g.
# DEMO_FLAGS='--set train.time_limit=3m'.
demo: deps build
	scripts/demo.sh $(DEMO_FLAGS)

# The search behind the demo recipe, in one command: a one-trial sweep of the default recipe,
# then a random search over temperature, width, crop scale, jitter strength, lr and batch, each
# trial with the demo's budget, judged on the validation suite; then the sweep's report. TRIALS,
# BUDGET, PARALLEL and RESUME=<sweep id> are passed on, e.g. `make sweep-demo TRIALS=2 BUDGET=20s`.
sweep-demo: deps build
	TRIALS=$(TRIALS) BUDGET=$(BUDGET) PARALLEL=$(PARALLEL) RESUME=$(RESUME) scripts/sweep-demo.sh $(SWEEP_FLAGS)

# The five self-supervised methods (SimCLR, BYOL, MoCo v2, VICReg, Barlow Twins) on the demo data,
# each in BUDGET (default 10m) with its recipe (scripts/methods-demo.sh), against the random-init
# encoder; then `natssl report` of the six runs and a table of the gains, e.g.
# `make methods-demo BUDGET=90s`, `make methods-demo METHODS='byol moco'`; SEEDS='42 43 44' runs it all
# at each seed, in one report that groups the seeds.
METHODS ?= simclr byol moco vicreg barlow
methods-demo: deps build
	BUDGET=$(BUDGET) METHODS='$(METHODS)' SEEDS='$(SEEDS)' scripts/methods-demo.sh $(METHODS_FLAGS)

# The fault campaign against the built binary: kill -9 at random moments with --resume auto,
# bad files among the images, S3 outages (moto_server behind a fault proxy), full disks (tmpfs:
# run as root); prints a table of faults tried, survived and what was lost. A few minutes.
faults: build
	FAULTS_NATSSL=$(abspath $(BIN)) $(GO) test -tags '$(TAGS) faults' -run '^TestCampaign$$' -count=1 -v -timeout 30m ./internal/faults

# The iNat-like benchmark photo set (max side 500 px, quality 90) from Debian's wallpapers.
PHOTOS ?= /tmp/natssl-photos
photos:
	scripts/make-photos.sh $(PHOTOS)

bench-augment: photos
	NATSSL_PHOTOS=$(PHOTOS) $(GO) test -tags '$(TAGS)' -run '^$$' -bench 'TwoViews|Stages|Decode|Passes' ./augment

# natssl's loader against the torchvision peer, same photos and recipe, one sitting.
bench-loader: build
	PHOTOS=$(PHOTOS) scripts/bench-loader.sh

# The online monitor's cost on the demo recipe: short runs with it on and off, one sitting;
# MONITOR_COST='STEPS PAIRS EVERY' (default '30 1 15').
bench-monitor: build
	scripts/monitor-cost.sh $(MONITOR_COST)

# natssl's training step against the PyTorch peer (same model, loss, optimizer, batch and
# threads), one sitting: convnet-small, resnet18-cifar at 32 and 96 px. BENCH_TRAIN_FLAGS
# passes steps and warm-up steps, e.g. BENCH_TRAIN_FLAGS='9 3'.
bench-train: build
	scripts/bench-train.sh $(BENCH_TRAIN_FLAGS)

# One step over 2 MPI ranks of 1 replica against 1 process of 2 replicas (same model and
# batch), one sitting: the step-time ratio and the collectives' share of the step; then the
# ordered all-reduce against Open MPI's own. BENCH_MPI_FLAGS passes steps and warm-up steps.
bench-mpi: build
	scripts/bench-mpi-train.sh $(BENCH_MPI_FLAGS)
	scripts/bench-mpi.sh

# The GPU checks for a machine with an NVIDIA GPU but no Go: gpu-bundle builds natssl and the
# test binaries (needing only libc) and a photo set into .gpu/ (under 64 MiB); carry it there
# and run scripts/gpu-check.sh (make gpu-check where make is), which runs the GPU tests,
# natssl bench train beside the PyTorch peer and bench loader in under 8 minutes, and writes
# $OUT/gpu-check.json.
gpu-bundle: photos
	PHOTOS=$(PHOTOS) scripts/gpu-bundle.sh

gpu-check:
	scripts/gpu-check.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin runs
