#!/usr/bin/env python3
"""Editor-style check of battery files against batteries/schema.json (issue 19).

What the YAML language server does while a battery is typed, done with code that shares nothing
with probity: PyYAML reads each battery as plain YAML and Python's `jsonschema` (Draft 2020-12)
validates it against the committed schema. Every file named must pass; the script also checks
that a few deliberately broken copies of the first one fail, so a schema that accepts anything
would not pass either.

    /work/venv-fixtures/bin/pip install -r benches/battery-schema/requirements.txt
    /work/venv-fixtures/bin/python benches/battery-schema/check.py batteries/*.yaml

Exit 0 when every file validates and every broken copy is rejected; 1 otherwise.
"""

import copy
import importlib.metadata
import json
import pathlib
import sys

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main(paths):
    schema = json.loads((ROOT / "batteries" / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    ok = True
    for path in paths:
        document = yaml.safe_load(pathlib.Path(path).read_text())
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        for error in errors:
            print(f"{path}: /{'/'.join(map(str, error.absolute_path))}: {error.message}")
        print(f"{'ok' if not errors else 'INVALID'}: {path} ({len(document.get('probes', []))} probes)")
        ok &= not errors
    # The broken copies start from the first file with a `transform:` probe.
    first = next(d for d in (yaml.safe_load(pathlib.Path(p).read_text()) for p in paths) if any("transform" in p for p in d["probes"]))
    broken = {
        "unknown top-level key": lambda d: d.update(probez=[]),
        "another schema": lambda d: d.update(schema="probity/battery/v2"),
        "misspelt transform key": lambda d: [p["transform"].update(sizes=2) for p in d["probes"] if "transform" in p],
        "probe id not kebab-case": lambda d: d["probes"][0].update(id="Not_Kebab"),
    }
    for what, breaking in broken.items():
        document = copy.deepcopy(first)
        breaking(document)
        rejected = not validator.is_valid(document)
        print(f"{'rejected' if rejected else 'ACCEPTED'}: {first['name']} with {what}")
        ok &= rejected
    print(f"jsonschema {importlib.metadata.version('jsonschema')}, PyYAML {yaml.__version__}: {'all as expected' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or sorted(str(p) for p in (ROOT / "batteries").glob("*.yaml"))))
