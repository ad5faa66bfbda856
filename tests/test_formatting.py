"""Lists as every output names them: the first LISTED items, then how many more."""

from harness.formatting import LISTED, listing


def test_a_long_list_names_its_first_items_and_counts_the_rest():
    assert listing(["a", "b"]) == "a, b"
    items = [f"c{i}" for i in range(LISTED + 3)]
    assert listing(items) == ", ".join(items[:LISTED]) + ", … and 3 more"
