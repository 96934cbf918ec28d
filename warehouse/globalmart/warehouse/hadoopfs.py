"""File moves through Hadoop's FileSystem API (via the Spark JVM), so the archive works on a local
folder, HDFS or an object store alike."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


class HadoopFS:
    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm: Any = spark._jvm  # type: ignore[attr-defined]
        self._path_cls = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path_cls(root).getFileSystem(
            spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
        )

    def _p(self, path: str) -> Any:
        return self._path_cls(path)

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._p(path)))

    def entries(self, path: str) -> list[tuple[str, bool]]:
        """(full path, is a directory) of each entry; [] when `path` does not exist."""
        if not self.exists(path):
            return []
        return [
            (str(s.getPath().toString()), bool(s.isDirectory()))
            for s in self._fs.listStatus(self._p(path))
        ]

    def glob(self, pattern: str) -> list[str]:
        found = self._fs.globStatus(self._p(pattern))
        return [str(s.getPath().toString()) for s in (found or [])]

    def mkdirs(self, path: str) -> None:
        self._fs.mkdirs(self._p(path))

    def rename(self, source: str, target: str) -> None:
        if not self._fs.rename(self._p(source), self._p(target)):
            raise OSError(f"could not move {source} to {target}")

    def delete(self, path: str, recursive: bool = False) -> None:
        self._fs.delete(self._p(path), recursive)
