"""The watchlist: what Vigil alerts on.

- ``store``: entries, reference images, embeddings and an audit log in SQLite; atomic writes, a revision counter.
- ``images`` and ``sources``: untrusted image bytes and enrollment folders checked before anything is embedded.
- ``enroll``: reference images to an entry, embedded by the live model, all-or-nothing.
- ``index``: FAISS search per (kind, model version) with per-entry thresholds and camera scope, following the store.
"""
