from globalmart.stream.service import failure_reason


def test_the_reason_names_our_own_error_when_spark_wraps_it() -> None:
    wrapped = RuntimeError(
        "[FOREACH_BATCH_USER_FUNCTION_ERROR] An error occurred in the user provided function.\n"
        "Traceback (most recent call last):\n"
        '  File "writer.py", line 1, in __call__\n'
        "globalmart.stream.writer.NewWriterSchema: q: schema id(s) [7] were registered ...\n"
    )
    assert failure_reason(wrapped).startswith("globalmart.stream.writer.NewWriterSchema: q:")
    assert failure_reason(RuntimeError("boom\nmore")) == "boom"
    assert failure_reason(None) == "stopped"
    assert failure_reason(RuntimeError("")) == "stopped"
