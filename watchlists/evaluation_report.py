"""The report of ``watchlists.evaluation``: overall rates, one row per label, the refused images, the score
distributions; and its JSON form, which ``vigil eval`` prints and saves.

Rates are ``None`` rather than 0 when nothing was there to measure them on (a label whose probes were all refused).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from watchlists.calibration import Calibration
from watchlists.errors import FileProblem


@dataclass(frozen=True)
class ProbeError:
    """A probe whose best-scoring label is not its own: a likely mislabelled photo, or a look-alike."""

    source: str
    predicted: str
    score: float


@dataclass(frozen=True)
class LabelResult:
    """One label's row of the report.

    Attributes:
        references: references that embedded (the ones searched).
        probes: probes that embedded (the ones counted in the rates).
        rejected: this label's images (references or probes) that could not be used.
        top1_correct: probes whose best label is their own.
        true_accepts: probes whose own label scored at or over the threshold.
        false_accepts: probes that matched another label at or over the threshold.
        matched_by_others: images of other labels or ``_unknown`` that matched this label (false alerts it draws).
        errors: the probes whose best label is another one.
    """

    label: str
    references: int
    probes: int
    rejected: int
    top1_correct: int
    true_accepts: int
    false_accepts: int
    matched_by_others: int
    errors: tuple[ProbeError, ...]

    def to_json(self) -> dict[str, Any]:
        """The row as JSON, with its rates (``None`` without probes)."""
        return {
            "label": self.label,
            "references": self.references,
            "probes": self.probes,
            "rejected": self.rejected,
            "top1_correct": self.top1_correct,
            "top1_accuracy": _share(self.top1_correct, self.probes),
            "true_accepts": self.true_accepts,
            "true_accept_rate": _share(self.true_accepts, self.probes),
            "false_accepts": self.false_accepts,
            "matched_by_others": self.matched_by_others,
            "errors": [{"source": e.source, "predicted": e.predicted, "score": round(e.score, 4)} for e in self.errors],
        }


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The report of one dataset, kind and model at one threshold.

    Attributes:
        scores: genuine and impostor scores, with the threshold they suggest for the target false-accept rate.
        unknown: ``_unknown`` images that embedded; ``unknown_false_accepts`` of them matched some label.
        rejected: every image that could not be used, with its reason code.
    """

    kind: str
    model_version: str
    threshold: float
    references_per_label: int
    labels: tuple[LabelResult, ...]
    unknown: int
    unknown_false_accepts: int
    rejected: tuple[FileProblem, ...]
    scores: Calibration = field(repr=False)

    @property
    def probes(self) -> int:
        """Probes that embedded, over all labels."""
        return sum(row.probes for row in self.labels)

    @property
    def top1_accuracy(self) -> float | None:
        """Share of probes whose best label is their own."""
        return _share(sum(row.top1_correct for row in self.labels), self.probes)

    @property
    def true_accept_rate(self) -> float | None:
        """Share of probes whose own label matched at the threshold."""
        return _share(sum(row.true_accepts for row in self.labels), self.probes)

    @property
    def false_accept_rate(self) -> float | None:
        """Share of images (probes and unknowns) that matched a wrong label at the threshold."""
        wrong = sum(row.false_accepts for row in self.labels) + self.unknown_false_accepts
        return _share(wrong, self.probes + self.unknown)

    def rejected_by_reason(self) -> dict[str, int]:
        """Reason code -> how many images were refused for it."""
        return dict(sorted(Counter(problem.code for problem in self.rejected).items()))

    def to_json(self, dataset: str) -> dict[str, Any]:
        """The report as JSON (``dataset``: how to name the folder in it)."""
        scores = self.scores.to_json(self.threshold)
        return {
            "dataset": dataset,
            "kind": self.kind,
            "model_version": self.model_version,
            "threshold": self.threshold,
            "references_per_label": self.references_per_label,
            "probes": self.probes,
            "unknown": self.unknown,
            "rejected": {
                "count": len(self.rejected),
                "by_reason": self.rejected_by_reason(),
                "images": [{"source": p.source, "code": p.code, "reason": p.reason} for p in self.rejected],
            },
            "top1_accuracy": self.top1_accuracy,
            "true_accept_rate": self.true_accept_rate,
            "false_accept_rate": self.false_accept_rate,
            "unknown_false_accepts": self.unknown_false_accepts,
            "labels": [row.to_json() for row in self.labels],
            "scores": {
                key: scores[key] for key in ("genuine", "impostor", "target_fpr", "suggested_threshold", "rates")
            },
        }


def _share(count: int, total: int) -> float | None:
    return count / total if total else None
