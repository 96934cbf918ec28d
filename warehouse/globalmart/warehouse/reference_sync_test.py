from globalmart.warehouse.reference_sync import _NAME, start_offsets


def test_resume_after_the_last_copy_or_at_the_low_watermark() -> None:
    marks = {0: (0, 50), 1: (10, 40), 2: (0, 5)}
    # p0 resumes; p1's offset 3 was compacted away; p2's 9 is past the end (topic re-created).
    assert start_offsets(marks, {0: 20, 1: 3, 2: 9}) == {0: 20, 1: 10, 2: 0}
    assert start_offsets(marks, {}) == {0: 0, 1: 10, 2: 0}


def test_snapshot_file_names_carry_the_next_offsets() -> None:
    match = _NAME.search("file:/ref/user/kafka-0_41.1_37.2_22-00000.parquet")
    assert match is not None and match.group(1) == "0_41.1_37.2_22"
    assert _NAME.search("file:/ref/user/part-0000.parquet") is None
