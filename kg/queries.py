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
``IN_IMAGE`` and ``IN_VIDEO``), nor ``end`` as an alias (a keyword of LadybugDB's parser).
``CASE WHEN ... THEN ... ELSE ... END`` is portable (the interval queries take the later start
and the earlier end with it). Always pass values as
parameters, never format them into the query text.

>>> from kg.queries import EXAMPLES
>>> sorted(EXAMPLES)[:4]
['activities_sharing_part_states', 'activities_under', 'clips_showing', 'composite_of_prediction']
>>> sorted(EXAMPLES)[4:8]
['instances_nobody_uses', 'longest_segment', 'overlapping_segments', 'part_states_implying_activity']
>>> sorted(EXAMPLES)[8:12]
['person_part_states', 'persons_doing_under', 'persons_sharing_instance', 'track_in_window']
>>> sorted(EXAMPLES)[12:]
['tracks_doing_while', 'who_does_what_with_which', 'why_paired', 'why_prediction']
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
            "why_paired",
            "Why was a person paired with an object instance? The pairing model's evidence for each "
            "activity: the pair score, and the geometric features, part states and cascade terms "
            "behind it, strongest first (baseline + weights + rest = score)",
            "MATCH (p:Person {id: $person})-[:PAIR_EXPLAINED_BY]->(e:PairingExplanation)"
            "-[:CONCERNS]->(o:ObjectInstance {id: $instance}) "
            "MATCH (a:Activity) WHERE a.id = e.activity "
            "MATCH (t)-[c:PAIR_CONTRIBUTES_TO]->(e) "
            "RETURN a.name AS activity, e.score AS score, e.baseline AS baseline, e.rest AS rest, "
            "e.model AS model, t.kind AS kind, t.id AS term, t.name AS name, c.weight AS weight "
            "ORDER BY activity, model, weight DESC, term",
            {"person": "cafe.jpg/0", "instance": "cafe.jpg/0"},
        ),
        # ---- time: tracks, activity segments and clip labels of videos (kg.schema, "Time") ----
        # A segment is the interval [start, end] of frames (both included) and, where known, of
        # seconds; two intervals overlap when each starts before the other ends.
        ExampleQuery(
            "track_in_window",
            "What did a track do between two times (seconds)? Its segments that overlap the window",
            "MATCH (t:Track {id: $track})-[s:SEGMENT]->(a:Activity) "
            "WHERE s.start_time <= $until AND s.end_time >= $since "
            "RETURN a.name AS activity, s.start_time AS start_time, s.end_time AS end_time, "
            "s.score AS score, s.source AS source, s.model AS model "
            "ORDER BY start_time, activity, source, model",
            {"track": "street.mp4@1", "since": 0.1, "until": 0.2},
        ),
        ExampleQuery(
            "overlapping_segments",
            "Which segments of different tracks of a video overlap, and over which frames (each pair once)?",
            "MATCH (v:Video {id: $video})<-[:IN_VIDEO]-(t:Track)-[s:SEGMENT]->(a:Activity) "
            "MATCH (v)<-[:IN_VIDEO]-(u:Track)-[r:SEGMENT]->(b:Activity) "
            "WHERE t.id < u.id AND s.source = $source AND r.source = $source "
            "AND s.start_frame <= r.end_frame AND r.start_frame <= s.end_frame "
            "RETURN t.id AS track, a.name AS activity, u.id AS other, b.name AS other_activity, "
            "CASE WHEN s.start_frame > r.start_frame THEN s.start_frame ELSE r.start_frame END "
            "AS first_frame, "
            "CASE WHEN s.end_frame < r.end_frame THEN s.end_frame ELSE r.end_frame END AS last_frame "
            "ORDER BY first_frame, track, other, activity, other_activity",
            {"video": "street.mp4", "source": "model"},
        ),
        ExampleQuery(
            "tracks_doing_while",
            "Which tracks do one activity while another track of the same video does another?",
            "MATCH (t:Track)-[s:SEGMENT]->(:Activity {name: $activity}) "
            "MATCH (t)-[:IN_VIDEO]->(v:Video)<-[:IN_VIDEO]-(u:Track)-[r:SEGMENT]->(:Activity {name: $other}) "
            "WHERE t.id <> u.id AND s.score >= $min_score AND r.score >= $min_score "
            "AND s.start_frame <= r.end_frame AND r.start_frame <= s.end_frame "
            "RETURN DISTINCT v.id AS video, t.id AS track, u.id AS other "
            "ORDER BY video, track, other LIMIT $limit",
            {"activity": "ride bicycle", "other": "hold bicycle", "min_score": 0.5, "limit": 20},
        ),
        ExampleQuery(
            "longest_segment",
            "Which is the longest segment of an activity (in frames), in which video and track?",
            "MATCH (v:Video)<-[:IN_VIDEO]-(t:Track)-[s:SEGMENT]->(a:Activity {name: $activity}) "
            "WHERE s.source = $source "
            "RETURN v.id AS video, t.id AS track, s.start_frame AS start_frame, s.end_frame AS end_frame, "
            "s.end_frame - s.start_frame + 1 AS frames, s.end_time - s.start_time AS seconds, "
            "s.model AS model ORDER BY frames DESC, video, track, start_frame LIMIT $limit",
            {"activity": "ride bicycle", "source": "model", "limit": 1},
        ),
        ExampleQuery(
            "clips_showing",
            "Which clips show an activity (clip-level labels), best first?",
            "MATCH (v:Video)-[c:CLIP_LABEL]->(a:Activity {name: $activity}) WHERE c.score >= $min_score "
            "RETURN v.id AS video, c.score AS score, c.source AS source, c.model AS model, "
            "v.duration AS duration ORDER BY score DESC, video, source, model LIMIT $limit",
            {"activity": "ride bicycle", "min_score": 0.5, "limit": 20},
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
