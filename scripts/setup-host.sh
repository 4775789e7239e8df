#!/usr/bin/env bash
# Installs and starts everything labwarp's tests use on a fresh Debian 12 machine (root, no
# systemd). Idempotent: safe to run again. Facts behind each step: ../shared/HOST-SETUP.md.
set -euo pipefail

log() { printf '[setup-host] %s\n' "$*"; }

export DEBIAN_FRONTEND=noninteractive
if [ "${LABWARP_SKIP_APT:-0}" != 1 ]; then
  log "installing Debian packages"
  apt-get update -qq
  # Debian 12's qemu-system needs the qemu-utils of the same release; the image may ship a
  # newer backport, so pin qemu-utils to qemu-system-x86's candidate version.
  qemu_version=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
  # Every command labwarp runs (scripts/tools.tsv: the one list, also read by scripts/run
  # and preflight), qemu-utils pinned as above; then what only the tests use (nfs-ganesha:
  # lab in a box's NFS server for live migration, standing in for the kernel's nfsd).
  tools=()
  while read -r cmd deb _rest; do
    case "$cmd" in '' | '#'*) continue ;; esac
    [ "$deb" = qemu-utils ] && deb="qemu-utils=${qemu_version}"
    tools+=("$deb")
  done < "$(dirname "$0")/tools.tsv"
  # shellcheck disable=SC2046 # one package may provide two commands: list it once
  apt-get install -y -qq --no-install-recommends --allow-downgrades \
    $(printf '%s\n' "${tools[@]}" | sort -u) \
    libvirt-dev pkg-config libvirt-daemon libvirt-daemon-driver-qemu \
    dnsmasq-base iptables iproute2 openssh-server openssh-client \
    cloud-init tmux psmisc xorriso libxml2-utils sudo \
    nfs-ganesha nfs-ganesha-vfs \
    python3-dev gcc \
    "qemu-system-x86=${qemu_version}" >/dev/null
fi

log "libvirt users and directories"
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -G kvm libvirt-qemu
mkdir -p /var/log/libvirt /var/run/libvirt /var/lib/libvirt /run/sshd

# Guests here run as root without a security driver (HOST-SETUP.md); write the keys once.
if ! grep -q '^security_driver = "none"' /etc/libvirt/qemu.conf 2>/dev/null; then
  printf 'user = "root"\ngroup = "root"\ndynamic_ownership = 0\nsecurity_driver = "none"\n' \
    >> /etc/libvirt/qemu.conf
fi

# libvirtd runs inside a network namespace so that lab networks (192.168.x) never exist in
# the root namespace; its unix socket is shared, so qemu:///system works from anywhere.
NS=${LABWARP_NETNS:-labwarp-ci}
ip netns list | grep -qw "$NS" || ip netns add "$NS"
ip netns exec "$NS" ip link set lo up

pgrep -x virtlogd >/dev/null || /usr/sbin/virtlogd -d
if ! virsh -c qemu:///system uri >/dev/null 2>&1; then
  log "starting libvirtd in network namespace $NS"
  ip netns exec "$NS" /usr/sbin/libvirtd -d
  for _ in $(seq 1 50); do
    virsh -c qemu:///system uri >/dev/null 2>&1 && break
    sleep 0.2
  done
fi
virsh -c qemu:///system uri >/dev/null
log "libvirtd ready (qemu:///system, netns $NS)"

# Python tools the artefact tests run: ansible-inventory (ansible-core) in a venv.
VENV=${LABWARP_VENV:-/opt/labwarp-venv}
if [ ! -x "$VENV/bin/ansible-inventory" ]; then
  log "creating $VENV with ansible-core"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q ansible-core
fi
# VirtualBMC from PyPI in the venv labwarp's vbmc-install step uses by default (its check,
# `vbmc --version`, then passes, so tests/daemons/vbmc.rs and the engine tests need not build
# libvirt-python each time). Made here, it carries no labwarp marker: `labwarp clean
# --level all` leaves it in place.
VBMC_VENV=${LABWARP_VBMC_VENV:-/opt/labwarp-vbmc}
if ! "$VBMC_VENV/bin/vbmc" --version >/dev/null 2>&1; then
  log "installing VirtualBMC into $VBMC_VENV"
  python3 -m venv "$VBMC_VENV"
  "$VBMC_VENV/bin/pip" install -q --disable-pip-version-check virtualbmc
fi
"$VBMC_VENV/bin/vbmc" --version
# TripleO's own code (python-tripleoclient, tripleo-common, tripleo-ansible; pinned), the
# judge of tests/quick/tripleo_contract.rs, in its own venv (LABWARP_TRIPLEO_VENV, default
# /opt/labwarp-tripleo). Skipped when already installed.
bash "$(dirname "$0")/setup-tripleo.sh"
# The tiny test guest (Debian kernel + busybox/dropbear initrd) that tests/daemons/tiny_guest.rs and
# tests/daemons/kvm_probe.rs boot. The tests also build it on demand; building here keeps that ~20 s
# out of the test run. Cached by package versions: a rerun is instant.
TINY=${LABWARP_TINY_GUEST_CACHE:-/var/cache/labwarp-test/tiny-guest}
log "tiny guest in $TINY"
bash "$(dirname "$0")/build-tiny-guest.sh" "$TINY"
log "done"
