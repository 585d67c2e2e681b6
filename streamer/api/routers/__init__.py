"""One router per resource: health, the watchlist (entries, then their images and negatives), alerts, cameras,
matching. Each states its role (``Viewer`` or ``Admin``) in its signatures and only raises; errors become JSON in
``streamer.api.errors``."""
