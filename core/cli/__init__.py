"""`python -m core ...`: the automation interface support staff script against.

Each area lives in its own module with `register(commands: Commands)`; a module adds top-level
commands or subcommands to a group another module created (e.g. `device config`). The CLI acts as
the provider, audited as the operating-system user, unless `--as ACCOUNT` names an account.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from core.catalogue import CatalogueError
from core.errors import VoipAdminError
from core.settings import Settings, SettingsError

# Modules that register commands, in help order.
COMMAND_MODULES = (
    "core.cli.data",
    "core.cli.calls",
    "core.cli.config",
    "core.cli.bulk",
    "core.cli.diagnosis",
    "core.cli.bans",
    "core.cli.phonebook",
    "core.cli.alerts",
    "core.cli.respond",
    "core.cli.topstop",
    "core.cli.serve",
    "core.cli.sip",
    "core.cli.switch",
    "core.cli.up",
)


class _Parser(argparse.ArgumentParser):
    """Refused input is one line on stderr (scripts read it), not the usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


class Commands:
    """Named argparse groups so several modules can add subcommands to one group."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        self._top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
        self._groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}

    def command(
        self,
        name: str,
        handler: Callable[[Context, argparse.Namespace], int | None],
        help: str,
        group: str | None = None,
    ) -> argparse.ArgumentParser:
        if group is None:
            p = self._top.add_parser(name, help=help, description=help)
        else:
            p = self.group(group).add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    def group(self, name: str, help: str = "") -> argparse._SubParsersAction[argparse.ArgumentParser]:
        if name not in self._groups:
            gp = self._top.add_parser(name, help=help or f"{name} commands", description=help or None)
            self._groups[name] = gp.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND", required=True)
        return self._groups[name]


class Context:
    """What a command handler gets: settings, the engine, the acting account, output helpers."""

    def __init__(self, settings: Settings, as_account: str | None, as_json: bool) -> None:
        self.settings = settings
        self.as_account = as_account
        self.json = as_json
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from core.db import engine_from_settings

            self._engine = engine_from_settings(self.settings)
        return self._engine

    def actor(self, session: Any) -> Any:
        from core.accounts import actor_by_username
        from core.permissions import system_actor

        if self.as_account:
            return actor_by_username(session, self.as_account)
        return system_actor(_os_user())

    def out(self, data: Any, text: str | Callable[[], str] | None = None) -> None:
        """Print `data` as JSON with --json, else the human text (or a key: value dump)."""
        if self.json:
            print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
        elif text is not None:
            print(text() if callable(text) else text)
        else:
            print(_plain(data))

    def out_rows(self, rows: list[dict[str, Any]], row_text: Callable[[dict[str, Any]], str]) -> None:
        """A listing: JSON with --json, else one formatted line per row."""
        self.out(rows, lambda: "\n".join(row_text(r) for r in rows))


def _plain(data: Any, indent: str = "") -> str:
    if isinstance(data, dict):
        rows = []
        for k, v in data.items():
            if isinstance(v, (dict, list)) and v:
                rows.append(f"{indent}{k}:\n{_plain(v, indent + '  ')}")
            else:
                rows.append(f"{indent}{k}: {'' if v is None else v}")
        return "\n".join(rows)
    if isinstance(data, list):
        return "\n".join(_plain(v, indent) if not isinstance(v, dict) else _plain(v, indent) + "\n" for v in data)
    return f"{indent}{data}"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="voipadmin command line")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--as", dest="as_account", metavar="ACCOUNT", help="act as this dashboard account")
    commands = Commands(parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Accept --json / --as anywhere on the line, as scripts put them after the subcommand.
    as_json = "--json" in argv
    argv = [a for a in argv if a != "--json"]
    as_account = None
    for i, a in enumerate(argv):
        if a == "--as" and i + 1 < len(argv):
            as_account = argv[i + 1]
            del argv[i : i + 2]
            break
        if a.startswith("--as="):
            as_account = a.split("=", 1)[1]
            del argv[i]
            break
    parser = build_parser()
    args = parser.parse_args(argv)
    args.as_account = as_account
    try:
        ctx = Context(Settings.from_env(), args.as_account, as_json)
        return int(args.handler(ctx, args) or 0)
    except (VoipAdminError, SettingsError, CatalogueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
