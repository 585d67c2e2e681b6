"""Face threshold: which cosine similarity makes Vigil's face matcher as strict as dlib's own rule, and what the
default costs in missed matches, measured on a folder of real photos with Vigil's pipeline and with dlib itself.

dlib's rule is Euclidean distance <= 0.6 between raw descriptors (lengths ~1.25-1.46); Vigil matches unit vectors by
cosine. No cosine is exactly equivalent (the lengths vary per face), so this measures it, open-set, the way a watchlist
is used: the first photo of each label is enrolled, the label's other photos are probes (a true match is a probe
whose own entry scores at or over the threshold) and the photos of ``_unknown/`` are people never enrolled (a false
match is one that scores at or over the threshold against any entry). The folder is ``vigil eval``'s layout.

Both systems run their own pipeline on the same files: Vigil's is ``vigil eval --kind face``'s (MTCNN, alignment,
quality checks, the ONNX port of dlib's ResNet, unit length); dlib's is its HOG detector (largest face), 5-point
landmarks and ``compute_face_descriptor``. Rates are taken on the photos both could embed, over labels whose
reference both could embed. Reported: genuine and never-enrolled score percentiles, both systems' rates at their
rules, the cosine whose false-match rate equals dlib's at 0.6 (open-set, and over all pairs of different people), the
analytic cosine for two descriptors of the median length, and the lowest cosine keeping false matches <= 1%.

``lfw_layout`` builds the folder the README's numbers came from out of a copy of Labeled Faces in the Wild.

Example:
    >>> python -m streamer.bench.face_threshold data/face-photos          # prints the tables, saves JSON
    >>> python -m streamer.bench.face_threshold data/face-photos --from-lfw /data/lfw   # lay out the subset first
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.bench.report import BenchTable, console, save
from watchlists.calibration import threshold_for_fpr
from watchlists.embedding import EncodedBytes, embed_encoded
from watchlists.evaluation_dataset import EvaluationDataset

DLIB_DISTANCE = 0.6
TARGET_FALSE_MATCH = 0.01
COMPARED = (0.9, 0.92, 0.93, 0.94, 0.95)  # cosine thresholds shown side by side
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
Similarity = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PhotoRoles:
    """The folder's photos in one order, with what each is for.

    Attributes:
        paths: every photo: references, probes, never-enrolled.
        labels: each photo's label index; -1 for never-enrolled.
        reference: which photos are enrolled (one per label).
    """

    paths: tuple[Path, ...]
    labels: np.ndarray
    reference: np.ndarray

    @classmethod
    def read(cls, folder: Path) -> PhotoRoles:
        dataset = EvaluationDataset.read(folder, references=1)
        paths: list[Path] = []
        labels: list[int] = []
        reference: list[bool] = []
        for index, group in enumerate(dataset.per_label):
            for role, files in ((True, group.references), (False, group.probes)):
                paths += files
                labels += [index] * len(files)
                reference += [role] * len(files)
        paths += dataset.unknown
        labels += [-1] * len(dataset.unknown)
        reference += [False] * len(dataset.unknown)
        return cls(tuple(paths), np.array(labels), np.array(reference))


@dataclass(frozen=True, eq=False)
class OpenSetScores:
    """Scores of one system, higher meaning more alike (cosine; minus distance for dlib).

    Attributes:
        genuine: each probe against its own entry.
        never_enrolled: each never-enrolled photo against its best-scoring entry.
        impostor_pairs: every pair of photos of different people (verification, not open-set).
        never_enrolled_to_entries: each never-enrolled photo against each entry (for smaller watchlists).
    """

    genuine: np.ndarray
    never_enrolled: np.ndarray
    impostor_pairs: np.ndarray
    never_enrolled_to_entries: np.ndarray

    @classmethod
    def compute(cls, vectors: np.ndarray, roles: PhotoRoles, similarity: Similarity) -> OpenSetScores:
        entries = np.flatnonzero(roles.reference)
        to_entries = similarity(vectors, vectors[entries])  # (photos, entries)
        probes = np.flatnonzero(~roles.reference & (roles.labels >= 0))
        own = np.searchsorted(roles.labels[entries], roles.labels[probes])  # entries are in label order
        unknown = np.flatnonzero(roles.labels < 0)
        first, second = np.triu_indices(len(vectors), k=1)
        different = (roles.labels[first] != roles.labels[second]) | (roles.labels[first] < 0)
        pairs = similarity(vectors, vectors)[first[different], second[different]]
        return cls(to_entries[probes, own], to_entries[unknown].max(axis=1), pairs, to_entries[unknown])

    def true_match_rate(self, threshold: float) -> float:
        return float(np.mean(self.genuine >= threshold))

    def false_match_rate(self, threshold: float) -> float:
        return float(np.mean(self.never_enrolled >= threshold))

    def pair_false_match_rate(self, threshold: float) -> float:
        return float(np.mean(self.impostor_pairs >= threshold))

    def never_enrolled_best_of(self, entries: int, draws: int = 20, seed: int = 0) -> np.ndarray:
        """Each never-enrolled photo's best score against ``draws`` random watchlists of ``entries`` entries."""
        rng = np.random.default_rng(seed)
        total = self.never_enrolled_to_entries.shape[1]
        picks = [rng.choice(total, entries, replace=False) for _ in range(draws)]
        return np.concatenate([self.never_enrolled_to_entries[:, pick].max(axis=1) for pick in picks])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a @ b.T


def minus_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's rule as a similarity: minus the Euclidean distance, so "at or over -0.6" is "distance <= 0.6"."""
    squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2 * a @ b.T
    return -np.sqrt(np.maximum(squared, 0.0))


def vigil_embeddings(paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and which photos embedded, by ``vigil eval --kind face``'s pipeline and code path."""
    from engines.faces import load_face_pipeline

    pipeline = load_face_pipeline(show_progress=True)
    images = [EncodedBytes(str(path), path.read_bytes()) for path in paths]
    result = embed_encoded(images, pipeline)
    refused: dict[str, int] = {}
    for problem in result.refused:
        refused[problem.code] = refused.get(problem.code, 0) + 1
    console.print(f"vigil: {int(result.accepted.sum())} of {len(paths)} photos embedded; refused {refused}")
    return result.vectors, result.accepted


def dlib_descriptors(paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """dlib's own raw descriptors (HOG detector at one upsampling, largest face, 5 landmarks, one jitter)."""
    import dlib
    import face_recognition_models

    detector = dlib.get_frontal_face_detector()
    landmarks = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    network = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    vectors = np.zeros((len(paths), 128), dtype=np.float64)
    found = np.zeros(len(paths), dtype=bool)
    for i, path in enumerate(paths):
        image = dlib.load_rgb_image(str(path))
        faces = detector(image, 1)
        if len(faces):
            face = max(faces, key=lambda box: box.area())
            vectors[i] = np.array(network.compute_face_descriptor(image, landmarks(image, face)))
            found[i] = True
    console.print(f"dlib: {int(found.sum())} of {len(paths)} photos embedded")
    return vectors, found


def _common(roles: PhotoRoles, usable: np.ndarray) -> np.ndarray:
    """The photos both systems embedded, of labels whose reference both embedded (and the never-enrolled)."""
    enrolled = roles.labels[roles.reference & usable]
    return usable & ((roles.labels < 0) | np.isin(roles.labels, enrolled))


def measure(folder: Path) -> list[BenchTable]:
    """Embed the folder both ways and build the tables of the module docstring."""
    everything = PhotoRoles.read(folder)
    vigil_vectors, vigil_ok = vigil_embeddings(everything.paths)
    dlib_vectors, dlib_ok = dlib_descriptors(everything.paths)
    keep = _common(everything, vigil_ok & dlib_ok)
    roles = PhotoRoles(
        tuple(p for p, k in zip(everything.paths, keep, strict=True) if k),
        everything.labels[keep],
        everything.reference[keep],
    )
    vigil = OpenSetScores.compute(vigil_vectors[keep], roles, cosine)
    dlib = OpenSetScores.compute(dlib_vectors[keep], roles, minus_distance)
    return _tables(roles, vigil, dlib, np.linalg.norm(dlib_vectors[keep], axis=1))


def _tables(roles: PhotoRoles, vigil: OpenSetScores, dlib: OpenSetScores, norms: np.ndarray) -> list[BenchTable]:
    entries, unknown = int(roles.reference.sum()), int((roles.labels < 0).sum())
    counts = f"{entries} enrolled people, {len(vigil.genuine)} probes of them, {unknown} never-enrolled people"
    spread = BenchTable(f"face scores ({counts})", ["scores", "count", *(f"p{p}" for p in PERCENTILES)])
    for name, values in (
        ("vigil cosine, probe vs own entry", vigil.genuine),
        ("vigil cosine, never-enrolled vs best entry", vigil.never_enrolled),
        ("vigil cosine, pairs of different people", vigil.impostor_pairs),
        ("dlib distance, probe vs own entry", -dlib.genuine),
        ("dlib distance, never-enrolled vs nearest entry", -dlib.never_enrolled),
        ("dlib distance, pairs of different people", -dlib.impostor_pairs),
    ):
        spread.rows.append([name, str(len(values)), *(f"{v:.3f}" for v in np.percentile(values, PERCENTILES))])
    dlib_fmr = dlib.false_match_rate(-DLIB_DISTANCE)
    dlib_pair_fmr = dlib.pair_false_match_rate(-DLIB_DISTANCE)
    equal_open = threshold_for_fpr(vigil.never_enrolled, max(dlib_fmr, 1e-9))
    equal_pairs = threshold_for_fpr(vigil.impostor_pairs, max(dlib_pair_fmr, 1e-9))
    chosen = threshold_for_fpr(vigil.never_enrolled, TARGET_FALSE_MATCH)
    median = float(np.median(norms))
    analytic = 1 - DLIB_DISTANCE**2 / (2 * median**2)
    rates = BenchTable(
        "face match rates (open-set: enroll one photo per person)",
        ["rule", "never-enrolled matched", "probes matched", "pairs of different people matched"],
    )
    rates.rows.append(
        [f"dlib distance <= {DLIB_DISTANCE}", f"{dlib_fmr:.2%}", f"{dlib.true_match_rate(-DLIB_DISTANCE):.2%}",
         f"{dlib_pair_fmr:.3%}"]
    )  # fmt: skip
    marks = {equal_open: "dlib 0.6's open-set rate", equal_pairs: "dlib 0.6's pair rate", chosen: "<= 1% rule"}
    for threshold in sorted({*COMPARED, equal_open, equal_pairs, chosen}):
        name = f"vigil cosine >= {threshold:.4f}" + (f" ({marks[threshold]})" if threshold in marks else "")
        rates.rows.append(
            [name, f"{vigil.false_match_rate(threshold):.2%}", f"{vigil.true_match_rate(threshold):.2%}",
             f"{vigil.pair_false_match_rate(threshold):.3%}"]
        )  # fmt: skip
    rates.notes += [
        f"cosine with dlib 0.6's false-match rate: {equal_open:.4f} (never-enrolled), {equal_pairs:.4f} (all pairs)",
        f"analytic: two descriptors of the median length {median:.3f} (p5 {np.percentile(norms, 5):.3f}, p95 "
        f"{np.percentile(norms, 95):.3f}) at distance {DLIB_DISTANCE} have cosine 1 - d^2/(2 n^2) = {analytic:.4f}",
        f"lowest cosine with never-enrolled matches <= {TARGET_FALSE_MATCH:.0%}: {chosen:.4f}",
    ]
    by_size = BenchTable(
        f"face threshold by watchlist size (never-enrolled matched <= {TARGET_FALSE_MATCH:.0%}; 20 watchlists each)",
        ["entries", "cosine for <= 1%", "probes matched at it", "never-enrolled matched at 0.90", "dlib 0.6 matches"],
    )
    for size in (*(s for s in (10, 30, 100) if s < entries), entries):
        best, dlib_best = vigil.never_enrolled_best_of(size), dlib.never_enrolled_best_of(size)
        threshold = threshold_for_fpr(best, TARGET_FALSE_MATCH)
        by_size.rows.append(
            [str(size), f"{threshold:.4f}", f"{vigil.true_match_rate(threshold):.2%}", f"{np.mean(best >= 0.9):.2%}",
             f"{np.mean(dlib_best >= -DLIB_DISTANCE):.2%}"]
        )  # fmt: skip
    return [spread, rates, by_size]


def lfw_layout(lfw: Path, out: Path, *, enrolled_every: int = 11, unknown_every: int = 7, most: int = 5) -> None:
    """Lay out ``vigil eval``'s folder from Labeled Faces in the Wild (``lfw/<Name>/<Name>_0001.jpg``).

    Enrolled: every ``enrolled_every``-th person (by name) of those with two photos or more, their first ``most``
    photos; never enrolled: every ``unknown_every``-th person with a single photo. Files are copied.
    """
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    photos = {p.name: sorted(p.glob("*.jpg")) for p in people}
    several = [name for name in photos if len(photos[name]) >= 2][::enrolled_every]
    single = [name for name in photos if len(photos[name]) == 1][::unknown_every]
    for name in several:
        (out / name).mkdir(parents=True, exist_ok=True)
        for photo in photos[name][:most]:
            shutil.copy2(photo, out / name / photo.name)
    (out / "_unknown").mkdir(parents=True, exist_ok=True)
    for name in single:
        shutil.copy2(photos[name][0], out / "_unknown" / photos[name][0].name)
    console.print(f"laid out {len(several)} enrolled and {len(single)} never-enrolled people in {out}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="vigil eval's layout: one folder per person, plus _unknown/")
    parser.add_argument("--from-lfw", type=Path, help="first lay the folder out from this LFW copy (lfw/<Name>/)")
    parser.add_argument("--output", type=Path, default=Path("data/bench/face-threshold.json"))
    args = parser.parse_args(argv)
    if args.from_lfw:
        lfw_layout(args.from_lfw, args.folder)
    tables = measure(args.folder)
    for table in tables:
        table.show()
    save(tables, args.output)


if __name__ == "__main__":
    main()
