"""Front matter shared by the content library and the knowledge base: YAML or TOML, and a clear
error naming what is wrong with a file that cannot be read."""

from __future__ import annotations

import pytest

from tools.markdown_files import split_front_matter, tag_list


def test_yaml_and_toml_front_matter_give_the_same_metadata() -> None:
    yaml_meta, yaml_body = split_front_matter(
        "\ufeff---\nTitle: 'A: b'\ntags: [x, Y]\n---\nBody\n", required=True)
    toml_meta, toml_body = split_front_matter(
        '+++\ntitle = "A: b"\ntags = ["x", "Y"]\n+++\nBody\n', required=True)
    assert yaml_meta == toml_meta == {"title": "A: b", "tags": ["x", "Y"]}
    assert yaml_body.strip() == toml_body.strip() == "Body"
    assert tag_list(yaml_meta["tags"]) == tag_list("x, y ,") == ("x", "y")


def test_a_file_without_front_matter_is_all_body_unless_it_is_required() -> None:
    assert split_front_matter("# Notes\n", required=False) == ({}, "# Notes\n")
    with pytest.raises(ValueError, match="no front matter"):
        split_front_matter("# Notes\n", required=True)


@pytest.mark.parametrize(("text", "message"), [
    ("---\ntitle: x\n", "not closed by a '---' line"),
    ("---\nsummary: one: two\n---\n", "not valid YAML"),
    ("+++\ntitle = \n+++\n", "not valid TOML"),
    ("---\n- a list\n---\n", "'key: value' lines"),
])
def test_broken_front_matter_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_front_matter(text, required=False)
