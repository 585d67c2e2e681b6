"""``vigil demo``: a local RTSP camera, a local broker, a bundled watchlist, alerts printed as they arrive."""
