"""Drives helm-python-sdk (Helm v4's Go SDK, no helm binary) for host/tests/it/chart.rs.

Reads one JSON request on stdin and writes one JSON answer on stdout:
  request: {"chart": DIR,
            "renders": {NAME: {"set": "a=b,c=d" | null, "values": {...}, "release": R, "namespace": N}},
            "schema": {NAME: {"set": ..., "values": {...}}},
            "lints": {NAME: {"set": ..., "values": {...}, "namespace": N}}}
  answer:  {"renders": {NAME: {"ok": {TEMPLATE: TEXT}} | {"err": TEXT}},
            "schema": {NAME: null | TEXT},
            "lints": {NAME: <helm_python.lint report>}}
"set" is parsed like `helm --set` (the guide's command uses --set); "values" are merged over it,
so a case can start from the guide's flags and change one key.
"""

import json
import sys

try:
    import helm_python as helm
except ImportError:
    sys.exit("helm-python-sdk is not installed for this python3: run `cargo xtask install-tools`")


def merge(base, over):
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def values_of(case):
    base = helm.parse_set_string(case["set"]) if case.get("set") else {}
    return merge(base, case.get("values") or {})


def main():
    req = json.load(sys.stdin)
    chart_dir = req["chart"]
    out = {"renders": {}, "schema": {}, "lints": {}}
    with helm.Chart.load(chart_dir) as chart:
        for name, case in req.get("renders", {}).items():
            try:
                manifests = chart.render(
                    values_of(case),
                    name=case["release"],
                    namespace=case["namespace"],
                    is_install=True,
                )
                out["renders"][name] = {"ok": manifests}
            except helm.HelmError as e:
                out["renders"][name] = {"err": str(e)}
        for name, case in req.get("schema", {}).items():
            try:
                chart.validate_schema(values_of(case))
                out["schema"][name] = None
            except helm.HelmError as e:
                out["schema"][name] = str(e)
    for name, case in req.get("lints", {}).items():
        out["lints"][name] = helm.lint(
            chart_dir, values_of(case), strict=True, namespace=case["namespace"]
        )
    json.dump(out, sys.stdout)


main()
