"""The site file: the batch workers' start-up (resources, module load and venv lines, environment, directives)
kept in one YAML file, checked against its schema; the flags of `hesp run` win over it."""

from __future__ import annotations

from pathlib import Path

from conftest import hesp

SITE = """\
scheduler: slurm
queue: production
account: theia
cores: 8
memory: 32GB
walltime: "02:00:00"
prologue: [module load gdal/3.8, source /opt/hesp/venv/bin/activate]
environment: {GDAL_CACHEMAX: "512", HESP_NOTE: two words}
python: /opt/hesp/venv/bin/python
job_directives: [--qos=normal]
"""


def test_the_batch_script_starts_as_the_site_file_says(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    result = hesp("run", "--jobqueue", "slurm", "--job-script", env={"HESP_SITE_CONFIG": str(site)})
    assert result.returncode == 0, result.stderr
    script = result.stdout
    expected = ["#SBATCH -p production", "#SBATCH -A theia", "#SBATCH --cpus-per-task=8", "#SBATCH -t 02:00:00",
                "#SBATCH --qos=normal", "module load gdal/3.8", "source /opt/hesp/venv/bin/activate",
                "export GDAL_CACHEMAX=512", "export HESP_NOTE='two words'", "/opt/hesp/venv/bin/python -m"]  # fmt: skip
    for line in expected:
        assert line in script, script
    assert script.index("module load") < script.index("/opt/hesp/venv/bin/python -m")  # set up, then the worker


def test_flags_win_over_the_site_file(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    result = hesp("run", "--jobqueue", "slurm", "--site", str(site), "--queue", "debug", "--cores", "2", "--job-script")
    assert result.returncode == 0, result.stderr
    assert "#SBATCH -p debug" in result.stdout and "#SBATCH --cpus-per-task=2" in result.stdout
    assert "#SBATCH -A theia" in result.stdout


def test_a_wrong_site_file_is_one_clear_line(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE.replace("cores: 8", "cores: many"))
    result = hesp("run", "--jobqueue", "slurm", "--site", str(site), "--job-script")
    assert result.returncode == 1 and result.stderr.startswith(f"error: site file {site}: cores: "), result.stderr
    site.write_text(SITE)
    result = hesp("run", "--jobqueue", "pbs", "--site", str(site), "--job-script")
    assert result.returncode == 1 and result.stderr == f"error: site file {site} is for slurm, not --jobqueue pbs\n"
