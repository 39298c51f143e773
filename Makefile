# streamguard - build, test, run, bench.
#
#   make run     install missing Debian packages, build, make dev certificates, serve on 127.0.0.1:8443
#                (lookup() asks the cluster of $KUBECONFIG when it is set, else finds nothing)
#   make test    install missing packages, build, run unit and integration tests, and the alert
#                rules' unit tests (promtool, make test-alerts)
#   make golden  rewrite the recorded answers to the captured reviews after an intended change
#   make check   the same tests built with AddressSanitizer and UndefinedBehaviorSanitizer
#   make valgrind  the integration tests with the server under valgrind (leaks are errors)
#   make bench   streamguard against nginx, same certificate, same run (not part of make test)
#   make e2e     streamguard as the webhook of a real kube-apiserver 1.20 (not part of make test)

CC      ?= gcc
BUILD   ?= build
SAN     ?=
PKGS    := libmicrohttpd gnutls openssl libcjson libpcre2-8 yaml-0.1 libcurl
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lmicrohttpd -lgnutls -lssl -lcrypto -lcjson -lpcre2-8 -lyaml -lcurl)

OPT     := -O2
SANFLAGS :=
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined
OPT     := -O1 $(SANFLAGS) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(OPT) -MMD -MP \
           -DSTREAMGUARD_COMMIT='"$(COMMIT)"' $(PKG_CFLAGS)
LDFLAGS += $(SANFLAGS)
# mimalloc replaces malloc for the whole process (cJSON allocates every node and string; with
# glibc malloc that churn cost ~20% of throughput in make bench). Linked first so its symbols
# win. Sanitizer builds keep libc malloc: AddressSanitizer brings its own.
ALLOC   ?= $(if $(filter 1,$(SAN)),libc,mimalloc)
LDLIBS  += $(if $(filter mimalloc,$(ALLOC)),-lmimalloc) $(PKG_LIBS) -lpthread
CFLAGS  += $(if $(filter mimalloc,$(ALLOC)),-DSG_MIMALLOC) # util/mem.c asks it to give back memory
LDLIBS  += -lm

# The server's build is optimised with link-time optimisation (LTO=1) and with the profile of a
# training run (PGO=1): scripts/pgo_train.c decides the captured reviews of
# tests/fixtures/admission/ (all but the one make bench sends) and the typical review with the
# shipped policies, on /validate and /mutate, with the core instrumented (objects in
# $(BUILD)/pgo/obj/); the core's objects are then compiled with that profile. Both compiles of a
# file name its profile alike (-dumpbase $(BUILD)/pgo/prof/FILE): gcc tells a static
# function's profile by that name. Together about -8% of the instructions of a request and
# fewer lines of code touched (docs/server.md, "Build"). A change to the core trains again and
# recompiles the core: PGO=0 LTO=0 (after make clean) for quick builds while editing. Sanitizer
# builds use neither. The objects keep their ordinary code beside the LTO code
# (-ffat-lto-objects), so the tests link them without LTO.
LTO     ?= 1
PGO     ?= 1
# override: also when PGO=1 or LTO=1 came on make check's command line
ifeq ($(SAN),1)
override LTO := 0
override PGO := 0
endif
LTO_CFLAGS  := $(if $(filter 1,$(LTO)),-flto=auto -ffat-lto-objects)
LDFLAGS     += $(if $(filter 1,$(LTO)),-fno-lto) # the linker plugin would do LTO on its own
PGO_CFLAGS  := $(if $(filter 1,$(PGO)),-fprofile-use -fprofile-partial-training -Wno-missing-profile)
PGO_DIR     := $(BUILD)/pgo
PGO_NAME     = $(if $(filter 1,$(PGO)),-dumpbase $(PGO_DIR)/prof/$(1))
PGO_MKDIR    = $(if $(filter 1,$(PGO)),$(dir $(PGO_DIR)/prof/$(1)))
PGO_GEN     := -fprofile-generate -fprofile-update=single
PGO_REVIEWS := $(filter-out %/flinkdeployment-create-v1.request.json,\
                 $(sort $(wildcard tests/fixtures/admission/*.request.json))) \
               tests/bench/flinkdeployment-typical-v1.json

CORE_SRC := $(wildcard src/util/*.c src/expr/*.c src/k8s/*.c src/policy/*.c src/admission/*.c src/tls/*.c \
                      src/kube/*.c src/audit/*.c)
BIN_SRC  := $(wildcard src/server/*.c src/cli/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/schemas.o
BIN_OBJ  := $(BIN_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test test-only unit integration policies deploy-test test-alerts deploy-sync golden e2e image check valgrind bench fuzz fuzz-policy fuzz-review fuzz-check fuzz-kube clean format
all: $(BUILD)/streamguard

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@) $(call PGO_MKDIR,$*)
	$(CC) $(CFLAGS) $(LTO_CFLAGS) $(PGO_CFLAGS) $(call PGO_NAME,$*) -c $< -o $@

# The schemas lint checks field paths against (src/policy/schema.h): every served version of
# the CRDs vendored in schemas/crds/, and Kubernetes' own kinds from the OpenAPI extract in
# schemas/kube/, in the compact form, written by scripts/schemagen.c.
SCHEMA_CRDS := $(sort $(wildcard schemas/crds/*/*.yaml schemas/crds/*/*.yml schemas/crds/*/*/*.yaml \
                                 schemas/crds/*/*/*.yml)) $(sort $(wildcard schemas/kube/*.json))
SCHEMAGEN_OBJ := $(BUILD)/obj/src/policy/schema.o $(BUILD)/obj/src/policy/yamldoc.o \
                 $(BUILD)/obj/src/expr/types.o $(filter $(BUILD)/obj/src/util/%,$(CORE_OBJ))
# PGO=1: the optimised objects wait for the profile, whose training needs the schemas.
ifeq ($(PGO),1)
SCHEMAGEN_OBJ := $(SCHEMAGEN_OBJ:$(BUILD)/obj/%=$(PGO_DIR)/obj/%)
$(BUILD)/schemagen: LDFLAGS += $(PGO_GEN)
endif
$(BUILD)/schemagen: scripts/schemagen.c $(SCHEMAGEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(SCHEMAGEN_OBJ) $(LDLIBS)
$(BUILD)/gen/schemas.c: $(BUILD)/schemagen $(SCHEMA_CRDS)
	@mkdir -p $(dir $@)
	$(BUILD)/schemagen $@.tmp $(SCHEMA_CRDS) && mv $@.tmp $@
$(BUILD)/obj/gen/schemas.o: $(BUILD)/gen/schemas.c
	@mkdir -p $(dir $@) $(call PGO_MKDIR,gen/schemas)
	$(CC) $(CFLAGS) $(LTO_CFLAGS) $(PGO_CFLAGS) $(call PGO_NAME,gen/schemas) -Isrc -c $< -o $@

# PGO=1: the instrumented core and the training run, which writes the profile
# ($(PGO_DIR)/prof/). schemagen links the instrumented objects (above); what it writes of the
# profile is deleted before the training.
ifeq ($(PGO),1)
PGO_OBJ := $(CORE_OBJ:$(BUILD)/obj/%=$(PGO_DIR)/obj/%)
$(PGO_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@) $(call PGO_MKDIR,$*)
	$(CC) $(CFLAGS) $(PGO_GEN) $(call PGO_NAME,$*) -c $< -o $@
$(PGO_DIR)/obj/gen/schemas.o: $(BUILD)/gen/schemas.c
	@mkdir -p $(dir $@) $(call PGO_MKDIR,gen/schemas)
	$(CC) $(CFLAGS) $(PGO_GEN) $(call PGO_NAME,gen/schemas) -Isrc -c $< -o $@
$(PGO_DIR)/pgo_train: scripts/pgo_train.c $(PGO_OBJ)
	$(CC) $(CFLAGS) $(PGO_GEN) -Isrc $(LDFLAGS) -o $@ $< $(PGO_OBJ) $(LDLIBS)
$(PGO_DIR)/profile.stamp: $(PGO_DIR)/pgo_train $(wildcard policies/*.yaml) $(PGO_REVIEWS)
	find $(PGO_DIR)/prof -name '*.gcda' -delete
	$(PGO_DIR)/pgo_train 20 policies $(PGO_REVIEWS)
	touch $@
$(CORE_OBJ): $(PGO_DIR)/profile.stamp
endif

$(BUILD)/libcore.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/streamguard: $(BIN_OBJ) $(BUILD)/libcore.a
	$(CC) $(LDFLAGS) $(if $(filter 1,$(LTO)),-flto=auto $(OPT)) -o $@ $(BIN_OBJ) \
	    $(BUILD)/libcore.a $(LDLIBS)

# Unit tests include the .c under test when they need its static functions.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(BUILD)/libcore.a $(LDLIBS) -lcmocka

# The corpus replay runs the targets of 'check' too, which live in src/cli/ (not in libcore.a).
FUZZ_CLI_OBJ := $(BUILD)/obj/src/cli/manifests.o $(BUILD)/obj/src/cli/check_out.o \
                $(BUILD)/obj/src/cli/check_ci.o
$(BUILD)/tests/test_fuzz_corpus: tests/unit/test_fuzz_corpus.c $(wildcard tests/fuzz/*.[ch]) \
        $(FUZZ_CLI_OBJ) $(BUILD)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(FUZZ_CLI_OBJ) $(BUILD)/libcore.a $(LDLIBS) -lcmocka

# The verdict-equality test runs check's manifests_run beside the webhook's admission_process.
$(BUILD)/tests/test_verdicts: tests/unit/test_verdicts.c tests/fuzz/fuzz_util.h $(FUZZ_CLI_OBJ) \
        $(BUILD)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(FUZZ_CLI_OBJ) $(BUILD)/libcore.a $(LDLIBS) -lcmocka

deps:
	@scripts/deps.sh build

certs/dev/tls.crt: | $(BUILD)/streamguard
	$(BUILD)/streamguard certs generate --out certs/dev --host localhost --host 127.0.0.1 --host ::1 >/dev/null

run: deps all certs/dev/tls.crt
	$(BUILD)/streamguard serve --listen 127.0.0.1:8443 --tls-cert certs/dev/tls.crt \
	    --tls-key certs/dev/tls.key --policies policies/ $(if $(KUBECONFIG),,--no-cluster)

test: deps
	@$(MAKE) --no-print-directory test-only

test-only: unit integration policies deploy-test test-alerts

# The shipped policies: lint, their tests (tests/policies/) and the examples' verdicts.
policies: $(BUILD)/streamguard
	$(WRAP) $(BUILD)/streamguard lint policies/
	$(WRAP) $(BUILD)/streamguard test tests/policies examples
	tests/integration/schema_test.py
	tests/integration/kube_schema_test.sh

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# Rewrites the recorded answers to the captured reviews (tests/fixtures/admission/*.response.json)
# from what the shipped policies decide now; review `git diff tests/fixtures/admission/` before
# committing them. `make unit` compares them (test_admission_golden).
golden: $(BUILD)/tests/test_admission_golden
	$(BUILD)/tests/test_admission_golden --update

integration: $(BUILD)/streamguard $(BUILD)/pace
	tests/integration/cli_test.sh $(BUILD)/streamguard
	tests/integration/ci_test.py $(BUILD)/streamguard
	tests/integration/precommit_test.sh $(BUILD)/streamguard
	tests/integration/server_test.sh $(BUILD)/streamguard
	tests/integration/transport_test.sh $(BUILD)/streamguard
	tests/integration/reload_test.sh $(BUILD)/streamguard
	tests/integration/cluster_test.sh $(BUILD)/streamguard
	tests/integration/pace_test.sh $(BUILD)/streamguard $(BUILD)/pace

check: deps
	@$(MAKE) --no-print-directory BUILD=build/san SAN=1 test-only

valgrind: deps all
	@scripts/deps.sh valgrind
	@rm -f $(BUILD)/valgrind-*.log
	STREAMGUARD_REGEX_NO_JIT=1 WRAP="valgrind --quiet --soname-synonyms=somalloc=libmimalloc.so.2 \
	      --leak-check=full --show-leak-kinds=definite,indirect \
	      --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	      --log-file=$(BUILD)/valgrind-%p.log" \
	    sh -c 'tests/integration/server_test.sh $(BUILD)/streamguard && \
	           tests/integration/transport_test.sh $(BUILD)/streamguard && \
	           tests/integration/reload_test.sh $(BUILD)/streamguard && \
	           tests/integration/cluster_test.sh $(BUILD)/streamguard && \
	           $(MAKE) --no-print-directory policies WRAP="$$WRAP"'

# deploy/monitoring's alerts: promtool's unit tests (tests/alerts/) on the rules of the shipped
# PrometheusRule, each scenario also run against broken copies of its alert, which must fail it.
test-alerts:
	tests/alerts/alerts_test.py

# deploy/: every kustomize directory rendered with kubectl 1.20 and its objects checked.
deploy-test: $(BUILD)/streamguard
	tests/integration/deploy_test.sh $(BUILD)/streamguard

# A real cluster: etcd and kube-apiserver 1.20, built once from Debian's source into a cache
# outside the clone (scripts/kube-apiserver.sh; ~5 minutes the first time), with streamguard
# registered as its webhook and driven by kubectl 1.20 (tests/e2e/).
e2e: deps all $(BUILD)/e2e_kube_write
	scripts/kube-apiserver.sh build
	tests/e2e/e2e_test.sh $(BUILD)/streamguard

# The API client's writes against the real kube-apiserver (e2e_test.sh runs it from $(BUILD)).
$(BUILD)/e2e_kube_write: tests/e2e/kube_write.c $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(BUILD)/libcore.a $(LDLIBS)

# kustomize reads no file outside deploy/base: copy the policies there after changing them.
deploy-sync:
	rm -f deploy/base/policies/*.yaml
	cp policies/*.yaml deploy/base/policies/
	{ sed '/^    files:$$/q' deploy/base/kustomization.yaml; \
	  for f in deploy/base/policies/*.yaml; do echo "      - policies/$${f##*/}"; done; } \
	    > deploy/base/kustomization.yaml.new && mv deploy/base/kustomization.yaml.new deploy/base/kustomization.yaml

VERSION := $(shell sed -n 's/^\#define STREAMGUARD_VERSION "\(.*\)"/\1/p' src/util/version.h)

# The container image (deploy/Dockerfile), where Docker runs.
image:
	@command -v docker >/dev/null 2>&1 || { echo "make image: docker is not installed" >&2; exit 1; }
	docker build -f deploy/Dockerfile --build-arg COMMIT=$(COMMIT) -t streamguard:$(VERSION) .

$(BUILD)/bench_expr: tests/bench/bench_expr.c $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(BUILD)/libcore.a $(LDLIBS)

$(BUILD)/bench_engine: tests/bench/bench_engine.c $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(BUILD)/libcore.a $(LDLIBS)

$(BUILD)/bench_kube: tests/bench/bench_kube.c $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(BUILD)/libcore.a $(LDLIBS)

# make bench's constant-rate load generator (OpenSSL, like the server's outgoing TLS)
$(BUILD)/pace: tests/bench/pace.c $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(BUILD)/libcore.a $(LDLIBS)

bench: deps all $(BUILD)/bench_expr $(BUILD)/bench_engine $(BUILD)/bench_kube $(BUILD)/pace
	@scripts/deps.sh bench
	@echo "== expression language: compiled once, evaluated 10^6 times"
	$(BUILD)/bench_expr 1000000
	@echo "== policy engine: the shipped policies on captured reviews, 10^5 reviews each"
	$(BUILD)/bench_engine 100000 policies
	@echo "== watch cache: 10,000 claims cached (RSS), 20,000 watch events, 10^6 lookups"
	$(BUILD)/bench_kube 10000 20000 1000000
	@echo "== server"
	tests/bench/bench.sh $(BUILD)/streamguard

# libFuzzer targets under ASan and UBSan; FUZZ_SECONDS bounds a run. Each writes the new inputs
# it finds to its corpus directory (the first one named), and make test replays every seed and
# corpus directory (tests/unit/test_fuzz_corpus.c):
#   fuzz          the expression language: parse + check + eval     corpus/         seeds/
#   fuzz-policy   YAML documents and policy files                    policy-corpus/  policy-seeds/
#   fuzz-review   request bodies -> /validate and /mutate, shipped policies, answers checked
#                                                                    review-corpus/  review-seeds/
#   fuzz-check    manifest files -> streamguard check, compared with the webhook's verdict
#                                                                    check-corpus/   check-seeds/
#   fuzz-kube     kubeconfig files, watch streams (an informer on a recorded LIST) and API
#                 objects (compact copies), each checked against an oracle
#                                                                    kube-corpus/    kube-seeds/
FUZZ_SECONDS ?= 600
FUZZ_SRC := $(wildcard src/util/*.c src/expr/*.c src/k8s/*.c src/policy/*.c) build/gen/schemas.c
FUZZ_CC   = clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Isrc $(shell pkg-config --cflags libcjson libpcre2-8 yaml-0.1)
FUZZ_LIBS = $(shell pkg-config --libs libcjson libpcre2-8 yaml-0.1)
FUZZ_RUN  = -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=2048 -artifact_prefix=build/fuzz/

build/fuzz/fuzz_expr: tests/fuzz/fuzz_expr.c $(FUZZ_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ $(filter %.c,$^) $(FUZZ_LIBS)

build/fuzz/fuzz_policy: tests/fuzz/fuzz_policy.c $(FUZZ_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ $(filter %.c,$^) $(FUZZ_LIBS)

build/fuzz/fuzz_review: tests/fuzz/fuzz_review.c $(FUZZ_SRC) $(wildcard src/admission/*.c) \
        tests/fuzz/fuzz_util.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ $(filter %.c,$^) $(FUZZ_LIBS)

build/fuzz/fuzz_check: tests/fuzz/fuzz_check.c $(FUZZ_SRC) $(wildcard src/admission/*.c) \
        src/cli/manifests.c src/cli/check_out.c src/cli/check_ci.c tests/fuzz/fuzz_util.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ $(filter %.c,$^) $(FUZZ_LIBS)

# What fuzz_kube reads from the Kubernetes API and kubeconfig files: the kube files that do
# not call the client (client.c, api.c, cache.c and cache_client.c need libcurl).
FUZZ_KUBE_SRC := src/kube/config.c src/kube/object.c src/kube/store.c src/kube/informer.c
build/fuzz/fuzz_kube: tests/fuzz/fuzz_kube.c $(FUZZ_SRC) $(FUZZ_KUBE_SRC) $(wildcard src/kube/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ $(filter %.c,$^) $(FUZZ_LIBS) -lpthread

# $(call fuzz_go,TARGET,MAX_LEN,OPTIONS,CORPUS SEEDS): builds build/fuzz/TARGET and runs it
# on CORPUS (where new inputs go) and SEEDS.
define fuzz_go
@scripts/deps.sh fuzz
@$(MAKE) --no-print-directory build/fuzz/$(1)
@mkdir -p $(firstword $(4))
build/fuzz/$(1) $(FUZZ_RUN) -max_len=$(2) $(3) $(4)
endef

fuzz: deps
	$(call fuzz_go,fuzz_expr,4096,,tests/fuzz/corpus tests/fuzz/seeds)

# The same for YAML documents and policy files (hostile manifests and policies).
fuzz-policy: deps
	$(call fuzz_go,fuzz_policy,16384,,tests/fuzz/policy-corpus tests/fuzz/policy-seeds)

# The webhook's round trip on hostile request bodies (the seeds are captured reviews and the
# examples wrapped as reviews, up to 24 KiB).
fuzz-review: deps
	$(call fuzz_go,fuzz_review,32768,-dict=tests/fuzz/admission.dict,tests/fuzz/review-corpus tests/fuzz/review-seeds)

# streamguard check on hostile manifest files.
fuzz-check: deps
	$(call fuzz_go,fuzz_check,32768,-dict=tests/fuzz/admission.dict,tests/fuzz/check-corpus tests/fuzz/check-seeds)

# The kube inputs: kubeconfigs, watch streams, API objects (the first byte picks which).
fuzz-kube: deps
	$(call fuzz_go,fuzz_kube,16384,-dict=tests/fuzz/kube.dict,tests/fuzz/kube-corpus tests/fuzz/kube-seeds)

format:
	clang-format -i $(CORE_SRC) $(BIN_SRC) $(wildcard src/*/*.h) $(UNIT_SRC)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
