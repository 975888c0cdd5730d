#!/usr/bin/env bash
# The Debian 13 root in which the GIMP tests run GIMP 3 headless (Debian 12 has only GIMP 2.10), with Xvfb for
# the plug-in's dialogues, made idempotently: a finished root carries a stamp naming its packages, and a second
# run takes a second.
#   build/gimp_root.sh [ROOT]     default: $INSTYLE_GIMP_ROOT or ~/.cache/instyle/gimp-root (about 3 min, 1.2 GB)
# Needs root or sudo (debootstrap, chroot). Prints the root's path.
set -euo pipefail
TARGET="${1:-${INSTYLE_GIMP_ROOT:-$HOME/.cache/instyle/gimp-root}}"
PACKAGES="gimp python3-gi gir1.2-gimp-3.0 xvfb xauth"
STAMP="$TARGET/.instyle-gimp-root"
say() { printf '[gimp-root] %s\n' "$*" >&2; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PACKAGES" ]; then echo "$TARGET"; exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
    say "installing debootstrap"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
fi
mkdir -p "$(dirname "$TARGET")"
if [ ! -x "$TARGET/usr/bin/apt-get" ] || [ ! -f "$TARGET/.instyle-debootstrap" ]; then
    say "debootstrap trixie into $TARGET (about a minute)"
    $SUDO rm -rf "$TARGET"
    $SUDO debootstrap --variant=minbase trixie "$TARGET" >/dev/null
    $SUDO touch "$TARGET/.instyle-debootstrap"
fi
say "installing $PACKAGES (about a minute)"
# A private mount namespace: /proc is mounted for apt and unmounted with the namespace.
$SUDO unshare --mount --propagation private sh -c "mount -t proc proc '$TARGET/proc' && chroot '$TARGET' sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null'"
echo "$PACKAGES" | $SUDO tee "$STAMP" >/dev/null
echo "$TARGET"
