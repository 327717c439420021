"""Lists of inputs: a text file, a CSV or Parquet column (gclenet's own results among them)."""

from __future__ import annotations

import pytest

from gclenet.inference.sources import read_input_list


def test_a_text_list_skips_blank_and_comment_lines_and_repeats(tmp_path):
    listing = tmp_path / "inputs.txt"
    listing.write_text("# shot on monday\n/data/a.jpg\n\n  /data/b c.jpg  \n/data/a.jpg\n")
    assert read_input_list(listing) == ["/data/a.jpg", "/data/b c.jpg"]


def test_a_csv_column(tmp_path):
    listing = tmp_path / "inputs.csv"
    listing.write_text("id,path\n1,/data/a.jpg\n2,/data/b.jpg\n")
    assert read_input_list(listing, column="path") == ["/data/a.jpg", "/data/b.jpg"]
    with pytest.raises(ValueError, match=r"no column 'file' \(it has id, path\)"):
        read_input_list(listing)


def test_a_parquet_column_of_results_lists_each_file_once(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    # gclenet's results hold a file once per face: as a list of inputs, each once
    pq.write_table(pa.table({"file": ["/a.jpg", "/a.jpg", "/b.jpg"], "face": [0, 1, None]}), tmp_path / "r.parquet")
    assert read_input_list(tmp_path / "r.parquet") == ["/a.jpg", "/b.jpg"]


def test_an_unreadable_list_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="missing.txt: cannot be read as a list of inputs"):
        read_input_list(tmp_path / "missing.txt")
