"""PyTorch definitions of the networks Vigil exports, one module per network family.

These modules import torch at the top: only ``engines.export`` (and a torch backend) import them, and only when
an export is actually needed. Their source is part of every model version (``engines.registry``).
"""
