"""The README's quickstart stays true: its `make` commands are Makefile targets, and its
real-account commands run as shown, here against the emulator instead of api.telzino.com."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from telzino_provider.emulator import TelzinoEmulator

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "README.md"


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", QUICKSTART.read_text(), re.DOTALL)


def test_quickstart_make_commands_are_makefile_targets() -> None:
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    commands = [line.split() for block in bash_blocks() for line in block.splitlines()]
    make_targets = [words[1] for words in commands if words and words[0] == "make"]

    assert {"demo", "test"} <= set(make_targets)
    assert set(make_targets) <= targets


def test_quickstart_real_account_commands_run(tmp_path: Path) -> None:
    (block,) = [b for b in bash_blocks() if "airflow connections add" in b]
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)  # a deployment has its dags folder already
    drop = {"AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__UNIT_TEST_MODE", "AIRFLOW_CONN_TELZINO_DEFAULT"}
    with TelzinoEmulator(speed=60) as emu:
        agent = emu.add_agent("Your agent")  # not the DAGs' default agent: the Variable must win
        env = {name: value for name, value in os.environ.items() if name not in drop}
        env.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'airflow.db'}",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
            TELZINO_API_URL=emu.base_url,
            TELZINO_ACCESS_TOKEN=emu.token,
            TELZINO_AGENT_ID=agent,
        )
        migrate = subprocess.run(["airflow", "db", "migrate"], env=env, capture_output=True, text=True)
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

        shown = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block], env=env, cwd=ROOT, capture_output=True, text=True
        )

        assert shown.returncode == 0, shown.stdout[-4000:] + shown.stderr[-4000:]
        posts = [r for r in emu.requests if r.method == "POST" and r.path.endswith("/outbound-calls")]
        assert [(r.path, r.body["to_number"], r.body["metadata"]["crm_id"]) for r in posts] == [
            (f"/v1/agents/{agent}/outbound-calls", "+12025550123", "CRM-1001")
        ]
        assert [c["status"] for c in emu.calls(agent)] == ["completed"]
    assert sorted(p.name for p in (home / "dags").glob("*.py")) == sorted(
        p.name for p in (ROOT / "example_dags").glob("telzino_*.py")
    )
