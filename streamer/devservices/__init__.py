"""Real local services (mosquitto, an RTSP server) and test clips, for the demo, tests and benchmarks."""
