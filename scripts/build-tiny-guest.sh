#!/usr/bin/env bash
# Builds labwarp's tiny test guest into OUT_DIR: `vmlinuz` (Debian cloud kernel) and
# `initrd.img` (busybox-static + dropbear + the virtio/scsi/iso and nfsv4 modules + an
# /init), made only from Debian packages fetched with `apt-get download` and unpacked with
# `dpkg-deb -x`.
#
# The guest boots by direct kernel boot. Its /init:
#   - kernel cmdline `labwarp.probe=1`: prints `LABWARP-PROBE-OK` on the console and powers
#     off (the deep KVM probe of `labwarp check --deep`);
#   - otherwise: reads the NoCloud seed (a disk labelled `cidata`): ssh_authorized_keys for
#     root and for every user named under `users:`, hostname from `local-hostname`; DHCP on
#     eth0; prints its SSH host key on the console exactly as cloud-init does (a
#     `-----BEGIN SSH HOST KEY KEYS-----` ... `-----END SSH HOST KEY KEYS-----` block, which
#     labwarp pins from the console log), plus the older `LABWARP-HOSTKEY <key>` line; runs
#     dropbear and stays up;
#   - test rig for the overcloud (labwarp's LABWARP_NODES_NETBOOT): `labwarp.ctlplane=ADDR/N`
#     puts the undercloud's local_ip on eth1; `labwarp.dhcp=START-END` serves DHCP there
#     (busybox udhcpd, boot file http://ADDR:8088/boot.ipxe) and HTTP boot (busybox httpd on
#     /var/lib/ironic/httpboot), as ironic does; `labwarp.node=NAME labwarp.user=U
#     labwarp.key=TYPE:BASE64` makes a network-booted node (no seed; its host key kept on
#     its disk's first sector across power cycles).
#
# The result is cached: OUT_DIR/.key records the package versions and this script's hash;
# when they have not changed, a rerun does nothing. Facts: ../shared/HOST-SETUP.md.
#
# Usage: scripts/build-tiny-guest.sh OUT_DIR
set -euo pipefail

log() { printf '[build-tiny-guest] %s\n' "$*" >&2; }
die() { printf '[build-tiny-guest] error: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUT_DIR"
OUT=$1
SELF=$(readlink -f "$0")

# Kernel modules the guest needs that the cloud kernel does not build in; their
# dependencies are added from modules.dep. nfsv4: the computes of the live-migration rig
# mount the NFS share with busybox `mount -t nfs4`.
MODULES="virtio_pci virtio_net virtio_blk virtio_scsi virtio-rng sr_mod cdrom isofs af_packet nfsv4"

SCRIPT_HASH=$(sha256sum "$SELF" | cut -d' ' -f1)
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9 # parallel tests share one cache: build it once
cached() { [ -f "$OUT/.key" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ]; }

# Fast path: candidate versions only change when the apt lists do.
if cached && grep -qx "script=$SCRIPT_HASH" "$OUT/.key" &&
  [ -z "$(find /var/lib/apt/lists -maxdepth 1 -newer "$OUT/.key" -print -quit 2>/dev/null)" ]; then
  log "up to date: $OUT (apt lists unchanged since the build)"
  exit 0
fi

# The concrete kernel package behind the cloud meta-package, e.g. linux-image-6.1.0-56-cloud-amd64.
KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
  awk '/Depends: linux-image-[0-9].*-cloud-amd64$/ {print $2; exit}')
[ -n "$KPKG" ] || die "cannot resolve linux-image-cloud-amd64 to a kernel package (run apt-get update)"
# dropbear-bin and the libraries it links (closure of its Depends, without virtual packages).
DROPBEAR_PKGS=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances --no-pre-depends dropbear-bin |
  grep -v '^ ' | grep -v '^<' | sort -u)
# ipmitool and its libraries: the undercloud talks IPMI to the nodes' BMCs, as ironic does.
IPMI_PKGS=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances --no-pre-depends ipmitool |
  grep -v '^ ' | grep -v '^<' | sort -u)
PKGS=$(printf '%s\n' "$KPKG" busybox-static $DROPBEAR_PKGS $IPMI_PKGS | sort -u | tr '\n' ' ')

# shellcheck disable=SC2086
VERSIONS=$(apt-cache policy $PKGS | awk '/^[^ ].*:$/ {p = substr($0, 1, length($0) - 1)}
                                         /Candidate:/ {print p "=" $2}')
for p in $PKGS; do
  printf '%s\n' "$VERSIONS" | grep -q "^$p=[^(]" ||
    die "package $p has no candidate version (run apt-get update)"
done
KEY=$(printf '%s\nscript=%s' "$VERSIONS" "$SCRIPT_HASH")

if cached && [ "$(cat "$OUT/.key")" = "$KEY" ]; then
  touch "$OUT/.key"
  log "up to date: $OUT"
  exit 0
fi

log "building into $OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiny-guest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/debs" "$WORK/pkg" "$WORK/root"
# shellcheck disable=SC2086
# The filter only hides apt's warning about downloading as root.
if ! (cd "$WORK/debs" && apt-get download -q $PKGS) 2>&1 |
  { grep -v 'unsandboxed as root' || true; } >&2; then
  die "apt-get download failed (see above)"
fi
for p in $PKGS; do
  ls "$WORK/debs/${p}_"*.deb >/dev/null 2>&1 || die "apt-get download $p failed"
done
for deb in "$WORK"/debs/*.deb; do dpkg-deb -x "$deb" "$WORK/pkg"; done

PKG=$WORK/pkg
ROOT=$WORK/root
KVER=${KPKG#linux-image-}
[ -f "$PKG/boot/vmlinuz-$KVER" ] || die "kernel image missing in $KPKG"

# --- busybox and the directory tree -------------------------------------------------------
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc/dropbear,proc,sys,dev,run,tmp,root,home,mnt/cidata}
mkdir -p "$ROOT"/{var/log,usr/share/udhcpc,lib64,lib/x86_64-linux-gnu}
ln -s ../run "$ROOT/var/run"
chmod 1777 "$ROOT/tmp"
chmod 700 "$ROOT/root"
cp "$PKG/bin/busybox" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list-full); do
  [ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done

# --- dropbear and its libraries, resolved by the unpacked glibc's own loader ---------------
LIBPATH="$PKG/lib/x86_64-linux-gnu:$PKG/usr/lib/x86_64-linux-gnu"
LOADER=$PKG/lib64/ld-linux-x86-64.so.2
[ -e "$LOADER" ] || die "loader missing from libc6"
for bin in usr/sbin/dropbear usr/bin/dropbearkey usr/bin/ipmitool; do
  cp "$PKG/$bin" "$ROOT/$bin"
  "$LOADER" --library-path "$LIBPATH" --list "$PKG/$bin" >"$WORK/ldd.txt" ||
    die "cannot list libraries of $bin"
  if grep -q 'not found' "$WORK/ldd.txt"; then
    die "unresolved libraries for $bin: $(grep 'not found' "$WORK/ldd.txt" | tr '\n' ' ')"
  fi
  awk '/=> \// {print $3}' "$WORK/ldd.txt" | while read -r lib; do
    case $lib in "$PKG"/*) ;; *) die "$bin resolved $lib outside the unpacked packages" ;; esac
    cp -L "$lib" "$ROOT/lib/x86_64-linux-gnu/$(basename "$lib")"
  done
done
cp -L "$LOADER" "$ROOT/lib64/ld-linux-x86-64.so.2"

# --- kernel modules: the wanted ones plus their dependencies ------------------------------
MODSRC=$PKG/lib/modules/$KVER
MODDST=$ROOT/lib/modules/$KVER
"$ROOT/bin/busybox" depmod -b "$PKG" "$KVER"
mkdir -p "$MODDST"
cp "$MODSRC/modules.builtin" "$MODSRC/modules.order" "$MODDST/"
norm() { printf '%s' "$1" | tr '-' '_'; }
want_mod() { # print the modules.dep paths of module $1 and its dependencies
  local name line
  name=$(norm "$1")
  line=$(awk -v n="$name" -F: '{ b=$1; sub(/.*\//, "", b); sub(/\.ko$/, "", b); gsub(/-/, "_", b);
                                  if (b == n) { print; exit } }' "$MODSRC/modules.dep")
  if [ -z "$line" ]; then
    grep -q "/$1.ko\$\|/$name.ko\$" "$MODSRC/modules.builtin" ||
      die "module $1 is neither in modules.dep nor built in"
    return 0
  fi
  printf '%s\n' "${line%%:*}"
  for dep in ${line#*:}; do printf '%s\n' "$dep"; done
}
for m in $MODULES; do want_mod "$m"; done | sort -u | while read -r rel; do
  mkdir -p "$MODDST/$(dirname "$rel")"
  cp "$MODSRC/$rel" "$MODDST/$rel"
done
"$ROOT/bin/busybox" depmod -b "$ROOT" "$KVER"
# shellcheck disable=SC2086 # one module per line
printf '%s\n' $MODULES >"$ROOT/etc/labwarp-modules"

# --- accounts and config files --------------------------------------------------------
# root's password field is `*`: no password login, but not "locked" (dropbear refuses `!`).
printf 'root:*:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"
printf '/bin/sh\n/bin/ash\n' >"$ROOT/etc/shells"
printf 'hosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"

# busybox init runs dropbear (foreground, respawned) and reaps orphans.
cat >"$ROOT/etc/inittab" <<'EOF'
::respawn:/usr/sbin/dropbear -F -E -R -s
::ctrlaltdel:/bin/reboot -f
::shutdown:/bin/umount -a -r
EOF

# busybox's udhcpc ships no hook script.
cat >"$ROOT/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc hook: apply the lease to $interface.
case "$1" in
deconfig)
  ip addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound | renew)
  [ "$1" = bound ] && ip addr flush dev "$interface"
  ip addr replace "$ip/${mask:-24}" dev "$interface"
  if [ -n "$router" ]; then
    ip route del default 2>/dev/null
    for r in $router; do ip route add default via "$r" dev "$interface" && break; done
  fi
  : >/etc/resolv.conf
  [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
  ;;
esac
exit 0
EOF
chmod 755 "$ROOT/usr/share/udhcpc/default.script"

cat >"$ROOT/init" <<'EOF'
#!/bin/sh
# labwarp tiny guest init (see scripts/build-tiny-guest.sh).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
say() { echo "labwarp-init: $*"; }

for m in $(cat /etc/labwarp-modules); do modprobe "$m" || say "modprobe $m failed"; done

if grep -qw 'labwarp.probe=1' /proc/cmdline; then
  echo LABWARP-PROBE-OK
  sync
  poweroff -f
fi

ip link set lo up

# `labwarp.node=NAME`: an overcloud node, network-booted through iPXE from the undercloud
# (test rig, ironic's job): no seed; hostname, user and key from the kernel command line.
node=
for w in $(cat /proc/cmdline); do
  case $w in labwarp.node=*) node=${w#labwarp.node=} ;; esac
done
# The NoCloud seed: the sr/scsi devices appear asynchronously, so wait for the label.
seed=
i=0
[ -n "$node" ] && i=100
while [ $i -lt 100 ]; do
  seed=$(findfs LABEL=cidata 2>/dev/null) && break
  i=$((i + 1))
  sleep 0.1
done
hn=labwarp-guest
if [ -n "$seed" ] && mount -t iso9660 -o ro "$seed" /mnt/cidata; then
  ud=/mnt/cidata/user-data
  md=/mnt/cidata/meta-data
  # Keys: every `- ssh-…`/`- ecdsa-…` item (quoted or not) right under a
  # `ssh_authorized_keys:` line, at any indentation: the top-level list and those of `users:`
  # entries alike. Simplification: every key found is installed for root and for every user.
  awk '
    inkeys && /^[[:space:]]*-[[:space:]]/ {
      k = $0; sub(/^[[:space:]]*-[[:space:]]*/, "", k)
      gsub(/^["\047]|["\047][[:space:]]*$/, "", k)
      if (k ~ /^(ssh-|ecdsa-|sk-)/) { if (!seen[k]++) print k; next }
    }
    { inkeys = 0 }
    /^[[:space:]]*(-[[:space:]]+)?ssh[_-]authorized[_-]keys:[[:space:]]*$/ { inkeys = 1 }
  ' "$ud" >/etc/labwarp-keys 2>/dev/null
  # Users: `name:` entries inside the top-level `users:` list.
  awk '
    /^users:/ { inusers = 1; next }
    /^[^[:space:]#-]/ { inusers = 0 }
    inusers && /^[[:space:]]*(-[[:space:]]+)?name:[[:space:]]*/ {
      n = $0; sub(/^[[:space:]]*(-[[:space:]]+)?name:[[:space:]]*/, "", n)
      gsub(/["\047[:space:]]/, "", n)
      if (n ~ /^[a-z_][a-z0-9_-]*$/ && n != "root") print n
    }
  ' "$ud" >/etc/labwarp-users 2>/dev/null
  h=$(sed -n 's/^local-hostname:[[:space:]]*//p' "$md" 2>/dev/null | tr -d "\"' \r" | head -n1)
  [ -n "$h" ] && hn=$h
  umount /mnt/cidata # unlocks the tray, so the host can eject the ISO
  say "seed $seed: $(wc -l </etc/labwarp-keys) key(s), users: $(tr '\n' ' ' </etc/labwarp-users)"
elif [ -n "$node" ]; then
  # `labwarp.user=NAME labwarp.key=TYPE:BASE64`: the deploy user and its key, as metalsmith's
  # config drive gives a real node.
  : >/etc/labwarp-keys
  : >/etc/labwarp-users
  for w in $(cat /proc/cmdline); do
    case $w in
      labwarp.user=*) echo "${w#labwarp.user=}" >>/etc/labwarp-users ;;
      labwarp.key=*) k=${w#labwarp.key=} && echo "${k%%:*} ${k#*:}" >>/etc/labwarp-keys ;;
    esac
  done
  hn=$node
  say "node $node: $(wc -l </etc/labwarp-keys) key(s), users: $(cat /etc/labwarp-users)"
else
  say "no cidata seed found"
  : >/etc/labwarp-keys
  : >/etc/labwarp-users
fi

install_keys() { # home uid
  mkdir -p "$1/.ssh"
  cp /etc/labwarp-keys "$1/.ssh/authorized_keys"
  chown -R "$2:$2" "$1"
  chmod 700 "$1" "$1/.ssh"
  chmod 600 "$1/.ssh/authorized_keys"
}
install_keys /root 0
uid=1000
for u in $(cat /etc/labwarp-users); do
  echo "$u:*:$uid:$uid:$u:/home/$u:/bin/sh" >>/etc/passwd
  echo "$u:x:$uid:" >>/etc/group
  install_keys "/home/$u" "$uid"
  uid=$((uid + 1))
done

hostname "$hn"
echo "$hn" >/etc/hostname
echo "127.0.1.1 $hn" >>/etc/hosts

udhcpc -i eth0 -b -t 30 -T 1 -x "hostname:$hn" -s /usr/share/udhcpc/default.script

# Test rig: `labwarp.ctlplane=ADDR/PREFIX` on the kernel command line puts the undercloud's
# local_ip on eth1 (the provisioning NIC), which TripleO's undercloud install does on a
# real undercloud (br-ctlplane); the stand-in installer cannot, as it is not root here.
for w in $(cat /proc/cmdline); do
  case $w in
    labwarp.ctlplane=*)
      ip link set eth1 up && ip addr add "${w#labwarp.ctlplane=}" dev eth1 &&
        say "ctlplane: ${w#labwarp.ctlplane=} on eth1 (test rig, as TripleO's install would)"
      ;;
    labwarp.dhcp=*)
      # Test rig: ironic's network boot on the provisioning network, as its dnsmasq and
      # httpd do on a real undercloud: busybox udhcpd on eth1 (leases world-readable:
      # `dumpleases -f /var/lib/misc/udhcpd.leases`, where labwarp learns node addresses)
      # hands out the boot file http://LOCAL_IP:8088/boot.ipxe, and busybox httpd serves
      # /var/lib/ironic/httpboot there; boot.ipxe chains to the node's own config by MAC,
      # which (with the deploy kernel and ramdisk) the first user may write.
      r=${w#labwarp.dhcp=}
      ip=
      for v in $(cat /proc/cmdline); do
        case $v in labwarp.ctlplane=*) ip=${v#labwarp.ctlplane=} && ip=${ip%/*} ;; esac
      done
      mkdir -p /var/lib/misc /var/lib/ironic/httpboot
      : >/var/lib/misc/udhcpd.leases
      printf 'start %s\nend %s\ninterface eth1\nlease_file /var/lib/misc/udhcpd.leases\nauto_time 2\noption lease 864000\n' \
        "${r%-*}" "${r#*-}" >/etc/udhcpd.conf
      if [ -n "$ip" ]; then
        printf 'siaddr %s\nboot_file http://%s:8088/boot.ipxe\n' "$ip" "$ip" >>/etc/udhcpd.conf
        printf '#!ipxe\nchain http://%s:8088/${net0/mac:hexhyp}.ipxe\n' "$ip" >/var/lib/ironic/httpboot/boot.ipxe
        u=$(head -n 1 /etc/labwarp-users)
        [ -n "$u" ] && chown "$u" /var/lib/ironic/httpboot
        httpd -p "$ip:8088" -h /var/lib/ironic/httpboot && say "httpboot: http://$ip:8088/ (test rig)"
      fi
      udhcpd -a 100 /etc/udhcpd.conf && say "dhcp: serving ${r%-*}-${r#*-} on eth1 (test rig)"
      ;;
  esac
done
# A node keeps its host key on its disk's first sector (it survives a power cycle, as an
# installed OS's would); anything else makes a fresh key each boot.
hk=/etc/dropbear/dropbear_ed25519_host_key
saved=
if [ -n "$node" ] && [ -b /dev/vda ]; then
  saved=$(head -c 512 /dev/vda | head -n 1)
  case $saved in "LWHOSTK1 "*) echo "${saved#LWHOSTK1 }" | base64 -d >"$hk" 2>/dev/null || rm -f "$hk" ;; esac
fi
[ -s "$hk" ] || dropbearkey -t ed25519 -f "$hk" >/dev/null 2>&1
if [ -n "$node" ] && [ -b /dev/vda ] && [ "${saved#LWHOSTK1 }" = "$saved" ]; then
  printf 'LWHOSTK1 %s\n' "$(base64 -w 0 "$hk")" | dd of=/dev/vda conv=notrunc 2>/dev/null && sync
fi
hostkey=$(dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key | grep '^ssh-ed25519' | cut -d' ' -f1,2)
echo "LABWARP-HOSTKEY $hostkey"
# cloud-init's own format (cc_keys_to_console), so labwarp has one way to pin a VM's key.
echo "-----BEGIN SSH HOST KEY KEYS-----"
echo "$hostkey root@$hn"
echo "-----END SSH HOST KEY KEYS-----"
say "up: hostname $hn"
exec /bin/busybox init
EOF
chmod 755 "$ROOT/init"

# --- pack ---------------------------------------------------------------------------------
(cd "$ROOT" && find . | "$ROOT/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) >"$WORK/initrd.img"
cp "$PKG/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
chmod 644 "$WORK/initrd.img" "$WORK/vmlinuz"
rm -f "$OUT/.key"
mv -f "$WORK/vmlinuz" "$OUT/vmlinuz"
mv -f "$WORK/initrd.img" "$OUT/initrd.img"
printf '%s\n' "$KEY" >"$OUT/.key"
log "done: $OUT/vmlinuz ($(du -h "$OUT/vmlinuz" | cut -f1)), $OUT/initrd.img ($(du -h "$OUT/initrd.img" | cut -f1)), kernel $KVER"
