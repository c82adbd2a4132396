"""The stage manifest, `stages/stages.toml`: the one list the CLI, the tests and the README read."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from workshop.errors import WorkshopError

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES_DIR = REPO_ROOT / "stages"
MANIFEST = STAGES_DIR / "stages.toml"
FINAL = "final"  # the deployable app at the top of the repository
FINAL_STACK = "visit-counter"


@dataclass(frozen=True)
class Stage:
    id: str
    folder: str
    title: str
    story: str = ""
    symptom: str = ""
    fix: str = ""
    kind: str = "history"
    hints: tuple[str, ...] = field(default_factory=tuple)
    broken: str | None = None  # a "beyond" stage: the stage whose code shows the flaw it fixes
    check: str | None = None  # its story check: a module of workshop/learn/checks/ (an exercise)
    goal: str = ""  # what the learner's copy must do to pass that check
    solution: str | None = None  # a history exercise's fix: a stage id or a folder

    @property
    def path(self) -> Path:
        return STAGES_DIR / self.folder

    @property
    def stack_name(self) -> str:
        return f"stage{self.id}"


def stages() -> list[Stage]:
    """Every stage, in order."""
    data = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    known = set(Stage.__dataclass_fields__)
    return [
        Stage(**{k: (tuple(v) if k == "hints" else v) for k, v in entry.items() if k in known})
        for entry in data["stage"]
    ]


def markdown_table() -> str:
    """The README's table of stages, made from the manifest (`workshop stages --markdown`)."""
    rows = ["| Stage | Title | What you will see | Folder |", "| --- | --- | --- | --- |"]
    for stage in stages():
        symptom = " ".join(stage.symptom.split()).replace("|", "\\|")
        rows.append(
            f"| {stage.id} | {stage.title} | {symptom} | [`stages/{stage.folder}`]"
            f"(stages/{stage.folder}/README.md) |"
        )
    return "\n".join(rows) + "\n"


def lookup(name: str) -> Stage | None:
    """A stage by id (`02`, `2`), folder (`02-decimal-bug`) or folder without its number."""
    wanted = name.strip().strip("/\\").lower()
    wanted = wanted.removeprefix("stages/").removeprefix("stages\\")
    for stage in stages():
        number = stage.id.lstrip("0")
        if wanted in (stage.id, number, stage.folder, stage.folder.split("-", 1)[1]):
            return stage
    return None


def find(name: str) -> Stage:
    """The stage `name` names (as `lookup` reads it); a WorkshopError that lists the stages."""
    stage = lookup(name)
    if stage is None:
        raise WorkshopError(f"no stage {name!r}: the stages are {ids(stages())}")
    return stage


def ids(some: list[Stage]) -> str:
    """Stage ids as a message lists them: `01, 02, 03`."""
    return ", ".join(stage.id for stage in some)


@dataclass(frozen=True)
class Project:
    """A SAM project the harness can run: a stage, the final app, or a folder of the learner's."""

    path: Path
    stack_name: str
    label: str


def _final() -> Project:
    return Project(REPO_ROOT, FINAL_STACK, "the final app")


def _stage_project(stage: Stage) -> Project:
    return Project(stage.path, stage.stack_name, f"stage {stage.id} ({stage.title})")


def project(name: str | None) -> Project:
    """Resolve a stage name, `final` (the default) or a path to a SAM project folder."""
    if name is None or name.lower() == FINAL:
        return _final()
    if not name.strip():  # Path("") is ".": an unset $stage in PowerShell would serve a folder
        from workshop.learn import run_py

        raise WorkshopError(
            f"an empty stage name: choose one of {ids(stages())}, or {FINAL!r} (see "
            f"`{run_py()} stages`), or a folder that holds a template.yaml, such as `.`"
        )
    path = Path(name).expanduser()
    if (path / "template.yaml").is_file():
        return _folder_project(path.resolve())
    stage = lookup(name)
    if stage is not None:
        return _stage_project(stage)
    from workshop.learn import run_py, shown  # its messages say what to type where one stands

    # A name that is a folder, or could only be a path, is read as one: say what is missing.
    if path.exists() or not re.fullmatch(r"[\w.-]+", name):
        stages_too = f"a stage (see `{run_py()} stages`)"
        if path.is_file():
            raise WorkshopError(
                f"{name} is a file: give the folder that holds it "
                f"(`{shown(path.resolve().parent)}`), or {stages_too}"
            )
        if not path.is_dir():
            raise WorkshopError(
                f"{name}: no such folder; give {stages_too} or a folder that holds a SAM "
                "template.yaml"
            )
        above = template_above(path)
        held = f" (the folder above, `{shown(above)}`, holds one)" if above else ""
        raise WorkshopError(
            f"{name}: no template.yaml there{held}; give {stages_too} or the folder of a SAM "
            "project, the one that holds its template.yaml"
        )
    raise WorkshopError(
        f"no stage {name!r}: choose one of {ids(stages())}, or {FINAL!r} (see "
        f"`{run_py()} stages`), or a folder that holds a template.yaml, such as `.`"
    )


def template_above(path: Path) -> Path | None:
    """The nearest folder above `path` that holds a template.yaml: the project it is inside."""
    return next((p for p in path.resolve().parents if (p / "template.yaml").is_file()), None)


def _folder_project(path: Path) -> Project:
    """A folder's project: a stage's folder, or the repository, is that stage, or the final app."""
    if path == REPO_ROOT:
        return _final()
    for stage in stages():
        if path == stage.path:
            return _stage_project(stage)
    slug = re.sub(r"[^A-Za-z0-9-]+", "-", path.name).strip("-") or "app"
    return Project(path, slug if slug[0].isalpha() else f"app-{slug}", str(path))
