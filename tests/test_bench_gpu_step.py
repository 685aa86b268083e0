"""bench/gpu_full_model_step.py runs end to end on CPU with its tiny model (the full size awaits a GPU)."""

import importlib.util

from tests.conftest import REPO


def test_gpu_step_benchmark_runs_tiny_on_cpu(capsys):
    spec = importlib.util.spec_from_file_location("gpu_step", REPO / "bench" / "gpu_full_model_step.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(
        ["--tiny", "--device", "cpu", "--steps", "2", "--batch", "3", "--k", "2", "--tokens", "14"]
        + ["--variants", "today,faster"]
    )
    assert set(results) == {"today", "faster"} and results["faster"]["step_s"] > 0
    assert [set(step) for step in results["faster"]["losses"]] == [{"itc", "itm", "mlm"}] * 2
    out = capsys.readouterr().out
    assert "3 images x 2 captions x 14 tokens at most" in out and "x today" in out
