"""Read queries are read-only by construction (issue 12): a generated corpus of attacks is
refused before it reaches the database, on every entry point, and changes nothing on disk;
legitimate reads (the documented examples, the code base's own reads, keywords inside
strings, comments and backticks) keep working."""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kg.store.embedded as embedded_module
from kg.cli import main
from kg.engine import Engine
from kg.ingest import ingest_hake_instance, init_store
from kg.queries import EXAMPLES
from kg.store import EmbeddedStore, GraphStore, Neo4jStore, is_write_query
from kg.store.readonly import ALLOWED_PROCEDURES, REFUSED_KEYWORDS, TokenKind, check_read_only, tokenize
from ontology.errors import QueryError, ReadOnlyError
from tests.kg.helpers import write_instance_fixture

# ---- the attack corpus ------------------------------------------------------------------

#: Where attacks aim files: a canary whose content must never come back, and paths that
#: ``COPY ... TO`` / ``EXPORT DATABASE`` / ``ATTACH`` must never create (filled in per session).
CANARY_TEXT = f"canary-{uuid.uuid4().hex}"
_PATHS = {"canary": "/nonexistent/canary.csv", "out": "/nonexistent/out.csv", "dir": "/nonexistent/dir"}

#: One attack per refused clause or keyword. ``{canary}``, ``{out}`` and ``{dir}`` are paths.
TEMPLATES = [
    "CREATE (:Verb {id: 'hacked'})",
    "CREATE NODE TABLE Hacked(id STRING PRIMARY KEY)",
    "CREATE MACRO hacked(x) AS x",
    "MERGE (:Verb {id: 'hacked'})",
    "MATCH (v:Verb) SET v.name = 'hacked'",
    "MATCH (v:Verb) DELETE v",
    "MATCH (n) DETACH DELETE n",
    "MATCH (v:Verb) REMOVE v.name",
    "DROP TABLE Person",
    "ALTER TABLE Person ADD hacked STRING",
    "COPY (MATCH (p:Person) RETURN p.id) TO '{out}'",
    "COPY Verb FROM '{canary}'",
    "LOAD FROM '{canary}' RETURN *",
    "LOAD WITH HEADERS (a STRING) FROM '{canary}' RETURN a",
    "LOAD EXTENSION json",
    "LOAD CSV FROM 'file://{canary}' AS line RETURN line",
    "INSTALL json",
    "UNINSTALL json",
    "EXPORT DATABASE '{dir}'",
    "IMPORT DATABASE '{dir}'",
    "ATTACH '{out}' AS other (dbtype lbug)",
    "DETACH other",
    "USE other",
    "CHECKPOINT",
    "BEGIN TRANSACTION",
    "BEGIN TRANSACTION READ ONLY",
    "COMMIT",
    "ROLLBACK",
    "COMMENT ON TABLE Person IS 'hacked'",
    "CALL threads=1",
    "CALL checkpoint_threshold=0",
    "CALL read_csv_serial('{canary}') RETURN *",
    "CALL clear_warnings()",
    "CALL drop_projected_graph('g')",
    "CALL db.createLabel('Hacked')",
    "CALL apoc.cypher.runWrite('CREATE (:Verb)', {})",
    "CALL show_tables",
    "MATCH (n) RETURN n; DROP TABLE Person",
    "RETURN 1; COMMIT; CREATE (:Verb {id: 'hacked'})",
    "MATCH (v:Verb) CALL { WITH v CREATE (:Verb {id: 'hacked'}) } RETURN v",
    "MATCH (v:Verb) WHERE EXISTS { MATCH (v) SET v.name = 'hacked' } RETURN v",
    "MATCH (v:Verb) RETURN COUNT { MATCH (w) DETACH DELETE w } AS n",
    "MATCH (v:Verb) FOREACH (x IN [1] | CREATE (:Verb {id: 'hacked'}))",
    "CALL { MATCH (v:Verb) RETURN v } IN TRANSACTIONS RETURN v",
    "UNWIND [1] AS x CREATE (:Verb {id: 'hacked'})",
    "OPTIONAL MATCH (v:Verb) WITH v SET v.name = 'hacked'",
    "MATCH (v:Verb) RETURN v.id AS x UNION ALL CHECKPOINT",
    "INSERT (:Verb {id: 'hacked'})",
    "EXPLAIN CREATE (:Verb {id: 'hacked'})",
    "PROFILE MATCH (n) DETACH DELETE n",
    "MATCH (v:Verb) WITH v CALL db.labels() YIELD label SET v.name = label",
    "ANALYZE",
    "FORCE CHECKPOINT",
    "UPDATE json",
    "TRUNCATE Person",
    "GRANT ROLE admin TO hacker",
    "DENY READ ON GRAPH * TO hacker",
    "REVOKE ROLE admin FROM hacker",
    "RENAME ROLE reader TO admin",
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
    "DEALLOCATE DATABASES FROM SERVER 'a'",
    "REALLOCATE DATABASES",
]

#: Attacks aimed at a tokenizer's blind spots (strings, comments and backticks that overlap).
HANDCRAFTED = [
    "MATCH (n) /* x */ DETACH DELETE n",
    "MATCH (n) /* ' */ DETACH DELETE n // '",  # a quote inside a comment
    'MATCH (n) /* " */ DETACH DELETE n // "',
    "MATCH (n) /* ` */ DETACH DELETE n // `",  # a backtick inside a comment
    "MATCH (n) WITH n, '/*' AS a DETACH DELETE n //*/'",  # a comment opener inside a string
    "MATCH (n) WITH n, 'it\\'s' AS s DETACH DELETE n",  # an escaped quote
    'MATCH (n) WITH n, "say \\"hi\\"" AS s DETACH DELETE n',
    "MATCH (n) WITH n, '\\\\' AS s DETACH DELETE n //'",  # an escaped backslash ends the string
    "MATCH (n:`we``ird`) DETACH DELETE n",  # a doubled backtick inside a name
    "MATCH (n:`a```) DETACH DELETE n // `) RETURN n",  # the name is a`, then code
    "MATCH (n) // /*\nDETACH DELETE n // */",
    "MATCH (n) RETURN n // x\rDETACH DELETE n",
    "MATCH (n) RETURN n // x\r\nDETACH DELETE n",
    "CRE/**/ATE (:Verb {id: 'hacked'})",
    "MATCH (n) DE/* x */TACH DE/**/LETE n",
    "MATCH (v:Verb) S/**/ET v.name = 'hacked'",
    "CRE\u200bATE (:Verb {id: 'hacked'})",  # a zero-width space inside the keyword
    "CRE\u00adATE (:Verb {id: 'hacked'})",  # a soft hyphen
    "MATCH (v:Verb) \u017fET v.name = 'hacked'",  # LATIN SMALL LETTER LONG S
    "MATCH (v:Verb) \uff33\uff25\uff34 v.name = 'hacked'",  # fullwidth SET
    "MATCH (v:Verb) SE\u0301T v.name = 'hacked'",  # a combining accent
    "\ufeffCREATE (:Verb {id: 'hacked'})",  # a byte order mark
    "MATCH (v:Verb) RETURN 1DETACH DELETE v",
    "MATCH (n) RETURN n;\nDROP TABLE Person",
    "MATCH (n) RETURN n;;",
    "`MATCH` (n) DETACH DELETE n",
    "CALL `threads`=1",
    "CALL `show_tables` = 1",
    "CALL (n) CREATE (m)",
    "RETURN 'unterminated",
    'RETURN "unterminated',
    "RETURN 'ends in a backslash\\'",
    "RETURN `unterminated",
    "RETURN 1 /* unterminated",
    "RETURN 1 AS x\x00; DROP TABLE Person",
    "MATCH (v:Verb) RETURN v.name AS x \u2212 1",  # a non-ASCII symbol outside a string
]

_COMMENTS = [" /* read only */ ", "/**/", " // line\n"]
_UNICODE_SPACES = ["\u00a0", "\u2003", "\u3000", "\u2028", "\u200b"]


def _casing(text: str, rng: random.Random) -> str:
    """Each keyword of ``text`` in a random mix of upper and lower case."""
    out = []
    for token in _words_and_rest(text):
        if token.upper() in REFUSED_KEYWORDS | {"MATCH", "RETURN", "WITH", "CALL", "UNWIND", "OPTIONAL"}:
            token = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in token)
        out.append(token)
    return "".join(out)


def _words_and_rest(text: str) -> list[str]:
    return re.findall(r"[A-Za-z_]+|[^A-Za-z_]+", text)


def _split_keyword(text: str, sep: str) -> str:
    """The first refused keyword of ``text`` cut in two by ``sep`` (``CRE/**/ATE``)."""
    out, done = [], False
    for token in _words_and_rest(text):
        if not done and token.upper() in REFUSED_KEYWORDS:
            token, done = token[: len(token) // 2] + sep + token[len(token) // 2 :], True
        out.append(token)
    return "".join(out)


def _spaced(text: str, sep: str) -> str:
    """Every plain space of ``text`` outside quotes replaced by ``sep``."""
    out, quote = [], ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == " ":
            ch = sep
        out.append(ch)
    return "".join(out)


#: (name, transform) pairs: every template is run through each of them.
VARIATIONS: list[tuple[str, Callable[[str, random.Random], str]]] = [
    ("as is", lambda a, rng: a),
    ("lower case", lambda a, rng: a.lower() if "'" not in a else a),
    ("mixed case", _casing),
    ("comments between tokens", lambda a, rng: _spaced(a, rng.choice(_COMMENTS))),
    ("unicode whitespace", lambda a, rng: _spaced(a, rng.choice(_UNICODE_SPACES))),
    ("a comment inside a keyword", lambda a, rng: _split_keyword(a, rng.choice(["/**/", "/* x */"]))),
    (
        "an invisible character inside a keyword",
        lambda a, rng: _split_keyword(a, rng.choice(_UNICODE_SPACES)),
    ),
    ("leading comment", lambda a, rng: "/* just a read */ " + a),
    ("leading line comment", lambda a, rng: "// MATCH (n) RETURN n\n" + a),
    ("trailing comment", lambda a, rng: a + " // read only"),
    ("trailing block comment", lambda a, rng: a + " /* RETURN 1 */"),
    ("trailing semicolon", lambda a, rng: a + ";"),
    ("after a string with a quote", lambda a, rng: "MATCH (v:Verb) WHERE v.name <> 'it\\'s' WITH v " + a),
    ("after a read with a quote", lambda a, rng: "MATCH (v:Verb {name: 'it\\'s'}) RETURN v; " + a),
    ("after a read with a double quote", lambda a, rng: 'RETURN "\\"" AS q; ' + a),
    ("after a read with backticks", lambda a, rng: "MATCH (n:`we``ird`) RETURN n.`x``y` AS z;\n" + a),
    ("in a CALL subquery", lambda a, rng: "CALL { " + a + " } RETURN 1 AS one"),
    ("in an EXISTS subquery", lambda a, rng: "MATCH (n) WHERE EXISTS { " + a + " } RETURN n"),
]


def attack_corpus() -> list[str]:
    """Every template crossed with every variation, plus the handcrafted attacks (seeded)."""
    rng = random.Random(12)
    attacks = [transform(template, rng) for template in TEMPLATES for _, transform in VARIATIONS]
    return list(dict.fromkeys(attacks + HANDCRAFTED))


ATTACKS = attack_corpus()


def _fill(attack: str) -> str:
    for key, path in _PATHS.items():
        attack = attack.replace("{" + key + "}", path)
    return attack


# ---- the legitimate corpus --------------------------------------------------------------

#: Reads that must pass the check and run: keywords in strings, comments and backticks,
#: subqueries, UNION, CASE, the allowed CALLs, unusual but harmless spelling.
LEGITIMATE = [
    "MATCH (v:Verb {name: 'create'}) RETURN v.id AS id // DROP",
    "MATCH (v:Verb) WHERE v.name = 'set' OR v.name = \"delete\" RETURN count(v) AS n",
    "MATCH (n:`Verb`) RETURN count(n) AS n /* DETACH DELETE n */",
    "MATCH (v:Verb) RETURN v.id AS `CREATE` ORDER BY `CREATE` LIMIT 1",
    "MATCH (v:Verb) RETURN v.id AS `we``ird` ORDER BY `we``ird` LIMIT 2",
    "RETURN 'it\\'s' AS s, \"say \\\"hi\\\"\" AS t, '\\\\' AS backslash",
    "RETURN '/* not a comment */ // nor this; DROP TABLE Person' AS s",
    "// a comment first\nMATCH (p:Person) RETURN count(p) AS n",
    "/* SET */ MATCH (p:Person) RETURN count(p) AS n /* DELETE */",
    "MATCH (p:Person) OPTIONAL MATCH (p)-[:HAS_STATE]->(s:PartState) "
    "RETURN p.id AS id, count(s) AS n ORDER BY id SKIP 0 LIMIT 10",
    "UNWIND [1, 2, 3] AS x WITH x WHERE x > 1 RETURN sum(x) AS total",
    "MATCH (p:Person) RETURN p.id AS x UNION ALL MATCH (i:Image) RETURN i.id AS x",
    "MATCH (p:Person) RETURN p.id AS x UNION MATCH (q:Person) RETURN q.id AS x",
    "MATCH (p:Person) WHERE EXISTS { MATCH (p)-[:HAS_STATE]->(:PartState) } RETURN count(p) AS n",
    "MATCH (p:Person) RETURN p.id AS id, COUNT { MATCH (p)-[:HAS_STATE]->(:PartState) } AS n ORDER BY id",
    "MATCH (p:Person) RETURN CASE WHEN p.id STARTS WITH 'img1' THEN 'one' ELSE 'other' END AS k ORDER BY k",
    "MATCH (a:Activity)-[:HAS_VERB]->(v:Verb) WHERE v.name CONTAINS 'ride' "
    "RETURN a.name AS name ORDER BY name LIMIT 3",
    "CALL show_tables() RETURN name ORDER BY name",
    "CALL table_info('Person') RETURN name",
    "MATCH (p:Person) RETURN p.id AS id;",
    "match (p:Person) return count(p) as n  // lower case",
    "MATCH\u00a0(p:Person)\u3000RETURN count(p) AS n",
    "MATCH (p:Person) RETURN p.id AS created, p.id AS settled, p.id AS offset_ ORDER BY created",
    "MATCH (p:Person) RETURN count(p) AS n, 1.5e3 AS x, 0.25 AS y",
    "EXPLAIN MATCH (p:Person) RETURN p.id AS id",
    "PROFILE MATCH (p:Person) RETURN p.id AS id",
    # As the code base sends them (kg/ingest.py, kg/predictions.py, kg/reason.py, kg/evidence.py).
    "MATCH (n:PartState) RETURN count(n) AS n",
    "UNWIND $ids AS i MATCH (n:Person {id: i}) RETURN n.id AS id",
    "MATCH (p:Person)-[d:DOES]->(:Activity) WHERE d.source = 'model' AND d.model = $model "
    "RETURN p.id AS person",
    "MATCH ()-[d:DOES]->() RETURN count(d) AS n",
    "MATCH (p:Person)-[d:DOES]->(a:Activity) RETURN p.id AS `from`, a.id AS `to`, d.source AS source",
    "MATCH (p:Person)-[:IN_IMAGE]->(i:Image) RETURN offset(id(p)) AS row, p.id AS id, i.id AS image",
    "MATCH (p:Person)-[r:HAS_STATE]->(t:PartState) RETURN p.id AS person, t.idx AS term, r.prob AS value",
    "MATCH (s:PartState)<-[h:HAS_STATE]-(p:Person)-[d:DOES]->(:Activity) "
    "WHERE h.source = 'annotation' AND d.source = 'annotation' RETURN s.id AS s, count(DISTINCT p) AS n",
]

_PARAMS: dict[str, Any] = {"ids": ["img1.jpg/0"], "model": "m"}


def _params_for(cypher: str) -> dict[str, Any]:
    return {k: v for k, v in _PARAMS.items() if f"${k}" in cypher}


# ---- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A built store (ontology + three persons) and copies of it, a canary and targets."""
    root = tmp_path_factory.mktemp("query-safety")
    template = root / "template"
    with EmbeddedStore(template) as store:
        init_store(store)
        ingest_hake_instance(store, write_instance_fixture(root))
    canary = root / "canary.csv"
    canary.write_text(CANARY_TEXT + "\n")
    _PATHS.update(canary=str(canary), out=str(root / "stolen.csv"), dir=str(root / "exported"))
    out = {"template": template, "canary": canary, "root": root}
    for name in ("rw", "ro", "cli"):
        shutil.copytree(template, root / name)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def rw_store(paths: dict[str, Path]) -> Iterator[EmbeddedStore]:
    with EmbeddedStore(paths["rw"]) as store:
        yield store


@pytest.fixture(scope="module")
def ro_store(paths: dict[str, Path]) -> Iterator[EmbeddedStore]:
    with EmbeddedStore(paths["ro"], read_only=True) as store:
        yield store


def _files(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder``: relative path -> (size, sha256 of the content)."""
    return {
        str(f.relative_to(folder)): (f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest())
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def _stats(folder: Path) -> dict[str, tuple[int, int]]:
    """A cheap per-call signature: relative path -> (size, mtime in ns)."""
    return {str(f.relative_to(folder)): (f.stat().st_size, f.stat().st_mtime_ns) for f in folder.rglob("*")}


def _counts(store: GraphStore) -> tuple[int, int]:
    nodes = store.query("MATCH (n) RETURN count(n) AS n")[0]["n"]
    edges = store.query("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
    return int(nodes), int(edges)


class _Spy:
    """Stands in for a ladybug connection and records every text sent to it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: list[str] = []

    def execute(self, query: Any, parameters: Any = None) -> Any:
        self.sent.append(str(query))
        return self.conn.execute(query, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


@pytest.fixture
def spied() -> Iterator[Callable[[EmbeddedStore], _Spy]]:
    """Put a :class:`_Spy` in front of a store's connection for the test."""
    restore: list[tuple[EmbeddedStore, Any]] = []

    def spy(store: EmbeddedStore) -> _Spy:
        restore.append((store, store._conn))
        store._conn = _Spy(store._conn)  # type: ignore[assignment]
        return store._conn  # type: ignore[return-value]

    yield spy
    for store, conn in reversed(restore):
        store._conn = conn


# ---- the tokenizer ----------------------------------------------------------------------


def test_the_corpus_is_large_deterministic_and_covers_every_refused_keyword() -> None:
    assert len(ATTACKS) >= 300
    assert attack_corpus() == ATTACKS
    words = {w.upper() for template in TEMPLATES for w in _words_and_rest(template)}
    assert REFUSED_KEYWORDS <= words, REFUSED_KEYWORDS - words


def test_every_attack_is_refused_by_the_check_with_one_clear_line() -> None:
    for attack in ATTACKS:
        with pytest.raises(ReadOnlyError) as err:
            check_read_only(_fill(attack))
        message = str(err.value)
        assert "\n" not in message, attack
        assert message.startswith("refused as a read query: "), attack
        assert "store.execute(...)" in message and "hake query --write" in message, attack
        assert "offset" in message or "statement" in message, (attack, message)
        assert is_write_query(_fill(attack)), attack


def test_every_legitimate_read_passes_the_check() -> None:
    for query in LEGITIMATE + [q.cypher for q in EXAMPLES.values()]:
        check_read_only(query)
        assert not is_write_query(query), query
    # Read but not runnable: the keywords hide in names, strings and comments.
    for query in (
        "MATCH (n:`CREATE`) RETURN n",
        "MATCH (n:`a``) DETACH DELETE n //`) RETURN n",
        "RETURN 'a\\' DETACH DELETE n //' AS s",
        "MATCH (n) RETURN n /* ; DROP TABLE Person */",
        "CALL `show_tables`() RETURN *",
        "CALL db.labels() YIELD label RETURN label",
        "CALL { MATCH (n) RETURN n } RETURN n",
        "CALL (n) { MATCH (n)-->(m) RETURN m } RETURN m",
        "MATCH (n) RETURN n.id AS x ORDER BY x DESC SKIP $s LIMIT $`l`",
    ):
        check_read_only(query)


def test_tokens() -> None:
    tokens = tokenize("MATCH (n:`a``b`) /* c */ WHERE n.x = 'it\\'s' AND n.y = $p RETURN 1.5e3;")
    kinds = [(t.kind, t.value) for t in tokens]
    assert (TokenKind.NAME, "a`b") in kinds
    assert (TokenKind.STRING, "'it\\'s'") in kinds
    assert (TokenKind.PARAMETER, "$p") in kinds
    assert (TokenKind.NUMBER, "1.5e3") in kinds
    assert kinds[-1] == (TokenKind.PUNCT, ";")
    assert next(t for t in tokens if t.value == "WHERE").soft  # after the comment
    assert [t.value for t in tokenize("match Match mAtCh")] == ["MATCH"] * 3
    assert [t.kind for t in tokenize("`CREATE`")] == [TokenKind.NAME]


def test_refusals_say_what_and_where() -> None:
    with pytest.raises(ReadOnlyError, match=r"DETACH at offset 18 \(DETACH DELETE n\)"):
        check_read_only("MATCH (n) /* x */ DETACH DELETE n")
    with pytest.raises(ReadOnlyError, match="a second statement at offset 20"):
        check_read_only("MATCH (n) RETURN n; DROP TABLE Person")
    with pytest.raises(ReadOnlyError, match="an unterminated string at offset 7"):
        check_read_only("RETURN 'abc")
    with pytest.raises(ReadOnlyError, match="CALL threads at offset 0 is not a CALL"):
        check_read_only("CALL threads=1")
    with pytest.raises(ReadOnlyError, match="CREATE split by a comment"):
        check_read_only("CRE/**/ATE (n)")
    with pytest.raises(ReadOnlyError, match=r"U\+2212 \(MINUS SIGN\) at offset 14"):
        check_read_only("RETURN 1 AS x\u200b\u2212")  # the zero-width space is fine, the minus sign not
    for name in ALLOWED_PROCEDURES:
        check_read_only(f"CALL {name}() RETURN *")


# ---- the embedded store -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["read-write", "read-only"])
def test_attacks_on_the_embedded_store_change_nothing(
    mode: str,
    rw_store: EmbeddedStore,
    ro_store: EmbeddedStore,
    paths: dict[str, Path],
    spied: Callable[[EmbeddedStore], _Spy],
) -> None:
    store = rw_store if mode == "read-write" else ro_store
    folder = paths["rw" if mode == "read-write" else "ro"]
    counts, files = _counts(store), _files(folder)
    stats = _stats(folder)
    spy = spied(store)
    for attack in map(_fill, ATTACKS):
        for read in (store.query, store.query_arrow):
            with pytest.raises(ReadOnlyError) as err:
                read(attack)
            assert CANARY_TEXT not in str(err.value)
        assert spy.sent == [], attack  # refused before LadybugDB saw a byte of it
        assert _stats(folder) == stats, attack
        assert not Path(_PATHS["out"]).exists() and not Path(_PATHS["dir"]).exists(), attack
    assert _files(folder) == files
    assert _counts(store) == counts
    assert paths["canary"].read_text() == CANARY_TEXT + "\n"


def test_legitimate_reads_run_and_change_nothing(rw_store: EmbeddedStore, paths: dict[str, Path]) -> None:
    files = _files(paths["rw"])
    for query in LEGITIMATE:
        rw_store.query(query, **_params_for(query))
        rw_store.query_arrow(query, **_params_for(query))
    for example in EXAMPLES.values():
        rw_store.query(example.cypher, **example.params)
    assert rw_store.query("MATCH (v:Verb {name: 'ride'}) RETURN v.id AS id // DROP") == [{"id": "ride"}]
    assert _files(paths["rw"]) == files


def test_the_code_base_reads_pass_the_guard(rw_store: EmbeddedStore, paths: dict[str, Path]) -> None:
    """Exports, reports, evidence and ingest bookkeeping run their reads through the guard."""
    from kg.evidence import evidence_edges, stored_counts
    from kg.export import to_networkx
    from kg.rdf import export_rdf
    from kg.report import load_person
    from kg.store_ontology import ontology_counts, store_ontology

    sent: list[str] = []

    class Recording:
        backend = rw_store.backend
        read_only = rw_store.read_only

        def query(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
            sent.append(cypher)
            return rw_store.query(cypher, **params)

        def query_arrow(self, cypher: str, /, **params: Any) -> Any:
            sent.append(cypher)
            return rw_store.query_arrow(cypher, **params)

        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"a read-only flow called store.{name}")

    store: Any = Recording()
    files = _files(paths["rw"])
    assert ontology_counts(store)["Activity"] == 600
    assert len(store_ontology(store).activities) == 600
    assert to_networkx(store).number_of_edges() > 0
    assert export_rdf(store, paths["root"] / "export.ttl", include_ontology=False) > 0
    person = rw_store.query("MATCH (p:Person) RETURN p.id AS id ORDER BY id LIMIT 1")[0]["id"]
    assert load_person(store, person).person == person
    assert stored_counts(store).persons == 3
    assert evidence_edges(store)
    assert len(sent) > 10 and not any(is_write_query(q) for q in sent)
    assert _files(paths["rw"]) == files


WRITES = [
    "CREATE (:Verb {id: 'hacked'})",
    "MERGE (:Verb {id: 'hacked'})",
    "MATCH (v:Verb) SET v.name = 'hacked'",
    "MATCH (v:Verb {id: 'ride'}) DETACH DELETE v",
    "MATCH (p:Person)-[h:HAS_STATE]->() DELETE h",
    "DROP TABLE Person",
    "ALTER TABLE Person ADD hacked STRING",
    "CREATE NODE TABLE Hacked(id STRING PRIMARY KEY)",
    "MATCH (v:Verb) RETURN v.id; CREATE (:Verb {id: 'hacked'})",
]


def test_the_database_refuses_writes_the_check_would_miss(
    rw_store: EmbeddedStore, paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the check switched off, a read-write store runs reads in a
    read-only transaction, so LadybugDB itself refuses the write (and the store works on)."""
    monkeypatch.setattr(embedded_module, "check_read_only", lambda cypher: None)
    counts, files = _counts(rw_store), _files(paths["rw"])
    for write in WRITES:
        for read in (rw_store.query, rw_store.query_arrow):
            with pytest.raises(ReadOnlyError, match="read-only transaction"):
                read(write)
    with pytest.raises(QueryError):  # an error inside the transaction: it is ended, not left open
        rw_store.query("MATCH (v:Verb) RETURN v.no_such_property")
    assert _counts(rw_store) == counts and _files(paths["rw"]) == files
    with rw_store.transaction():  # no transaction was left open
        rw_store.execute("CREATE (:Verb {id: 'written'})")
    assert rw_store.query("MATCH (v:Verb {id: 'written'}) RETURN count(v) AS n") == [{"n": 1}]
    rw_store.execute("MATCH (v:Verb {id: 'written'}) DELETE v")


def test_reads_inside_a_write_transaction_see_its_writes(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "g") as store:
        with store.transaction():
            store.execute("CREATE (:Verb {id: 'new'})")
            assert store.query("MATCH (v:Verb) RETURN v.id AS id") == [{"id": "new"}]
            with pytest.raises(ReadOnlyError):
                store.query("CREATE (:Verb {id: 'not through query'})")
        assert store.query("MATCH (v:Verb) RETURN count(v) AS n") == [{"n": 1}]


def test_engine_query_goes_through_the_guard(rw_store: EmbeddedStore) -> None:
    engine = Engine(rw_store)
    for attack in ATTACKS[:: len(ATTACKS) // 20]:
        with pytest.raises(ReadOnlyError):
            engine.query(_fill(attack))
    assert engine.query("MATCH (p:Person) RETURN count(p) AS n") == [{"n": 3}]


# ---- the command line -------------------------------------------------------------------

CLI_ATTACKS = [
    *ATTACKS[:: len(ATTACKS) // 24],
    "CHECKPOINT",
    "checkpoint;",
    "/* read */ CHECKPOINT",
    "MATCH (n) RETURN n; CHECKPOINT",
    "COPY (MATCH (p:Person) RETURN p.id) TO '{out}'",
    "LOAD FROM '{canary}' RETURN *",
]


def test_cli_refuses_attacks_in_one_line_and_the_store_keeps_working(
    paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = paths["cli"]
    files = _files(folder)
    for attack in map(_fill, CLI_ATTACKS):
        code = main(["query", attack, "--store", str(folder)])
        out, err = capsys.readouterr()
        assert code != 0 and out == "", attack
        assert err.count("\n") == 1 and err.startswith("hake query: error: refused as a read query"), err
        assert "--write" in err and CANARY_TEXT not in err
        assert not Path(_PATHS["out"]).exists()
    assert _files(folder) == files
    # After the refused CHECKPOINTs, a later read-only open still works.
    assert main(["query", "MATCH (p:Person) RETURN count(p) AS n", "--store", str(folder), "--json"]) == 0
    assert '"n": 3' in capsys.readouterr().out


# ---- Neo4j ------------------------------------------------------------------------------


def test_attacks_on_the_neo4j_store_change_nothing(neo4j_store: Neo4jStore) -> None:
    """The same check guards the Neo4j backend. (ArcadeDB, the test server, ignores the READ
    access mode that Neo4jStore.query asks for, so here the check is the only guard.)"""
    neo4j_store.execute("MATCH (n) DETACH DELETE n")
    neo4j_store.execute("CREATE (:Verb {id: 'ride', name: 'ride'})-[:PART_OF]->(:Activity {id: 'a'})")
    try:
        counts = _counts(neo4j_store)
        for attack in list(map(_fill, ATTACKS[::5])) + HANDCRAFTED[:12]:
            with pytest.raises(ReadOnlyError):
                neo4j_store.query(attack)
            with pytest.raises(ReadOnlyError):
                neo4j_store.query_arrow(attack)
        assert _counts(neo4j_store) == counts
        assert neo4j_store.query("MATCH (v:Verb {name: 'create'}) RETURN v.id AS id // DROP") == []
        assert neo4j_store.query("MATCH (v:`Verb`) RETURN v.id AS `CREATE`") == [{"CREATE": "ride"}]
        assert {r["label"] for r in neo4j_store.query("CALL db.labels() YIELD label RETURN label")} >= {
            "Verb"
        }
    finally:
        neo4j_store.execute("MATCH (n) DETACH DELETE n")
