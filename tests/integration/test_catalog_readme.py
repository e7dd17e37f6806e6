"""README.md's catalog tables are what `sextant catalog` prints from the catalog's own table
(scaling/catalog_docs.h), so the documented PromQL, units, targets and selector keys cannot
drift from the code. Also checks that every entry the binary lists is documented once."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

from harness import sextant_binary

BEGIN = "<!-- BEGIN sextant catalog (generated: build/sextant catalog) -->\n"
END = "<!-- END sextant catalog -->"


def readme_block() -> str:
    source = pathlib.Path(os.environ.get("SEXTANT_SOURCE_DIR",
                                         pathlib.Path(__file__).resolve().parents[2]))
    text = (source / "README.md").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "catalog markers missing in README"
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def generated() -> str:
    out = subprocess.run([str(sextant_binary()), "catalog"], check=True, capture_output=True,
                         text=True, timeout=30)
    return out.stdout


def test_readme_matches_sextant_catalog():
    assert readme_block() == generated(), (
        "README.md's catalog section is stale: replace it with `build/sextant catalog`")


def test_every_entry_documented_once():
    names = re.findall(r"^\| `([a-z0-9-]+)` \|", generated(), flags=re.M)
    assert len(names) == 23 and len(set(names)) == 23
    for family in ("gpu-", "neuron", "vllm-", "triton-", "tgi-", "sglang-"):
        assert any(n.startswith(family) for n in names), family
    assert {"gpu-pending-demand", "gpu-headroom-deficit"} <= set(names)


def test_sextant_catalog_refuses_arguments():
    out = subprocess.run([str(sextant_binary()), "catalog", "--markdown"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and not out.stdout
    assert "takes no arguments" in out.stderr and "--markdown" in out.stderr
