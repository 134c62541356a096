# Entry points of the project. `make test` is what CI runs; `make demo` is the main job.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export JAVA_HOME := /usr/lib/jvm/temurin-25-jdk-amd64
export PATH := $(JAVA_HOME)/bin:/opt/kata-dev-tools/bin:/usr/local/go/bin:$(HOME)/.cargo/bin:$(PATH)
export TOOLS_DIR ?= /opt/kata-dev-tools
export KATA_CACHE ?= $(HOME)/.cache/kata-operator

ROOT := $(CURDIR)
BUILD := $(ROOT)/build
GUEST := $(BUILD)/guest
MVN := $(ROOT)/mvnw -B -q -ntp
VERSION ?= 0.1.0-$(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
PREFIX ?= /opt/kata
# Image tags follow the Maven project version (the operator's default installer image does too).
IMAGE_VERSION ?= $(shell bash -c 'source images/lib.sh && project_version')

.PHONY: help unit setup build guest kernel agent rootfs virtiofsd payload install-payload images operator-image installer-image bench test test-java demo fmt lint clean

help:
	@echo "make setup   install build and test dependencies (Debian packages, Go test tools)"
	@echo "make guest   build the guest kernel, agent and rootfs into build/guest/"
	@echo "make build   compile and package the Java modules"
	@echo "make payload the node payload tree in build/payload; install-payload PREFIX=/opt/kata"
	@echo "make images  the operator and installer images as OCI archives (operator-image, installer-image)"
	@echo "make unit    the fast tier: JVM-only tests, no root, VMs or daemons (well under a minute)"
	@echo "make test    setup, then everything CI runs"
	@echo "make demo    boot a microVM and run a container in it, end to end"

setup:
	@bash scripts/setup.sh

# --- guest ---------------------------------------------------------------------------------
guest: kernel agent rootfs
	@install -m 0644 shim/config/kata-qemu-dev.toml $(GUEST)/kata-qemu.toml

kernel:
	@bash guest/kernel/build.sh $(GUEST)

agent:
	@bash guest/agent/build.sh $(GUEST)

rootfs: agent
	@bash guest/rootfs/build.sh $(GUEST)

virtiofsd:
	@bash scripts/build-virtiofsd.sh $(BUILD)/virtiofsd

# --- node payload (what the installer ships; layout in docs/payload.md) ---------------------
payload: guest virtiofsd build
	@bash shim/payload/build-payload.sh $(BUILD)/payload $(VERSION) $(GUEST) $(BUILD)/virtiofsd/virtiofsd

install-payload: payload
	@bash shim/payload/install-payload.sh $(BUILD)/payload $(PREFIX)

# --- images (built offline: Debian packages, jlink, umoci; docs/images.md) -------------------
images: operator-image installer-image

operator-image:
	$(MVN) -pl operator -am -DskipTests package
	@bash images/build-operator-image.sh $(BUILD)/images $(IMAGE_VERSION)

installer-image: payload
	@bash images/build-installer-image.sh $(BUILD)/runtime-node-installer.oci.tar $(IMAGE_VERSION) $(BUILD)/payload

# --- Java ----------------------------------------------------------------------------------
build:
	$(MVN) -DskipTests package

fmt:
	$(MVN) spotless:apply

lint:
	$(MVN) -DskipTests spotless:check compile

# The fast tier: JVM-only tests (no root, apt, containerd, API server or VM). Tiers are JUnit tags:
# unit, tools (Go-built test tools), apiserver, containerd, vm, cluster, benchmark (docs/testing.md).
unit:
	$(MVN) test -Dgroups=unit -Dsurefire.failIfNoSpecifiedTests=false

test-java: guest virtiofsd
	@KATA_GUEST_DIR=$(GUEST) bash guest/agent/check.sh
	KATA_GUEST_DIR=$(GUEST) $(ROOT)/mvnw -B -ntp verify
	@bash scripts/test-summary.sh

test: setup
	@$(MAKE) --no-print-directory test-java

bench: guest build
	KATA_GUEST_DIR=$(GUEST) $(MVN) -pl e2e -am -Dsurefire.failIfNoSpecifiedTests=false -Dtest=BenchmarkTest,DensityBenchmarkTest -Dbench.excluded= -Dgroups=benchmark verify

demo: setup guest build
	@bash scripts/demo.sh

clean:
	rm -rf $(BUILD)
	$(MVN) clean
