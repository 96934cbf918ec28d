from __future__ import annotations

from pathlib import Path

from globalmart.stream.runner import committed, consumed


def test_committed_reads_the_checkpoint_once_per_partition(tmp_path: Path) -> None:
    assert committed(tmp_path) == (None, 0)
    (tmp_path / "offsets").mkdir()
    (tmp_path / "commits").mkdir()
    line = '{"t":{"0":67,"1":65}}'
    (tmp_path / "offsets" / "3").write_text(f'v1\n{{"batchWatermarkMs":0}}\n{line}\n{line}\n')
    (tmp_path / "offsets" / "4").write_text(f'v1\n{{"batchWatermarkMs":0}}\n{line}\n{line}\n')
    (tmp_path / "commits" / "3").write_text("v1\n{}\n")
    # batch 4 is planned but not committed: what counts is batch 3, each partition once
    assert committed(tmp_path) == (3, 132)


def test_consumed_from_a_progress_report() -> None:
    progress = {
        "sources": [
            {"endOffset": '{"t":{"0":10,"1":5}}'},
            {"endOffset": {"t": {"0": 10, "1": 5}}},
        ]
    }
    assert consumed(progress) == 15
    assert consumed(None) == 0
