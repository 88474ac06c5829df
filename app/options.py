"""``vidpipe run``'s job options, made from :class:`vidpipe.config.JobSpec`: one option
per field, with the field's name (``restore_faces_model`` -> ``--restore-faces-model``),
default, description and bounds, grouped in ``--help`` by the step that reads it. The
names of 0.1 (``config.RENAMED``) still work, hidden, with a note, until 0.3."""

from __future__ import annotations

import enum
import inspect
import typing
from collections.abc import Callable
from typing import Any, Literal

import typer
from annotated_types import Ge, Le
from pydantic.fields import FieldInfo

from vidpipe.config import RENAMED, JobSpec, flag

#: option name -> old flag spelling, where the 0.1 flag was not the field name
_OLD_FLAGS = {"face_restore": "--face-restore"}


def _bounds(info: FieldInfo) -> dict[str, Any]:
    """Inclusive bounds for typer (shown in --help); JobSpec checks every bound itself."""
    out: dict[str, Any] = {}
    for m in info.metadata:
        if isinstance(m, Ge):
            out["min"] = m.ge
        elif isinstance(m, Le):
            out["max"] = m.le
    return out


def _kind(name: str, annotation):
    """The type typer parses a JobSpec field as: choices become an Enum of strings."""
    args = typing.get_args(annotation)
    base = next(a for a in args if a is not type(None)) if type(None) in args else annotation
    if typing.get_origin(base) is Literal:
        return enum.Enum(name, {str(v): str(v) for v in typing.get_args(base)}, type=str)
    return base if base in (bool, int, float) else str


def _help(info: FieldInfo) -> str:
    text = info.description or info.title or ""
    return text[:1].upper() + text[1:] + ("." if text and not text.endswith(".") else "")


def _fields(step: str | None) -> list[str]:
    return [n for n in JobSpec.model_fields if step is None or JobSpec.step_of(n) == step]


def job_parameters(step: str | None = None) -> list[inspect.Parameter]:
    """One keyword parameter per JobSpec field (of ``step``, when given), then one hidden
    one per old name."""
    params = []
    hints = typing.get_type_hints(JobSpec)
    for name in _fields(step):
        info = JobSpec.model_fields[name]
        kind = _kind(name, hints[name])
        decls = [f"{flag(name)}/--no-{name.replace('_', '-')}"] if kind is bool else [flag(name)]
        default = kind(info.default) if isinstance(kind, enum.EnumMeta) and info.default is not None else info.default
        extra = _bounds(info) if kind in (int, float) else {}
        text = _help(info)
        if isinstance(kind, enum.EnumMeta) and len("|".join(kind.__members__)) > 40:  # too wide for 80 columns
            extra["metavar"] = f"<{name.rsplit('_', 1)[-1]}>"
            text += f" One of: {', '.join(kind.__members__)}."
        option = typer.Option(
            default,
            *decls,
            help=text,
            rich_help_panel=f"Step {JobSpec.step_of(name)}",
            show_default=info.default is not None,
            **extra,
        )
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=typing.Optional[kind] if info.default is None else kind,
            )
        )
    for old, new in _renamed(step).items():
        kind = _kind(old, hints[new])
        decl = _OLD_FLAGS.get(old, flag(old))
        if kind is bool and old not in _OLD_FLAGS:
            decl = f"{decl}/--no-{old.replace('_', '-')}"
        option = typer.Option(None, decl, hidden=True)
        params.append(
            inspect.Parameter(
                f"old_{old}", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=typing.Optional[kind]
            )
        )
    return params


class Grouped(typer.core.TyperCommand):
    """``--help`` in plain text (every option name whole at 80 columns, where rich's table
    cuts them), with the options grouped by the step that reads them."""

    def format_options(self, ctx, formatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                groups.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
        for name, rows in groups.items():
            with formatter.section(name):
                formatter.write_dl(rows)


def _plain(value):
    return value.value if isinstance(value, enum.Enum) else value


def _renamed(step: str | None) -> dict[str, str]:
    return {old: new for old, new in RENAMED.items() if new in _fields(step)}


def with_job_options(command: Callable[..., None] | None = None, *, step: str | None = None):
    """Give ``command(*own, spec_fields: dict, renamed: list[str])`` the job options (those
    of ``step`` only, when given): the wrapper typer sees has ``command``'s own parameters
    plus each JobSpec field, with the same names, defaults and checks everywhere."""
    if command is None:
        return lambda c: with_job_options(c, step=step)
    own = list(inspect.signature(command, eval_str=True).parameters.values())[:-2]
    fields = set(_fields(step))

    def wrapper(**kwargs):
        values = {k: _plain(kwargs.pop(k)) for k in list(kwargs) if k in fields}
        renamed = []
        for old, new in _renamed(step).items():
            value = kwargs.pop(f"old_{old}")
            if value is not None:
                values[new] = _plain(value)
                renamed.append(f"{_OLD_FLAGS.get(old, flag(old))} is now {flag(new)}")
        return command(**kwargs, spec_fields=values, renamed=renamed)

    params = own + job_parameters(step)
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    wrapper.__name__, wrapper.__doc__ = command.__name__, command.__doc__
    return wrapper
