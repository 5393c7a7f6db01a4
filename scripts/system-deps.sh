#!/bin/sh
# Debian packages the test suite drives for real: Chromium for the dashboard's browser test,
# Prometheus (and its promtool) for the /metrics tests, Alertmanager for the alert channel that
# forwards to it. Installed only when missing; needs root (CI and the dev machines run as root).
set -e
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v promtool >/dev/null 2>&1 || need="$need prometheus"
command -v prometheus-alertmanager >/dev/null 2>&1 || need="$need prometheus-alertmanager"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$need; install them with: sudo apt-get install$need" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
