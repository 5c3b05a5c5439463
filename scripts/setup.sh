#!/bin/bash
# setup.sh - prepare a fresh Debian bookworm machine (run as root) for pqike's test suite,
# in particular the interop suite in tests/interop/ that runs real strongSwan/libreswan
# peers in network namespaces. Idempotent: a second run only checks and returns.
#
#   scripts/setup.sh              host packages + all peer chroots
#   scripts/setup.sh --no-peers   host packages only (strongSwan 5.9.8, tshark, ...)
#
# Steps:
#  1. host packages (apt-get update only when a package is missing or has no candidate)
#  2. keep the host's own strongSwan service down: the tests start their own charon per
#     namespace, and a system charon would hold UDP 500/4500 and /var/run/charon.pid
#  3. chroots with strongSwan 6.1 (sid), 6.0.1 (trixie) and libreswan 5.2 (trixie) via
#     scripts/setup-peers.sh, under /srv/pqike-lab (PQIKE_LAB_ROOT)
# Any failure stops the script with a non-zero exit and a message naming the step.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

PKGS=(strongswan-charon strongswan-swanctl strongswan-pki libcharon-extra-plugins
      libstrongswan-extra-plugins libstrongswan-standard-plugins tshark iproute2
      iputils-ping debootstrap nftables iptables iperf3 openssl openiked debian-archive-keyring)
WITH_PEERS=1
for a in "$@"; do
    case "$a" in
        --no-peers) WITH_PEERS=0 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done

die() { echo "setup.sh: ERROR: $*" >&2; exit 1; }
trap 'echo "setup.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
[ "$(id -u)" = 0 ] || die "must run as root"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || echo "setup.sh: warning: tested on bookworm, this is ${VERSION_CODENAME:-unknown}" >&2

t0=$SECONDS
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    # refresh the package lists only if one of the wanted packages has no candidate
    # (fresh image without lists, or stale lists whose .debs are gone from the mirror
    # are caught by the retry below)
    need_update=0
    for p in "${missing[@]}"; do
        cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
        if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_update=1; break; fi
    done
    [ $need_update = 1 ] && { echo "setup.sh: apt-get update"; apt-get update -q || die "apt-get update failed"; }

    # tshark's wireshark-common asks whether non-root users may capture; answer "no"
    # up front so the install never blocks on a prompt
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

    # no service may be started by the maintainer scripts (strongSwan's charon in
    # particular); policy-rc.d is the Debian mechanism for that. Keep an existing one.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
    fi
    install() { apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"; }
    if ! install; then
        # stale lists (404 on a .deb): refresh once and retry
        echo "setup.sh: install failed; apt-get update and retry"
        apt-get update -q || { [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get update failed"; }
        install || { [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
    fi
    [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
else
    echo "setup.sh: host packages present"
fi

# The host's strongSwan service must not run (see header). Only units that exist and
# only when systemd is the init system; otherwise nothing was started (policy-rc.d).
if [ -d /run/systemd/system ]; then
    for u in strongswan.service strongswan-starter.service ipsec.service; do
        if systemctl list-unit-files "$u" >/dev/null 2>&1 && systemctl cat "$u" >/dev/null 2>&1; then
            systemctl disable --now "$u" >/dev/null 2>&1 || true
        fi
    done
fi
# a charon in the host's network namespace would own UDP 500/4500 and the pid file
if [ -f /var/run/charon.pid ] && kill -0 "$(cat /var/run/charon.pid)" 2>/dev/null \
   && [ "$(readlink /proc/$(cat /var/run/charon.pid)/ns/net)" = "$(readlink /proc/self/ns/net)" ]; then
    die "a host charon is running (pid $(cat /var/run/charon.pid)); stop the system strongSwan service"
fi

# sanity checks of what the suite uses
/usr/lib/ipsec/charon --version >/dev/null 2>&1 || [ -x /usr/lib/ipsec/charon ] || die "no /usr/lib/ipsec/charon"
for c in swanctl pki tshark ip ping debootstrap nft iperf3 openssl unshare; do
    command -v "$c" >/dev/null || die "$c not found after install"
done
echo "setup.sh: host ready ($(dpkg-query -W -f '${Version}' strongswan-charon)) after $((SECONDS - t0))s"

if [ $WITH_PEERS = 1 ]; then
    "$HERE/setup-peers.sh" build || die "peer chroots failed (scripts/setup-peers.sh)"
fi
echo "setup.sh: done in $((SECONDS - t0))s"
