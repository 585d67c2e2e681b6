"""Vigil's REST API (``/api/v1``, FastAPI), served by ``vigil run`` beside the pipeline.

- ``app``: ``create_api(context)``, the routers under ``/api/v1`` with one error envelope and a body cap.
- ``context``: ``ApiContext``, the live service's parts the routes share (store, models, outbox, cameras).
- ``auth`` and ``tokens``: bearer tokens with roles ``viewer`` and ``admin``, stored as SHA-256 digests.
- ``limits`` and ``uploads``: request bodies capped before reading; images sniffed, bounded and decoded safely.
- ``errors``: every error as ``{"error": {"code", "message"}}``, the status chosen from the code.
- ``schemas``: request and response models; ``routers``: one per resource.
- ``server``: ``ApiServer`` (uvicorn on a thread) and ``start_api`` for the service.
"""
