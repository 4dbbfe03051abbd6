"""Bundle locations: directories, archives, folders of bundles, globs."""

from __future__ import annotations

import pytest

from bundle import BundleNotFoundError
from handlers.locate import find_bundles


def test_folder_of_bundles_prefers_directories_over_their_archives(bundles):
    found = find_bundles([bundles.root])
    assert [path.name for path in found] == ["adder-1.0.0", "adder-1.10.0", "diabetes-2.1.0", "iris-1.0.0"]


def test_globs_and_archives(bundles):
    found = find_bundles([f"{bundles.root}/adder-*.tar.gz", bundles.iris])
    assert [path.name for path in found] == ["adder-1.0.0.tar.gz", "adder-1.10.0.tar.gz", "iris-1.0.0"]


def test_missing_locations_say_what_to_give(tmp_path):
    with pytest.raises(BundleNotFoundError, match="does not exist"):
        find_bundles([tmp_path / "nope"])
    with pytest.raises(BundleNotFoundError, match="holds no bundle"):
        find_bundles([tmp_path])
    with pytest.raises(BundleNotFoundError, match="no bundle matches"):
        find_bundles([f"{tmp_path}/*.tar.gz"])
    with pytest.raises(BundleNotFoundError, match="MAASKIT_BUNDLES"):
        find_bundles([])
