# nslab: `make run` installs what is missing and starts the lab; `make test` runs every test.
# Both are meant for a fresh Debian 12 or Ubuntu 24.04 machine, as root.

PYTHON   ?= python3
VENV     ?= .venv
EXTRAS   ?= [test]
LIBDIR   ?= /usr/local/lib/nslab
CC       ?= cc
export NSLAB_LIB_DIR ?= $(LIBDIR)

# command -> Debian package that provides it
OS_TOOLS := unshare:util-linux nsenter:util-linux setsid:util-linux chroot:coreutils \
	ip:iproute2 pstree:psmisc ps:procps ping:iputils-ping tar:tar bash:bash \
	busybox:busybox-static $(CC):gcc nft:nftables wget:wget man:man-db setpriv:util-linux
# the man pages the steps name (sections 7 and 8 come with manpages, 2 with manpages-dev)
MAN_PAGES := /usr/share/man/man7/namespaces.7.gz:manpages \
	/usr/share/man/man2/pivot_root.2.gz:manpages-dev

# what the tests drive besides the lab: a browser, a container engine, a VM for cgroup v2
TEST_TOOLS := chromium:chromium podman:podman runc:runc debootstrap:debootstrap \
	qemu-system-x86_64:qemu-system-x86
# tests/test_kubernetes.py also renders deploy/kubernetes with kubectl where it is installed
# (these machines come with it); Debian 12's kubernetes-client is kubectl 1.20, whose
# kustomize is too old for our kustomizations, so it is not installed from here.

.PHONY: install os-packages test-packages run test lint clean

install: os-packages $(VENV)/.installed $(LIBDIR)/nslab-init $(LIBDIR)/vorlage.tar

os-packages:
	@missing=""; \
	for pair in $(OS_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	for pair in $(MAN_PAGES); do [ -e $${pair%%:*} ] || missing="$$missing $${pair##*:}"; done; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	[ -e /usr/lib/$$(uname -m)-linux-gnu/libc.a ] || missing="$$missing libc6-dev"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.$(EXTRAS)'
	touch $@

$(LIBDIR)/nslab-init: labsteps/sandbox/init/nslab-init.c
	mkdir -p $(LIBDIR)
	$(CC) -O2 -static -Wall -o $@.tmp $< && mv $@.tmp $@

$(LIBDIR)/vorlage.tar: labsteps/sandbox/image.py | $(VENV)/.installed
	mkdir -p $(LIBDIR)
	$(VENV)/bin/nslab image build --output $@

run: install
	$(VENV)/bin/nslab serve

test-packages:
	@missing=""; \
	for pair in $(TEST_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing for the tests:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: install test-packages
	$(VENV)/bin/ruff check web labsteps tests bench
	$(VENV)/bin/pytest -q -rs $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check web labsteps tests bench

clean:
	rm -rf $(VENV) build *.egg-info
