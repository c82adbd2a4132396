"""SAM's Globals section, read as SAM reads it.

The reference runs: aws-sam-translator (`samtranslator`, the library `sam build` and the
CloudFormation transform use) turns each template here into CloudFormation, and the function
the harness would run must have the properties SAM gave AWS::Lambda::Function. Its Globals
rules are in samtranslator/plugins/globals/globals.py (GlobalProperties: dictionaries merged
key by key, lists concatenated, scalars replaced; `supported_properties`: what Globals may
hold), documented at https://docs.aws.amazon.com/serverless-application-model/latest/
developerguide/sam-specification-template-anatomy-globals.html.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from workshop import manifest
from workshop.errors import WorkshopError
from workshop.local.sam_template import DEFAULT_API, load, parse_yaml
from workshop.types import Template


def _translated(template: dict, monkeypatch) -> dict:
    """The template as SAM's transform turns it into CloudFormation (code from S3, as deployed)."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/key.zip"
    return transform(template, {}, NoManagedPolicies())


def _write(tmp_path: Path, template: dict) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template), encoding="utf-8")
    return path


def _template(globals_: dict, properties: dict, **resource) -> dict:
    function = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": "src", "Handler": "app.handler", **properties},
        **resource,
    }
    return {
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": globals_,
        "Resources": {"Fn": function},
    }


def _both(tmp_path, monkeypatch, template: dict):
    """(the harness's function, SAM's AWS::Lambda::Function properties) for `template`."""
    harness = load(_write(tmp_path, template), stack_name="g").functions["Fn"]
    sam = _translated(template, monkeypatch)["Resources"]["Fn"]["Properties"]
    return harness, sam


def test_environment_variables_are_merged_key_by_key(tmp_path, monkeypatch):
    """globals.py GlobalProperties: two dictionaries are merged recursively, the resource's
    value winning for a key in both (its docstring's EnvironmentVariables example)."""
    template = _template(
        {"Function": {"Runtime": "python3.11", "Environment": {"Variables": {"A": "g", "B": "g"}}}},
        {"Environment": {"Variables": {"B": "f", "C": "f"}}},
    )
    harness, sam = _both(tmp_path, monkeypatch, template)
    assert harness.environment == sam["Environment"]["Variables"] == {"A": "g", "B": "f", "C": "f"}


def test_logging_config_in_globals_survives_a_functions_own_logging_config(tmp_path, monkeypatch):
    """globals.py: LoggingConfig is a supported Function property and a dictionary, so
    Globals' LogFormat stays when the function sets only ApplicationLogLevel."""
    template = _template(
        {"Function": {"Runtime": "python3.11", "LoggingConfig": {"LogFormat": "JSON"}}},
        {"LoggingConfig": {"ApplicationLogLevel": "WARN"}},
    )
    harness, sam = _both(tmp_path, monkeypatch, template)
    assert harness.logging_config == sam["LoggingConfig"]
    assert harness.logging_config == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}


def test_scalars_are_replaced_by_the_functions_own(tmp_path, monkeypatch):
    """globals.py GlobalProperties: a primitive in both takes the resource's value."""
    template = _template(
        {"Function": {"Runtime": "python3.12", "Timeout": 9, "MemorySize": 256}},
        {"Runtime": "python3.11", "Timeout": 4},
    )
    harness, sam = _both(tmp_path, monkeypatch, template)
    assert (harness.runtime, harness.timeout, harness.memory_size) == (
        sam["Runtime"],
        sam["Timeout"],
        sam["MemorySize"],
    )
    assert (harness.runtime, harness.timeout, harness.memory_size) == ("python3.11", 4, 256)


def test_ignore_globals_leaves_the_named_globals_out(tmp_path, monkeypatch):
    """globals.py Globals.get_template_globals: the IgnoreGlobals resource attribute drops
    the Globals it lists for that resource."""
    template = _template(
        {"Function": {"Runtime": "python3.11", "Timeout": 9, "MemorySize": 256}},
        {},
        IgnoreGlobals=["Timeout"],
    )
    harness, sam = _both(tmp_path, monkeypatch, template)
    assert "Timeout" not in sam and harness.timeout == 3  # Lambda's default
    assert harness.memory_size == sam["MemorySize"] == 256


def test_globals_api_reaches_the_implicit_api_too(tmp_path, monkeypatch):
    """globals.py supported_properties: MethodSettings belongs to Api; SAM applies Globals.Api
    to the REST API it makes for Api events (ServerlessRestApi), whose stage carries them."""
    settings = [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 5}]
    template = _template(
        {"Function": {"Runtime": "python3.11"}, "Api": {"MethodSettings": settings}},
        {"Events": {"Get": {"Type": "Api", "Properties": {"Path": "/x", "Method": "get"}}}},
    )
    stage = _translated(template, monkeypatch)["Resources"]["ServerlessRestApiProdStage"]
    assert stage["Properties"]["MethodSettings"] == settings
    api = load(_write(tmp_path, template), stack_name="g").apis[DEFAULT_API]
    assert api.throttle_rate == 5


@pytest.mark.parametrize(
    ("globals_", "named"),
    [
        ({"Function": {"Policies": ["AWSLambdaExecute"]}}, "'Policies' is not a supported"),
        ({"Function": {"Events": {}}}, "'Events' is not a supported"),
        ({"Api": {"StageName": "Dev"}}, "'StageName' is not a supported property of 'Api'"),
        ({"Funtion": {"Timeout": 3}}, "'Funtion' is not supported"),
    ],
)
def test_what_sam_refuses_in_globals_is_refused_with_its_name(
    tmp_path, monkeypatch, globals_, named
):
    """globals.py supported_properties and Globals._parse: Policies, Events (Function) and
    StageName (Api) cannot be Globals, nor can an unknown section; the transform refuses the
    template, and so does the harness, saying which property."""
    template = _template({"Function": {"Runtime": "python3.11"}, **globals_}, {})
    from samtranslator.model.exceptions import InvalidDocumentException

    with pytest.raises(InvalidDocumentException, match=json.dumps(named)[1:-1]):
        _translated(template, monkeypatch)
    with pytest.raises(WorkshopError, match=named) as refused:
        load(_write(tmp_path, template), stack_name="g")
    assert "sam build refuses it too" in str(refused.value)


def _stages_sam_makes(translated: dict) -> dict[str, set[str]]:
    """{REST API: its stages}: each AWS::ApiGateway::Stage's, and the one its Deployment makes."""
    made: dict[str, set[str]] = {}
    for resource in translated["Resources"].values():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind in ("AWS::ApiGateway::Stage", "AWS::ApiGateway::Deployment") and props.get(
            "StageName"
        ):
            made.setdefault(props["RestApiId"]["Ref"], set()).add(props["StageName"])
    return made


def _stages_served(template: Template) -> dict[str, set[str]]:
    used = {route.api for route in template.routes}
    return {
        api.logical_id: {api.stage, api.extra_stage} - {None}
        for api in template.apis.values()
        if api.logical_id in used
    }


@pytest.mark.parametrize("name", [stage.id for stage in manifest.stages()] + [manifest.FINAL])
def test_every_api_is_served_at_the_stages_sam_deploys_it_to(name, monkeypatch):
    """api_generator.py: a Deployment of its own StageName, `Stage`, beside the API's stage,
    unless OpenApiVersion is set (aws/serverless-application-model#191): every REST API of
    every stage and of the final app, on the stages that SAM makes."""
    path = manifest.project(name).path / "template.yaml"
    made = _stages_sam_makes(_translated(parse_yaml(path), monkeypatch))
    assert made == _stages_served(load(path, stack_name="s"))


@pytest.mark.parametrize(
    ("globals_api", "stages"),
    [({}, {"Prod", "Stage"}), ({"OpenApiVersion": "3.0.1"}, {"Prod"})],
    ids=["no-openapi-version", "openapi-version-in-globals"],
)
def test_an_openapi_version_in_globals_leaves_the_implicit_api_one_stage(
    tmp_path, monkeypatch, globals_api, stages
):
    events = {"Get": {"Type": "Api", "Properties": {"Path": "/x", "Method": "get"}}}
    globals_ = {
        "Function": {"Runtime": "python3.11"},
        **({"Api": globals_api} if globals_api else {}),
    }
    template = _template(globals_, {"Events": events})
    made = _stages_sam_makes(_translated(template, monkeypatch))
    assert (
        made
        == _stages_served(load(_write(tmp_path, template), stack_name="g"))
        == {DEFAULT_API: stages}
    )


@pytest.mark.parametrize("version", ["3.0.1", "2.0", 3.0, "3", "1.0", {"Ref": "Version"}], ids=repr)
def test_an_openapi_version_is_taken_or_refused_as_sam_does(tmp_path, monkeypatch, version):
    """api_generator.py _validate_properties: a version written out (SwaggerEditor's regex)
    leaves one stage; anything else, a parameter's !Ref included, is refused."""
    from samtranslator.model.exceptions import InvalidDocumentException

    events = {"Get": {"Type": "Api", "Properties": {"Path": "/x", "Method": "get"}}}
    globals_ = {"Function": {"Runtime": "python3.11"}, "Api": {"OpenApiVersion": version}}
    template = _template(globals_, {"Events": events})
    template["Parameters"] = {"Version": {"Type": "String", "Default": "3.0.1"}}
    try:
        made = _stages_sam_makes(_translated(template, monkeypatch))
    except InvalidDocumentException as refused:
        assert "OpenApiVersion" in str(refused)
        with pytest.raises(WorkshopError, match="OpenApiVersion .* is not one SAM takes"):
            load(_write(tmp_path, template), stack_name="g")
    else:
        assert made == _stages_served(load(_write(tmp_path, template), stack_name="g"))


def test_a_stage_named_stage_without_an_openapi_version_is_refused(tmp_path):
    """Its deployment would make a second stage of that name: CloudFormation refuses it
    ("Stage already exists", aws/serverless-application-model#1823), after SAM's transform."""
    api = {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "Stage"}}
    events = {"Get": {"Type": "Api", "Properties": {"Path": "/x", "Method": "get"}}}
    events["Get"]["Properties"]["RestApiId"] = {"Ref": "Api"}
    template = _template({}, {"Runtime": "python3.11", "Events": events})
    template["Resources"]["Api"] = api
    with pytest.raises(WorkshopError, match="the deploy would fail"):
        load(_write(tmp_path, template), stack_name="g")
    api["Properties"]["OpenApiVersion"] = "3.0.1"
    assert _stages_served(load(_write(tmp_path, template), stack_name="g")) == {"Api": {"Stage"}}
