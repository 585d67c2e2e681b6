"""Unknown faces: strangers grouped into stable clusters (``unknown-<n>``) that an admin can turn into entries.

``clusters`` assigns each unmatched face to a cluster, ``store`` keeps the clusters and their best crops on disk,
``promote`` enrolls a cluster's crops into the watchlist.
"""
