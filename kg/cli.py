"""The ``hake`` command line.

Exit codes: 0 ok, 1 failed (bad data, a store error), 2 usage (bad arguments). Errors the
user can fix print one line (``hake: error: ...``) with what to do, never a traceback.
Every command that touches a store takes ``--store DIR`` (embedded, the default:
``$HAKE_STORE`` or ``./hake-graph``) or ``--neo4j [URI]`` (Bolt; ``NEO4J_URI``,
``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE`` fill in what is not given).

Examples::

    hake ontology stats --json
    hake init --store graph/
    hake ingest hake-instance ../shared/datasets/hake/hico-det-instance-level.tar.gz --store graph/
    hake query "MATCH (a:Activity {name: \\$name}) RETURN a.hoi_id AS hoi" --param name="ride bicycle"
    hake query --example part_states_implying_activity --store graph/ --json
    hake export --format ttl --out graph.ttl --store graph/
    hake sparql graph.ttl "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kg.report import readable

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_STORE = "hake-graph"


class _UsageError(Exception):
    """A problem with the arguments that argparse could not see (exit code 2)."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import ontology

    try:
        dist = version("hake-engine")
    except PackageNotFoundError:  # running from a source tree that was not pip-installed
        dist = ontology.__version__
    return f"hake {dist} (ontology {ontology.load().version})"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=None, default=str))


# ---- store options ----------------------------------------------------------------------


def _add_store_options(parser: argparse.ArgumentParser, optional: str | None = None) -> None:
    """``--store DIR`` / ``--neo4j [URI]``; with ``optional`` (what naming one does) neither is
    assumed when both are left out."""
    group = parser.add_argument_group("store (pick one)").add_mutually_exclusive_group()
    group.add_argument(
        "--store",
        metavar="DIR",
        help=f"embedded store directory: {optional}"
        if optional
        else f"embedded store directory (default: $HAKE_STORE or ./{DEFAULT_STORE})",
    )
    group.add_argument(
        "--neo4j",
        metavar="URI",
        nargs="?",
        const="",
        help="a Neo4j/Bolt server, e.g. bolt://localhost:7687 (without URI: $NEO4J_URI); "
        "credentials from NEO4J_USER / NEO4J_PASSWORD, database from NEO4J_DATABASE",
    )


def _open_store(args: argparse.Namespace, read_only: bool = False, create: bool = False) -> Any:
    """The store the options name; an embedded store is created only by ``create`` (``hake
    init``): any other command on a folder without a store fails and leaves nothing behind.
    Recovering an unfinished load on opening shows progress unless ``--no-progress``."""
    from kg.store import EmbeddedStore, Neo4jStore

    if args.neo4j is not None:
        return Neo4jStore.from_env(args.neo4j or None, read_only=read_only)
    return EmbeddedStore(
        args.store or os.environ.get("HAKE_STORE") or DEFAULT_STORE,
        read_only=read_only,
        create=create,
        progress=False if getattr(args, "no_progress", False) else None,
    )


# ---- output options ---------------------------------------------------------------------
# A file --out is written atomically (ontology.files.atomic_write); it must not be a
# directory and its folder must exist (never created). A folder --out (demo, train) is
# created, with its parents. Both are checked before any work is done.


def _out_file(value: str, example: str) -> Path:
    """The ``--out`` file path, checked; ``example`` is a file name to suggest inside a folder."""
    from ontology.files import check_file_target

    try:
        return check_file_target(value)
    except IsADirectoryError:
        raise _UsageError(
            f"--out must be a file path, {value} is a directory; e.g. --out {Path(value) / example}"
        ) from None
    except OSError as err:  # its folder is missing or not a folder
        raise _UsageError(f"--out: {err}") from None


def _out_folder(value: str) -> Path:
    """The ``--out`` folder path (created later, with its parents); an existing file is refused."""
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise _UsageError(f"--out must be a folder, {value} is a file; pick a new or existing folder")
    return out


# ---- commands ---------------------------------------------------------------------------


def _add_ontology_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--ontology",
        nargs="+",
        metavar="FILE",
        default=[],
        help=f"extension files (.yaml or .ttl) merged into the packaged ontology {what}",
    )


def _ontology(args: argparse.Namespace) -> Any:
    """The ontology of ``--ontology FILE...`` (the packaged one without it), or with ``--store``
    / ``--neo4j`` the store's own (opened read-only)."""
    import ontology

    files = getattr(args, "ontology", [])
    if getattr(args, "store", None) is not None or getattr(args, "neo4j", None) is not None:
        if files:
            raise _UsageError("give --ontology FILE... or a store, not both (a store knows its ontology)")
        from kg.store_ontology import store_ontology

        with _open_store(args, read_only=True) as store:
            return store_ontology(store)
    return ontology.load(*files)


def _cmd_ontology_stats(args: argparse.Namespace) -> int:
    stats = _ontology(args).stats()
    if args.json:
        _print_json(stats)
        return EXIT_OK
    rows = [
        ("ontology", f"{stats['id']}"),
        ("version", stats["version"]),
        ("body parts", f"{stats['body_parts_fine']} fine, {stats['body_parts_coarse']} coarse"),
        ("part states", f"{stats['part_states']} ({stats['part_states_hico']} in the HICO set)"),
        ("verbs", f"{stats['verbs']} ({stats['verbs_hico']} HICO)"),
        ("objects", str(stats["objects"])),
        (
            "activities",
            f"{stats['activities']} ({stats['activities_person_only']} person-only, "
            f"{stats['activities_composite']} composite)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return EXIT_OK


def _cmd_ontology_export(args: argparse.Namespace) -> int:
    from ontology.files import write_text_atomic

    onto = _ontology(args)
    text = onto.to_turtle()
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    _out_file(args.out, "ontology.ttl")
    write_text_atomic(args.out, text)
    summary = {"out": args.out, "id": onto.id, "version": onto.version, "bytes": len(text.encode())}
    if args.json:
        _print_json(summary)
    else:
        print(f"wrote ontology {onto.id} (version {onto.version}) to {args.out}")
    return EXIT_OK


def _cmd_ontology_extend(args: argparse.Namespace) -> int:
    from kg.store_ontology import extend_store, store_ontology

    with _open_store(args) as store:
        before = store_ontology(store)
        after = extend_store(store, *args.files)
        where = repr(store)
    added = {
        kind: len(getattr(after, kind)) - len(getattr(before, kind))
        for kind in ("part_states", "verbs", "objects", "activities")
    }
    if args.json:
        _print_json({"id": after.id, "version": after.version, "added": added})
    else:
        added_text = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in added.items())
        print(
            f"extended the ontology of {where}: added {added_text}; now {after.id} (version {after.version})"
        )
    return EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    from kg.store_ontology import init_store

    onto = _ontology(argparse.Namespace(ontology=args.ontology))  # the files, not the store
    with _open_store(args, create=True) as store:
        counts = init_store(store, onto)
        where = repr(store)
    if args.json:
        _print_json(counts)
    else:
        print(f"ontology loaded into {where}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return EXIT_OK


def _cmd_ingest(args: argparse.Namespace) -> int:
    from kg import ingest

    progress = not args.no_progress
    with _open_store(args) as store:
        if args.kind == "hake-image":
            report = ingest.ingest_hake_image(store, args.file, progress=progress, replace=args.replace)
        elif args.kind == "hake-instance":
            report = ingest.ingest_hake_instance(store, args.file, progress=progress, replace=args.replace)
        else:
            report = ingest.ingest_observations_jsonl(
                store, args.file, progress=progress, replace=args.replace
            )
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"{report.source}: {report.persons_added} persons added"
            + (
                f" ({report.extra['persons_replaced']} of them replaced)"
                if "persons_replaced" in report.extra
                else ""
            )
            + f", {report.persons_skipped} already stored, {report.images_added} images, "
            f"{report.observations_added} part-state observations, {report.activities_added} activity labels"
            + (
                f", {report.extra['object_instances_added']} object instances, "
                f"{report.extra['interactions_added']} triplets"
                if "object_instances_added" in report.extra
                else ""
            )
            + ("" if report.evidence_edges is None else f", {report.evidence_edges} evidence edges")
            + f" ({report.seconds:.1f} s)"
        )
    return EXIT_OK


def _parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise _UsageError(f"--param expects NAME=VALUE (got {pair!r}), e.g. --param name='ride bicycle'")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw  # plain text
    return params


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits, inside lists and maps too (tables only: --json is exact)."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_rounded(value), default=str)


def _print_table(rows: list[dict[str, Any]]) -> None:
    """Rows as an aligned table, numbers rounded to 6 significant digits (``--json``: exact)."""
    if not rows:
        print("(no rows)")
        return
    columns = list(rows[0])
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _cmd_query(args: argparse.Namespace) -> int:
    from kg.queries import EXAMPLES
    from kg.store.base import check_parameters
    from ontology.errors import QueryError

    if args.list_examples:
        for q in EXAMPLES.values():
            print(f"{q.name}: {q.question}\n  {q.cypher}\n  params: {json.dumps(q.params)}\n")
        return EXIT_OK
    params = _parse_params(args.param)
    if args.example:
        if args.cypher:
            raise _UsageError("give either a CYPHER query or --example NAME, not both")
        example = EXAMPLES.get(args.example)
        if example is None:
            raise _UsageError(f"unknown example {args.example!r}; choose from {sorted(EXAMPLES)}")
        cypher, params = example.cypher, {**example.params, **params}
    elif args.cypher:
        cypher = args.cypher
    else:
        raise _UsageError("give a CYPHER query (or --example NAME; --list-examples shows them)")
    try:
        check_parameters(cypher, params)
    except QueryError as err:
        raise _UsageError(f"{err} (values go in as --param NAME=VALUE)") from None
    with _open_store(args, read_only=not args.write) as store:
        rows = store.execute(cypher, **params) if args.write else store.query(cypher, **params)
    if args.json:
        _print_json(rows)
    else:
        _print_table(rows)
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from kg.export import write_graphml
    from kg.rdf import export_rdf

    _out_file(args.out, f"graph.{args.format or 'ttl'}")
    fmt = args.format or args.out.rsplit(".", 1)[-1]
    if args.ontology_only and fmt != "graphml":
        raise _UsageError(
            f"--ontology-only is for GraphML (got format {fmt!r}); for RDF without the ontology use "
            "--no-ontology"
        )
    with _open_store(args, read_only=True) as store:
        if fmt == "graphml":
            n = write_graphml(store, args.out, instances=not args.ontology_only)
            what = "edges"
        else:
            n = export_rdf(
                store, args.out, fmt, include_ontology=not args.no_ontology, progress=not args.no_progress
            )
            what = "triples"
    if args.json:
        _print_json({"path": args.out, what: n})
    else:
        print(f"wrote {n} {what} to {args.out}")
    return EXIT_OK


def _cmd_sparql(args: argparse.Namespace) -> int:
    from kg.rdf import sparql

    rows = sparql(args.file, args.query, progress=sys.stderr.isatty())
    if args.json:
        _print_json(rows)
    else:
        _print_table(rows)
    return EXIT_OK


def _cmd_infer(args: argparse.Namespace) -> int:
    from perception import Perceiver, check_inputs

    if args.stride < 1:
        raise _UsageError(f"--stride must be >= 1 (got {args.stride})")
    if not 0.0 <= args.threshold <= 1.0:
        raise _UsageError(f"--threshold must be in [0, 1] (got {args.threshold})")
    if not 0.0 <= args.object_threshold <= 1.0:
        raise _UsageError(f"--object-threshold must be in [0, 1] (got {args.object_threshold})")
    if args.batch_size < 1:
        raise _UsageError(f"--batch-size must be >= 1 (got {args.batch_size})")
    out = _out_file(args.out, "observations.jsonl") if args.out else None
    check_inputs(args.inputs)  # before any model loads
    onto = None  # the packaged ontology, unless the store holds another (its part states are perceived)
    if args.store is not None or args.neo4j is not None:
        from kg.store_ontology import store_ontology

        with _open_store(args, read_only=True) as store:
            onto = store_ontology(store)
    try:
        perceiver = Perceiver.from_pretrained(
            ontology=onto,
            detector=args.detector,
            pose=None if args.pose == "none" else args.pose,
            clip=None if args.clip == "none" else args.clip,
            part_state_head=args.heads,
            device=args.device,
            batch_size=args.batch_size,
            person_threshold=args.threshold,
            object_threshold=args.object_threshold,
        )
    except ValueError as err:  # option values only the perception config can judge (e.g. --device)
        raise _UsageError(str(err)) from None
    from contextlib import ExitStack, nullcontext

    from ontology.files import atomic_write

    temporal = None if args.no_temporal else _TemporalVideos(onto, args.device)
    storing = args.store is not None or args.neo4j is not None
    records: list[Any] = []  # kept only for the store's all-or-nothing write
    instances: list[Any] = []  # the scenes' object instances, likewise
    persons = 0
    with ExitStack() as stack:
        sink: Any = stack.enter_context(atomic_write(out) if out is not None else nullcontext(None))
        to_stdout = sink is None and not storing
        try:
            for scene in perceiver.iter_scenes(
                args.inputs,
                progress=not args.no_progress,
                stride=args.stride,
                on_error="skip" if args.skip_errors else "raise",
            ):
                if temporal is not None and scene.frame_index is not None:
                    info = perceiver.video_info.get(scene.image_id)
                    temporal.push(scene, None if info is None else info.fps)
                for r in scene.persons:
                    line = json.dumps(r.to_dict()) + "\n"
                    persons += 1
                    if sink is not None:
                        sink.write(line)
                    elif to_stdout:
                        sys.stdout.write(line)
                    if storing:
                        records.append(r)
                if storing:
                    instances += scene.objects
        except ValueError as err:  # e.g. two inputs with the same image id
            raise _UsageError(str(err)) from None
        segments, clip_labels = temporal.close() if temporal is not None else ([], [])
    ingested = None
    if storing:
        from kg.reason import stage_perceived
        from kg.store_ontology import store_ontology

        with _open_store(args) as store, store.bulk_load() as load:
            ingested = stage_perceived(
                load,
                store,
                records,
                instances,
                onto=store_ontology(store),
                source="hake infer",
                run="hake infer",  # (no interactions are given: run and model label none)
                model=args.detector,
                video_info=perceiver.video_info,
                segments=segments,
                clip_labels=clip_labels,
                progress=not args.no_progress,
            )
    names = (
        {}
        if temporal is None or temporal.reasoner is None
        else {a.id: a.name for a in temporal.reasoner.ontology.activities}
    )
    video_summary = [
        {
            "video": c.video_id,
            "clip_label": c.activity,
            "clip_label_name": names.get(c.activity, c.activity),
            "score": round(c.score, 4),
            "segments": [
                {
                    "track": s.track_id,
                    "activity": s.activity,
                    "activity_name": names.get(s.activity, s.activity),
                    "start_frame": s.start_frame,
                    "end_frame": s.end_frame,
                    "start_time": s.start_time,
                    "end_time": s.end_time,
                    "score": round(s.score, 4),
                }
                for s in segments
                if s.video_id == c.video_id
            ],
        }
        for c in clip_labels
    ]
    if to_stdout:
        for v in video_summary:
            print(_video_line(v), file=sys.stderr)
        return EXIT_OK
    summary = {
        "persons": persons,
        "out": args.out,
        "ingested": None if ingested is None else ingested.to_dict(),
        "videos": video_summary,
        "temporal_model": None if temporal is None or temporal.reasoner is None else temporal.reasoner.name,
    }
    if args.json:
        _print_json(summary)
        return EXIT_OK
    message = f"{persons} persons" + (f" written to {args.out}" if args.out else "")
    if ingested is not None:
        message += (
            f"; {ingested.persons_added} added to the store, {ingested.persons_skipped} already "
            "there (same image and person id); "
            f"{ingested.extra['object_instances_added']} object instances added, "
            f"{ingested.extra['object_instances_skipped']} already there"
        )
    print(message)
    for v in video_summary:
        print(_video_line(v))
    return EXIT_OK


def _video_line(v: dict[str, Any]) -> str:
    return (
        f"{v['video']}: clip label {v['clip_label_name']} ({v['score']:.2f}); {len(v['segments'])} activity "
        "segments: "
        + (
            ", ".join(
                f"track {s['track']} {s['activity_name']} frames {s['start_frame']}-{s['end_frame']}"
                for s in v["segments"][:5]
            )
            + (" ..." if len(v["segments"]) > 5 else "")
            if v["segments"]
            else "none"
        )
    )


class _TemporalVideos:
    """The temporal reasoning of ``hake infer``: one ``reasoning.TemporalStream`` per video,
    fed while its frames decode (memory bounded by the stream's window); the reasoner loads
    at the first video frame."""

    def __init__(self, onto: Any, device: str) -> None:
        self.onto = onto
        self.device = device
        self.reasoner: Any = None
        self.streams: dict[str, Any] = {}
        self.segments: list[Any] = []
        self.labels: list[Any] = []

    def push(self, scene: Any, fps: float | None) -> None:
        from reasoning import ActivityReasoner, TemporalReasoner, TemporalStream

        if self.reasoner is None:
            frame_reasoner: Any = ActivityReasoner.from_pretrained(
                device="cpu" if self.device == "auto" else self.device
            )
            if self.onto is not None and self.onto.id != frame_reasoner.ontology.id:
                frame_reasoner = frame_reasoner.for_ontology(self.onto)
            self.reasoner = TemporalReasoner.from_pretrained(reasoner=frame_reasoner, other_reasoner="smooth")
        stream = self.streams.get(scene.image_id)
        if stream is None:
            for video in list(self.streams):  # videos are read one after another
                self._close(video)
            stream = self.streams[scene.image_id] = TemporalStream(self.reasoner, scene.image_id, fps=fps)
        self.segments += stream.push(scene.frame_index, scene.persons)

    def _close(self, video: str) -> None:
        segments, labels = self.streams.pop(video).close()
        self.segments += segments
        self.labels += labels

    def close(self) -> tuple[list[Any], list[Any]]:
        for video in list(self.streams):
            self._close(video)
        return self.segments, self.labels


def _reasoner(args: argparse.Namespace) -> Any:
    from reasoning import ActivityReasoner

    try:
        return ActivityReasoner.from_pretrained(args.model, device=args.device)
    except (FileNotFoundError, ValueError) as err:
        raise _Failed(str(err)) from None


class _Failed(Exception):
    """A failure outside the HakeError tree (e.g. from torch-side loading): exit code 1."""


def _print_predictions(preds: Iterable[list[Any]], limit: int | None = None, onto: Any = None) -> int:
    """Print each person's predictions with their three largest contributions (at most
    ``limit`` persons; names from ``onto``, default the packaged ontology); returns how many
    persons were printed."""
    import ontology

    onto = ontology.load() if onto is None else onto
    vocab: dict[str, ontology.Vocabulary[Any]] = {
        "part_state": onto.part_states,
        "object": onto.objects,
        "body_part": onto.body_parts,
    }
    shown = 0
    for person in preds:
        if not person:
            continue
        if limit is not None and shown >= limit:
            break
        shown += 1
        head = person[0]
        print(f"{head.key}:")
        for p in person:
            top = p.explanation.contributions[:3] if p.explanation is not None else ()
            why = ", ".join(f"{readable(vocab[c.kind][c.term].name)} {c.weight:+.2f}" for c in top)
            print(f"  {readable(onto.activities[p.activity].name):<24} {p.score:.3f}   because {why}")
    return shown


def _cmd_reason(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kg.engine import Engine

    if args.top_k < 1:
        raise _UsageError(f"--top-k must be at least 1, got {args.top_k}")
    if args.min_share is not None and not 0.0 <= args.min_share <= 1.0:
        raise _UsageError(f"--min-share must be in [0, 1], got {args.min_share}")
    if args.chunk_size < 1 or args.show < 0:
        raise _UsageError(f"--chunk-size must be >= 1 and --show >= 0, got {args.chunk_size} and {args.show}")
    if args.file is not None and not Path(args.file).is_file():
        raise _UsageError(f"no observations file {args.file}; pass a .jsonl written by `hake infer --out`")
    options = {
        "top_k": args.top_k,
        "progress": not args.no_progress,
        "paths": args.paths,
        "min_share": args.min_share,
        "chunk_size": args.chunk_size,
        "keep": args.show,
    }
    from kg.store_ontology import store_ontology

    with _open_store(args) as store:
        onto = store_ontology(store)
        if args.top_k > len(onto.activities):
            raise _UsageError(
                f"--top-k must be in 1..{len(onto.activities)} (the store's activities), got {args.top_k}"
            )
        engine = Engine(store, _reasoner(args))
        if args.file is None:
            result = engine.reason_stored(**options)
        else:
            result = engine.reason_file(args.file, **options)
    if args.json:
        summary = result.to_dict()
        if args.show:
            summary["predictions_shown"] = [
                [p.to_dict() for p in person]
                for _, person in zip(range(args.show), result.predictions_by_person(), strict=False)
            ]
        _print_json(summary)
        return EXIT_OK
    shown = _print_predictions(result.predictions_by_person(), args.show, onto)
    more = f" (the first {shown} shown; --show N for more)" if shown < result.persons else ""
    print(
        f"{result.persons} persons{more}, {result.persons_added} of them new in the store; "
        f"{result.predictions} predictions with {result.contributions} contributions written "
        f"(run {result.run.id}) in {result.seconds:.1f} s, {result.persons_per_s:,.0f} persons/s"
    )
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from kg.engine import Engine
    from kg.report import write_explanation

    if args.out:
        _out_file(args.out, f"why.{args.format}")
    with _open_store(args, read_only=True) as store:
        data = Engine(store).explain(args.person, args.activity)
    text = write_explanation(data, args.format, args.out, args.image)
    if args.out:
        print(f"wrote {args.format} explanation of {args.person} to {args.out}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    import time

    from kg.engine import DEMO_OBSERVATIONS, Engine
    from kg.ingest import read_observations_jsonl
    from kg.queries import EXAMPLES
    from kg.report import write_report
    from kg.store import EmbeddedStore

    start = time.perf_counter()
    if args.image:  # inputs and checkpoints before any model loads
        from perception import Perceiver, check_inputs

        check_inputs(args.image)
        Perceiver.check_checkpoints(
            args.detector,
            None if args.pose == "none" else args.pose,
            None if args.clip == "none" else args.clip,
        )
    out = _out_folder(args.out)
    out.mkdir(parents=True, exist_ok=True)
    observations = read_observations_jsonl(DEMO_OBSERVATIONS)
    with EmbeddedStore(out / "store") as store:
        engine = Engine(store, _reasoner(args))
        counts = engine.init()
        print(f"1. ontology in {out / 'store'}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        edges = engine.load_reasoner_evidence()
        print(f"   + {edges} evidence edges (part state -> activity/verb) from the reasoner's training data")
        if args.image:
            print("2. perception on", ", ".join(args.image))
            preds = engine.infer(
                args.image,
                top_k=3,
                detector=args.detector,
                pose=None if args.pose == "none" else args.pose,
                clip=None if args.clip == "none" else args.clip,
                device=args.device,
            )
        else:
            print(f"2. reasoning over {len(observations)} example persons ({DEMO_OBSERVATIONS.name})")
            preds = engine.reason(observations, top_k=3)
        _print_predictions(preds)
        if not any(preds):
            raise _Failed(
                "no persons detected, so nothing to reason about; try another image or "
                "a lower detection threshold with `hake infer --threshold`"
            )
        first = next(p for p in preds if p)[0]
        person = first.key
        activity = load_activity_name(first.activity)
        queries: list[tuple[str, dict[str, Any]]] = [
            ("part_states_implying_activity", {"activity": activity, "limit": 5}),
            ("person_part_states", {"person": person, "threshold": 0.5}),
            ("why_prediction", {"person": person, "activity": activity}),
        ]
        print("3. three Cypher queries over the stored graph:")
        for name, params in queries:
            example = EXAMPLES[name]
            rows = store.query(example.cypher, **params)
            print(f"\n-- {example.question}\n   params: {json.dumps(params)}")
            _print_table(rows[:8])
            if len(rows) > 8:
                print(f"   ... {len(rows) - 8} more rows")
        people = [engine.explain(p[0].key) for p in preds if p]  # every person of the run
        images: dict[str, Path] = {}
        for given in map(Path, args.image or []):  # perception's image ids: a file's name or its path
            for data in people:  # under the folder given; a video frame's is neither (boxes only)
                image_id = str(data.image["id"])
                file = given / image_id if given.is_dir() else given
                if (given.is_dir() or given.name == image_id) and file.is_file():
                    images.setdefault(image_id, file)
        report = out / "report.html"
        write_report(people, report, images)
    print(f"\n4. HTML report of {len(people)} persons: {report.resolve()}")
    print(
        f"done in {time.perf_counter() - start:.1f} s; query more with: "
        f"hake query --store {out / 'store'} --example why_prediction "
        f'--param person={person} --param activity="{activity}"'
    )
    return EXIT_OK


def _cmd_doctor(args: argparse.Namespace) -> int:
    """What is installed, cached and reachable (disk and one TCP connection; nothing loads)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from perception import DEFAULT_CLIP, DEFAULT_DETECTOR, DEFAULT_POSE
    from perception._loading import checkpoint_status, hub_reachable
    from reasoning.pairing import default_pairing_path
    from reasoning.reasoner import default_model_path
    from reasoning.temporal import default_temporal_path

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    import torch

    cuda = torch.cuda.is_available()
    reasoner = default_model_path()
    checkpoints = [
        checkpoint_status(what, name)
        for what, name in (
            ("detector", DEFAULT_DETECTOR),
            ("pose", DEFAULT_POSE),
            ("part states (CLIP)", DEFAULT_CLIP),
        )
    ]
    hub = hub_reachable()
    report: dict[str, Any] = {
        "hake": _version(),
        "python": platform.python_version(),
        "packages": {
            name: installed(name)
            for name in ("torch", "transformers", "torch-geometric", "ladybug", "neo4j", "pyoxigraph")
        },
        "device": f"cuda ({torch.cuda.get_device_name(0)})" if cuda else "cpu (no CUDA device)",
        "reasoner": {"path": str(reasoner), "found": (reasoner / "model.pt").is_file()},
        "pairing_model": {
            "path": str(default_pairing_path()),
            "found": (default_pairing_path() / "model.pt").is_file(),
        },
        "temporal_reasoner": {
            "path": str(default_temporal_path()),
            "found": (default_temporal_path() / "config.json").is_file(),
        },
        "image_checkpoints": [
            {"what": c.what, "name": c.name, "cached": c.found, "size_mb": c.size_mb} for c in checkpoints
        ],
        "hub_cache": checkpoints[0].where,
        "hub_reachable": hub,
    }
    if args.json:
        _print_json(report)
        return EXIT_OK
    rows = [
        ("hake", report["hake"]),
        ("python", report["python"]),
        *((name, v) for name, v in report["packages"].items()),
        ("device", report["device"]),
        *(
            (f"{label} (offline)", f"{'found' if report[key]['found'] else 'MISSING'}: {report[key]['path']}")
            for label, key in (
                ("reasoner", "reasoner"),
                ("pairing model", "pairing_model"),
                ("temporal reasoner", "temporal_reasoner"),
            )
        ),
        *((f"checkpoint: {c.what}", f"{c.name}: {c.state()}") for c in checkpoints),
        ("Hub cache", report["hub_cache"]),
        ("Hub reachable", "yes" if hub else "no (offline, or HF_HUB_OFFLINE is set)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    ready = all(c.found for c in checkpoints) or hub
    print(
        "\n"
        + (
            "images: ready (`hake demo --image photo.jpg`)"
            if ready
            else "images: not ready: the checkpoints above are not cached and the Hub is out of reach; "
            "`hake demo` without --image works offline"
        )
    )
    return EXIT_OK


def load_activity_name(activity_id: str) -> str:
    import ontology

    return ontology.load().activities[activity_id].name


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.task in ("kinetics-tps", "clip-topk"):
        return _eval_video(args)
    if args.predictions is not None:
        raise _UsageError("--predictions is the prediction file of --task kinetics-tps")
    import reasoning

    if args.novel_verbs is not None:
        return _eval_novel_verbs(args)
    if args.task == "hicodet-pairs":
        return _eval_pairs(args)
    if args.out is not None:
        raise _UsageError("--out keeps the novel-verb protocol's checkpoint; give it with --novel-verbs")
    unseen = reasoning.default_unseen_path() if args.unseen == "default" else args.unseen
    try:
        metrics = reasoning.evaluate(
            args.data,
            task=args.task,
            model=args.model,
            split_seed=args.split_seed,
            test_fraction=args.test_fraction,
            unseen_file=unseen,
            device=args.device,
            progress=not args.no_progress,
            ap=args.ap or "sklearn",
        )
    except (FileNotFoundError, ValueError) as err:
        raise _Failed(str(err)) from None
    return _print_metrics(metrics, args.json)


def _eval_video(args: argparse.Namespace) -> int:
    """``hake eval --task kinetics-tps|clip-topk``: scores read from files, nothing trained
    (reasoning.video_eval)."""
    given = (args.novel_verbs, args.out, args.unseen, args.ap)
    changed = (args.model != "gnn", args.split_seed != 0, args.test_fraction != 0.2, args.device != "cpu")
    if any(v is not None for v in given) or any(changed):
        files = "--data and --predictions" if args.task == "kinetics-tps" else "--data"
        raise _UsageError(
            f"--task {args.task} scores files: it takes {files} and --json, none of the training "
            "options (--model, --split-seed, --test-fraction, --unseen, --ap, --novel-verbs, --out, --device)"
        )
    from reasoning import video_eval

    if args.task == "clip-topk":
        if args.predictions is not None:
            raise _UsageError("--task clip-topk reads its scores from --data; leave out --predictions")
        clips = video_eval.read_clip_scores(args.data)
        report = video_eval.clip_topk(clips.scores, clips.labels, clips.activities).to_dict()
    else:
        if args.predictions is None:
            raise _UsageError("--task kinetics-tps needs --predictions PRED.json beside --data GT.json")
        truth = video_eval.read_tps_ground_truth(args.data)
        guesses = video_eval.read_tps_predictions(args.predictions)
        report = video_eval.evaluate_tps(truth, guesses).to_dict()
    if args.json:
        _print_json(report)
        return EXIT_OK
    for key, value in report.items():
        if key == "videos":
            continue  # per-video PSC: in --json
        if key == "curve":
            value = ", ".join(f"{t}: {a}" for t, a in value.items())
        print(f"{key:<22} {value}")
    return EXIT_OK


def _eval_pairs(args: argparse.Namespace) -> int:
    """``hake eval --task hicodet-pairs``: the human-object pairing protocol (reasoning.pairing)."""
    if args.unseen is not None or args.out is not None or args.ap == "sklearn":
        raise _UsageError(
            "--task hicodet-pairs takes --data, --model (the person-level reasoner), --split-seed and "
            "--test-fraction; it reports VOC AP (HICO-DET's convention) and holds nothing out"
        )
    import reasoning

    try:
        metrics = reasoning.evaluate_pairs(
            args.data,
            split_seed=args.split_seed,
            test_fraction=args.test_fraction,
            model=args.model,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as err:
        raise _Failed(str(err)) from None
    if args.json:
        _print_json(metrics)
        return EXIT_OK
    methods = metrics.pop("methods")
    for key, value in metrics.items():
        print(f"{key:<28} {value}")
    columns = (
        "pairing_accuracy_ambiguous",
        "pairing_accuracy",
        "interactiveness_AP",
        "triplet_mAP",
        "triplet_mAP_rare",
        "triplet_mAP_non_rare",
    )
    print(f"{'method':<16} " + " ".join(f"{c:>26}" for c in columns))
    for name, row in methods.items():
        print(f"{name:<16} " + " ".join(f"{str(row.get(c, '-')):>26}" for c in columns))
    return EXIT_OK


def _print_metrics(metrics: dict[str, Any], as_json: bool) -> int:
    """``hake eval``'s output: one JSON object, or one line per metric (few-shot rows each)."""
    if as_json:
        _print_json(metrics)
        return EXIT_OK
    for key, value in metrics.items():
        if key == "few_shot":
            for k, row in value.items():
                print(
                    f"{k + '-shot':<22} novel mAP {row['novel_mAP']}, seen mAP {row['seen_mAP']}, "
                    f"{row['n_images']} images"
                )
        else:
            print(f"{key:<22} {value}")
    return EXIT_OK


def _eval_novel_verbs(args: argparse.Namespace) -> int:
    """``hake eval --novel-verbs [FILE]``: the novel-vocabulary protocol (reasoning.novel)."""
    if args.model != "gnn" or args.unseen is not None:
        raise _UsageError("--novel-verbs runs the GNN protocol: leave out --model and --unseen")
    out = None if args.out is None else _out_folder(args.out)
    import reasoning

    try:
        metrics = reasoning.evaluate_novel_verbs(
            args.data,
            verbs_file=None if args.novel_verbs == "default" else args.novel_verbs,
            task=args.task,
            split_seed=args.split_seed,
            test_fraction=args.test_fraction,
            device=args.device,
            progress=not args.no_progress,
            out_dir=out,
            ap=args.ap or "sklearn",
        )
    except (FileNotFoundError, ValueError) as err:
        raise _Failed(str(err)) from None
    return _print_metrics(metrics, args.json)


def _cmd_train(args: argparse.Namespace) -> int:
    _out_folder(args.out)  # before the training, not after it
    if args.init_from is not None:
        return _fine_tune(args)
    if args.data is None:
        raise _UsageError("hake train needs --data (the HAKE folder), or --init-from with --examples")
    if args.ontology or args.examples or args.store is not None or args.neo4j is not None:
        raise _UsageError(
            "--ontology, --examples and a store fine-tune a checkpoint: give --init-from CHECKPOINT too"
        )
    import reasoning

    try:
        reasoner = reasoning.train(
            args.data,
            task=args.task or ("hake-image", "hake-instance"),
            model=args.model,
            out_dir=args.out,
            device=args.device,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as err:
        raise _Failed(str(err)) from None
    summary = {"out": args.out, "model": reasoner.name, "version": reasoner.version}
    if args.json:
        _print_json(summary)
    else:
        print(f"trained {reasoner.name} ({reasoner.version}); saved to {args.out}")
    return EXIT_OK


def _fine_tune(args: argparse.Namespace) -> int:
    """``hake train --init-from CHECKPOINT (--ontology FILE... --examples FILE | --store DIR)``."""
    from_store = args.store is not None or args.neo4j is not None
    if from_store == (args.examples is not None):
        raise _UsageError(
            "--init-from fine-tunes on labelled examples: give --examples FILE.jsonl, or a store "
            "(--store DIR / --neo4j) whose annotated persons to train on"
        )
    if from_store and args.ontology:
        raise _UsageError("give --ontology FILE... with --examples; a store knows its ontology")
    if args.model != "gnn":
        raise _UsageError("--init-from fine-tunes a GNN checkpoint; leave out --model")
    import reasoning
    from kg._jsonl import read_examples_jsonl

    try:
        base = reasoning.ActivityReasoner.from_pretrained(args.init_from)
        if from_store:
            from kg.observations import read_annotated
            from kg.store_ontology import store_ontology

            with _open_store(args, read_only=True) as store:
                target = store_ontology(store)
                observations, labels = read_annotated(store)
            if not observations:
                raise _Failed(
                    "the store holds no person with annotated activities to fine-tune on; ingest "
                    "annotations first (hake ingest hake-image/hake-instance, or kg.ingest_observations "
                    "with activities=), or give --examples FILE.jsonl"
                )
        else:
            target = base.ontology.extend(*args.ontology)
            observations, labels = read_examples_jsonl(args.examples, target)
        x = reasoning.encode_observations(observations, target)
        y = reasoning.encode_labels(labels, target)
        replay = None
        if args.data is not None:
            replay = _replay(args.data, args.task or ["hake-image"], base, target)
        reasoner = reasoning.fine_tune(
            base, target, x, y, replay=replay, device=args.device, progress=not args.no_progress
        )
        reasoner.save_pretrained(args.out)
    except (FileNotFoundError, ValueError) as err:
        raise _Failed(str(err)) from None
    summary = {
        "out": args.out,
        "model": reasoner.name,
        "version": reasoner.version,
        "ontology": target.id,
        "examples": len(observations),
        "replayed": 0 if replay is None else int(replay[0].shape[0]),
    }
    if args.json:
        _print_json(summary)
    else:
        print(
            f"fine-tuned {reasoner.name} ({reasoner.version}) on {len(observations)} examples of ontology "
            f"{target.id} ({target.version}); saved to {args.out}"
        )
    return EXIT_OK


def _replay(data: str, tasks: list[str], base: Any, target: Any) -> Any:
    """The HAKE tasks' examples in ``target``'s channels, labelled with the activities the
    checkpoint knows; examples of an activity it does not know are left out (they would teach
    the new activities that they are absent)."""
    import torch

    import ontology
    import reasoning
    from reasoning.features import remap_labels, remap_rows

    packaged = ontology.load()
    parts = [reasoning.load_task(data, t) for t in tasks]
    x = torch.cat([p.x for p in parts])
    y = torch.cat([p.y for p in parts])
    known = remap_labels(y, packaged, base.ontology)
    keep = known.sum(1) >= y.sum(1)  # every label of the example is one the checkpoint knows
    return remap_rows(x[keep], packaged, target), remap_labels(known[keep], base.ontology, target)


# ---- parser -----------------------------------------------------------------------------


def _command(commands: Any, name: str, help_: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_,
        description=help_,
        epilog=f"Example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="gnn",
        choices=["gnn", "mlp", "linear", "rule"],
        help="the reasoner to train (default gnn)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hake",
        description="The activity knowledge engine (HAKE): ontology, graph, perception, reasoning.",
        epilog="Example:\n  hake init --store graph/ && hake query --example part_states_implying_activity "
        "--store graph/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    onto = _command(
        commands,
        "ontology",
        "Inspect, check and export the activity ontology (packaged, or with extension files).",
        "hake ontology stats --ontology my-actions.yaml",
    )
    onto_commands = onto.add_subparsers(dest="ontology_command", metavar="SUBCOMMAND")
    stats = _command(
        onto_commands,
        "stats",
        "Count body parts, part states, verbs, objects, activities.",
        "hake ontology stats --json",
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    _add_ontology_option(stats, "before counting (checks them: errors name file, line and field)")
    _add_store_options(stats, "the store's ontology instead (read-only)")
    stats.set_defaults(handler=_cmd_ontology_stats)
    export_onto = _command(
        onto_commands,
        "export",
        "Write the ontology (packaged, or with extensions) as Turtle; ontology.load(FILE) reads it back.",
        "hake ontology export --ontology my-actions.yaml --out merged.ttl",
    )
    export_onto.add_argument("--out", default=None, help="Turtle file to write (default: standard output)")
    export_onto.add_argument("--json", action="store_true", help="print a JSON summary of what was written")
    _add_ontology_option(export_onto, "before writing")
    _add_store_options(export_onto, "the store's ontology instead (read-only)")
    export_onto.set_defaults(handler=_cmd_ontology_export)
    extend = _command(
        onto_commands,
        "extend",
        "Add the terms of extension files to a store's ontology (additive, all or nothing).",
        "hake ontology extend my-actions.yaml --store graph/",
    )
    extend.add_argument("files", nargs="+", metavar="FILE", help="extension files (.yaml or .ttl)")
    extend.add_argument("--json", action="store_true", help="print what was added as JSON")
    _add_store_options(extend)
    extend.set_defaults(handler=_cmd_ontology_extend)

    init = _command(
        commands,
        "init",
        "Create the schema and load the ontology into a store (idempotent).",
        "hake init --store graph/",
    )
    _add_store_options(init)
    init.add_argument("--json", action="store_true", help="print node counts as JSON")
    _add_ontology_option(init, "and written into the store with its id")
    init.set_defaults(handler=_cmd_init)

    ingest = _command(
        commands,
        "ingest",
        "Ingest a file into a store, all or nothing; persons already stored are skipped.",
        "hake ingest hake-instance hico-det-instance-level.tar.gz --store graph/",
    )
    ingest.add_argument(
        "kind",
        choices=["hake-image", "hake-instance", "observations"],
        help="HAKE image-level file, HAKE instance-level file (.json or .tar.gz), "
        "or an observations .jsonl (one PersonObservation.to_dict() per line)",
    )
    ingest.add_argument("file", help="the file to ingest")
    _add_store_options(ingest)
    ingest.add_argument(
        "--replace",
        action="store_true",
        help="replace persons stored with other data (and drop their predictions) instead of "
        "refusing the file; persons stored with the same data are skipped either way",
    )
    ingest.add_argument("--json", action="store_true", help="print the ingest report as JSON")
    ingest.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ingest.set_defaults(handler=_cmd_ingest)

    query = _command(
        commands,
        "query",
        "Run a Cypher query (read-only unless --write); values only as --param, never in the text.",
        "hake query 'MATCH (s:PartState)-[e:IMPLIES]->(a:Activity {name: $act}) RETURN s.name, "
        'e.weight ORDER BY e.weight DESC LIMIT 5\' --param act="ride bicycle" --store graph/',
    )
    query.add_argument("cypher", nargs="?", help="the Cypher query")
    query.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a query parameter; VALUE is JSON if it parses (3, 0.5, [1,2]), else text",
    )
    query.add_argument("--example", metavar="NAME", help="run a documented example query")
    query.add_argument("--list-examples", action="store_true", help="list the example queries")
    query.add_argument("--write", action="store_true", help="allow the query to change the store")
    query.add_argument(
        "--json", action="store_true", help="print rows as a JSON array (numbers exact; tables round them)"
    )
    _add_store_options(query)
    query.set_defaults(handler=_cmd_query)

    export = _command(
        commands,
        "export",
        "Export the graph: RDF (ttl, jsonld, nt; ontology + instances, PROV-O) or GraphML (the ontology "
        "with evidence weights, and the instance graph of videos and object instances).",
        "hake export --format ttl --out graph.ttl --store graph/",
    )
    export.add_argument(
        "--out",
        required=True,
        help="output file, written atomically (not a directory; its folder must exist)",
    )
    export.add_argument(
        "--format",
        choices=["ttl", "turtle", "jsonld", "json-ld", "nt", "graphml"],
        help="default: from the --out extension",
    )
    export.add_argument("--no-ontology", action="store_true", help="RDF: instances and evidence only")
    export.add_argument(
        "--ontology-only",
        action="store_true",
        help="GraphML: the ontology graph only, without the instance graph (videos, frames, tracks, "
        "segments, clip labels, object instances and their persons)",
    )
    export.add_argument("--json", action="store_true", help="print a JSON summary")
    export.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_store_options(export)
    export.set_defaults(handler=_cmd_export)

    infer = _command(
        commands,
        "infer",
        "Run perception on images, directories and videos: persons, keypoints, part boxes and "
        "part-state probabilities as observations JSONL (stdout or --out), optionally ingested "
        "with the object instances detected; each video's tracks also get activity segments and "
        "the video a clip label, reasoned while its frames decode.",
        "hake infer photos/ clip.mp4 --detector PekingU/rtdetr_r50vd "
        "--pose usyd-community/vitpose-base-simple --out observations.jsonl",
    )
    infer.add_argument("inputs", nargs="+", help="image files, directories or videos")
    infer.add_argument(
        "--detector",
        default="PekingU/rtdetr_r50vd",
        help="RT-DETR checkpoint: a Hub name or a save_pretrained directory",
    )
    infer.add_argument(
        "--pose",
        default="usyd-community/vitpose-base-simple",
        help="VitPose checkpoint, or 'none' to skip pose (part boxes then use the documented box template)",
    )
    infer.add_argument(
        "--clip",
        default="openai/clip-vit-base-patch32",
        help="CLIP/SigLIP checkpoint for zero-shot part states, or 'none'",
    )
    infer.add_argument("--heads", help="trained part-state heads directory (instead of zero-shot)")
    infer.add_argument("--device", default="auto", help="auto, cpu or cuda")
    infer.add_argument("--batch-size", type=int, default=8, help="images per model batch (default 8)")
    infer.add_argument("--threshold", type=float, default=0.5, help="person detection threshold")
    infer.add_argument(
        "--object-threshold",
        type=float,
        default=0.5,
        help="object detection threshold (objects kept become object instances, stored with --store)",
    )
    infer.add_argument("--stride", type=int, default=1, help="video: use every N-th frame")
    infer.add_argument("--skip-errors", action="store_true", help="skip unreadable files instead of failing")
    infer.add_argument(
        "--out",
        help="write observations JSONL to this file, atomically (not a directory; its folder must exist)",
    )
    infer.add_argument(
        "--no-temporal",
        action="store_true",
        help="videos: skip temporal reasoning (by default each video's tracks get activity segments and "
        "the video a clip label, reasoned while its frames decode; stored with --store)",
    )
    infer.add_argument("--json", action="store_true", help="print a JSON summary")
    infer.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_store_options(infer)
    infer.set_defaults(handler=_cmd_infer)

    reason = _command(
        commands,
        "reason",
        "Reason over part-state observations (no images): store them, predict activities with "
        "explanations, write both to the store, all or nothing. Without FILE, reason over the "
        "persons already in the store (re-run a model over a graph); a model's earlier "
        "predictions on a person are replaced.",
        "hake reason observations.jsonl --top-k 3 --store graph/",
    )
    reason.add_argument(
        "file",
        nargs="?",
        help="observations .jsonl (one PersonObservation.to_dict() per line); "
        "omit it to reason over the stored persons",
    )
    reason.add_argument("--top-k", type=int, default=5, help="activities per person (default 5)")
    reason.add_argument(
        "--min-share",
        type=float,
        default=None,
        help="keep a contribution when it is at least this share of the prediction's attribution "
        "mass; the rest is summed into the explanation's rest (default: reasoning.DEFAULT_MIN_SHARE, "
        "0.02; 0 keeps all)",
    )
    reason.add_argument(
        "--paths", action="store_true", help="one contribution per (term, path) instead of one per term"
    )
    reason.add_argument(
        "--show", type=int, default=20, help="print the predictions of the first N persons (default 20)"
    )
    reason.add_argument(
        "--chunk-size", type=int, default=50_000, help="persons reasoned over at a time (default 50000)"
    )
    reason.add_argument("--model", help="a reasoner checkpoint folder (default: the packaged GNN)")
    reason.add_argument("--device", default="cpu", help="cpu or cuda")
    reason.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary (with the first --show persons' predictions)",
    )
    reason.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_store_options(reason)
    reason.set_defaults(handler=_cmd_reason)

    explain = _command(
        commands,
        "explain",
        "Export why a person's activities were predicted: json, jsonld, ttl (PROV-O), graphml or "
        "an html report with pictures.",
        "hake explain demo/street.jpg/0 --format html --out why.html --store hake-demo/store",
    )
    explain.add_argument("person", help="person id '<image id>/<person id>'")
    explain.add_argument("--activity", help="only this activity (name or id)")
    explain.add_argument(
        "--format",
        choices=["json", "jsonld", "ttl", "graphml", "html"],
        default="json",
        help="json (default), jsonld or ttl (PROV-O), graphml, or html (a report with pictures)",
    )
    explain.add_argument(
        "--out",
        help="write to this file, atomically (default: stdout; not a directory; its folder must exist)",
    )
    explain.add_argument("--image", help="html: the image file to draw the boxes on")
    _add_store_options(explain)
    explain.set_defaults(handler=_cmd_explain)

    demo = _command(
        commands,
        "demo",
        "Offline demo: build the graph, reason over bundled example persons with the packaged "
        "reasoner, run three Cypher queries and write an HTML report.",
        "hake demo --out hake-demo/",
    )
    demo.add_argument(
        "--out",
        default="hake-demo",
        help="folder for the store and report, created if missing (default hake-demo/)",
    )
    demo.add_argument(
        "--image", action="append", help="run perception on this image instead (needs checkpoints)"
    )
    demo.add_argument(
        "--detector",
        default="PekingU/rtdetr_r50vd",
        help="detector checkpoint (Hub id or folder; with --image)",
    )
    demo.add_argument(
        "--pose",
        default="usyd-community/vitpose-base-simple",
        help="pose checkpoint, or none (with --image)",
    )
    demo.add_argument(
        "--clip",
        default="openai/clip-vit-base-patch32",
        help="CLIP checkpoint for zero-shot part states, or none (with --image)",
    )
    demo.add_argument("--model", help="a reasoner checkpoint folder (default: the packaged GNN)")
    demo.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    demo.set_defaults(handler=_cmd_demo)

    doctor = _command(
        commands,
        "doctor",
        "What this install has: library versions, the device, the packaged reasoner, which image "
        "checkpoints are cached (and their download size), whether the Hugging Face Hub is reachable.",
        "hake doctor",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.set_defaults(handler=_cmd_doctor)

    evaluate = _command(
        commands,
        "eval",
        "Train on a seeded split of the HAKE annotations and report held-out metrics (mAP, few@k, "
        "unseen compositions); or score video predictions from files (kinetics-tps, clip-topk).",
        "hake eval --data ../shared/datasets/hake --task hake-image --model gnn --split-seed 0 "
        "--test-fraction 0.2 --unseen default --json\n"
        "  hake eval --task kinetics-tps --data gt.json --predictions pred.json --json\n"
        "  hake eval --task clip-topk --data clips.jsonl",
    )
    evaluate.add_argument(
        "--data",
        required=True,
        help="folder with the HAKE archives; kinetics-tps: the ground-truth JSON; clip-topk: the clips "
        "JSONL (formats: reasoning/video_eval.py)",
    )
    evaluate.add_argument(
        "--task",
        default="hake-image",
        choices=["hake-image", "hake-instance", "hicodet-pairs", "kinetics-tps", "clip-topk"],
        help="image-level or instance-level (per person) labels (default hake-image); hicodet-pairs: "
        "which object instance each activity concerns (triplets, VOC AP; reasoning.pairing); "
        "kinetics-tps: the Kinetics-TPS part-state metric (PSC-conditioned accuracy, its area); "
        "clip-topk: clip-level top-1/top-3 accuracy (reasoning.video_eval)",
    )
    evaluate.add_argument(
        "--predictions",
        metavar="FILE",
        help="--task kinetics-tps only: the predictions JSON (persons, part boxes and states, actions) "
        "scored against --data",
    )
    _add_model_option(evaluate)
    evaluate.add_argument(
        "--split-seed", type=int, default=0, help="seed of the train/test split (default 0)"
    )
    evaluate.add_argument(
        "--test-fraction", type=float, default=0.2, help="share of images held out for testing (default 0.2)"
    )
    evaluate.add_argument("--unseen", help="activity ids held out of training ('default': the packaged 120)")
    evaluate.add_argument(
        "--ap",
        choices=["sklearn", "voc"],
        help="AP convention: sklearn (non-interpolated, scikit-learn's average_precision_score; default) "
        "or voc (interpolated, as HICO-DET's evaluation code; always for hicodet-pairs); the output names it",
    )
    evaluate.add_argument(
        "--novel-verbs",
        nargs="?",
        const="default",
        metavar="FILE",
        help="run the novel-verb protocol instead: these verbs (one per line; no FILE or 'default': "
        "the packaged 12) are left out of the checkpoint's ontology, added back as an extension, "
        "and scored zero-shot and after 1/5/10-shot fine-tuning",
    )
    evaluate.add_argument(
        "--out", help="with --novel-verbs: keep the base checkpoint and the extension file in this folder"
    )
    evaluate.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--no-progress", action="store_true", help="no per-epoch lines")
    evaluate.set_defaults(handler=_cmd_eval)

    train = _command(
        commands,
        "train",
        "Train a reasoner on all HAKE annotations of a task and save a checkpoint with its provenance.",
        "hake train --data ../shared/datasets/hake --model gnn --out my-reasoner/\n"
        "  hake train --init-from my-reasoner/ --ontology my-actions.yaml --examples labelled.jsonl "
        "--out my-reasoner-2/",
    )
    train.add_argument(
        "--data",
        help="folder with the HAKE archives (required unless --init-from; with it, their examples are "
        "replayed so the checkpoint keeps its activities)",
    )
    train.add_argument(
        "--init-from",
        metavar="CHECKPOINT",
        help="fine-tune this GNN checkpoint folder on --examples instead of training from scratch",
    )
    _add_ontology_option(train, "(with --init-from: the checkpoint's ontology plus these files)")
    train.add_argument(
        "--examples",
        metavar="FILE",
        help="with --init-from: labelled examples, one observation per line (as `hake infer` writes) "
        'with "activities": [ids or names]',
    )
    _add_store_options(
        train,
        "with --init-from, instead of --examples: fine-tune on the store's annotated persons, "
        "in its ontology",
    )
    train.add_argument(
        "--task", action="append", choices=["hake-image", "hake-instance"], help="repeatable; default: both"
    )
    _add_model_option(train)
    train.add_argument(
        "--out", required=True, help="checkpoint folder to write, created if missing (not a file)"
    )
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    train.add_argument("--json", action="store_true", help="print a JSON summary")
    train.add_argument("--no-progress", action="store_true", help="no per-epoch lines")
    train.set_defaults(handler=_cmd_train)

    sparql = _command(
        commands,
        "sparql",
        "Run a SPARQL SELECT over an exported RDF file (pyoxigraph).",
        'hake sparql graph.ttl "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"',
    )
    sparql.add_argument("file", help="an RDF file written by `hake export`")
    sparql.add_argument("query", help="a SPARQL SELECT query")
    sparql.add_argument("--json", action="store_true", help="print rows as a JSON array")
    sparql.set_defaults(handler=_cmd_sparql)
    return parser


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: Any = None,
) -> None:
    print(f"hake: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hake`` console script; returns the exit code."""
    from ontology.errors import HakeError

    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on usage errors
    if args.version:
        print(_version())
        return EXIT_OK
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():  # warnings (e.g. a recovered load) as one line each
            warnings.showwarning = _one_line_warning
            code: int = handler(args)
    except _Failed as err:
        print(f"hake {args.command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_FAILED
    except _UsageError as err:
        print(f"hake {args.command}: usage error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except HakeError as err:
        message = " ".join(str(err).split())  # one line, even for multi-line database messages
        print(f"hake {args.command}: error: {message}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `hake ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as err:
        print(f"hake {args.command}: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
