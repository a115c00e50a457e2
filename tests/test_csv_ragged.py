"""read_csv's fast path drops extra fields of the first data row without a word.

pandas' C parser is called with ``index_col=False`` and ``names=range(n)``: when the first
data row has more fields than the header, pandas drops the extra ones (a ParserWarning,
"loss of data") and every row parses. The slow parser refuses the same file ("row 2 has
4 fields, expected 3"). A silent truncation of user data.
"""

import pytest

from nablanet.data.csv import read_csv


@pytest.mark.parametrize("first_row", ["3,4,1,9", "3,4,1,", "3,4,1,9,7"])
def test_a_first_data_row_with_extra_fields_is_refused(tmp_path, first_row):
    path = tmp_path / "ragged.csv"
    path.write_text(f"a,b,y\n{first_row}\n5,6,1\n7,8,0\n")
    with pytest.raises(ValueError, match="row 2 has [45] fields, expected 3"):
        read_csv(path)
