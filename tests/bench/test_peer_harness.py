"""The side-by-side benchmark's pieces (bench/peer): the single-file task is a normal task that scores,
the offline edits reach it, the loopback server answers the peer's prompts with a valid program, the
peer's evaluator and config are what the peer accepts, and the renderer keeps text outside its markers."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evolve.operators.offline.catalog import CATALOG
from scoring.guard import check
from scoring.task import load_task

REPO = Path(__file__).resolve().parents[2]
PEER = REPO / "bench" / "peer"
PEER_PYTHON = REPO / "bench" / ".peer" / "bin" / "python"
sys.path.insert(0, str(REPO))

from bench.peer import loopback, render  # noqa: E402


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, PEER / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def single():
    return load_task(REPO / "seeds" / "tasks" / "nanogpt_single")


def test_single_file_task_is_one_editable_file_with_the_builtin_frozen_block(single, task):
    assert single.editable == ("train_mps.py",) and single.entry_file == "train_mps.py"
    assert single.frozen.names == task.frozen.names and single.frozen.private == task.frozen.private
    frozen = [t[t.index("FROZEN BEGIN"):t.index("FROZEN END")] for t in
              (single.seed_files["train_mps.py"], task.seed_files["train_mps.py"])]
    # the same protocol; only the training budget is shorter
    assert frozen[0].replace("else 100", "else 300") == frozen[1]
    assert "from model import" not in single.seed_files["train_mps.py"]


def test_single_file_task_scores_ok_under_smoke(single):
    from scoring.api import score

    r = score(dict(single.seed_files), single, smoke=True)
    assert r.status == "ok", f"{r.reason}\n{r.log_tail}"
    assert r.best_vloss is not None and r.best_vloss < 4.5


@pytest.mark.parametrize("edit", CATALOG, ids=lambda e: e.name)
def test_every_catalog_edit_reaches_the_single_file_and_passes_the_guard(single, edit):
    files = edit.apply(single.seed_files)
    assert files is not None and set(files) == {"train_mps.py"} and files != dict(single.seed_files)
    assert check(single, files) == []
    assert edit.applied(files) and edit.revert(files) == dict(single.seed_files)


def _peer_prompt(code: str) -> str:
    # the shape of OpenEvolve's full_rewrite_user.txt, with a history block that must not be taken
    return ("# Current Program Information\n- Fitness: -2.5\n\n# Program Evolution History\n"
            "```python\nprint('an older program')\n```\n\n# Current Program\n```python\n" + code +
            "\n```\n\n# Task\nRewrite the program to improve its FITNESS SCORE.\n\n```python\n"
            "# Your rewritten program here\n```")


def test_loopback_answers_a_peer_prompt_with_a_full_guard_clean_program(single):
    code = single.seed_files["train_mps.py"].rstrip("\n")
    assert loopback.peer_program(_peer_prompt(code)) == code
    server = loopback.BenchHTTPServer(("127.0.0.1", 0), 0.0, single, hang_at=2)
    try:
        first = server.answer(_peer_prompt(code), 0)
        second = server.answer(_peer_prompt(code), 1)
    finally:
        server.server_close()
    for reply in (first, second):
        new = reply.split("```python\n", 1)[1].rsplit("\n```", 1)[0] + "\n"
        assert new != single.seed_files["train_mps.py"] and check(single, {"train_mps.py": new}) == []
    assert loopback.HANG not in first and loopback.HANG in second  # the 2nd code reply hangs


def test_bench_server_serves_from_a_process_of_its_own(single):
    # neither framework's process may pay for producing the replies: the server is a child process
    import urllib.request

    with loopback.BenchServer(single, hang_at=1) as server:
        assert server.proc.pid != os.getpid() and server.proc.poll() is None
        body = json.dumps({"model": "offline", "messages": [{"role": "user", "content": _peer_prompt(
            single.seed_files["train_mps.py"].rstrip("\n"))}]}).encode()
        req = urllib.request.Request(server.url + "/chat/completions", body, {"Content-Type": "application/json"})
        reply = json.loads(urllib.request.urlopen(req, timeout=30).read())["choices"][0]["message"]["content"]
        assert loopback.HANG in reply  # its settings reached the child
    assert server.proc.poll() is not None  # and it is gone after the block


def test_peer_evaluator_scores_a_program_with_our_scoring(single, tmp_path, monkeypatch):
    program = tmp_path / "program.py"
    program.write_text(single.seed_files["train_mps.py"])
    log = tmp_path / "evals.jsonl"
    for key, value in {"BENCH_EVAL_LOG": str(log), "BENCH_OURS_PY": sys.executable, "BENCH_EVAL_MODE": "score",
                       "BENCH_SMOKE": "1"}.items():
        monkeypatch.setenv(key, value)
    metrics = _module("evaluator").evaluate(str(program))
    assert metrics["ok"] == 1.0 and 0 < metrics["val_loss"] < 4.5 and metrics["combined_score"] == -metrics["val_loss"]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert "started" in records[0] and records[1]["status"] == "ok"
    program.write_text(loopback.with_hang(single.seed_files["train_mps.py"]))
    monkeypatch.setenv("BENCH_SCORE_TIMEOUT", "3")
    assert _module("evaluator").evaluate(str(program))["ok"] == 0.0  # our sandbox's kill, reported as failed


def test_peer_config_asks_for_the_offline_setup():
    cfg = yaml.safe_load((PEER / "config.yaml").read_text())
    assert cfg["diff_based_evolution"] is False and cfg["evaluator"]["max_retries"] == 0
    assert cfg["llm"]["api_key"] and cfg["evaluator"]["parallel_evaluations"] == 1
    assert cfg["max_code_length"] > len((REPO / "seeds/tasks/nanogpt_single/train_mps.py").read_text())


def _need_peer() -> None:
    """The peer's venv: `make test` builds it first; elsewhere its absence skips, except under CI."""
    if PEER_PYTHON.exists():
        return
    message = "the peer's venv bench/.peer is not installed (make bench/.peer/bin/python)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_the_peer_accepts_our_config_and_evaluator():
    _need_peer()
    code = ("import sys; sys.path.insert(0, 'bench/peer'); import run_peer; "
            "from openevolve.evaluator import Evaluator; "
            "c = run_peer.settings('http://127.0.0.1:1/v1', 3, 0, 60, 10); "
            "assert not c.diff_based_evolution and c.evaluator.max_retries == 0; "
            "assert c.llm.models[0].api_base == 'http://127.0.0.1:1/v1' and c.llm.models[0].api_key == 'dummy'; "
            "e = Evaluator(c.evaluator, 'bench/peer/evaluator.py'); print(e.evaluate_function.__name__)")
    r = subprocess.run([str(PEER_PYTHON), "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("evaluate")


def test_render_writes_between_the_markers_only(tmp_path):
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\nours above\n\n{render.BEGIN}\nold\n{render.END}\n\nbelow\n")
    render.write_section(doc, f"{render.BEGIN}\nnew\n{render.END}")
    assert doc.read_text() == f"# Benchmarks\n\nours above\n\n{render.BEGIN}\nnew\n{render.END}\n\nbelow\n"
    fresh = tmp_path / "new.md"
    render.write_section(fresh, f"{render.BEGIN}\nx\n{render.END}")
    assert fresh.read_text() == f"{render.BEGIN}\nx\n{render.END}\n"


def test_hung_view_measures_from_the_hung_start_to_the_next_start():
    from bench.peer import compare

    evals = [{"start": 0.0, "end": 5.0, "status": "ok", "best_vloss": 3.0},
             {"start": 5.1, "end": 50.1, "status": "timeout", "best_vloss": None},
             {"start": 50.2, "end": 55.0, "status": "ok", "best_vloss": 2.9}]
    v = compare._hang_view(evals)
    assert v["hung_held_s"] == 45.0 and v["next_start_after_s"] == 45.1 and v["ok_after"] == 1
    never = compare._hang_view(evals[:1] + [{"start": 5.1, "end": 99.0, "status": "never returned",
                                              "best_vloss": None}])
    assert never["next_start_after_s"] is None and never["later"] == 0
    assert [c["best"] for c in compare._curve(evals)] == [3.0, 3.0, 2.9]


def test_render_states_a_reduced_run_and_what_the_peer_could_not_do():
    run = {"seed": 0, "wall_s": 10.0, "evals": [{"start": 0, "end": 5, "status": "ok", "best_vloss": 2.5},
                                                {"start": 5, "end": 9, "status": "ok", "best_vloss": 2.4}]}
    run["curve"] = [{"eval": 1, "t": 5, "best": 2.5}, {"eval": 2, "t": 9, "best": 2.4}]
    hang = {"hung_found": True, "hung_held_s": 45.0, "hung_status": "timeout", "next_start_after_s": None,
            "ok_after": 0, "later": 0, "evals": []}
    data = {"machine": {k: "x" for k in ("date", "machine", "cores", "os", "python", "torch", "persona_evolve",
                                         "openevolve", "load_at_start")},
            "reduced": ["search: 2 evaluations per run instead of 5"],
            "controller": [{"programs": 10000, "ours_ms": 60.0, "ours_load_s": 1.5, "ours_new": 100, "peer_ms": 40.0,
                            "peer_done": 10,
                            "peer_iterations": 10, "peer_programs_held": 200, "load": [1, 1]}],
            "search": {"evals_per_run": 2, "smoke": False, "delta": 0.05,
                       "runs": {"ours": [run], "peer": [run], "best_of_n": []}},
            "hung": {"timeout_s": 45, "peer_inner_kill_s": 135, "ours": hang, "peer": hang}}
    text = render.render(data)
    assert "**Reduced run**" in text and "search: 2 evaluations per run instead of 5" in text
    assert "it held 200 programs" in text and "never, within the run" in text and "| best-of-n | not run" in text
    assert "60.0 (+ 1.50 s to load the lineage" in text and "| 1.50 |" in text  # our time, load apart; ratio
    assert text.startswith(render.BEGIN) and text.endswith(render.END)


def test_the_controller_history_is_rendered_and_kept_when_benchmarks_md_is_rewritten(tmp_path, monkeypatch):
    from bench import run_all
    from bench.peer import history

    rows = [{"programs": 100, "before": [80.0, 82.0, 81.0], "after": [40.0, 41.0, 39.0], "peer": [20.0, None, 21.0],
             "load": [0.1, 0.2]}]
    split = {"proposals": 10, "process": 0.42, "wall": 0.45, "llm": 0.14, "screen": 0.19, "loop": 0.08}
    text = history.render("abc123", rows, split, 100, "2026-12-02")
    assert text.startswith(history.BEGIN) and text.endswith(history.END)
    assert "| 100 | 81.0 (80.0, 82.0, 81.0) | 40.0 (40.0, 41.0, 39.0) | 0.49 | 20.5 (20.0, -, 21.0) | 1.95 |" in text
    assert "the LLM call 14.0 ms, screening the reply 19.0 ms" in text
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\n{render.BEGIN}\npeer\n{render.END}\n")
    render.write_section(doc, text, history.BEGIN, history.END)
    monkeypatch.setattr(run_all, "OUT", doc)
    kept = run_all.peer_block()  # what run_all puts back after its own sections
    assert kept.startswith(f"{render.BEGIN}\npeer\n{render.END}") and kept.endswith(text)
