"""No raw account id reaches silver or gold (checked on the generated year's warehouse).

Every table is read with delta-rs, a reader independent of the Spark that wrote it,
and every string cell is checked in Arrow: no Spark query per table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable


def delta_tables(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("_delta_log") if p.is_dir())


def test_no_raw_account_id_in_silver_or_gold(generated_warehouse):
    wh = Path(generated_warehouse["warehouse"])
    raw_ids = pc.unique(DeltaTable(str(wh / "bronze" / "events")).to_pyarrow_table(columns=["account_id"])["account_id"])
    assert len(raw_ids) > 100  # the generated year's accounts ("acct-<hex>" and a few named ones)
    tables = delta_tables(wh / "silver") + delta_tables(wh / "gold")
    assert len(tables) >= 2 + 22
    checked = 0
    for path in tables:
        table = DeltaTable(str(path)).to_pyarrow_table()
        assert "account_id" not in table.column_names, path
        for name in table.column_names:
            column = table[name]
            if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
                continue
            # Any string cell equal to a raw id, or holding one inside it.
            assert not pc.any(pc.is_in(column, value_set=raw_ids)).as_py(), (path, name)
            assert not pc.any(pc.match_substring(column, "acct-")).as_py(), (path, name)
            checked += 1
    assert checked > 50  # the string columns of silver and gold, account_key among them
