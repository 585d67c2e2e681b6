"""From matches to delivered alerts: the alert policy, snapshots, the persistent outbox and the MQTT publisher."""
