"""Camera ingest: RTSP streams, files and capture devices in, ``Keyframe``s and ``CameraStatus``es out.

``streamer.sources.camera.CameraWorker`` runs one camera on its own thread (reconnects with backoff and jitter, stall
watchdog); the readers (``PyAvReader`` for RTSP and files, ``OpenCvReader`` for ``/dev/video*``) do the decoding.
Nothing is imported here: ``streamer.sources.frame.Keyframe`` must import without the service's configuration
types (pydantic), as on the GPU image where the node benchmark runs.
"""
