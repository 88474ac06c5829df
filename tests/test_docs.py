"""The docs stay short and say only what exists: line limits, every `--option` they name
is a real one, relative links and file references resolve, named tests, make targets and
environment variables exist. Reads files and imports the CLI; no subprocesses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

README_MAX_LINES = 250
DOCS_MAX_LINES = 900  # all of docs/*.md together

#: flags of other tools that the docs show, each with where it comes from
OTHER_TOOLS = {
    "--help": "click's help option, on every vidpipe command",
    "--active-slots": "prefect gcl update NAME --active-slots 0 (reliability.md)",
}

#: a flag: two dashes and a letter, not inside a longer word or a longer run of dashes
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(\*)?", re.IGNORECASE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def lines(page: Path) -> int:
    return len(text(page).splitlines())


def test_readme_and_docs_stay_within_their_line_limits():
    assert lines(README) <= README_MAX_LINES, f"README.md has {lines(README)} lines, the limit is {README_MAX_LINES}"
    total = sum(lines(p) for p in DOCS)
    assert total <= DOCS_MAX_LINES, f"docs/*.md have {total} lines together, the limit is {DOCS_MAX_LINES}"


def _cli_options() -> set[str]:
    """Every option name of every vidpipe command and subcommand, hidden ones included."""
    import typer

    from app.cli import app

    found: set[str] = set()

    def walk(command) -> None:
        for param in command.params:
            found.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():  # typer bundles its own click: duck-type groups
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def _jobspec_options() -> set[str]:
    """The `vidpipe run` option of each JobSpec field, and the --no- form of each yes/no field."""
    from vidpipe.config import JobSpec

    found = set()
    for name, field in JobSpec.model_fields.items():
        flag = "--" + name.replace("_", "-")
        found.add(flag)
        if field.annotation is bool:
            found.add("--no-" + flag[2:])
    return found


@pytest.fixture(scope="module")
def known() -> set[str]:
    return _cli_options() | _jobspec_options()


def test_the_cli_walk_finds_the_job_options(known):
    # guards the walk itself: if it found nothing, every page would pass
    assert {
        "--restore-faces-model",
        "--no-restore-faces",
        "--upscale-colour-fix",
        "--hdr",
        "--spread",
        "--older-than",
        "--database-url",
        "--out",
    } <= known
    assert _jobspec_options() <= _cli_options(), "every JobSpec field is a vidpipe run option"


def test_every_option_the_docs_name_exists(known):
    assert not set(OTHER_TOOLS) & known, "an allow-listed flag is a vidpipe option: take it off the list"
    wrong = []
    for page in PAGES:
        for n, line in enumerate(text(page).splitlines(), 1):
            for m in FLAG.finditer(line):
                token = m.group(0).rstrip("*")
                if m.group(1) or token.endswith("-"):  # `--upscale-*`: some option starts so
                    ok = any(o.startswith(token) for o in known)
                else:
                    ok = token in known or token in OTHER_TOOLS
                if not ok:
                    wrong.append(f"{page.relative_to(ROOT)}:{n}: {m.group(0)}")
    assert not wrong, (
        "options that no vidpipe command has (fix the doc, or allow-list another tool's flag):\n" + "\n".join(wrong)
    )


def test_relative_links_resolve():
    broken = []
    for page in PAGES:
        for n, line in enumerate(text(page).splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue  # a URL or an anchor on the same page
                path = (page.parent / target.split("#", 1)[0]).resolve()
                if not path.is_relative_to(ROOT) or not path.exists():
                    broken.append(f"{page.relative_to(ROOT)}:{n}: {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_named_files_tests_and_make_targets_exist():
    makefile = text(ROOT / "Makefile")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    missing = []
    for page in PAGES:
        body = text(page)
        for doc in set(re.findall(r"\bdocs/[\w.-]+\.md\b", body)):
            if not (ROOT / doc).is_file():
                missing.append(f"{page.name}: {doc}")
        for name in set(re.findall(r"\b(test_\w+\.py)\b", body)):
            if not (ROOT / "tests" / name).is_file():
                missing.append(f"{page.name}: tests/{name}")
        for name, test in set(re.findall(r"\b(test_\w+\.py)::(test_\w+)", body)):
            source = ROOT / "tests" / name
            if not source.is_file() or not re.search(rf"^def {test}\(", text(source), re.MULTILINE):
                missing.append(f"{page.name}: {name}::{test}")
        for target in set(re.findall(r"`make ([a-z][\w-]*)", body)):
            if target not in targets:
                missing.append(f"{page.name}: make {target}")
    assert not missing, "named in the docs but not in the repository:\n" + "\n".join(sorted(missing))


def test_environment_variables_named_in_the_docs_are_read_by_the_code():
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("vidpipe", "tasks", "flows", "deployments", "app")
        for p in (ROOT / folder).rglob("*.py")
    )
    unknown = sorted(
        {v for page in PAGES for v in re.findall(r"\bVIDPIPE_[A-Z_]*[A-Z]\b", text(page))}
        - set(re.findall(r"\bVIDPIPE_[A-Z_]*[A-Z]\b", code + text(ROOT / "Makefile")))
    )
    assert not unknown, f"environment variables the docs name and no code reads: {unknown}"


@pytest.mark.parametrize("marker", ["prepare", "keys", "models"])
def test_each_marked_statement_is_there_once(marker):
    """`<!-- name -->` marks a sentence that follows the code closely (docs/architecture.md): it
    must stay findable, with its statement on the next line."""
    found = [(page, body) for page in PAGES if f"<!-- {marker} -->" in (body := text(page))]
    assert len(found) == 1 and found[0][1].count(f"<!-- {marker} -->") == 1, f"<!-- {marker} --> once in the docs"
    after = found[0][1].split(f"<!-- {marker} -->", 1)[1].lstrip("\n").splitlines()
    assert after and after[0].strip(), f"<!-- {marker} --> is followed by its statement"
