"""The Engine: one object that runs the whole pipeline over one store.

media --perception--> observations --kg--> store --reasoning--> predictions + explanations
--kg--> store, then Cypher, exports and reports over the result. ``kg`` is the only
package that imports ``perception`` and ``reasoning``, and it does so inside the methods
that run them, so ``import kg`` stays light.

Example (tested in ``tests/kg/test_engine.py``)::

    from kg import Engine
    from ontology import DetectedObject, PersonObservation

    with Engine.open("graph/") as engine:
        engine.init()
        preds = engine.reason([PersonObservation("img.jpg", "0",
                               part_states={"head: drink with": 0.9, "hand: hold": 0.9},
                               objects=(DetectedObject("cup", 0.9),))])
        why = engine.explain("img.jpg/0")      # stored explanations, ready to export
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kg.ingest import IngestReport, ingest_observations, init_store
from kg.protocols import Perceiver, Reasoner
from kg.reason import ReasonResult
from kg.report import PersonExplanations, load_person
from kg.store.base import GraphStore, check_parameters
from ontology import ActivityPrediction, PersonObservation
from ontology.errors import StoreError

__all__ = ["DEMO_OBSERVATIONS", "Engine"]

#: The bundled example observations (hand-written by the project) that ``hake demo`` reasons over.
DEMO_OBSERVATIONS = Path(__file__).with_name("data") / "demo_observations.jsonl"


class Engine:
    """Perception, the store and reasoning, composed.

    Args:
        store: an open store (:class:`~kg.store.EmbeddedStore` or :class:`~kg.store.Neo4jStore`).
        reasoner: a :class:`kg.protocols.Reasoner` (``reasoning.ActivityReasoner``); default:
            the packaged checkpoint, loaded on first use. On a store of an extended ontology it
            runs as ``reasoner.for_ontology(store's ontology)`` (:mod:`reasoning.extended`).
    """

    def __init__(
        self, store: GraphStore, reasoner: Reasoner | None = None, pairer: Any = None, temporal: Any = None
    ) -> None:
        self.store = store
        self._reasoner = reasoner
        self._pairer = pairer
        self._temporal = temporal

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = "hake-graph",
        *,
        neo4j: str | None = None,
        reasoner: Reasoner | None = None,
    ) -> Engine:
        """An engine over the embedded store at ``path``, or over Neo4j at URI ``neo4j``."""
        from kg.store import EmbeddedStore, Neo4jStore

        store: GraphStore = Neo4jStore.from_env(neo4j) if neo4j is not None else EmbeddedStore(path)
        return cls(store, reasoner)

    @property
    def reasoner(self) -> Reasoner:
        """The activity reasoner (the packaged default GNN unless one was given)."""
        if self._reasoner is None:
            from reasoning import ActivityReasoner

            self._reasoner = ActivityReasoner.from_pretrained()
        return self._reasoner

    @property
    def pairer(self) -> Any:
        """The pairing model (``reasoning.pairing.PairingModel``) that names the object
        instance each prediction of :meth:`infer` concerns: the one given, else the packaged
        one when the store holds the packaged ontology, else ``None`` (a store of another
        ontology needs a pairing model trained on it: ``reasoning.pairing.train_pairing``)."""
        if self._pairer is None:
            import ontology
            from kg.store_ontology import store_ontology

            onto = store_ontology(self.store)
            if onto.id == ontology.load().id:
                from reasoning.pairing import load_pairing

                self._pairer = load_pairing(onto=onto)
        return self._pairer

    @property
    def temporal(self) -> Any:
        """The temporal reasoner (``reasoning.TemporalReasoner``) that turns the tracks of the
        videos :meth:`infer` reads into activity segments and a clip label: the one given,
        else the packaged one over :attr:`reasoner` (its learned head was trained on the
        packaged GNN's logits; over another reasoner it runs the ``"smooth"`` design with the
        packaged options, which has nothing learned)."""
        if self._temporal is None:
            from reasoning import TemporalReasoner

            self._temporal = TemporalReasoner.from_pretrained(reasoner=self.reasoner, other_reasoner="smooth")  # type: ignore[arg-type]
        return self._temporal

    def init(self) -> dict[str, int]:
        """Create the schema and load the ontology (idempotent)."""
        return init_store(self.store)

    def load_reasoner_evidence(self) -> int:
        """Write the reasoner's training evidence (part state -> activity / verb counts and
        NPMI) into the store as ``IMPLIES`` edges, replacing what is there. Returns the edge
        count. Useful for a store without annotations (``hake ingest hake-*`` computes the
        store's own evidence instead)."""
        from kg.evidence import evidence_from_counts, write_evidence
        from kg.store_ontology import store_ontology

        onto = self.reasoner.ontology  # the counts are in its channel order
        stored = store_ontology(self.store)
        missing = [
            t
            for vocab, kept in (
                (onto.part_states, stored.part_states),
                (onto.activities, stored.activities),
                (onto.verbs, stored.verbs),
            )
            for t in vocab.ids
            if t not in kept.id_by_key
        ]
        if missing:
            raise StoreError(
                f"the reasoner's evidence names {len(missing)} terms that the store's ontology "
                f"({stored.version}) lacks (first: {missing[0]!r}); load the reasoner's ontology "
                "into the store (`hake ontology extend FILE --store ...`) or use a reasoner of the store's "
                "ontology"
            )
        ev = self.reasoner.evidence
        n = int(ev.n_examples)
        states = ev.part_state_counts.tolist()
        edges = evidence_from_counts(
            n, states, ev.activity_counts.tolist(), ev.part_state_activity.tolist(), "activity", onto=onto
        ) + evidence_from_counts(
            n, states, ev.verb_counts.tolist(), ev.part_state_verb.tolist(), "verb", onto=onto
        )
        return write_evidence(self.store, edges)

    def ingest(
        self, observations: Iterable[PersonObservation], source: str = "engine", progress: bool = False
    ) -> IngestReport:
        """Store observations (persons already stored are skipped)."""
        return ingest_observations(self.store, observations, source=source, progress=progress)

    def reason(
        self,
        observations: Iterable[PersonObservation],
        top_k: int = 5,
        progress: bool = False,
        *,
        explain: bool = True,
        paths: bool = False,
        min_share: float | None = None,
        chunk_size: int = 50_000,
    ) -> list[list[ActivityPrediction]]:
        """Observations -> stored persons -> ranked, explained predictions written back.

        Persons already stored are kept as they are (and reasoned over from ``observations``);
        everything is one all-or-nothing load (see :mod:`kg.reason`). Returns per person
        (input order) the ``top_k`` predictions, best first, each naming its person as the
        observation does: ``image_id`` is the observation's ``image_key`` (for a video frame
        ``"<video>#<frame>"``) and ``key`` its ``key`` (:mod:`ontology.identity`).
        ``min_share`` (default ``reasoning.DEFAULT_MIN_SHARE``) and ``paths`` set the
        explanations' granularity (:mod:`reasoning.batch`).
        """
        from kg.reason import reason_records

        result = reason_records(
            self.store,
            self.reasoner,
            observations,
            top_k=top_k,
            explain=explain,
            paths=paths,
            min_share=min_share,
            chunk_size=chunk_size,
            progress=progress,
        )
        return list(result.predictions_by_person())

    def reason_file(
        self,
        path: str | os.PathLike[str],
        top_k: int = 5,
        progress: bool = False,
        *,
        explain: bool = True,
        paths: bool = False,
        min_share: float | None = None,
        chunk_size: int = 50_000,
        keep: int | None = None,
    ) -> ReasonResult:
        """As :meth:`reason` for an observations file, streamed; returns a
        :class:`~kg.reason.ReasonResult` (counts, run, persons/s; the records of the first
        ``keep`` persons, all when None, on demand)."""
        from kg.reason import reason_file

        return reason_file(
            self.store,
            self.reasoner,
            path,
            top_k=top_k,
            explain=explain,
            paths=paths,
            min_share=min_share,
            chunk_size=chunk_size,
            progress=progress,
            keep=keep,
        )

    def reason_stored(
        self,
        top_k: int = 5,
        progress: bool = False,
        *,
        explain: bool = True,
        paths: bool = False,
        min_share: float | None = None,
        chunk_size: int = 50_000,
        keep: int | None = None,
    ) -> ReasonResult:
        """Reason over every person already in the store and write the predictions back
        (replacing the model's earlier ones): re-run a model over a graph. ``keep`` as for
        :meth:`reason_file`."""
        from kg.reason import reason_stored

        return reason_stored(
            self.store,
            self.reasoner,
            top_k=top_k,
            explain=explain,
            paths=paths,
            min_share=min_share,
            chunk_size=chunk_size,
            progress=progress,
            keep=keep,
        )

    def infer(
        self,
        paths: Iterable[str | os.PathLike[str]],
        perceiver: Perceiver | None = None,
        top_k: int = 5,
        stride: int = 1,
        progress: bool = True,
        **perceiver_options: Any,
    ) -> list[list[ActivityPrediction]]:
        """Images, directories or videos -> perception -> store -> reasoning -> store, with
        each image's (and frame's) object instances and, for each prediction of an activity
        with an object, the instance it concerns (:attr:`pairer`; ``INTERACTS_WITH``); each
        video's tracks get activity segments and the video a clip label (:attr:`temporal`),
        all in one load.

        ``perceiver`` is a ``perception.Perceiver``; without one, one is built with
        ``Perceiver.from_pretrained(**perceiver_options)`` (checkpoint names or folders) and
        the store's ontology, so the part states of an extension are perceived too.
        """
        paths = list(paths)
        if perceiver is None:
            from perception import Perceiver, check_inputs

            check_inputs(paths)  # before any model loads
            from kg.store_ontology import store_ontology

            perceiver_options.setdefault("ontology", store_ontology(self.store))
            perceiver = Perceiver.from_pretrained(**perceiver_options)
        from kg.reason import reason_scenes

        scenes = list(perceiver.iter_scenes(paths, progress=progress, stride=stride))
        pairer = self.pairer
        if pairer is None and any(scene.objects for scene in scenes):
            warnings.warn(
                "no pairing model for this store's ontology: the predictions name no object instance "
                "(train one with reasoning.pairing.train_pairing and pass it as Engine(store, pairer=...))",
                stacklevel=2,
            )
        return reason_scenes(
            self.store,
            self.reasoner,
            scenes,
            pairer=pairer,
            top_k=top_k,
            progress=progress,
            video_info=perceiver.video_info,
            temporal=self.temporal if any(scene.frame_index is not None for scene in scenes) else None,
        )

    def explain(self, person: str, activity: str | None = None) -> PersonExplanations:
        """The stored explanations of person ``"<image>/<person>"`` (one activity, or all)."""
        return load_person(self.store, person).only(activity)

    def query(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
        """A read-only Cypher query; values go in as ``params`` only, and they must name exactly
        the query's ``$parameters`` (:class:`~ontology.QueryError` otherwise: a misspelt name
        would be ignored and the query would answer as if it were null)."""
        check_parameters(cypher, params)
        return self.store.query(cypher, **params)

    def export(
        self, path: str | os.PathLike[str], format: str | None = None, *, instances: bool = True
    ) -> int:
        """RDF (ttl, jsonld, nt) or GraphML (by ``format`` or extension); returns the size
        (triples or edges). The GraphML holds the ontology and, unless ``instances`` is false,
        the instance graph of videos and object instances (:func:`kg.export.to_networkx`)."""
        from kg.export import write_graphml
        from kg.rdf import export_rdf

        fmt = format or Path(path).suffix.lstrip(".")
        if fmt == "graphml":
            return write_graphml(self.store, path, instances=instances)
        return export_rdf(self.store, path, fmt)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
