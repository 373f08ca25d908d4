#!/usr/bin/env python3
"""Validates the Buildkite plugin's plugin.yml.

usage: validate-plugin.py plugin.yml lib/cargo-stash.bash README.md ID VERSION [docs/ci.md]

The rules of buildkite-plugin-linter (a docker image, not installable here), applied to
this plugin with ID (cargo-stash/cargo-stash) and VERSION (the release it is tagged as):

- plugin.yml: the linter's schema (name, description, author, requirements an array,
  configuration with properties, required and additionalProperties);
- README: its ```yaml examples that mention ID#v... are pipelines whose `plugins` are
  arrays; every config under the key ID#v... validates against `configuration`, and at
  least one is found; every ID#v<version> names VERSION (the latest tag at release);

and ours:
- `configuration` is a valid JSON schema (draft 7) that rejects unknown options, accepts
  good configs and rejects bad ones;
- its options are exactly the ones the hooks read (STASH_OPTIONS in the library);
- every cargo-stash plugin config in docs/ci.md's YAML examples validates.
"""
import re
import sys

import jsonschema
import yaml


def main():
    plugin_path, lib_path, readme_path, plugin_id, version = sys.argv[1:6]
    docs_path = sys.argv[6] if len(sys.argv) > 6 else None
    problems = []
    plugin = yaml.safe_load(open(plugin_path))
    for field, kind in (("name", str), ("description", str), ("author", str),
                        ("requirements", list), ("configuration", dict)):
        if not isinstance(plugin.get(field), kind):
            problems.append(f"top-level field `{field}` must be a {kind.__name__}")
    schema = plugin["configuration"]
    for field, kind in (("properties", dict), ("required", list), ("additionalProperties", bool)):
        if not isinstance(schema.get(field), kind):
            problems.append(f"configuration.{field} must be a {kind.__name__}")
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    if schema.get("additionalProperties") is not False:
        problems.append("configuration must set additionalProperties: false")

    lib = open(lib_path).read()
    m = re.search(r"STASH_OPTIONS=\(([^)]*)\)", lib)
    hook_options = set(m.group(1).split()) if m else set()
    schema_options = set(schema["properties"])
    if hook_options != schema_options:
        problems.append(
            f"options differ: only in plugin.yml {sorted(schema_options - hook_options)}, "
            f"only in the hooks {sorted(hook_options - schema_options)}"
        )

    good = [
        {},
        {"store": "s3://ci-cache/cargo", "prefix": "linux", "policy": "pull"},
        {
            "store": "file:///var/cache/stash",
            "suffix": "nightly",
            "policy": "pull-push",
            "save-on-failure": True,
            "strict": False,
            "unprotect": False,
            "binary": "/usr/local/bin/cargo-stash",
            "install": False,
            "version": "0.1.0",
            "cargo-home": "/var/lib/buildkite-agent/.cargo",
            "manifest-path": "crates/Cargo.toml",
            "profile": "release",
            "target": ["x86_64-unknown-linux-gnu", "wasm32-unknown-unknown"],
            "env-vars": "MY_FLAG,OTHER",
            "jobs": 8,
            "exact": True,
            "no-mtime": False,
            "keep-unused": True,
            "annotate": False,
        },
    ]
    bad = [
        ({"policy": "sometimes"}, "policy"),
        ({"save-on-failure": "maybe"}, "save-on-failure"),
        ({"stor": "s3://x/y"}, "stor"),
        ({"jobs": 0}, "jobs"),
        ({"target": 3}, "target"),
    ]
    for config in good:
        errors = [e.message for e in validator.iter_errors(config)]
        if errors:
            problems.append(f"good config {config} rejected: {errors}")
    for config, option in bad:
        errors = list(validator.iter_errors(config))
        if not errors:
            problems.append(f"bad config {config} accepted")
        elif not any(option in (e.message + "/".join(map(str, e.path))) for e in errors):
            problems.append(f"bad config {config}: no error names `{option}`: {[e.message for e in errors]}")

    checked = 0
    if docs_path:
        for block in re.findall(r"```ya?ml\n(.*?)```", open(docs_path).read(), re.S):
            try:
                doc = yaml.safe_load(block)
            except yaml.YAMLError:
                continue  # GitLab's !reference tags are not Buildkite YAML
            for step in (doc or {}).get("steps", []) if isinstance(doc, dict) else []:
                for plugin_ref in step.get("plugins", []) if isinstance(step, dict) else []:
                    for name, config in (plugin_ref.items() if isinstance(plugin_ref, dict) else []):
                        if "cargo-stash" in name:
                            checked += 1
                            for e in validator.iter_errors(config or {}):
                                problems.append(f"docs example {name}: {e.message}")
        if checked == 0:
            problems.append(f"no cargo-stash plugin example found in {docs_path}")

    readme_checked = check_readme(open(readme_path).read(), plugin_id, version, validator, problems)

    for p in problems:
        print(f"plugin.yml: {p}")
    if problems:
        sys.exit(1)
    print(f"plugin.yml: valid ({len(schema_options)} options, {len(good)} good and "
          f"{len(bad)} bad configs, {checked} docs examples, {readme_checked} README examples)")


def check_readme(text, plugin_id, version, validator, problems):
    """buildkite-plugin-linter's example and version rules; returns the configs checked."""
    ref = re.compile(re.escape(plugin_id) + r"#v.+")
    configs = 0
    for block in re.findall(r"```ya?ml\n+(.*?)\n+```", text, re.S):
        if not ref.search(block):
            continue
        doc = yaml.safe_load(block)
        steps = doc.get("steps", doc) if isinstance(doc, dict) else doc
        for step in steps:
            plugins = step.get("plugins") if isinstance(step, dict) else None
            if plugins is None:
                continue
            if not isinstance(plugins, list):
                problems.append("README: a step's plugins must be an array, not a map")
                continue
            for entry in plugins:
                items = [(entry, None)] if isinstance(entry, str) else entry.items()
                for key, config in items:
                    if ref.fullmatch(key):
                        configs += 1
                        for e in validator.iter_errors(config or {}):
                            problems.append(f"README example {key}: {e.message}")
    if configs == 0:
        problems.append(f"README: no config example with plugin id '{plugin_id}'")
    for v in re.findall(re.escape(plugin_id) + r"#(v[^:\s]*):", text):
        if v != f"v{version}":
            problems.append(f"README: {plugin_id}#{v} is not the current release v{version}")
    return configs


if __name__ == "__main__":
    main()
