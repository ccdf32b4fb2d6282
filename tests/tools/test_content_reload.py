"""Issue 18 item 3: the content library and the help-center knowledge base pick up a new, changed
or removed file without a restart (a stat of the watched folders before a search), the library
is indexed when `hitl serve` starts (HITL_CONTENT_PATH), and `hitl content add PATH` indexes a
folder from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import make_settings
from tools.content_library import ContentLibrary, open_chroma
from tools.embeddings import build_embedding_function
from tools.knowledge_base import KnowledgeBase
from tools.markdown_index import FolderWatch


def asset(title: str, tags: str, summary: str, kind: str = "case_study") -> str:
    return (f'---\ntitle: "{title}"\nkind: {kind}\ntags: [{tags}]\nsummary: {summary}\n---\n\n'
            f"# {title}\n\n{summary}\n")


def article(title: str, tags: str, body: str) -> str:
    return (f"---\ntitle: {title}\ncategory: product\ntags: [{tags}]\nsummary: {title}\n---\n\n"
            f"# {title}\n\n## Steps\n\n{body}\n")


@pytest.fixture
def library(tmp_path: Path) -> tuple[ContentLibrary, Path]:
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "bakery.md").write_text(asset(
        "Crumb & Co: bakery chain ordering", "bakery, bread, retail", "A bakery chain."))
    settings = make_settings(tmp_path)
    lib = ContentLibrary(open_chroma(settings), build_embedding_function(settings))
    assert lib.index_folder(folder) == 1
    lib.watch.check_every_s = 0  # check on every search (no wall clock in tests)
    return lib, folder


def titles(lib: ContentLibrary, query: str, k: int = 3) -> list[str]:
    return [a.title for a in lib.recommend(query, k=k)]


def test_a_new_content_file_is_picked_up_without_a_restart(
        library: tuple[ContentLibrary, Path]) -> None:
    lib, folder = library
    assert titles(lib, "shipyard welding", k=5) == ["Crumb & Co: bakery chain ordering"]
    (folder / "nested").mkdir()
    (folder / "nested" / "shipyard.md").write_text(asset(
        "Northsea Yards: shipyard welding crews", "shipyard, welding, maritime",
        "A shipyard scheduling welding crews."))
    assert titles(lib, "shipyard welding")[0] == "Northsea Yards: shipyard welding crews"
    assert lib.count() == 2


def test_a_changed_and_a_removed_file_are_picked_up(
        library: tuple[ContentLibrary, Path]) -> None:
    lib, folder = library
    titles(lib, "bakery")  # answers are cached; a change must still show
    (folder / "bakery.md").write_text(asset(
        "Crumb & Co: bakery chain, renamed", "bakery, bread, retail", "A bakery chain."))
    assert titles(lib, "bakery") == ["Crumb & Co: bakery chain, renamed"]
    (folder / "bakery.md").unlink()
    assert titles(lib, "bakery") == [] and lib.count() == 0


def test_checks_are_throttled_and_cost_only_a_stat(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    watch = FolderWatch(check_every_s=2.0)
    watch.watch(folder, ())
    (folder / "a.md").write_text("x")
    assert watch.due(100.0) != []       # first check
    assert watch.due(101.0) == []       # within 2 s: not checked again
    assert [f for f, _ in watch.due(102.5)] == [folder.resolve()]


def test_a_new_help_article_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "sso.md").write_text(article("Single sign-on", "sso, saml, okta",
                                           "1. Open Settings > Security.\n2. Upload the SAML "
                                           "metadata."))
    settings = make_settings(tmp_path)
    kb = KnowledgeBase(open_chroma(settings), build_embedding_function(settings))
    kb.index_folder(folder)
    kb.watch.check_every_s = 0
    assert kb.articles() == 1
    (folder / "export.md").write_text(article(
        "Exporting invoices as CSV", "export, invoices, csv",
        "1. Open Billing > Invoices.\n2. Choose Export CSV."))
    found = kb.search("how do I export my invoices to csv", k=1)
    assert found and found[0].article.title == "Exporting invoices as CSV"
    assert kb.articles() == 2


def indexed_elsewhere(index: type[Any], folder: Path, files: dict[str, str]) -> tuple[Path, Any]:
    """`folder` with `files`, indexed by one process (`hitl content add`, `hitl kb add`), and the
    index another process (the server) opens on the same Chroma, checking on every search."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    settings = make_settings(folder.parent)
    index(open_chroma(settings), build_embedding_function(settings)).index_folder(folder)
    server = index(open_chroma(settings), build_embedding_function(settings))
    server.watch.check_every_s = 0
    server.FOLDERS_TTL_S = 0  # ask for the folders on every search (no wall clock in tests)
    return folder, server


def test_a_second_process_sees_folders_indexed_by_the_first(tmp_path: Path) -> None:
    """`hitl content add` in one process, `hitl serve` in another: the server's library
    watches every folder the collection holds assets from."""
    folder, server = indexed_elsewhere(ContentLibrary, tmp_path / "content",
                                       {"bakery.md": asset("Crumb & Co", "bakery",
                                                           "A bakery chain.")})
    server.COUNT_TTL_S = 0
    assert titles(server, "bakery") == ["Crumb & Co"]
    (folder / "mill.md").write_text(asset("Stonegrind Mill", "flour, mill", "A flour mill."))
    assert "Stonegrind Mill" in titles(server, "flour mill")
    # A folder `hitl content add` indexes while the server runs is watched from then on.
    later = tmp_path / "later"
    later.mkdir()
    (later / "forge.md").write_text(asset("Ironside Forge", "forge, anvil", "A forge."))
    settings = make_settings(tmp_path)
    ContentLibrary(open_chroma(settings), build_embedding_function(settings)).index_folder(later)
    assert titles(server, "forge anvil")[0] == "Ironside Forge"
    (later / "kiln.md").write_text(asset("Redclay Kiln", "kiln, pottery", "A pottery kiln."))
    assert titles(server, "pottery kiln")[0] == "Redclay Kiln"


def test_a_second_process_sees_help_articles_indexed_by_the_first(tmp_path: Path) -> None:
    """`hitl kb add` in one process, the server in another: the server's knowledge base
    watches the folder too (it is stored by path, as the content library stores its own)."""
    folder, server = indexed_elsewhere(KnowledgeBase, tmp_path / "kb", {
        "sso.md": article("Single sign-on", "sso, saml", "1. Open Security.")})
    assert server.search("single sign-on saml", k=1)[0].article.title == "Single sign-on"
    (folder / "export.md").write_text(article(
        "Exporting invoices as CSV", "export, invoices, csv", "1. Choose Export CSV."))
    found = server.search("how do I export my invoices to csv", k=1)
    assert found[0].article.title == "Exporting invoices as CSV" and server.articles() == 2


def test_help_articles_stored_under_the_old_folder_key_are_rewritten(tmp_path: Path) -> None:
    """The knowledge base used to store a hash of the folder as `source_folder`: indexing the
    folder again finds those records (nothing left behind) and stores them under its path."""
    import hashlib

    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "sso.md").write_text(article("Single sign-on", "sso", "Text.\n\n## More\n\nx"))
    settings = make_settings(tmp_path)
    kb = KnowledgeBase(open_chroma(settings), build_embedding_function(settings))
    assert kb.index_folder(folder).changed == 1 and kb.count() == 2
    old_key = hashlib.blake2b(str(folder.resolve()).encode(), digest_size=6).hexdigest()
    collection: Any = kb._open()
    stored = collection.get(include=["metadatas"])
    collection.update(ids=stored["ids"], metadatas=[
        {**meta, "source_folder": old_key} for meta in stored["metadatas"]])
    (folder / "sso.md").write_text(article("Single sign-on", "sso", "Text only."))
    again = kb.index_folder(folder)
    assert (again.articles, again.changed, again.removed, kb.count()) == (1, 1, 0, 1)
    metas = collection.get(include=["metadatas"])["metadatas"]
    assert {meta["source_folder"] for meta in metas} == {str(folder.resolve())}


def test_serve_indexes_hitl_content_path_at_start(tmp_path: Path) -> None:
    from hitl.commands.serve import _index_content
    from hitl.wiring import build_runtime

    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "bakery.md").write_text(asset("Crumb & Co", "bakery", "A bakery chain."))
    rt = build_runtime(make_settings(tmp_path, content_path=str(folder)))
    try:
        assert rt.settings.content_folders == [folder]
        _index_content(rt)
        library: Any = rt.content_library
        assert library.count() == 1
        assert folder.resolve() in library.watch.folders()
    finally:
        rt.close()
    missing = build_runtime(make_settings(tmp_path / "m", content_path=str(tmp_path / "nope")))
    try:
        with pytest.raises(typer.Exit) as stopped:
            _index_content(missing)
        assert stopped.value.exit_code == 2
    finally:
        missing.close()


def test_hitl_content_add(tmp_path: Path, hitl_group: Any) -> None:
    from hitl.commands.content import content_app

    cli = hitl_group(content_app, "content")
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "bakery.md").write_text(asset("Crumb & Co", "bakery", "A bakery chain."))
    (folder / "broken.md").write_text("no front matter")
    result = CliRunner().invoke(cli, ["content", "add", str(folder)])
    assert result.exit_code == 0, result.output
    assert "1 assets indexed" in result.output and "holds 1 assets" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(cli, ["content", "add", str(empty)]).exit_code == 1
    assert CliRunner().invoke(cli, ["content", "add", str(tmp_path / "nope")]).exit_code == 2
