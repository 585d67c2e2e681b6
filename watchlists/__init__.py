"""The watchlist: what Vigil alerts on.

- ``store`` (writes) and ``reads``: entries, reference images, negative examples, embeddings and an audit log in
  SQLite; atomic writes, a revision counter. ``schema``, ``rows`` and ``negative_rows`` hold the SQL.
- ``images`` and ``sources``: untrusted image bytes and enrollment folders checked before anything is embedded.
- ``embedding`` and ``embedders``: images to vectors in batches; the (deferred) model of each kind.
- ``enroll``: reference images and negatives to an entry, embedded by the live model, all-or-nothing.
- ``index``: FAISS search per (kind, model version) with per-entry thresholds, camera scope and negative vetoes.
- ``reembed``: a model change re-embeds every stored image, swapped in at once.
- ``archive``, ``export`` and ``importer``: a watchlist to one file and back, re-embedded on arrival.
- ``calibration``: genuine vs impostor scores and the thresholds they suggest.
"""
