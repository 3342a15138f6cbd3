"""The README runs as written: every shell block and Python snippet, top to bottom, against the emulator.

The blocks run as a newcomer would run them: one shell session in a copy of the checkout (so the
README's ``pip install .`` builds the package and ``cp example_dags/...`` finds the DAGs), a fresh
``AIRFLOW_HOME`` with Airflow's default settings (example DAGs loading included), and ``TELZINO_*``
variables pointing at an emulator instead of api.telzino.com. ``python`` and ``pip`` are those of a
reader's venv: the test venv's Airflow and pins, without the provider and without pytest, so a block
that needs something the README does not install fails here too. How each fenced block is treated:

* ``bash``: run as is, in the shared session (exports carry over to later blocks).
* ``python`` whose first line is ``# <path>``: written to that path (a DAG or test file); a later
  ``bash`` block runs it, as the README says. Any other ``python`` block is run with ``python``.
* ``text``: sample output, not run.
* ``<!-- readme-test: skip: <reason> -->`` on the line before a block: skipped, with the reason
  (the README says so in plain words too). ``<!-- readme-test: server -->``: a command that serves
  until stopped; it must print its banner, then it gets SIGTERM and must exit 0.

Every block that runs must succeed and log no error, except errors that are Airflow's own (see
``AIRFLOWS_OWN``).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from telzino_provider.emulator import TelzinoEmulator
from telzino_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS

from .test_packaging import uv

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- readme-test: (skip: (?P<reason>.+)|(?P<server>server)) -->$")
FILE_LINE = re.compile(r"^# (?P<path>\S+\.py)$")
ERROR_LINE = re.compile(r"\bERROR\b|\[error\s*\]")
# Airflow's own errors, not the provider's: Airflow 2.10's example tutorial_objectstorage.py fails to
# import with today's universal-pathlib, in every deployment that loads examples; and Airflow 3.0 and
# 3.1 log "Variable not found" at error level when a template reads an absent Variable with a default
# (the examples' `var.value.get('telzino_conn_id', 'telzino_default')`); 3.2 logs it at debug level.
_AIRFLOWS_OWN = [r"Failed to import: \S*/airflow/example_dags/"]
if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_2_PLUS:
    _AIRFLOWS_OWN.append(r"\[error\s*\] Variable not found .*\[airflow\.sdk\.api\.client\]")
AIRFLOWS_OWN = re.compile("|".join(_AIRFLOWS_OWN))
SCRIPT_TIMEOUT = 900


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None = None
    server: bool = False

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.lang}"

    @property
    def file_path(self) -> str | None:
        match = FILE_LINE.match(self.text.splitlines()[0]) if self.lang == "python" else None
        return match["path"] if match else None


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the readme-test marker on the line before it."""
    lines = path.read_text().splitlines()
    blocks, index = [], 0
    while index < len(lines):
        fence = re.match(r"^```(\S*)$", lines[index])
        if not fence:
            index += 1
            continue
        end = lines.index("```", index + 1)
        marker = MARKER.match(lines[index - 1]) if index else None
        blocks.append(
            Block(
                line=index + 1,
                lang=fence[1],
                text="\n".join(lines[index + 1 : end]) + "\n",
                skip=marker["reason"] if marker and marker["reason"] else None,
                server=bool(marker and marker["server"]),
            )
        )
        index = end + 1
    return blocks


BLOCKS = fenced_blocks(README)
RUNNABLE = [b for b in BLOCKS if b.lang in ("bash", "python")]


# -- the script: every runnable block in one shell session ----------------------------------------


def _script(snippets: Path) -> str:
    parts = ["set -euo pipefail"]
    for block in RUNNABLE:
        parts.append(f'echo "@@block {block.line} $EPOCHREALTIME"')
        if block.skip:
            continue
        if block.lang == "bash" and block.server:
            parts.append(_server(block, snippets / f"server_{block.line}.out"))
        elif block.lang == "bash":
            parts.append(block.text)
        elif block.file_path:
            parts.append(f'mkdir -p "$(dirname "{block.file_path}")"')
            parts.append(f"cat > \"{block.file_path}\" <<'README_PY_EOF'\n{block.text}README_PY_EOF")
        else:
            path = snippets / f"snippet_{block.line}.py"
            path.write_text(block.text)
            parts.append(f'python "{path}"')
    parts.append('echo "@@block end $EPOCHREALTIME"')
    return "\n".join(parts) + "\n"


def _server(block: Block, out: Path) -> str:
    """Start the block's one command in the background, wait for its banner, stop it, check exit 0."""
    (command,) = [line for line in block.text.splitlines() if line.strip()]
    banner = "^export AIRFLOW_CONN_TELZINO_DEFAULT="
    return f"""{command} > "{out}" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 150); do grep -q '{banner}' "{out}" && break; sleep 0.2; done
cat "{out}"
grep -q '{banner}' "{out}"
grep -q '^export TELZINO_API_URL=' "{out}"
kill -TERM $server_pid
wait $server_pid
trap - EXIT
"""


# What the test venv has for the suite only; the reader's venv goes without them.
NOT_THE_READERS = {
    "airflow-provider-telzino",
    "pytest",
    "pluggy",
    "iniconfig",
    "ruff",
    "mypy",
    "types-requests",
}


def _checkout_copy(work: Path) -> None:
    """The files a fresh clone has (the working tree's, uncommitted changes included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, work / name)


def _reader_venv(venv: Path) -> Path:
    """A venv with pip and the test venv's packages (Airflow and its pins), less ``NOT_THE_READERS``."""
    frozen = subprocess.run(
        [uv(), "pip", "freeze", "--python", sys.executable], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    keep = [
        line
        for line in frozen
        if not line.startswith("-e ") and re.split(r"[=@ ]", line)[0].lower() not in NOT_THE_READERS
    ]
    (venv.parent / "reader-requirements.txt").write_text("\n".join(keep) + "\n")
    subprocess.run([uv(), "venv", "--quiet", "--seed", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(python),
            "-r",
            str(venv.parent / "reader-requirements.txt"),
        ],
        check=True,
    )
    assert subprocess.run([str(python), "-c", "import pytest"], capture_output=True).returncode != 0
    return venv / "bin"


def _env(home: Path, emu: TelzinoEmulator, agent: str, bin_dir: Path) -> dict[str, str]:
    """The caller's environment without Airflow settings: a newcomer's fresh AIRFLOW_HOME."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW_", "AIRFLOW__", "PYTEST_", "TELZINO_", "VIRTUAL_ENV"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        VIRTUAL_ENV=str(bin_dir.parent),
        TELZINO_API_URL=emu.base_url,
        TELZINO_ACCESS_TOKEN=emu.token,
        TELZINO_CLIENT_ID=emu.client_id,
        TELZINO_CLIENT_SECRET=emu.client_secret,
        TELZINO_AGENT_ID=agent,
    )
    return env


@dataclass
class Run:
    returncode: int
    outputs: dict[int | str, str]  # block line -> its output
    seconds: dict[int | str, float]  # block line -> how long it ran
    emulator_calls: list[dict]
    agent: str
    checkout: Path  # the copy the blocks ran in


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("readme")
    work, snippets = base / "work", base / "snippets"
    work.mkdir()
    snippets.mkdir()
    _checkout_copy(work)  # "from the checkout"
    bin_dir = _reader_venv(base / "reader-venv")
    # 10 emulated minutes per real second: a placed call ends within a second or two.
    with TelzinoEmulator(speed=600) as emu:
        agent = emu.add_agent("Your agent")  # not the example DAGs' default agent: the Variable must win
        now = emu.now()
        emu.seed_calls(48, start=now - timedelta(hours=3), end=now, agent_id=agent)
        env = _env(base / "airflow-home", emu, agent, bin_dir)
        assert "AIRFLOW__CORE__LOAD_EXAMPLES" not in env  # Airflow's default: examples load
        proc = subprocess.run(
            ["bash", "-c", _script(snippets)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=SCRIPT_TIMEOUT,
        )
        calls = emu.calls(agent)
    outputs, seconds = _split(proc.stdout)
    yield Run(proc.returncode, outputs, seconds, calls, agent, work)


def _split(output: str) -> tuple[dict[int | str, str], dict[int | str, float]]:
    """Each block's output and duration, from the ``@@block LINE EPOCH`` lines the script prints."""
    outputs: dict[int | str, str] = {}
    started: dict[int | str, float] = {}
    current: int | str | None = None
    for line in output.splitlines():
        if line.startswith("@@block "):
            _, tag, epoch = line.split()
            current = int(tag) if tag.isdigit() else tag
            outputs[current], started[current] = "", float(epoch)
        elif current is not None:
            outputs[current] += line + "\n"
    order = sorted(started.items(), key=lambda item: item[1])
    seconds = {tag: round(end - start, 1) for (tag, start), (_, end) in zip(order, order[1:], strict=False)}
    return outputs, seconds


# -- the tests --------------------------------------------------------------------------------------


def test_every_block_is_bash_python_or_text():
    assert {b.lang for b in BLOCKS} <= {"bash", "python", "text"}, [(b.line, b.lang) for b in BLOCKS]
    assert [b for b in BLOCKS if b.skip] and len([b for b in BLOCKS if b.skip]) <= 2  # very few


def test_make_commands_are_makefile_targets():
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    named = set(re.findall(r"`make ([\w-]+)", README.read_text()))
    named |= {line.split()[1] for b in RUNNABLE for line in b.text.splitlines() if line.startswith("make ")}
    assert {"demo", "test", "lint", "bench"} <= named <= targets


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs_as_written(block: Block, readme_run: Run):
    if block.skip:
        pytest.skip(f"README line {block.line}: {block.skip}")
    print(f"README line {block.line}: {readme_run.seconds.get(block.line)} s")
    assert block.line in readme_run.outputs, (
        f"not reached: an earlier block failed (exit {readme_run.returncode})"
    )
    output = readme_run.outputs[block.line]
    next_started = [line for line in readme_run.outputs if line != block.line and _after(line, block.line)]
    assert next_started, f"README line {block.line} failed (exit {readme_run.returncode}):\n{output[-6000:]}"
    errors = [
        line for line in output.splitlines() if ERROR_LINE.search(line) and not AIRFLOWS_OWN.search(line)
    ]
    assert not errors, f"README line {block.line} logged errors:\n" + "\n".join(errors[:20])


def _after(tag: int | str, line: int) -> bool:
    return tag == "end" or (isinstance(tag, int) and tag > line)


def test_account_block_placed_one_call_for_your_agent(readme_run: Run):
    """The example DAG read the Variable (not its default agent) and dialled once, to the number shown."""
    placed = [c for c in readme_run.emulator_calls if c["to_number"] == "+12025550123"]
    assert [(c["status"], c["request_metadata"]["crm_id"]) for c in placed] == [("completed", "CRM-1001")]


def test_first_dag_found_the_seeded_calls(readme_run: Run):
    (block,) = [b for b in RUNNABLE if b.lang == "bash" and "telzino_first_dag" in b.text]
    counts = re.findall(r"(\d+) calls ended in this interval", readme_run.outputs.get(block.line, ""))
    assert counts and int(counts[0]) > 0, readme_run.outputs.get(block.line, "")[-3000:]


def test_docs_python_fragments_parse():
    """The reference pages' snippets are fragments (the README's are complete), but valid Python."""
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in fenced_blocks(page):
            if block.lang == "python":
                ast.parse(block.text, filename=f"{page.name}:{block.line}")


def test_blocks_leave_no_file_git_would_see(readme_run: Run):
    """What the blocks write into the checkout (dags/, dag_tests/, .airflow-test/, the build) is ignored."""
    ours = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    left = sorted(
        str(p.relative_to(readme_run.checkout)) for p in readme_run.checkout.rglob("*") if p.is_file()
    )
    new = [name for name in left if name not in set(ours)]
    assert new, "the blocks wrote nothing into the checkout: did they run?"
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT,
        input="\n".join(new),
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(set(new) - set(ignored)) == []


def test_install_pins_are_the_makefiles():
    """The Install section's table of pins says what the Makefile installs with each Airflow series."""
    makefile = dict(re.findall(r"^PINS_([\d.]+) := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE))
    install = README.read_text().split("## Install", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for series, pins in re.findall(r"^\| ([\d., ]+) \| (.+) \|$", install, re.MULTILINE):
        for one in series.split(", "):
            table[one] = " ".join(re.findall(r'"([^"]+)"', pins))
    assert {s: p for s, p in table.items() if p} == makefile
    assert {"2.10", "2.11", "3.0", "3.1", "3.2", "3.3"} <= set(table)
