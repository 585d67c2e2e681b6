"""``vigil watchlist``: add, list, show and remove entries, give them negative examples, remove one image.

Thin commands over ``watchlists``. ``add`` and ``add-negative`` check every image before they load a model, and
store nothing when one is bad: the error lists each refused file with its reason (exit 1). Read commands never
create a database. Moving a watchlist between nodes, re-embedding and matching live in ``watchlist_transfer``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from streamer.adaptation_worker import TrainingOutcome
from streamer.cli.adapt import outcome_json, print_outcome, train_now
from streamer.cli.watchlist_options import (
    ActorOption,
    ConfigOption,
    EntryIdArgument,
    ImagesArgument,
    JsonOption,
    KindChoice,
    database,
    database_exists,
    default_actor,
    existing_store,
    kind_embedders,
    open_store,
)
from streamer.cli.watchlist_render import (
    audit_json,
    echo_json,
    entry_adaptation,
    entry_json,
    image_json,
    print_entries,
    print_entry,
    print_report,
)
from streamer.cli.watchlist_transfer import transfer_app
from streamer.config import VigilConfig, load_config
from streamer.posture_matcher import entry_posture
from watchlists.enroll import Enroller, EnrollReport
from watchlists.records import Entry, check_entry_fields
from watchlists.sources import check_images
from watchlists.store import WatchlistStore

AdaptOption = Annotated[
    bool,
    typer.Option(
        help="Anomaly entries with enough photos (adaptation.min_references): train the few-shot heads now, as"
        " `vigil adapt` does, so a node started next serves them from its first keyframe and you see each head's"
        " validation. --no-adapt leaves it to a running node's background training (changing many entries: use"
        " --no-adapt, then run `vigil adapt` once)."
    ),
]

watchlist_app = typer.Typer(
    help="Manage the watchlist: the faces and anomaly references Vigil alerts on.", no_args_is_help=True
)
watchlist_app.add_typer(transfer_app)


@watchlist_app.command("add")
def add(
    sources: ImagesArgument,
    kind: Annotated[KindChoice, typer.Option(help="face: a person; anomaly: a scene (fire, smoke ...).")],
    label: Annotated[str, typer.Option(help="Name shown in alerts.")],
    threshold: Annotated[float | None, typer.Option(help="Cosine similarity to match (default: per kind).")] = None,
    camera: Annotated[list[str] | None, typer.Option(help="Only alert on this camera (repeat; default all).")] = None,
    notes: Annotated[str, typer.Option(help="Free text for admins.")] = "",
    adapt: AdaptOption = True,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an entry from reference images; nothing is stored if any image is bad. An anomaly entry's heads are
    then trained (--no-adapt to skip)."""
    settings = load_config(config)
    database(settings)  # a bad database setting is a usage error before any image is read
    check_entry_fields(label, threshold, camera or (), notes)
    embedder = kind_embedders(settings, show_progress=not as_json).for_kind(kind.value)  # faces_not_available first
    checked = check_images(sources)  # before the database is opened (or created) and before a model loads
    with open_store(settings) as store:
        enroller = Enroller(store, embedder, show_progress=not as_json)
        options = {"threshold": threshold, "cameras": camera or (), "notes": notes}
        report = enroller.enroll(kind.value, label, checked, actor=default_actor(actor), **options)
        training = _train_after(report.entry, store, embedder, settings, adapt=adapt, actor=actor, as_json=as_json)
    _print_with_training(report, settings, as_json, training)


@watchlist_app.command("add-negative")
def add_negative(
    entry_id: EntryIdArgument,
    sources: ImagesArgument,
    adapt: AdaptOption = True,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give an entry negative examples ("not this"): an image closer to one of them than to the entry's references
    does not match it. Use it for look-alikes that raised false alerts. An anomaly entry's heads are then trained
    again with them (--no-adapt to skip)."""
    settings = load_config(config)
    with existing_store(settings) as store:
        entry = store.get_entry(store.resolve_entry_id(entry_id))
        embedder = kind_embedders(settings, show_progress=not as_json).for_kind(entry.kind)
        checked = check_images(sources)
        enroller = Enroller(store, embedder, show_progress=not as_json)
        report = enroller.add_negatives(entry.id, checked, actor=default_actor(actor))
        training = _train_after(report.entry, store, embedder, settings, adapt=adapt, actor=actor, as_json=as_json)
    _print_with_training(report, settings, as_json, training, "negatives added to")


def _train_after(
    entry: Entry,
    store: WatchlistStore,
    embedder: Any,
    settings: VigilConfig,
    *,
    adapt: bool,
    actor: str | None,
    as_json: bool,
) -> TrainingOutcome | None:
    """After an anomaly entry with enough photos changed: its heads trained now (``train_now``), unless told not to.
    The change is stored already, so a failed training is reported, not raised: a node retrains in the background."""
    adaptable = entry.kind == "anomaly" and entry.image_count >= settings.adaptation.min_references
    if not (adapt and adaptable and settings.adaptation.enabled):
        return None
    try:
        return train_now(store, embedder, settings, actor=default_actor(actor), force=False, quiet=as_json)
    except Exception as exc:  # any failure: the stored change stands, and `vigil adapt` can retry
        detail = f"{exc}; the change is stored: a running node retrains in the background, or run `vigil adapt`"
        return TrainingOutcome("failed", detail=detail)


def _print_with_training(
    report: EnrollReport,
    settings: VigilConfig,
    as_json: bool,
    training: TrainingOutcome | None,
    verb: str = "created",
) -> None:
    print_report(report, settings, as_json, verb=verb, training=outcome_json(training) if training else None)
    if training is not None and not as_json:
        print_outcome(training)


@watchlist_app.command("list")
def list_entries(
    kind: Annotated[KindChoice | None, typer.Option(help="Only entries of this kind.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the entries, oldest first."""
    settings = load_config(config)
    entries: list[Entry] = []
    if database_exists(settings):
        with open_store(settings) as store:
            entries = store.list_entries(kind.value if kind else None)
    if as_json:
        echo_json([entry_json(e, settings) for e in entries])
    else:
        print_entries(entries, settings)


@watchlist_app.command("show")
def show(entry_id: EntryIdArgument, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show one entry with its images, its negative examples and its audit history."""
    settings = load_config(config)
    with existing_store(settings) as store:
        entry = store.get_entry(store.resolve_entry_id(entry_id))
        images, negatives = store.entry_images(entry.id), store.entry_negatives(entry.id)
        audit = store.audit(entry.id)
        posture = entry_posture(entry.kind, entry.label, settings.posture)
        adaptation = None if posture else entry_adaptation(store, entry, settings)
    if as_json:
        data = {
            "entry": entry_json(entry, settings),
            "adaptation": adaptation,
            "posture": posture,
            "images": [image_json(i) for i in images],
            "negatives": [image_json(i) for i in negatives],
            "audit": [audit_json(a) for a in audit],
        }
        echo_json(data)
    else:
        print_entry(entry, [*images, *negatives], audit, settings, adaptation, posture)


@watchlist_app.command("update")
def update(
    entry_id: EntryIdArgument,
    label: Annotated[str | None, typer.Option(help="New label.")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Cosine similarity a match must reach (lower: more alerts).")
    ] = None,
    default_threshold: Annotated[
        bool, typer.Option("--default-threshold", help="Use the kind's configured threshold again.")
    ] = False,
    camera: Annotated[
        list[str] | None, typer.Option(help="Only match on this camera (repeat for several); replaces the scope.")
    ] = None,
    all_cameras: Annotated[bool, typer.Option("--all-cameras", help="Match on every camera again.")] = False,
    notes: Annotated[str | None, typer.Option(help="New notes.")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="A disabled entry keeps its images and never matches.")
    ] = None,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Tune an entry: only the options given change; the audit log records old and new values."""
    if threshold is not None and default_threshold:
        raise typer.BadParameter("give --threshold or --default-threshold, not both", param_hint="--threshold")
    if camera and all_cameras:
        raise typer.BadParameter("give --camera or --all-cameras, not both", param_hint="--camera")
    settings = load_config(config)
    changes: dict[str, Any] = {"label": label, "notes": notes, "enabled": enabled}
    if threshold is not None or default_threshold:
        changes["threshold"] = threshold
    if camera or all_cameras:
        changes["cameras"] = camera or []
    with existing_store(settings) as store:
        before = store.get_entry(store.resolve_entry_id(entry_id))
        entry = store.update_entry(before.id, actor=default_actor(actor), **changes)
    if as_json:
        echo_json({"updated": entry_json(entry, settings), "changed": entry != before})
    else:
        typer.echo(f"updated {entry.id} ({entry.label})" if entry != before else f"{entry.id}: nothing to change")


@watchlist_app.command("remove")
def remove(
    entry_id: EntryIdArgument, actor: ActorOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Remove an entry with its images, negatives and embeddings (the audit log keeps the record)."""
    settings = load_config(config)
    with existing_store(settings) as store:
        entry = store.remove_entry(store.resolve_entry_id(entry_id), actor=default_actor(actor))
    if as_json:
        echo_json({"removed": entry_json(entry, settings)})
    else:
        typer.echo(f"removed {entry.id} ({entry.label}, {entry.image_count} images)")


ImageIdArgument = Annotated[
    int, typer.Argument(help="Image id, as `vigil watchlist show` lists it.", show_default=False)
]


@watchlist_app.command("remove-image")
def remove_image(
    entry_id: EntryIdArgument,
    image_id: ImageIdArgument,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove one reference image of an entry with its embeddings (never the last one: remove the entry instead)."""
    _remove_one(entry_id, image_id, actor, config, as_json, negative=False)


@watchlist_app.command("remove-negative")
def remove_negative(
    entry_id: EntryIdArgument,
    negative_id: ImageIdArgument,
    actor: ActorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove one negative example of an entry with its embeddings."""
    _remove_one(entry_id, negative_id, actor, config, as_json, negative=True)


def _remove_one(entry_id: str, image_id: int, actor: str | None, config: Any, as_json: bool, *, negative: bool) -> None:
    settings = load_config(config)
    with existing_store(settings) as store:
        entry = store.get_entry(store.resolve_entry_id(entry_id))
        image = store.remove_image(entry.id, image_id, actor=default_actor(actor), negative=negative)
    if as_json:
        echo_json({"removed": image_json(image), "entry_id": entry.id})
    else:
        what = "negative example" if negative else "image"
        typer.echo(f"removed {what} {image.id} ({image.source}) of {entry.id} ({entry.label})")
