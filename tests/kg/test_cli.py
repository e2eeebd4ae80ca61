from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kg.cli import main


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
