#!/bin/bash
# setup-peers.sh - build the Debian chroots that hold the newer IKEv2 peers the interop
# suite talks to. The host (bookworm) provides strongSwan 5.9.8; newer builds come from
# debootstrapped chroots, because no backports exist and containers are not available.
#
#   scripts/setup-peers.sh [build] [FLAVOR...]   build (default: all flavors); idempotent
#   scripts/setup-peers.sh info [FLAVOR...]      print versions and disk use
#   scripts/setup-peers.sh rm FLAVOR...          delete a chroot
#
# FLAVOR      suite   directory                           what it gives us
#   sid       sid     $PQIKE_LAB_ROOT/sid                 strongSwan 6.1 + OpenSSL >= 3.5:
#                                                         the only Debian build with ML-KEM
#   trixie    trixie  $PQIKE_LAB_ROOT/trixie              strongSwan 6.0.1 (RFC 9370 additional
#                                                         KEs, but no ML-KEM: its openssl plugin
#                                                         needs OpenSSL >= 3.5 / AWS-LC)
#   trixie-libreswan trixie $PQIKE_LAB_ROOT/trixie-libreswan  libreswan 5.2 (separate chroot:
#                                                         Debian's libreswan Conflicts: with
#                                                         strongswan-charon via ike-server)
#
# A chroot counts as built only when its stamp file ($ROOT/.pqike-lab-complete) exists; an
# interrupted build is wiped and redone. Downloaded .debs are shared between the builds in
# $PQIKE_LAB_ROOT/.debs (debootstrap --cache-dir), so the second and third build mostly
# read from disk.
#
# Nothing is mounted on the host: lab/strongswan.sh mounts /proc, /dev, /sys and a tmpfs
# /run inside a private mount namespace per daemon, which vanish with the daemon.
#
# Env: PQIKE_LAB_ROOT (default /srv/pqike-lab), MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

LAB_ROOT=${PQIKE_LAB_ROOT:-/srv/pqike-lab}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE="$LAB_ROOT/.debs"
ALL_FLAVORS="sid trixie trixie-libreswan"
STAMP_NAME=.pqike-lab-complete

# procps for pgrep/ps in debugging; iproute2 because charon's updown and libreswan call ip
BASE_PKGS=iproute2,iputils-ping,procps
# openssl (3.5+ in trixie/sid): the independent verifier of our ML-DSA/SLH-DSA certificates and signatures
SS_PKGS=strongswan-charon,strongswan-swanctl,strongswan-pki,libcharon-extra-plugins,libstrongswan-standard-plugins,libstrongswan-extra-plugins,openssl
# bind9-host: libreswan Depends: on the virtual package "host", which debootstrap's
# resolver cannot pick a provider for
LS_PKGS=libreswan,libnss3-tools,bind9-host

flavor_vars() {   # sets SUITE PKGS ROOT for flavor $1
    case "$1" in
        sid)              SUITE=sid;    PKGS=$BASE_PKGS,$SS_PKGS ;;
        trixie)           SUITE=trixie; PKGS=$BASE_PKGS,$SS_PKGS ;;
        trixie-libreswan) SUITE=trixie; PKGS=$BASE_PKGS,$LS_PKGS ;;
        *) echo "unknown flavor '$1' (want: $ALL_FLAVORS)" >&2; exit 2 ;;
    esac
    ROOT="$LAB_ROOT/$1"
}

mounts_below() { awk -v r="$1" '$2==r || index($2, r"/")==1 {print $2}' /proc/self/mounts; }

# Packages added to a flavor after some chroots were built: install them into an existing chroot.
ensure_extra() {
    case "$1" in
        sid|trixie)
            [ -x "$ROOT/usr/bin/openssl" ] && return 0
            echo "setup-peers: installing openssl into $ROOT"
            chroot "$ROOT" apt-get update -qq -o Acquire::Check-Valid-Until=false >/dev/null \
                && chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null \
                || { echo "setup-peers: could not install openssl into $ROOT" >&2; exit 1; } ;;
    esac
}

build_one() {
    local flavor=$1 t0=$SECONDS
    flavor_vars "$flavor"
    if [ -f "$ROOT/$STAMP_NAME" ]; then
        echo "setup-peers: $flavor already built: $(cat "$ROOT/$STAMP_NAME")"
        ensure_extra "$flavor"
        return 0
    fi
    if [ -n "$(mounts_below "$ROOT")" ]; then
        echo "setup-peers: something is mounted below $ROOT; refusing to rebuild" >&2
        mounts_below "$ROOT" >&2
        exit 1
    fi
    rm -rf "$ROOT"   # leftovers of an interrupted build
    mkdir -p "$CACHE"
    echo "setup-peers: debootstrap $SUITE -> $ROOT"
    # minbase keeps the chroot small; the daemons need nothing from "important"
    debootstrap --variant=minbase --cache-dir="$CACHE" --include="$PKGS" \
        "$SUITE" "$ROOT" "$MIRROR" > "$LAB_ROOT/$flavor.debootstrap.log" 2>&1 || {
        echo "setup-peers: debootstrap of $flavor failed; tail of $LAB_ROOT/$flavor.debootstrap.log:" >&2
        tail -30 "$LAB_ROOT/$flavor.debootstrap.log" >&2
        exit 1
    }
    # package scripts inside the chroot must never start daemons
    printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    # sid's InRelease can carry a Valid-Until that looks expired to this machine's clock;
    # only matters if someone runs apt inside the chroot later
    echo 'Acquire::Check-Valid-Until "false";' > "$ROOT/etc/apt/apt.conf.d/99pqike-lab"
    # the .debs live in the shared cache; the chroot copies are dead weight
    rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/cache/apt/*.bin
    # per-instance config/run dirs of lab daemons (host path $ROOT/lab, inside /lab)
    mkdir -p "$ROOT/lab"
    # sanity: the daemon we came for is really there
    case "$flavor" in
        trixie-libreswan) chroot "$ROOT" /usr/libexec/ipsec/pluto --version >/dev/null 2>&1 \
                            || [ -x "$ROOT/usr/libexec/ipsec/pluto" ] \
                            || { echo "setup-peers: no pluto in $ROOT" >&2; exit 1; } ;;
        *) [ -x "$ROOT/usr/lib/ipsec/charon" ] || { echo "setup-peers: no charon in $ROOT" >&2; exit 1; } ;;
    esac
    echo "$SUITE built $(date -u +%FT%TZ) in $((SECONDS - t0))s; $(versions "$ROOT" | tr '\n' ' ')" > "$ROOT/$STAMP_NAME"
    echo "setup-peers: $flavor done: $(cat "$ROOT/$STAMP_NAME")"
}

versions() {
    # only installed packages (dpkg-query prints "name=" for unknown ones)
    chroot "$1" dpkg-query -W -f '${Package}=${Version}\n' strongswan-charon libreswan libssl3t64 2>/dev/null | grep -v '=$' || true
}

cmd=build
case "${1:-}" in build|info|rm) cmd=$1; shift ;; -h|--help) sed -n '2,28p' "$0"; exit 0 ;; esac
[ "$(id -u)" = 0 ] || { echo "setup-peers: must run as root" >&2; exit 1; }
flavors=${*:-$ALL_FLAVORS}
command -v debootstrap >/dev/null || { echo "setup-peers: debootstrap missing (run scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$LAB_ROOT"
for f in $flavors; do
    case "$cmd" in
        build) build_one "$f" ;;
        info) flavor_vars "$f"; echo "== $f ($ROOT)"; versions "$ROOT"; du -sh "$ROOT" 2>/dev/null | cut -f1; cat "$ROOT/$STAMP_NAME" 2>/dev/null || echo "(not built)" ;;
        rm) flavor_vars "$f"
            if [ -n "$(mounts_below "$ROOT")" ]; then echo "mounts below $ROOT; refusing" >&2; exit 1; fi
            rm -rf "$ROOT" ;;
    esac
done
