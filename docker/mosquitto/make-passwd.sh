#!/bin/sh
# Write the Mosquitto password file (hashed) from the passwords given in docker/.env; run before the broker.
set -eu
umask 077
file=/mosquitto/secrets/passwd
: > "$file.new"
mosquitto_passwd -b "$file.new" beffroi "$MQTT_BEFFROI_PASSWORD"
mosquitto_passwd -b "$file.new" chirpstack "$MQTT_CHIRPSTACK_PASSWORD"
mosquitto_passwd -b "$file.new" gateway-bridge "$MQTT_GATEWAY_PASSWORD"
chown mosquitto:mosquitto "$file.new" 2>/dev/null || true
mv "$file.new" "$file"
echo "mosquitto: password file written for beffroi, chirpstack, gateway-bridge"
