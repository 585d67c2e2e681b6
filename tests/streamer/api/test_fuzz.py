"""Schemathesis over every operation of the live API's own OpenAPI schema: no 5xx, and every answer is a status and
a body the schema documents. Real uvicorn, real store with rows (an entry with images and a negative, alerts, an
archive), admin token; a fixed seed and a bounded number of cases per operation so the run is the same every time.

Half of the generated path parameters are swapped for ids of real rows, so reads, updates and deletes reach the store
instead of stopping at 404.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engines.scene import SceneEmbedder
from streamer.api.server import ApiServer
from streamer.archive.keyframes import KeyframeArchive
from tests.fixtures.archive import fill_archive
from tests.streamer.api.conftest import Api

SEED = 20261123
CASES_PER_MODE = 25
"""Cases per operation and generation mode (valid data, then invalid): ~40 operation-modes in about a minute."""

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Findings:
    """What the run sent and what failed, by operation."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    """One example report per distinct (operation, failure, status)."""
    nothing_invalid: list[str] = field(default_factory=list)


@pytest.fixture
def rows(api: Api, live_api: ApiServer, photo_bytes: dict[str, bytes], scene_embedder: SceneEmbedder,
         reference_images: dict[str, np.ndarray], tmp_path: Path) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Real rows to aim path parameters at: an anomaly entry with two images and a negative, an alert, a keyframe."""
    api.context.archive = KeyframeArchive(tmp_path / "archive")
    keyframes = fill_archive(api.context.archive, scene_embedder, reference_images)
    headers = api.headers("admin")
    with httpx.Client(base_url=f"{live_api.url}/api/v1", headers=headers, timeout=60) as http:
        files = [("images", (n, photo_bytes[n], "image/jpeg")) for n in ("coffee.jpg", "astronaut.jpg")]
        created = http.post("/watchlist", data={"kind": "anomaly", "label": "fuzzed"}, files=files)
        assert created.status_code == 201, created.text
        entry = created.json()["entry"]["id"]
        negative = http.post(f"/watchlist/{entry}/negatives", files={"images": ("c.png", photo_bytes["chelsea.png"])})
        assert negative.status_code == 200, negative.text
        alert = http.get("/alerts").json()["alerts"][0]["alert_id"]
    yield {
        "entry_id": entry,
        "image_id": created.json()["added"][0]["id"],
        "negative_id": negative.json()["added"][0]["id"],
        "alert_id": alert,
        "keyframe_id": next(iter(keyframes)),
    }
    api.context.archive.close()


def test_every_operation_answers_as_documented_and_never_5xx(
    api: Api, live_api: ApiServer, rows: dict[str, Any]
) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api.url}/api/v1/openapi.json")
    auth = api.headers("admin")
    findings = Findings()
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # deletes last: the rows serve the others first

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            try:
                _fuzz(operation.label, strategy, live_api.url, auth, rows, findings)
            except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
                findings.nothing_invalid.append(operation.label)

    print(f"\n{len(operations)} operations, {sum(findings.cases.values())} cases, statuses {dict(findings.statuses)}")
    print(f"no invalid input to generate: {findings.nothing_invalid}; cases: {dict(findings.cases)}")
    assert {op.label for op in operations} == set(findings.cases)
    assert not findings.failures, "\n\n".join(findings.failures.values())


def _fuzz(label: str, strategy: st.SearchStrategy, base_url: str, auth: dict[str, str], rows: dict[str, Any],
          findings: Findings) -> None:  # fmt: skip
    real = st.booleans()

    @hypothesis.seed(SEED)
    @settings(
        max_examples=CASES_PER_MODE,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, aim=real)
    def run(case: schemathesis.Case, aim: bool) -> None:
        if aim and case.path_parameters:
            case.path_parameters = {k: rows.get(k, v) for k, v in case.path_parameters.items()}
        response = case.call(base_url=base_url, headers=auth, timeout=60)
        findings.cases[label] += 1
        findings.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except FailureGroup as group:
            for failure in group.exceptions:
                key = f"{label}: {failure.code} {failure.title} [{response.status_code}]"
                findings.failures.setdefault(key, f"{key}\n{failure.message}\n{case.as_curl_command()}")

    run()
