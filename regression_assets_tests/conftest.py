import os
from pathlib import Path

import pytest

# Compiled PyTensor/numba artefacts are cached under the venv, not the user's home.
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={Path(__file__).resolve().parents[1] / '.venv' / '.pytensor'}")


@pytest.fixture
def perf_resources(tmp_path):
    """The local resource set on a fresh DuckDB file and draws directory under tmp_path."""
    from regression_assets.io_managers import DuckDBTableIOManager, ParquetDrawsIOManager
    from regression_assets.sources.files import LocalPerfSource
    from regression_assets.warehouse import DuckDBWarehouse

    db = str(tmp_path / "warehouse.duckdb")
    return {
        "io_manager": DuckDBTableIOManager(database=db),
        "draws_io_manager": ParquetDrawsIOManager(base_dir=str(tmp_path / "posterior")),
        "warehouse": DuckDBWarehouse(database=db),
        "perf_source": LocalPerfSource(),
    }


def read_table(resources: dict, table: str):
    import duckdb

    with duckdb.connect(resources["io_manager"].database, read_only=True) as con:
        return con.execute(f'SELECT * FROM regression_assets."{table}"').df()


# Property tests explore the same examples on every run: CI must not depend on luck.
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("deterministic", derandomize=True, print_blob=True)
    _hyp_settings.load_profile("deterministic")
except ImportError:  # pragma: no cover
    pass
