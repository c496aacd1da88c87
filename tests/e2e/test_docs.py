"""The README stays a five-minute read, every relative link in the docs leads somewhere, and their examples check."""

import re
from pathlib import Path

import pytest

from labmon.config import load_config
from labmon.rule_config import RULE_KINDS
from tests.conftest import invoke
from tests.e2e.test_readme_examples import toml_block

ROOT = Path(__file__).parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *ROOT.glob("docs/*.md"), *ROOT.glob("labmon-*/README.md")])
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def prose(path: Path) -> str:
    """Return the text of a Markdown page without its fenced blocks (whose `# ...` lines are no headings)."""
    return FENCE.sub("", path.read_text())


def anchors(path: Path) -> set[str]:
    """Return the anchors GitHub makes for the headings of `path`: lower case, punctuation dropped, spaces to '-'."""
    made: dict[str, int] = {}
    for heading in re.findall(r"^#+ (.*)$", prose(path), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        made[slug] = made.get(slug, -1) + 1
        if made[slug]:
            made[f"{slug}-{made[slug]}"] = 0
    return set(made)


def test_the_readme_is_under_300_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) < 300


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(page):
    broken = []
    for target in LINK.findall(re.sub(r"`[^`\n]*`", "", prose(page))):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no such heading in {path.relative_to(ROOT)}")
    assert not broken, broken


def test_every_rule_kind_and_its_messages_are_in_the_rules_section():
    rules = prose(ROOT / "docs" / "configuration.md").split("\n## Rules\n", 1)[1].split("\n## ", 1)[0]
    for kind in RULE_KINDS.values():
        assert f"\n| {kind.name}" in rules, kind.name
        for key in kind.keys:
            assert f"`{key} = " in rules, key
        assert f"| {kind.name} | `{kind.firing}` | `{kind.resolved}` |" in rules, f"{kind.name}'s default messages"


def test_the_minimal_lab_checks_and_reads(tmp_path, registry, monkeypatch):
    monkeypatch.setenv("DISCORD_WEBHOOK", "https://discord.invalid/api/webhooks/1/t")
    collector = tmp_path / "collector.toml"
    collector.write_text(toml_block("# collector.toml: the minimal lab's collector", "README.md"))
    config = load_config(collector, registry).collector
    assert config is not None
    assert [rule.kind for rule in config.rules] == ["threshold"]
    assert [(entry.type_name) for entry in (*config.sinks, *config.notifiers)] == ["sqlite", "discord"]
    measurer = tmp_path / "measurer.toml"
    measurer.write_text(toml_block("# measurer.toml: the minimal lab's measurer", "README.md"))
    result = invoke("read", str(measurer))
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["laser1/lock_error", "0.05", "V"]


PACKAGE_EXAMPLES = [
    (readme, block)
    for readme in sorted(ROOT.glob("labmon-*/README.md"))
    for block in re.findall(r"```toml\n(.*?)```", readme.read_text(), re.S)
]


@pytest.mark.parametrize(("readme", "block"), PACKAGE_EXAMPLES, ids=[str(r.parent.name) for r, _ in PACKAGE_EXAMPLES])
def test_every_package_example_is_a_valid_config(readme, block, tmp_path, registry, monkeypatch):
    for name in re.findall(r"\$\{(\w+)\}", block):
        monkeypatch.setenv(name, "https://secret.invalid/x")
    path = tmp_path / "example.toml"
    path.write_text(block)
    load_config(path, registry)


def test_every_package_readme_has_an_example():
    assert {r.parent.name for r, _ in PACKAGE_EXAMPLES} >= {p.parent.name for p in ROOT.glob("labmon-*/README.md")} - {
        "labmon-demo"
    }
