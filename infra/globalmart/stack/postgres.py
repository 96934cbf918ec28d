"""PostgreSQL: two project-owned clusters, `postgres-realtime` and `postgres-warehouse`.

Each instance is its own cluster under <state>/data/<name>/pgdata, run in the foreground by the
stack (the postmaster is the pid we record). PostgreSQL refuses to run as root, so when we are root
initdb and the server run as the `postgres` system user; `setpriv` switches user and then execs, so
the recorded pid is the postmaster itself rather than a wrapper.

Access:
  - the unix socket lives inside PGDATA (mode 0700): only the server's OS user and root can reach
    it, and pg_hba/pg_ident let exactly those OS users in as the bootstrap superuser (peer auth,
    no password to store). The stack uses it to check health and to create databases and roles.
  - TCP (settings host only) needs scram-sha-256 passwords: the writer role owns the database and
    its public schema; the reader role may connect and SELECT, nothing else.
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from globalmart.core.settings import Settings
from globalmart.stack.base import Component, Progress, StackError, port_open, run_checked
from globalmart.stack.provision import install_quietly

#: the cluster's bootstrap superuser; only reachable over the unix socket (peer auth)
ADMIN_USER = "postgres"
#: the OS account the server runs as when the stack runs as root (Debian's package creates it)
SERVER_OS_USER = "postgres"
#: sun_path is 108 bytes on Linux; longer socket paths fail at bind/connect time
_MAX_SOCKET_PATH = 107

_INSTANCES = ("realtime", "warehouse")


def connect(
    settings: Settings, which: str, reader: bool = False, *, autocommit: bool = False
) -> psycopg.Connection[tuple[object, ...]]:
    """A connection to the `realtime` or `warehouse` database as the writer (or reader) role."""
    dsn = settings.postgres_dsn(which, reader=reader)
    return psycopg.connect(dsn, connect_timeout=5, autocommit=autocommit)


def find_bindir(preferred_major: str | None = None) -> Path | None:
    """The PostgreSQL server bin folder: the data's own major version first, else the newest."""
    candidates: list[Path] = []
    lib = Path("/usr/lib/postgresql")
    if lib.is_dir():
        # Newest major first: "16" > "15"; numeric sort so "9.6" does not beat "15".
        def major(path: Path) -> float:
            try:
                return float(path.name)
            except ValueError:
                return 0.0

        candidates.extend(p / "bin" for p in sorted(lib.iterdir(), key=major, reverse=True))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out:
            candidates.insert(0, Path(out))
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    usable = [c for c in candidates if (c / "postgres").exists() and (c / "initdb").exists()]
    if preferred_major:
        for cand in usable:
            if _binary_major(cand) == preferred_major:
                return cand
    return usable[0] if usable else None


def _binary_major(bindir: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return match.group(1) if match else None


class Postgres(Component):
    """One PostgreSQL cluster holding one GlobalMart database (`realtime` or `warehouse`)."""

    start_timeout = 60.0

    def __init__(self, settings: Settings, which: str = "realtime") -> None:
        if which not in _INSTANCES:
            raise ValueError(f"unknown PostgreSQL instance {which!r}: use one of {_INSTANCES}")
        self.which = which
        self.name = f"postgres-{which}"
        super().__init__(settings)
        self._version: str | None = None

    # -- where and what ----------------------------------------------------------------------
    @property
    def host(self) -> str:
        return str(getattr(self.settings, f"postgres_{self.which}_host"))

    @property
    def port(self) -> int:
        return int(getattr(self.settings, f"postgres_{self.which}_port"))

    @property
    def database(self) -> str:
        return str(getattr(self.settings, f"postgres_{self.which}_db"))

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.pgdata

    @property
    def version(self) -> str:
        if self._version:
            return self._version
        try:
            with self._admin_connect() as conn:
                row = conn.execute("SHOW server_version").fetchone()
            self._version = str(row[0]).split()[0] if row else None
        except psycopg.Error:
            bindir = find_bindir(self._data_major())
            if bindir is None:
                return "not installed"
            try:
                out = subprocess.run(
                    [str(bindir / "postgres"), "--version"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                ).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                return "unknown"
            # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)": not cached, server may differ
            return out.replace("postgres (PostgreSQL)", "").split()[0] if out else "unknown"
        return self._version or "unknown"

    # -- provisioning ------------------------------------------------------------------------
    def _data_major(self) -> str | None:
        try:
            return (self.pgdata / "PG_VERSION").read_text().strip()
        except OSError:
            return None

    def _bindir(self) -> Path:
        bindir = find_bindir(self._data_major())
        if bindir is None:
            raise StackError(
                self.name,
                "PostgreSQL server binaries not found (pg_config --bindir, /usr/lib/postgresql/*)",
                "Debian: sudo apt-get install postgresql",
            )
        return bindir

    def provisioned(self) -> bool:
        return find_bindir(self._data_major()) is not None

    def provision(self, progress: Progress) -> None:
        if self.provisioned():
            return
        # Debian's postinst creates a "main" cluster and, where services may start, starts it on
        # 5432 - the warehouse port: stop what this very install started.
        install_quietly(self.name, ["postgresql"], ["postgresql"], progress)

    def _server_user(self) -> pwd.struct_passwd | None:
        """The OS account to run as: `postgres` when we are root, else ourselves (None)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            raise StackError(
                self.name,
                f"running as root, but there is no `{SERVER_OS_USER}` system user to run "
                "PostgreSQL as (it refuses to run as root)",
                f"create it (adduser --system --group {SERVER_OS_USER}) or run as a normal user",
            )

    def _as_server_user(self, argv: Sequence[str]) -> list[str]:
        user = self._server_user()
        if user is None:
            return list(argv)
        setpriv = shutil.which("setpriv")
        if not setpriv:
            raise StackError(self.name, "`setpriv` not found", "install util-linux")
        # setpriv execs in place (no fork), so Popen's pid is the postmaster's pid.
        return [
            setpriv,
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--init-groups",
            "--",
            *argv,
        ]

    def prepare(self, progress: Progress) -> None:
        bindir = self._bindir()
        user = self._server_user()
        socket_path = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            raise StackError(
                self.name,
                f"unix socket path {socket_path} is longer than {_MAX_SOCKET_PATH} characters",
                "set GLOBALMART_STATE_DIR to a shorter path",
            )
        if user is not None:
            self._make_traversable(user)

        if self._data_major() is None:
            self._initdb(bindir, user, progress)
        data_major, binary_major = self._data_major(), _binary_major(bindir)
        if binary_major and data_major != binary_major:
            raise StackError(
                self.name,
                f"{self.pgdata} holds PostgreSQL {data_major} data but only {binary_major} "
                "binaries were found",
                f"install postgresql-{data_major}, or `globalmart stack reset {self.name}`",
            )
        self._write_config(user)

    def _make_traversable(self, user: pwd.struct_passwd) -> None:
        """The server user must reach PGDATA: relax our own folders, explain anything else."""
        state_root = self.paths.root
        groups = {g for g in os.getgrouplist(user.pw_name, user.pw_gid)}
        blocked: list[Path] = []
        for folder in [*reversed(self.data_dir.parents), self.data_dir]:
            if folder.exists() and not _can_traverse(folder, user.pw_uid, groups):
                if folder == state_root or state_root in folder.parents:
                    # Project-owned (e.g. created under umask 077): search permission only,
                    # no read, so other users still cannot list it.
                    folder.chmod(folder.stat().st_mode | stat.S_IXOTH)
                else:
                    blocked.append(folder)
        if blocked:
            raise StackError(
                self.name,
                f"the `{user.pw_name}` user (PostgreSQL refuses to run as root) cannot enter "
                f"{', '.join(map(str, blocked))}, which holds the state folder {state_root}",
                f"set GLOBALMART_STATE_DIR to a folder outside it (e.g. /var/tmp/globalmart), "
                f"or allow traversal: chmod o+x {' '.join(map(str, blocked))}",
            )

    def _initdb(self, bindir: Path, user: pwd.struct_passwd | None, progress: Progress) -> None:
        progress(f"{self.name}: initdb {self.pgdata}")
        if self.pgdata.exists():
            # No PG_VERSION: a half-made cluster from an interrupted initdb; ours to redo.
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700, parents=True)
        if user is not None:
            os.chown(self.pgdata, user.pw_uid, user.pw_gid)
        run_checked(
            self._as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    ADMIN_USER,
                    "--encoding=UTF8",
                    "--no-locale",  # C collation: deterministic and fast; text is still UTF-8
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                ]
            ),
            self.name,
            "initdb",
            cwd=self.data_dir,
            env={"TZ": "UTC"},
            timeout=300,
        )

    def _write_config(self, user: pwd.struct_passwd | None) -> None:
        """(Re)write our settings each start so .env changes (port, host) take effect."""
        me = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else getpass.getuser()
        os_users = sorted({me, user.pw_name if user else me})
        listen = "*" if self.host in ("0.0.0.0", "::") else self.host
        files = {
            "globalmart.conf": "\n".join(
                [
                    "# Written by the GlobalMart stack on every start; edit .env instead.",
                    f"listen_addresses = '{listen}'",
                    f"port = {self.port}",
                    f"unix_socket_directories = '{self.socket_dir}'",
                    "max_connections = 100",
                    "shared_buffers = 128MB",
                    "max_wal_size = 512MB",
                    "timezone = 'UTC'",
                    "log_timezone = 'UTC'",
                    "password_encryption = 'scram-sha-256'",
                    "logging_collector = off  # stderr goes to the stack's log file",
                    "log_line_prefix = '%m [%p] %q%u@%d '",
                    f"cluster_name = 'globalmart-{self.which}'",
                    "",
                ]
            ),
            # Socket: only the OS users below, as the superuser. TCP: passwords (scram) only.
            "pg_hba.conf": "\n".join(
                [
                    "# Written by the GlobalMart stack.",
                    "# TYPE  DATABASE  USER  ADDRESS  METHOD",
                    "local   all       all            peer map=globalmart",
                    "host    all       all   all      scram-sha-256",
                    "",
                ]
            ),
            "pg_ident.conf": "\n".join(
                ["# MAPNAME   SYSTEM-USERNAME   PG-USERNAME"]
                + [f"globalmart  {name}  {ADMIN_USER}" for name in os_users]
                + [""]
            ),
        }
        for filename, text in files.items():
            path = self.pgdata / filename
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                path.chmod(0o600)
                if user is not None:
                    os.chown(path, user.pw_uid, user.pw_gid)
        main_conf = self.pgdata / "postgresql.conf"
        include = "include_if_exists = 'globalmart.conf'"
        if include not in main_conf.read_text():
            # Last line wins: our settings override initdb's defaults.
            with open(main_conf, "a") as conf:
                conf.write(f"\n{include}\n")

    # -- running -----------------------------------------------------------------------------
    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        postgres = self._bindir() / "postgres"
        return self._as_server_user([str(postgres), "-D", str(self.pgdata)]), {"TZ": "UTC"}

    def _admin_connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        # The socket lives in our PGDATA, so reaching it proves the server is ours.
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=ADMIN_USER,
            dbname=dbname,
            connect_timeout=3,
            autocommit=True,
        )

    def healthy(self) -> bool:
        """Our server answers a query (socket), else the writer can log in (remote/adopted)."""
        if (self.socket_dir / f".s.PGSQL.{self.port}").exists():
            try:
                with self._admin_connect() as conn:
                    conn.execute("SELECT 1")
                # The socket answering does not prove TCP is up; applications use TCP.
                return port_open(self.host, self.port)
            except psycopg.Error:
                return False
        try:
            with connect(self.settings, self.which) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def after_start(self, progress: Progress) -> None:
        """Create the database and roles, and (re)apply their privileges; idempotent."""
        s = self.settings
        writer, reader = s.postgres_writer_user, s.postgres_reader_user
        w, r, db = sql.Identifier(writer), sql.Identifier(reader), sql.Identifier(self.database)
        try:
            conn = self._admin_connect()
        except psycopg.Error as exc:
            raise StackError(
                self.name,
                f"cannot reach the admin socket in {self.socket_dir}: {exc}".strip(),
                f"is another PostgreSQL using port {self.port}? `globalmart stack status`",
            )
        with conn:
            for role, password in (
                (writer, s.postgres_writer_password),
                (reader, s.postgres_reader_password),
            ):
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
                ).fetchone()
                verb = "ALTER" if exists else "CREATE"
                # ALTER every time: a password changed in .env takes effect on the next start.
                conn.execute(
                    sql.SQL(
                        "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                        "PASSWORD {}"
                    ).format(sql.SQL(verb), sql.Identifier(role), sql.Literal(password))
                )
                if not exists:
                    progress(f"{self.name}: created role {role}")
            # Belt and braces: even a stray write statement by the reader is refused.
            conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(r))
            for name in self.databases:
                if not conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone():
                    conn.execute(
                        sql.SQL(
                            "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0"
                        ).format(sql.Identifier(name), w)
                    )
                    progress(f"{self.name}: created database {name}")
            for stmt in (
                "ALTER DATABASE {db} OWNER TO {w}",
                "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
                "GRANT CONNECT ON DATABASE {db} TO {r}",
            ):
                conn.execute(sql.SQL(stmt).format(db=db, w=w, r=r))

        with self._admin_connect(self.database) as conn:
            conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(w))
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            # Schemas the writer owns (public and any it created): the reader sees what is there...
            schemas = [
                row[0]
                for row in conn.execute(
                    "SELECT n.nspname FROM pg_namespace n JOIN pg_roles o ON o.oid = n.nspowner"
                    " WHERE o.rolname = %s",
                    (writer,),
                )
            ]
            for schema in schemas:
                n = sql.Identifier(str(schema))
                conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(n, r))
                conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(n, r))
                conn.execute(
                    sql.SQL("GRANT SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(n, r)
                )
            # ... and whatever the writer creates later, in any schema.
            for kind in ("SELECT ON TABLES", "SELECT ON SEQUENCES", "USAGE ON SCHEMAS"):
                conn.execute(
                    sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT " + kind + " TO {}").format(
                        w, r
                    )
                )
        self._apply_contracts(progress)

    def _apply_contracts(self, progress: Progress) -> None:
        """Create/extend this database's tables from the sink Avro schemas (the only DDL source)."""
        from globalmart.schemas.ddl import apply_ddl

        report = apply_ddl(self.settings, self.which)
        if report.created or report.added_columns:
            progress(
                f"{self.name}: created {len(report.created)} table(s), added "
                f"{len(report.added_columns)} column(s) from the {self.which} schemas"
            )
        if report.drift:
            raise StackError(
                self.name,
                f"tables differ from the schemas: {'; '.join(report.drift[:5])}",
                "migrate them by hand or `stack reset` this database",
            )

    @property
    def databases(self) -> list[str]:
        """The instance's database, plus the registry's when Apicurio stores into PostgreSQL."""
        names = [self.database]
        if self.which == "warehouse" and self.settings.schema_registry_storage == "postgres":
            names.append(self.settings.schema_registry_db)
        return names

    def stop(self, progress: Progress, timeout: float = 30.0) -> None:
        """Fast shutdown: the postmaster rolls back open transactions and checkpoints.

        The default SIGTERM is PostgreSQL's "smart" mode, which waits for every client (e.g. a
        gateway's pool) to disconnect, so SIGINT it is; SIGQUIT (immediate) only as a fallback.
        """
        pid = self.owned_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        progress(f"{self.name}: stopping (pid {pid})")
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.owned_pid() is not None:
                time.sleep(0.2)
            if self.owned_pid() is None:
                break
        else:
            super().stop(progress, timeout=5.0)  # SIGTERM/SIGKILL to the group as a last resort
        self.pid_file.unlink(missing_ok=True)
        self._version = None


class PostgresRealtime(Postgres):
    """The real-time cluster (stream jobs write, the API reads)."""

    name = "postgres-realtime"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "realtime")


class PostgresWarehouse(Postgres):
    """The warehouse cluster (batch ETL writes, the API reads)."""

    name = "postgres-warehouse"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "warehouse")


def _can_traverse(folder: Path, uid: int, gids: set[int]) -> bool:
    st = folder.stat()
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)
