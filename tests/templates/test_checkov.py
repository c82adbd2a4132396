"""checkov on the final template: each finding is fixed, or suppressed there with a reason.

checkov reads CloudFormation. It knows a few SAM types (the function, the API), so it runs on
template.yaml as it is, and on the CloudFormation that SAM makes of it, where it also sees the
table, the role and the API's stage. The translation is samtranslator's, offline, as
`sam validate` does it: a local CodeUri stands in for an S3 one, and the managed-policy map
(which `sam validate` fetches from IAM only when a policy is named by its short name) is empty.
SAM passes each resource's Metadata to the resources it makes (`passthrough_metadata`), so the
template's suppressions (`Metadata: checkov: skip: [{id, comment}]`) reach them.

checkov runs once in the session (not once per xdist worker), in its own venv (its pins clash
with the project's): `python run.py test` sets it up from tools/checkov.lock. It runs offline:
no download of Prisma Cloud's guidelines, no check for a newer checkov.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from workshop import manifest
from workshop.local.sam_template import parse_yaml

REPO = manifest.REPO_ROOT
# Checks that stage 07 made pass: they fail on stage 06, which has neither setting.
FIXED_BY_07 = {
    "CKV_AWS_115": "reserved concurrency",
    "CKV_AWS_28": "point-in-time recovery",
}


def checkov_python() -> Path | None:
    """The Python of checkov's venv, which run.py keeps inside the workshop's venv."""
    spec = importlib.util.spec_from_file_location("workshop_run_py", REPO / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    python = run.venv_python(run.tool_venv_dir(Path(sys.prefix), "checkov"))
    return python if python.is_file() else None


def translate(template: Path) -> dict:
    """The CloudFormation that SAM makes of the template, with each resource's Metadata."""
    # Imported here, by the one worker that translates (once per session): the SAM translator
    # takes a third of a CPU-second to import, which every xdist worker would pay to collect.
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = parse_yaml(template)
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"  # as `sam validate` does
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    return translator.translate(
        sam, parameter_values={}, passthrough_metadata=True, get_managed_policy_map=dict
    )


def declared_skips(template: Path) -> dict[tuple[str, str], str]:
    """{(logical id, check id): comment} of every suppression in the template."""
    skips = {}
    for logical_id, resource in parse_yaml(template)["Resources"].items():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            skips[(logical_id, skip["id"])] = skip.get("comment", "")
    return skips


def origins(sam_template: Path, translated: dict) -> dict[str, str]:
    """{translated logical id: the SAM resource it came from}, for those that carry Metadata."""
    sam = parse_yaml(sam_template)["Resources"]
    by_metadata = {
        json.dumps(r["Metadata"], sort_keys=True): k for k, r in sam.items() if "Metadata" in r
    }
    return {
        logical_id: by_metadata[json.dumps(resource["Metadata"], sort_keys=True)]
        for logical_id, resource in translated["Resources"].items()
        if "Metadata" in resource
    }


def results(report: dict, file: str, kind: str) -> set[tuple[str, str]]:
    """{(logical id, check id)} of one file's checks of one kind (failed, passed, skipped)."""
    return {
        (check["resource"].split(".", 1)[1], check["check_id"])
        for check in report["results"].get(f"{kind}_checks", [])
        if check["file_path"] == f"/{file}"
    }


def run_checkov(python: Path, folder: Path) -> tuple[dict, dict]:
    """checkov's report on the final template, as SAM and as CloudFormation, and on stage 06."""
    final = REPO / "template.yaml"
    translated = translate(final)
    unsuppressed = copy.deepcopy(translated)
    for resource in unsuppressed["Resources"].values():
        resource.pop("Metadata", None)
    shutil.copy(final, folder / "final-sam.yaml")
    files = {
        "final-cfn.json": translated,
        "final-unsuppressed.json": unsuppressed,
        "stage06-cfn.json": translate(manifest.find("06").path / "template.yaml"),
    }
    for name, template in files.items():
        (folder / name).write_text(json.dumps(template, indent=1), encoding="utf-8")
    env = dict(os.environ, CKV_SKIP_PACKAGE_UPDATE_CHECK="true", BC_SKIP_MAPPING="TRUE")
    done = subprocess.run(
        [python, "-m", "checkov.main", "-d", folder, "--framework", "cloudformation"]
        + ["-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"checkov printed no report (exit {done.returncode}):\n{done.stderr}")
    return report, {"origins": origins(final, translated)}


@pytest.fixture(scope="module")
def checkov(tmp_path_factory, once_per_session) -> tuple[dict, dict]:
    """checkov's report, made once in the session whichever xdist worker asks first."""
    python = checkov_python()
    if python is None:
        pytest.skip(
            "checkov is not set up: `python run.py test` sets it up in a venv of its own "
            "(from tools/checkov.lock); run the tests that way"
        )
    return once_per_session(
        "checkov", lambda: run_checkov(python, tmp_path_factory.mktemp("checkov"))
    )


def test_checkov_finds_no_failed_check_on_the_final_template(checkov):
    report, _ = checkov
    assert report["summary"]["parsing_errors"] == 0
    for file in ("final-sam.yaml", "final-cfn.json"):
        assert results(report, file, "failed") == set(), file
        assert results(report, file, "passed"), f"checkov checked nothing in {file}"


def test_every_suppression_has_a_reason_and_stands_for_a_real_finding(checkov):
    report, found = checkov
    skips = declared_skips(REPO / "template.yaml")
    assert skips
    for (logical_id, check_id), comment in skips.items():
        assert len(comment.split()) >= 8, f"{logical_id} skips {check_id} without a reason"
    # Without the suppressions, checkov fails exactly the checks that they name: no
    # suppression is left over from a finding that is gone, and none hides two.
    failed = results(report, "final-unsuppressed.json", "failed")
    assert {(found["origins"][resource], check) for resource, check in failed} == set(skips)
    # With them, each finding is reported as skipped, with the template's own comment.
    skipped = [
        check
        for check in report["results"]["skipped_checks"]
        if check["file_path"] == "/final-cfn.json"
    ]
    assert {(found["origins"][c["resource"].split(".", 1)[1]], c["check_id"]) for c in skipped} == (
        set(skips)
    )
    for check in skipped:
        origin = found["origins"][check["resource"].split(".", 1)[1]]
        assert check["check_result"]["suppress_comment"] == skips[(origin, check["check_id"])]


@pytest.mark.parametrize("check_id", FIXED_BY_07, ids=FIXED_BY_07.values())
def test_what_07_turned_on_fails_on_06_and_passes_now(checkov, check_id):
    report, _ = checkov
    assert check_id in {check for _, check in results(report, "stage06-cfn.json", "failed")}
    assert check_id in {check for _, check in results(report, "final-cfn.json", "passed")}
