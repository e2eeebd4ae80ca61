"""Documented example queries that run unchanged on the embedded store and on Neo4j.

The portable Cypher subset (what these use, and what users should stay within when a query
must run on both backends): ``MATCH``, ``OPTIONAL MATCH``, ``WHERE``, ``WITH``, ``UNWIND``,
``RETURN`` with aliases, aggregates (``count``, ``count(DISTINCT ...)``, ``sum``, ``avg``,
``min``, ``max``, ``collect``), ``ORDER BY``, ``SKIP``/``LIMIT``, variable-length paths
``*a..b``, ``MERGE`` on nodes, parameters ``$name``.

Not portable: list indexing (LadybugDB lists are 1-based, Neo4j's 0-based), ``labels(n)``
(LadybugDB has ``label(n)``; return a property such as ``n.id`` instead), multi-label nodes,
``shortestPath``, ``ORDER BY`` an alias that has the name of a node variable
(``RETURN p.id AS p ORDER BY p`` orders by the node on LadybugDB, which it refuses), and
``IN`` as a relationship type (reserved in LadybugDB; the schema uses
``IN_IMAGE``). Always pass values as parameters, never format them into the query text.

>>> from kg.queries import EXAMPLES
>>> sorted(EXAMPLES)[:4]
['activities_sharing_part_states', 'activities_under', 'composite_of_prediction', 'instances_nobody_uses']
>>> sorted(EXAMPLES)[4:8]
['part_states_implying_activity', 'person_part_states', 'persons_doing_under', 'persons_sharing_instance']
>>> sorted(EXAMPLES)[8:]
['who_does_what_with_which', 'why_prediction']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EXAMPLES", "ExampleQuery"]


@dataclass(frozen=True)
class ExampleQuery:
    """A named query, what it answers, and example parameters."""

    name: str
    question: str
    cypher: str
    params: dict[str, Any]


EXAMPLES: dict[str, ExampleQuery] = {
    q.name: q
    for q in (
        ExampleQuery(
            "part_states_implying_activity",
            "Which part states imply an activity, strongest evidence first?",
            "MATCH (s:PartState)-[e:IMPLIES]->(a:Activity {name: $activity}) "
            "RETURN s.name AS part_state, e.weight AS weight, e.npmi AS npmi, e.count AS count "
            "ORDER BY weight DESC, part_state LIMIT $limit",
            {"activity": "ride bicycle", "limit": 5},
        ),
        ExampleQuery(
            "activities_sharing_part_states",
            "Which activities share at least $min_shared supporting part states with an activity?",
            "MATCH (a:Activity {name: $activity})<-[e1:IMPLIES]-(s:PartState)-[e2:IMPLIES]->"
            "(b:Activity) WHERE b.id <> a.id AND e1.weight > $min_weight AND e2.weight > $min_weight "
            "WITH b, count(DISTINCT s) AS shared WHERE shared >= $min_shared "
            "RETURN b.name AS activity, shared ORDER BY shared DESC, activity LIMIT $limit",
            {"activity": "ride bicycle", "min_weight": 0.05, "min_shared": 3, "limit": 10},
        ),
        ExampleQuery(
            "person_part_states",
            "Which part states were observed on a person with probability >= $threshold?",
            "MATCH (p:Person {id: $person})-[h:HAS_STATE]->(s:PartState) WHERE h.prob >= $threshold "
            "RETURN s.name AS part_state, h.prob AS prob, h.source AS source "
            "ORDER BY prob DESC, part_state",
            {"person": "HICO_train2015_00000001.jpg/0", "threshold": 0.5},
        ),
        ExampleQuery(
            "why_prediction",
            "Why was a person predicted to do an activity? (contributions, strongest first)",
            "MATCH (p:Person {id: $person})-[:EXPLAINED_BY]->(e:Explanation)-[:EXPLAINS]->"
            "(a:Activity {name: $activity}) MATCH (t)-[c:CONTRIBUTES_TO]->(e) "
            "RETURN a.name AS activity, e.score AS score, e.method AS method, e.model AS model, "
            "e.baseline AS baseline, e.rest AS rest, t.kind AS kind, t.name AS term, c.weight AS weight, "
            "c.edge AS edge "
            "ORDER BY weight DESC, term",
            {"person": "demo/street.jpg/0", "activity": "ride bicycle"},  # a person of `hake demo`
        ),
        # ---- the activity hierarchy (an extension's areas and composites, BROADER edges) ----
        ExampleQuery(
            "activities_under",
            "Which activities of a level lie under an area or composite, at any depth?",
            "MATCH (a:Activity)-[:BROADER*1..8]->(c:Activity {name: $activity}) WHERE a.level = $level "
            "RETURN DISTINCT a.name AS activity ORDER BY activity",
            {"activity": "sports", "level": "atomic"},  # of the example extension everyday-actions
        ),
        ExampleQuery(
            "persons_doing_under",
            "Which persons do anything under an area or composite (source: annotation or model)?",
            "MATCH (p:Person)-[d:DOES]->(a:Activity)-[:BROADER*1..8]->(c:Activity {name: $activity}) "
            "WHERE d.score >= $min_score "
            "WITH p, d.source AS source, collect(DISTINCT a.name) AS activities, max(d.score) AS score "
            "RETURN p.id AS person, source, activities, score ORDER BY score DESC, person, source "
            "LIMIT $limit",
            {"activity": "sports", "min_score": 0.5, "limit": 20},
        ),
        ExampleQuery(
            "composite_of_prediction",
            "Under which composite and area does each activity of a person fall?",
            "MATCH (p:Person {id: $person})-[d:DOES]->(a:Activity)-[:BROADER]->(c:Activity) "
            "OPTIONAL MATCH (c)-[:BROADER]->(area:Activity {level: 'area'}) "
            "RETURN a.name AS activity, c.name AS composite, area.name AS area, d.score AS score, "
            "d.source AS source, d.model AS model ORDER BY score DESC, activity, composite, model",
            {"person": "gym.jpg/0"},
        ),
        # ---- triplets: which object instance each interaction concerns (kg.schema) ----
        ExampleQuery(
            "who_does_what_with_which",
            "Who holds which cup? Persons, the activity, the object instance and its box, by the "
            "instance's class and the activity's verb (source: annotation or model)",
            "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance)-[:IS_A]->(c:Object {name: $object}) "
            "MATCH (a:Activity)-[:HAS_VERB]->(v:Verb {name: $verb}) WHERE a.id = x.activity "
            "AND x.score >= $min_score "
            "RETURN p.id AS person, a.name AS activity, o.id AS instance, o.bbox AS box, "
            "x.score AS score, x.source AS source, x.model AS model "
            "ORDER BY person, instance, source, model LIMIT $limit",
            {"object": "cup", "verb": "hold", "min_score": 0.5, "limit": 20},
        ),
        ExampleQuery(
            "persons_sharing_instance",
            "Which persons interact with the same object instance (each pair once; source: "
            "annotation or model)?",
            "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance)<-[y:INTERACTS_WITH]-(q:Person) "
            "MATCH (o)-[:IS_A]->(c:Object) WHERE p.id < q.id AND x.source = $source AND y.source = $source "
            "RETURN DISTINCT o.id AS instance, c.name AS object, p.id AS person, q.id AS other "
            "ORDER BY instance, person, other LIMIT $limit",
            {"source": "annotation", "limit": 20},
        ),
        ExampleQuery(
            "instances_nobody_uses",
            "Which object instances does nobody interact with (by annotation or any model)?",
            "MATCH (o:ObjectInstance)-[:IN_IMAGE]->(i:Image) MATCH (o)-[:IS_A]->(c:Object) "
            "WHERE NOT (o)<-[:INTERACTS_WITH]-(:Person) "
            "RETURN i.id AS image, o.id AS instance, c.name AS object, o.bbox AS box "
            "ORDER BY image, instance LIMIT $limit",
            {"limit": 20},
        ),
    )
}
