#!/usr/bin/env bash
# Real libvirt + virtlogd + QEMU for the system tests, from Debian's packages, without systemd,
# plus a guest kernel extracted from the kernel package (not installed: that pulls systemd + initramfs).
set -euo pipefail
cd "$(dirname "$0")/.."
guest_dir=.vmconsole/guest
# busybox-static: the shell initramfs of guests with an interactive serial console (lib/local/busybox-shell-initramfs.ts).
# iproute2: `ss`, with which the remote-console tests check that the agent listens on nothing.
packages=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 busybox-static iproute2)

if [ "$(id -u)" != 0 ]; then
  echo "install-libvirt: needs root (apt-get, daemons); run: sudo bash $0" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ] || [ ! -s "$guest_dir/vmlinuz" ]; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  echo "install-libvirt: installed ${missing[*]}"
fi

# qemu.conf may say root, but libvirt still looks these up.
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

if [ ! -s "$guest_dir/vmlinuz" ]; then
  kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$kernel_pkg" ]; then
    echo "install-libvirt: apt-cache knows no versioned kernel behind linux-image-amd64 (check /etc/apt/sources.list)" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  # apt downloads as _apt when it can write there (otherwise it warns and downloads as root).
  chown _apt "$tmp" 2>/dev/null || true
  (cd "$tmp" && apt-get download -qq "$kernel_pkg" >/dev/null)
  mkdir -p "$guest_dir"
  dpkg-deb --fsys-tarfile "$tmp"/"$kernel_pkg"_*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
  mv "$tmp"/boot/vmlinuz-* "$guest_dir/vmlinuz"
  echo "$kernel_pkg" > "$guest_dir/kernel-package"
  rm -rf "$tmp"
  echo "install-libvirt: guest kernel from $kernel_pkg at $guest_dir/vmlinuz"
fi
echo "install-libvirt: ready ($(virsh --version 2>/dev/null | sed 's/^/libvirt /'), $(qemu-system-x86_64 --version | head -1))"
