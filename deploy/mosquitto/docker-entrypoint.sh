#!/bin/sh
# Starts mosquitto with authentication on: builds its password file from secret files at every start, so
# passwords live only in Docker/Kubernetes secrets, never in the image or the compose file.
#   user "vigil"    <- $MQTT_PASSWORD_FILE          (required)
#   user "operator" <- $MQTT_OPERATOR_PASSWORD_FILE (optional: read-only consumers)
set -eu

MOSQUITTO_CONFIG=${MOSQUITTO_CONFIG:-/mosquitto/config/mosquitto.conf}
PASSWD_FILE=${PASSWD_FILE:-/mosquitto/data/passwd}
MQTT_USERNAME=${MQTT_USERNAME:-vigil}
MQTT_PASSWORD_FILE=${MQTT_PASSWORD_FILE:-/run/secrets/mqtt_password}
MQTT_OPERATOR_PASSWORD_FILE=${MQTT_OPERATOR_PASSWORD_FILE:-/run/secrets/mqtt_operator_password}

if [ ! -s "$MQTT_PASSWORD_FILE" ]; then
  echo "mosquitto: $MQTT_PASSWORD_FILE is missing or empty (see deploy/secrets/README.md)" >&2
  exit 1
fi

umask 077
rm -f "$PASSWD_FILE"
touch "$PASSWD_FILE"
mosquitto_passwd -b "$PASSWD_FILE" "$MQTT_USERNAME" "$(cat "$MQTT_PASSWORD_FILE")"
if [ -s "$MQTT_OPERATOR_PASSWORD_FILE" ]; then
  mosquitto_passwd -b "$PASSWD_FILE" operator "$(cat "$MQTT_OPERATOR_PASSWORD_FILE")"
fi
# mosquitto drops root for its own user and refuses a password file others can read.
if id mosquitto >/dev/null 2>&1; then
  chown mosquitto:mosquitto "$PASSWD_FILE"
fi
chmod 0700 "$PASSWD_FILE"

exec mosquitto -c "$MOSQUITTO_CONFIG"
