from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kg.cli import main
from kg.store import Neo4jStore
from tests.kg.conftest import _empty
from tests.kg.helpers import write_instance_fixture


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("hake ")


def test_ontology_stats_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ontology", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["body_parts_fine"], stats["body_parts_coarse"]) == (10, 6)
    assert (stats["part_states"], stats["part_states_hico"]) == (93, 76)
    assert (stats["verbs"], stats["objects"], stats["activities"]) == (157, 80, 600)


def test_ontology_stats_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ontology", "stats"]) == 0
    assert "93 (76 in the HICO set)" in capsys.readouterr().out


def test_ontology_export_and_stats_with_an_extension(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import ontology

    out = tmp_path / "merged.ttl"
    example = str(ontology.example_extension())
    assert main(["ontology", "export", "--ontology", example, "--out", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["id"] == ontology.load(example).id == ontology.load(out).id
    assert main(["ontology", "stats", "--ontology", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["activities"] == len(ontology.load(example).activities)
    bad = tmp_path / "bad.yaml"
    bad.write_text("hake_extension: 1\nname: bad\nverbs:\n  - {name: jog, synonym: x}\n")
    assert main(["ontology", "stats", "--ontology", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4: verbs[0].synonym: unknown field" in err and "'synonyms'" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["nonsense"])
    assert exit_.value.code == 2
    assert main([]) == 2


def test_console_script_runs_without_torch() -> None:
    code = (
        "import sys; from kg.cli import main; main(['ontology', 'stats', '--json']); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_ingest_query_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "graph")
    assert _run(capsys, "init", "--store", store, "--json")[0] == 0
    fixture = write_instance_fixture(tmp_path)
    code, out, _ = _run(
        capsys, "ingest", "hake-instance", str(fixture), "--store", store, "--json", "--no-progress"
    )
    assert code == 0 and json.loads(out)["persons_added"] == 3
    code, out, _ = _run(
        capsys, "ingest", "hake-instance", str(fixture), "--store", store, "--json", "--no-progress"
    )
    assert json.loads(out)["persons_skipped"] == 3
    # the summary line says what the file's pairs added besides persons
    assert _run(capsys, "init", "--store", str(tmp_path / "other"))[0] == 0
    code, out, _ = _run(
        capsys, "ingest", "hake-instance", str(fixture), "--store", str(tmp_path / "other"), "--no-progress"
    )
    assert code == 0 and "3 persons added" in out and " object instances, " in out and " triplets" in out
    code, out, _ = _run(
        capsys,
        "query",
        "MATCH (a:Activity {name: $n}) RETURN a.hoi_id AS hoi",
        "--param",
        "n=ride bicycle",
        "--store",
        store,
        "--json",
    )
    assert (code, json.loads(out)) == (0, [{"hoi": 19}])
    code, out, _ = _run(capsys, "query", "--example", "part_states_implying_activity", "--store", store)
    assert code == 0 and "foot: tread on" in out and "(3 rows)" in out
    code, out, _ = _run(capsys, "export", "--out", str(tmp_path / "g.ttl"), "--store", store, "--json")
    assert code == 0 and json.loads(out)["triples"] > 8_000
    code, out, _ = _run(
        capsys,
        "sparql",
        str(tmp_path / "g.ttl"),
        "SELECT (COUNT(*) AS ?n) WHERE { ?p a <https://w3id.org/hake-engine/ontology#Person> }",
        "--json",
    )
    assert json.loads(out) == [{"n": 3}]


def test_query_errors_are_one_line_with_exit_codes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = str(tmp_path / "graph")
    _run(capsys, "init", "--store", store)
    code, _, err = _run(capsys, "query", "MATCH (n) DETACH DELETE n", "--store", store)
    assert code == 1 and "--write" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "query", "MATCH (n RETURN n", "--store", store)
    assert code == 1 and "Parser exception" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "query", "RETURN 1", "--store", str(tmp_path / "missing"))
    assert code == 1 and "hake init --store" in err
    assert _run(capsys, "query", "RETURN 1", "--param", "oops", "--store", store)[0] == 2
    assert _run(capsys, "query", "--example", "nope", "--store", store)[0] == 2
    code, out, _ = _run(
        capsys,
        "query",
        "CREATE (:Verb {id: $id}) RETURN 1 AS ok",
        "--param",
        "id=x",
        "--write",
        "--store",
        store,
        "--json",
    )
    assert (code, json.loads(out)) == (0, [{"ok": 1}])


def test_query_parameters_must_match_the_query(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A misspelt --param or a $parameter never given is an error (exit 2) listing the query's
    parameters, not a wrong answer with exit 0 (the default of an example or null)."""
    store = str(tmp_path / "graph")
    _run(capsys, "init", "--store", store)
    code, out, err = _run(
        capsys,
        "query",
        "--example",
        "part_states_implying_activity",
        "--param",
        "activty=ride bicycle",
        "--store",
        store,
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "not in the query: activty" in err and "$activity" in err and "$limit" in err
    code, _, err = _run(capsys, "query", "MATCH (v:Verb {name: $name}) RETURN v.id AS id", "--store", store)
    assert code == 2 and "not given: $name" in err
    code, out, _ = _run(
        capsys,
        "query",
        "MATCH (v:Verb {name: $name}) RETURN v.id AS id",
        "--param",
        "name=ride",
        "--store",
        store,
        "--json",
    )
    assert (code, json.loads(out)) == (0, [{"id": "ride"}])
    # A parameter named in a string or a comment is not one.
    code, out, _ = _run(
        capsys, "query", "RETURN '$x' AS a, $b AS b // $y", "--param", "b=1", "--store", store, "--json"
    )
    assert (code, json.loads(out)) == (0, [{"a": "$x", "b": 1}])


def test_engine_query_checks_parameters(tmp_path: Path) -> None:
    from kg import EmbeddedStore, Engine
    from ontology import QueryError

    with EmbeddedStore(tmp_path / "g") as store:
        engine = Engine(store)
        engine.init()
        with pytest.raises(QueryError, match=r"uses \$name; not given: \$name; not in the query: nme"):
            engine.query("MATCH (v:Verb {name: $name}) RETURN v.id AS id", nme="ride")
        assert engine.query("MATCH (v:Verb {name: $name}) RETURN v.id AS id", name="ride") == [{"id": "ride"}]


def test_ingest_bad_file_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "graph")
    _run(capsys, "init", "--store", store)
    bad = tmp_path / "obs.jsonl"
    bad.write_text('{"image_id": "a", "person_id": "0", "part_states": {"hand: hodl": 0.5}}\n')
    code, _, err = _run(capsys, "ingest", "observations", str(bad), "--store", store, "--no-progress")
    assert code == 1 and "'line 1'" in err and "did you mean 'hand: hold'" in err


def test_neo4j_option(
    capsys: pytest.CaptureFixture[str],
    bolt_server: tuple[str, str, str, str],
    neo4j_store: Neo4jStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _empty(neo4j_store)  # the server is shared: start from an empty database, as the store tests do
    uri, user, password, database = bolt_server
    monkeypatch.setenv("NEO4J_USER", user)
    monkeypatch.setenv("NEO4J_PASSWORD", password)
    monkeypatch.setenv("NEO4J_DATABASE", database)
    assert _run(capsys, "init", "--neo4j", uri)[0] == 0
    monkeypatch.setenv("NEO4J_URI", uri)
    code, out, _ = _run(capsys, "query", "MATCH (s:PartState) RETURN count(s) AS n", "--neo4j", "--json")
    assert (code, json.loads(out)) == (0, [{"n": 93}])


def test_every_option_of_every_command_says_what_it_does() -> None:
    import argparse

    from kg.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    silent = [
        (name, action.option_strings)
        for name, sub in commands.choices.items()
        for action in sub._actions
        if action.option_strings and action.help in (None, "") and "-h" not in action.option_strings
    ]
    assert not silent
    assert all("Example:" in (sub.epilog or "") for sub in commands.choices.values())


def test_tables_round_numbers_and_json_keeps_them(capsys: pytest.CaptureFixture[str]) -> None:
    from kg.cli import _print_table

    _print_table([{"score": 0.8522088527679443, "box": [10.25, 1234.56789], "n": 3, "name": "a"}])
    out = capsys.readouterr().out
    assert "0.852209" in out and "[10.25, 1234.57]" in out and "0.8522088527679443" not in out


def test_the_extension_recipe_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """README "Your own vocabulary": init with the example extension, reason, explain, query
    the hierarchy, export the store's ontology and read it back."""
    import ontology

    store = str(tmp_path / "graph")
    example = str(ontology.example_extension())
    assert main(["init", "--ontology", example, "--store", store]) == 0
    people = tmp_path / "people.jsonl"
    people.write_text(
        json.dumps(
            {
                "image_id": "gym.jpg",
                "person_id": "0",
                "part_states": {"leg: squat": 0.95, "hip: bend": 0.8, "leg: bend": 0.7},
            }
        )
        + "\n"
    )
    capsys.readouterr()
    assert main(["reason", str(people), "--store", store, "--top-k", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "squat" in out and "strength training" in out
    html = tmp_path / "why.html"
    assert (
        main(
            [
                "explain",
                "gym.jpg/0",
                "--activity",
                "squat",
                "--format",
                "html",
                "--out",
                str(html),
                "--store",
                store,
            ]
        )
        == 0
    )
    assert "leg: squat" in html.read_text()
    capsys.readouterr()
    assert (
        main(
            [
                "query",
                "--example",
                "persons_doing_under",
                "--param",
                "activity=sports",
                "--json",
                "--store",
                store,
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)[0]["person"] == "gym.jpg/0"
    exported = tmp_path / "onto.ttl"
    assert main(["ontology", "export", "--store", store, "--out", str(exported)]) == 0
    assert ontology.load(exported) == ontology.load(example)
    # the store refuses another ontology at init, with advice
    assert main(["init", "--store", store]) == 1
    assert "already holds ontology" in capsys.readouterr().err


def _labelled_examples(path: Path, n: int, bad_activity: str | None = None) -> None:
    """``n`` simulated persons doing the example extension's new atomic actions (one each,
    showing each characteristic part state), as a labelled examples file."""
    import ontology

    onto = ontology.load(ontology.example_extension())
    atomic = [a for a in onto.activities if a.index >= 600 and not a.is_composite]
    with path.open("w") as out:
        for i in range(n):
            a = atomic[i % len(atomic)]
            row = {
                "image_id": f"img{i}.jpg",
                "person_id": "0",
                "part_states": {s: 1.0 for s, _ in a.part_states},
                "objects": [{"object": a.object, "score": 1.0}] if a.object else [],
                "activities": [bad_activity if bad_activity and i == n - 1 else a.name],
            }
            out.write(json.dumps(row) + "\n")


def test_fine_tuning_a_checkpoint_on_an_extension(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import ontology
    import reasoning

    examples = tmp_path / "labelled.jsonl"
    _labelled_examples(examples, 72)
    out = tmp_path / "tuned"
    common = [
        "train",
        "--init-from",
        str(reasoning.default_model_path()),
        "--ontology",
        str(ontology.example_extension()),
    ]
    code = main([*common, "--examples", str(examples), "--out", str(out), "--json", "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    extended = ontology.load(ontology.example_extension())
    assert code == 0 and summary["examples"] == 72 and summary["ontology"] == extended.id
    tuned = reasoning.ActivityReasoner.from_pretrained(out)
    assert tuned.ontology == extended and tuned.provenance["init_from"]["name"] == "hake-activity-gnn"
    # usage errors exit 2, a bad example exits 1 naming file, line and field
    assert main([*common, "--out", str(tmp_path / "x")]) == 2
    assert "give --examples" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--ontology",
                str(ontology.example_extension()),
                "--data",
                ".",
                "--out",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )
    assert "--init-from" in capsys.readouterr().err
    _labelled_examples(examples, 5, bad_activity="jogg")
    assert main([*common, "--examples", str(examples), "--out", str(tmp_path / "z"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "labelled.jsonl" in err and "line 5" in err and "jog" in err and not (tmp_path / "z").exists()


def test_novel_verbs_option_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["eval", "--data", str(tmp_path), "--novel-verbs", "--unseen", "default"]) == 2
    assert "--novel-verbs runs the GNN protocol" in capsys.readouterr().err
    assert main(["eval", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "give it with --novel-verbs" in capsys.readouterr().err
    assert main(["eval", "--data", str(tmp_path), "--novel-verbs", "--no-progress"]) == 1
    assert "hico-image-level.tar.gz" in capsys.readouterr().err


def test_fine_tuning_on_a_stores_annotated_persons(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import kg
    import ontology
    import reasoning

    ext = ontology.load(ontology.example_extension())
    store = tmp_path / "graph"
    assert main(["init", "--ontology", str(ontology.example_extension()), "--store", str(store)]) == 0
    common = [
        "train",
        "--init-from",
        str(reasoning.default_model_path()),
        "--store",
        str(store),
        "--no-progress",
    ]
    assert main([*common, "--out", str(tmp_path / "none")]) == 1
    assert "no person with annotated activities" in capsys.readouterr().err
    atomic = [a for a in ext.activities if a.index >= 600 and not a.is_composite]
    people = [
        ontology.PersonObservation(
            f"s{i}.jpg", "0", part_states=dict.fromkeys(dict(a.part_states), 1.0), ontology=ext
        )
        for i, a in enumerate(atomic)
    ]
    with kg.EmbeddedStore(store) as s:
        kg.ingest_observations(s, people, activities=[[a.name] for a in atomic])
    assert main([*common, "--out", str(tmp_path / "tuned"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["examples"] == len(atomic) and summary["ontology"] == ext.id
    assert main([*common, "--ontology", str(ontology.example_extension()), "--out", str(tmp_path / "x")]) == 2


def test_reason_summaries_print_labels_without_underscores(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    people = tmp_path / "people.jsonl"
    row = {"image_id": "a.jpg", "person_id": "0", "part_states": {"head: drink with": 1.0, "hand: hold": 1.0}}
    people.write_text(json.dumps({**row, "objects": [{"object": "cup", "score": 1.0}]}) + "\n")
    assert main(["init", "--store", str(tmp_path / "g")]) == 0
    assert main(["reason", str(people), "--store", str(tmp_path / "g"), "--top-k", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("  ")]  # the predictions
    assert lines and "drink with cup" in lines[0] and not any("_" in line for line in lines)
