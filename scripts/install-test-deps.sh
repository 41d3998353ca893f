#!/bin/sh
# Installs the real services the test suite runs (Prometheus + promtool, Alertmanager + amtool,
# PostgreSQL, headless Chromium; for deploy/: systemd-analyze, and kubectl for `kubectl kustomize`,
# which runs offline) from Debian's packages when they are missing.
# As root it runs apt-get; otherwise it prints the one command to run and exits 1.
# With package names as arguments only those are checked (`make stack` needs just
# prometheus and prometheus-alertmanager).
set -eu

only="$*"
missing=""
need() {  # need PACKAGE COMMAND-OR-GLOB
    pkg=$1 probe=$2
    if [ -n "$only" ]; then
        case " $only " in *" $pkg "*) ;; *) return 0 ;; esac
    fi
    case $probe in
        /*) for f in $probe; do [ -x "$f" ] && return 0; done ;;
        *) command -v "$probe" >/dev/null 2>&1 && return 0 ;;
    esac
    case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
}

need prometheus prometheus
need prometheus promtool
need prometheus-alertmanager prometheus-alertmanager
need prometheus-alertmanager amtool
need postgresql '/usr/lib/postgresql/*/bin/initdb'
need pgbouncer /usr/sbin/pgbouncer
need chromium chromium
need systemd systemd-analyze
need kubernetes-client kubectl
# the full-disk test mounts a tiny tmpfs in a namespace of its own
need util-linux unshare
need mount mount

[ -z "$missing" ] && exit 0
missing=${missing# }

if [ "$(id -u)" -ne 0 ]; then
    echo "pitwatch needs Debian packages: sudo apt-get install -y --no-install-recommends $missing" >&2
    exit 1
fi
echo "installing Debian packages: $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
