#!/usr/bin/env python3
"""Checks template.yaml offline: cfn-lint, then the SAM transform per environment.

Run with the project venv (infra/scripts/venv.sh creates it):

    .venv/bin/python infra/scripts/check_template.py            # the check
    .venv/bin/python infra/scripts/check_template.py --dump prod # transformed template (JSON)

1. cfn-lint, errors, warnings *and* informational rules (`--include-checks I`), in
   every region samconfig.toml deploys to. Any finding fails the check.
2. The SAM transform, as `sam validate` runs it (samcli's SamTemplateValidator:
   Translator + Parser, local CodeUri replaced by a fake S3 URI), once per
   samconfig.toml environment with that environment's region and
   parameter_overrides. Offline: AWS managed policy names resolve from the map
   bundled with aws-sam-translator instead of IAM, so no credentials are needed.
3. Checks the transform does not make, on the transformed template: every Ref,
   GetAtt and Sub variable names a parameter, pseudo parameter or resource (cfn-lint
   misses a misspelled !Ref in a function's Environment); environment variables use
   only the intrinsics the local stack resolves; every function names the package
   bucket by PackageBucket's BucketName expression, never by !Ref/!GetAtt (that
   would close a dependency cycle through the validator's S3 event).

Exit status 0 and one summary line when everything passes; 1 with the findings
otherwise; 2 when the check itself cannot run (missing file, bad samconfig).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]

PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}
SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class CheckError(Exception):
    """The check could not run (as opposed to: it ran and found problems)."""


# ------------------------------------------------------------------ samconfig


def parse_parameter_overrides(value: Any, where: str) -> dict[str, str]:
    """Parses `Key=Value Key2="value with spaces"` (a string or a list of them) the
    way the SAM CLI does (samcli.cli.types.CfnParameterOverridesType), strictly."""
    if value is None:
        return {}
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise CheckError(f"{where}: parameter_overrides must be a string or a list of strings")
    token = re.compile(
        r"""\s*([A-Za-z0-9]+)=("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|(?:\\.|[^\s"'\\])+)\s*"""
    )
    result: dict[str, str] = {}
    for item in items:
        pos = 0
        while pos < len(item):
            m = token.match(item, pos)
            if not m:
                raise CheckError(f"{where}: cannot parse parameter_overrides near {item[pos:]!r}")
            key, raw = m.group(1), m.group(2)
            if raw[:1] in "\"'" and raw[-1:] == raw[:1]:
                raw = raw[1:-1]
            result[key] = raw.replace("\\ ", " ").replace('\\"', '"').replace("\\'", "'")
            pos = m.end()
    return result


def load_environments(samconfig: Path) -> dict[str, dict[str, Any]]:
    """{env: {"region": str, "stack_name": str, "parameters": {..}}} from samconfig.toml."""
    try:
        config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CheckError(f"cannot read {samconfig.name}: {e}") from e
    envs: dict[str, dict[str, Any]] = {}
    for env, commands in config.items():
        if not isinstance(commands, dict):
            continue  # `version = 0.1`
        merged: dict[str, Any] = {}
        # The SAM CLI lets [env.deploy.parameters] override [env.global.parameters].
        for command in ("global", "deploy"):
            merged.update(commands.get(command, {}).get("parameters", {}))
        where = f"{samconfig.name} [{env}]"
        if not merged.get("region"):
            raise CheckError(f"{where}: no region in deploy or global parameters")
        envs[env] = {
            "region": merged["region"],
            "stack_name": merged.get("stack_name", ""),
            "parameters": parse_parameter_overrides(merged.get("parameter_overrides"), where),
        }
    if not envs:
        raise CheckError(f"{samconfig.name} defines no environment")
    return envs


def check_parameter_values(template: dict[str, Any], env: str, values: dict[str, str]) -> list[str]:
    """What CloudFormation would refuse at deploy time and the transform does not check."""
    problems = []
    declared = template.get("Parameters", {})
    for key, value in values.items():
        spec = declared.get(key)
        if spec is None:
            problems.append(f"[{env}] parameter_overrides sets {key}, which template.yaml does not declare")
            continue
        if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
            problems.append(f"[{env}] {key}={value!r} is not one of {spec['AllowedValues']}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            problems.append(f"[{env}] {key}={value!r} does not match {spec['AllowedPattern']}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                problems.append(f"[{env}] {key}={value!r} is not a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                problems.append(f"[{env}] {key}={value} is below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                problems.append(f"[{env}] {key}={value} is above MaxValue {spec['MaxValue']}")
    return problems


# ------------------------------------------------------------------- cfn-lint


def run_cfn_lint(template_path: Path, regions: list[str]) -> list[str]:
    from cfnlint.api import lint_file
    from cfnlint.config import ManualArgs

    matches = lint_file(template_path, config=ManualArgs(include_checks=["I"], regions=regions))
    return [
        f"cfn-lint {m.rule.id} {m.message}\n    at {Path(m.filename).name}:{m.linenumber}:{m.columnnumber}"
        for m in matches
    ]


# -------------------------------------------------------------- SAM transform


def replace_local_uris(template: dict[str, Any]) -> None:
    """What samcli's SamTemplateValidator does before translating: the transform
    accepts only S3 URIs, `sam build`/`sam package` upload the local paths later."""
    fake = "s3://bucket/value"

    def update(props: dict[str, Any], key: str, default_local: bool) -> None:
        value = props.get(key, "." if default_local else None)
        if value is None or isinstance(value, dict) or str(value).startswith("s3://"):
            return
        props[key] = fake

    globals_function = template.get("Globals", {}).get("Function")
    if isinstance(globals_function, dict) and "CodeUri" in globals_function:
        update(globals_function, "CodeUri", False)
    for resource in template.get("Resources", {}).values():
        if not isinstance(resource, dict) or not isinstance(resource.get("Properties"), dict):
            continue
        props, kind = resource["Properties"], resource.get("Type")
        if kind == "AWS::Serverless::Function" and props.get("PackageType", "Zip") == "Zip":
            update(props, "CodeUri", True)
        elif kind == "AWS::Serverless::LayerVersion":
            update(props, "ContentUri", True)
        elif kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi", "AWS::Serverless::StateMachine"):
            update(props, "DefinitionUri", False)


def sam_transform(template: dict[str, Any], region: str, parameters: dict[str, str]) -> dict[str, Any]:
    """Translates a parsed SAM template offline; raises CheckError listing every cause."""
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator

    sam_template = copy.deepcopy(template)
    replace_local_uris(sam_template)
    partition = ArnGenerator.get_partition_name(region)

    def offline_managed_policy_map() -> dict[str, str]:
        # Instead of ManagedPolicyLoader's iam:ListPolicies: the map the transform ships.
        return get_bundled_managed_policy_map(partition) or {}

    # The translator reads only `region_name` from its boto3 session. A stand-in
    # keeps the check independent of the caller's AWS config (a boto3 Session
    # fails on an unknown AWS_PROFILE even though nothing here calls AWS).
    session = SimpleNamespace(region_name=region)
    translator = Translator(managed_policy_map=None, sam_parser=Parser(), plugins=[], boto_session=session)
    try:
        return translator.translate(
            sam_template=sam_template,
            parameter_values=dict(parameters),
            get_managed_policy_map=offline_managed_policy_map,
        )
    except InvalidDocumentException as e:
        causes = "\n".join(f"    - {cause.message}" for cause in e.causes)
        raise CheckError(f"{e.message}\n{causes}") from e


# ------------------------------------------------- checks on the transformed


def walk(node: Any, path: str = ""):
    """Yields (path, node) for every dict and list in a template, depth first."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def check_references(cfn: dict[str, Any], env: str) -> list[str]:
    names = set(cfn.get("Parameters", {})) | set(cfn.get("Resources", {})) | PSEUDO_PARAMETERS
    resources = set(cfn.get("Resources", {}))
    problems = []
    for path, node in walk(cfn.get("Resources", {})):
        if not isinstance(node, dict) or len(node) != 1:
            continue
        (fn, arg), = node.items()
        if fn == "Ref" and isinstance(arg, str) and arg not in names:
            problems.append(f"[{env}] {path}: !Ref {arg} names nothing in the template")
        elif fn == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) and arg else str(arg).split(".", 1)[0]
            if isinstance(target, str) and target not in resources:
                problems.append(f"[{env}] {path}: !GetAtt {target} names no resource")
        elif fn == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
            for var in SUB_VARIABLE.findall(text if isinstance(text, str) else ""):
                base = var.split(".", 1)[0] if "." in var and not var.startswith("AWS::") else var
                if var not in local and base not in names:
                    problems.append(f"[{env}] {path}: !Sub variable ${{{var}}} names nothing in the template")
    return problems


def check_functions(cfn: dict[str, Any], env: str) -> list[str]:
    resources = cfn.get("Resources", {})
    problems = []
    bucket_name = resources.get("PackageBucket", {}).get("Properties", {}).get("BucketName")
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        for var, value in variables.items():
            simple = (
                isinstance(value, str)
                or (isinstance(value, dict) and len(value) == 1 and (
                    isinstance(value.get("Ref"), str)
                    or (isinstance(value.get("Fn::GetAtt"), list) and len(value["Fn::GetAtt"]) == 2)
                    or isinstance(value.get("Fn::Sub"), str)
                ))
            )
            if not simple:
                problems.append(
                    f"[{env}] {name} {var}: use only a string, !Ref, !GetAtt X.Y or a string !Sub "
                    f"(the local stack resolves no other form), got {json.dumps(value)}"
                )
        if "PACKAGE_BUCKET" in variables and variables["PACKAGE_BUCKET"] != bucket_name:
            problems.append(
                f"[{env}] {name} PACKAGE_BUCKET must be PackageBucket's BucketName expression "
                f"{json.dumps(bucket_name)}, got {json.dumps(variables['PACKAGE_BUCKET'])}"
            )
    # Functions and their roles must not point at the bucket resource: the bucket
    # depends on the validator's permission, hence on the validator and its role.
    for name, resource in resources.items():
        if resource.get("Type") not in ("AWS::Lambda::Function", "AWS::IAM::Role"):
            continue
        for path, node in walk(resource):
            if node in ({"Ref": "PackageBucket"}, {"Fn::GetAtt": ["PackageBucket", "Arn"]}) or (
                isinstance(node, dict) and isinstance(node.get("Fn::Sub"), str) and "${PackageBucket" in node["Fn::Sub"]
            ):
                problems.append(f"[{env}] {name}.{path}: refers to PackageBucket; use its BucketName expression")
    return problems


def check_managed_policies(cfn: dict[str, Any], env: str) -> list[str]:
    problems = []
    for name, resource in cfn.get("Resources", {}).items():
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []) if resource.get("Type") == "AWS::IAM::Role" else []:
            if isinstance(arn, str) and not arn.startswith("arn:"):
                problems.append(f"[{env}] {name}: managed policy {arn!r} is not a known AWS managed policy name")
    return problems


def collapse_environments(findings: list[str], envs: list[str]) -> list[str]:
    """Prints a problem every environment shares once, as `[default, staging, prod] ...`."""
    grouped: dict[str, list[str]] = {}
    for f in findings:
        m = re.match(r"\[([^\]]+)\] (.*)", f, re.S)
        env, text = (m.group(1), m.group(2)) if m and m.group(1) in envs else ("", f)
        grouped.setdefault(text, []).append(env)
    return [f"[{', '.join(e)}] {text}" if all(e) else text for text, e in grouped.items()]


# ----------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    parser.add_argument("--samconfig", type=Path, default=REPO / "samconfig.toml")
    parser.add_argument("--dump", metavar="ENV", help="print the transformed template of ENV as JSON and exit")
    args = parser.parse_args()

    # cfn-lint reads .cfnlintrc from the working directory, as `cfn-lint template.yaml` at the root would.
    os.chdir(REPO)
    # The transform logs through `logging`; a warning counts as a finding.
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # The metrics publisher complains that nobody publishes its metrics: noise
            # (sam validate does not publish them either).
            if not record.name.startswith("samtranslator.metrics"):
                warnings.append(f"{record.name}: {record.getMessage()}")

    logging.getLogger("samtranslator").addHandler(Collect(level=logging.WARNING))
    logging.getLogger("samtranslator").propagate = False

    try:
        import yaml
        from samtranslator.yaml_helper import yaml_parse

        template_path = args.template.resolve()
        text = template_path.read_text(encoding="utf-8")
        envs = load_environments(args.samconfig)
    except (OSError, CheckError) as e:
        print(f"check_template: cannot run: {e}", file=sys.stderr)
        return 2
    try:
        template = yaml_parse(text)
    except yaml.YAMLError as e:
        print(f"check_template: {args.template.name} is not valid YAML: {e}", file=sys.stderr)
        return 1

    if args.dump:
        if args.dump not in envs:
            print(f"check_template: no environment {args.dump!r} in {args.samconfig.name}", file=sys.stderr)
            return 2
        env = envs[args.dump]
        try:
            print(json.dumps(sam_transform(template, env["region"], env["parameters"]), indent=2))
        except CheckError as e:
            print(f"check_template: SAM transform [{args.dump}] failed: {e}", file=sys.stderr)
            return 1
        return 0

    regions = sorted({env["region"] for env in envs.values()})
    findings = run_cfn_lint(template_path, regions)

    resource_counts = []
    for name, env in envs.items():
        problems = check_parameter_values(template, name, env["parameters"])
        try:
            cfn = sam_transform(template, env["region"], env["parameters"])
        except CheckError as e:
            findings.append(f"[{name}] SAM transform failed: {e}")
            continue
        problems += check_references(cfn, name) + check_functions(cfn, name) + check_managed_policies(cfn, name)
        findings += problems
        resource_counts.append(len(cfn.get("Resources", {})))
    findings += [f"SAM transform warning: {w}" for w in dict.fromkeys(warnings)]

    rel = template_path.relative_to(REPO) if template_path.is_relative_to(REPO) else template_path
    if findings:
        findings = collapse_environments(findings, list(envs))
        for f in findings:
            print(f, file=sys.stderr)
        print(f"check_template: {rel}: {len(findings)} finding(s)", file=sys.stderr)
        return 1
    print(
        f"check_template: {rel} OK: cfn-lint 0 findings (E/W/I; {', '.join(regions)}); "
        f"SAM transform OK for {', '.join(envs)} ({max(resource_counts)} resources)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
