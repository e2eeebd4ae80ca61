"""Predictions and their explanations into a store, at bulk speed, all or nothing.

- :func:`write_predictions` stores :class:`ontology.ActivityPrediction` records.
- :func:`write_prediction_batch` stores a ``reasoning.PredictionBatch`` (columns: no Python
  object per contribution is built).
- :class:`PredictionWriter` adds predictions to a bulk load the caller holds open, piece
  by piece (:mod:`kg.reason` ingests persons and writes their predictions in one load).

Both public writers reduce their input to the same Arrow columns and write them through the
store's journaled bulk path (:meth:`~kg.store.base.GraphStore.bulk_load`): one ``COPY`` per
table on the embedded store, batched ``UNWIND`` statements in one transaction on Neo4j. A
write is one :class:`Run` (``(:Run {id, ...})``, see :mod:`kg.schema`); every ``DOES`` edge
and ``Explanation`` node it adds carries the run's id, which is how the replaced
predictions are told from the new ones: once the new rows are in, the
earlier predictions of the same model on the same persons (their ``DOES`` edges with
``source = "model"`` and their explanations) are deleted, in the same load.

Cost (embedded store): the new rows are copied once per table. The replaced predictions are
found once per write, not per batch (a per-batch ``UNWIND $rows MATCH (p:Person {id: r.p})``
is planned as a full scan plus cross product by LadybugDB 0.22; measured: 10K persons'
write-back 439 s that way, 4.2 s by ``COPY``). A few are deleted by two statements that scan
the ``DOES`` edges (``WHERE n.run = $run``) and their persons' adjacency lists; many are
removed by rebuilding the prediction tables (:meth:`PredictionWriter._replace_embedded`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kg._stored import stored_ids
from kg._triplets import STALE_PAIRINGS_EMBEDDED, STALE_PAIRINGS_NEO4J
from kg.ingest import _run_id
from kg.store.base import BulkLoad, GraphStore
from kg.store_ontology import store_ontology
from ontology import ActivityPrediction, StoreError, load

if TYPE_CHECKING:  # reasoning imports torch; kg imports it only where a reasoner runs
    from reasoning import PredictionBatch

__all__ = [
    "PredictionWriter",
    "Run",
    "check_instances",
    "new_run",
    "write_prediction_batch",
    "write_predictions",
]

_LABELS = {"part_state": "PartState", "object": "Object", "body_part": "BodyPart"}


@dataclass(frozen=True)
class Run:
    """One write of predictions: what made them and when (the ``Run`` node)."""

    id: str
    model: str
    version: str
    created: str
    ontology: str
    method: str | None = None
    top_k: int | None = None
    min_share: float | None = None


def new_run(
    model: str, version: str, method: str | None = None, ontology: str | None = None, **options: Any
) -> Run:
    """A fresh run id (random, so that no older row carries it) stamped with the time now and
    the version of the store's ``ontology`` (default: the packaged one's)."""
    return Run(
        id=_run_id(),
        model=model,
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        ontology=load().version if ontology is None else ontology,
        method=method,
        **options,
    )


@dataclass
class _Columns:
    """Predictions of one model, column-wise (Arrow arrays, ``N`` predictions, ``C`` kept
    contributions); what both writers reduce their input to."""

    person: Any  # (N,) person keys
    activity: Any  # (N,) activity ids
    score: Any  # (N,) float64
    explained: Any  # numpy (E,) positions of the explained predictions
    method: Any  # (E,) string
    baseline: Any  # (E,) float64, nullable
    rest: Any  # (E,) float64
    c_explanation: Any  # numpy (C,) position in the explained predictions (0..E-1)
    c_kind: Any  # numpy (C,) str kind
    c_term: Any  # (C,) term ids
    c_weight: Any  # (C,) float64
    c_edge: Any  # (C,) string, nullable
    object_key: Any = None  # (N,) object instance keys, nullable; None: no prediction names one


def _const(value: str | None, n: int) -> Any:
    """A string column of ``n`` copies of ``value``, dictionary-encoded (one copy stored)."""
    import numpy as np
    import pyarrow as pa

    if value is None:
        return pa.nulls(n, type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value]))


def _batch_columns(persons: Sequence[str], batch: PredictionBatch) -> _Columns:
    import numpy as np
    import pyarrow as pa

    n_persons, k = batch.activity.shape
    if len(persons) != n_persons:
        raise StoreError(f"{n_persons} persons in the prediction batch but {len(persons)} person ids given")
    n = n_persons * k
    person = pa.DictionaryArray.from_arrays(
        pa.array(np.repeat(np.arange(n_persons, dtype=np.int32), k)), pa.array(persons, pa.string())
    )
    activity = pa.DictionaryArray.from_arrays(
        pa.array(batch.activity.ravel().astype(np.int32)), pa.array(batch.activity_ids, pa.string())
    )
    score = pa.array(batch.score.ravel().astype(np.float64))
    if not batch.explained:
        empty = np.zeros(0, dtype=np.int64)
        return _Columns(
            person=person,
            activity=activity,
            score=score,
            explained=empty,
            method=pa.array([], pa.string()),
            baseline=pa.array([], pa.float64()),
            rest=pa.array([], pa.float64()),
            c_explanation=empty,
            c_kind=np.zeros(0, dtype=str),
            c_term=pa.array([], pa.string()),
            c_weight=pa.array([], pa.float64()),
            c_edge=pa.array([], pa.string()),
        )
    assert batch.offsets is not None and batch.channel is not None and batch.weight is not None
    assert batch.path is not None and batch.baseline is not None and batch.rest is not None
    offsets = batch.offsets.astype(np.int64)
    c_pred = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    channel = batch.channel.astype(np.int32)
    kinds = np.asarray(batch.channel_kinds)
    if batch.paths:
        edge = pa.DictionaryArray.from_arrays(pa.array(batch.path.astype(np.int32)), pa.array(batch.paths))
    else:
        edge = pa.nulls(len(channel), pa.string())
    return _Columns(
        person=person,
        activity=activity,
        score=score,
        explained=np.arange(n, dtype=np.int64),
        method=_const(batch.method, n),
        baseline=pa.array(batch.baseline.ravel().astype(np.float64)),
        rest=pa.array(batch.rest.ravel().astype(np.float64)),
        c_explanation=c_pred,
        c_kind=kinds[channel],
        c_term=pa.DictionaryArray.from_arrays(pa.array(channel), pa.array(batch.channel_terms, pa.string())),
        c_weight=pa.array(batch.weight.astype(np.float64)),
        c_edge=edge,
    )


def _record_columns(preds: Sequence[tuple[str, ActivityPrediction]]) -> _Columns:
    import numpy as np
    import pyarrow as pa

    explained: list[int] = []
    method: list[str] = []
    baseline: list[float | None] = []
    rest: list[float] = []
    c_expl: list[int] = []
    c_kind: list[str] = []
    c_term: list[str] = []
    c_weight: list[float] = []
    c_edge: list[str | None] = []
    for i, (_, p) in enumerate(preds):
        e = p.explanation
        if e is None:
            continue
        at = len(explained)
        explained.append(i)
        method.append(e.method)
        baseline.append(e.baseline)
        rest.append(e.rest)
        for c in e.contributions:
            c_expl.append(at)
            c_kind.append(c.kind)
            c_term.append(c.term)
            c_weight.append(c.weight)
            c_edge.append(c.edge)
    return _Columns(
        person=pa.array([key for key, _ in preds], pa.string()),
        activity=pa.array([p.activity for _, p in preds], pa.string()),
        score=pa.array([p.score for _, p in preds], pa.float64()),
        explained=np.asarray(explained, dtype=np.int64),
        method=pa.array(method, pa.string()),
        baseline=pa.array(baseline, pa.float64()),
        rest=pa.array(rest, pa.float64()),
        c_explanation=np.asarray(c_expl, dtype=np.int64),
        c_kind=np.asarray(c_kind, dtype=str),
        c_term=pa.array(c_term, pa.string()),
        c_weight=pa.array(c_weight, pa.float64()),
        c_edge=pa.array(c_edge, pa.string()),
        object_key=pa.array([p.object_key for _, p in preds], pa.string())
        if any(p.object_id is not None for _, p in preds)
        else None,
    )


# Replacing a person's earlier predictions of a model: once the run's rows are in, delete the
# model's other DOES edges and explanations on the persons the run wrote to. Idempotent (the
# embedded store re-runs them after a crash). Embedded: the run's persons are found by one
# scan of the DOES edges (an UNWIND of person ids would be a full scan per batch there).
_STALE_EMBEDDED = (
    "MATCH (p:Person)-[n:DOES]->(:Activity) WHERE n.run = $run WITH DISTINCT p "
    "MATCH (p)-[d:DOES]->(:Activity) WHERE d.source = 'model' AND d.model = $model "
    "AND (d.run IS NULL OR d.run <> $run) DELETE d",
    "MATCH (p:Person)-[n:DOES]->(:Activity) WHERE n.run = $run WITH DISTINCT p "
    "MATCH (p)-[:EXPLAINED_BY]->(e:Explanation) WHERE e.model = $model "
    "AND (e.run IS NULL OR e.run <> $run) DETACH DELETE e",
)
# ... and its triplets (INTERACTS_WITH of source "model"), also after a rebuild of the tables
_STALE_TRIPLETS_EMBEDDED = (
    "MATCH (p:Person)-[n:DOES]->(:Activity) WHERE n.run = $run WITH DISTINCT p "
    "MATCH (p)-[x:INTERACTS_WITH]->(:ObjectInstance) WHERE x.source = 'model' AND x.model = $model "
    "AND (x.run IS NULL OR x.run <> $run) DELETE x"
)
# Neo4j: an index lookup per person (checked with PROFILE in the tests).
_STALE_NEO4J = (
    "UNWIND $rows AS r MATCH (p:Person {id: r.p})-[d:DOES]->(:Activity) WHERE d.source = 'model' "
    "AND d.model = r.model AND (d.run IS NULL OR d.run <> r.run) DELETE d",
    "UNWIND $rows AS r MATCH (p:Person {id: r.p})-[:EXPLAINED_BY]->(e:Explanation) "
    "WHERE e.model = r.model AND (e.run IS NULL OR e.run <> r.run) DETACH DELETE e",
    "UNWIND $rows AS r MATCH (p:Person {id: r.p})-[x:INTERACTS_WITH]->(:ObjectInstance) "
    "WHERE x.source = 'model' AND x.model = r.model AND (x.run IS NULL OR x.run <> r.run) DELETE x",
)


class PredictionWriter:
    """Adds one run's predictions to an open bulk load, in as many pieces as the caller has
    (e.g. one per chunk of persons); :meth:`close` adds the ``Run`` node and the statements
    that replace the persons' earlier predictions of the model, which run when the load ends.

    The persons may be inserted by the same load. Each person must be given once per run.
    """

    def __init__(self, load_: BulkLoad, store: GraphStore, run: Run) -> None:
        self._load = load_
        self._store = store
        self.run = run
        self.persons = 0
        self.predictions = 0
        self.contributions = 0
        self._explanations = 0
        self._person_keys: list[Any] = []  # the persons whose earlier predictions of the model go
        for table, prop in (
            ("Run", "id"),
            ("DOES", "run"),
            ("Explanation", "run"),
            ("INTERACTS_WITH", "run"),
        ):
            load_.tag(table, prop, run.id)

    def add_batch(self, persons: Sequence[str], batch: PredictionBatch) -> int:
        """Add ``batch``, the predictions of ``persons`` (person keys in batch order)."""
        run = self.run
        if (batch.model, batch.model_version) != (run.model, run.version):
            raise StoreError(
                f"the batch was predicted by {batch.model} {batch.model_version}, the run is of "
                f"{run.model} {run.version}"
            )
        self.persons += len(persons)
        return self._add(_batch_columns(persons, batch))

    def add_records(
        self,
        predictions: Sequence[tuple[str, ActivityPrediction]],
        staged_instances: Mapping[str, str] | None = None,
    ) -> int:
        """Add ``(person key, record)`` pairs of this run's model (one per person and activity).
        A record that names an object instance (``object_id``) also adds an
        ``INTERACTS_WITH`` edge to it; the instance must be stored in the person's image, or
        staged in this load (``staged_instances``: object key -> class), and be of the
        activity's object class (:func:`check_instances`)."""
        check_instances(self._store, [p for _, p in predictions], staged_instances)
        self.persons += len({key for key, _ in predictions})
        return self._add(_record_columns(predictions))

    def _add(self, cols: _Columns) -> int:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        load_, run = self._load, self.run
        n, e = len(cols.person), len(cols.explained)
        person = cols.person.dictionary_decode() if pa.types.is_dictionary(cols.person.type) else cols.person
        self._person_keys.append(pc.unique(person))
        load_.relate(
            "DOES",
            "Person",
            "Activity",
            {
                "from": cols.person,
                "to": cols.activity,
                "score": cols.score,
                "source": _const("model", n),
                "model": _const(run.model, n),
                "run": _const(run.id, n),
            },
        )
        if e:
            explained = pa.array(cols.explained)
            numbers = pa.array(np.arange(self._explanations, self._explanations + e))
            ids = pc.binary_join_element_wise(f"{run.id}:", pc.cast(numbers, pa.string()), "")
            self._explanations += e
            load_.insert(
                "Explanation",
                {
                    "id": ids,
                    "method": cols.method,
                    "model": _const(run.model, e),
                    "score": cols.score.take(explained),
                    "baseline": cols.baseline,
                    "rest": cols.rest,
                    "run": _const(run.id, e),
                },
            )
            # each explanation id once in a dictionary, referenced by position: no copies
            expl = pa.DictionaryArray.from_arrays(pa.array(np.arange(e, dtype=np.int32)), ids)
            load_.relate(
                "EXPLAINED_BY", "Person", "Explanation", {"from": cols.person.take(explained), "to": expl}
            )
            load_.relate(
                "EXPLAINS", "Explanation", "Activity", {"from": expl, "to": cols.activity.take(explained)}
            )
            for kind, label in _LABELS.items():
                rows = np.flatnonzero(cols.c_kind == kind)
                if not len(rows):
                    continue
                take = pa.array(rows)
                load_.relate(
                    "CONTRIBUTES_TO",
                    label,
                    "Explanation",
                    {
                        "from": cols.c_term.take(take),
                        "to": pa.DictionaryArray.from_arrays(
                            pa.array(cols.c_explanation[rows].astype(np.int32)), ids
                        ),
                        "weight": cols.c_weight.take(take),
                        "edge": cols.c_edge.take(take),
                    },
                )
        if cols.object_key is not None:
            named = pc.is_valid(cols.object_key)
            m = int(pc.sum(named).as_py() or 0)
            load_.relate(
                "INTERACTS_WITH",
                "Person",
                "ObjectInstance",
                {
                    "from": person.filter(named),
                    "to": cols.object_key.filter(named),
                    "activity": cols.activity.filter(named),
                    "score": cols.score.filter(named),
                    "source": _const("model", m),
                    "model": _const(run.model, m),
                    "run": _const(run.id, m),
                },
            )
        self.predictions += n
        self.contributions += len(cols.c_explanation)
        return n

    def close(self) -> Run:
        """Add the ``Run`` node and the replacing statements; returns the run."""
        import pyarrow as pa
        import pyarrow.compute as pc

        run = self.run
        self._load.insert(
            "Run",
            {
                "id": [run.id],
                "kind": ["reasoning"],
                "model": [run.model],
                "version": [run.version],
                "ontology": [run.ontology],
                "created": [run.created],
                "method": [run.method],
                "top_k": [run.top_k],
                "min_share": [run.min_share],
                "persons": [self.persons],
                "predictions": [self.predictions],
            },
        )
        keys = (
            pc.unique(pa.concat_arrays(self._person_keys)) if self._person_keys else pa.array([], pa.string())
        )
        if self._store.backend == "neo4j":
            rows = [{"p": p, "model": run.model, "run": run.id} for p in keys.to_pylist()]
            for cypher in _STALE_NEO4J:
                self._load.then(cypher, rows)
            self._load.then(STALE_PAIRINGS_NEO4J, rows)  # (the pairing explanations, kg._triplets)
        else:
            self._replace_embedded(keys)
        return run

    def _replace_embedded(self, persons: Any) -> None:
        """Delete the model's earlier predictions on ``persons`` after the load's rows are in:
        row by row when they are few, by rebuilding the prediction tables when they are many
        (LadybugDB 0.22 deletes a prediction with its explanation in 0.74 ms, measured on
        300K, and copies one in 0.04 ms: rebuilding wins once the replaced predictions are
        more than 1/18 of the ones kept)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        model = self.run.model
        earlier = self._store.query_arrow(
            "MATCH (p:Person)-[d:DOES]->(:Activity) WHERE d.source = 'model' AND d.model = $model "
            "RETURN p.id AS person",
            model=model,
        )
        if earlier.num_rows == 0:
            return
        on_these = pc.is_in(earlier["person"].combine_chunks().cast(pa.string()), value_set=persons)
        stale = int(pc.sum(on_these).as_py() or 0)
        if stale == 0:
            return
        total = int(self._store.query("MATCH ()-[d:DOES]->() RETURN count(d) AS n")[0]["n"])
        load_ = self._load
        if stale > _REBUILD_MIN and stale * 18 > total - stale and getattr(load_, "can_rebuild", False):
            _rebuild_prediction_tables(self._store, load_, model, persons)
        else:
            for cypher in _STALE_EMBEDDED:
                load_.then_once(cypher, {"run": self.run.id, "model": model})
        load_.then_once(_STALE_TRIPLETS_EMBEDDED, {"run": self.run.id, "model": model})
        load_.then_once(STALE_PAIRINGS_EMBEDDED, {"run": self.run.id, "model": model})


#: Below this many replaced predictions, delete them row by row (a rebuild has a fixed cost).
_REBUILD_MIN = 2_000


def _rebuild_prediction_tables(store: GraphStore, load_: Any, model: str, persons: Any) -> None:
    """Stage the kept rows of every prediction table for a rebuild (embedded store): every row
    but ``model``'s predictions (``source = "model"``) and explanations on ``persons``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from kg.schema import NODE_BY_LABEL, REL_BY_TYPE

    def strings(table: Any, name: str) -> Any:
        return table[name].combine_chunks().cast(pa.string())

    def props(var: str, names: Sequence[tuple[str, str]]) -> str:
        return ", ".join(f"{var}.{name} AS {name}" for name, _ in names)

    # Labels and property names below come from kg.schema, never from user input.
    does = store.query_arrow(
        "MATCH (p:Person)-[d:DOES]->(a:Activity) RETURN p.id AS `from`, a.id AS `to`, "
        + props("d", REL_BY_TYPE["DOES"].properties)
    )
    replaced = pc.and_(
        pc.and_(pc.equal(strings(does, "source"), "model"), pc.equal(strings(does, "model"), model)),
        pc.is_in(strings(does, "from"), value_set=persons),
    )
    kept_does = does.filter(pc.invert(pc.fill_null(replaced, False)))
    load_.rebuild_rels("DOES", "Person", "Activity", _columns(kept_does))
    explanations = store.query_arrow(
        "MATCH (e:Explanation) OPTIONAL MATCH (p:Person)-[:EXPLAINED_BY]->(e) RETURN p.id AS person, "
        + props("e", NODE_BY_LABEL["Explanation"].properties)
    )
    gone = pc.and_(
        pc.equal(strings(explanations, "model"), model),
        pc.is_in(strings(explanations, "person"), value_set=persons),
    )
    kept = explanations.filter(pc.invert(pc.fill_null(gone, False))).drop_columns(["person"])
    load_.rebuild_nodes("Explanation", _columns(kept))
    kept_ids = strings(kept, "id")

    def keep_rels(rel: str, a: str, b: str, explanation_end: str) -> None:
        names = REL_BY_TYPE[rel].properties
        extra = f", {props('r', names)}" if names else ""
        table = store.query_arrow(
            f"MATCH (x:{a})-[r:{rel}]->(y:{b}) RETURN x.id AS `from`, y.id AS `to`{extra}"
        )
        keep = pc.is_in(strings(table, explanation_end), value_set=kept_ids)
        load_.rebuild_rels(rel, a, b, _columns(table.filter(keep)))

    keep_rels("EXPLAINED_BY", "Person", "Explanation", "to")
    keep_rels("EXPLAINS", "Explanation", "Activity", "from")
    for label in _LABELS.values():
        keep_rels("CONTRIBUTES_TO", label, "Explanation", "to")


def _columns(table: Any) -> dict[str, Any]:
    """An Arrow table as bulk columns (name -> array)."""
    return {name: table[name].combine_chunks() for name in table.column_names}


def _missing_persons(store: GraphStore, keys: Any) -> list[str]:
    """Which person keys (an Arrow string array, distinct) are not stored
    (:func:`kg._stored.stored_ids`)."""
    ids = keys.to_pylist()
    found = stored_ids(store, "Person", ids)
    return [k for k in ids if k not in found]


def check_instances(
    store: GraphStore,
    predictions: Sequence[ActivityPrediction],
    staged: Mapping[str, str] | None = None,
) -> None:
    """Raise unless every prediction that names an object instance names one stored in its
    person's image (its :attr:`~ontology.ActivityPrediction.object_key`), or ``staged``
    (object key -> class) in the same load, of its activity's object class; a person-only
    activity names none."""
    from kg._triplets import instance_classes

    named = [p for p in predictions if p.object_id is not None]
    if not named:
        return
    onto = store_ontology(store)
    staged = staged or {}
    wanted_keys = sorted({str(p.object_key) for p in named} - set(staged))
    classes = {**instance_classes(store, wanted_keys), **staged}
    for p in named:
        wanted = onto.activities[p.activity].object
        found = classes.get(str(p.object_key))
        if wanted is None:
            raise StoreError(
                f"the prediction of {p.activity!r} for {p.key!r} names object instance {p.object_id!r}, "
                "but the activity has no object; leave object_id None for a person-only activity"
            )
        if found is None:
            raise StoreError(
                f"the prediction of {p.activity!r} for {p.key!r} names object instance {p.object_key!r}, "
                "which is not in the store; ingest the image's object instances first (`hake ingest "
                "hake-instance FILE` or kg.ingest_hoi), or leave object_id None"
            )
        if found != wanted:
            raise StoreError(
                f"the prediction of {p.activity!r} for {p.key!r} names object instance {p.object_key!r}, "
                f"a {found!r}; the activity's object is {wanted!r}: name an instance of that class"
            )


def _check_persons(store: GraphStore, keys: Any) -> None:
    missing = _missing_persons(store, keys)
    if missing:
        raise StoreError(
            f"{len(missing)} predicted persons are not in the store (first: {missing[0]!r}); "
            "ingest their observations first"
        )


def write_prediction_batch(store: GraphStore, persons: Sequence[str], batch: PredictionBatch) -> int:
    """Store a batch of predictions and their explanations (one run), all or nothing.

    Args:
        store: where the persons are.
        persons: the person key (``"<image node id>/<person id>"``) of each batch row.
        batch: from ``ActivityReasoner.predict_rows``.

    A person's earlier predictions of the same model are replaced. Returns the number of
    predictions written.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pa.array(persons, pa.string())
    if len(pc.unique(keys)) != len(keys):
        raise StoreError(
            "write_prediction_batch: a person appears twice in the batch; predict each person once"
        )
    _check_persons(store, keys)
    run = new_run(
        batch.model,
        batch.model_version,
        batch.method,
        store_ontology(store).version,
        top_k=batch.top_k,
        min_share=batch.min_share,
    )
    with store.bulk_load() as load_:
        writer = PredictionWriter(load_, store, run)
        written = writer.add_batch(persons, batch)
        writer.close()
    return written


def write_predictions(store: GraphStore, predictions: Iterable[ActivityPrediction]) -> int:
    """Store prediction records (``DOES`` edges with score, model, version) and their explanations.

    The person (:attr:`ActivityPrediction.key <ontology.ActivityPrediction.key>`) must already
    be in the store. The predictions
    of one model for one person are replaced as a whole: writing a person's predictions for
    model M removes every earlier ``DOES`` edge of M on that person and M's explanations of
    that person. Within one call, a repeated (person, activity, model) keeps the last one.
    A prediction that names an object instance (:attr:`ActivityPrediction.object_id
    <ontology.ActivityPrediction.object_id>`, one instance per person, activity and model)
    also writes ``(:Person)-[:INTERACTS_WITH {activity, score, source: "model", model,
    run}]->(:ObjectInstance)``, replaced with the model's other predictions of the person;
    the instance must be stored in the person's image, of the activity's object class.
    All or nothing; each model's predictions are one run. Returns the number written.
    """
    import pyarrow as pa

    latest: dict[tuple[str, str, str], tuple[str, ActivityPrediction]] = {}
    for p in predictions:
        key = p.key
        latest[(key, p.activity, p.model)] = (key, p)
    if not latest:
        return 0
    by_model: dict[tuple[str, str], list[tuple[str, ActivityPrediction]]] = {}
    for key, p in latest.values():
        by_model.setdefault((p.model, p.model_version), []).append((key, p))
    models = [m for m, _ in by_model]
    if len(set(models)) != len(models):
        raise StoreError(
            "write_predictions: one model name with several versions in one call "
            f"({sorted(set(m for m in models if models.count(m) > 1))}); write each version on its own"
        )
    _check_persons(store, pa.array(sorted({key for key, _ in latest.values()}), pa.string()))
    written = 0
    with store.bulk_load() as load_:
        for (model, version), preds in by_model.items():
            methods = {p.explanation.method for _, p in preds if p.explanation is not None}
            writer = PredictionWriter(
                load_,
                store,
                new_run(
                    model,
                    version,
                    methods.pop() if len(methods) == 1 else None,
                    store_ontology(store).version,
                ),
            )
            written += writer.add_records(preds)
            writer.close()
    return written
