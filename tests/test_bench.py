"""The benchmark's target check: ratios to native F.dropout judged at the worst size, bytes exact."""

from __future__ import annotations

from autograder.lab.bench import BOOL_TIME_TARGET, SEED_TIME_TARGET, BenchRow, check_targets


def _rows(bool_ratios: list[float], seed_ratios: list[float], bool_bytes: float = 1.0) -> list[BenchRow]:
    rows = []
    sizes = (1 << 20, 1 << 22, 1 << 24)
    for numel, bool_ratio, seed_ratio in zip(sizes, bool_ratios, seed_ratios, strict=True):
        rows += [
            BenchRow("cpu", numel, "F.dropout", 10.0, 1.0, 2.0, 4.0),
            BenchRow("cpu", numel, "reference bool", 10 * bool_ratio, bool_ratio, 1.0, bool_bytes),
            BenchRow("cpu", numel, "reference seed", 10 * seed_ratio, seed_ratio, 1.0, 0.001),
        ]
    return rows


def test_targets_are_met_only_when_every_size_meets_them() -> None:
    met = check_targets(_rows([0.6, 0.7, BOOL_TIME_TARGET], [0.9, 0.95, SEED_TIME_TARGET]))
    assert [t.met for t in met] == [True, True, True, True]
    missed = check_targets(_rows([0.6, 0.81, 0.7], [0.9, 1.01, 0.9]))
    assert [t.met for t in missed] == [False, True, True, False]
    assert "worst 0.81x" in missed[0].measured and "worst 1.01x" in missed[3].measured
    assert not check_targets(_rows([0.6] * 3, [0.9] * 3, bool_bytes=4.0))[1].met
    assert check_targets(_rows([0.6] * 3, [0.9] * 3), device="cuda") == []
